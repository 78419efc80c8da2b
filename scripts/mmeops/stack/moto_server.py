"""Moto in server mode, with SageMaker endpoint lifecycles like AWS's (`stack/endpoints.py`:
Creating, Updating and Deleting over a scaled-down delay, UpdateEndpoint, which moto 5.2.5
lacks, and its documented constraints). Listeners hear about every endpoint created, updated
or deleted, so the local MME server drops its cached models the way a real endpoint's new
fleet starts empty.
"""

from __future__ import annotations

import logging

import boto3
from moto.server import ThreadedMotoServer

from mmeops.aws import Aws, botocore_session
from mmeops.stack import endpoints, faults, model_packages, strict, tuning
from mmeops.stack.endpoints import (  # noqa: F401 (re-exported: the stack's listener hook)
    EndpointListener,
    add_endpoint_update_listener,
)
from mmeops.stack.iam import middleware as iam
from mmeops.stack.iam import sessions as iam_sessions
from mmeops.stack.iam import store as iam_store

# The runner's identity: fixed fake keys in moto's default account. Every real account is
# reached from here through sts.assume_role, as a CI runner does with OIDC.
BASE_ACCESS_KEY_ID = "AKIAMMEOPSEMBEDDED01"
BASE_SECRET_ACCESS_KEY = "mmeops-embedded-stack-fake-secret"  # noqa: S105 (fake, for moto)
RUNNER_ACCOUNT_ID = "123456789012"


class MotoServer:
    """Moto on a free loopback port, in this process's threads."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        endpoints.install()
        tuning.install()  # tuning jobs that really train (stack/tuning.py)
        model_packages.install()  # UpdateModelPackage changes only what it is sent
        iam_store.install()  # bucket policies judged by stack/iam, with their conditions
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> str:
        self._server.start()
        # Off until a test turns it on (faults.throttling): answers injected throttles.
        wsgi = self._server._server
        wsgi.app = faults.middleware(wsgi.app)
        # Always on: refuses, as AWS would, a request that breaks the service's model.
        wsgi.app = strict.middleware(wsgi.app)
        # Always on, outermost (AWS authorizes before it reads a request's members): every
        # signed request authorized against the policies built from infra/bootstrap.yaml.
        iam.base_access_key = BASE_ACCESS_KEY_ID
        wsgi.app = iam.middleware(wsgi.app)
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        # Moto's state is process-global: reset it so a later stack in this process starts
        # empty, as a fresh stack must.
        from moto.moto_api._internal.models import moto_api_backend

        tuning.stop_all()  # no training job may write into the next stack's S3
        moto_api_backend.reset()
        endpoints.reset()
        iam_sessions.reset()
        self._server.stop()


class _MotoSession(boto3.Session):
    """A session whose clients all talk to one moto. An explicit endpoint_url outranks
    AWS_ENDPOINT_URL, so the stack's own calls stay on its moto whatever os.environ says (a
    stack started from a shell that points at another stack, say)."""

    def __init__(self, endpoint_url: str, **kwargs: str):
        super().__init__(botocore_session=botocore_session(), **kwargs)
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


def credentials_aws(moto_url: str, region: str, account_id: str | None, creds: dict) -> Aws:
    """AWS through temporary credentials (STS's `Credentials`) on this moto."""
    session = _MotoSession(
        moto_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )
    return Aws(session, region, account_id)


def admin_aws(moto_url: str, account_id: str, region: str) -> Aws:
    """The stack's own administrator in `account_id` (what CloudFormation and the SageMaker
    service act as): it seeds and inspects the world; never the product's identity."""
    admin = _MotoSession(
        moto_url,
        aws_access_key_id=iam_sessions.ADMIN_ACCESS_KEY_ID,
        aws_secret_access_key=iam_sessions.ADMIN_SECRET_ACCESS_KEY,
        region_name=region,
    )
    creds = Aws(admin, region).call(
        "sts",
        "assume_role",
        RoleArn=f"arn:aws:iam::{account_id}:role/mmeops-stack-admin",
        RoleSessionName="mmeops-stack",
    )["Credentials"]
    return credentials_aws(moto_url, region, account_id, creds)


def assumed_aws(moto_url: str, account_id: str, region: str, role_arn: str) -> Aws:
    """AWS as `role_arn` sees it, assumed from the runner's identity (the first hop a
    workflow's configure-aws-credentials makes)."""
    runner = runner_aws(moto_url, region)
    creds = runner.call("sts", "assume_role", RoleArn=role_arn, RoleSessionName="mmeops-stack")
    return credentials_aws(moto_url, region, account_id, creds["Credentials"])
