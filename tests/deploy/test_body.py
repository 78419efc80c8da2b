"""The one body validator (deploy/body.py), shared by `mmeops invoke` and the front door.

What it refuses, the endpoint would answer with a 503 after the call or, worse, score without a
word: the XGBoost container's CSV reader turns `nan` text and short rows into missing values.
The 6 MB limit is the runtime's (botocore's sagemaker-runtime service model,
InvokeEndpointInput.Body max 6291456).
"""

from __future__ import annotations

import botocore.session
import pytest

from mmeops.deploy.body import MAX_BODY_BYTES, BodyError, Shape, validate

SHAPE = Shape(("age", "bmi", "bp"), 3)


def refused(body: bytes, content_type: str = "text/csv", shape: Shape = SHAPE) -> BodyError:
    with pytest.raises(BodyError) as e:
        validate(body, content_type, shape)
    assert "\n" not in e.value.format()  # one sentence, one line
    return e.value


def test_the_size_limit_is_the_runtimes_own() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    body = model.operation_model("InvokeEndpoint").input_shape.members["Body"]
    assert body.metadata["max"] == MAX_BODY_BYTES


def test_a_body_over_6_mb_is_413_and_one_at_the_limit_passes() -> None:
    row = b"1,2,3\n"
    at_limit = row * (MAX_BODY_BYTES // len(row))
    assert validate(at_limit, "text/csv", SHAPE).count == MAX_BODY_BYTES // len(row)
    e = refused(at_limit + b"1" * (MAX_BODY_BYTES - len(at_limit) + 1))
    assert e.status == 413 and "6 MB" in e.message


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"1,2,\xff\n", "not UTF-8 (byte 0xff at offset 4)"),
        (b"age,bmi,bp\n1,2,3\n", "row 1 looks like a header"),
        (b"1,2,3\n4,nan,6\n", "row 2, column 2 is 'nan', not a finite number"),
        (b"1,2,-Infinity\n", "row 1, column 3 is '-Infinity', not a finite number"),
        (b"1,2,3\n4,5\n", "row 2 has 2 columns, the model takes 3"),
        (b"1,2,abc\n", "row 1, column 3 is 'abc', not a number"),
        (b"  \n", "the request body is empty"),
    ],
)
def test_bad_csv_is_refused_with_one_sentence(body: bytes, says: str) -> None:
    e = refused(body)
    assert e.status == 400 and says in e.message


def test_an_empty_field_is_a_missing_value_and_passes() -> None:
    rows = validate(b"1,,3\r\n,2.5e-1, 4\n", "text/csv; charset=utf-8", SHAPE)
    assert rows.csv == b"1,,3\n,2.5e-1,4" and rows.count == 2


def test_json_instances_and_records_become_csv_in_column_order() -> None:
    assert validate(b'{"instances": [[1, null, 0.5]]}', "application/json", SHAPE).csv == b"1,,0.5"
    records = b'{"records": [{"bp": 3, "age": 1, "bmi": null}]}'
    assert validate(records, "application/json", SHAPE).csv == b"1,,3"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"records": [{"age": 1, "bmi": 2, "bp": 3, "sex": 1}]}', "names 'sex', not a feature"),
        (b'{"records": [{"age": 1, "bmi": 2}]}', "lacks 'bp'"),
        (b'{"instances": [[1, NaN, 3]]}', "holds NaN, not a finite number"),
        (b'{"instances": [[1, 1e999, 3]]}', "not a finite number"),
        (b'{"instances": [[1, "2", 3]]}', 'row 1, column 2 is "2", not a number'),
        (b'{"instances": [[1, 2]]}', "row 1 has 2 columns"),
        (b'{"rows": [[1, 2, 3]]}', 'one object with "instances"'),
        (b"[1, 2", "not JSON"),
    ],
)
def test_bad_json_is_refused_with_one_sentence(body: bytes, says: str) -> None:
    e = refused(body, "application/json")
    assert e.status == 400 and says in e.message


def test_a_file_source_is_named_with_its_line() -> None:
    with pytest.raises(BodyError) as e:
        validate(b"1,2,3\n4,inf,6\n", "text/csv", SHAPE, source="rows.csv")
    assert e.value.format().startswith("rows.csv:2: row 2, column 2 is 'inf'")


def test_an_unknown_content_type_is_refused() -> None:
    assert "text/csv or application/json" in refused(b"1 1:2", "text/libsvm").message
