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
