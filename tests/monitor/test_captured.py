"""Capture records as monitoring rows (mmeops.monitor.captured.parse): what is data from S3
and does not parse is counted, never raised; failed calls are not rows."""

from __future__ import annotations

import json

import numpy as np

from mmeops.deploy.manifest import ManifestEntry
from mmeops.monitor.captured import parse

ENTRY = ManifestEntry("m/v1.tar.gz", 1, "arn", "0" * 64, 1, ("a", "b"), 2)


def rec(data: str, output, status: int = 200, rid: str = "r") -> dict:
    return {
        "captureData": {
            "endpointInput": {"data": data},
            "endpointOutput": {"data": output if isinstance(output, str) else json.dumps(output)},
        },
        "eventMetadata": {"inferenceId": rid},
        "mmeops": {"status": status},
    }


def test_rows_predictions_and_ids_in_order_with_empty_fields_missing():
    got = parse([rec("1,2\n3,\n", [0.5, [0.7, 0.3]], rid="x"), rec("5,6", [1.0], rid="y")], ENTRY)
    np.testing.assert_array_equal(got.matrix, [[1, 2], [3, np.nan], [5, 6]])
    assert list(got.predictions) == [0.5, 0.7, 1.0] and got.inference_ids == ("x", "x", "y")
    assert got.skipped == 0


def test_what_does_not_parse_is_skipped_and_counted_and_failed_calls_are_not_rows():
    records = [
        rec("1,2,3", [1.0]),  # three fields for two features
        rec("1,2", "not json"),
        rec("1,2\n3,4", [1.0]),  # one prediction for two rows
        rec("nan-ish,2", [1.0]),
        {"captureData": None, "mmeops": {"status": 200}},
        rec("inf,2", [1.0]),  # the front door refuses nan/inf text: never a captured row
        rec("1,2", {"error": "ModelError"}, status=424),  # answered nothing: not a row
        rec("7,8", [2.0]),
    ]
    got = parse(records, ENTRY)
    assert got.rows == 1 and got.skipped == 6
    np.testing.assert_array_equal(got.matrix, [[7, 8]])
