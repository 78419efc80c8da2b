"""The local backend: optuna (TPE, seeded) over xgboost, in-process.

It searches the same space SageMaker would (names, types, scaling from model.yaml) and scores
each trial with the metric the SageMaker XGBoost container reports for the validation
channel, so its trials are interchangeable with a SageMaker job's. Parent trials enter the
study as prior observations; the parents' best configurations are evaluated first, and a
warm-started study samples around the parents' best quarter (`narrowed`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
import xgboost
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from mmeops import artifact
from mmeops.aws import split_s3_uri
from mmeops.tune import history
from mmeops.tune.backend import Job, Progress
from mmeops.tune.history import TuningRecord

# Arguments of xgboost.train rather than booster params; the rest are the container's own.
SEED = 0
# One thread: the datasets are small, and on a busy 2-core runner two OpenMP threads ran
# 7x slower than one (threads spin waiting for each other).
NTHREAD = 1
# Parent configurations a warm-started search evaluates first (warm_inputs).
ENQUEUE = 5
# A warm-started search samples inside the box of the parents' best configurations (this share
# of their trials, at least ENQUEUE of them), widened on each side by this share of the range
# (in the range's own scale, log or linear): what TRANSFER_LEARNING's "prior knowledge" buys,
# measured by benchmarks/warm_start.py.
WARM_TOP = 0.25
WARM_MARGIN = 0.1
TRAIN_ARGS = {"num_round", "early_stopping_rounds"}
CONTAINER_ONLY = {
    "eval_metric",
    "csv_weights",
    "_kfold",
    "_nfold",
    "save_model_on_termination",
    "use_dask_gpu_training",
    "_tuning_objective_metric",
    "checkpoint_dir",
}
# The container's metric names that xgboost computes itself (validation:<name>).
NATIVE_METRICS = {"rmse", "mae", "rmsle", "mape", "logloss", "error", "auc", "aucpr"}

Data = tuple[np.ndarray, np.ndarray]
OnTrial = Callable[[int, float | None], None]  # (trials finished, best value so far)


def load_csv(body: bytes) -> Data:
    """A SageMaker CSV channel (label first, no header) → (features, labels)."""
    frame = pd.read_csv(io.BytesIO(body), header=None)
    values = frame.to_numpy(dtype=np.float64)
    return values[:, 1:], values[:, 0]


def distribution(spec: Mapping[str, Any]) -> BaseDistribution:
    """A model.yaml range as an optuna distribution. ReverseLogarithmic has no optuna
    counterpart and is searched linearly; Auto is linear, as SageMaker starts it."""
    log = spec.get("scaling") == "Logarithmic"
    if spec["type"] == "categorical":
        return CategoricalDistribution([str(v) for v in spec["values"]])
    if spec["type"] == "integer":
        return IntDistribution(int(spec["min"]), int(spec["max"]), log=log)
    return FloatDistribution(float(spec["min"]), float(spec["max"]), log=log)


def _fit(dist: BaseDistribution, value: Any) -> Any:
    """`value` in today's distribution (typed as optuna wants it), or None when outside."""
    try:
        if isinstance(dist, CategoricalDistribution):
            return str(value) if str(value) in dist.choices else None
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or not dist.low <= number <= dist.high:
        return None
    if isinstance(dist, IntDistribution):
        return int(number) if number == int(number) else None
    return number


def fit_params(
    hyperparameters: Mapping[str, Any], space: Mapping[str, BaseDistribution]
) -> dict[str, Any] | None:
    """Hyperparameters restated in today's space, or None if any is missing or outside."""
    fitted = {name: _fit(dist, hyperparameters.get(name)) for name, dist in space.items()}
    return None if any(v is None for v in fitted.values()) else fitted


def _around(dist: BaseDistribution, values: Sequence[Any]) -> BaseDistribution:
    """`dist` cut to the span of `values` widened by WARM_MARGIN of its range on each side,
    in its own scale; categorical ranges stay whole."""
    if isinstance(dist, CategoricalDistribution):
        return dist
    to, back = (math.log, math.exp) if dist.log else (float, float)
    low, high = to(dist.low), to(dist.high)
    margin = (high - low) * WARM_MARGIN
    lo = max(low, to(min(values)) - margin)
    hi = min(high, to(max(values)) + margin)
    if isinstance(dist, IntDistribution):
        return IntDistribution(
            math.floor(back(lo) + 1e-9), math.ceil(back(hi) - 1e-9), log=dist.log
        )
    return FloatDistribution(max(dist.low, back(lo)), min(dist.high, back(hi)), log=dist.log)


def narrowed(
    space: Mapping[str, BaseDistribution],
    priors: Sequence[tuple[dict[str, Any], float]],
    maximize: bool,
) -> dict[str, BaseDistribution]:
    """Today's space around the priors' best configurations (WARM_TOP of them, at least
    ENQUEUE): a warm-started search spends its trials where the parents did well instead of
    re-exploring the whole space; the margin leaves room for the optimum to move with the
    data. The whole space when there are no priors."""
    if not priors:
        return dict(space)
    ranked = sorted(priors, key=lambda p: p[1], reverse=maximize)
    best = ranked[: max(ENQUEUE, math.ceil(len(ranked) * WARM_TOP))]
    return {name: _around(dist, [p[name] for p, _ in best]) for name, dist in space.items()}


def _suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log)


def _metric(objective_metric: str) -> tuple[dict[str, Any], Callable | None]:
    """Booster params and custom metric for the container's `validation:<name>`."""
    name = objective_metric.split(":", 1)[1]
    if name in NATIVE_METRICS:
        return {"eval_metric": name}, None

    def custom(predt: np.ndarray, dmatrix: xgboost.DMatrix) -> tuple[str, float]:
        y = dmatrix.get_label()
        if name == "mse":
            return name, float(np.mean((predt - y) ** 2))
        hit = (predt > 0.5).astype(float)
        if name == "accuracy":
            return name, float(np.mean(hit == y))
        tp = float(np.sum(hit * y))
        denom = float(np.sum(hit) + np.sum(y))
        return name, 2 * tp / denom if denom else 0.0

    return {"disable_default_eval_metric": 1}, custom


@dataclass
class SearchResult:
    best_value: float
    best_hyperparameters: dict[str, Any]
    booster: xgboost.Booster
    trials: list[dict[str, Any]]  # this run's trials: {"hyperparameters", "value"}
    n_prior: int  # parent trials the study started with
    study: optuna.Study = field(repr=False)


class _Objective:
    """Trains one booster per trial and keeps the best one, so nothing is trained twice."""

    def __init__(
        self,
        train: Data,
        validation: Data,
        space: Mapping[str, BaseDistribution],
        static: Mapping[str, Any],
        objective_metric: str,
        maximize: bool,
        nthread: int,
    ):
        self.dtrain = xgboost.DMatrix(train[0], label=train[1], nthread=nthread)
        self.dvalid = xgboost.DMatrix(validation[0], label=validation[1], nthread=nthread)
        self.space = space
        self.maximize = maximize
        metric_params, self.custom_metric = _metric(objective_metric)
        self.base = {"nthread": nthread, "seed": 0, "verbosity": 0, **metric_params}
        self.base.update(
            {k: v for k, v in static.items() if k not in TRAIN_ARGS and k not in CONTAINER_ONLY}
        )
        self.static = static
        self.best: tuple[float, xgboost.Booster] | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        chosen = {name: _suggest(trial, name, dist) for name, dist in self.space.items()}
        settings = {**self.static, **chosen}
        params = {**self.base, **{k: v for k, v in chosen.items() if k not in TRAIN_ARGS}}
        stop = settings.get("early_stopping_rounds")
        booster = xgboost.train(
            params,
            self.dtrain,
            num_boost_round=int(float(settings.get("num_round", 100))),
            evals=[(self.dvalid, "validation")],
            early_stopping_rounds=int(float(stop)) if stop else None,
            custom_metric=self.custom_metric,
            maximize=self.maximize,
            verbose_eval=False,
        )
        if stop:
            # Keep only the trees up to the best round: then any predict, the container's
            # included, scores exactly the value reported here.
            value = float(booster.best_score)
            booster = booster[: booster.best_iteration + 1]
        else:
            value = float(booster.eval(self.dvalid, "validation").rsplit(":", 1)[1])
        if not math.isfinite(value):
            return value  # optuna records the trial as failed
        if self.best is None or (value > self.best[0] if self.maximize else value < self.best[0]):
            self.best = (value, booster)
        return value


def rescale(
    priors: Sequence[tuple[dict[str, Any], float]], evaluated: Sequence[optuna.trial.FrozenTrial]
) -> Callable[[float], float]:
    """Parent values -> today's scale. A parent job scored its trials on older data (another
    validation set: on the benchmark suite its values were 3 to 8% lower), and TPE ranks all
    observations together: unscaled, every new trial can rank below every prior, and the
    search never leaves the parent's region. The configurations evaluated again today give
    the factor (the median of today's value over the parent's; a shift when a value is not
    positive); identity when none was."""
    old = {tuple(sorted(p.items())): v for p, v in priors}
    pairs = [
        (old[key], float(t.value))
        for t in evaluated
        if t.state == optuna.trial.TrialState.COMPLETE
        and (key := tuple(sorted(t.params.items()))) in old
    ]
    if not pairs:
        return lambda v: v
    if all(a > 0 and b > 0 for a, b in pairs):
        factor = float(np.median([b / a for a, b in pairs]))
        return lambda v: v * factor
    shift = float(np.median([b - a for a, b in pairs]))
    return lambda v: v + shift


def study(
    train: Data,
    validation: Data,
    *,
    ranges: Mapping[str, Mapping[str, Any]],
    static: Mapping[str, Any],
    objective_metric: str,
    direction: str,
    n_trials: int,
    seed: int = 0,
    priors: Iterable[Mapping[str, Any]] = (),
    enqueue: Sequence[Mapping[str, Any]] = (),
    nthread: int = 1,
    on_trial: OnTrial | None = None,
) -> SearchResult:
    """Run `n_trials` xgboost trainings chosen by TPE and return the best.

    `priors` are earlier trials ({"hyperparameters", "value"}) added as finished
    observations; those outside today's ranges are skipped. `enqueue` lists hyperparameter
    sets to evaluate first (a parent's best), also only when inside today's ranges.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = {name: distribution(spec) for name, spec in sorted(ranges.items())}
    maximize = direction == "Maximize"
    study = optuna.create_study(
        direction="maximize" if maximize else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
    )
    usable = []  # (params, value on the parent's data)
    for prior in priors:
        params = fit_params(prior.get("hyperparameters", {}), space)
        value = prior.get("value")
        if params is None or not _finite(value):
            continue
        usable.append((params, float(value)))
    # Sampled inside the parents' good region; the priors outside it drop out (TPE needs every
    # observation inside the distributions it samples).
    space = narrowed(space, usable, maximize)
    usable = [(p, v) for p, v in usable if fit_params(p, space) is not None]
    first: list[dict[str, Any]] = []
    for params in (fit_params(h, space) for h in enqueue):
        if params is not None and params not in first:
            first.append(params)
            study.enqueue_trial(params)
    objective = _Objective(train, validation, space, static, objective_metric, maximize, nthread)
    done = 0

    def progress(_study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        nonlocal done
        done += 1
        if on_trial is not None:
            on_trial(done, objective.best[0] if objective.best else None)

    # The enqueued configurations are evaluated on today's data first; the priors then enter
    # on today's scale (`rescale`), so that what this study finds competes with them.
    head = min(len(first), n_trials) if usable else 0
    study.optimize(objective, n_trials=head, n_jobs=1, callbacks=[progress])
    scale = rescale(usable, study.trials)
    for params, value in usable:
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions=dict(space),
                value=scale(value),
                user_attrs={"prior": True},
            )
        )
    n_prior = len(usable)
    study.optimize(objective, n_trials=n_trials - head, n_jobs=1, callbacks=[progress])
    if objective.best is None:
        raise RuntimeError("every trial failed: the validation metric was never finite")
    own = [
        t
        for t in study.trials
        if not t.user_attrs.get("prior") and t.state == optuna.trial.TrialState.COMPLETE
    ]
    trials = [{"hyperparameters": dict(t.params), "value": float(t.value)} for t in own]
    best = (max if maximize else min)(own, key=lambda t: t.value)
    return SearchResult(
        objective.best[0], dict(best.params), objective.best[1], trials, n_prior, study
    )


# --- the backend interface (backend.Backend) ------------------------------------------------


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def warm_inputs(
    parents: Sequence[Any], maximize: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(priors, enqueue) for `study` from parent jobs, newest first (each with `trials` and
    `best_hyperparameters`): every parent trial as an observation; evaluated first, the
    newest parent's best (the new job is then never worse than it on this data), then the
    next best distinct parent configurations, `ENQUEUE` in all: the best on older data are
    the likeliest best today, and their values today put the priors on today's scale
    (`rescale`). benchmarks/warm_start.py measures exactly this."""
    priors = [t for parent in parents for t in parent.trials]
    if not parents:
        return priors, []
    ranked = sorted(
        (t for t in priors if _finite(t.get("value")) and t.get("hyperparameters")),
        key=lambda t: t["value"],
        reverse=maximize,
    )
    enqueue = [dict(parents[0].best_hyperparameters)]
    for t in ranked:
        if len(enqueue) >= ENQUEUE:
            break
        if t["hyperparameters"] not in enqueue:
            enqueue.append(dict(t["hyperparameters"]))
    return priors, enqueue


def search(job: Job) -> tuple[TuningRecord, int]:
    """The backend interface: an optuna search in this process, parents' trials as priors."""
    aws, repo, cfg, ds, plan, base = job.aws, job.repo, job.cfg, job.ds, job.plan, job.base
    n_jobs, progress = job.n_jobs, job.progress
    bucket = repo.settings.bucket
    train = load_csv(aws.get_bytes(*split_s3_uri(ds.train_uri))[0])
    validation = load_csv(aws.get_bytes(*split_s3_uri(ds.validation_uri))[0])

    def on_trial(done: int, best: float | None) -> None:
        if progress is not None:
            progress(Progress(done, 0, 0, n_jobs, best))

    priors, enqueue = warm_inputs(plan.parents, cfg.tuning.direction == "Maximize")
    try:
        result = study(
            train,
            validation,
            ranges=base["ranges"],
            static=base["static_hyperparameters"],
            objective_metric=cfg.tuning.objective_metric,
            direction=cfg.tuning.direction,
            n_trials=n_jobs,
            seed=SEED,
            priors=priors,
            enqueue=enqueue,
            nthread=NTHREAD,
            on_trial=on_trial,
        )
    except RuntimeError as e:
        record = TuningRecord(
            **base,
            best_value=None,
            n_training_jobs=n_jobs,
            status="Failed",
            failure_reason=str(e),
            xgboost_version=xgboost.__version__,
        )
        return record, 0
    key = f"tuning/{cfg.name}/{base['job_name']}/model.tar.gz"
    aws.put_bytes(
        bucket,
        key,
        artifact.pack(result.booster),
        if_none_match=True,
        kms_key_id=repo.settings.kms_key_id,
        content_type="application/x-tar",
    )
    record = TuningRecord(
        **base,
        best_value=result.best_value,
        n_training_jobs=len(result.trials),
        status=history.COMPLETED,
        best_hyperparameters=result.best_hyperparameters,
        artifact_uri=f"s3://{bucket}/{key}",
        xgboost_version=xgboost.__version__,
        trials=result.trials,
    )
    return record, result.n_prior


def _on_status(progress: Callable[[Progress], None] | None, n_jobs: int):
    def on_status(completed: int, running: int, failed: int) -> None:
        if progress is not None:
            progress(Progress(completed, running, failed, n_jobs))

    return on_status


def recalibrate(job: Job) -> TuningRecord:
    """Locally a recalibration is the search with one trial: the enqueued champion's
    hyperparameters (tune's recalibration plan)."""
    record, _ = search(job)
    return record
