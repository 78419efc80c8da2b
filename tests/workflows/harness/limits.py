"""GitHub's limits on what a job produces, checked after every run (GitHub docs, "Actions
limits" and "Passing information between jobs"; "Adding a job summary"):

- job outputs: at most 1 MB per job, "size approximated based on UTF-16 encoding";
- a job matrix: at most 256 jobs per workflow run;
- a step summary: at most 1 MiB per step. act gives a job one summary file for all its steps,
  so the harness measures the job's whole summary: never more lenient than GitHub.
"""

from __future__ import annotations

OUTPUTS_BYTES = 1_000_000
MATRIX_JOBS = 256
SUMMARY_BYTES = 1024 * 1024


class LimitExceeded(AssertionError):
    pass


def utf16_bytes(text: str) -> int:
    return len(text.encode("utf-16-le"))


def check(run) -> None:
    legs: dict[str, int] = {}
    for job in run.jobs():
        size = sum(utf16_bytes(str(v or "")) for v in job["outputs"].values())
        if size > OUTPUTS_BYTES:
            raise LimitExceeded(f"{job['job']}: outputs of {size:,} bytes (UTF-16) > 1 MB")
        if job["summary_bytes"] > SUMMARY_BYTES:
            raise LimitExceeded(
                f"{job['job']}: step summary of {job['summary_bytes']:,} bytes > 1 MiB"
            )
        if job.get("matrix"):
            # act leaves strategy.job-total empty: the legs that ran are counted instead.
            legs[job["job"]] = max(legs.get(job["job"], 0) + 1, int(job.get("job_total") or 0))
    for name, count in legs.items():
        if count > MATRIX_JOBS:
            raise LimitExceeded(f"{name}: a matrix of {count} jobs > 256")
    if sum(legs.values()) > MATRIX_JOBS:
        raise LimitExceeded(f"{run.workflow}: {sum(legs.values())} matrix jobs in one run > 256")
