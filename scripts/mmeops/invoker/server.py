"""The front door as a local HTTP server (`mmeops invoker ENV`): the same FrontDoor the Lambda
handler runs, behind Python's threading HTTP server, configured from the environment file."""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from mmeops.aws import Aws, for_account
from mmeops.config.repo import Repo
from mmeops.deploy.body import MAX_BODY_BYTES
from mmeops.deploy.desired import load_desired
from mmeops.httpserve import Background, Server, send
from mmeops.invoker.capture import CaptureWriter, Flusher
from mmeops.invoker.front_door import FrontDoor, Settings
from mmeops.invoker.metrics import Metrics
from mmeops.invoker.reply import Refusal

log = logging.getLogger(__name__)


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
    Flusher(capture)
    return FrontDoor(settings, aws, metrics=metrics, capture=capture)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection
    disable_nagle_algorithm = True  # small answers must not wait for a delayed ACK
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s " + format, self.address_string(), *args)

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES + 1:  # do not read what will be refused anyway
            reply = Refusal(413, "BodyTooLarge", f"the body is {length:,} bytes, over 6 MB").reply()
            self.close_connection = True
        else:
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                reply = self.server.door.handle(self.command, self.path, headers, body)
            except Exception:  # a bug must still answer, never drop the connection
                log.exception("front door")
                reply = Refusal(500, "InternalError", "the front door failed").reply()
        send(self, reply.status, reply.body, reply.headers)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer  # noqa: N815


class _Server(Server):
    door: FrontDoor


class InvokerServer(Background):
    """The front door over HTTP: `start()` serves on its own thread and returns the URL."""

    def __init__(self, door: FrontDoor, host: str = "127.0.0.1", port: int = 0):
        self.door = door
        httpd = _Server((host, port), _Handler)
        httpd.door = door
        super().__init__(httpd, "invoker")
