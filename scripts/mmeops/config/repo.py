"""Load and validate the whole repository: mmeops.yaml, every model folder, every environment.

Every problem becomes a `UserError` with the file and line where it is, and all of them are
reported at once; nothing is read from AWS here.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pydantic

from mmeops.config import yamlio
from mmeops.config.kinds import PIN_FORMS, EnvConfig, FieldProblem, ModelConfig, Settings
from mmeops.errors import ConfigErrors, UserError

SETTINGS_FILE = "mmeops.yaml"
MODEL_FILE = "model.yaml"
T = TypeVar("T", bound=pydantic.BaseModel)

_HINTS = {
    "extra_forbidden": "remove it or fix its spelling",
    "missing": "add it",
    "string_type": "quote the value",
    "int_type": "write a whole number without quotes",
    "float_type": "write a number without quotes",
    "bool_type": "write true or false",
    "date_type": "write an unquoted date, YYYY-MM-DD",
    "dict_type": "write a mapping of key: value lines",
    "list_type": "write a list",
}


class Source:
    """Where a config came from, to turn a key path into `path:line`. The positions come from
    a round-trip parse, done only the first time a line is asked for: most loads need none."""

    def __init__(self, path: Path, file: Path):
        self.path = path  # as shown to the user, relative to the repository
        self.file = file

    @functools.cached_property
    def document(self) -> Any:
        try:
            return yamlio.load(self.file)
        except UserError as e:  # what the fast parse accepted and this one cannot (nesting)
            raise UserError(e.message, self.path, e.line) from None

    def line(self, *loc: Any) -> int | None:
        return yamlio.line_of(self.document, loc)

    def error(self, message: str, *loc: Any) -> UserError:
        return UserError(message, self.path, self.line(*loc))


@dataclass(frozen=True)
class Repo:
    root: Path
    settings: Settings
    models: dict[str, ModelConfig]
    envs: dict[str, EnvConfig]
    sources: dict[str, Source] = field(repr=False)

    def model(self, name: str) -> ModelConfig:
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise UserError(f"unknown model {name!r}; models in models/: {known}")
        return self.models[name]

    def env(self, name: str) -> EnvConfig:
        if name not in self.envs:
            known = ", ".join(sorted(self.envs)) or "none"
            raise UserError(f"unknown environment {name!r}; environments/: {known}")
        return self.envs[name]

    def env_source(self, name: str) -> Source:
        return self.sources[f"env:{name}"]

    def model_source(self, name: str) -> Source:
        return self.sources[f"model:{name}"]

    def model_dir(self, name: str) -> Path:
        return self.root / "models" / name

    def query_path(self, name: str) -> Path:
        return self.model_dir(name) / self.model(name).query

    def env_path(self, name: str) -> Path:
        return self.root / "environments" / f"{name}.yaml"


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def parse(kind: type[T], path: Path, root: Path) -> tuple[T | None, Source | None, list[UserError]]:
    """One file → (model, source, problems)."""
    shown = Path(_display(path, root))
    # A symlink may point inside the repository only: what is reviewed is what is applied.
    if not Path(os.path.realpath(path)).is_relative_to(root):
        problem = "a symlink to a file outside the repository; commit the file itself"
        return None, None, [UserError(problem, shown)]
    try:
        data = yamlio.load_plain(path)
    except UserError as e:
        return None, None, [UserError(e.message, shown, e.line)]
    source = Source(shown, path)
    if not isinstance(data, dict):
        return None, source, [UserError("expected a mapping of keys at the top level", shown, 1)]
    try:
        return kind.model_validate(data), source, []
    except pydantic.ValidationError as e:
        try:
            return None, source, [_problem(source, err) for err in e.errors()]
        except UserError as unplaceable:  # positions unreadable (too deeply nested)
            return None, source, [unplaceable]


def _problem(source: Source, err: dict) -> UserError:
    loc = tuple(p for p in err["loc"] if p != "[key]" and p not in PIN_FORMS)
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, FieldProblem):
        loc += cause.loc
    dotted = ".".join(str(p) for p in loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        message = f"unknown key {dotted!r}; {_HINTS[kind]}"
    elif kind == "missing":
        message = f"missing required key {dotted!r}; {_HINTS[kind]}"
    else:
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        shown = f" (got {got!r})" if not isinstance(got, dict | list) and got is not None else ""
        hint = _HINTS.get(kind)
        if kind == "string_pattern_mismatch":
            hint = "use only the characters the pattern allows"
        message = f"{dotted or 'file'}: {msg}{shown}" + (f"; {hint}" if hint else "")
    return UserError(message, source.path, source.line(*loc))


def find_root(start: str | Path = ".") -> Path:
    """The nearest folder at or above `start` holding mmeops.yaml (as git finds .git), so a
    command run from models/x/ acts on the repository; `start` itself when there is none."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / SETTINGS_FILE).is_file():
            return folder
    return here


def load_repo(root: str | Path = ".") -> Repo:
    """Load everything; raise ConfigErrors listing every problem found."""
    root = Path(root).resolve()
    problems: list[UserError] = []
    sources: dict[str, Source] = {}

    settings, src, errs = parse(Settings, root / SETTINGS_FILE, root)
    problems += errs
    if src:
        sources["settings"] = src

    models: dict[str, ModelConfig] = {}
    for model_dir in sorted(p for p in (root / "models").glob("*") if p.is_dir()):
        model, src, errs = parse(ModelConfig, model_dir / MODEL_FILE, root)
        problems += errs
        if model is None or src is None:
            continue
        sources[f"model:{model.name}"] = src
        if model.name != model_dir.name:
            problems.append(
                src.error(
                    f"name {model.name!r} must equal its folder's name "
                    f"{model_dir.name!r}; rename one",
                    "name",
                )
            )
            continue
        if not (model_dir / model.query).is_file():
            problems.append(
                src.error(
                    f"query file {model.query} not found in models/"
                    f"{model.name}/; create it or fix 'query'",
                    "query",
                )
            )
        models[model.name] = model

    envs: dict[str, EnvConfig] = {}
    for env_path in sorted((root / "environments").glob("*.yaml")):
        env, src, errs = parse(EnvConfig, env_path, root)
        problems += errs
        if env is None or src is None:
            continue
        sources[f"env:{env.name}"] = src
        if env.name != env_path.stem:
            problems.append(
                src.error(
                    f"name {env.name!r} must equal the file name {env_path.stem!r}; rename one",
                    "name",
                )
            )
            continue
        envs[env.name] = env

    if settings is not None:
        # A file that exists but failed to parse has its own error already: the checks
        # below must not add a second, misleading one ("has no file").
        present_envs = {p.stem for p in (root / "environments").glob("*.yaml")}
        present_models = {p.name for p in (root / "models").glob("*") if p.is_dir()}
        problems += _cross_checks(settings, models, envs, sources, present_envs, present_models)
    if problems:
        raise ConfigErrors(problems)
    assert settings is not None
    return Repo(root, settings, models, envs, sources)


def _cross_checks(
    settings: Settings,
    models: dict[str, ModelConfig],
    envs: dict[str, EnvConfig],
    sources: dict[str, Source],
    present_envs: set[str],
    present_models: set[str],
) -> list[UserError]:
    problems: list[UserError] = []
    if envs and settings.champion_env not in present_envs:
        problems.append(
            sources["settings"].error(
                f"champion_env {settings.champion_env!r} has no file in environments/; "
                f"use one of {', '.join(sorted(envs))}",
                "champion_env",
            )
        )
    for name, model in models.items():
        champion = model.gate.champion_env
        if champion is not None and champion not in present_envs:
            problems.append(
                sources[f"model:{name}"].error(
                    f"gate.champion_env {champion!r} has no file in environments/",
                    "gate",
                    "champion_env",
                )
            )
    for name, env in envs.items():
        src = sources[f"env:{name}"]
        for model_name in env.models:
            if model_name not in present_models:
                problems.append(
                    src.error(
                        f"model {model_name!r} has no folder models/{model_name}/; "
                        "add the model or remove this line",
                        "models",
                        model_name,
                    )
                )
        if env.promotion_from is not None and env.promotion_from not in present_envs:
            problems.append(
                src.error(
                    f"promotion_from {env.promotion_from!r} has no file in environments/",
                    "promotion_from",
                )
            )
        if env.registry.account_id != settings.training.account_id:
            problems.append(
                src.error(
                    f"registry.account_id {env.registry.account_id} differs from the training "
                    f"account {settings.training.account_id} in mmeops.yaml",
                    "registry",
                    "account_id",
                )
            )
    problems += _promotion_cycles(envs, sources)
    problems += _prefix_overlaps(envs, sources)
    endpoints: dict[str, str] = {}
    for name, env in envs.items():
        other = endpoints.setdefault(env.endpoint.name + "@" + env.account_id, name)
        if other != name:
            problems.append(
                sources[f"env:{name}"].error(
                    f"endpoint {env.endpoint.name} in account {env.account_id} is also managed "
                    f"by environments/{other}.yaml; give each environment its own endpoint",
                    "endpoint",
                    "name",
                )
            )
    return problems


def _prefix_overlaps(envs: dict[str, EnvConfig], sources: dict[str, Source]) -> list[UserError]:
    """Two environments must not share artifacts: a prefix equal to or inside another's lets
    one environment's prune delete what the other serves (issue 19, item 2). Bucket names are
    global, so the accounts do not matter."""
    problems = []
    seen: list[tuple[str, str]] = []  # (prefix, environment), in file order
    for name, env in envs.items():
        for prefix, other in seen:
            if prefix.startswith(env.artifact_prefix) or env.artifact_prefix.startswith(prefix):
                how = "is the same as" if prefix == env.artifact_prefix else "overlaps"
                problems.append(
                    sources[f"env:{name}"].error(
                        f"artifact_prefix {env.artifact_prefix} {how} environments/{other}.yaml's "
                        f"{prefix}; give each environment a prefix of its own, neither inside "
                        "the other",
                        "artifact_prefix",
                    )
                )
        seen.append((env.artifact_prefix, name))
    return problems


def _promotion_cycles(envs: dict[str, EnvConfig], sources: dict[str, Source]) -> list[UserError]:
    problems = []
    for name in envs:
        seen, current = [name], envs[name].promotion_from
        while current is not None and current in envs:
            if current in seen:
                problems.append(
                    sources[f"env:{name}"].error(
                        f"promotion_from forms a cycle: {' -> '.join([*seen, current])}",
                        "promotion_from",
                    )
                )
                break
            seen.append(current)
            current = envs[current].promotion_from
    return problems
