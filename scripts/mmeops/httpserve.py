"""A small HTTP server on its own thread, shared by the local MME (stack/mme.py) and the front
door (invoker/server.py): keep-alive, one write per answer, start/stop from the caller."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]):
    """Answer in ONE write: headers and body leave in the same segment (no delayed-ACK wait)."""
    head = [f"HTTP/1.1 {status} {handler.responses.get(status, ('',))[0]}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head += [f"Content-Length: {len(body)}", "", ""]
    handler.wfile.write("\r\n".join(head).encode("latin-1") + body)


class Server(ThreadingHTTPServer):
    daemon_threads = True


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
        """The foreground commands (`mmeops serve`, `mmeops invoker`): until Ctrl-C."""
        try:
            self._httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
