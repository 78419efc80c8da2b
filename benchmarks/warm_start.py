"""Does a warm start from last time's tuning job find a good model in fewer trials? A suite.

Problems: five of scikit-learn's bundled tables (diabetes as regression; breast_cancer, wine as
class 0 versus the rest, digits as even versus odd, iris as virginica versus the rest: binary)
and two synthetic ones (`make_regression`, `make_classification`, labelled by scikit-learn).
Each table is shuffled once with a fixed seed (the bundled tables have no time order, and some
are sorted by class); its first 70% of rows are the older data the
parent job was tuned on, all rows the newer data the child is tuned on (each split 75/25 into
train and validation, validation rows drawn the same way for parent and child).

Per problem and seed: the parent is the local backend's real search (`mmeops.tune.local.study`,
TPE, 20 trials) on the older data; on the newer data a cold search and a warm one run 20 trials
each, with the same TPE seed; the warm one gets what `mmeops tune` gives it
(`local.warm_inputs`: the parent's trials as prior observations, its five best evaluated
first, today's trials sampled around its best quarter: `local.narrowed`).
Search space and static hyperparameters: models/diabetes-progression (regression) and
models/breast-cancer (binary), validation RMSE and log-loss, both minimized.

Figures per problem: mean best-so-far after 3, 5 and 10 trials (cold, warm, and the gap in
standard errors: (warm - cold) / sqrt(se_cold^2 + se_warm^2) over the seeds, positive means warm
is worse), and the mean number of trials each arm needs to reach cold's final best (the first
trial whose best-so-far is as good or better; a run that never reaches it counts as 21). Cold's
final best is the mean over seeds of the cold runs' best after 20 trials: a cold run may miss it
too.
Targets: worst gap <= 2 SE at every k on every problem; trials_ratio (warm's mean trials over
cold's, both averaged over problems) <= 1/3. Last line:
`warm_start problems=P worst_gap_se=G trials_ratio=R`.

    .venv/bin/python benchmarks/warm_start.py [--seeds 10] [--trials 20]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

from sklearn import datasets  # noqa: E402

from mmeops.config.repo import load_repo  # noqa: E402
from mmeops.tune.local import study, warm_inputs  # noqa: E402

KS = (3, 5, 10)
OLDER = 0.7  # the parent's share of the rows
VALIDATION = 0.25


def _binary(loader: Callable, positive: Callable) -> Callable:
    def load():
        x, y = loader(return_X_y=True)
        return x, positive(y).astype(float)

    return load


# name -> (loader returning (x, y), the model whose space and static hyperparameters it uses)
PROBLEMS: dict[str, tuple[Callable, str]] = {
    "diabetes": (lambda: datasets.load_diabetes(return_X_y=True), "diabetes-progression"),
    "breast_cancer": (_binary(datasets.load_breast_cancer, lambda y: y == 1), "breast-cancer"),
    "wine_binary": (_binary(datasets.load_wine, lambda y: y == 0), "breast-cancer"),
    "digits_binary": (_binary(datasets.load_digits, lambda y: y % 2 == 0), "breast-cancer"),
    # Virginica against the rest: versicolor overlaps it (setosa alone is separable by one cut).
    "iris_binary": (_binary(datasets.load_iris, lambda y: y == 2), "breast-cancer"),
    "make_regression": (
        lambda: datasets.make_regression(
            n_samples=1500, n_features=20, n_informative=8, noise=20.0, random_state=3
        ),
        "diabetes-progression",
    ),
    "make_classification": (
        lambda: datasets.make_classification(
            n_samples=1500, n_features=20, n_informative=6, flip_y=0.05, random_state=3
        ),
        "breast-cancer",
    ),
}


def split(x: np.ndarray, y: np.ndarray, rows: int) -> tuple[tuple, tuple]:
    """Train and validation of the first `rows` rows; a row's side depends on the row alone."""
    side = np.random.default_rng(1).random(len(y))[:rows] < VALIDATION
    x, y = x[:rows], y[:rows]
    return (x[~side], y[~side]), (x[side], y[side])


def settings(model: str, trials: int) -> dict:
    cfg = load_repo(ROOT).model(model)
    return {
        "ranges": {n: r.model_dump(exclude_none=True) for n, r in cfg.tuning.ranges.items()},
        "static": dict(cfg.xgboost.static_hyperparameters),
        "objective_metric": cfg.tuning.objective_metric,
        "direction": cfg.tuning.direction,
        "n_trials": trials,
        "nthread": 1,
    }


def best_so_far(result) -> list[float]:
    return list(np.minimum.accumulate([t["value"] for t in result.trials]))


def reached(curve: list[float], target: float) -> int:
    """First trial (1-based) whose best-so-far is `target` or better; len + 1 if never."""
    return next((k for k, v in enumerate(curve, 1) if v <= target), len(curve) + 1)


def run_problem(name: str, seeds: int, trials: int) -> tuple[list[list[float]], ...]:
    load, model = PROBLEMS[name]
    x, y = load()
    order = np.random.default_rng(0).permutation(len(y))
    x, y = np.asarray(x, dtype=float)[order], np.asarray(y, dtype=float)[order]
    common = settings(model, trials)
    older = split(x, y, int(len(y) * OLDER))
    newer = split(x, y, len(y))
    cold, warm = [], []
    for seed in range(seeds):
        parent = study(*older, seed=100 + seed, **common)
        priors, enqueue = warm_inputs([parent], common["direction"] == "Maximize")
        cold.append(best_so_far(study(*newer, seed=seed, **common)))
        warm.append(best_so_far(study(*newer, seed=seed, priors=priors, enqueue=enqueue, **common)))
    return cold, warm


def gap_se(cold: list[float], warm: list[float]) -> float:
    """(mean warm - mean cold) / the standard error of that difference (Welch)."""
    n = len(cold)
    se = math.sqrt(statistics.variance(cold) / n + statistics.variance(warm) / n)
    diff = statistics.mean(warm) - statistics.mean(cold)
    if se == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / se


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--problems", nargs="*", default=list(PROBLEMS))
    ap.add_argument("--save", help="write every run's best-so-far curve to this JSON file")
    args = ap.parse_args()
    saved: dict = {}
    started = time.perf_counter()
    worst = -math.inf
    cold_means, warm_means = [], []
    print(f"{args.seeds} seeds x {args.trials} trials per arm; older data = first {OLDER:.0%}")
    head = "  ".join(f"k={k}: cold / warm (gap SE)" for k in KS)
    print(f"{'problem':20s} {head}  trials to cold's best: cold / warm")
    for name in args.problems:
        cold, warm = run_problem(name, args.seeds, args.trials)
        cells = []
        for k in KS:
            c, w = [r[k - 1] for r in cold], [r[k - 1] for r in warm]
            g = gap_se(c, w)
            worst = max(worst, g)
            cells.append(f"{statistics.mean(c):.4f} / {statistics.mean(w):.4f} ({g:+.1f})")
        target = statistics.mean(c[-1] for c in cold)
        cold_k = [reached(c, target) for c in cold]
        warm_k = [reached(w, target) for w in warm]
        if args.save:
            saved[name] = {"cold": cold, "warm": warm}
            Path(args.save).write_text(json.dumps(saved))
        cold_means.append(statistics.mean(cold_k))
        warm_means.append(statistics.mean(warm_k))
        print(
            f"{name:20s} {'  '.join(cells)}  {cold_means[-1]:.1f} / {warm_means[-1]:.1f}"
            f"  (warm per seed {warm_k}; {time.perf_counter() - started:.0f}s)",
            flush=True,
        )
    ratio = statistics.mean(warm_means) / statistics.mean(cold_means)
    print(
        f"warm_start problems={len(args.problems)} worst_gap_se={worst:.2f} "
        f"trials_ratio={ratio:.2f}"
    )


if __name__ == "__main__":
    main()
