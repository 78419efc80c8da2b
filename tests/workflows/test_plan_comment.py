"""The plan comment fits GitHub's limit at 2,000 models (issue 16, item 11).

GitHub refuses an issue or pull-request comment over 65,536 characters ("Issues" REST API,
"Create an issue comment": body, and FACTS.md), so a comment listing every model failed at
about 330. The reconcile action writes each environment's report cut to COMMENT_CHARS
(models with nothing to do counted, not listed; a cut says so); plan.yml's comment step joins
three of them and cuts again if it must. Both are run here: the renderer, and the comment
step's own bash script taken from plan.yml, up to the `gh` calls.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from mmeops.deploy.actions import Status
from mmeops.deploy.executor import ModelResult
from mmeops.deploy.reconcile import Report
from mmeops.deploy.render import COMMENT_CHARS, markdown

ROOT = Path(__file__).resolve().parents[2]
GITHUB_COMMENT_LIMIT = 65_536
MODELS = 2_000


def _report(env: str, changed: int) -> Report:
    """A plan of MODELS models, `changed` of them moving to a new version, the rest in sync."""
    results = []
    for i in range(MODELS):
        name = f"customer-churn-region-{i:04d}"
        if i < changed:
            message = f"v{i + 1} -> v{i + 2}: copy, verify sha256, route (retained: 3)"
            details = (f"copy s3://mmeops-training-111111111111/tuning/{name}/model.tar.gz",)
            results.append(
                ModelResult(name, i + 1, i + 2, Status.OUT_OF_SYNC, "update", message, details)
            )
        else:
            results.append(ModelResult(name, 3, 3, Status.SYNCED, "-", "in sync"))
    return Report(env, "plan", "a" * 40, tuple(results))


@pytest.mark.parametrize("changed", [0, 10, 330, MODELS])
def test_each_environment_report_fits_a_third_of_a_comment(changed):
    full = markdown(_report("prod", changed))
    short = markdown(_report("prod", changed), max_chars=COMMENT_CHARS)
    assert len(short) <= COMMENT_CHARS < GITHUB_COMMENT_LIMIT // 3
    # Models with nothing to do are counted, not listed; the changes are listed while they fit.
    assert f"{MODELS - changed} models in sync with nothing to do" in short or changed == MODELS
    assert "customer-churn-region-0000" in short or changed == 0
    truncated = "⚠️ **Truncated**" in short
    assert truncated == (changed >= 330), len(full)  # a few hundred changes no longer fit
    if not truncated:
        assert short.count("| update |") == changed


def _comment_script() -> str:
    """plan.yml's comment step, up to the first call to GitHub."""
    wf = YAML(typ="safe").load((ROOT / ".github" / "workflows" / "plan.yml").read_text())
    (step,) = wf["jobs"]["comment"]["steps"]
    script = step["run"]
    return script[: script.index('repo="repos/')]


def _run_comment_step(env: dict[str, str]) -> None:
    """The plan comment's step as GitHub runs it: `bash -e {0}` plus pipefail (the workflow's
    default shell: bash)."""
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", _comment_script()],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_comment_for_three_environments_of_2000_models_stays_under_githubs_limit(tmp_path):
    env = {
        "RUNNER_TEMP": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "HEAD_SHA": "b" * 40,
        "RUN_URL": "https://github.com/ORG/REPO/actions/runs/1",
        "VALIDATE_RESULT": "success",
    }
    for name in ("sandbox", "qa", "prod"):
        env[f"{name.upper()}_RESULT"] = "success"
        env[f"{name.upper()}_REPORT"] = markdown(_report(name, MODELS), max_chars=COMMENT_CHARS)
    _run_comment_step(env)
    body = (tmp_path / "plan-comment.md").read_text(encoding="utf-8")
    assert len(body) < GITHUB_COMMENT_LIMIT
    assert body.startswith("<!-- mmeops-plan -->")
    for name in ("sandbox", "qa", "prod"):
        assert f"### {name}" in body
    assert body.count("⚠️ **Truncated**") == 3  # each report says it was cut


def test_the_comment_step_cuts_an_oversized_body_and_says_so(tmp_path):
    """Reports over their budget (say, from an older mmeops) still leave a comment GitHub
    accepts, cut at a line and saying where the rest is. (About 100 kB: Linux refuses a
    single environment variable over 128 KiB, which is how the step receives reports.)"""
    huge = "\n".join(f"| model-{i} | v1 | v2 | out of sync | update | ü |" for i in range(2000))
    assert GITHUB_COMMENT_LIMIT < len(huge) < 128 * 1024
    env = {
        "RUNNER_TEMP": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "HEAD_SHA": "c" * 40,
        "RUN_URL": "https://github.com/ORG/REPO/actions/runs/2",
        "VALIDATE_RESULT": "success",
        "SANDBOX_RESULT": "success",
        "SANDBOX_REPORT": huge,
        "QA_RESULT": "skipped",
        "PROD_RESULT": "skipped",
    }
    _run_comment_step(env)
    body = (tmp_path / "plan-comment.md").read_bytes().decode("utf-8")  # still valid UTF-8
    assert len(body) < GITHUB_COMMENT_LIMIT
    assert body.rstrip().endswith(
        "job summaries of [the run](https://github.com/ORG/REPO/actions/runs/2)."
    )
    assert "### qa" not in body
