"""labels.sql's rows against capture's rows (mmeops.monitor.labels): a label joins the one
row of the request whose inference id it names; everything else is counted, never guessed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmeops.errors import UserError
from mmeops.extract.warehouse import Column, Query
from mmeops.monitor.labels import check_columns, join

INT8, FLOAT8, TEXT = 20, 701, 25


def test_a_label_joins_the_one_row_of_its_request_and_the_rest_is_counted():
    ids = ("a", "b", "b", "c", "d")  # b: one request of two rows
    labels = {"a": [1.0], "b": [2.0], "c": [3.0, 4.0], "ghost": [5.0]}
    got = join(ids, labels)
    np.testing.assert_array_equal(got.labels, [1.0, np.nan, np.nan, np.nan, np.nan])
    assert (got.returned, got.matched) == (5, 1)
    assert (got.unmatched_ids, got.duplicate_ids, got.multi_row) == (1, 1, 1)
    assert got.summary() == (
        "labels.sql returned 5 labels; 1 captured rows matched; 1 ids matched no captured "
        "request; 1 ids returned more than once (not used); 1 requests of several rows (not "
        "joined); 4 captured rows without a label"
    )


def _query(text: str) -> Query:
    return Query(Path("models/m/labels.sql"), text, {})


@pytest.mark.parametrize(
    ("columns", "expect"),
    [
        ([Column("request_id", TEXT), Column("label", FLOAT8)], "returns (request_id, label);"),
        ([Column("inference_id", TEXT)], "returns (inference_id);"),
        ([Column("inference_id", TEXT), Column("label", TEXT)], "label is text, not a number;"),
    ],
)
def test_other_columns_are_bad_input_at_the_select_line(columns, expect):
    query = _query("-- ground truth\n\nSELECT a, b\nFROM t\n")
    with pytest.raises(UserError) as e:
        check_columns(query, columns)
    assert e.value.format().startswith(f"models/m/labels.sql:3: {expect}")
    assert "SELECT request_id AS inference_id, outcome AS label" in e.value.format()


def test_the_two_columns_in_any_order_are_accepted():
    check_columns(_query("SELECT 1"), [Column("label", INT8), Column("inference_id", TEXT)])
