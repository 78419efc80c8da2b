"""Which environments a change can alter: the plan workflow plans exactly these.

An environment's plan depends on its own file and, through `promotion_from`, on the files up
its promotion chain (a qa rollback can leave a version pinned in prod that qa no longer
pins). Models and the settings file feed every environment.
"""

from __future__ import annotations

from collections.abc import Iterable

from mmeops.config.repo import Repo

# Paths whose change can alter every environment's plan.
SHARED_PREFIXES = ("models/", "mmeops.yaml")


def promotion_chain(repo: Repo, env: str) -> list[str]:
    """`env` and the environments it is promoted from, nearest first (validated acyclic)."""
    chain = [env]
    while (up := repo.envs[chain[-1]].promotion_from) is not None and up not in chain:
        chain.append(up)
    return chain


def affected_environments(repo: Repo, changed: Iterable[str]) -> list[str]:
    """The environments whose plan a change of the paths `changed` can alter, sorted."""
    changed = [p.strip() for p in changed if p.strip()]
    if any(p.startswith(SHARED_PREFIXES) for p in changed):
        return sorted(repo.envs)
    touched = {name for name in repo.envs if f"environments/{name}.yaml" in changed}
    return sorted(e for e in repo.envs if touched & set(promotion_chain(repo, e)))


def deploy_needed(env: str, changed: Iterable[str]) -> bool:
    """Whether an environment must be applied, `changed` being the paths that differ from
    what its last successful deployment applied: its own file, a model or mmeops.yaml (the
    settings and model configs shape what it serves). Files up its promotion chain are not
    applied to it: they only decide whether its own file is allowed."""
    return any(
        p == f"environments/{env}.yaml" or p.startswith(SHARED_PREFIXES)
        for p in (p.strip() for p in changed)
    )
