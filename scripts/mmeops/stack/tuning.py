"""SageMaker hyperparameter tuning jobs that really train, for the embedded stack.

Replaces moto's instant "Completed" tuning job (with its FakeTrainingJobName placeholders): a
scheduler thread per tuning job launches up to MaxNumberOfTrainingJobs training jobs
(`training.TrainingJob`), at most MaxParallelTrainingJobs at a time, each with hyperparameters
drawn by optuna's TPE sampler (seeded by the job's name) from the ParameterRanges, plus the
static ones and `_tuning_objective_metric` as SageMaker adds it for built-in algorithms. The
parents of a warm start are checked (`warm_start`) and their training jobs' results added to
the study as prior observations. This is NOT SageMaker's Bayesian optimizer
(docs/embedded-stack.md).

`install()` patches the calls into moto's SageMaker backend (from `moto_server.MotoServer`).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
import time
from typing import Any

import optuna
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ResourceInUseException, ResourceNotFound, ValidationError
from moto.sagemaker.utils import arn_formatter

from mmeops.stack import training, training_faults, warm_start
from mmeops.stack import xgboost_algorithm as algorithm

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Seconds SageMaker takes between one training job ending and the next starting (scaled).
LAUNCH_GAP = 10.0


def _distribution(kind: str, spec: dict) -> optuna.distributions.BaseDistribution:
    if kind == "Categorical":
        return optuna.distributions.CategoricalDistribution(list(spec["Values"]))
    log = spec.get("ScalingType") == "Logarithmic"
    if kind == "Integer":
        return optuna.distributions.IntDistribution(
            int(spec["MinValue"]), int(spec["MaxValue"]), log=log
        )
    return optuna.distributions.FloatDistribution(
        float(spec["MinValue"]), float(spec["MaxValue"]), log=log
    )


def _as_string(value: Any) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


class TuningJob:
    """One tuning job: its request, its training jobs and what DescribeHyperParameterTuningJob
    shows of them."""

    def __init__(self, backend: Any, name: str, config: dict, definition: dict, warm: dict | None):
        self.backend = backend
        self.hyper_parameter_tuning_job_name = name
        self.arn = arn_formatter(
            "hyper-parameter-tuning-job", name, backend.account_id, backend.region_name
        )
        self.config, self.definition, self.warm_start_config = config, definition, warm
        self.status = "InProgress"
        self.failure_reason: str | None = None
        self.creation_time = self.last_modified_time = utcnow()
        self.end_time = None
        self.training_jobs_launched: list[training.TrainingJob] = []
        self.parents: list[TuningJob] = []
        self.data_digest = ""
        objective = config["HyperParameterTuningJobObjective"]
        self.metric, self.direction = objective["MetricName"], objective["Type"]
        self.ranges = warm_start.tunable(config)
        self._cond = threading.Condition()
        self._stop_requested = False
        # SageMaker seconds since the job started: moved on by launches and by training jobs
        # ending (each training job's own `Clock`), against ResourceLimits.MaxRuntimeInSeconds.
        self.elapsed = 0.0
        self.started_at: dict[str, float] = {}
        # Training jobs whose end the scheduler has taken in (`done` in `_run`): a job holds
        # its slot until then, not merely until its status is final; otherwise the next launch
        # could read `elapsed` before the ended job's time was added (and overrun the tuning
        # job's MaxRuntimeInSeconds).
        self._settled = 0

    # moto's list_hyper_parameter_tuning_jobs reads these two names.
    @property
    def hyper_parameter_tuning_job_status(self) -> str:
        return self.status

    # --- results -------------------------------------------------------------------------

    def objective_of(self, job: training.TrainingJob) -> float | None:
        return job.final_metrics.get(self.metric) if job.training_job_status != "Failed" else None

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "Maximize" else a < b

    def best(self) -> training.TrainingJob | None:
        best = None
        for job in self.training_jobs_launched:
            value = self.objective_of(job)
            if value is not None and (best is None or self._better(value, self.objective_of(best))):
                best = job
        return best

    def summary_of(self, job: training.TrainingJob) -> dict[str, Any]:
        """HyperParameterTrainingJobSummary of one of this job's training jobs."""
        value = self.objective_of(job)
        if value is not None:
            objective_status = "Succeeded"
        elif job.done:
            objective_status = "Failed"
        else:
            objective_status = "Pending"
        out: dict[str, Any] = {
            "TrainingJobName": job.training_job_name,
            "TrainingJobArn": job.arn,
            "TuningJobName": self.hyper_parameter_tuning_job_name,
            "CreationTime": job.creation_time,
            "TrainingJobStatus": job.training_job_status,
            "TunedHyperParameters": {k: job.hyperparameters[k] for k in self.ranges},
            "ObjectiveStatus": objective_status,
        }
        out.update(job.times_and_failure())
        if value is not None:
            out["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": self.direction,
                "MetricName": self.metric,
                "Value": value,
            }
        return out

    def _counters(self) -> tuple[dict[str, int], dict[str, int]]:
        status = dict.fromkeys(
            ("Completed", "InProgress", "RetryableError", "NonRetryableError", "Stopped"), 0
        )
        objective = dict.fromkeys(("Succeeded", "Pending", "Failed"), 0)
        for job in self.training_jobs_launched:
            s = job.training_job_status
            status[
                "NonRetryableError" if s == "Failed" else "InProgress" if s == "Stopping" else s
            ] += 1
            objective[self.summary_of(job)["ObjectiveStatus"]] += 1
        return status, objective

    def _overall_best(self) -> dict[str, Any] | None:
        """After an IdenticalDataAndAlgorithm warm start: the best of this job's best and the
        parents' best training jobs (it may be a parent's)."""
        candidates = [(self, self.best())] + [(p, p.best()) for p in self.parents]
        best = None
        for owner, job in candidates:
            if job is None:
                continue
            value = owner.objective_of(job)
            if best is None or self._better(value, best[0].objective_of(best[1])):
                best = (owner, job)
        return best[0].summary_of(best[1]) if best else None

    def describe(self) -> dict[str, Any]:
        with self._cond:
            status, objective = self._counters()
            out: dict[str, Any] = {
                "HyperParameterTuningJobName": self.hyper_parameter_tuning_job_name,
                "HyperParameterTuningJobArn": self.arn,
                "HyperParameterTuningJobConfig": self.config,
                "TrainingJobDefinition": self.definition,
                "HyperParameterTuningJobStatus": self.status,
                "CreationTime": self.creation_time,
                "LastModifiedTime": self.last_modified_time,
                "TrainingJobStatusCounters": status,
                "ObjectiveStatusCounters": objective,
            }
            if self.end_time:
                out["HyperParameterTuningEndTime"] = self.end_time
            best = self.best()
            if best is not None:
                out["BestTrainingJob"] = self.summary_of(best)
            if self.warm_start_config:
                out["WarmStartConfig"] = self.warm_start_config
                if self.warm_start_config["WarmStartType"] == "IdenticalDataAndAlgorithm":
                    overall = self._overall_best()
                    if overall:
                        out["OverallBestTrainingJob"] = overall
            if self.failure_reason:
                out["FailureReason"] = self.failure_reason
            return out

    def summary(self) -> dict[str, Any]:
        d = self.describe()
        keys = (
            "HyperParameterTuningJobName",
            "HyperParameterTuningJobArn",
            "HyperParameterTuningJobStatus",
            "CreationTime",
            "HyperParameterTuningEndTime",
            "LastModifiedTime",
            "TrainingJobStatusCounters",
            "ObjectiveStatusCounters",
        )
        out = {k: d[k] for k in keys if k in d}
        out["Strategy"] = self.config["Strategy"]
        out["ResourceLimits"] = self.config["ResourceLimits"]
        return out

    # --- control -------------------------------------------------------------------------

    def request_stop(self) -> None:
        with self._cond:
            if self.status != "InProgress":
                raise ValidationError(
                    message=f"The hyperparameter tuning job {self.hyper_parameter_tuning_job_name}"
                    f" is {self.status}; only an InProgress job can be stopped."
                )
            self.status = "Stopping"
            self.last_modified_time = utcnow()
            self._stop_requested = True
            for job in self.training_jobs_launched:
                job.request_stop()
            self._cond.notify_all()

    def _finish(self, status: str, reason: str | None = None) -> None:
        with self._cond:
            self.status, self.failure_reason = status, reason
            self.end_time = self.last_modified_time = utcnow()

    # --- the search ----------------------------------------------------------------------

    def _study(self) -> tuple[optuna.Study, dict]:
        seed = int.from_bytes(hashlib.sha256(self.arn.encode()).digest()[:4], "big")
        direction = "maximize" if self.direction == "Maximize" else "minimize"
        study = optuna.create_study(
            direction=direction, sampler=optuna.samplers.TPESampler(seed=seed)
        )
        dists = {name: _distribution(kind, spec) for name, (kind, spec) in self.ranges.items()}
        for parent in self.parents:  # warm start: the parents' results as prior observations
            for job in parent.training_jobs_launched:
                value = parent.objective_of(job)
                if value is None:
                    continue
                try:
                    params = {
                        n: d.to_external_repr(d.to_internal_repr(_parse(d, job.hyperparameters[n])))
                        for n, d in dists.items()
                    }
                    study.add_trial(
                        optuna.trial.create_trial(params=params, distributions=dists, value=value)
                    )
                except (KeyError, ValueError):
                    continue  # outside today's ranges (TransferLearning may narrow them)
        return study, dists

    def _name(self, n: int) -> str:
        suffix = hashlib.sha256(f"{self.arn}/{n}".encode()).hexdigest()[:8]
        return f"{self.hyper_parameter_tuning_job_name}-{n:03d}-{suffix}"

    def run(self) -> None:
        """The scheduler: launch, wait, finish. Never raises."""
        try:
            self._run()
        except Exception as e:  # the emulator's own failure: shown, not hidden
            for job in self.training_jobs_launched:
                job.request_stop()
            self._finish("Failed", f"InternalServerError: {e}")

    def _run(self) -> None:
        limits = self.config["ResourceLimits"]
        limit = limits.get("MaxRuntimeInSeconds") or math.inf
        study, dists = self._study()
        trials: dict[str, optuna.trial.Trial] = {}
        faults = training_faults.active()  # those in force when the job started
        if faults is not None and faults.fail_tuning:
            time.sleep(training.PHASES["Starting"] * training.time_scale())
            faults.record(self.hyper_parameter_tuning_job_name, "", "fail_tuning")
            self._finish("Failed", faults.fail_tuning)
            return

        def done(job: training.TrainingJob) -> None:
            with self._cond:  # re-entrant: request_stop() takes it again
                try:
                    value = self.objective_of(job)
                    trial = trials[job.training_job_name]
                    if value is None:
                        study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    else:
                        study.tell(trial, value)
                    ended = sum(j.done for j in self.training_jobs_launched)
                    started = self.started_at[job.training_job_name]
                    self.elapsed = max(self.elapsed, started + job.clock.spent)
                    if faults and faults.stop_tuning_after == ended and not self._stop_requested:
                        faults.record(self.hyper_parameter_tuning_job_name, "", "stop_tuning_after")
                        self.request_stop()
                finally:
                    self._settled += 1
                    self._cond.notify_all()

        while self._wait_for_a_slot(limits["MaxParallelTrainingJobs"], limit):
            with self._cond:
                if len(self.training_jobs_launched) >= limits["MaxNumberOfTrainingJobs"]:
                    break
                trial = study.ask(dists)
                job = self._launch(trial)
                trials[job.training_job_name] = trial
                self.started_at[job.training_job_name] = self.elapsed
                budget = limit - self.elapsed
                self.elapsed += LAUNCH_GAP
            n = len(trials)
            failure = None
            if faults is not None and n in faults.fail_training_jobs:
                faults.record(self.hyper_parameter_tuning_job_name, job.training_job_name, "fail")
                failure = "injected training failure (embedded stack fault injection)"
            training.start(job, done, failure, budget)
            time.sleep(LAUNCH_GAP * training.time_scale())
        with self._cond:
            while self._settled < len(self.training_jobs_launched):
                self._cond.wait(0.05)  # woken by done(); the timeout is a safety net only
        if self._stop_requested:
            self._finish("Stopped")
        elif self.best() is None:
            self._finish("Failed", "No training job succeeded with an objective metric value.")
        else:
            self._finish("Completed")

    def _wait_for_a_slot(self, max_parallel: int, limit: float) -> bool:
        """Wait until fewer than `max_parallel` training jobs run; False once the job is to
        stop (StopHyperParameterTuningJob, or its own MaxRuntimeInSeconds ran out)."""
        with self._cond:
            while not self._stop_requested:
                if self.elapsed >= limit:
                    self.request_stop()
                    break
                if len(self.training_jobs_launched) - self._settled < max_parallel:
                    return True
                self._cond.wait(0.05)  # woken by done(); the timeout is a safety net only
            return False

    def _launch(self, trial: optuna.trial.Trial) -> training.TrainingJob:
        """A new training job with the trial's hyperparameters (caller holds the lock)."""
        hyperparameters = dict(self.definition.get("StaticHyperParameters") or {})
        hyperparameters.update({k: _as_string(v) for k, v in trial.params.items()})
        hyperparameters["_tuning_objective_metric"] = self.metric
        job = training.TrainingJob(
            account_id=self.backend.account_id,
            region=self.backend.region_name,
            name=self._name(len(self.training_jobs_launched) + 1),
            definition=self.definition,
            hyperparameters=hyperparameters,
            tuning_job_arn=self.arn,
        )
        self.training_jobs_launched.append(job)
        self.backend.training_jobs[job.training_job_name] = job
        self.last_modified_time = utcnow()
        return job


def _parse(dist: optuna.distributions.BaseDistribution, raw: str) -> Any:
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return raw
    if isinstance(dist, optuna.distributions.IntDistribution):
        return int(float(raw))
    return float(raw)


# --- moto's backend and responses ------------------------------------------------------------


def _validate(config: dict, definition: dict | None, definitions: list | None) -> None:
    """What CreateHyperParameterTuningJob refuses beyond the service model's shapes."""
    if definition is None or definitions:
        raise ValidationError(
            message="The embedded stack runs tuning jobs with one TrainingJobDefinition only."
        )
    limits = config["ResourceLimits"]
    if limits["MaxParallelTrainingJobs"] > limits["MaxNumberOfTrainingJobs"]:
        raise ValidationError(
            message="MaxParallelTrainingJobs cannot be greater than MaxNumberOfTrainingJobs."
        )
    metric = config["HyperParameterTuningJobObjective"]["MetricName"]
    if metric not in algorithm.HYPERPARAMETERS["_tuning_objective_metric"].choices:
        raise ValidationError(
            message=f"The objective metric {metric} is not a metric of the built-in XGBoost "
            "algorithm (validation:<metric>)."
        )
    for name, (kind, spec) in warm_start.tunable(config).items():
        if kind == "Categorical":
            continue
        low, high = float(spec["MinValue"]), float(spec["MaxValue"])
        if low > high:
            raise ValidationError(message=f"{name}: MinValue is greater than MaxValue.")
        if spec.get("ScalingType") == "Logarithmic" and low <= 0:
            raise ValidationError(
                message=f"{name}: Logarithmic scaling needs a range of values greater than 0."
            )
        if spec.get("ScalingType") == "ReverseLogarithmic" and not 0 <= low <= high < 1:
            raise ValidationError(
                message=f"{name}: ReverseLogarithmic scaling needs a range within [0, 1)."
            )


def create(
    backend: Any,
    *,
    hyper_parameter_tuning_job_name: str,
    hyper_parameter_tuning_job_config: dict,
    training_job_definition: dict | None,
    training_job_definitions: list | None,
    warm_start_config: dict | None,
    **_unused: Any,  # tags, autotune
) -> str:
    """CreateHyperParameterTuningJob, as moto's backend method (called with its keywords)."""
    name, config = hyper_parameter_tuning_job_name, hyper_parameter_tuning_job_config
    definition, definitions = training_job_definition, training_job_definitions
    warm = warm_start_config
    if name in backend.hyper_parameter_tuning_jobs:
        raise ResourceInUseException(
            message=f"Resource Already Exists: Hyper Parameter Tuning Job with name {name} "
            "already exists. Choose a different name."
        )
    _validate(config, definition, definitions)
    job = TuningJob(backend, name, config, definition, warm)

    def read(channel: dict) -> list[tuple[str, bytes]]:
        return training.read_channel(backend.account_id, backend.region_name, channel)

    digest_cache: list[str] = []

    def digest() -> str:
        if not digest_cache:
            try:
                digest_cache.append(warm_start.data_digest(read, definition))
            except Exception:
                digest_cache.append("unreadable")
        return digest_cache[0]

    if warm is not None:
        job.parents = warm_start.check(backend, warm, config, definition, digest)
    job.data_digest = digest()
    backend.hyper_parameter_tuning_jobs[name] = job
    with _live_lock:
        _live.add(job)
    threading.Thread(target=_run_live, args=(job,), name=f"tune-{name}", daemon=True).start()
    return job.arn


_live: set[TuningJob] = set()
_live_lock = threading.Lock()


def _run_live(job: TuningJob) -> None:
    try:
        job.run()
    finally:
        with _live_lock:
            _live.discard(job)


def stop_all() -> None:
    """Stop every running tuning and training job (before moto's state is reset, so that
    none launches or writes into the next stack)."""
    with _live_lock:
        jobs = list(_live)
    for job in jobs:
        with contextlib.suppress(ValidationError):  # it ended meanwhile
            job.request_stop()
    training.stop_all()


def _job(backend: Any, name: str) -> TuningJob:
    job = backend.hyper_parameter_tuning_jobs.get(name)
    if job is None:
        raise ResourceNotFound(message=f"Could not find hyper parameter tuning job '{name}'.")
    return job


def list_training_jobs(backend: Any, name: str, params: dict) -> dict[str, Any]:
    """ListTrainingJobsForHyperParameterTuningJob: StatusEquals, SortBy (default Name),
    SortOrder (default Ascending), MaxResults (default 10) and NextToken, as the API
    reference defines them."""
    job = _job(backend, name)
    with job._cond:
        summaries = [job.summary_of(j) for j in job.training_jobs_launched]
    if params.get("StatusEquals"):
        summaries = [s for s in summaries if s["TrainingJobStatus"] == params["StatusEquals"]]
    sort_by = params.get("SortBy") or "Name"
    key = {
        "Name": lambda s: s["TrainingJobName"],
        "CreationTime": lambda s: (s["CreationTime"], s["TrainingJobName"]),
        "Status": lambda s: (s["TrainingJobStatus"], s["TrainingJobName"]),
        "FinalObjectiveMetricValue": lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"][
            "Value"
        ],
    }[sort_by]
    if sort_by == "FinalObjectiveMetricValue":  # jobs without an objective are not listed
        summaries = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s]
    summaries.sort(key=key, reverse=params.get("SortOrder") == "Descending")
    size = params.get("MaxResults") or 10
    token = params.get("NextToken") or "0"
    if not token.isdigit() or int(token) > len(summaries):
        raise ValidationError(message="Invalid pagination token.")
    start = int(token)
    out: dict[str, Any] = {"TrainingJobSummaries": summaries[start : start + size]}
    if start + size < len(summaries):
        out["NextToken"] = str(start + size)
    return out


_install_lock = threading.Lock()


def install() -> None:
    """Teach moto's SageMaker the training and tuning calls above. Idempotent."""
    from moto.core.responses import ActionResult
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    with _install_lock:
        if getattr(SageMakerModelBackend, "_mmeops_tuning", False):
            return

        def response_stop(self) -> ActionResult:
            _job(
                self.sagemaker_backend, self._get_param("HyperParameterTuningJobName")
            ).request_stop()
            return ActionResult({})

        def response_list(self) -> ActionResult:
            params = {
                k: self._get_param(k)
                for k in ("StatusEquals", "SortBy", "SortOrder", "MaxResults", "NextToken")
            }
            name = self._get_param("HyperParameterTuningJobName")
            return ActionResult(list_training_jobs(self.sagemaker_backend, name, params))

        def response_stop_training(self) -> ActionResult:
            name = self._get_param("TrainingJobName")
            job = self.sagemaker_backend.training_jobs.get(name)
            if not isinstance(job, training.TrainingJob):
                raise ValidationError(message=f"Could not find training job '{name}'.")
            if job.done:
                raise ValidationError(
                    message=f"The training job {name} is {job.training_job_status}; only an "
                    "InProgress job can be stopped."
                )
            job.request_stop()
            return ActionResult({})

        SageMakerModelBackend.create_hyper_parameter_tuning_job = create
        SageMakerModelBackend.create_training_job = training.create
        SageMakerResponse.stop_training_job = response_stop_training
        SageMakerResponse.stop_hyper_parameter_tuning_job = response_stop
        SageMakerResponse.list_training_jobs_for_hyper_parameter_tuning_job = response_list
        SageMakerModelBackend._mmeops_tuning = True
