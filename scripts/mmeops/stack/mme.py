"""A local multi-model endpoint that speaks the SageMaker runtime protocol.

`POST /endpoints/<name>/invocations` with header `X-Amzn-SageMaker-Target-Model`. An
unmodified `boto3.client("sagemaker-runtime").invoke_endpoint(...)` reaches it through
`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`. Two layers, as in AWS:

- the runtime (this module): request limits from the service model, endpoint resolution
  through the SageMaker API (endpoint -> config -> model; in MultiModel mode the container's
  ModelDataUrl is the S3 prefix of the target models), loading with the runtime's wait and
  `ModelNotReadyException`, and the container's errors wrapped as `ModelError` with
  `OriginalStatusCode` / `OriginalMessage`, in the rest-json shape botocore parses;
- the container (stack/container.py): parsing, predicting and encoding as the SageMaker
  XGBoost container's multi-model path does.

Loaded models live in an LRU cache per endpoint config, bounded by what one instance of the
endpoint's instance type holds (mmeops/capacity.py): a new endpoint config starts empty, as a
real endpoint's new fleet does.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Protocol

from mmeops.aws import Aws, split_s3_uri
from mmeops.capacity import capacity, model_cost
from mmeops.errors import AwsError, NotFound
from mmeops.httpserve import Answer, App, Background, serving
from mmeops.stack import container
from mmeops.stack.container import ContainerError, LoadedModel
from mmeops.stack.model_cache import ModelCache
from mmeops.stack.runtime import (
    FALLBACK_INSTANCE,
    RUNTIME_WAIT_SECONDS,
    SERVING_STATES,
    InvokeError,
    check_request,
    model_error,
    not_ready,
    validation,
)

log = logging.getLogger(__name__)

_PATH = re.compile(r"^/endpoints/([^/]+)/invocations/?$")


class Reader(Protocol):
    """What a fleet downloads target models through (`Aws.get_bytes`'s shape)."""

    def get_bytes(self, bucket: str, key: str) -> tuple[bytes, Any]: ...


@dataclass(frozen=True)
class AccountRef:
    account_id: str
    region: str
    role_arn: str


# --- endpoints and models -------------------------------------------------------------------


@dataclass
class Route:
    """Where an endpoint lives, what it runs on and where its target models are."""

    account_id: str
    region: str
    aws: Aws
    config_name: str
    variant: str
    instance_type: str
    bucket: str
    prefix: str
    execution_role_arn: str = ""  # the model's: what the fleet reads its target models as
    model_arn: str = ""
    checked: float = field(default_factory=time.monotonic)
    reader: Reader | None = None  # the execution role's, once a model was loaded

    @property
    def cache_bound(self) -> int:
        cap = capacity(self.instance_type) or capacity(FALLBACK_INSTANCE)
        assert cap is not None
        return cap.usable_bytes


class _Load:
    """One model load in progress: callers wait on it up to the runtime's wait."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.model: LoadedModel | None = None
        self.error: Exception | None = None


def load_model(data: bytes) -> tuple[LoadedModel, int]:
    """The model in a `model.tar.gz` as the container loads it, and its cache cost."""
    model = container.load_archive(data)
    return model, model_cost(model.size)


class MultiModelEndpoints:
    """The library behind the HTTP server: `invoke(endpoint, target_model, body, ...)`.

    An endpoint is looked for in the caller's account, as the runtime does, when the IAM
    check in front (`middleware.guarding`) names it; unguarded (a SigV4 request names its
    access key but not its account), `accounts` are searched in order. The answer is
    cached. `recheck_seconds` re-describes a cached endpoint that often and empties its cache
    when its config changed; None relies on `endpoint_updated` being called instead.
    `load_seconds` is how long a model takes to load (a real XGBoost worker takes seconds);
    `wait_seconds` is how long a request waits for it before `ModelNotReadyException`.
    `as_execution_role(route)`: a reader as the model's ExecutionRoleArn, which SageMaker
    assumes to download target models (the embedded stack's: the role's trust and policies
    are judged; PermissionError when either refuses); without it they are read as the
    endpoint was found (`mmeops serve`).
    """

    def __init__(
        self,
        accounts: list[AccountRef],
        aws_for: Callable[[AccountRef], Aws],
        cache_bytes: int | None = None,
        recheck_seconds: float | None = 5.0,
        load_seconds: float = 0.0,
        wait_seconds: float = RUNTIME_WAIT_SECONDS,
        as_execution_role: Callable[[Route], Reader] | None = None,
    ):
        self.accounts = accounts
        self._aws_for = aws_for
        self._as_execution_role = as_execution_role
        self.cache = ModelCache(cache_bytes)
        self.recheck_seconds = recheck_seconds
        self.load_seconds = load_seconds
        self.wait_seconds = wait_seconds
        self._routes: dict[tuple[str, str | None], Route] = {}  # (endpoint, caller's account)
        self._lock = threading.Lock()
        self._loading: dict[tuple, _Load] = {}
        self.not_ready_answers = 0  # how often a caller was told ModelNotReadyException

    # -- endpoint resolution
    def _describe(self, aws: Aws, ref: AccountRef, name: str) -> Route | None:
        try:
            endpoint = aws.call("sagemaker", "describe_endpoint", EndpointName=name)
        except NotFound:
            return None
        except AwsError as e:
            # `mmeops serve` looks with the product's roles, which IAM lets see only their
            # own endpoint: an account whose role may not describe it does not serve it.
            if e.code in ("AccessDenied", "AccessDeniedException"):
                return None
            raise
        if endpoint.get("EndpointStatus", "InService") not in SERVING_STATES:
            # A Creating (or Failed, OutOfService, Deleting) endpoint has no fleet to answer:
            # the runtime says it does not know it.
            return None
        config_name = endpoint["EndpointConfigName"]
        config = aws.call("sagemaker", "describe_endpoint_config", EndpointConfigName=config_name)
        variant = config["ProductionVariants"][0]
        model = aws.call("sagemaker", "describe_model", ModelName=variant["ModelName"])
        box = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
        if box.get("Mode") != "MultiModel":
            raise validation(f"Endpoint {name} is not a multi-model endpoint.")
        bucket, prefix = split_s3_uri(box["ModelDataUrl"])
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return Route(
            ref.account_id,
            ref.region,
            aws,
            config_name,
            variant["VariantName"],
            variant.get("InstanceType") or FALLBACK_INSTANCE,
            bucket,
            prefix,
            model.get("ExecutionRoleArn", ""),
            model.get("ModelArn", ""),
        )

    def _route(self, name: str, account: str | None = None) -> Route:
        """`account`: the caller's, whose endpoints alone it may call (None: any account's)."""
        route = self._routes.get((name, account))
        if route is not None and (
            self.recheck_seconds is None or time.monotonic() - route.checked < self.recheck_seconds
        ):
            return route
        fresh = None
        if route is not None:  # recheck where it was first
            ref = AccountRef(route.account_id, route.region, "")
            fresh = self._describe(route.aws, ref, name)
        if fresh is None:
            for ref in self.accounts:
                if account not in (None, ref.account_id):
                    continue
                fresh = self._describe(self._aws_for(ref), ref, name)
                if fresh is not None:
                    break
        if fresh is None:
            self.forget(name)
            account = account or (self.accounts[0].account_id if self.accounts else "unknown")
            raise validation(f"Endpoint {name} of account {account} not found.")
        if route is not None and (route.account_id, route.config_name) != (
            fresh.account_id,
            fresh.config_name,
        ):
            self.forget(name)
        with self._lock:
            self._routes[(name, account)] = fresh
        return fresh

    def forget(self, endpoint_name: str) -> int:
        """Drop an endpoint's route and every model loaded for it; how many models."""
        with self._lock:
            for key in [k for k in self._routes if k[0] == endpoint_name]:
                del self._routes[key]
        return self.cache.drop(lambda key: key[0] == endpoint_name)

    def endpoint_updated(self, account_id: str, region: str, name: str, config: str) -> None:
        """Hook for the embedded moto (endpoint created, updated or deleted): a new config
        means a new, empty fleet; a deleted endpoint serves nothing."""
        routes = [r for k, r in self._routes.items() if k[0] == name]
        if not routes or any(r.account_id == account_id for r in routes):
            self.forget(name)

    # -- models
    def _model(self, name: str, route: Route, target: str) -> LoadedModel:
        """The loaded model, loading it if needed; past `wait_seconds` the caller gets
        ModelNotReadyException and the load goes on, as the runtime does."""
        key = (name, route.config_name, target)
        model = self.cache.get(key)
        if model is not None:
            return model
        with self._lock:
            load = self._loading.get(key)
            if load is None:
                load = self._loading[key] = _Load()
                threading.Thread(
                    target=self._run_load,
                    args=(key, name, route, target, load),
                    name="mme-load",  # the endpoint's own reads (benchmarks/reconcile.py)
                    daemon=True,
                ).start()
        if not load.done.wait(self.wait_seconds):
            self.not_ready_answers += 1
            raise not_ready(target)
        if load.error is not None:
            raise load.error
        assert load.model is not None
        return load.model

    def _run_load(self, key: tuple, name: str, route: Route, target: str, load: _Load) -> None:
        started = time.monotonic()
        try:
            model, cost = self._load(name, route, target)
            time.sleep(max(0.0, self.load_seconds - (time.monotonic() - started)))
            self.cache.put(key, model, cost, route.cache_bound)
            load.model = model
        except Exception as e:  # handed to every waiting caller
            load.error = e
        finally:
            with self._lock:
                self._loading.pop(key, None)  # a failed load is tried again by the next call
            load.done.set()

    def _reader(self, route: Route) -> Reader:
        if self._as_execution_role is None:
            return route.aws
        if route.reader is None:
            route.reader = self._as_execution_role(route)
        return route.reader

    def _download(self, route: Route, key: str) -> bytes | None:
        """The object as the fleet reads it; None when it is missing or the model's role may
        not read it: SageMaker answers both alike, its message naming both causes."""
        try:
            return self._reader(route).get_bytes(route.bucket, key)[0]
        except NotFound:
            return None
        except PermissionError:  # the role's trust or its policies refuse SageMaker
            return None
        except AwsError as e:
            if e.code in ("AccessDenied", "AccessDeniedException"):
                return None
            raise

    def _load(self, name: str, route: Route, target: str) -> tuple[LoadedModel, int]:
        key = route.prefix + target
        data = self._download(route, key)
        if data is None:
            raise validation(
                f"Failed to download model data for target model '{target}' "
                f"(bucket: {route.bucket}, key: {key}). Please ensure that there is an object "
                "located at the URL and that the role passed to CreateModel has permissions "
                "to download the model."
            )
        try:
            return load_model(data)
        except ContainerError as e:
            raise model_error(e, name, route.account_id, route.region) from None

    def invoke(
        self,
        endpoint_name: str,
        target_model: str | None,
        body: bytes,
        content_type: str | None = "text/csv",
        accept: str | None = None,
        account: str | None = None,
    ) -> tuple[bytes, str]:
        """The response body and content type; raises InvokeError with the runtime's code.
        `account`: the caller's (its endpoints only), when known."""
        check_request(endpoint_name, target_model, body)
        assert target_model is not None
        route = self._route(endpoint_name, account)
        model = self._model(endpoint_name, route, target_model)
        try:
            matrix, kind = container.parse(body, content_type)
            return container.encode(container.predict(model, matrix, kind), accept)
        except ContainerError as e:
            raise model_error(e, endpoint_name, route.account_id, route.region) from None

    def variant(self, endpoint_name: str, account: str | None = None) -> str:
        route = self._routes.get((endpoint_name, account))
        return route.variant if route else "AllTraffic"


# --- HTTP -----------------------------------------------------------------------------------


def _error(e: InvokeError) -> Answer:
    payload = {"message": e.message, **e.extra}
    headers = {"Content-Type": "application/json", "X-Amzn-ErrorType": f"{e.code}:"}
    return e.status, json.dumps(payload).encode(), headers


def _failed() -> Answer:
    return _error(InvokeError("InternalFailure", 500, "internal failure"))


def _app(endpoints: MultiModelEndpoints):
    """The runtime protocol: GET /ping, POST /endpoints/NAME/invocations."""

    def answer(
        method: str, path: str, headers: Message, body: bytes, account: str | None = None
    ) -> Answer:
        """`account`: the caller's, as the IAM check in front found it (None unguarded)."""
        if method == "GET":
            if path == "/ping":
                return 200, b"", {}
            return _error(InvokeError("UnknownOperationException", 404, "Unknown operation"))
        match = _PATH.match(path.split("?", 1)[0])
        if match is None:
            return _error(InvokeError("UnknownOperationException", 404, "Unknown operation"))
        name = match.group(1)
        try:
            out, content_type = endpoints.invoke(
                name,
                headers.get("X-Amzn-SageMaker-Target-Model"),
                body,
                headers.get("Content-Type"),
                headers.get("Accept"),
                account,
            )
        except InvokeError as e:
            return _error(e)
        except AwsError as e:  # the SageMaker API or S3 failed us: the runtime's 500
            log.warning("invoke %s: %s", name, e)
            return _error(InvokeError("InternalFailure", 500, str(e)))
        return (
            200,
            out,
            {
                "Content-Type": content_type,
                "x-Amzn-Invoked-Production-Variant": endpoints.variant(name, account),
            },
        )

    return answer


class MmeServer(Background):
    """The HTTP face of `MultiModelEndpoints`, on its own threads. `start()` → base URL."""

    def __init__(
        self,
        endpoints: MultiModelEndpoints,
        host: str = "127.0.0.1",
        port: int = 0,
        guard: Callable[[App], App] | None = None,
    ):
        self.endpoints = endpoints
        app = _app(endpoints) if guard is None else guard(_app(endpoints))
        httpd = serving(app, (host, port), failed=_failed)
        super().__init__(httpd, "mme-server")
