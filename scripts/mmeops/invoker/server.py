"""The front door as a local HTTP server (`mmeops invoker ENV`): the same FrontDoor the Lambda
handler runs, behind Python's threading HTTP server, configured from the environment file."""

from __future__ import annotations

from email.message import Message
from pathlib import Path

from mmeops.aws import Aws, for_account
from mmeops.config.repo import Repo
from mmeops.deploy.body import MAX_BODY_BYTES
from mmeops.deploy.desired import load_desired
from mmeops.httpserve import Answer, Background, serving
from mmeops.invoker.capture import CaptureWriter, Flusher
from mmeops.invoker.front_door import FrontDoor, Settings
from mmeops.invoker.metrics import Metrics
from mmeops.invoker.reply import Refusal


def front_door_for(
    repo: Repo, env_name: str, metrics_path: Path | None = None, aws: Aws | None = None
) -> FrontDoor:
    """The front door of one environment, as `aws` (else the ambient credentials: under `mmeops
    stack up`, the session of the environment's front door role; they must belong to the
    environment's account, or its role_arn is assumed from them); EMF metrics appended to
    `metrics_path`, capture flushed every 1000 records or 5 seconds."""
    desired = load_desired(repo, env_name, sha="")
    settings = Settings(
        environment=desired.env,
        region=desired.region,
        bucket=desired.bucket,
        manifest_key=desired.manifest_key,
        endpoint_name=desired.endpoint_name,
    )
    aws = aws or for_account(desired.account_id, desired.region, desired.role_arn)
    metrics = None
    if metrics_path is not None:
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics = Metrics(metrics_path.open("a", encoding="utf-8"))  # noqa: SIM115 (lives on)
    capture = CaptureWriter(aws, desired.bucket)
    return FrontDoor(settings, aws, metrics=metrics, capture=capture, flusher=Flusher(capture))


def _too_large(length: int) -> Answer:
    reply = Refusal(413, "BodyTooLarge", f"the body is {length:,} bytes, over 6 MB").reply()
    return reply.status, reply.body, reply.headers


def _failed() -> Answer:
    reply = Refusal(500, "InternalError", "the front door failed").reply()
    return reply.status, reply.body, reply.headers


class InvokerServer(Background):
    """The front door over HTTP: `start()` serves on its own thread and returns the URL."""

    def __init__(self, door: FrontDoor, host: str = "127.0.0.1", port: int = 0):
        self.door = door

        def app(method: str, path: str, headers: Message, body: bytes) -> Answer:
            lower = {k.lower(): v for k, v in headers.items()}
            reply = door.handle(method, path, lower, body)
            return reply.status, reply.body, reply.headers

        httpd = serving(
            app,
            (host, port),
            failed=_failed,
            methods=("GET", "POST", "PUT", "DELETE", "HEAD"),
            max_body=MAX_BODY_BYTES + 1,  # do not read what will be refused anyway
            too_large=_too_large,
        )
        super().__init__(httpd, "invoker")

    def stop(self) -> None:
        """Stop answering, then write out what the answered calls left for capture."""
        super().stop()
        self.door.close()
