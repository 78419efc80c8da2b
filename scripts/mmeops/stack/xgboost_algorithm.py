"""The built-in SageMaker XGBoost algorithm's training semantics, for the embedded stack.

Read from the container's source (github.com/aws/sagemaker-xgboost-container, algorithm_mode/):
hyperparameter names, aliases, ranges and the required `num_round`
(hyperparameter_validation.py); unknown names refused ("Extraneous hyperparameter found");
CSV channels without header, label in column 0, every data file of the channel, names starting
with "." or "_" skipped (data_utils.py); `_tuning_objective_metric` added to the evaluation
metrics and used as the early-stopping metric with `early_stopping_rounds`, maximize for the
metrics of XGB_MAXIMIZE_METRICS, the best iteration kept (train.py, callback.py); metrics named
`<channel>:<metric>` (metrics.py); the model saved as the single file `xgboost-model`.

Errors a user can cause raise `ClientError`, the rest `AlgorithmError`; SageMaker shows them
as the training job's FailureReason with that prefix.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost

from mmeops import artifact


class ClientError(Exception):
    """A failure the user can avoid (the container's UserError)."""


class AlgorithmError(Exception):
    """A failure inside the algorithm."""


_INF = math.inf


@dataclass(frozen=True)
class _Hp:
    kind: type  # int, float or str
    low: float = -_INF
    high: float = _INF
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()

    def parse(self, name: str, raw: str) -> Any:
        try:  # int("3.0") fails in the container too (toolkit's IntegerHyperparameter.parse)
            value = self.kind(raw)
        except ValueError:
            raise ClientError(
                f"Hyperparameter {name}: could not parse value (caused by ValueError)"
            ) from None
        if self.choices and value not in self.choices:
            raise ClientError(f"Hyperparameter {name}: {value} is not in {list(self.choices)}")
        if self.kind is not str:
            below = value <= self.low if self.low_open else value < self.low
            above = value >= self.high if self.high_open else value > self.high
            if below or above:
                raise ClientError(f"Hyperparameter {name}: value {value} not in range {self}")
        return value

    def __str__(self) -> str:
        low = "(-inf" if self.low == -_INF else ("(" if self.low_open else "[") + f"{self.low:g}"
        high = "inf)" if self.high == _INF else f"{self.high:g}" + (")" if self.high_open else "]")
        return f"{low}, {high}"


def _closed(kind: type, low: float = -_INF, high: float = _INF) -> _Hp:
    return _Hp(kind, low, high)


def _unit(low_open: bool = True, high_open: bool = False) -> _Hp:
    return _Hp(float, 0, 1, low_open, high_open)


# XGB_MAXIMIZE_METRICS / XGB_MINIMIZE_METRICS (constants/xgb_constants.py).
MAXIMIZE = frozenset(
    [
        "accuracy",
        "auc",
        "aucpr",
        "balanced_accuracy",
        "f1",
        "f1_binary",
        "f1_macro",
        "map",
        "ndcg",
        "precision",
        "r2",
        "recall",
        "precision_macro",
        "precision_micro",
        "recall_macro",
        "recall_micro",
    ]
)
MINIMIZE = frozenset(
    [
        "aft-nloglik",
        "cox-nloglik",
        "error",
        "gamma-deviance",
        "gamma-nloglik",
        "interval-regression-accuracy",
        "logloss",
        "mae",
        "mape",
        "merror",
        "mlogloss",
        "mphe",
        "mse",
        "poisson-nloglik",
        "rmse",
        "rmsle",
        "tweedie-nloglik",
    ]
)
# The container computes these itself (metrics/custom_metrics.py); the stack computes the
# ones below and refuses the rest with a clear FailureReason (docs/embedded-stack.md).
_CUSTOM = {"accuracy", "f1", "f1_binary", "mse", "r2"}
_NATIVE = (MAXIMIZE | MINIMIZE) - {"balanced_accuracy", "f1_macro", "precision", "recall"} - _CUSTOM
_NATIVE -= {f"{m}_{a}" for m in ("precision", "recall") for a in ("macro", "micro")}
OBJECTIVES = [
    "binary:logistic",
    "binary:logitraw",
    "binary:hinge",
    "count:poisson",
    "multi:softmax",
    "multi:softprob",
    "rank:pairwise",
    "rank:ndcg",
    "rank:map",
    "reg:linear",
    "reg:squarederror",
    "reg:logistic",
    "reg:gamma",
    "reg:pseudohubererror",
    "reg:squaredlogerror",
    "reg:absoluteerror",
    "reg:tweedie",
    "survival:aft",
    "survival:cox",
]

HYPERPARAMETERS: dict[str, _Hp] = {
    "num_round": _closed(int, 1),
    "csv_weights": _closed(int, 0, 1),
    "early_stopping_rounds": _closed(int, 1),
    "booster": _Hp(str, choices=("gbtree", "gblinear", "dart")),
    "verbosity": _closed(int, 0, 3),
    "nthread": _closed(int, 1),
    "eta": _closed(float, 0, 1),
    "gamma": _closed(float, 0),
    "max_depth": _closed(int, 0),
    "min_child_weight": _closed(float, 0),
    "max_delta_step": _closed(float, 0),
    "subsample": _unit(),
    "colsample_bytree": _unit(),
    "colsample_bylevel": _unit(),
    "colsample_bynode": _unit(),
    "lambda": _closed(float, 0),
    "alpha": _closed(float, 0),
    "tree_method": _Hp(str, choices=("auto", "exact", "approx", "hist")),
    "sketch_eps": _unit(high_open=True),
    "scale_pos_weight": _Hp(float, 0, _INF, low_open=True),
    "grow_policy": _Hp(str, choices=("depthwise", "lossguide")),
    "max_leaves": _closed(int, 0),
    "max_bin": _closed(int, 0),
    "objective": _Hp(str, choices=tuple(OBJECTIVES)),
    "num_class": _closed(int, 2),
    "base_score": _closed(float, 0),
    "seed": _Hp(int, -(2**31), 2**31 - 1, True, True),
    "num_parallel_tree": _closed(int, 1),
    "max_cat_to_onehot": _closed(int, 1),
    "eval_metric": _Hp(str),
    "_tuning_objective_metric": _Hp(
        str, choices=tuple(sorted(f"validation:{m}" for m in MAXIMIZE | MINIMIZE))
    ),
}
ALIASES = {"learning_rate": "eta", "min_split_loss": "gamma", "reg_lambda": "lambda"}
ALIASES["reg_alpha"] = "alpha"
# xgboost errors the container reports as the user's (constants/xgb_constants.py CUSTOMER_ERRORS).
CUSTOMER_ERRORS = (
    "label must be in [0,1] for logistic regression",
    "label must be in [0, num_class)",
    "feature_names mismatch",
    "Check failed: preds.size() == info.labels_.size()",
    "AUC: the dataset only contains pos or neg samples",
    "base_score must be in (0,1) for logistic loss",
    "label must be nonnegative",
    "Parameter reg_lambda should be greater equal to 0",
)
# Popped before xgboost.train sees the rest (train.py, train_job()).
_TRAIN_ARGS = ("num_round", "early_stopping_rounds", "_tuning_objective_metric", "csv_weights")


def validate(raw: Mapping[str, str]) -> dict[str, Any]:
    """The hyperparameters parsed and range-checked as the container does, aliases resolved."""
    named = {ALIASES.get(k, k): v for k, v in raw.items()}
    if "num_round" not in named:
        raise ClientError("Missing required hyperparameter: num_round")
    out: dict[str, Any] = {}
    for name, value in named.items():
        spec = HYPERPARAMETERS.get(name)
        if spec is None:
            raise ClientError(f"Extraneous hyperparameter found: {name}")
        out[name] = spec.parse(name, value)
    if "eval_metric" in out:
        out["eval_metric"] = [m for m in out["eval_metric"].split(",") if m]
    return out


def metric_direction(metric: str) -> str:
    """ "Maximize" or "Minimize" for a `validation:<name>` metric."""
    return "Maximize" if metric.split(":", 1)[-1] in MAXIMIZE else "Minimize"


# --- data ------------------------------------------------------------------------------------


def _is_data_file(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return bool(base) and not base.startswith((".", "_"))


# Parsed channels by the digest of their files (names and bytes): a tuning job's training
# jobs read the same channel again and again, and the same bytes parse the same. A few
# entries (a tuning job's train and validation channels, and those of a parallel one) and a
# bounded size: the least recently used go first, a channel larger than the bound is not kept.
_PARSED: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = OrderedDict()
_PARSED_MAX = 8
_PARSED_BYTES = 256 * 2**20
_parsed_lock = threading.Lock()
parsed_hits = 0  # channels answered from _PARSED (tests read it)


def _digest(files: list[tuple[str, bytes]]) -> bytes:
    h = hashlib.sha256()
    for name, body in files:
        for part in (name.encode(), body):
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
    return h.digest()


def load_csv(files: Iterable[tuple[str, bytes]], channel: str) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of a CSV channel (`parse_csv`), parsed once per distinct content:
    read-only arrays, shared by every job that reads the same bytes."""
    global parsed_hits
    files = list(files)
    key = _digest(files)
    with _parsed_lock:
        if key in _PARSED:
            _PARSED.move_to_end(key)
            parsed_hits += 1
            return _PARSED[key]
    x, y = parse_csv(files, channel)  # a refusal is raised each time, never kept
    x.setflags(write=False)
    y.setflags(write=False)
    with _parsed_lock:
        _PARSED[key] = (x, y)
        while len(_PARSED) > _PARSED_MAX or _cached_bytes() > _PARSED_BYTES:
            _PARSED.popitem(last=False)
    return x, y


def _cached_bytes() -> int:
    return sum(x.nbytes + y.nbytes for x, y in _PARSED.values())


def parse_csv(files: Iterable[tuple[str, bytes]], channel: str) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of a CSV channel: no header, label in the first column, the
    delimiter sniffed from the first line as the container does."""
    rows: list[np.ndarray] = []
    for name, body in files:
        if not _is_data_file(name) or not body.strip():
            continue
        text = body.decode("utf-8", errors="replace")
        first = text.lstrip().splitlines()[0]
        try:
            delimiter = csv.Sniffer().sniff(first).delimiter
        except csv.Error:
            raise ClientError(f"Could not determine delimiter on line {first[:50]}") from None
        try:
            frame = np.loadtxt(io.StringIO(text), delimiter=delimiter, ndmin=2, dtype=float)
        except ValueError as e:
            raise ClientError(f"Failed to load csv data with exception:\n{e}") from None
        rows.append(frame)
    if not rows:
        raise ClientError(f"No data in {channel} channel")
    widths = {r.shape[1] for r in rows}
    if len(widths) > 1:
        raise ClientError(
            f"Failed to load csv data: files of the {channel} channel differ in width"
        )
    data = np.vstack(rows)
    return data[:, 1:], data[:, 0]


# --- training --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trained:
    final_metrics: dict[str, float]  # "train:rmse" / "validation:rmse" -> last value emitted
    model_tar_gz: bytes


def _custom_metric(names: list[str]) -> Callable | None:
    """The container-computed metrics, as one xgboost custom metric returning all of them."""
    if not names:
        return None

    def evaluate(predt: np.ndarray, dmatrix: xgboost.DMatrix) -> list[tuple[str, float]]:
        y = dmatrix.get_label()
        hit = (predt > 0.5).astype(float)
        out = []
        for name in names:
            if name == "mse":
                value = float(np.mean((predt - y) ** 2))
            elif name == "r2":
                total = float(np.sum((y - y.mean()) ** 2))
                value = 1 - float(np.sum((y - predt) ** 2)) / total if total else 0.0
            elif name == "accuracy":
                value = float(np.mean(hit == y))
            else:  # f1, f1_binary
                denom = float(np.sum(hit) + np.sum(y))
                value = 2 * float(np.sum(hit * y)) / denom if denom else 0.0
            out.append((name, value))
        return out

    return evaluate


class _Interrupt(xgboost.callback.TrainingCallback):
    """Ends training between two rounds when `stop()` says so (stop request, max runtime)."""

    def __init__(self, stop: Callable[[], str | None]):
        self._stop = stop
        self.reason: str | None = None

    def after_iteration(self, model, epoch, evals_log) -> bool:
        self.reason = self._stop()
        return self.reason is not None


class Interrupted(Exception):
    """Training ended by `stop()`; the message is its reason."""


def _metrics(cfg: Mapping[str, Any]) -> tuple[list[str], list[str], str | None]:
    """(metrics xgboost computes, metrics computed here, the early-stopping metric): the
    eval_metric list plus the tuning objective's metric (train_utils.get_eval_metrics_and_feval);
    early stopping follows the objective, else the last eval_metric (train.py:329-336)."""
    objective = cfg.get("_tuning_objective_metric")
    wanted = list(cfg.get("eval_metric", []))
    if objective:
        wanted = sorted(set(wanted) | {objective.split(":", 1)[1]})
    unknown = [m for m in wanted if m not in MAXIMIZE | MINIMIZE]
    if unknown:
        raise ClientError(f"Metric {unknown[0]} is not supported")
    custom = [m for m in wanted if m in _CUSTOM]
    native = [m for m in wanted if m in _NATIVE]
    rest = sorted(set(wanted) - set(custom) - set(native))
    if rest:
        raise ClientError(f"Metric {rest[0]} is not computed by the embedded stack")
    if objective:
        return native, custom, objective.split(":", 1)[1]
    return native, custom, (wanted[-1] if wanted else None)


@dataclass(frozen=True)
class Prepared:
    """What a training job hands the algorithm once its channels are read and checked: the
    parsed hyperparameters and arrays (picklable: a worker process can train from it)."""

    cfg: dict[str, Any]
    x: np.ndarray
    y: np.ndarray
    validation: tuple[np.ndarray, np.ndarray] | None


def prepare(
    hyperparameters: Mapping[str, str],
    train_files: Iterable[tuple[str, bytes]],
    validation_files: Iterable[tuple[str, bytes]] | None,
) -> Prepared:
    """The container's checks before it trains (hyperparameters, channels, metrics), in its
    order; a refusal raises ClientError."""
    cfg = validate(hyperparameters)
    if cfg.get("csv_weights"):
        raise ClientError("csv_weights=1 is not supported by the embedded stack")
    x, y = load_csv(train_files, "train")
    validation = None
    if validation_files is not None:
        vx, vy = load_csv(validation_files, "validation")
        if vx.shape[1] != x.shape[1]:
            raise ClientError("feature_names mismatch between the train and validation channels")
        validation = (vx, vy)
    _metrics(cfg)  # an unknown or unsupported metric is refused before training
    return Prepared(cfg, x, y, validation)


def train(
    hyperparameters: Mapping[str, str],
    train_files: Iterable[tuple[str, bytes]],
    validation_files: Iterable[tuple[str, bytes]] | None,
    stop: Callable[[], str | None] = lambda: None,
) -> Trained:
    """Train as the container's train_job() does, in this thread."""
    model_tar_gz, final = fit(prepare(hyperparameters, train_files, validation_files), stop)
    return Trained(final, model_tar_gz)


def fit(prepared: Prepared, stop: Callable[[], str | None]) -> tuple[bytes, dict[str, float]]:
    """(model.tar.gz bytes, final metrics) of training on `prepared`; `stop()` is asked
    between two boosting rounds. The same bytes in any process (one thread per job)."""
    cfg = prepared.cfg
    params = {k: v for k, v in cfg.items() if k not in _TRAIN_ARGS and k != "eval_metric"}
    params.setdefault("nthread", 1)  # 2 cores shared by the stack and its clients
    # The matrices are built with the same threads: by default xgboost builds them with every
    # core's OpenMP thread, which on a busy 2-core machine took 30 ms per matrix of 200 rows
    # (the thread count changes nothing in what the matrix holds).
    dtrain = xgboost.DMatrix(prepared.x, label=prepared.y, nthread=params["nthread"])
    evals = [(dtrain, "train")]
    if prepared.validation is not None:
        vx, vy = prepared.validation
        evals.append((xgboost.DMatrix(vx, label=vy, nthread=params["nthread"]), "validation"))

    native, custom, stopping_metric = _metrics(cfg)
    if native:
        params["eval_metric"] = native
    elif custom:
        params["disable_default_eval_metric"] = 1

    callbacks: list[xgboost.callback.TrainingCallback] = []
    rounds = cfg.get("early_stopping_rounds")
    if rounds and prepared.validation is not None and stopping_metric:
        callbacks.append(
            xgboost.callback.EarlyStopping(
                rounds=rounds,
                metric_name=stopping_metric,
                data_name="validation",
                maximize=stopping_metric in MAXIMIZE,
                save_best=True,
            )
        )
    interrupt = _Interrupt(stop)
    callbacks.append(interrupt)
    log: dict[str, dict[str, list[float]]] = {}
    try:
        booster = xgboost.train(
            params,
            dtrain,
            num_boost_round=cfg["num_round"],
            evals=evals,
            custom_metric=_custom_metric(custom),
            callbacks=callbacks,
            evals_result=log,
            verbose_eval=False,
        )
    except xgboost.core.XGBoostError as e:
        if any(fragment in str(e) for fragment in CUSTOMER_ERRORS):
            raise ClientError(str(e)) from None
        raise AlgorithmError(f"XGB train call failed with exception:\n {e}") from None
    if interrupt.reason is not None:
        raise Interrupted(interrupt.reason)
    # SageMaker parses the metrics from the log: the final value is the last one emitted.
    final = {f"{d}:{m}": float(v[-1]) for d, ms in log.items() for m, v in ms.items() if v}
    # gzip level 1: what the archive holds is the same, and level 9 took a sixth of a small
    # job's time (SageMaker documents no level for the model.tar.gz it uploads).
    return artifact.pack(booster, compresslevel=1), final
