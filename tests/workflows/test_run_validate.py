"""The required check `validate` (plan.yml) enforces the promotion policy (issue 24 item 6): a
pull request that rolls qa back below prod's pin breaks prod's `promotion_from: qa`, so
`validate` fails, the plans never run, and the pull request cannot merge green. Fast: only the
validate job runs."""

from __future__ import annotations

import pytest
from harness import pull_request


@pytest.fixture
def world(reading_world):
    """These scenarios only read AWS: they share the session's reading accounts."""
    return reading_world


def _pins(world, **versions: int) -> dict[str, str]:
    """environments/ENV.yaml pinning breast-cancer at the version given for ENV."""
    out = {}
    for env, version in versions.items():
        name = f"environments/{env}.yaml"
        text = world.read(name)
        assert "\nmodels:" in text  # the last key of the file: everything after it is its value
        head = text[: text.index("\nmodels:")]
        out[name] = f"{head}\nmodels:\n  breast-cancer: {version}\n"
    return out


def _rollback_pull_request(world, **kw):
    world.commit(_pins(world, sandbox=3, qa=3, prod=3), "breast-cancer v3 everywhere")
    base = world.sha("main")
    head = world.commit(_pins(world, qa=2), "qa: back to breast-cancer v2", branch="rollback")
    return world.run(
        "plan.yml", "pull_request", pull_request(8, base, head, "rollback"), sha=head, **kw
    )


def test_a_pull_request_rolling_qa_back_below_prod_fails_validate(world):
    run = _rollback_pull_request(world)

    assert run.returncode != 0
    (validate,) = run.jobs("validate")
    assert validate["status"] == "failure"
    # The annotation names prod's file, its line and the fix; no plan ran (no role was
    # assumed); the pull request's one comment says validation failed.
    line = world.read("environments/prod.yaml").splitlines().index("  breast-cancer: 3") + 1
    assert f"::error file=environments/prod.yaml,line={line}::" in run.text
    assert "promote it to qa first" in run.text
    assert run.assumes() == []
    (comment,) = world.state()["comments"]
    assert comment["issue"] == 8 and "validation failed" in comment["body"]


def _no_validate(engine):
    """Mutation: plan.yml's validate job no longer runs `mmeops validate`."""
    path = engine / ".github/workflows/plan.yml"
    text = path.read_text()
    step = "      - run: mmeops validate\n"
    assert step in text
    path.write_text(text.replace(step, ""))


def test_mutation_without_mmeops_validate_the_rollback_passes_the_check(world):
    run = _rollback_pull_request(world, mutate=_no_validate)
    assert run.jobs("validate")[0]["status"] == "success"
