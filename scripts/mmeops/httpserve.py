"""A small HTTP server on its own thread, shared by the local MME (stack/mme.py) and the front
door (invoker/server.py): keep-alive, one write per answer, an answer even when the app
fails, start/stop from the caller. Each gives an `App`: (method, path, headers, body) ->
(status, body, headers)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

Answer = tuple[int, bytes, dict[str, str]]
App = Callable[[str, str, Message, bytes], Answer]


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]):
    """Answer in ONE write: headers and body leave in the same segment (no delayed-ACK wait)."""
    head = [f"HTTP/1.1 {status} {handler.responses.get(status, ('',))[0]}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head += [f"Content-Length: {len(body)}", "", ""]
    handler.wfile.write("\r\n".join(head).encode("latin-1") + body)


class Server(ThreadingHTTPServer):
    daemon_threads = True


def serving(
    app: App,
    address: tuple[str, int],
    *,
    failed: Callable[[], Answer],
    methods: Iterable[str] = ("GET", "POST"),
    max_body: int | None = None,
    too_large: Callable[[int], Answer] | None = None,
) -> Server:
    """A server answering `methods` with `app`. A body over `max_body` bytes is not read: the
    answer is `too_large(length)` and the connection closes (its unread bytes are no request).
    An app that raises is logged and answered `failed()`: a dropped connection would have a
    client (botocore) retry a dead socket."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection
        disable_nagle_algorithm = True  # small answers must not wait for a delayed ACK

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib's)
            log.debug("%s " + format, self.address_string(), *args)

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if max_body is not None and too_large is not None and length > max_body:
                status, body, headers = too_large(length)
                self.close_connection = True
            else:
                data = self.rfile.read(length)
                try:
                    status, body, headers = app(self.command, self.path, self.headers, data)
                except Exception:
                    log.exception("%s %s", self.command, self.path[:200])
                    status, body, headers = failed()
            send(self, status, body, headers)

    for method in methods:
        setattr(Handler, f"do_{method}", Handler._answer)
    return Server(address, Handler)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM ends serving as Ctrl-C does


class Background:
    """`start()` serves on a daemon thread and returns the base URL; `serve_forever()` serves
    on the caller's; `stop()` ends either."""

    def __init__(self, httpd: Server, name: str):
        self._httpd = httpd
        self._name = name
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=self._name, daemon=True
        )
        self._thread.start()
        return self.url

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def serve_until_interrupted(self) -> None:
        """The foreground commands (`mmeops serve`, `mmeops invoker`): until Ctrl-C or SIGTERM
        (what `mmeops stack down`, docker stop and systemd send), then `stop()`, so that what
        the server holds (a front door's capture) is written out either way."""
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            self._httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            self.stop()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
