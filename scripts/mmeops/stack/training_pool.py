"""Worker processes that run the embedded stack's training jobs' xgboost, outside the stack's GIL.

The stack answers every request and runs every training job in one interpreter: two training
jobs of a tuning job that run "in parallel" took turns on its GIL (xgboost's Python loop around
each boosting round), and the product's describes waited behind them (docs/performance.md). A
job now trains in a worker process: the job's thread does everything AWS can see (reading the
channels as the job's role, statuses, metrics, writing the model) and hands the worker only the
parsed arrays and hyperparameters (`xgboost_algorithm.Prepared`); the worker returns the
model.tar.gz bytes and the final metrics, the same bytes as in-thread training
(`xgboost_algorithm.fit`, one xgboost thread per job).

Workers fork from a small fork server of this module, started once per process that runs a
stack: it imports xgboost once, so a worker starts in milliseconds rather than the second an
import takes. (multiprocessing's own fork server would re-run the parent's `__main__` in each
worker: the benchmark's or the CLI's imports, seconds each.) Workers are started when a job
needs one, reused by the next job, and ended by `shutdown()` when the stack stops. Until the
fork server is ready, where a worker cannot start, for jobs beyond the pool's size and with
`MMEOPS_STACK_TRAINING_WORKERS=0`, a job trains in its own thread, as before.

Stops: StopTrainingJob sets the job's event; the job's thread, waiting on the worker, sends
"stop" and the worker ends between two boosting rounds as in-thread training does. The
job's runtime limit is a deadline on the machine's monotonic clock, which the worker checks
itself after each round.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from mmeops.stack import xgboost_algorithm as algorithm

WORKERS_ENV = "MMEOPS_STACK_TRAINING_WORKERS"
# The job's thread looks at its stop event this often while the worker trains.
STOP_POLL = 0.02
_STOP = "stop"


def size() -> int:
    """How many workers the pool may hold: `MMEOPS_STACK_TRAINING_WORKERS`, else one per core
    (a tuning job's parallel jobs beyond that train in their own threads)."""
    raw = os.environ.get(WORKERS_ENV, "")
    try:
        return max(int(raw), 0) if raw else (os.cpu_count() or 1)
    except ValueError:
        return os.cpu_count() or 1


# --- the worker's side -----------------------------------------------------------------------


def _serve(conn: Connection) -> None:
    """A worker's loop: train each task it is sent, answer, until it is sent None."""
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        if task == _STOP:  # a stop that came after the job had ended: nothing to stop
            continue
        prepared, ends = task
        conn.send(_train(conn, prepared, ends))


def _train(conn: Connection, prepared: algorithm.Prepared, ends: float) -> tuple[str, Any]:
    def stop() -> str | None:
        if conn.poll() and conn.recv() == _STOP:
            return "stopped"
        return "deadline" if time.monotonic() >= ends else None

    try:
        return "ok", algorithm.fit(prepared, stop)
    except algorithm.Interrupted as e:
        return "interrupted", str(e)
    except algorithm.ClientError as e:
        return "client", str(e)
    except algorithm.AlgorithmError as e:
        return "algorithm", str(e)
    except Exception as e:  # what in-thread training would have raised as itself
        return "error", str(e)


# --- the stack's side ------------------------------------------------------------------------


def _server_main(fd: int) -> None:
    """The fork server (`_SERVER`, FD its end of the control socket): says it is ready once
    xgboost is imported, then forks a worker for each socket it is sent, until its parent
    closes the control socket (the parent ended)."""
    ctrl = socket.socket(fileno=fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    ctrl.sendall(b"R")
    while True:
        try:
            _, fds, _, _ = socket.recv_fds(ctrl, 1, 1)
        except OSError:
            return
        if not fds:
            return
        pid = os.fork()
        if pid == 0:
            ctrl.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            try:
                _serve(Connection(fds[0]))
            finally:
                os._exit(0)
        os.close(fds[0])
        ctrl.sendall(pid.to_bytes(8, "big"))


# The fork server's program. Without scikit-learn, which xgboost imports when it is installed
# (for its sklearn-style wrappers, which training never uses): the import took 9 of its 12 s of
# CPU on a busy machine. The models are the same bytes (tests/stack/test_training_pool.py).
_SERVER = (
    "import sys; sys.modules['sklearn'] = None; "
    "from mmeops.stack.training_pool import _server_main; _server_main({fd})"
)


class _Server:
    """The parent's end of the fork server."""

    def __init__(self):
        self.ctrl, child = socket.socketpair()
        scripts = str(Path(algorithm.__file__).resolve().parents[2])  # this mmeops, first
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (scripts, env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVER.format(fd=child.fileno())],
            pass_fds=[child.fileno()],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # a server that fails leaves the jobs in their threads
            env=env,
        )
        child.close()
        self.ready = False

    def is_ready(self) -> bool:
        """True once the server has imported xgboost (never waits)."""
        if not self.ready and select.select([self.ctrl], [], [], 0)[0]:
            self.ready = self.ctrl.recv(1) == b"R"
            if not self.ready:
                raise OSError("the training fork server ended before it was ready")
        return self.ready

    def fork(self) -> tuple[Connection, int]:
        mine, theirs = socket.socketpair()
        try:
            socket.send_fds(self.ctrl, [b"F"], [theirs.fileno()])
            pid = _recv_exactly(self.ctrl, 8)
        finally:
            theirs.close()
        return Connection(mine.detach()), int.from_bytes(pid, "big")


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        part = sock.recv(n - len(out))
        if not part:
            raise OSError("the training fork server ended")
        out += part
    return out


class _Worker:
    def __init__(self, server: _Server):
        self.conn, self.pid = server.fork()

    def close(self, timeout: float = 2.0) -> None:
        """Ask the worker to end; kill it if it does not within `timeout`. It is gone when
        its end of the socket closes."""
        try:
            self.conn.send(None)
            ends = time.monotonic() + timeout
            while time.monotonic() < ends:
                if self.conn.poll(ends - time.monotonic()):
                    self.conn.recv()  # an answer it was still sending; then EOF
        except (EOFError, OSError):
            pass
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.conn.close()


_lock = threading.Lock()
_idle: list[_Worker] = []
_workers: set[_Worker] = set()
_server: _Server | None = None
_unavailable = False  # the fork server failed: every job trains in its thread from then on
trained_in_workers = 0  # jobs a worker answered (tests read it)


def warm() -> None:
    """Start the fork server and wait until it has imported xgboost (a once-per-process cost,
    like the stack's own imports: the benchmark pays it before it times anything)."""
    global _server
    with _lock:
        if _server is None:
            _server = _Server()
    while not _acquirable():
        time.sleep(0.01)


def _acquirable() -> bool:
    global _unavailable
    with _lock:
        try:
            return _unavailable or (_server is not None and _server.is_ready())
        except OSError:
            _unavailable = True
            return True


def _acquire() -> _Worker | None:
    if size() == 0:
        return None
    dead: list[_Worker] = []
    try:
        return _idle_or_new(dead)
    finally:
        for worker in dead:
            worker.close()


def _idle_or_new(dead: list[_Worker]) -> _Worker | None:
    global _server, _unavailable
    with _lock:
        while _idle:
            worker = _idle.pop()
            if not worker.conn.poll():  # an idle worker has nothing to say unless it died
                return worker
            _workers.discard(worker)
            dead.append(worker)
        if _unavailable or len(_workers) >= size():
            return None
        try:
            if _server is None:
                _server = _Server()
            if not _server.is_ready():
                return None  # this job trains in its thread; later ones in workers
            worker = _Worker(_server)
        except OSError:
            _unavailable = True
            return None
        _workers.add(worker)
        return worker


def _release(worker: _Worker, healthy: bool) -> None:
    with _lock:
        if healthy and worker in _workers:
            _idle.append(worker)
            return
        _workers.discard(worker)
    worker.close()


def train(
    prepared: algorithm.Prepared,
    stop: Callable[[], str | None],
    ends: float,
    stop_requested: threading.Event,
) -> tuple[bytes, dict[str, float]]:
    """(model.tar.gz bytes, final metrics), trained in a worker when one is free, else in this
    thread. `stop()` is the job's own verdict (stop request, runtime limit: called only once
    the worker was interrupted, for the reason to report); `ends` the monotonic deadline;
    `stop_requested` the job's StopTrainingJob event."""
    worker = _acquire()
    if worker is None:
        return algorithm.fit(prepared, stop)
    global trained_in_workers
    healthy = False
    try:
        kind, value = _run(worker, prepared, ends, stop_requested)
        healthy = True
        with _lock:
            trained_in_workers += 1
    finally:
        _release(worker, healthy)
    if kind == "ok":
        return value
    if kind == "interrupted":
        raise algorithm.Interrupted(stop() or ("stopped" if value == "stopped" else "max runtime"))
    if kind == "client":
        raise algorithm.ClientError(value)
    if kind == "algorithm":
        raise algorithm.AlgorithmError(value)
    raise RuntimeError(value)


def _run(
    worker: _Worker, prepared: algorithm.Prepared, ends: float, stop_requested: threading.Event
) -> tuple[str, Any]:
    try:
        worker.conn.send((prepared, ends))
        sent_stop = False
        while not worker.conn.poll(STOP_POLL):  # a worker that died: EOF, poll() says True
            if not sent_stop and stop_requested.is_set():
                worker.conn.send(_STOP)
                sent_stop = True
        return worker.conn.recv()
    except (EOFError, OSError):
        raise algorithm.AlgorithmError("the training worker process ended unexpectedly") from None


def shutdown() -> None:
    """End every worker (the stack stops; its jobs have been stopped). Idempotent."""
    with _lock:
        workers = list(_workers)
        _workers.clear()
        _idle.clear()
    for worker in workers:
        worker.close()


def worker_pids() -> list[int]:
    """The pids of the pool's live workers (tests check that none outlives the stack)."""
    with _lock:
        return [w.pid for w in _workers]
