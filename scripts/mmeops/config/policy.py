"""The promotion policy (`promotion_from`), judged from the environment files alone: the
planner refuses a plan that breaks it, and `mmeops validate` (the pull request's required
check) fails on it, so a pull request that rolls qa back below prod cannot merge green."""

from __future__ import annotations

from collections.abc import Iterable

from mmeops.config.repo import Repo
from mmeops.errors import UserError


def promotion_problems(
    pins: Iterable[tuple[str, int, int | None]],
    upstream: dict[str, int],
    up: str,
    source: str,
) -> list[UserError]:
    """Every (model, version, line) pinned here must have passed through `up`'s file. A
    version newer than upstream's pin has not; an older one is a rollback and stays allowed (a
    revert of this file must work while upstream keeps its newer pin)."""
    problems = []
    missing: set[str] = set()  # a model's champion, canary and shadow: one line for it
    for name, version, line in pins:
        pinned = upstream.get(name)
        if pinned is None:
            if name in missing:
                continue
            missing.add(name)
            problems.append(
                UserError(
                    f"{name} is not pinned in environments/{up}.yaml (promotion_from); "
                    f"promote it to {up} first",
                    source,
                    line,
                )
            )
        elif version > pinned:
            problems.append(
                UserError(
                    f"{name} v{version} is newer than v{pinned} pinned in "
                    f"environments/{up}.yaml (promotion_from); promote it to {up} first",
                    source,
                    line,
                )
            )
    return problems


def policy_problems(repo: Repo) -> list[UserError]:
    """The promotion-policy problems of every environment file, in environment order."""
    problems = []
    for name, env in sorted(repo.envs.items()):
        if env.promotion_from is None:
            continue
        source = repo.env_source(name)
        pins = []
        for model in env.models:
            # A canary or shadow serves real requests: it too must have passed upstream.
            pin = env.pin(model)
            variants = [v.version for v in (pin.canary, pin.shadow) if v is not None]
            pins += [(model, v, source.line("models", model)) for v in (pin.version, *variants)]
        upstream = dict(repo.envs[env.promotion_from].versions)
        problems += promotion_problems(pins, upstream, env.promotion_from, str(source.path))
    return problems
