"""The per-model started record decides the retraining schedule (issue 24, item 5).

The defect: the window ran from the last successful scheduled run, so a retrain longer than an
hour was started again by later hourly runs, and one failing model made every model in the
window retrain back to back. Now each model's record in the training bucket (embedded S3 over
HTTP, conditional puts as S3 documents them: "Add preconditions to S3 operations with
conditional requests", 412 PreconditionFailed) says which firing a run took: at most once per
firing, never twice at once, a failure before tuning retried by the next hourly run, a failed
tune or gate left to the next firing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import threading
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmeops.cli import main
from mmeops.config.repo import load_repo
from mmeops.extract.run import training_aws
from mmeops.schedule import started

UTC = dt.timezone.utc
# breast-cancer's schedule is "0 4 * * *": the run at 04:07 takes the 04:00 firing.
DAY1 = "2026-11-22T04:07Z"
DAY1_LATER = "2026-11-22T05:07Z"
DAY2 = "2026-11-23T04:07Z"


@pytest.fixture
def model(stack, repo_copy: Path) -> tuple[Path, str]:
    """A uniquely named copy of breast-cancer: records live in the shared training bucket."""
    name = f"bc-{uuid.uuid4().hex[:8]}"
    shutil.copytree(repo_copy / "models" / "breast-cancer", repo_copy / "models" / name)
    cfg = repo_copy / "models" / name / "model.yaml"
    cfg.write_text(cfg.read_text().replace("name: breast-cancer", f"name: {name}"))
    return repo_copy, name


def _cli(root: Path, tmp_path: Path, *args: str) -> tuple[str, dict]:
    out = tmp_path / f"out-{uuid.uuid4().hex}"
    result = CliRunner().invoke(main, ["--repo", str(root), *args], env={"GITHUB_OUTPUT": str(out)})
    assert result.exit_code == 0, result.output
    written = dict(ln.split("=", 1) for ln in out.read_text().splitlines()) if out.exists() else {}
    return result.output, written


def _take(root, tmp_path, name, run_id, until):
    text, written = _cli(root, tmp_path, "started", name, "--run-id", run_id, "--until", until)
    return written["claimed"] == "true", text


def _stage(root, tmp_path, name, run_id, stage):
    _cli(root, tmp_path, "started", name, "--run-id", run_id, "--stage", stage)


def _record(root: Path, name: str) -> started.Started:
    repo = load_repo(root)
    record, _ = started.read(training_aws(repo), repo.settings.bucket, name)
    return record


def test_a_firing_runs_once_and_never_twice_at_once(model, tmp_path):
    root, name = model
    assert _take(root, tmp_path, name, "r1", DAY1)[0]
    # The next hourly run, while r1 still runs: not taken (the old window retrained it again).
    taken, why = _take(root, tmp_path, name, "r2", DAY1_LATER)
    assert not taken and "still started" in why and "run r1" in why
    _stage(root, tmp_path, name, "r1", "tuning")
    # Even the next firing waits while r1 tunes.
    taken, why = _take(root, tmp_path, name, "r3", DAY2)
    assert not taken and "still tuning" in why
    _stage(root, tmp_path, name, "r1", "finished")
    # r1 tuned, so the same firing is done, failed gate or not: the next firing retrains.
    taken, why = _take(root, tmp_path, name, "r4", DAY1_LATER)
    assert not taken and "the next firing retrains it" in why
    assert _take(root, tmp_path, name, "r5", DAY2)[0]
    record = _record(root, name)
    assert (record.run_id, record.firing, record.attempt) == (
        "r5",
        dt.datetime(2026, 11, 23, 4, tzinfo=UTC),
        1,
    )


def test_a_failure_before_tuning_is_retried_by_the_next_hourly_run(model, tmp_path):
    root, name = model
    assert _take(root, tmp_path, name, "r1", DAY1)[0]
    _stage(root, tmp_path, name, "r1", "finished")  # extract failed: never reached tuning
    taken, text = _take(root, tmp_path, name, "r2", DAY1_LATER)
    assert taken and "attempt 2" in text
    assert _record(root, name).firing == dt.datetime(2026, 11, 22, 4, tzinfo=UTC)


def test_a_dead_runs_record_expires(model, tmp_path):
    """A runner that died never writes `finished`: the record frees the model after the
    retrain job's own limit (6 hours) plus a margin."""
    root, name = model
    repo = load_repo(root)
    aws, bucket = training_aws(repo), repo.settings.bucket
    firing = dt.datetime(2026, 11, 22, 4, tzinfo=UTC)
    t0 = dt.datetime(2026, 11, 22, 4, 7, tzinfo=UTC)
    started.claim(aws, bucket, name, firing, "r1", t0)
    with pytest.raises(started.NotClaimed, match="still started"):
        started.claim(aws, bucket, name, firing, "r2", t0 + started.LEASE - dt.timedelta(minutes=1))
    retried = started.claim(aws, bucket, name, firing, "r2", t0 + started.LEASE)
    assert (retried.run_id, retried.attempt) == ("r2", 2)


def test_of_many_runs_racing_for_one_firing_exactly_one_takes_it(model):
    root, name = model
    repo = load_repo(root)
    aws, bucket = training_aws(repo), repo.settings.bucket
    firing = dt.datetime(2026, 11, 22, 4, tzinfo=UTC)
    now = dt.datetime.now(UTC)
    barrier = threading.Barrier(6)
    won: list[str] = []

    def run(run_id: str) -> None:
        barrier.wait()
        try:
            started.claim(aws, bucket, name, firing, run_id, now)
            won.append(run_id)
        except started.NotClaimed:
            pass

    threads = [threading.Thread(target=run, args=(f"r{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and _record(root, name).run_id == won[0]


def test_only_the_run_that_took_the_firing_moves_it_on(model, tmp_path):
    root, name = model
    assert _take(root, tmp_path, name, "r1", DAY1)[0]
    result = CliRunner().invoke(
        main, ["--repo", str(root), "started", name, "--run-id", "r2", "--stage", "tuning"]
    )
    assert result.exit_code == 1 and "belongs to run r1, not run r2" in result.output
    assert "Traceback" not in result.output


def test_due_reads_the_records(model, tmp_path):
    root, name = model
    # Never retrained on schedule: due when its firing is inside the window.
    _, written = _cli(root, tmp_path, "due", "--started", "--until", DAY1, "--window", "1h")
    assert name in written["models"]
    assert _take(root, tmp_path, name, "r1", DAY1)[0]
    text, written = _cli(root, tmp_path, "due", "--started", "--until", DAY1_LATER)
    assert name not in written["models"] and f"{name}: not due (still started" in text


# GitHub: "Outputs can be a maximum of 1 MB per job. The total of all outputs in a workflow run
# can be a maximum of 50 MB. Size is approximated based on UTF-16 encoding" ("Passing
# information between jobs"; https://docs.github.com/en/actions/reference/limits).
OUTPUT_LIMIT = 1024 * 1024


def _many_models(root: Path, count: int) -> list[str]:
    """`count` scheduled models with names of the longest length allowed (63 characters)."""
    source = root / "models" / "breast-cancer"
    tag = uuid.uuid4().hex[:8]
    names = []
    for i in range(count):
        name = f"m{tag}-{i:05d}".ljust(63, "x")
        shutil.copytree(source, root / "models" / name)
        cfg = root / "models" / name / "model.yaml"
        cfg.write_text(cfg.read_text().replace("name: breast-cancer", f"name: {name}"))
        names.append(name)
    return names


# 300 models here (about 17 s); 2,000 measured the same once (95 s, the same 16,847 characters:
# the output holds at most 256 names whatever the count).
@pytest.mark.slow
@pytest.mark.parametrize("count", [300])
def test_dues_output_stays_far_under_githubs_limit_at_any_model_count(
    stack, repo_copy, tmp_path, count
):
    names = _many_models(repo_copy, count)
    text, written = _cli(repo_copy, tmp_path, "due", "--started", "--until", DAY1, "--window", "1h")
    chosen = json.loads(written["models"])
    # At most 256 a run (one matrix); the rest are said to wait for the next run.
    assert len(chosen) == 256 and set(chosen) <= set(names) | {"breast-cancer"}
    assert f"{count + 1 - 256} more due: the next run takes them" in text
    size = len(written["models"].encode("utf-16-le"))
    assert size < OUTPUT_LIMIT / 20  # under 5% of the limit
    print(f"{count} models due: models output {size} bytes")
    # The window alone (no records) refuses rather than dropping models silently.
    result = CliRunner().invoke(
        main, ["--repo", str(repo_copy), "due", "--until", DAY1, "--window", "1h"]
    )
    assert result.exit_code == 2 and "exceed the 256 one run can retrain" in result.output


def test_the_write_is_conditional_a_stale_read_loses(model):
    """The seam the race test cannot force: a run whose read is stale (another run wrote
    between its GET and its PUT) is refused by S3 with 412, for the first record
    (If-None-Match: *) and for a later one (If-Match on the ETag read). Without the
    conditions both writes below would succeed and two runs would hold one firing."""
    from mmeops.errors import PreconditionFailed

    root, name = model
    repo = load_repo(root)
    aws, bucket = training_aws(repo), repo.settings.bucket
    firing = dt.datetime(2026, 11, 22, 4, tzinfo=UTC)
    now = dt.datetime.now(UTC)
    first = started.claim(aws, bucket, name, firing, "r1", now)
    with pytest.raises(PreconditionFailed):  # r2 read "no record" before r1 wrote
        started._write(aws, bucket, dataclasses.replace(first, run_id="r2"), None)
    _, stale = started.read(aws, bucket, name)
    started.advance(aws, bucket, name, "r1", "finished")
    retry = dataclasses.replace(first, run_id="r3", attempt=2)
    with pytest.raises(PreconditionFailed):  # r3 read the record before r1 finished it
        started._write(aws, bucket, retry, stale)
    assert _record(root, name).run_id == "r1"
