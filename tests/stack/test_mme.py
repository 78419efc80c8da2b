"""The local multi-model endpoint answers boto3's own sagemaker-runtime client like SageMaker."""

from __future__ import annotations

import json
import pickle
import uuid
from dataclasses import dataclass

import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError

from helpers import create_multi_model, execution_role, runtime_client, settle_endpoint
from mmeops import aws
from mmeops.artifact import pack, pack_file
from mmeops.capacity import model_cost
from mmeops.config.repo import load_repo
from mmeops.stack.embedded import EmbeddedStack
from mmeops.stack.iam import middleware


def _booster(objective: str, seed: int) -> tuple[xgb.Booster, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((200, 5))
    y = X[:, 0] * 3 + X[:, 1] if objective.startswith("reg") else (X[:, 0] > 0.5).astype(float)
    booster = xgb.train({"objective": objective, "max_depth": 3}, xgb.DMatrix(X, label=y), 20)
    return booster, X[:7]


@dataclass
class Endpoint:
    name: str
    sagemaker: aws.Aws
    model_name: str
    boosters: dict[str, xgb.Booster]
    rows: dict[str, np.ndarray]
    sizes: dict[str, int]

    def new_config(self) -> str:
        name = f"{self.name}-{uuid.uuid4().hex[:6]}"
        self.sagemaker.call(
            "sagemaker",
            "create_endpoint_config",
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": self.model_name,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )
        return name


@pytest.fixture(scope="module")
def endpoint(stack) -> Endpoint:
    """An MME in the sandbox account serving two models: a regressor and a classifier."""
    env = load_repo(stack.repo_root).envs["sandbox"]
    sandbox = EmbeddedStack.current.admin(env.account_id, env.region)  # the emulation's operator
    name = f"mme-test-{uuid.uuid4().hex[:8]}"
    prefix = f"{name}/"
    boosters, rows, sizes = {}, {}, {}
    for target, objective, seed in [
        ("progression/v1.tar.gz", "reg:squarederror", 1),
        ("malignant/v1.tar.gz", "binary:logistic", 2),
    ]:
        boosters[target], rows[target] = _booster(objective, seed)
        sizes[target] = len(boosters[target].save_raw("ubj"))
        sandbox.put_bytes(env.artifact_bucket, prefix + target, pack(boosters[target]))
    model_name = f"{name}-model"
    create_multi_model(sandbox, model_name, env.account_id, f"s3://{env.artifact_bucket}/{prefix}")
    ep = Endpoint(name, sandbox, model_name, boosters, rows, sizes)
    sandbox.call(
        "sagemaker", "create_endpoint", EndpointName=name, EndpointConfigName=ep.new_config()
    )
    settle_endpoint(sandbox, name)  # Creating → InService: the runtime routes only then
    return ep


@pytest.fixture(scope="module")
def runtime(endpoint):
    return runtime_client(endpoint.sagemaker)


def _csv(rows: np.ndarray) -> str:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in rows)


def _invoke(runtime, endpoint: Endpoint, target: str) -> np.ndarray:
    r = runtime.invoke_endpoint(
        EndpointName=endpoint.name,
        TargetModel=target,
        ContentType="text/csv",
        Accept="text/csv",
        Body=_csv(endpoint.rows[target]),
    )
    assert r["ContentType"] == "text/csv"
    # The container's multi-model path answers CSV on one line (handler_service.py:104).
    return np.array([float(v) for v in r["Body"].read().decode().split(",")])


def _cached_targets(stack, endpoint: Endpoint) -> set[str]:
    return {key[2] for key in stack.endpoints.cache.loaded() if key[0] == endpoint.name}


def test_two_models_on_one_endpoint_predict_what_xgboost_predicts(runtime, endpoint):
    for target, booster in endpoint.boosters.items():
        expected = booster.predict(xgb.DMatrix(endpoint.rows[target]))
        got = _invoke(runtime, endpoint, target)
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    probabilities = _invoke(runtime, endpoint, "malignant/v1.tar.gz")
    assert ((probabilities >= 0) & (probabilities <= 1)).all()


def test_unknown_target_model_is_a_validation_error_naming_it(runtime, endpoint):
    with pytest.raises(ClientError) as e:
        runtime.invoke_endpoint(
            EndpointName=endpoint.name, TargetModel="nope/v9.tar.gz", Body="1,2,3,4,5"
        )
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert "nope/v9.tar.gz" in e.value.response["Error"]["Message"]


def test_unknown_endpoint_is_a_validation_error_naming_it(runtime, stack):
    with pytest.raises(ClientError) as e:
        runtime.invoke_endpoint(EndpointName="mme-nowhere", TargetModel="a.tar.gz", Body="1")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert "mme-nowhere" in e.value.response["Error"]["Message"]


def test_an_endpoint_of_another_account_is_not_found(runtime, endpoint, stack):
    """The runtime finds an endpoint in the caller's own account only: InvokeEndpoint takes a
    name, not an ARN (API_runtime_InvokeEndpoint.html), and the endpoint's ARN IAM judges is
    in the caller's account. Another account's operator, allowed every call, gets the
    runtime's "Endpoint NAME of account ACCOUNT not found." for sandbox's endpoint; its owner
    is answered. (Before, the local MME searched every account of the stack by name.)"""
    repo = load_repo(stack.repo_root)
    other = repo.envs["prod"]
    assert other.account_id != repo.envs["sandbox"].account_id
    stranger = runtime_client(EmbeddedStack.current.admin(other.account_id, other.region))
    target = "progression/v1.tar.gz"
    with pytest.raises(ClientError) as e:
        stranger.invoke_endpoint(
            EndpointName=endpoint.name, TargetModel=target, Body=_csv(endpoint.rows[target])
        )
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert e.value.response["Error"]["Message"] == (
        f"Endpoint {endpoint.name} of account {other.account_id} not found."
    )
    assert len(_invoke(runtime, endpoint, target)) == len(endpoint.rows[target])


def test_rows_the_model_cannot_take_are_a_model_error(runtime, endpoint):
    with pytest.raises(ClientError) as e:
        runtime.invoke_endpoint(
            EndpointName=endpoint.name,
            TargetModel="progression/v1.tar.gz",
            ContentType="text/csv",
            Body="1,2,3,4,5,6",  # one column more than the model has
        )
    assert e.value.response["Error"]["Code"] == "ModelError"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert e.value.response["OriginalStatusCode"] == 503


def test_cache_evicts_under_its_memory_bound_and_reloads_on_demand(
    runtime, endpoint, stack, monkeypatch
):
    cache = stack.endpoints.cache
    reg, clf = "progression/v1.tar.gz", "malignant/v1.tar.gz"
    # Room for the larger of the two models' workers, not for both.
    monkeypatch.setattr(cache, "max_bytes", model_cost(max(endpoint.sizes.values())) + 1)
    _invoke(runtime, endpoint, reg)
    _invoke(runtime, endpoint, clf)
    assert _cached_targets(stack, endpoint) == {clf}
    assert sum(c for k, (_, c) in cache._items.items() if k[0] == endpoint.name) <= cache.max_bytes

    loads = cache.loads
    got = _invoke(runtime, endpoint, reg)
    assert cache.loads == loads + 1  # fetched from S3 again
    assert _cached_targets(stack, endpoint) == {reg}
    np.testing.assert_allclose(
        got, endpoint.boosters[reg].predict(xgb.DMatrix(endpoint.rows[reg])), rtol=1e-6
    )


def test_update_endpoint_empties_the_endpoints_cache(runtime, endpoint, stack):
    target = "progression/v1.tar.gz"
    _invoke(runtime, endpoint, target)
    assert target in _cached_targets(stack, endpoint)

    config = endpoint.new_config()
    endpoint.sagemaker.call(
        "sagemaker", "update_endpoint", EndpointName=endpoint.name, EndpointConfigName=config
    )
    settle_endpoint(endpoint.sagemaker, endpoint.name)  # the new fleet takes over
    assert _cached_targets(stack, endpoint) == set()

    loads = stack.endpoints.cache.loads
    _invoke(runtime, endpoint, target)  # the new fleet loads it again, from the new config
    assert stack.endpoints.cache.loads == loads + 1
    assert {key[1] for key in stack.endpoints.cache.loaded() if key[0] == endpoint.name} == {config}


def test_an_endpoint_still_creating_is_not_routed(runtime, endpoint, monkeypatch):
    """The runtime routes only to an endpoint that serves: while CreateEndpoint is still
    `Creating` an invocation is refused as for an endpoint it cannot find (AWS docs,
    InvokeEndpoint: "ValidationError"), and served once it is InService."""
    from mmeops.stack import endpoints

    # Long enough for the refusal to arrive first on a busy machine (the runtime looks the
    # name up in every account of the stack).
    monkeypatch.setattr(endpoints, "DELAY_SECONDS", 3.0)
    name = f"{endpoint.name}-young"
    endpoint.sagemaker.call(
        "sagemaker", "create_endpoint", EndpointName=name, EndpointConfigName=endpoint.new_config()
    )
    request = dict(
        EndpointName=name, TargetModel="progression/v1.tar.gz", ContentType="text/csv",
        Body="0.5,0.5,0.5,0.5,0.5",
    )  # fmt: skip
    with pytest.raises(ClientError) as refused:
        runtime.invoke_endpoint(**request)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert f"Endpoint {name} of account" in refused.value.response["Error"]["Message"]
    settle_endpoint(endpoint.sagemaker, name)
    assert runtime.invoke_endpoint(**request)["Body"].read()


def test_a_recreated_endpoint_serves_from_its_new_prefix(runtime, endpoint, stack):
    """Delete an endpoint and create it again on a model with another S3 prefix: callers get
    the new prefix's models, not what the old endpoint had loaded."""
    bucket = load_repo(stack.repo_root).envs["sandbox"].artifact_bucket
    target = "progression/v1.tar.gz"
    name = f"{endpoint.name}-again"
    sm = endpoint.sagemaker
    sm.call(
        "sagemaker", "create_endpoint", EndpointName=name, EndpointConfigName=endpoint.new_config()
    )
    settle_endpoint(sm, name)
    row = "0.5,0.5,0.5,0.5,0.5"
    first = json.loads(  # no Accept: a JSON array (mms_transformer.py:62-63)
        runtime.invoke_endpoint(
            EndpointName=name, TargetModel=target, ContentType="text/csv", Body=row
        )["Body"].read()
    )[0]

    other, _ = _booster("reg:squarederror", 3)
    sm.put_bytes(bucket, f"{name}/{target}", pack(other))
    sm.call(
        "sagemaker",
        "create_model",
        ModelName=f"{name}-model",
        ExecutionRoleArn=execution_role(load_repo(stack.repo_root).envs["sandbox"].account_id),
        PrimaryContainer={
            "Image": "xgboost",
            "Mode": "MultiModel",
            "ModelDataUrl": f"s3://{bucket}/{name}/",
        },
    )
    moved = Endpoint(name, sm, f"{name}-model", {}, {}, {})
    sm.call("sagemaker", "delete_endpoint", EndpointName=name)
    settle_endpoint(sm, name)  # a name is free again once the endpoint is gone
    sm.call(
        "sagemaker", "create_endpoint", EndpointName=name, EndpointConfigName=moved.new_config()
    )
    settle_endpoint(sm, name)

    second = json.loads(  # no Accept: a JSON array (mms_transformer.py:62-63)
        runtime.invoke_endpoint(
            EndpointName=name, TargetModel=target, ContentType="text/csv", Body=row
        )["Body"].read()
    )[0]
    expected = float(other.predict(xgb.DMatrix(np.full((1, 5), 0.5)))[0])
    assert second == pytest.approx(expected, rel=1e-6)
    assert first != pytest.approx(expected, rel=1e-6)  # the two models do differ


def test_a_pickled_booster_is_served_like_the_container_serves_it(runtime, endpoint, stack):
    booster, rows = _booster("reg:squarederror", 4)
    bucket = load_repo(stack.repo_root).envs["sandbox"].artifact_bucket
    artifact = pack_file(pickle.dumps(booster))
    endpoint.sagemaker.put_bytes(bucket, f"{endpoint.name}/pickled/v1.tar.gz", artifact)
    endpoint.rows["pickled/v1.tar.gz"] = rows
    got = _invoke(runtime, endpoint, "pickled/v1.tar.gz")
    np.testing.assert_allclose(got, booster.predict(xgb.DMatrix(rows)), rtol=1e-6)


def test_a_slow_load_answers_model_not_ready_then_serves(runtime, endpoint, stack, monkeypatch):
    """Past the runtime's wait a loading model answers ModelNotReadyException (HTTP 429) and
    the load goes on (AWS docs, "Invoke a multi-model endpoint"; the service model's
    ModelNotReadyException is httpStatusCode 429); once loaded it serves."""
    target = "progression/v1.tar.gz"
    stack.endpoints.forget(endpoint.name)
    monkeypatch.setattr(stack.endpoints, "load_seconds", 1.0)
    monkeypatch.setattr(stack.endpoints, "wait_seconds", 0.2)
    with pytest.raises(ClientError) as e:
        _invoke(runtime, endpoint, target)
    assert e.value.response["Error"]["Code"] == "ModelNotReadyException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    monkeypatch.setattr(stack.endpoints, "wait_seconds", 5.0)
    got = _invoke(runtime, endpoint, target)
    expected = endpoint.boosters[target].predict(xgb.DMatrix(endpoint.rows[target]))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_each_fleet_holds_what_one_instance_of_its_type_holds(stack, endpoint, runtime):
    """The cache bound comes from the instance type: ml.m5.large (8 GiB) holds 34 models at
    215 MB each (mmeops/capacity.py), not thousands of small artifacts."""
    _invoke(runtime, endpoint, "progression/v1.tar.gz")
    fleet = next(k[:2] for k in stack.endpoints.cache.loaded() if k[0] == endpoint.name)
    bound = stack.endpoints.cache._bounds[fleet]
    assert bound // model_cost(max(endpoint.sizes.values())) == 34


# --- the fleet reads target models as the model's execution role -------------------------


def _endpoint_run_as(endpoint: Endpoint, role_arn: str, tag: str) -> str:
    """An endpoint serving the fixture's target models from a model that runs as `role_arn`."""
    name, sm = f"{endpoint.name}-{tag}", endpoint.sagemaker
    bucket = load_repo(EmbeddedStack.current.repo_root).envs["sandbox"].artifact_bucket
    url = f"s3://{bucket}/{endpoint.name}/"
    create_multi_model(sm, f"{name}-m", role_arn.split(":")[4], url, role_arn=role_arn)
    variant = {"VariantName": "AllTraffic", "ModelName": f"{name}-m",
               "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}  # fmt: skip
    sm.call("sagemaker", "create_endpoint_config", EndpointConfigName=f"{name}-c",
            ProductionVariants=[variant])  # fmt: skip
    sm.call("sagemaker", "create_endpoint", EndpointName=name, EndpointConfigName=f"{name}-c")
    settle_endpoint(sm, name)
    return name


def _role_like(sm: aws.Aws, role_arn: str, name: str, trust=None, drop: str = "") -> str:
    """A new role with `role_arn`'s trust (or `trust`) and its inline policy minus statement
    `drop` (as the stack's admin: a test's own role, the product's are never touched)."""
    role = role_arn.rsplit("/", 1)[1]
    got = sm.call("iam", "get_role", RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    policy = sm.call("iam", "get_role_policy", RoleName=role, PolicyName=role)["PolicyDocument"]
    doc = lambda d: d if isinstance(d, str) else json.dumps(d)  # noqa: E731
    policy = json.loads(doc(policy))
    policy["Statement"] = [x for x in policy["Statement"] if x.get("Sid") != drop]
    arn = sm.call("iam", "create_role", RoleName=name,
                  AssumeRolePolicyDocument=doc(trust or got))["Role"]["Arn"]  # fmt: skip
    sm.call("iam", "put_role_policy", RoleName=name, PolicyName=name, PolicyDocument=doc(policy))
    return arn


def test_target_models_are_read_as_the_models_execution_role(stack, endpoint):
    """SageMaker downloads target models as the model's ExecutionRoleArn, which it assumes
    (sagemaker-roles.html: the role needs s3:GetObject on them, kms:Decrypt on their key, and
    a trust letting sagemaker.amazonaws.com assume it). A role that may not read them, or that
    SageMaker may not assume, gets the runtime's "Failed to download model data ... the role
    passed to CreateModel has permissions" (AWS's one message for a missing object and a
    refused one). The account's own execution role (infra/bootstrap.yaml) is served. Before,
    the local endpoint read every model as the stack's admin, whatever its role."""
    env = load_repo(stack.repo_root).envs["sandbox"]
    sm, target, uid = endpoint.sagemaker, "progression/v1.tar.gz", uuid.uuid4().hex[:6]
    own = execution_role(env.account_id)
    to_lambda = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                 "Action": "sts:AssumeRole"}  # fmt: skip
    lambda_trust = {"Version": "2012-10-17", "Statement": [to_lambda]}
    cases = [
        ("own", own, None),
        ("noread", _role_like(sm, own, f"x-noread-{uid}", drop="ReadBucket"), ["s3:GetObject"]),
        ("nokey", _role_like(sm, own, f"x-nokey-{uid}", drop="BucketKey"), ["kms:Decrypt"]),
        ("lambda", _role_like(sm, own, f"x-lambda-{uid}", trust=lambda_trust), []),
    ]
    runtime = runtime_client(sm)
    for tag, role_arn, refused in cases:
        served = Endpoint(_endpoint_run_as(endpoint, role_arn, tag), sm, "", {}, endpoint.rows, {})
        if refused is None:
            assert len(_invoke(runtime, served, target)) == len(endpoint.rows[target])
            continue
        with middleware.expecting() as log, pytest.raises(ClientError) as e:
            _invoke(runtime, served, target)
        error = e.value.response["Error"]
        assert error["Code"] == "ValidationError", tag
        assert "the role passed to CreateModel has permissions" in error["Message"], tag
        assert [d.action for d in log.denied] == refused, tag
