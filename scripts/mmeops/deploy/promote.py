"""`mmeops promote MODEL VERSION --to ENV`: pin a version in an environment file, in place.

The file is edited with ruamel.yaml's round trip, so comments, key order and quoting stay as
they were; the result is what a pull request then shows as a one-line diff. It refuses what
reconcile's policy would refuse, before writing anything.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from mmeops import registry
from mmeops.aws import for_account
from mmeops.config import yamlio
from mmeops.config.repo import Repo
from mmeops.errors import AwsError, UserError


@dataclass(frozen=True)
class Promotion:
    path: Path
    model: str
    env: str
    previous: int | None
    version: int
    registry_note: str = ""  # what the registry said, or why it was not asked

    @property
    def changed(self) -> bool:
        return self.previous != self.version


def check(repo: Repo, model: str, version: int, env_name: str) -> int | None:
    """Refuse a promotion reconcile would refuse; returns the version pinned now, if any."""
    repo.model(model)  # unknown model -> UserError naming the models there are
    env = repo.env(env_name)
    if not isinstance(version, int) or version < 1:
        raise UserError(f"version must be a positive whole number, got {version!r}")
    up = env.promotion_from
    if up is not None:
        pinned = repo.envs[up].versions.get(model)
        source = repo.env_source(up)
        if pinned is None:
            raise UserError(
                f"{model} is not pinned in environments/{up}.yaml "
                f"(promotion_from of {env_name}); promote it to {up} first",
                source.path,
                source.line("models"),
            )
        if version > pinned:
            raise UserError(
                f"{model} v{version} is not pinned in environments/{up}.yaml, "
                f"which pins v{pinned}; promote v{version} to {up} first",
                source.path,
                source.line("models", model),
            )
    return env.versions.get(model)


def check_registry(repo: Repo, model: str, version: int, env_name: str) -> str:
    """Refuse a version the registry does not have, or has Rejected; when the registry cannot
    be reached (no credentials for the training account, say), say so and let the plan check
    it later: editing a file must not need AWS."""
    t = repo.settings.training
    try:
        aws = for_account(t.account_id, repo.env(env_name).registry.region, t.role_arn)
        package = registry.describe(aws, model, version)
    except AwsError as e:
        return f"registry not checked ({e}); `mmeops reconcile {env_name} --plan` will check it"
    if package is None:
        raise UserError(
            f"{model} v{version} is not in the registry (account {t.account_id}); "
            f"`mmeops register {model}` prints the versions it creates"
        )
    status = package.get("ModelApprovalStatus", "unknown")
    if status == "Rejected":
        raise UserError(f"{model} v{version} is Rejected in the registry; promote another version")
    return f"registry: {model} v{version} exists ({status})"


def promote(
    repo: Repo, model: str, version: int, env_name: str, *, ask_registry: bool = True
) -> Promotion:
    """Pin `version` as the champion. In the long form only `version` changes, and a canary
    or shadow of that very version is removed: promoting it is what ends it.
    `ask_registry=False` for versions a retrain run has just registered (the rolling pull
    request): the plan on the pull request checks the registry anyway."""
    previous = check(repo, model, version, env_name)
    note = (
        check_registry(repo, model, version, env_name)
        if ask_registry
        else "registry not asked: registered by the retrain run"
    )
    path = repo.env_path(env_name)
    if previous != version:
        with _edit(path) as models:
            pin = models.get(model)
            if isinstance(pin, CommentedMap):
                pin["version"] = version
                for role in ("canary", "shadow"):
                    if isinstance(pin.get(role), dict) and pin[role].get("version") == version:
                        del pin[role]
            else:
                models[model] = version
    return Promotion(path, model, env_name, previous, version, note)


SHARE = {"canary": ("weight", 0, 100), "shadow": ("sample", 0, 1)}


def promote_split(
    repo: Repo, model: str, version: int, env_name: str, role: str, share: float
) -> Promotion:
    """Name `version` as the model's canary (`share`: percent of requests) or shadow (`share`:
    the fraction mirrored) beside the champion, turning a short pin into the long form."""
    key, low, high = SHARE[role]
    if not low <= share <= high:  # NaN fails both comparisons
        raise UserError(f"--{key} must be between {low} and {high}, got {share}")
    champion = check(repo, model, version, env_name)
    if champion is None:
        raise UserError(
            f"{model} has no champion in environments/{env_name}.yaml; "
            f"`mmeops promote {model} VERSION --to {env_name}` first"
        )
    if version == champion:
        raise UserError(f"v{version} is {model}'s champion in {env_name}; name another version")
    other = "shadow" if role == "canary" else "canary"
    pin = repo.env(env_name).pin(model)
    taken = getattr(pin, other) if pin else None
    if taken is not None and taken.version == version:
        raise UserError(f"v{version} is already {model}'s {other}; give the {role} its own version")
    note = check_registry(repo, model, version, env_name)
    path = repo.env_path(env_name)
    before = getattr(pin, role) if pin else None
    with _edit(path) as models:
        long_form = models.get(model)
        if not isinstance(long_form, CommentedMap):
            long_form = CommentedMap([("version", champion)])
            comment = _take_eol_comment(models, model)
            models[model] = long_form
            if comment:  # `name: 7  # why` keeps its note, now on the champion's line
                long_form.yaml_add_eol_comment(comment, "version")
        split = CommentedMap(
            [("version", version), (key, share if role == "shadow" else _num(share))]
        )
        split.fa.set_flow_style()  # `canary: {version: 8, weight: 10}`: one line in a diff
        long_form[role] = split
    return Promotion(path, model, env_name, before.version if before else None, version, note)


def _take_eol_comment(mapping: CommentedMap, key: str) -> str:
    """The end-of-line comment after `key: value`, removed from the mapping ("" if none)."""
    tokens = mapping.ca.items.pop(key, None)
    token = tokens[2] if tokens and len(tokens) > 2 else None
    return token.value.strip() if token is not None else ""


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


@contextlib.contextmanager
def _edit(path: Path):
    """The file's `models` mapping, written back on exit (comments, order, quoting kept)."""
    yaml = yamlio.round_trip()
    # Keep an explicit `null` as written (ruamel would dump it as an empty value).
    yaml.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    doc = yaml.load(path.read_text(encoding="utf-8"))
    models = doc.get("models")
    if not isinstance(models, CommentedMap) or (not models and models.fa.flow_style()):
        # `models: {}` becomes a block mapping: one line per model reads best in a diff.
        models = CommentedMap()
        doc["models"] = models
    yield models
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(doc, f)
