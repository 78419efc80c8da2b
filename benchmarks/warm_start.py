"""Does a warm start from last time's tuning job find a good model in fewer trials?

A generated regression problem (numpy, no stack) in two time windows: an early window the
parent job tunes on, and a later window whose relationship has drifted a little. On the later
window, a cold TPE search and a warm one (the parent's trials as prior observations, the
parent's best evaluated first, exactly what `mmeops tune` does) each run 20 trials, over
several seeds; every arm uses the same search function, search space and trial budget.

Prints the anytime curve (best validation RMSE after k trials, mean over seeds) and the median
number of trials each arm needs to come within 1% of the cold arm's mean best-of-20.
Last line: `warm_start warm_trials=N cold_trials=M speedup=X.X` (X = M / N).

    .venv/bin/python benchmarks/warm_start.py [--seeds 5] [--trials 20] [--rows 20000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

from mmeops.config.repo import load_repo  # noqa: E402
from mmeops.tune.local import search  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = "diabetes-progression"  # its search space and static hyperparameters
N_FEATURES = 12
TOLERANCE = 0.01


def window(rows: int, seed: int, drift: float) -> tuple[tuple, tuple]:
    """(train, validation) of one time window; `drift` moves coefficients and feature means."""
    rng = np.random.default_rng(seed)
    x = rng.normal(loc=drift, size=(rows, N_FEATURES))
    coef = np.linspace(1.0, 0.1, N_FEATURES) * (1 + drift * np.cos(np.arange(N_FEATURES)))
    y = (
        x @ coef
        + 2.0 * np.sin(2 * x[:, 0]) * x[:, 1]
        + 1.5 * np.maximum(x[:, 2], 0) * x[:, 3]
        + (1 + drift) * np.abs(x[:, 4] * x[:, 5])
        + rng.normal(scale=0.5, size=rows)
    )
    cut = int(rows * 0.7)
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def anytime(values: list[float]) -> list[float]:
    return list(np.minimum.accumulate(values))


def trials_to(curve: list[float], target: float) -> int:
    """First k (1-based) whose best is within TOLERANCE of target; budget + 1 if never."""
    for k, best in enumerate(curve, start=1):
        if best <= target * (1 + TOLERANCE):
            return k
    return len(curve) + 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--drift", type=float, default=0.05)
    args = ap.parse_args()

    cfg = load_repo(ROOT).model(MODEL)
    ranges = {n: r.model_dump(exclude_none=True) for n, r in cfg.tuning.ranges.items()}
    common = {
        "ranges": ranges,
        "static": dict(cfg.xgboost.static_hyperparameters),
        "objective_metric": "validation:rmse",
        "direction": "Minimize",
        "n_trials": args.trials,
        "nthread": 1,
    }
    early_train, early_valid = window(args.rows, 1, 0.0)
    late_train, late_valid = window(args.rows, 2, args.drift)

    started = time.perf_counter()
    cold, warm = [], []
    for seed in range(args.seeds):
        parent = search(early_train, early_valid, seed=100 + seed, **common)
        cold.append(
            anytime(
                [t["value"] for t in search(late_train, late_valid, seed=seed, **common).trials]
            )
        )
        result = search(
            late_train,
            late_valid,
            seed=seed,
            priors=parent.trials,
            enqueue=[parent.best_hyperparameters],
            **common,
        )
        warm.append(anytime([t["value"] for t in result.trials]))
        print(
            f"seed {seed}: parent best {parent.best_value:.4f}, cold best {cold[-1][-1]:.4f},"
            f" warm best {warm[-1][-1]:.4f} ({time.perf_counter() - started:.0f}s)",
            flush=True,
        )

    target = statistics.mean(c[-1] for c in cold)
    print(
        f"\nrows per window {args.rows} (70% train), drift {args.drift}, "
        f"{args.seeds} seeds x {args.trials} trials per arm"
    )
    print(f"target: within {TOLERANCE:.0%} of the cold mean best-of-{args.trials} = {target:.4f}")
    print("\n  k   cold mean best   warm mean best")
    for k in range(args.trials):
        print(
            f"{k + 1:3d}   {statistics.mean(c[k] for c in cold):14.4f}"
            f"   {statistics.mean(w[k] for w in warm):14.4f}"
        )
    cold_k = [trials_to(c, target) for c in cold]
    warm_k = [trials_to(w, target) for w in warm]
    print(f"\ntrials to target per seed: cold {cold_k}, warm {warm_k}")
    n, m = statistics.median(warm_k), statistics.median(cold_k)
    print(f"warm_start warm_trials={n:g} cold_trials={m:g} speedup={m / n:.1f}")


if __name__ == "__main__":
    main()
