"""The three config kinds as pydantic models: mmeops.yaml, models/<name>/model.yaml and
environments/<env>.yaml. Strict types, no unknown keys; loading with positions is in repo.py.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    model_validator,
)

from mmeops.config import instance_types

# Names end up in S3 keys, SageMaker resource names and shell commands in workflows:
# the patterns below refuse traversal (`..`, `/`), key injection and metacharacters.
ModelName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,62}$")]
EnvName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,30}$")]
AccountId = Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")]
RoleArn = Annotated[
    str, StringConstraints(pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$")
]
BucketName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
Column = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]
InstanceType = Annotated[str, StringConstraints(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")]
S3Prefix = Annotated[
    str, StringConstraints(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/([A-Za-z0-9._-]+/)*$")
]
PositiveInt = Annotated[int, Field(ge=1)]

# Image versions sagemaker-core 2.27 knows for the built-in XGBoost algorithm.
XGBOOST_IMAGE_VERSIONS = (
    "0.90-1",
    "0.90-2",
    "1.0-1",
    "1.2-1",
    "1.2-2",
    "1.3-1",
    "1.5-1",
    "1.7-1",
    "3.0-5",
    "3.2-0",
)
# Hyperparameters SageMaker's built-in XGBoost can tune.
TUNABLE_HYPERPARAMETERS = frozenset(
    {
        "alpha",
        "colsample_bylevel",
        "colsample_bynode",
        "colsample_bytree",
        "eta",
        "gamma",
        "lambda",
        "max_delta_step",
        "max_depth",
        "min_child_weight",
        "num_round",
        "subsample",
    }
)
# Metrics the container emits, and whether lower is better.
OBJECTIVE_METRICS = {
    "validation:rmse": "Minimize",
    "validation:mae": "Minimize",
    "validation:mse": "Minimize",
    "validation:rmsle": "Minimize",
    "validation:mape": "Minimize",
    "validation:logloss": "Minimize",
    "validation:error": "Minimize",
    "validation:auc": "Maximize",
    "validation:aucpr": "Maximize",
    "validation:accuracy": "Maximize",
    "validation:f1": "Maximize",
}
REGRESSION_METRICS = {"rmse": "min", "mae": "min", "stdev_error": "min", "r2": "max"}
BINARY_METRICS = {
    "auc": "max",
    "f1": "max",
    "precision": "max",
    "recall": "max",
    "accuracy": "max",
    "logloss": "min",
}
HyperValue = str | int | float | bool


class FieldProblem(ValueError):
    """A validator's complaint about one field inside the model, so the error can point at
    that field's line rather than at the start of the block."""

    def __init__(self, message: str, *loc: str | int):
        super().__init__(message)
        self.loc = loc


class Strict(BaseModel):
    # NaN and infinity pass `ge`/`le` checks and then break training or a gate: refused.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


# --- mmeops.yaml -----------------------------------------------------------------------------


class TrainingAccount(Strict):
    account_id: AccountId
    region: Region
    role_arn: RoleArn
    execution_role_arn: RoleArn
    # A read-only role in the training account (DescribeModelPackage, ListModelPackages) that
    # plans and drift checks assume to read the registry: the reader roles of the environments
    # then never reach role_arn, which can write.
    registry_role_arn: RoleArn | None = None
    # The registry role applies assume (read packages and their evaluation files, approve;
    # never write artifacts or metadata): the deployer roles then never reach role_arn.
    approver_role_arn: RoleArn | None = None
    # The role `mmeops monitor` runs as (the `monitor` GitHub environment's role): reads
    # baselines and the warehouse secret, writes monitoring/, assumes each environment's
    # reader_role_arn.
    monitor_role_arn: RoleArn | None = None


class Warehouse(Strict):
    dsn_env: Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None
    secret_id: str | None = None
    statement_timeout_s: Annotated[int, Field(ge=1, le=86400)] = 600

    @model_validator(mode="after")
    def _one_source(self) -> Warehouse:
        if (self.dsn_env is None) == (self.secret_id is None):
            raise ValueError("set exactly one of dsn_env (an env var name) or secret_id")
        return self


class Settings(Strict):
    project: ModelName
    training: TrainingAccount
    bucket: BucketName
    warehouse: Warehouse
    champion_env: EnvName = "prod"
    sns_topic_arn: Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:sns:")] | None = None
    kms_key_id: str | None = None


# --- models/<name>/model.yaml ----------------------------------------------------------------


class Window(Strict):
    start: dt.date
    lag_days: Annotated[int, Field(ge=0, le=3650)] = 0


class Split(Strict):
    validation: Annotated[float, Field(gt=0, lt=0.5)]
    test: Annotated[float, Field(gt=0, lt=0.5)]
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0  # what numpy's generators take
    time_column: Column | None = None


class XGBoost(Strict):
    image_version: Literal[XGBOOST_IMAGE_VERSIONS]  # type: ignore[valid-type]
    static_hyperparameters: dict[str, HyperValue] = {}


class Range(Strict):
    type: Literal["continuous", "integer", "categorical"]
    min: float | None = None
    max: float | None = None
    values: list[str] | None = None
    scaling: Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"] = "Auto"

    @model_validator(mode="after")
    def _bounds(self) -> Range:
        if self.type == "categorical":
            if not self.values or self.min is not None or self.max is not None:
                raise ValueError("a categorical range takes 'values' (a list), not min/max")
            return self
        if self.min is None or self.max is None or self.values is not None:
            raise ValueError(f"a {self.type} range takes 'min' and 'max'")
        if self.min >= self.max:
            raise FieldProblem(f"min ({self.min}) must be below max ({self.max})", "min")
        if self.scaling in ("Logarithmic", "ReverseLogarithmic") and self.min <= 0:
            raise FieldProblem(f"{self.scaling} scaling needs min > 0", "min")
        if self.type == "integer" and (self.min != int(self.min) or self.max != int(self.max)):
            raise ValueError("an integer range needs whole-number min and max")
        return self


class Tuning(Strict):
    objective_metric: Literal[tuple(OBJECTIVE_METRICS)]  # type: ignore[valid-type]
    direction: Literal["Minimize", "Maximize"]
    max_jobs: Annotated[int, Field(ge=1, le=500)]
    max_parallel_jobs: Annotated[int, Field(ge=1, le=100)] = 1
    max_parents: Annotated[int, Field(ge=0, le=5)] = 5
    # The tuning job's own limit (ResourceLimits.MaxRuntimeInSeconds: AWS takes 120 s to 182.5
    # days): SageMaker stops the job there, and the wait's deadline follows it. The default,
    # 6 h, is what one GitHub-hosted job may run; a longer job is picked up with --attach.
    max_runtime_seconds: Annotated[int, Field(ge=120, le=15_768_000)] = 21_600
    ranges: dict[str, Range]

    @model_validator(mode="after")
    def _consistent(self) -> Tuning:
        unknown = sorted(set(self.ranges) - TUNABLE_HYPERPARAMETERS)
        if unknown:
            raise FieldProblem(
                f"not a tunable SageMaker XGBoost hyperparameter: {', '.join(unknown)}; "
                f"use one of {', '.join(sorted(TUNABLE_HYPERPARAMETERS))}",
                "ranges",
                unknown[0],
            )
        if not self.ranges:
            raise ValueError("ranges is empty; give at least one hyperparameter range")
        expected = OBJECTIVE_METRICS[self.objective_metric]
        if self.direction != expected:
            raise FieldProblem(
                f"{self.objective_metric} is tuned with direction {expected}", "direction"
            )
        if self.max_parallel_jobs > self.max_jobs:
            raise FieldProblem("max_parallel_jobs cannot exceed max_jobs", "max_parallel_jobs")
        return self


GateMetric = Literal[tuple({**REGRESSION_METRICS, **BINARY_METRICS})]  # type: ignore[valid-type]
Tolerance = Annotated[float, Field(ge=0, le=1)]


class GateBound(Strict):
    """One more metric the challenger must pass, with its own bound and tolerance."""

    metric: GateMetric
    bound: float
    tolerance: Tolerance = 0.0


class Gate(Strict):
    metric: GateMetric
    bound: float
    tolerance: Tolerance = 0.0
    champion_env: EnvName | None = None
    # One number can hide a useless model (AUC 1.0 with F1 0): `also` adds metrics that must
    # pass too, e.g. a thresholded one beside a ranking one.
    also: list[GateBound] = []

    @property
    def bounds(self) -> list[GateBound]:
        """Every metric the gate checks, the headline one first."""
        return [GateBound(metric=self.metric, bound=self.bound, tolerance=self.tolerance)] + [
            *self.also
        ]


class Monitor(Strict):
    """`mmeops monitor`'s settings (docs/monitoring.md says why these defaults)."""

    # linf: the largest gap between the two CDFs (Model Monitor's numerical distance);
    # psi: population stability index over the baseline's ten buckets.
    distance: Literal["linf", "psi"] = "linf"
    threshold: Annotated[float, Field(gt=0)] = 0.1
    # calibrated: every check of a model is a test with a p-value, and Holm's procedure over
    # all of them holds the model's false-alarm rate per window at `false_alarm_rate`;
    # robust: Deequ's rule (distance > threshold + 1.8 sqrt((n + m) / nm)), Model Monitor's
    # comparison_method Robust; simple: the distance against the threshold alone.
    method: Literal["calibrated", "robust", "simple"] = "calibrated"
    false_alarm_rate: Annotated[float, Field(gt=0, lt=0.5)] = 0.005
    thresholds: dict[Column, Annotated[float, Field(gt=0)]] = {}
    completeness_tolerance: Annotated[float, Field(ge=0, le=1)] = 0.05
    # Used by the robust and simple methods only; calibrated tests how many values lie
    # beyond the baseline's extremes, knowing how many rows the baseline had.
    range_margin: Annotated[float, Field(ge=0)] = 1.0
    min_rows: Annotated[int, Field(ge=1)] = 30
    # The rolling window: the last `window_days` days (never before the training data ends);
    # `mmeops monitor --since DAY` gives the cumulative view instead.
    window_days: Annotated[int, Field(ge=1, le=366)] = 7
    # A model-quality violation only when the whole interval at this confidence (bootstrap
    # over the labeled rows) lies on the failing side of the gate's bound.
    quality_confidence: Annotated[float, Field(ge=0.5, lt=1)] = 0.95
    # Categorical features: declared here, or found (whole numbers, at most
    # `categorical_max_distinct` distinct values in training).
    categorical: list[Column] = []
    categorical_max_distinct: Annotated[int, Field(ge=0, le=1000)] = 20
    # CloudWatch metrics per feature as well as per model (each custom metric is billed).
    feature_metrics: bool = False
    # Where the window's rows come from: `warehouse`, the model's query (what the next
    # training run would see); `capture`, what clients really sent the served version
    # through the front door and what it answered (labels from labels.sql, joined on the
    # inference id); `both`, each judged on its own. docs/monitoring.md, "Sources".
    source: Literal["warehouse", "capture", "both"] = "warehouse"


class ModelConfig(Strict):
    name: ModelName
    problem: Literal["regression", "binary"]
    target: Column
    query: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+\.sql$")] = "query.sql"
    window: Window
    split: Split
    xgboost: XGBoost
    tuning: Tuning
    gate: Gate
    schedule: str | None = None
    # What the schedule runs (docs/monitoring.md, "Recalibrate or retune"): recalibrate (the
    # approved hyperparameters, no search; the owner approves alone) once a champion exists,
    # else a retune; or always retune (a search; the review board approves too).
    scheduled: Literal["recalibrate", "retune"] = "recalibrate"
    training_instance_type: InstanceType = "ml.m5.large"
    # The SageMaker backend's ResourceConfig.VolumeSizeInGB and
    # StoppingCondition.MaxRuntimeInSeconds; defaults are the SageMaker Python SDK's (30 GB)
    # and AWS's (one day); AWS allows up to 28 days of training.
    training_volume_gb: Annotated[int, Field(ge=1, le=16384)] = 30
    training_max_runtime_seconds: Annotated[int, Field(ge=1, le=28 * 86400)] = 86400
    monitor: Monitor = Monitor()

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        metrics = REGRESSION_METRICS if self.problem == "regression" else BINARY_METRICS
        if self.gate.metric not in metrics:
            raise FieldProblem(
                f"gate metric {self.gate.metric} does not apply to {self.problem}; "
                f"use one of {', '.join(metrics)}",
                "gate",
                "metric",
            )
        _check_gate_also(self.gate, metrics, self.problem)
        _check_early_stopping(self.xgboost, self.tuning)
        clash = sorted(set(self.xgboost.static_hyperparameters) & set(self.tuning.ranges))
        if clash:
            raise FieldProblem(
                f"{', '.join(clash)} is both static and tuned; keep one",
                "tuning",
                "ranges",
                clash[0],
            )
        if self.split.validation + self.split.test >= 0.9:
            raise FieldProblem(
                "validation + test fractions leave too little to train on", "split", "test"
            )
        if why := instance_types.problem(self.training_instance_type, instance_types.TRAINING):
            raise FieldProblem(why, "training_instance_type")
        if self.split.time_column == self.target:
            raise FieldProblem("the time column cannot be the target", "split", "time_column")
        if self.schedule is not None:
            from croniter import croniter

            if not croniter.is_valid(self.schedule):
                raise FieldProblem(
                    f"schedule {self.schedule!r} is not a valid cron expression", "schedule"
                )
            if not _fires(self.schedule):
                raise FieldProblem(
                    f"schedule {self.schedule!r} never fires (a date no month has?)", "schedule"
                )
        return self

    @property
    def gate_direction(self) -> str:
        return metric_direction(self.gate.metric)


def metric_direction(metric: str) -> str:
    """ "min" when lower is better, else "max"."""
    return {**REGRESSION_METRICS, **BINARY_METRICS}[metric]


def _check_gate_also(gate: Gate, metrics: dict[str, str], problem: str) -> None:
    seen = {gate.metric}
    for i, extra in enumerate(gate.also):
        if extra.metric not in metrics:
            raise FieldProblem(
                f"gate metric {extra.metric} does not apply to {problem}; "
                f"use one of {', '.join(metrics)}",
                "gate",
                "also",
                i,
                "metric",
            )
        if extra.metric in seen:
            raise FieldProblem(
                f"gate metric {extra.metric} is named twice; keep one",
                "gate",
                "also",
                i,
                "metric",
            )
        seen.add(extra.metric)


# Metrics that saturate (AUC 1.0, error 0) on a separable validation set: every round after
# the first perfect one ties, so early stopping on them keeps a handful of trees.
SATURATING_OBJECTIVES = frozenset(
    {"validation:auc", "validation:aucpr", "validation:accuracy", "validation:f1",
     "validation:error"}
)  # fmt: skip


def _check_early_stopping(xgb: XGBoost, tuning: Tuning) -> None:
    """Inside a tuning job the SageMaker XGBoost container early-stops on the tuning objective
    metric, whatever `eval_metric` says (sagemaker-xgboost-container, algorithm_mode/train.py:
    `early_stopping_metric = tuning_objective_metric[-1]`), and keeps only the trees up to the
    best round (callback.py: EarlyStopping(save_best=True)). On a saturating metric that cut a
    model to 3 trees whose probabilities never reached 0.5."""
    if "early_stopping_rounds" in xgb.static_hyperparameters and (
        tuning.objective_metric in SATURATING_OBJECTIVES
    ):
        raise FieldProblem(
            f"early_stopping_rounds stops on the tuning objective {tuning.objective_metric}, "
            "which saturates (a perfect score early) and cuts the model to a few trees; tune "
            "on validation:logloss (binary) or validation:rmse (regression), or remove "
            "early_stopping_rounds",
            "xgboost",
            "static_hyperparameters",
            "early_stopping_rounds",
        )


# --- environments/<env>.yaml -----------------------------------------------------------------


class Registry(Strict):
    account_id: AccountId
    region: Region


class Autoscaling(Strict):
    min_capacity: PositiveInt
    max_capacity: PositiveInt
    target_invocations_per_instance: PositiveInt

    @model_validator(mode="after")
    def _range(self) -> Autoscaling:
        if self.min_capacity > self.max_capacity:
            raise FieldProblem("min_capacity cannot exceed max_capacity", "min_capacity")
        return self


class Endpoint(Strict):
    name: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
    instance_type: InstanceType
    instance_count: PositiveInt = 1
    autoscaling: Autoscaling | None = None

    @model_validator(mode="after")
    def _known_type(self) -> Endpoint:
        if why := instance_types.problem(self.instance_type, instance_types.HOSTING):
            raise FieldProblem(why, "instance_type")
        return self


Percent = Annotated[float, Field(ge=0, le=100)]
Share = Annotated[float, Field(ge=0, le=1)]


class Canary(Strict):
    """A version beside the champion taking `weight` percent of requests (the front door
    picks by a hash of the route key, so a key keeps its variant)."""

    version: PositiveInt
    weight: Percent


class Shadow(Strict):
    """A version `sample` of requests are mirrored to; its answers are never returned."""

    version: PositiveInt
    sample: Share


class Capture(Strict):
    """The share of requests the front door records (SageMaker Data Capture's format)."""

    sample: Share


class ModelPin(Strict):
    """The long form of a pin: the champion (`version`, everywhere a pin is read) and what runs
    beside it. The short form `name: 7` is `{version: 7}`."""

    version: PositiveInt
    canary: Canary | None = None
    shadow: Shadow | None = None
    capture: Capture | None = None

    @model_validator(mode="after")
    def _beside_the_champion(self) -> ModelPin:
        for role in ("canary", "shadow"):
            variant = getattr(self, role)
            if variant is not None and variant.version == self.version:
                raise FieldProblem(
                    f"the {role} names v{self.version}, the champion itself; name another "
                    "version, or remove the " + role,
                    role,
                    "version",
                )
        if self.canary and self.shadow and self.canary.version == self.shadow.version:
            raise FieldProblem(
                f"canary and shadow both name v{self.canary.version}; give each its own version",
                "shadow",
                "version",
            )
        return self


# A mapping is the long form, anything else the short one: an error names one form's problem,
# not both (the tags are dropped from error locations, config/repo.py).
PIN_FORMS = ("short form", "long form")
Pin = Annotated[
    Annotated[PositiveInt, Tag(PIN_FORMS[0])] | Annotated[ModelPin, Tag(PIN_FORMS[1])],
    Discriminator(lambda v: PIN_FORMS[isinstance(v, dict | ModelPin)]),
]


class EnvConfig(Strict):
    name: EnvName
    account_id: AccountId
    region: Region
    role_arn: RoleArn
    # The environment's read-only role (mmeops-reader): `mmeops monitor` reads the manifest
    # and the served artifacts through it. Unset: role_arn.
    reader_role_arn: RoleArn | None = None
    registry: Registry
    endpoint: Endpoint
    artifact_prefix: S3Prefix
    naming: Literal["versioned", "stable"] = "versioned"
    approve: bool = False
    promotion_from: EnvName | None = None
    retention: PositiveInt = 3
    # `name: 7` (the champion) or the long form with a canary, a shadow, capture (ModelPin).
    models: dict[ModelName, Pin] = {}
    capture: Capture | None = None  # for every model without a capture of its own

    @property
    def versions(self) -> dict[str, int]:
        """Each model's champion version: what every reader of a pin reads."""
        return {k: v if isinstance(v, int) else v.version for k, v in self.models.items()}

    def pin(self, model: str) -> ModelPin | None:
        """A model's pin in the long form (the short form as `ModelPin(version=N)`)."""
        v = self.models.get(model)
        return ModelPin(version=v) if isinstance(v, int) else v

    @model_validator(mode="after")
    def _consistent(self) -> EnvConfig:
        for name in ("role_arn", "reader_role_arn"):
            arn = getattr(self, name) or ""
            role_account = re.match(r"^arn:aws[a-z-]*:iam::([0-9]{12}):", arn)
            if role_account and role_account.group(1) != self.account_id:
                raise FieldProblem(
                    f"{name} is in account {role_account.group(1)}, not {self.account_id}", name
                )
        if self.promotion_from == self.name:
            raise FieldProblem(
                "promotion_from cannot name the environment itself", "promotion_from"
            )
        return self

    @property
    def artifact_bucket(self) -> str:
        return self.artifact_prefix[5:].split("/", 1)[0]

    @property
    def artifact_key_prefix(self) -> str:
        return self.artifact_prefix[5:].split("/", 1)[1]


def _fires(schedule: str) -> bool:
    """Whether a valid cron expression fires at all (`0 0 31 2 *` never does): croniter gives
    up looking for the next time after a few years' search."""
    import datetime as dt

    from croniter import CroniterBadDateError, croniter

    try:
        croniter(schedule, dt.datetime(2025, 1, 1)).get_next(dt.datetime)
    except CroniterBadDateError:
        return False
    return True
