"""A pull request to environments/sandbox.yaml runs plan.yml through act: validation, the plans
of every environment the change can alter (read-only roles only), and ONE comment on the pull
request, updated in place by the next push."""

from __future__ import annotations

from harness import pull_request

MARKER = "<!-- mmeops-plan -->"


def _scale_sandbox(world, count: int, message: str) -> str:
    text = world.read("environments/sandbox.yaml").replace(
        "instance_count: 1", f"instance_count: {count}"
    )
    return world.commit({"environments/sandbox.yaml": text + "\n"}, message, branch="scale")


def test_a_sandbox_pull_request_is_planned_and_commented_with_read_only_roles(world):
    base = world.sha("main")
    head = _scale_sandbox(world, 2, "sandbox: two instances")

    run = world.run("plan.yml", "pull_request", pull_request(7, base, head, "scale"), sha=head)

    assert run.returncode == 0, run.text[-4000:]
    comments = world.state()["comments"]
    assert len(comments) == 1
    body = comments[0]["body"]
    assert comments[0]["issue"] == 7 and body.startswith(MARKER)
    assert "### sandbox" in body and head[:12] in body
    # Plans run on a pull request branch: only the environments' reader roles, through the
    # OIDC subject of the ENV-readonly environment, never a deployer.
    assumes = run.assumes()
    assert assumes, "the plan jobs assumed no role"
    for a in assumes:
        assert a["ok"] and a["role"].endswith(":role/mmeops-reader"), a
        env = a["sub"].rpartition(":environment:")[2]
        assert env.endswith("-readonly") and a["aud"] == "sts.amazonaws.com", a
    assert "repo:acme/mmeops:environment:sandbox-readonly" in {a["sub"] for a in assumes}
