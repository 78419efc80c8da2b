"""Issue 25, item 2: a canary, a shadow and capture in the environment file, in the long form
beside the short one; `promote` edits the long form in place; bad values exit 2 at their line
with nothing written. No AWS here: the registry check says it was not reached."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from test_promote import no_aws  # noqa: F401 (autouse: no AWS credentials)

from helpers import line_of
from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.deploy.desired import Split, load_desired

BC, DP = "breast-cancer", "diabetes-progression"


def mmeops(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--repo", str(root), *args])
    return result.exit_code, result.output


def pin(root: Path, env: str, models: str) -> Path:
    path = root / "environments" / f"{env}.yaml"
    path.write_text(path.read_text().replace("models: {}", "models:\n" + models))
    return path


LONG = f"""  {DP}: 4              # the short form stays valid
  {BC}:
    version: 7                         # the champion
    canary: {{version: 8, weight: 10}}   # percent of requests
    shadow: {{version: 9, sample: 0.25}} # share mirrored
    capture: {{sample: 0.1}}
"""


def test_the_long_form_is_read_beside_the_short_one(repo_copy: Path) -> None:
    path = pin(repo_copy, "sandbox", LONG)
    repo = load_repo(repo_copy)
    env = repo.envs["sandbox"]
    assert env.versions == {DP: 4, BC: 7}  # what every reader of a pin reads
    desired = load_desired(repo, "sandbox", sha="")
    bc = desired.model(BC)
    canary, shadow = line_of(path, "canary:"), line_of(path, "shadow:")
    assert bc.splits == (Split("canary", 8, 10, canary), Split("shadow", 9, 0.25, shadow))
    assert (bc.line, bc.capture) == (line_of(path, "version: 7"), 0.1)
    assert desired.model(DP).splits == () and desired.model(DP).capture is None


def test_environment_wide_capture_applies_where_a_model_sets_none(repo_copy: Path) -> None:
    path = pin(repo_copy, "sandbox", LONG)
    path.write_text(path.read_text() + "capture: {sample: 0.5}\n")
    desired = load_desired(load_repo(repo_copy), "sandbox", sha="")
    assert (desired.model(DP).capture, desired.model(BC).capture) == (0.5, 0.1)


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("canary: {version: 8, weight: 150}", "less than or equal to 100"),
        ("canary: {version: 8, weight: -1}", "greater than or equal to 0"),
        ("shadow: {version: 9, sample: 1.5}", "less than or equal to 1"),
        ("capture: {sample: 2}", "less than or equal to 1"),
        ("canary: {version: 7, weight: 10}", "the champion itself"),
        ("shadow: {version: 8, sample: 0.25}", "both name v8"),
    ],
)
def test_bad_splits_exit_2_at_their_line(repo_copy: Path, bad: str, says: str):
    key = bad.split(":")[0]
    good = next(x for x in LONG.splitlines() if x.strip().startswith(key + ":"))
    path = pin(repo_copy, "sandbox", LONG.replace(good, "    " + bad))
    before = path.read_text()
    code, out = mmeops(repo_copy, "validate")
    assert code == 2, out
    assert f"environments/sandbox.yaml:{line_of(path, bad)}: " in out and says in out, out
    assert path.read_text() == before


def test_promote_edits_version_inside_the_long_form_and_keeps_the_rest(repo_copy: Path):
    path = pin(repo_copy, "sandbox", LONG)
    code, out = mmeops(repo_copy, "promote", BC, "6", "--to", "sandbox")
    assert code == 0 and "v7 -> v6" in out, out
    assert path.read_text() == (repo_copy / "environments" / "sandbox.yaml").read_text()
    text = path.read_text()
    assert "    version: 6                         # the champion\n" in text
    assert "canary: {version: 8, weight: 10}   # percent of requests" in text
    assert "capture: {sample: 0.1}" in text

    # Promoting the canary's version makes it the champion and ends the canary.
    assert mmeops(repo_copy, "promote", BC, "8", "--to", "sandbox")[0] == 0
    pinned = load_repo(repo_copy).envs["sandbox"].pin(BC)
    assert (pinned.version, pinned.canary, pinned.shadow.version) == (8, None, 9)


def test_promote_canary_and_shadow_turn_a_short_pin_into_the_long_form(repo_copy: Path):
    path = pin(repo_copy, "sandbox", f"  {BC}: 7  # the champion\n")
    code, out = mmeops(
        repo_copy, "promote", BC, "--canary", "8", "--weight", "10", "--to", "sandbox"
    )
    assert code == 0, out
    code, out = mmeops(
        repo_copy, "promote", BC, "--shadow", "9", "--sample", "0.25", "--to", "sandbox"
    )
    assert code == 0, out
    assert path.read_text().endswith(
        f"  {BC}:\n    version: 7  # the champion\n    canary: {{version: 8, weight: 10}}\n"
        "    shadow: {version: 9, sample: 0.25}\n"
    )
    pinned = load_repo(repo_copy).envs["sandbox"].pin(BC)
    assert (pinned.canary.weight, pinned.shadow.sample) == (10, 0.25)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--canary", "8", "--weight", "101"), "--weight must be between 0 and 100"),
        (("--shadow", "9", "--sample", "1.5"), "--sample must be between 0 and 1"),
        (("--canary", "7", "--weight", "10"), "v7 is breast-cancer's champion"),
        (("--canary", "8"), "--canary V needs --weight"),
        (("3", "--canary", "8", "--weight", "1"), "give one of VERSION"),
    ],
)
def test_bad_promote_splits_exit_2_and_write_nothing(repo_copy: Path, args, says):
    path = pin(repo_copy, "sandbox", f"  {BC}: 7\n")
    before = path.read_text()
    code, out = mmeops(repo_copy, "promote", BC, *args, "--to", "sandbox")
    assert code == 2 and says in out, out
    assert path.read_text() == before


def test_a_canary_newer_than_upstream_is_refused_by_promote_rules(repo_copy: Path):
    """validate applies promotion_from to every named version: a canary too."""
    pin(repo_copy, "sandbox", f"  {BC}: 8\n")
    pin(repo_copy, "qa", f"  {BC}: 7\n")
    code, out = mmeops(repo_copy, "promote", BC, "--canary", "9", "--weight", "5", "--to", "qa")
    assert code == 2 and "promote v9 to sandbox first" in out, out
