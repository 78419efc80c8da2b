"""Where an act run's time went: `python tests/workflows/harness/profile.py RUN/act.jsonl`
prints each job's wall time and its slowest steps (act logs one JSON line per event, with a
time to the second; a step lasts from its first line to its result)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path


def _t(entry: dict) -> datetime:
    return datetime.fromisoformat(entry["time"].replace("Z", "+00:00"))


def profile(path: Path, top: int = 6) -> str:
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    entries = [e for e in entries if "time" in e and e.get("job")]
    if not entries:
        return "no timed entries"
    start = min(_t(e) for e in entries)
    jobs: dict[str, list[datetime]] = {}
    steps: dict[tuple[str, str], list[datetime]] = {}
    for e in entries:
        key = e["job"] + (json.dumps(e["matrix"]) if e.get("matrix") else "")
        jobs.setdefault(key, []).append(_t(e))
        # A step's own lines: from its "⭐ Run" to its result (act logs every step's Pre
        # stage when the job starts, so earlier lines say nothing about its time).
        if e.get("step") and (e["msg"].startswith("⭐ Run") or "stepResult" in e):
            steps.setdefault((key, e["step"] + " " + e.get("stage", "")), []).append(_t(e))
    out = [f"run: {(max(max(v) for v in jobs.values()) - start).seconds}s"]
    for job, times in jobs.items():
        began, took = (min(times) - start).seconds, (max(times) - min(times)).seconds
        out.append(f"  {job}: starts +{began}s, {took}s")
        mine = sorted(
            ((max(t) - min(t)).seconds, step) for (j, step), t in steps.items() if j == job
        )
        out += [f"      {s:4d}s {step[:90]}" for s, step in reversed(mine[-top:]) if s]
    return "\n".join(out)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(arg)
        print(profile(Path(arg)))
