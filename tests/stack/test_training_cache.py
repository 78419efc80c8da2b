"""Issue 28: the embedded stack's training jobs parse a channel once per distinct content
(`xgboost_algorithm.load_csv`): a tuning job's training jobs read the same CSV objects again
and again. The cache must be invisible: a job trained from the cache gives the very model and
metrics an uncached parse gives, and changed bytes are parsed anew."""

from __future__ import annotations

import numpy as np
import pytest

from mmeops.artifact import model_bytes
from mmeops.stack import xgboost_algorithm as algorithm

HYPERPARAMETERS = {
    "num_round": "30",
    "objective": "reg:squarederror",
    "eta": "0.2",
    "max_depth": "3",
    "early_stopping_rounds": "5",
    "_tuning_objective_metric": "validation:rmse",
}


def _csv(x: np.ndarray, y: np.ndarray) -> bytes:
    lines = (
        ",".join(map(repr, (float(label), *map(float, row))))
        for row, label in zip(x, y, strict=True)
    )
    return "".join(line + "\n" for line in lines).encode()


@pytest.fixture
def channels() -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(160, 4))
    y = x @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(scale=0.1, size=160)
    train = [("part-1.csv", _csv(x[:60], y[:60])), ("part-2.csv", _csv(x[60:120], y[60:120]))]
    return train, [("data.csv", _csv(x[120:], y[120:]))]


def _result(trained: algorithm.Trained) -> tuple[bytes, dict[str, float]]:
    """What a user gets from a job: the model file in model.tar.gz and the final metrics."""
    return model_bytes(trained.model_tar_gz), trained.final_metrics


def test_a_cached_channel_trains_the_same_model_as_a_fresh_parse(channels):
    train, validation = channels
    algorithm._PARSED.clear()
    hits = algorithm.parsed_hits
    uncached = _result(algorithm.train(HYPERPARAMETERS, train, validation))
    assert algorithm.parsed_hits == hits  # both channels were parsed
    cached = _result(algorithm.train(HYPERPARAMETERS, train, validation))
    assert algorithm.parsed_hits == hits + 2  # both came from the cache
    assert cached == uncached
    # The matrices are shared between jobs: none may change them for the next.
    x, y = algorithm.load_csv(train, "train")
    assert not x.flags.writeable and not y.flags.writeable


def test_changed_bytes_under_the_same_names_are_parsed_anew(channels):
    """A new version of an object (same bucket and key, other bytes) is new data: the cache is
    keyed by content, so a job never trains on a stale parse."""
    train, validation = channels
    algorithm._PARSED.clear()
    before = _result(algorithm.train(HYPERPARAMETERS, train, validation))
    name, body = train[0]
    lines = body.decode().splitlines(keepends=True)
    label, rest = lines[0].split(",", 1)
    changed = [(name, "".join([f"{float(label) + 50.0!r},{rest}", *lines[1:]]).encode()), train[1]]
    hits = algorithm.parsed_hits
    after = _result(algorithm.train(HYPERPARAMETERS, changed, validation))
    assert algorithm.parsed_hits == hits + 1  # only the validation channel was reused
    assert after[0] != before[0]
    x, y = algorithm.load_csv(changed, "train")
    assert y[0] == pytest.approx(float(label) + 50.0)


def test_a_refused_channel_is_refused_every_time(channels):
    """A refusal is not cached as data: the second job fails with the same reason."""
    _, validation = channels
    bad = [("data.csv", b"1,2,3\n4,5\n")]
    for _ in range(2):
        with pytest.raises(algorithm.ClientError, match="Failed to load csv data"):
            algorithm.train(HYPERPARAMETERS, bad, validation)


def test_a_channel_larger_than_the_bound_is_not_kept(channels, monkeypatch):
    """The cache is bounded in bytes (a channel of millions of rows is parsed per job rather
    than held): over the bound, nothing is kept and every job parses again."""
    train, validation = channels
    algorithm._PARSED.clear()
    monkeypatch.setattr(algorithm, "_PARSED_BYTES", 1024)  # smaller than either channel
    hits = algorithm.parsed_hits
    first = _result(algorithm.train(HYPERPARAMETERS, train, validation))
    second = _result(algorithm.train(HYPERPARAMETERS, train, validation))
    assert algorithm.parsed_hits == hits and not algorithm._PARSED
    assert first == second
