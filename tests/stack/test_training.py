"""SageMaker training and tuning jobs on the embedded stack really train.

Requests are raw boto3 calls shaped as the SageMaker Python SDK 2.x sends them
(HyperparameterTuner.fit → CreateHyperParameterTuningJob with WarmStartConfig.WarmStartType
`IdenticalDataAndAlgorithm` / `TransferLearning`). The built-in algorithm's behaviour is read
from github.com/aws/sagemaker-xgboost-container (commit cb8df91), cited where checked as
`container:<file>:<line>`.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import xgboost
from botocore.exceptions import ClientError
from sagemaker.core import image_uris

from mmeops.config.repo import load_repo
from mmeops.stack import strict
from mmeops.stack.embedded import EmbeddedStack
from mmeops.stack.iam import middleware
from mmeops.stack.training_faults import training_faults

REGION = "us-east-1"
IMAGE = image_uris.retrieve("xgboost", REGION, "3.2-0")
TERMINAL = ("Completed", "Failed", "Stopped")
# The training account's execution role (mmeops.yaml; infra/bootstrap.yaml's ExecutionRole),
# which the stack's jobs read their channels and write their model as.
EXECUTION_ROLE = load_repo(Path(__file__).resolve().parents[2]).settings.training.execution_role_arn
# What moto 5.2.5 answers for every tuning job (FACTS.md): none may ever appear.
PLACEHOLDERS = (
    "FakeTrainingJobName",
    "FakeTrainingJobArn",
    "FakeTuningJobName",
    "FakeTunedHyperParameters",
    "FakeFailureReason",
    "FakeTrainingJobDefinitionName",
    "TunedHyperParameters",
    "string",
    "train:progress",
    "test:dcg",
)


@pytest.fixture(scope="module")
def account(stack):
    """(training account's Aws, its bucket, a fresh prefix) with a small regression data set:
    the train channel in two CSV files plus an `_SUCCESS` marker, the validation channel in
    one file; no header, label first."""
    repo = load_repo(stack.repo_root)
    t = repo.settings.training
    acct = EmbeddedStack.current.admin(t.account_id, t.region)  # the emulation's operator
    # Under tuning/: the execution role (infra/bootstrap.yaml) writes job output there only.
    bucket, prefix = repo.settings.bucket, f"tuning/training-tests/{uuid.uuid4().hex[:8]}/"
    x, y = _data(np.random.default_rng(7), 300)
    acct.put_bytes(bucket, prefix + "train/part-1.csv", _csv(x[:120], y[:120]))
    acct.put_bytes(bucket, prefix + "train/part-2.csv", _csv(x[120:200], y[120:200]))
    acct.put_bytes(bucket, prefix + "train/_SUCCESS", b"not,csv,at all\n")
    acct.put_bytes(bucket, prefix + "validation/data.csv", _csv(x[200:], y[200:]))
    return acct, bucket, prefix, (x, y)


def _data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 4))
    y = x @ np.array([1.0, 2.0, -1.5, 0.5]) + rng.normal(scale=0.5, size=n)
    # The values as the CSV written below holds them (6 decimals), so that a model trained
    # here sees exactly the rows the training job read.
    exact = np.vectorize(lambda v: float(f"{v:.6f}"))
    return exact(x), exact(y)


def _csv(x: np.ndarray, y: np.ndarray) -> bytes:
    rows = (
        ",".join(f"{v:.6f}" for v in (label, *features))
        for label, features in zip(y, x, strict=True)
    )
    return ("\n".join(rows) + "\n").encode()


def _channel(name: str, uri: str) -> dict:
    return {
        "ChannelName": name,
        "ContentType": "text/csv",
        "InputMode": "File",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }


def _definition(bucket: str, prefix: str, static: dict | None = None, image: str = IMAGE) -> dict:
    """TrainingJobDefinition as the SDK 2.x tuner builds it for the built-in XGBoost."""
    return {
        "StaticHyperParameters": static or {"num_round": "15", "objective": "reg:squarederror"},
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": EXECUTION_ROLE,
        "InputDataConfig": [
            _channel("train", f"s3://{bucket}/{prefix}train/"),
            _channel("validation", f"s3://{bucket}/{prefix}validation/"),
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/{prefix}output/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def _config(jobs: int, parallel: int, metric: str = "validation:rmse") -> dict:
    return {
        "Strategy": "Bayesian",
        "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": metric},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs, "MaxParallelTrainingJobs": parallel},
        "ParameterRanges": {
            "ContinuousParameterRanges": [
                {"Name": "eta", "MinValue": "0.05", "MaxValue": "0.5", "ScalingType": "Auto"}
            ],
            "IntegerParameterRanges": [
                {"Name": "max_depth", "MinValue": "2", "MaxValue": "5", "ScalingType": "Auto"}
            ],
            "CategoricalParameterRanges": [],
        },
        "TrainingJobEarlyStoppingType": "Off",
    }


def _create(sm, name: str, config: dict, definition: dict, parents=(), kind=None) -> None:
    request = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": definition,
    }
    if parents:
        request["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": p} for p in parents],
            "WarmStartType": kind,
        }
    sm.create_hyper_parameter_tuning_job(**request)


def _wait(sm, name: str, seen: list[dict] | None = None, timeout: float = 120) -> dict:
    """Poll as a client must (the job moves over time); every description is kept in `seen`."""
    deadline = time.monotonic() + timeout
    while True:
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        if seen is not None:
            seen.append(d)
        if d["HyperParameterTuningJobStatus"] in TERMINAL:
            return d
        assert time.monotonic() < deadline, f"{name} still {d['HyperParameterTuningJobStatus']}"
        time.sleep(0.1)


def _wait_training(sm, name: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        d = sm.describe_training_job(TrainingJobName=name)
        if d["TrainingJobStatus"] in TERMINAL:
            return d
        assert time.monotonic() < deadline
        time.sleep(0.1)


def _all_summaries(sm, name: str, **kwargs) -> list[dict]:
    out, token = [], None
    while True:
        page = sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name,
            MaxResults=4,
            **({"NextToken": token} if token else {}),
            **kwargs,
        )
        out += page["TrainingJobSummaries"]
        token = page.get("NextToken")
        if not token:
            return out


def _strings(value) -> list[str]:
    """Every string value in a response, however deep."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _max_overlap(summaries: list[dict]) -> int:
    """The most training jobs that were running at one instant."""
    events = sorted(
        [(s["CreationTime"], 1) for s in summaries]
        + [(s["TrainingEndTime"], -1) for s in summaries],
        key=lambda e: (e[0], e[1]),
    )
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def _booster(acct, uri: str) -> xgboost.Booster:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = acct.get_bytes(bucket, key)[0]
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        # The container loads the single file `xgboost-model` (container:
        # src/sagemaker_xgboost_container/algorithm_mode/train.py:478-480, MODEL_NAME).
        assert tar.getnames() == ["xgboost-model"]
        raw = tar.extractfile("xgboost-model").read()
    booster = xgboost.Booster()
    booster.load_model(bytearray(raw))
    return booster


def test_warm_started_tuning_job_of_six_trains_two_at_a_time_and_its_best_model_predicts(account):
    acct, bucket, prefix, (x, y) = account
    sm = acct.client("sagemaker")
    parent, child = f"p-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    _create(sm, parent, _config(3, 2), _definition(bucket, prefix))
    parent_done = _wait(sm, parent)
    assert parent_done["HyperParameterTuningJobStatus"] == "Completed"

    _create(
        sm, child, _config(6, 2), _definition(bucket, prefix), [parent], "IdenticalDataAndAlgorithm"
    )
    seen: list[dict] = []
    done = _wait(sm, child, seen)

    # Statuses move over time: the client saw the job running before it completed.
    assert seen[0]["HyperParameterTuningJobStatus"] == "InProgress"
    assert any(d["TrainingJobStatusCounters"]["InProgress"] > 0 for d in seen)
    assert done["HyperParameterTuningJobStatus"] == "Completed"
    assert done["TrainingJobStatusCounters"] == {
        "Completed": 6,
        "InProgress": 0,
        "RetryableError": 0,
        "NonRetryableError": 0,
        "Stopped": 0,
    }
    assert done["ObjectiveStatusCounters"] == {"Succeeded": 6, "Pending": 0, "Failed": 0}
    summaries = _all_summaries(sm, child)
    assert len(summaries) == 6
    assert 1 <= _max_overlap(summaries) <= 2  # MaxParallelTrainingJobs

    # BestTrainingJob is the job with the lowest objective among this job's six.
    best = done["BestTrainingJob"]
    values = {
        s["TrainingJobName"]: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        for s in summaries
    }
    assert best["TrainingJobName"] == min(values, key=values.get)
    # After an identical-data warm start the overall best compares the parent's best too.
    overall = done["OverallBestTrainingJob"]
    parent_best = parent_done["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"][
        "Value"
    ]
    assert overall["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == min(
        parent_best, best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    )
    assert overall["TuningJobName"] in (parent, child)

    # The best training job's artifact is where SageMaker puts it, and it is the model that
    # xgboost trains from these hyperparameters on these rows.
    described = sm.describe_training_job(TrainingJobName=best["TrainingJobName"])
    uri = described["ModelArtifacts"]["S3ModelArtifacts"]
    assert uri == f"s3://{bucket}/{prefix}output/{best['TrainingJobName']}/output/model.tar.gz"
    assert described["HyperParameters"] == {
        "num_round": "15",
        "objective": "reg:squarederror",
        **best["TunedHyperParameters"],
        # Added by SageMaker for built-in algorithms; the container reads it
        # (container: src/sagemaker_xgboost_container/algorithm_mode/train.py:317).
        "_tuning_objective_metric": "validation:rmse",
    }
    served = _booster(acct, uri)
    tuned = best["TunedHyperParameters"]
    params = {
        "objective": "reg:squarederror",
        "eta": float(tuned["eta"]),
        "max_depth": int(tuned["max_depth"]),
        "nthread": 1,
    }
    # Label first, no header, every data file of the channel (container:
    # src/sagemaker_xgboost_container/data_utils.py:313 label_column=0; :120-140 skips "_*").
    own = xgboost.train(params, xgboost.DMatrix(x[:200], label=y[:200]), num_boost_round=15)
    rows = xgboost.DMatrix(x[200:])
    np.testing.assert_array_equal(served.predict(rows), own.predict(rows))
    # The objective value is the validation RMSE of that very model (metric names
    # `validation:<metric>`: container: algorithm_mode/metrics.py:33-36).
    rmse = float(np.sqrt(np.mean((served.predict(rows) - y[200:]) ** 2)))
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == pytest.approx(
        rmse, rel=1e-5
    )
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert set(metrics) == {"train:rmse", "validation:rmse"}
    assert metrics["validation:rmse"] == pytest.approx(rmse, rel=1e-5)

    # Nothing moto would have made up appears anywhere.
    for text in _strings(done) + _strings(described) + _strings(summaries):
        assert text not in PLACEHOLDERS
    assert "TuningJobCompletionDetails" not in done and "ConsumedResources" not in done


def _tune_with_a_failure(account, jobs: int, failing: int):
    """(client, name, final description, injected faults) of a finished tuning job of `jobs`
    training jobs, 2 at a time, whose training job number `failing` failed."""
    acct, bucket, prefix, _ = account
    sm = acct.client("sagemaker")
    name = f"f-{uuid.uuid4().hex[:8]}"
    with training_faults(fail_training_jobs={failing}) as injected:
        _create(sm, name, _config(jobs, 2), _definition(bucket, prefix))
        done = _wait(sm, name)
    return sm, name, done, injected


def test_listing_filters_sorts_and_pages_as_the_api_defines(account):
    sm, name, _, _ = _tune_with_a_failure(account, jobs=5, failing=3)
    # Default: sorted by Name, ascending, 10 a page (API reference,
    # ListTrainingJobsForHyperParameterTuningJob: "The default is Name", "Ascending", 10).
    first = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    names = [s["TrainingJobName"] for s in first["TrainingJobSummaries"]]
    assert names == sorted(names) and len(names) == 5 and "NextToken" not in first
    assert [s["TrainingJobName"] for s in _all_summaries(sm, name)] == names
    # FinalObjectiveMetricValue lists only jobs that reported the objective.
    ranked = _all_summaries(sm, name, SortBy="FinalObjectiveMetricValue", SortOrder="Descending")
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in ranked]
    assert len(values) == 4 and values == sorted(values, reverse=True)
    failed = _all_summaries(sm, name, StatusEquals="Failed")
    assert [s["TrainingJobName"] for s in failed] == [names[2]]
    # ListHyperParameterTuningJobs shows the same real counters.
    [listed] = sm.list_hyper_parameter_tuning_jobs(NameContains=name)[
        "HyperParameterTuningJobSummaries"
    ]
    assert listed["HyperParameterTuningJobStatus"] == "Completed"
    assert listed["TrainingJobStatusCounters"]["NonRetryableError"] == 1
    assert listed["ObjectiveStatusCounters"] == {"Succeeded": 4, "Pending": 0, "Failed": 1}


def test_a_tuning_job_with_a_failed_training_job_still_completes(account):
    sm, name, done, injected = _tune_with_a_failure(account, jobs=4, failing=2)
    assert [e[2] for e in injected.events] == ["fail"]
    assert done["HyperParameterTuningJobStatus"] == "Completed"
    assert done["TrainingJobStatusCounters"]["Completed"] == 3
    assert done["TrainingJobStatusCounters"]["NonRetryableError"] == 1
    assert done["ObjectiveStatusCounters"] == {"Succeeded": 3, "Pending": 0, "Failed": 1}
    [failed] = _all_summaries(sm, name, StatusEquals="Failed")
    assert failed["TrainingJobName"] == injected.events[0][1]
    assert failed["ObjectiveStatus"] == "Failed"
    assert failed["FailureReason"].startswith("AlgorithmError: injected training failure")
    described = sm.describe_training_job(TrainingJobName=failed["TrainingJobName"])
    assert described["TrainingJobStatus"] == "Failed"
    assert "S3ModelArtifacts" not in described["ModelArtifacts"]
    assert "FinalMetricDataList" not in described
    assert done["BestTrainingJob"]["TrainingJobName"] != failed["TrainingJobName"]


def test_tuning_job_fails_outright_when_injected(account):
    acct, bucket, prefix, _ = account
    sm = acct.client("sagemaker")
    name = f"x-{uuid.uuid4().hex[:8]}"
    with training_faults(fail_tuning="InternalServerError: injected"):
        _create(sm, name, _config(2, 1), _definition(bucket, prefix))
        done = _wait(sm, name)
    assert done["HyperParameterTuningJobStatus"] == "Failed"
    assert done["FailureReason"] == "InternalServerError: injected"
    assert "BestTrainingJob" not in done
    # A failed tuning job is no parent.
    with pytest.raises(ClientError) as refused:
        _create(
            sm, f"{name}-c", _config(2, 1), _definition(bucket, prefix), [name], "TransferLearning"
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_a_stopped_tuning_job_keeps_its_finished_jobs_and_is_a_usable_parent(account, monkeypatch):
    # Slow jobs (0.21 s of SageMaker phases each): the stop must come while jobs remain.
    monkeypatch.setenv("MMEOPS_STACK_TIME_SCALE", "0.002")
    acct, bucket, prefix, _ = account
    sm = acct.client("sagemaker")
    name = f"s-{uuid.uuid4().hex[:8]}"
    _create(sm, name, _config(8, 1), _definition(bucket, prefix))
    deadline = time.monotonic() + 60
    while not sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, StatusEquals="Completed"
    )["TrainingJobSummaries"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    stopping = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert stopping["HyperParameterTuningJobStatus"] in ("Stopping", "Stopped")
    done = _wait(sm, name)
    assert done["HyperParameterTuningJobStatus"] == "Stopped"
    counters = done["TrainingJobStatusCounters"]
    assert counters["Completed"] >= 1 and counters["InProgress"] == 0
    assert counters["Completed"] + counters["Stopped"] < 8  # no more jobs were launched
    best = done["BestTrainingJob"]
    kept = sm.describe_training_job(TrainingJobName=best["TrainingJobName"])
    assert kept["TrainingJobStatus"] == "Completed"
    _booster(acct, kept["ModelArtifacts"]["S3ModelArtifacts"])  # still there, still loads
    with pytest.raises(ClientError) as again:
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert again.value.response["Error"]["Code"] == "ValidationException"

    # AWS accepts a Stopped parent (FACTS.md; API reference of WarmStartConfig).
    child = f"{name}-tl"
    _create(sm, child, _config(2, 2), _definition(bucket, prefix), [name], "TransferLearning")
    assert _wait(sm, child)["HyperParameterTuningJobStatus"] == "Completed"


def test_a_tuning_job_is_stopped_after_n_training_jobs_when_injected(account):
    acct, bucket, prefix, _ = account
    sm = acct.client("sagemaker")
    name = f"n-{uuid.uuid4().hex[:8]}"
    with training_faults(stop_tuning_after=2):
        _create(sm, name, _config(6, 1), _definition(bucket, prefix))
        done = _wait(sm, name)
    assert done["HyperParameterTuningJobStatus"] == "Stopped"
    assert done["TrainingJobStatusCounters"]["Completed"] == 2
    assert sum(done["TrainingJobStatusCounters"].values()) <= 3


def _refusal(sm, name, config, definition, parents, kind) -> str:
    with pytest.raises(ClientError) as refused:
        _create(sm, name, config, definition, parents, kind)
    with pytest.raises(ClientError):  # nothing was created
        sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    return refused.value.response["Error"]["Message"]


def test_invalid_warm_starts_are_refused_as_aws_refuses_them(account):
    """Warm start tuning restrictions: SageMaker Developer Guide, "Run a Warm Start
    Hyperparameter Tuning Job"; at most 5 parents: API reference,
    HyperParameterTuningJobWarmStartConfig."""
    acct, bucket, prefix, (x, y) = account
    sm = acct.client("sagemaker")
    parent = f"w-{uuid.uuid4().hex[:8]}"
    _create(sm, parent, _config(2, 2), _definition(bucket, prefix))
    running = f"{parent}-r"
    _create(sm, running, _config(2, 1), _definition(bucket, prefix))
    assert "terminal" in _refusal(
        sm, f"{parent}-1", _config(2, 1), _definition(bucket, prefix), [running], "TransferLearning"
    )
    _wait(sm, parent)
    _wait(sm, running)
    child = f"{parent}-c"
    ok = _definition(bucket, prefix)
    cases = {
        "missing": (_config(2, 1), ok, ["no-such-parent"], "TransferLearning"),
        # The enum is CamelCase on the wire (botocore HyperParameterTuningJobWarmStartType).
        "enum": (_config(2, 1), ok, [parent], "IDENTICAL_DATA_AND_ALGORITHM"),
        "six parents": (_config(2, 1), ok, [parent] * 6, "TransferLearning"),
        "objective": (_config(2, 1, "validation:mae"), ok, [parent], "TransferLearning"),
        "names": (
            _config(2, 1),
            _definition(
                bucket, prefix, {"num_round": "15", "objective": "reg:squarederror", "gamma": "1"}
            ),
            [parent],
            "TransferLearning",
        ),
        "image": (
            _config(2, 1),
            _definition(bucket, prefix, image=image_uris.retrieve("xgboost", REGION, "3.0-5")),
            [parent],
            "IdenticalDataAndAlgorithm",
        ),
    }
    typed = _config(2, 1)
    typed["ParameterRanges"]["ContinuousParameterRanges"].append(
        {"Name": "max_depth", "MinValue": "2", "MaxValue": "5", "ScalingType": "Auto"}
    )
    typed["ParameterRanges"]["IntegerParameterRanges"] = []
    cases["type"] = (typed, ok, [parent], "TransferLearning")
    # What each refusal names (the enum and the list length are the service model's: a
    # server-side request validator may word them first).
    says = {
        "missing": "no-such-parent not found",
        "enum": "",
        "six parents": "",
        "objective": "objective metric",
        "names": "differ in: gamma",
        "image": "needs the training image",
        "type": "max_depth changed type from Integer",
    }
    for case, (config, definition, parents, kind) in cases.items():
        # The enum and the list length break the service model: the strict layer refuses them
        # first, and its log must not count these deliberate ones against the suite.
        with strict.expecting():
            assert says[case] in _refusal(sm, child, config, definition, parents, kind), case

    # IdenticalDataAndAlgorithm needs the same data: new rows make it a TransferLearning.
    other = f"tuning/training-tests/{uuid.uuid4().hex[:8]}/"
    acct.put_bytes(bucket, other + "train/part-1.csv", _csv(x[:150], y[:150]))
    acct.put_bytes(bucket, other + "validation/data.csv", _csv(x[200:], y[200:]))
    moved = _definition(bucket, other)
    assert "same input data" in _refusal(
        sm, child, _config(2, 1), moved, [parent], "IdenticalDataAndAlgorithm"
    )
    _create(sm, child, _config(2, 1), moved, [parent], "TransferLearning")
    # The same bytes under another key are the same data.
    copy = f"tuning/training-tests/{uuid.uuid4().hex[:8]}/"
    for key in ("train/part-1.csv", "train/part-2.csv", "train/_SUCCESS", "validation/data.csv"):
        acct.put_bytes(bucket, copy + key, acct.get_bytes(bucket, prefix + key)[0])
    _create(
        sm,
        f"{child}-i",
        _config(2, 1),
        _definition(bucket, copy),
        [parent],
        "IdenticalDataAndAlgorithm",
    )
    for job in (child, f"{child}-i"):
        assert _wait(sm, job)["HyperParameterTuningJobStatus"] == "Completed"


def _train(account, hyperparameters: dict, **overrides) -> dict:
    """A training job of the test data set with these hyperparameters, once it has ended."""
    acct, bucket, prefix, _ = account
    return _training_job(acct.client("sagemaker"), bucket, prefix, hyperparameters, **overrides)


def _training_job(sm, bucket: str, prefix: str, hyperparameters: dict, **overrides) -> dict:
    name = f"t-{uuid.uuid4().hex[:10]}"
    definition = _definition(bucket, prefix)
    request = {
        "TrainingJobName": name,
        "HyperParameters": hyperparameters,
        "AlgorithmSpecification": definition["AlgorithmSpecification"],
        "RoleArn": definition["RoleArn"],
        "InputDataConfig": definition["InputDataConfig"],
        "OutputDataConfig": definition["OutputDataConfig"],
        "ResourceConfig": definition["ResourceConfig"],
        "StoppingCondition": definition["StoppingCondition"],
    }
    request.update(overrides)
    sm.create_training_job(**request)
    return _wait_training(sm, name)


@pytest.mark.parametrize(
    ("hyperparameters", "reason"),
    [
        # container: src/sagemaker_algorithm_toolkit/hyperparameter_validation.py:268
        (
            {"objective": "reg:squarederror"},
            "ClientError: Missing required hyperparameter: num_round",
        ),
        # :278, unknown names are refused
        ({"num_round": "5", "depth": "3"}, "ClientError: Extraneous hyperparameter found: depth"),
        # container: algorithm_mode/hyperparameter_validation.py:154-160 (eta in [0, 1])
        (
            {"num_round": "5", "eta": "2"},
            "ClientError: Hyperparameter eta: value 2.0 not in range [0, 1]",
        ),
        # :189-192 (subsample in (0, 1]); the alias learning_rate means eta (:341)
        (
            {"num_round": "5", "subsample": "0"},
            "ClientError: Hyperparameter subsample: value 0.0 not in range (0, 1]",
        ),
        # int(value) (toolkit hyperparameter_validation.py:93-94, :282; exceptions.py:69)
        (
            {"num_round": "5.0"},
            "ClientError: Hyperparameter num_round: could not parse value (caused by ValueError)",
        ),
        (
            {"num_round": "5", "learning_rate": "-1"},
            "ClientError: Hyperparameter eta: value -1.0 not in range [0, 1]",
        ),
    ],
)
def test_bad_hyperparameters_fail_the_training_job_as_the_container_does(
    account, hyperparameters, reason
):
    described = _train(account, hyperparameters)
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"] == reason


def test_early_stopping_follows_the_tuning_objective_and_keeps_the_best_round(account):
    acct, bucket, prefix, (x, y) = account
    hp = {
        "num_round": "300",
        "eta": "0.5",
        "max_depth": "6",
        "early_stopping_rounds": "3",
        "_tuning_objective_metric": "validation:rmse",
        "objective": "reg:squarederror",
    }
    described = _train(account, hp)
    assert described["TrainingJobStatus"] == "Completed"
    booster = _booster(acct, described["ModelArtifacts"]["S3ModelArtifacts"])
    # EarlyStopping on the validation channel's objective metric, save_best (container:
    # algorithm_mode/train.py:329-336, callback.py:113-120): the model ends at the best round.
    log: dict = {}
    own = xgboost.train(
        {"objective": "reg:squarederror", "eta": 0.5, "max_depth": 6, "nthread": 1},
        xgboost.DMatrix(x[:200], label=y[:200]),
        num_boost_round=300,
        evals=[(xgboost.DMatrix(x[200:], label=y[200:]), "validation")],
        callbacks=[xgboost.callback.EarlyStopping(rounds=3, metric_name="rmse", save_best=True)],
        evals_result=log,
        verbose_eval=False,
    )
    assert booster.num_boosted_rounds() == own.num_boosted_rounds() < 300
    # The final metric is the last value the algorithm printed (EvaluationMonitor, container:
    # callback.py:85; SageMaker parses the log): the last round's, three after the best.
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    rounds = log["validation"]["rmse"]
    assert len(rounds) == own.num_boosted_rounds() + 3
    assert metrics["validation:rmse"] == pytest.approx(rounds[-1], rel=1e-6)
    assert metrics["validation:rmse"] > min(rounds)


def test_an_image_of_another_xgboost_line_fails_with_a_clear_reason(account):
    old = image_uris.retrieve("xgboost", REGION, "1.7-1")
    spec = {"TrainingImage": old, "TrainingInputMode": "File"}
    described = _train(account, {"num_round": "5"}, AlgorithmSpecification=spec)
    assert described["TrainingJobStatus"] == "Failed"
    assert (
        "1.7-1" in described["FailureReason"] and xgboost.__version__ in described["FailureReason"]
    )


def test_max_runtime_stops_the_training_job(account):
    # One second of SageMaker time is far less than instance start-up takes, scaled or not.
    described = _train(
        account,
        {"num_round": "5"},
        StoppingCondition={"MaxRuntimeInSeconds": 1},
    )
    # A job that runs out of time ends Stopped with secondary status MaxRuntimeExceeded
    # (botocore SecondaryStatus enum; aws-samples/serverless-sagemaker-orchestration#2).
    assert described["TrainingJobStatus"] == "Stopped"
    assert described["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert "S3ModelArtifacts" not in described["ModelArtifacts"]


def test_a_missing_channel_prefix_fails_the_training_job(account):
    acct, bucket, prefix, _ = account
    channels = [_channel("train", f"s3://{bucket}/{prefix}nothing-here/")]
    described = _train(account, {"num_round": "5"}, InputDataConfig=channels)
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("ClientError: No S3 objects found under S3 URL")


def test_a_channel_in_another_accounts_bucket_is_refused(stack, account):
    """AWS reads another account's bucket only under a bucket policy, which moto does not
    evaluate: the stack refuses it rather than read it (stricter, never more lenient)."""
    acct, bucket, prefix, (x, y) = account
    env = load_repo(stack.repo_root).envs["sandbox"]
    other = EmbeddedStack.current.admin(env.account_id, env.region)  # the emulation's operator
    key = f"{prefix}train/data.csv"
    other.put_bytes(env.artifact_bucket, key, _csv(x[:50], y[:50]))
    channels = [_channel("train", f"s3://{env.artifact_bucket}/{key}")]
    described = _train(account, {"num_round": "5"}, InputDataConfig=channels)
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith(
        f"ClientError: Data download failed: bucket {env.artifact_bucket}"
    )


def test_the_tuning_jobs_own_max_runtime_stops_it(account):
    """ResourceLimits.MaxRuntimeInSeconds bounds the whole tuning job (API reference,
    ResourceLimits; aws/sagemaker-python-sdk#3983: "it stopped on the 3rd job"). 120 s, the
    smallest the API allows, holds one training job (about 105 SageMaker seconds: instance
    start, download, a fraction of a second of boosting, upload) and the start of a second,
    which is stopped when the time is up, at any time scale."""
    acct, bucket, prefix, _ = account
    sm = acct.client("sagemaker")
    name = f"m-{uuid.uuid4().hex[:8]}"
    config = _config(6, 1)
    config["ResourceLimits"]["MaxRuntimeInSeconds"] = 120
    _create(sm, name, config, _definition(bucket, prefix))
    done = _wait(sm, name)
    assert done["HyperParameterTuningJobStatus"] == "Stopped"
    counters = done["TrainingJobStatusCounters"]
    assert (counters["Completed"], counters["Stopped"], sum(counters.values())) == (1, 1, 2)


def test_one_knob_scales_the_time_sagemaker_spends_around_training(account, monkeypatch):
    acct, bucket, prefix, _ = account
    sm = acct.client("sagemaker")

    def starting_seconds() -> float:
        described = _training_job(sm, bucket, prefix, {"num_round": "3"})
        assert described["TrainingJobStatus"] == "Completed"
        [starting] = [
            t for t in described["SecondaryStatusTransitions"] if t["Status"] == "Starting"
        ]
        return (starting["EndTime"] - starting["StartTime"]).total_seconds()

    # 90 s of instance start-up: 2.7 s at a scale of 0.03, none at 0 (what remains is the
    # stack's own work, well under 2.7 s even on a loaded machine).
    monkeypatch.setenv("MMEOPS_STACK_TIME_SCALE", "0.03")
    assert 2.7 <= starting_seconds() < 10
    monkeypatch.setenv("MMEOPS_STACK_TIME_SCALE", "0")
    assert starting_seconds() < 2.7


# Eleven static hyperparameters besides num_round and objective, with values the container
# accepts (algorithm_mode/hyperparameter_validation.py:161-233).
_MANY_STATIC = {
    "gamma": "0",
    "alpha": "0",
    "lambda": "1",
    "min_child_weight": "1",
    "max_delta_step": "0",
    "colsample_bylevel": "1",
    "colsample_bynode": "1",
    "max_bin": "256",
    "max_leaves": "0",
    "scale_pos_weight": "1",
    "base_score": "0.5",
}
_CHANGED = {
    "gamma": "0.1",
    "alpha": "0.1",
    "lambda": "2",
    "min_child_weight": "2",
    "max_delta_step": "1",
    "colsample_bylevel": "0.9",
    "colsample_bynode": "0.9",
    "max_bin": "128",
    "max_leaves": "8",
    "scale_pos_weight": "2",
    "base_score": "0.4",
}


def test_warm_start_allows_ten_static_changes_and_refuses_eleven(account):
    """ "The number of total changes from tunable hyperparameters in the parent jobs to static
    hyperparameters in the new tuning job, plus the number of changes in the values of static
    hyperparameters cannot be more than 10" (Developer Guide, warm start restrictions)."""
    acct, bucket, prefix, _ = account
    sm = acct.client("sagemaker")
    base = {"num_round": "5", "objective": "reg:squarederror"}
    parent = f"v-{uuid.uuid4().hex[:8]}"
    _create(sm, parent, _config(1, 1), _definition(bucket, prefix, {**base, **_MANY_STATIC}))
    _wait(sm, parent)
    eleven = _definition(bucket, prefix, {**base, **_CHANGED})
    message = _refusal(sm, f"{parent}-11", _config(1, 1), eleven, [parent], "TransferLearning")
    assert "More than 10 static hyperparameter changes" in message
    ten = _definition(bucket, prefix, {**base, **_CHANGED, "base_score": "0.5"})
    _create(sm, f"{parent}-10", _config(1, 1), ten, [parent], "TransferLearning")
    assert _wait(sm, f"{parent}-10")["HyperParameterTuningJobStatus"] == "Completed"


def test_a_static_value_may_become_a_range_of_its_type_only(account):
    """The type of each hyperparameter must not change (Developer Guide, warm start
    restrictions): a static "0.3" may become a continuous range, not an integer one."""
    acct, bucket, prefix, _ = account
    sm = acct.client("sagemaker")
    parent = f"y-{uuid.uuid4().hex[:8]}"
    static = {"num_round": "5", "objective": "reg:squarederror", "gamma": "0.3"}
    _create(sm, parent, _config(1, 1), _definition(bucket, prefix, static))
    _wait(sm, parent)
    plain = _definition(bucket, prefix, {"num_round": "5", "objective": "reg:squarederror"})
    as_int = _config(1, 1)
    as_int["ParameterRanges"]["IntegerParameterRanges"].append(
        {"Name": "gamma", "MinValue": "0", "MaxValue": "3", "ScalingType": "Auto"}
    )
    message = _refusal(sm, f"{parent}-i", as_int, plain, [parent], "TransferLearning")
    assert "gamma changed type" in message
    as_float = _config(1, 1)
    as_float["ParameterRanges"]["ContinuousParameterRanges"].append(
        {"Name": "gamma", "MinValue": "0", "MaxValue": "3", "ScalingType": "Auto"}
    )
    _create(sm, f"{parent}-f", as_float, plain, [parent], "TransferLearning")
    assert _wait(sm, f"{parent}-f")["HyperParameterTuningJobStatus"] == "Completed"


def test_stop_training_job_interrupts_the_algorithm_and_writes_no_model(account):
    acct, bucket, prefix, _ = account
    sm = acct.client("sagemaker")
    name = f"st-{uuid.uuid4().hex[:8]}"
    definition = _definition(bucket, prefix)
    sm.create_training_job(
        TrainingJobName=name,
        HyperParameters={"num_round": "1000000", "eta": "0.001"},  # minutes of boosting
        AlgorithmSpecification=definition["AlgorithmSpecification"],
        RoleArn=definition["RoleArn"],
        InputDataConfig=definition["InputDataConfig"],
        OutputDataConfig=definition["OutputDataConfig"],
        ResourceConfig=definition["ResourceConfig"],
        StoppingCondition=definition["StoppingCondition"],
    )
    deadline = time.monotonic() + 30
    while sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"] != "Training":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    [listed] = sm.list_training_jobs(NameContains=name)["TrainingJobSummaries"]
    assert listed["TrainingJobStatus"] == "InProgress"
    sm.stop_training_job(TrainingJobName=name)
    described = _wait_training(sm, name)
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert "S3ModelArtifacts" not in described["ModelArtifacts"]
    output = f"{prefix}output/{name}/"
    assert not acct.call("s3", "list_objects_v2", Bucket=bucket, Prefix=output).get("Contents")
    with pytest.raises(ClientError) as again:
        sm.stop_training_job(TrainingJobName=name)
    assert again.value.response["Error"]["Code"] == "ValidationException"


def _log_eta_from_zero() -> dict:
    config = _config(1, 1)
    config["ParameterRanges"]["ContinuousParameterRanges"][0].update(
        {"MinValue": "0", "ScalingType": "Logarithmic"}
    )
    return config


@pytest.mark.parametrize(
    ("config", "says"),
    [
        # Only the algorithm's tunable metrics, `validation:<metric>` (container:
        # algorithm_mode/metrics.py:21-42; Developer Guide, "Tune an XGBoost Model").
        (_config(1, 1, "validation:nope"), "not a metric of the built-in XGBoost"),
        (_config(1, 1, "train:rmse"), "not a metric of the built-in XGBoost"),
        # "Logarithmic scaling works only for ranges that have only values greater than 0"
        # (API reference, ContinuousParameterRange.ScalingType).
        (_log_eta_from_zero(), "Logarithmic scaling needs a range of values greater than 0"),
    ],
)
def test_requests_sagemaker_refuses_are_refused_before_anything_runs(account, config, says):
    acct, bucket, prefix, _ = account
    sm = acct.client("sagemaker")
    name = f"r-{uuid.uuid4().hex[:8]}"
    assert says in _refusal(sm, name, config, _definition(bucket, prefix), (), None)


def test_a_channel_the_container_does_not_know_fails_the_job(account):
    acct, bucket, prefix, _ = account
    definition = _definition(bucket, prefix)
    channels = [*definition["InputDataConfig"], _channel("test", f"s3://{bucket}/{prefix}train/")]
    described = _train(account, {"num_round": "5"}, InputDataConfig=channels)
    # container: src/sagemaker_algorithm_toolkit/channel_validation.py:99 (channels train,
    # validation, code: algorithm_mode/channel_validation.py:21-43)
    assert described["FailureReason"] == "ClientError: Extraneous channel found: test"


def _role_like_execution(acct, name: str, drop: str = "", trust: dict | None = None) -> str:
    """A new role with the execution role's trust (or `trust`) and policy minus statement
    `drop`, made by the stack's admin: the test's own, the bootstrapped one is untouched."""
    role = EXECUTION_ROLE.rsplit("/", 1)[1]
    doc = lambda d: d if isinstance(d, str) else json.dumps(d)  # noqa: E731
    got = acct.call("iam", "get_role", RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    policy = json.loads(doc(acct.call("iam", "get_role_policy", RoleName=role,
                                      PolicyName=role)["PolicyDocument"]))  # fmt: skip
    policy["Statement"] = [x for x in policy["Statement"] if x.get("Sid") != drop]
    arn = acct.call("iam", "create_role", RoleName=name,
                    AssumeRolePolicyDocument=doc(trust or got))["Role"]["Arn"]  # fmt: skip
    acct.call("iam", "put_role_policy", RoleName=name, PolicyName=name, PolicyDocument=doc(policy))
    return arn


def test_a_job_reads_and_writes_as_its_role(account):
    """SageMaker assumes the job's RoleArn to download the channels and upload the model
    (sagemaker-roles.html); the stack judges each read and write by that role's policies,
    the bucket's and the key's. With the execution role (infra/bootstrap.yaml) a job
    completes (every other test here); a role without ReadBucket fails at the download, an
    output outside the role's `tuning/*` at the upload, and a role whose trust leaves out
    sagemaker.amazonaws.com fails with SageMaker's "unable to assume the role" (FailureReason
    quoted in aws/sagemaker-python-sdk issue #35). Before, jobs read and wrote as nobody."""
    acct, bucket, prefix, _ = account
    uid = uuid.uuid4().hex[:6]
    to_lambda = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                 "Action": "sts:AssumeRole"}  # fmt: skip
    unread = _role_like_execution(acct, f"x-unread-{uid}", drop="ReadBucket")
    lambda_only = _role_like_execution(
        acct, f"x-lambda-{uid}", trust={"Version": "2012-10-17", "Statement": [to_lambda]}
    )
    outside = {"S3OutputPath": f"s3://{bucket}/elsewhere-{uid}/"}
    hp = {"num_round": "3"}
    with middleware.expecting() as log:
        no_read = _train(account, hp, RoleArn=unread)
        no_write = _train(account, hp, OutputDataConfig=outside)
        no_trust = _train(account, hp, RoleArn=lambda_only)
    assert no_read["FailureReason"].startswith("ClientError: Data download failed: AccessDenied")
    assert f"assumed-role/x-unread-{uid}/SageMaker" in no_read["FailureReason"]
    assert no_write["FailureReason"].startswith("ClientError: Model upload failed: AccessDenied")
    assert no_trust["FailureReason"] == (
        f"ClientError: SageMaker was unable to assume the role '{lambda_only}'"
    )
    assert [d.action for d in log.denied] == ["s3:ListBucket", "s3:PutObject"]
    assert not acct.call("s3", "list_objects_v2", Bucket=bucket, Prefix=f"elsewhere-{uid}/").get(
        "Contents"
    )


def test_the_parents_results_are_the_searchs_prior_observations(account):
    """Warm start: "The results of previous tuning jobs are used to inform which combinations
    of hyperparameters to search over" (API reference, HyperParameterTuningJobWarmStartConfig).
    Read on the stack's own objects: the child's study starts with every parent training job
    that reported the objective and lies inside today's ranges."""
    from moto.sagemaker.models import sagemaker_backends

    acct, bucket, prefix, _ = account
    sm, parent, _, _ = _tune_with_a_failure(account, jobs=4, failing=1)
    # Narrow max_depth to the smallest depth a parent job tried (or 3): at least one parent
    # result lies inside today's ranges, and deeper ones outside.
    depths = [int(s["TunedHyperParameters"]["max_depth"])
              for s in _all_summaries(sm, parent, StatusEquals="Completed")]  # fmt: skip
    cap = max(min(depths), 3)  # a range of one value is no search
    narrower = _config(1, 1)
    narrower["ParameterRanges"]["IntegerParameterRanges"][0]["MaxValue"] = str(cap)
    child = f"{parent}-c"
    _create(sm, child, narrower, _definition(bucket, prefix), [parent], "TransferLearning")
    _wait(sm, child)

    jobs = sagemaker_backends[acct.account_id][REGION].hyper_parameter_tuning_jobs
    study, _ = jobs[child]._study()
    expected = sorted(
        (
            float(s["TunedHyperParameters"]["eta"]),
            int(s["TunedHyperParameters"]["max_depth"]),
            s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
        )
        for s in _all_summaries(sm, parent, StatusEquals="Completed")
        if int(s["TunedHyperParameters"]["max_depth"]) <= cap
    )
    priors = sorted((t.params["eta"], t.params["max_depth"], t.value) for t in study.trials)
    assert priors == expected and expected


def test_an_xgboost_error_fails_the_job_as_the_container_reports_it(account):
    # Regression labels under binary:logistic: xgboost refuses them. xgboost 3.2 words it
    # "for the logistic loss", which none of the container's CUSTOMER_ERRORS fragments matches
    # (constants/xgb_constants.py:59-77), so it is an AlgorithmError (algorithm_mode/train.py:
    # 461-467), not a ClientError.
    described = _train(
        account,
        {"num_round": "5", "objective": "binary:logistic"},
    )
    assert described["TrainingJobStatus"] == "Failed"
    reason = described["FailureReason"]
    assert reason.startswith("AlgorithmError: XGB train call failed with exception:")
    assert "base_score must be in (0,1)" in reason
    assert len(reason) <= 1024  # botocore: FailureReason max 1024
