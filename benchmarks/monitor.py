"""How often does `mmeops monitor` cry wolf, and how fast does it see real change?

Populations: smoothed bootstraps of the five tables scikit-learn ships (iris, wine, diabetes
unscaled, breast_cancer, digits). A model draws one table (in turn) and up to 20 of its
columns; its rows are drawn with replacement from the table; continuous columns get a
Gaussian jitter of 0.2 standard deviations (so no value repeats and tails are the table's
own, heavy ones included), discrete columns (whole numbers with at most 20 values: diabetes'
sex, digits' pixels; the labels of the classification tables) are kept as they are. The
label is the table's target. Baselines are built exactly as registration builds them
(register/baseline.py) and windows checked exactly as `monitor` checks them
(monitor/checks.py, default settings: calibrated, false_alarm_rate 0.005), the label's drift
included.

Sizes: baselines of 200 and 2,000 rows; windows of 50, 200 and 1,000 rows.
Scenarios, each applied to one column of each model:
  none            no change (false alarms)
  mean_0.5sd      a continuous column (any column where the table has none) + 0.5 sd
  scale_1.5       a continuous column spread x1.5 about its mean
  cat_10pt        10% of rows moved into one category of a discrete column (models with one)
  missing_10pct   10% more missing values in a column
  label_prior_x3  rows of one label class (a continuous label: above its median) weigh 3x

Figures:
  F  the worst over the six size combinations of the one-sided 95% Clopper-Pearson upper
     bound of the per-model, per-window false-alarm rate (any violation in a clean window),
     `--windows` model-windows per combination (default 2,000); target <= 0.01
  D  share of models flagged with a 0.5 sd mean shift, windows 200, baselines 2,000; >= 0.95
  C  the monitor's detection of the categorical shift divided by a reference's (a chi-square
     test on every column, continuous ones in the baseline's deciles, Bonferroni over the
     columns, at the same nominal per-model rate 0.005), windows 1,000, baselines 2,000;
     both references' false-alarm rates are printed beside it; >= 0.9
  T  days to flag a 1 sd shift in a daily stream of 200 rows a day (rolling 7-day window,
     baseline 2,000 rows): the median over models of the first day flagged; <= 3
  S  seconds for one `monitor` over `--models` models (baseline 2,000, window 1,000) with
     each model's own warehouse query (COPY from a real PostgreSQL), the window's
     statistics and every check; S3 writes are not in it; <= 120

Also printed: detection of every scenario at every size, and `comparison_method: Robust`
(Deequ's rule, threshold 0.1) on the same windows: its false alarms and its power.

    PYTHONPATH=scripts .venv/bin/python benchmarks/monitor.py [--models 200] [--windows 2000]

Last line: `monitor models=200 far_model_ub=F detect_0.5sd_w200=D cat10_vs_chi2=C
days_to_detect_1sd=T wall_s=S` (one line).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

from mmeops.config.kinds import Monitor  # noqa: E402
from mmeops.extract import warehouse  # noqa: E402
from mmeops.extract.run import Window  # noqa: E402
from mmeops.monitor import checks  # noqa: E402
from mmeops.monitor.window import read_query  # noqa: E402
from mmeops.register.baseline import from_matrix  # noqa: E402
from mmeops.register.statistics import dataset_statistics, is_categorical  # noqa: E402

BASELINES = (200, 2000)
WINDOWS = (50, 200, 1000)
SCENARIOS = ("mean_0.5sd", "scale_1.5", "cat_10pt", "missing_10pct", "label_prior_x3")
MAX_FEATURES = 20
JITTER = 0.2
SETTINGS = Monitor()
ROBUST = Monitor(method="robust", threshold=0.1)
ALPHA = SETTINGS.false_alarm_rate
DAILY_ROWS = 200


def tables() -> list[tuple[str, np.ndarray, np.ndarray]]:
    from sklearn import datasets

    loaded = [
        ("iris", datasets.load_iris()),
        ("wine", datasets.load_wine()),
        ("diabetes", datasets.load_diabetes(scaled=False)),
        ("breast_cancer", datasets.load_breast_cancer()),
        ("digits", datasets.load_digits()),
    ]
    return [(name, b.data.astype(np.float64), b.target.astype(np.float64)) for name, b in loaded]


@dataclass
class Population:
    """One model's population: a table's rows, which columns are discrete, and the label."""

    table: str
    data: np.ndarray  # rows × columns (label first)
    discrete: np.ndarray  # per column
    sd: np.ndarray
    names: list[str]

    def draw(self, rows: int, rng: np.random.Generator, weights=None) -> np.ndarray:
        index = rng.choice(len(self.data), size=rows, p=weights)
        out = self.data[index].copy()
        noise = rng.normal(size=out.shape) * (JITTER * self.sd)
        out[:, ~self.discrete] += noise[:, ~self.discrete]
        return out

    @property
    def schema(self) -> dict:
        return {"target": "y", "features": self.names}

    def continuous(self) -> list[int]:
        return [i for i in range(1, self.data.shape[1]) if not self.discrete[i]]

    def categorical(self) -> list[int]:
        return [i for i in range(1, self.data.shape[1]) if self.discrete[i]]


def populations(models: int, rng: np.random.Generator) -> list[Population]:
    found = []
    sources = tables()
    for m in range(models):
        name, data, target = sources[m % len(sources)]
        # Digits has constant pixels: keep columns that vary, up to 20 of them.
        varying = [i for i in range(data.shape[1]) if np.unique(data[:, i]).size > 1]
        chosen = sorted(rng.choice(varying, size=min(MAX_FEATURES, len(varying)), replace=False))
        matrix = np.column_stack([target, data[:, chosen]])
        discrete = np.array([is_categorical(matrix[:, i], 20) for i in range(matrix.shape[1])])
        sd = matrix.std(axis=0)
        found.append(Population(name, matrix, discrete, sd, [f"f{i:02d}" for i in chosen]))
    return found


def apply(pop: Population, scenario: str, rows: int, rng, column: int, strength: float = 1.0):
    """A window of `rows` from `pop`, changed by `scenario` in `column`."""
    if scenario == "label_prior_x3":
        label = pop.data[:, 0]
        heavier = label == label.max() if pop.discrete[0] else label > np.median(label)
        weights = np.where(heavier, 3.0, 1.0)
        return pop.draw(rows, rng, weights / weights.sum())
    window = pop.draw(rows, rng)
    values = window[:, column]
    if scenario.startswith("mean_"):
        values += strength * pop.sd[column]
    elif scenario == "scale_1.5":
        mean = pop.data[:, column].mean()
        window[:, column] = mean + (values - mean) * 1.5
    elif scenario == "cat_10pt":
        categories = np.unique(pop.data[:, column])
        moved = rng.random(rows) < 0.10
        values[moved] = rng.choice(categories)
    elif scenario == "missing_10pct":
        values[rng.random(rows) < 0.10] = np.nan
    return window


def column_for(pop: Population, scenario: str, rng) -> int | None:
    if scenario == "cat_10pt":
        return int(rng.choice(pop.categorical())) if pop.categorical() else None
    if scenario.startswith("mean_") or scenario == "scale_1.5":
        choices = pop.continuous() or list(range(1, pop.data.shape[1]))
        return int(rng.choice(choices))
    return int(rng.integers(1, pop.data.shape[1]))


def judge(pop: Population, baseline: tuple[dict, dict], window: np.ndarray, settings: Monitor):
    stats, cons = baseline
    values = {n: window[:, i + 1] for i, n in enumerate(pop.names)}
    label = window[:, 0]
    outputs = [(stats["features"][0], label[~np.isnan(label)])]
    return checks.data_quality(stats, cons, pop.names, values, settings, outputs=outputs)


def flagged(pop, baseline, window, settings=SETTINGS) -> bool:
    return bool(judge(pop, baseline, window, settings).violations)


def reference_p(train: np.ndarray, window: np.ndarray, pop: Population) -> float:
    """Chi-square + Bonferroni: the smallest p over the model's columns times their number;
    continuous columns binned at the baseline's deciles."""
    from mmeops.monitor.significance import chi_square_p

    ps = []
    for i in range(window.shape[1]):
        base, new = train[:, i], window[:, i]
        base, new = base[~np.isnan(base)], new[~np.isnan(new)]
        if not pop.discrete[i]:
            edges = np.unique(np.quantile(base, np.linspace(0.1, 0.9, 9)))
            base, new = np.searchsorted(edges, base), np.searchsorted(edges, new)
        b, w = np.unique(base, return_counts=True), np.unique(new, return_counts=True)
        ps.append(
            chi_square_p(
                {str(k): int(c) for k, c in zip(*b, strict=True)},
                {str(k): int(c) for k, c in zip(*w, strict=True)},
            )
        )
    return min(1.0, min(ps) * len(ps))


def upper_bound(alarms: int, trials: int) -> float:
    """One-sided 95% Clopper-Pearson upper bound of a rate."""
    return (
        1.0 if alarms >= trials else float(scipy_stats.beta.ppf(0.95, alarms + 1, trials - alarms))
    )


def statistical(pops: list[Population], windows: int, rng) -> dict:
    per_model = max(1, -(-windows // len(pops)))
    baselines = {}
    trains = {}
    for n in BASELINES:
        for m, pop in enumerate(pops):
            train = pop.draw(n, rng)
            trains[n, m] = train
            baselines[n, m] = from_matrix(train, pop.schema, SETTINGS)
    out: dict = {"far": {}, "robust_far": {}, "detect": {}, "robust_detect": {}}
    for n in BASELINES:
        for w in WINDOWS:
            alarms = robust = trials = 0
            for m, pop in enumerate(pops):
                for _ in range(per_model):
                    window = pop.draw(w, rng)
                    alarms += flagged(pop, baselines[n, m], window)
                    if n == 2000 and w == 200:
                        robust += flagged(pop, from_robust(baselines[n, m]), window, ROBUST)
                    trials += 1
            out["far"][n, w] = (alarms, trials)
            if n == 2000 and w == 200:
                out["robust_far"][n, w] = (robust, trials)
            for scenario in SCENARIOS:
                hits = robust_hits = tried = 0
                for m, pop in enumerate(pops):
                    column = column_for(pop, scenario, rng)
                    if column is None:
                        continue
                    window = apply(pop, scenario, w, rng, column, 0.5)
                    hits += flagged(pop, baselines[n, m], window)
                    if scenario == "mean_0.5sd" and n == 2000 and w == 200:
                        robust_hits += flagged(pop, from_robust(baselines[n, m]), window, ROBUST)
                    tried += 1
                out["detect"][n, w, scenario] = (hits, tried)
                if scenario == "mean_0.5sd" and n == 2000 and w == 200:
                    out["robust_detect"][n, w] = (robust_hits, tried)
    out["categorical"] = categorical_vs_reference(pops, baselines, trains, per_model, rng)
    return out


def from_robust(baseline: tuple[dict, dict]) -> tuple[dict, dict]:
    """The same baseline with constraints.json saying Robust, as registration would write."""
    stats, cons = baseline
    config = dict(cons["monitoring_config"])
    config["distribution_constraints"] = {
        **config["distribution_constraints"],
        "comparison_method": "Robust",
    }
    return stats, {**cons, "monitoring_config": config}


def categorical_vs_reference(pops, baselines, trains, per_model, rng) -> dict:
    """1,000-row windows, 2,000-row baselines, models with a discrete column: detection of
    the 10-point shift by the monitor and by the reference, and both false-alarm rates."""
    n, w = 2000, 1000
    counts = {"monitor": 0, "reference": 0, "monitor_far": 0, "reference_far": 0, "tried": 0}
    clean = 0
    for m, pop in enumerate(pops):
        if not pop.categorical():
            continue
        for _ in range(per_model):
            column = int(rng.choice(pop.categorical()))
            window = apply(pop, "cat_10pt", w, rng, column)
            counts["monitor"] += flagged(pop, baselines[n, m], window)
            counts["reference"] += reference_p(trains[n, m], window, pop) <= ALPHA
            counts["tried"] += 1
            window = pop.draw(w, rng)
            counts["monitor_far"] += flagged(pop, baselines[n, m], window)
            counts["reference_far"] += reference_p(trains[n, m], window, pop) <= ALPHA
            clean += 1
    counts["clean"] = clean
    return counts


def days_to_detect(pops: list[Population], rng, days: int = 14) -> list[int]:
    """A daily stream of 200 rows; from day 1 one continuous column moves by 1 sd. Each day
    the rolling window holds the last `window_days` days (SETTINGS.window_days)."""
    found = []
    span = SETTINGS.window_days
    for pop in pops:
        baseline = from_matrix(pop.draw(2000, rng), pop.schema, SETTINGS)
        column = column_for(pop, "mean_1sd", rng)
        stream = [pop.draw(DAILY_ROWS, rng) for _ in range(span)]  # clean days before
        first = days + 1
        for day in range(1, days + 1):
            stream.append(apply(pop, "mean_1sd", DAILY_ROWS, rng, column))
            if flagged(pop, baseline, np.vstack(stream[-span:])):
                first = day
                break
        found.append(first)
    return found


def load_warehouse(dsn: str, pops: list[Population], rows: int, rng) -> None:
    import psycopg2

    conn = psycopg2.connect(dsn)
    columns = [f"c{i:02d}" for i in range(MAX_FEATURES + 1)]
    with conn, conn.cursor() as cur:
        cols = ", ".join(f"{c} double precision" for c in columns)
        cur.execute(f"CREATE TABLE bench (model int, event_date date, {cols})")
        for m, pop in enumerate(pops):
            window = pop.draw(rows, rng)
            padded = np.full((rows, len(columns)), np.nan)
            padded[:, : window.shape[1]] = window
            frame = pd.DataFrame(padded, columns=columns)
            frame.insert(0, "event_date", "2026-06-01")
            frame.insert(0, "model", m)
            buf = io.StringIO()
            frame.to_csv(buf, index=False, header=False, na_rep="")
            buf.seek(0)
            cur.copy_expert("COPY bench FROM STDIN WITH (FORMAT csv)", buf)
        cur.execute("CREATE INDEX ON bench (model, event_date)")
        cur.execute("ANALYZE bench")
    conn.close()


def query(m: int, pop: Population) -> warehouse.Query:
    selected = ["c00 AS y"] + [f"c{i + 1:02d} AS {n}" for i, n in enumerate(pop.names)]
    text = (
        f"SELECT {', '.join(selected)} FROM bench\n"
        "WHERE model = %(model)s AND event_date >= %(start_date)s AND event_date < %(end_date)s"
    )
    params = {"model": m, "start_date": dt.date(2026, 6, 1), "end_date": dt.date(2026, 6, 2)}
    return warehouse.Query("bench.sql", text, params, 600)


def timed(dsn: str, pops: list[Population], rng) -> tuple[float, int]:
    """Seconds to monitor every model (query, window statistics, every check), and how many
    of these clean windows were flagged."""
    baselines = [from_matrix(pop.draw(2000, rng), pop.schema, SETTINGS) for pop in pops]
    window = Window(dt.date(2026, 6, 1), dt.date(2026, 6, 2))
    violated = 0
    started = time.perf_counter()
    for m, (pop, (stats, cons)) in enumerate(zip(pops, baselines, strict=True)):
        rows = read_query(dsn, query(m, pop), window, 600)
        names = ["y", *pop.names]
        categorical = frozenset(f["name"] for f in stats["features"] if "string_statistics" in f)
        dataset_statistics(names, rows.frame[names].to_numpy(dtype=np.float64), categorical)
        values = {n: rows.values(n) for n in pop.names}
        label = rows.values("y")
        result = checks.data_quality(
            stats, cons, names, values, SETTINGS, ("y",), [(stats["features"][0], label)]
        )
        violated += bool(result.violations)
    return time.perf_counter() - started, violated


def rate(pair: tuple[int, int]) -> float:
    return pair[0] / pair[1] if pair[1] else float("nan")


def report(out: dict, args) -> tuple[float, float, float]:
    worst = 0.0
    for (n, w), (alarms, trials) in sorted(out["far"].items()):
        ub = upper_bound(alarms, trials)
        worst = max(worst, ub)
        print(f"false alarms  baseline {n:5} window {w:5}: {alarms:4}/{trials} (95% ub {ub:.4f})")
    for (n, w, scenario), pair in sorted(out["detect"].items()):
        print(f"detected      baseline {n:5} window {w:5} {scenario:15}: {rate(pair):.3f}")
    r_far, r_det = out["robust_far"][2000, 200], out["robust_detect"][2000, 200]
    print(
        f"Robust (Deequ, threshold 0.1), baseline 2000 window 200: false alarms "
        f"{r_far[0]}/{r_far[1]}, 0.5 sd detected {rate(r_det):.3f}"
    )
    c = out["categorical"]
    print(
        f"categorical 10-point shift, baseline 2000 window 1000 ({c['tried']} windows): monitor "
        f"{c['monitor'] / max(c['tried'], 1):.3f}, chi-square+Bonferroni "
        f"{c['reference'] / max(c['tried'], 1):.3f}; false alarms monitor "
        f"{c['monitor_far']}/{c['clean']}, reference {c['reference_far']}/{c['clean']}"
    )
    detect = rate(out["detect"][2000, 200, "mean_0.5sd"])
    ratio = c["monitor"] / c["reference"] if c["reference"] else float("nan")
    return worst, detect, ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--windows", type=int, default=2000, help="model-windows per size")
    parser.add_argument("--stream-models", type=int, default=50, help="models in T")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    pops = populations(args.models, rng)
    out = statistical(pops, args.windows, rng)
    worst, detect, ratio = report(out, args)
    days = days_to_detect(pops[: args.stream_models], rng)
    median_days = float(np.median(days))
    print(
        f"days to flag a 1 sd shift (200 rows a day, 7-day window): median {median_days:g}, "
        f"max {max(days)} over {len(days)} models"
    )
    print(f"statistics took {time.perf_counter() - started:.0f} s")

    from mmeops.stack.postgres import PgCluster

    pg = PgCluster()
    dsn = pg.start()
    try:
        load_warehouse(dsn, pops, 1000, rng)
        wall, violated = timed(dsn, pops, rng)
    finally:
        pg.stop()
    print(f"one monitor over {len(pops)} models: {wall:.1f} s, {violated} clean models flagged")
    print(
        f"monitor models={len(pops)} far_model_ub={worst:.4f} detect_0.5sd_w200={detect:.3f} "
        f"cat10_vs_chi2={ratio:.3f} days_to_detect_1sd={median_days:g} wall_s={wall:.1f}"
    )


if __name__ == "__main__":
    main()
