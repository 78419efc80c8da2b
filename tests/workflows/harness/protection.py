"""The first step of every job that references a GitHub environment (rewrite.py): the
environment's deployment branch rule, which act does not know. GitHub checks an environment's
protection rules before it sends the job to a runner; a branch the rule does not admit fails
the job, its steps never run and it never sees the environment's secrets (GitHub docs,
"Deployment environments" and "Deployments and environments: Deployment branches and tags").
The branch is the pull request's head branch for pull request events (a pull request's run
is judged by its head branch, not by refs/pull/N/merge), else the ref's branch.

The environments (MMEOPS_HARNESS_ENVIRONMENTS_FILE, the World's) name their admitted branches
under `branches` (fnmatch patterns, as GitHub's "Selected branches and tags" are); an
environment without `branches` admits every branch, as one without the rule does."""

from __future__ import annotations

import json
import os
import sys
from fnmatch import fnmatchcase
from pathlib import Path


def main() -> int:
    name = os.environ.get("MMEOPS_HARNESS_ENVIRONMENT", "")
    branch = os.environ.get("MMEOPS_HARNESS_BRANCH", "")
    environments = json.loads(Path(os.environ["MMEOPS_HARNESS_ENVIRONMENTS_FILE"]).read_text())
    rule = (environments.get(name) or {}).get("branches")
    if rule is None or any(fnmatchcase(branch, pattern) for pattern in rule):
        return 0
    # The message GitHub shows for this refusal (as a public reproduction, github.com/
    # thejcannon/ticket-3517845, quotes it).
    print(
        f'Branch "{branch}" is not allowed to deploy to {name} due to environment protection rules.'
    )
    with open(os.environ["GITHUB_ENV"], "a") as env:
        env.write("MMEOPS_HARNESS_DENIED=true\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
