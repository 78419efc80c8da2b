"""A local multi-model endpoint that speaks the SageMaker runtime protocol.

`POST /endpoints/<name>/invocations` with header `X-Amzn-SageMaker-Target-Model`, CSV rows of
features in, one prediction per line out, as the SageMaker XGBoost container answers. An
unmodified `boto3.client("sagemaker-runtime").invoke_endpoint(...)` reaches it through
`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`; errors come back in the runtime's rest-json shape (an
`X-Amzn-ErrorType` header and a JSON `message`), so botocore raises the same ClientError codes
(ValidationError, ModelError) a real endpoint causes.

Like a real MME it resolves the endpoint through the SageMaker API (endpoint → endpoint config →
model; in MultiModel mode the container's ModelDataUrl is the S3 prefix of the target models),
loads a target model from S3 on first use and keeps loaded models in an LRU cache bounded by
memory. A new endpoint config empties the endpoint's cache, as a real endpoint's new fleet
starts empty.
"""

from __future__ import annotations

import io
import json
import logging
import math
import pickle
import re
import tarfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import xgboost

from mmeops.aws import Aws, split_s3_uri
from mmeops.errors import AwsError, NotFound

log = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 512 * 1024 * 1024
_PATH = re.compile(r"^/endpoints/([^/]+)/invocations/?$")


@dataclass(frozen=True)
class AccountRef:
    account_id: str
    region: str
    role_arn: str


class InvokeError(Exception):
    """An error the runtime API would answer: its code, HTTP status and message."""

    def __init__(self, code: str, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.code, self.status, self.message, self.extra = code, status, message, extra


def _validation(message: str) -> InvokeError:
    return InvokeError("ValidationError", 400, message)


def _model_error(status: int, message: str) -> InvokeError:
    # The runtime wraps the container's own answer in a 424 ModelError.
    return InvokeError(
        "ModelError",
        424,
        f"Received {'client' if status < 500 else 'server'} error ({status}) from primary "
        f'with message "{message}".',
        OriginalStatusCode=status,
        OriginalMessage=message,
    )


# --- the cache ------------------------------------------------------------------------------


class ModelCache:
    """Loaded models, least recently used first out, bounded by an estimate of their memory:
    the size of each model's serialized bytes. A model larger than the whole bound still
    loads (and evicts everything else): refusing it would make it unservable."""

    def __init__(self, max_bytes: int):
        self._max_bytes = max_bytes
        self._items: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0
        self.evictions = 0

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        """A new bound applies at once: shrinking it evicts."""
        with self._lock:
            self._max_bytes = value
            self._evict()

    @property
    def bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._items.values())

    def loaded(self) -> list[tuple]:
        """Keys of the loaded models, least recently used first."""
        with self._lock:
            return list(self._items)

    def get(self, key: tuple) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: tuple, model: Any, size: int) -> None:
        with self._lock:
            self._items[key] = (model, size)
            self._items.move_to_end(key)
            self.loads += 1
            self._evict()

    def _evict(self) -> None:
        total = sum(s for _, s in self._items.values())
        while total > self._max_bytes and len(self._items) > 1:
            _, (_, size) = self._items.popitem(last=False)
            total -= size
            self.evictions += 1

    def drop(self, predicate: Callable[[tuple], bool]) -> int:
        with self._lock:
            doomed = [k for k in self._items if predicate(k)]
            for k in doomed:
                del self._items[k]
            return len(doomed)


# --- endpoints and models -------------------------------------------------------------------


@dataclass
class Route:
    """Where an endpoint lives and where its target models are."""

    account_id: str
    aws: Aws
    config_name: str
    variant: str
    bucket: str
    prefix: str
    checked: float = field(default_factory=time.monotonic)


def load_model(data: bytes) -> tuple[Any, int]:
    """The model in a `model.tar.gz` and its size estimate, loaded as the SageMaker XGBoost
    container does: the archive's single file, unpickled if it is a pickle, else
    `Booster.load_model`."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        files = [m for m in tar.getmembers() if m.isfile()]
        if len(files) != 1:
            raise ValueError(f"model.tar.gz must hold exactly one file, found {len(files)}")
        raw = tar.extractfile(files[0]).read()
    try:
        # The container trusts its artifacts the same way; they come from our own bucket.
        model = pickle.loads(raw)  # noqa: S301
    except Exception:
        model = xgboost.Booster()
        model.load_model(bytearray(raw))
    return model, len(raw)


def parse_csv(body: bytes) -> np.ndarray:
    """CSV rows of features (no header, no label); empty fields are missing values."""
    rows = [line for line in body.decode("utf-8").splitlines() if line.strip()]
    if not rows:
        raise _model_error(400, "Loading csv data failed: no rows in the request body")
    try:
        data = [[float(v) if v.strip() else math.nan for v in r.split(",")] for r in rows]
        return np.array(data, dtype=np.float32)
    except ValueError as e:
        raise _model_error(400, f"Loading csv data failed: {e}") from None


def format_predictions(pred: np.ndarray) -> bytes:
    """One line per row; a row of several outputs (multi:softprob) as comma-separated values.
    repr keeps every digit of the float32, so clients see the model's exact numbers."""
    if pred.ndim == 1:
        return "\n".join(repr(float(p)) for p in pred).encode()
    return "\n".join(",".join(repr(float(p)) for p in row) for row in pred).encode()


class MultiModelEndpoints:
    """The library behind the HTTP server: `invoke(endpoint, target_model, body)`.

    `accounts` are searched, in order, for an endpoint of the requested name (a SigV4 request
    names its access key but not its account, and the secret is not ours to use); the answer
    is cached. `recheck_seconds` re-describes a cached endpoint that often and empties its
    cache when its config changed; None relies on `endpoint_updated` being called instead.
    """

    def __init__(
        self,
        accounts: list[AccountRef],
        aws_for: Callable[[AccountRef], Aws],
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        recheck_seconds: float | None = 5.0,
    ):
        self.accounts = accounts
        self._aws_for = aws_for
        self.cache = ModelCache(cache_bytes)
        self.recheck_seconds = recheck_seconds
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._loading: dict[tuple, threading.Lock] = {}

    # -- endpoint resolution
    def _describe(self, aws: Aws, account_id: str, name: str) -> Route | None:
        try:
            endpoint = aws.call("sagemaker", "describe_endpoint", EndpointName=name)
        except NotFound:
            return None
        config_name = endpoint["EndpointConfigName"]
        config = aws.call("sagemaker", "describe_endpoint_config", EndpointConfigName=config_name)
        variant = config["ProductionVariants"][0]
        model = aws.call("sagemaker", "describe_model", ModelName=variant["ModelName"])
        container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
        if container.get("Mode") != "MultiModel":
            raise _validation(f"Endpoint {name} is not a multi-model endpoint.")
        bucket, prefix = split_s3_uri(container["ModelDataUrl"])
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return Route(account_id, aws, config_name, variant["VariantName"], bucket, prefix)

    def _route(self, name: str) -> Route:
        route = self._routes.get(name)
        if route is not None and (
            self.recheck_seconds is None or time.monotonic() - route.checked < self.recheck_seconds
        ):
            return route
        fresh = None
        if route is not None:  # recheck where it was first
            fresh = self._describe(route.aws, route.account_id, name)
        if fresh is None:
            for ref in self.accounts:
                fresh = self._describe(self._aws_for(ref), ref.account_id, name)
                if fresh is not None:
                    break
        if fresh is None:
            self.forget(name)
            raise _validation(f"Endpoint {name} not found.")
        if route is not None and (route.account_id, route.config_name) != (
            fresh.account_id,
            fresh.config_name,
        ):
            self.forget(name)
        with self._lock:
            self._routes[name] = fresh
        return fresh

    def forget(self, endpoint_name: str) -> int:
        """Drop an endpoint's route and every model loaded for it; how many models."""
        with self._lock:
            self._routes.pop(endpoint_name, None)
        return self.cache.drop(lambda key: key[0] == endpoint_name)

    def endpoint_updated(self, account_id: str, region: str, name: str, config: str) -> None:
        """Hook for the embedded moto (endpoint created, updated or deleted): a new config
        means a new, empty fleet; a deleted endpoint serves nothing."""
        route = self._routes.get(name)
        if route is None or route.account_id == account_id:
            self.forget(name)

    # -- models
    def _model(self, name: str, route: Route, target: str) -> Any:
        key = (name, route.config_name, target)
        model = self.cache.get(key)
        if model is not None:
            return model
        with self._lock:
            lock = self._loading.setdefault(key, threading.Lock())
        with lock:  # one download per model, however many callers are waiting for it
            model = self.cache.get(key)
            if model is None:
                model, size = self._load(route, target)
                self.cache.put(key, model, size)
        with self._lock:
            self._loading.pop(key, None)
        return model

    def _load(self, route: Route, target: str) -> tuple[Any, int]:
        key = route.prefix + target
        try:
            data, _ = route.aws.get_bytes(route.bucket, key)
        except NotFound:
            raise _validation(
                f"Failed to download model data for target model '{target}' "
                f"(bucket: {route.bucket}, key: {key}). Please ensure that there is an object "
                "located at the URL and that the role passed to CreateModel has permissions "
                "to download the model."
            ) from None
        try:
            return load_model(data)
        except Exception as e:
            raise _model_error(500, f"Failed to load target model '{target}': {e}") from None

    def invoke(self, endpoint_name: str, target_model: str | None, body: bytes) -> bytes:
        """Predictions for CSV `body`, as bytes; raises InvokeError with the runtime's code."""
        if not target_model:
            raise _validation(
                "A target model is required when invoking a multi-model endpoint "
                "(header X-Amzn-SageMaker-Target-Model)."
            )
        if ".." in target_model.split("/"):
            raise _validation(f"Invalid target model '{target_model}'.")
        route = self._route(endpoint_name)
        model = self._model(endpoint_name, route, target_model)
        features = parse_csv(body)
        try:
            if isinstance(model, xgboost.Booster):
                pred = model.inplace_predict(features)
            else:  # a pickled scikit-learn-style estimator
                pred = np.asarray(model.predict(features))
        except Exception as e:  # xgboost's own words, first line (the rest is a C++ trace)
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise _model_error(400, first) from None
        return format_predictions(np.asarray(pred))

    def variant(self, endpoint_name: str) -> str:
        route = self._routes.get(endpoint_name)
        return route.variant if route else "AllTraffic"


# --- HTTP -----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: boto3 reuses its connection
    disable_nagle_algorithm = True  # small responses must not wait for a delayed ACK
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        head = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head += [f"Content-Length: {len(body)}", "", ""]
        # One write: headers and body leave in the same segment.
        self.wfile.write("\r\n".join(head).encode("latin-1") + body)

    def _error(self, e: InvokeError) -> None:
        payload = {"message": e.message, **e.extra}
        self._send(
            e.status,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", "X-Amzn-ErrorType": f"{e.code}:"},
        )

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/ping":
            self._send(200, b"", {})
        else:
            self._error(InvokeError("UnknownOperationException", 404, "Unknown operation"))

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = _PATH.match(self.path.split("?", 1)[0])
        if match is None:
            self._error(InvokeError("UnknownOperationException", 404, "Unknown operation"))
            return
        name = match.group(1)
        content_type = (self.headers.get("Content-Type") or "text/csv").split(";")[0].strip()
        try:
            if content_type != "text/csv":
                raise _model_error(415, f"Content type {content_type} is not supported.")
            out = self.server.endpoints.invoke(
                name, self.headers.get("X-Amzn-SageMaker-Target-Model"), body
            )
        except InvokeError as e:
            self._error(e)
            return
        except AwsError as e:  # the SageMaker API or S3 failed us: the runtime's 500
            log.warning("invoke %s: %s", name, e)
            self._error(InvokeError("InternalFailure", 500, str(e)))
            return
        except Exception:  # a bug here must still answer, or botocore retries a dead socket
            log.exception("invoke %s", name)
            self._error(InvokeError("InternalFailure", 500, "internal failure"))
            return
        self._send(
            200,
            out,
            {
                "Content-Type": "text/csv; charset=utf-8",
                "x-Amzn-Invoked-Production-Variant": self.server.endpoints.variant(name),
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    endpoints: MultiModelEndpoints


class MmeServer:
    """The HTTP face of `MultiModelEndpoints`, on its own threads. `start()` → base URL."""

    def __init__(self, endpoints: MultiModelEndpoints, host: str = "127.0.0.1", port: int = 0):
        self.endpoints = endpoints
        self._httpd = _Server((host, port), _Handler)
        self._httpd.endpoints = endpoints
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="mme-server", daemon=True
        )
        self._thread.start()
        return self.url

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
