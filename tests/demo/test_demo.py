"""`mmeops demo` (what `make demo` runs) completes the whole loop and verifies it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_runs_the_whole_loop_and_cleans_up():
    mmeops = Path(sys.executable).parent / "mmeops"
    done = subprocess.run(
        [str(mmeops), "--repo", str(ROOT), "demo", "--max-jobs", "4"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "rollback was a manifest write: no copy, no endpoint update" in out
    assert "prod's predictions equal version 1's, exactly" in out
    assert "TransferLearning" in out
    # Monitoring (issue 18): drift on the shifted features only (and the predictions they
    # move; the flipped labels' own drift on the second run), then the quality violation.
    drifted = set(re.findall(r"baseline_drift_check\s+([\w-]+):", out))
    assert drifted - {"prediction", "progression"} == {"bmi", "bp"}
    assert "model-quality violation → retrain diabetes-progression" in out
    served = re.findall(r"│ (sandbox|qa|prod)\s+│ (\S+)\s+│ (v\d)", out)
    assert sorted(served) == sorted(
        (env, model, "v1" if env == "prod" else "v2")
        for env in ("sandbox", "qa", "prod")
        for model in ("diabetes-progression", "breast-cancer")
    )
    workdir = re.search(r"temporary GitOps repository: (\S+)", out).group(1)
    assert not Path(workdir).exists()
