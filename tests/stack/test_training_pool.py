"""Issue 28: the embedded stack's training jobs train in worker processes
(`stack/training_pool`), off the stack's GIL. The worker must be invisible: the same model
bytes and metrics as training in the job's thread, a stop or a runtime limit that ends it
between two rounds as before, a worker that dies failing its job (not the stack), and no
worker left once the stack has stopped its jobs (`training.stop_all`, what the stack's
shutdown runs: `moto_server.MotoServer.stop`)."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
from test_training_cache import HYPERPARAMETERS, _csv

from mmeops.artifact import model_bytes
from mmeops.stack import training, training_pool
from mmeops.stack import xgboost_algorithm as algorithm

# Trains until something stops it (no early stopping; rounds a machine never reaches).
ENDLESS = {"num_round": "10000000", "objective": "reg:squarederror", "max_depth": "3"}


@pytest.fixture(scope="module")
def channels() -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    training_pool.warm()  # the fork server, once per process: so that jobs go to workers
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 4))
    y = x @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(scale=0.1, size=200)
    return [("train.csv", _csv(x[:150], y[:150]))], [("validation.csv", _csv(x[150:], y[150:]))]


def _in_worker(prepared, stop=lambda: None, ends=None, event=None):
    """`training_pool.train`, asserting that a worker answered (not the in-thread fallback)."""
    before = training_pool.trained_in_workers
    try:
        return training_pool.train(
            prepared, stop, time.monotonic() + 600 if ends is None else ends,
            event or threading.Event(),
        )  # fmt: skip
    finally:
        assert training_pool.trained_in_workers == before + 1


def _result(out: tuple[bytes, dict[str, float]]) -> tuple[bytes, dict[str, float]]:
    """What a user gets: the model file inside model.tar.gz and the final metrics."""
    return model_bytes(out[0]), out[1]


def test_a_worker_trains_the_very_model_and_metrics_the_jobs_thread_trains(channels):
    prepared = algorithm.prepare(HYPERPARAMETERS, *channels)
    in_thread = _result(algorithm.fit(prepared, lambda: None))
    assert _result(_in_worker(prepared)) == in_thread
    assert training_pool.worker_pids() and os.getpid() not in training_pool.worker_pids()
    # The comparison can fail: another eta trains other bytes.
    other = algorithm.prepare({**HYPERPARAMETERS, "eta": "0.3"}, *channels)
    assert _result(_in_worker(other))[0] != in_thread[0]


def test_a_stop_request_ends_the_worker_between_two_rounds_and_the_next_job_is_unaffected(
    channels,
):
    event = threading.Event()
    threading.Timer(0.3, event.set).start()
    started = time.monotonic()
    with pytest.raises(algorithm.Interrupted, match="^stopped$"):
        _in_worker(algorithm.prepare(ENDLESS, *channels), lambda: "stopped", event=event)
    assert time.monotonic() - started < 10
    # The same worker trains the next job, and the stop is not carried over to it.
    prepared = algorithm.prepare(HYPERPARAMETERS, *channels)
    assert _result(_in_worker(prepared)) == _result(algorithm.fit(prepared, lambda: None))


def test_the_runtime_deadline_ends_the_worker_with_the_jobs_own_verdict(channels):
    ends = time.monotonic() + 0.3
    with pytest.raises(algorithm.Interrupted, match="^max runtime$"):
        _in_worker(algorithm.prepare(ENDLESS, *channels), lambda: "max runtime", ends=ends)
    assert time.monotonic() - ends < 10


def test_a_refusal_inside_the_algorithm_is_the_same_in_a_worker(channels):
    # xgboost's own check (num_class for multi:softmax), raised inside xgboost.train.
    prepared = algorithm.prepare({**HYPERPARAMETERS, "objective": "multi:softmax"}, *channels)
    with pytest.raises(algorithm.AlgorithmError) as in_thread:
        algorithm.fit(prepared, lambda: None)
    with pytest.raises(algorithm.AlgorithmError) as in_worker:
        _in_worker(prepared)
    assert str(in_worker.value) == str(in_thread.value)


def test_a_worker_that_dies_fails_its_job_and_the_next_job_gets_a_new_one(channels):
    prepared = algorithm.prepare(ENDLESS, *channels)
    killed: list[int] = []

    def kill() -> None:
        time.sleep(0.3)
        killed.extend(training_pool.worker_pids())
        for pid in killed:
            os.kill(pid, signal.SIGKILL)

    threading.Thread(target=kill).start()
    with pytest.raises(algorithm.AlgorithmError, match="worker process ended unexpectedly"):
        training_pool.train(prepared, lambda: None, time.monotonic() + 600, threading.Event())
    assert killed
    _gone(killed)
    # The next job trains in a live worker: an idle one that died is never handed out.
    good = algorithm.prepare(HYPERPARAMETERS, *channels)
    assert _result(_in_worker(good)) == _result(algorithm.fit(good, lambda: None))
    assert not set(killed) & set(training_pool.worker_pids())


def test_stopping_the_stacks_jobs_ends_every_worker(channels):
    prepared = algorithm.prepare(HYPERPARAMETERS, *channels)
    _in_worker(prepared)
    pids = training_pool.worker_pids()
    assert pids and all(os.path.exists(f"/proc/{pid}") for pid in pids)
    training.stop_all()
    assert training_pool.worker_pids() == []
    _gone(pids)
    _in_worker(prepared)  # a later stack gets new workers


def test_with_no_workers_the_job_trains_in_its_thread(channels, monkeypatch):
    monkeypatch.setenv(training_pool.WORKERS_ENV, "0")
    prepared = algorithm.prepare(HYPERPARAMETERS, *channels)
    before = training_pool.trained_in_workers
    out = training_pool.train(prepared, lambda: None, time.monotonic() + 600, threading.Event())
    assert training_pool.trained_in_workers == before
    assert _result(out) == _result(algorithm.fit(prepared, lambda: None))


def _gone(pids: list[int], timeout: float = 5) -> None:
    """Wait until none of `pids` runs (a killed process takes a moment to close its sockets)."""
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
