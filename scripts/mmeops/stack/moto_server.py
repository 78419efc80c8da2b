"""Moto in server mode, with the one SageMaker call mmeops needs that moto lacks.

Moto 5.2.5 answers `UpdateEndpoint` with HTTP 500 (not implemented). Reconcile's stable-naming
mode refreshes an endpoint by pointing it at a new endpoint config, so the embedded stack adds
the call here: validated like the real API, switching the config in place and staying
InService (moto has no fleet to roll). Listeners hear about every endpoint created, updated or
deleted, so the local MME server drops its cached models the way a real endpoint's new fleet
starts empty.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable

import boto3
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.server import ThreadedMotoServer

from mmeops.aws import Aws
from mmeops.stack import faults, tuning

# The runner's identity: fixed fake keys in moto's default account. Every real account is
# reached from here through sts.assume_role, as a CI runner does with OIDC.
BASE_ACCESS_KEY_ID = "AKIAMMEOPSEMBEDDED01"
BASE_SECRET_ACCESS_KEY = "mmeops-embedded-stack-fake-secret"  # noqa: S105 (fake, for moto)
RUNNER_ACCOUNT_ID = "123456789012"

# (account_id, region, endpoint_name, config_name) after each endpoint create, update, delete
# (config_name is empty for a delete).
EndpointListener = Callable[[str, str, str, str], None]
_listeners: list[EndpointListener] = []
_install_lock = threading.Lock()


def add_endpoint_update_listener(listener: EndpointListener) -> Callable[[], None]:
    """Hear about every endpoint moto creates, updates or deletes; returns a remover."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def _backend_update_endpoint(
    self: SageMakerModelBackend, endpoint_name: str, endpoint_config_name: str
) -> str:
    endpoint = self.endpoints.get(endpoint_name)
    if endpoint is None:
        arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
        raise ValidationError(message=f"Could not find endpoint '{arn}'.")
    config = self.endpoint_configs.get(endpoint_config_name)
    if config is None:
        arn = FakeEndpointConfig.arn_formatter(
            endpoint_config_name, self.account_id, self.region_name
        )
        raise ValidationError(message=f"Could not find endpoint configuration '{arn}'.")
    variants = config.response_object["ProductionVariants"]
    endpoint.endpoint_config_name = endpoint_config_name
    endpoint.production_variants = endpoint._process_production_variants(variants)
    endpoint.last_modified_time = utcnow()
    # A real update passes through Updating; moto has no fleet, so it is done at once.
    endpoint.endpoint_status = "InService"
    for listener in list(_listeners):
        listener(self.account_id, self.region_name, endpoint_name, endpoint_config_name)
    return endpoint.arn


def _response_update_endpoint(self: SageMakerResponse) -> ActionResult:
    arn = self.sagemaker_backend.update_endpoint(
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
    )
    return ActionResult({"EndpointArn": arn})


def _notifying(method: Callable) -> Callable:
    """Wrap a backend method that creates or deletes an endpoint so listeners hear of it: a
    re-created endpoint may serve other models, and the local MME must not keep the old ones."""

    @functools.wraps(method)
    def wrapper(self: SageMakerModelBackend, *args, **kwargs):
        result = method(self, *args, **kwargs)
        name = kwargs.get("endpoint_name", args[0] if args else "")
        config = kwargs.get("endpoint_config_name", args[1] if len(args) > 1 else "")
        for listener in list(_listeners):
            listener(self.account_id, self.region_name, name, config)
        return result

    wrapper._mmeops_notifying = True
    return wrapper


def install_update_endpoint() -> None:
    """Teach moto `UpdateEndpoint` (moto 5.2.5 lacks it) and make endpoint creation and
    deletion heard. Idempotent; a moto that grows its own UpdateEndpoint keeps it."""
    with _install_lock:
        if not hasattr(SageMakerModelBackend, "update_endpoint"):
            SageMakerModelBackend.update_endpoint = _backend_update_endpoint
        if not hasattr(SageMakerResponse, "update_endpoint"):
            SageMakerResponse.update_endpoint = _response_update_endpoint
        for name in ("create_endpoint", "delete_endpoint"):
            method = getattr(SageMakerModelBackend, name)
            if not getattr(method, "_mmeops_notifying", False):
                setattr(SageMakerModelBackend, name, _notifying(method))


class MotoServer:
    """Moto on a free loopback port, in this process's threads."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        install_update_endpoint()
        tuning.install()  # tuning jobs that really train (stack/tuning.py)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> str:
        self._server.start()
        # Off until a test turns it on (faults.throttling): answers injected throttles.
        wsgi = self._server._server
        wsgi.app = faults.middleware(wsgi.app)
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        # Moto's state is process-global: reset it so a later stack in this process starts
        # empty, as a fresh stack must.
        from moto.moto_api._internal.models import moto_api_backend

        tuning.stop_all()  # no training job may write into the next stack's S3
        moto_api_backend.reset()
        self._server.stop()


class _MotoSession(boto3.Session):
    """A session whose clients all talk to one moto. An explicit endpoint_url outranks
    AWS_ENDPOINT_URL, so the stack's own calls stay on its moto whatever os.environ says (a
    stack started from a shell that points at another stack, say)."""

    def __init__(self, endpoint_url: str, **kwargs: str):
        super().__init__(**kwargs)
        self._endpoint_url = endpoint_url

    def client(self, *args, **kwargs):
        kwargs.setdefault("endpoint_url", self._endpoint_url)
        return super().client(*args, **kwargs)


def runner_aws(moto_url: str, region: str) -> Aws:
    """AWS as the runner's identity sees it on this moto."""
    session = _MotoSession(
        moto_url,
        aws_access_key_id=BASE_ACCESS_KEY_ID,
        aws_secret_access_key=BASE_SECRET_ACCESS_KEY,
        region_name=region,
    )
    return Aws(session, region, RUNNER_ACCOUNT_ID)


def assumed_aws(moto_url: str, account_id: str, region: str, role_arn: str) -> Aws:
    """AWS as `account_id` sees it, through sts.assume_role from the runner (moto puts the
    assumed credentials' calls in the role's account)."""
    runner = runner_aws(moto_url, region)
    creds = runner.call("sts", "assume_role", RoleArn=role_arn, RoleSessionName="mmeops-stack")
    creds = creds["Credentials"]
    session = _MotoSession(
        moto_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )
    return Aws(session, region, account_id)
