"""What the workflow scenarios share: edits a person would commit, and what they would look at
afterwards on AWS (the embedded stack) and GitHub (the fake gh's state)."""

from __future__ import annotations

from mmeops.config.repo import load_repo
from mmeops.stack.mme import AccountRef


def scale(world, env: str, count: int) -> dict[str, str]:
    """environments/ENV.yaml with its endpoint's instance count changed."""
    name = f"environments/{env}.yaml"
    text = world.read(name)
    old = next(li for li in text.splitlines() if li.strip().startswith("instance_count:"))
    return {name: text.replace(old, f"  instance_count: {count}") + "\n"}


def endpoint(world, stack, env: str) -> dict | None:
    """The environment's live endpoint as its own account sees it, with its variant's
    instance count, or None when there is none."""
    e = load_repo(world.origin).envs[env]
    aws = stack.aws_for(AccountRef(e.account_id, e.region, e.role_arn))
    names = [
        ep["EndpointName"]
        for ep in aws.call("sagemaker", "list_endpoints", NameContains=e.endpoint.name)["Endpoints"]
    ]
    if e.endpoint.name not in names:
        return None
    live = aws.call("sagemaker", "describe_endpoint", EndpointName=e.endpoint.name)
    config = aws.call(
        "sagemaker", "describe_endpoint_config", EndpointConfigName=live["EndpointConfigName"]
    )
    return {
        "status": live["EndpointStatus"],
        "instance_count": config["ProductionVariants"][0]["InitialInstanceCount"],
    }


def deployments(world, env: str) -> list[str]:
    """The deployments of an environment the test's runs made, oldest first, as their
    statuses (not the ones `all_deployed` seeded)."""
    return [
        d["statuses"][-1]
        for d in world.state()["deployments"]
        if d["environment"] == env and d["job"] != "seed"
    ]


def all_deployed(world) -> str:
    """Every environment's last successful deployment applied main's head (a world where
    nothing is pending); returns that commit."""
    sha = world.sha("main")
    for env in ("sandbox", "qa", "prod"):
        world.deployed(env, sha)
    return sha


def merge(world, changes: dict[str, str], message: str, branch: str) -> tuple[str, str]:
    """Commit on a branch and merge it into main: (main before, main after)."""
    before = world.sha("main")
    world.commit(changes, message, branch=branch)
    return before, world.merge(branch, f"Merge {branch}")
