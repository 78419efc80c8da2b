"""A TCP forwarder between the product and the embedded stack's AWS endpoint, run as its own
process so a test can freeze it (SIGSTOP) or kill it (SIGKILL) mid-apply: the AWS endpoint
hanging or vanishing, which the in-process moto server cannot do without stopping the test.
Test-only (tests/deploy/test_fault_loops.py).

`python tests/aws_proxy.py LISTEN_PORT TARGET_PORT COUNT_FILE`: forwards 127.0.0.1:LISTEN_PORT
to 127.0.0.1:TARGET_PORT and writes the number of HTTP requests seen so far to COUNT_FILE.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading

_count = 0
_lock = threading.Lock()


def _note_requests(data: bytes, count_file: str) -> None:
    global _count
    seen = data.count(b" HTTP/1.1\r\n")  # request lines; bodies here are JSON, XML or gzip
    if seen:
        with _lock:
            _count += seen
            with open(count_file, "w") as f:
                f.write(str(_count))


def _pipe(src: socket.socket, dst: socket.socket, count_file: str | None) -> None:
    try:
        while data := src.recv(65536):
            if count_file:
                _note_requests(data, count_file)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def main() -> None:
    listen, target, count_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    server = socket.create_server(("127.0.0.1", listen))  # SO_REUSEADDR: restarts on the port
    print("ready", flush=True)
    while True:
        client, _ = server.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", target))
        except OSError:
            client.close()
            continue
        threading.Thread(target=_pipe, args=(client, upstream, count_file), daemon=True).start()
        threading.Thread(target=_pipe, args=(upstream, client, None), daemon=True).start()


if __name__ == "__main__":
    main()
