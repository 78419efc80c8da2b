"""The last step of every job (rewrite.py adds it): reads the job's status, environment,
evaluated outputs and matrix size (JSON on stdin) and appends them, with the job's step
summary size, to the run's record file. Standard library only."""

from __future__ import annotations

import json
import os
import sys

entry = json.load(sys.stdin)
summary = os.environ.get("GITHUB_STEP_SUMMARY", "")
size = os.path.getsize(summary) if summary and os.path.exists(summary) else 0
if size:
    open(summary, "w").close()  # the next job's measure starts empty whatever act shares
entry.update(
    kind="job",
    job=os.environ.get("GITHUB_JOB", ""),
    workflow=os.environ.get("GITHUB_WORKFLOW", ""),
    sha=os.environ.get("GITHUB_SHA", ""),
    summary_bytes=size,
)
with open(os.environ["MMEOPS_HARNESS_RECORDS"], "a", encoding="utf-8") as f:
    f.write(json.dumps(entry) + "\n")
