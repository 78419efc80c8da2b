"""`mmeops promote MODEL VERSION --to ENV`: pin a version in an environment file, in place.

The file is edited with ruamel.yaml's round trip, so comments, key order and quoting stay as
they were; the result is what a pull request then shows as a one-line diff. It refuses what
reconcile's policy would refuse, before writing anything.
"""

from __future__ import annotations

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
        pinned = repo.envs[up].models.get(model)
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
    return env.models.get(model)


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
    """Pin `version`; `ask_registry=False` for versions a retrain run has just registered
    (the rolling pull request): the plan on the pull request checks the registry anyway."""
    previous = check(repo, model, version, env_name)
    note = (
        check_registry(repo, model, version, env_name)
        if ask_registry
        else "registry not asked: registered by the retrain run"
    )
    path = repo.env_path(env_name)
    if previous != version:
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
        models[model] = version
        with path.open("w", encoding="utf-8") as f:
            yaml.dump(doc, f)
    return Promotion(path, model, env_name, previous, version, note)
