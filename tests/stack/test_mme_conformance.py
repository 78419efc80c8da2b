"""Conformance table: the local multi-model endpoint answers each request shape as a real
SageMaker XGBoost multi-model endpoint does, through boto3's own sagemaker-runtime client.

Expected values are read from the real serving code (fetched, read, not copied):
- XGB = github.com/aws/sagemaker-xgboost-container @ cb8df91, src/sagemaker_xgboost_container/
  (algorithm_mode/handler_service.py, mms_patch/mms_transformer.py, algorithm_mode/
  serve_utils.py, encoder.py, data_utils.py);
- TK = github.com/aws/sagemaker-inference-toolkit @ f79853d, src/sagemaker_inference/;
- MMS = github.com/awslabs/multi-model-server @ 706aa9c;
- SM = botocore's sagemaker-runtime service model (InvokeEndpointInput limits, error shapes).

Every handler error becomes MMS's 503 "Prediction failed": XGB mms_transformer.py:80,82 calls
`handle_error(context, e.status_code, e.message)` (or reads `e.message` of a plain
RuntimeError), TK transformer.py:89 takes `(context, inference_exception, trace)`, so an
AttributeError escapes to MMS mms/service.py:115-117 (503), whose body MMS NettyUtils.java:
135-140 writes with Job.java:130's InternalServerException. The runtime wraps any container
answer other than 200 as ModelError (SM: httpStatusCode 424, OriginalStatusCode,
OriginalMessage).
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import tarfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError

from helpers import create_multi_model, runtime_client, settle_endpoint
from mmeops.artifact import pack, pack_file
from mmeops.config.repo import load_repo
from mmeops.stack.embedded import EmbeddedStack

PREDICTION_FAILED = (
    '{\n  "code": 503,\n  "type": "InternalServerException",\n  "message": "Prediction failed"\n}\n'
)
ROWS = np.array([[0.1, 0.9, 0.3, 0.5, 0.7], [0.8, 0.2, 0.6, 0.4, 0.05], [0.5] * 5])


def _train(objective: str, seed: int, **params) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    X = rng.random((300, 5))
    if objective == "multi:softprob":
        y = (X[:, 0] * 3).astype(int).astype(float)
    else:
        y = X[:, 0] * 3 + X[:, 1]
    p = {"objective": objective, "max_depth": 3, **params}
    return xgb.train(p, xgb.DMatrix(X, label=y), 15)


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, raw in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return out.getvalue()


@dataclass
class Models:
    reg: xgb.Booster
    other: xgb.Booster
    softprob: xgb.Booster

    def predict(self, booster: xgb.Booster, rows: np.ndarray) -> np.ndarray:
        return booster.predict(xgb.DMatrix(rows), validate_features=False)

    def csv_line(self, pred: np.ndarray) -> str:
        # handler_service.py:104: ",".join(map(str, prediction.tolist()))
        return ",".join(map(str, pred.tolist()))


@pytest.fixture(scope="module")
def mme(stack):
    """An MME whose prefix holds the models and the archives the table needs."""
    env = load_repo(stack.repo_root).envs["sandbox"]
    sandbox = EmbeddedStack.current.admin(env.account_id, env.region)  # the emulation's operator
    name = f"mme-conf-{uuid.uuid4().hex[:8]}"
    models = Models(
        _train("reg:squarederror", 1),
        _train("reg:squarederror", 2),
        _train("multi:softprob", 3, num_class=3),
    )
    raw = bytes(models.reg.save_raw("ubj"))
    artifacts = {
        "reg.tar.gz": pack(models.reg),
        "pickled.tar.gz": pack_file(pickle.dumps(models.reg)),
        "softprob.tar.gz": pack(models.softprob),
        "two-files.tar.gz": _tar({"a-model": raw, "b-model": bytes(models.other.save_raw("ubj"))}),
        "dotfile.tar.gz": _tar({".DS_Store": b"junk", "xgboost-model": raw}),
        "only-dotfile.tar.gz": _tar({".xgboost-model": raw}),
        "in-subdir.tar.gz": _tar({"model/xgboost-model": raw}),
        "not-a-model.tar.gz": pack_file(b"this is not a model"),
    }
    for target, data in artifacts.items():
        sandbox.put_bytes(env.artifact_bucket, f"{name}/{target}", data)
    create_multi_model(sandbox, name, env.account_id, f"s3://{env.artifact_bucket}/{name}/")
    sandbox.call(
        "sagemaker",
        "create_endpoint_config",
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sandbox.call("sagemaker", "create_endpoint", EndpointName=name, EndpointConfigName=name)
    settle_endpoint(sandbox, name)  # Creating → InService: the runtime routes only then
    client = runtime_client(sandbox)
    return name, client, models


def _csv(rows: np.ndarray, sep: str = ",") -> str:
    return "\n".join(sep.join(repr(float(v)) for v in row) for row in rows)


def _libsvm(rows: np.ndarray, label: str = "") -> str:
    lines = []
    for row in rows:
        items = " ".join(f"{i + 1}:{v!r}" for i, v in enumerate(row.tolist()))
        lines.append(f"{label} {items}".strip())
    return "\n".join(lines)


def _recordio(rows: np.ndarray) -> bytes:
    """RecordIO-protobuf written by hand from the documented wire format (AWS docs, "Common
    data formats for training": Record.features=1 map<string, Value>, Value.float32_tensor=2,
    Float32Tensor.values=1 packed; RecordIO: magic 0xCED7230A, length, 4-byte padding)."""

    def field(number: int, payload: bytes) -> bytes:  # wire type 2; lengths here are < 128
        return bytes([number << 3 | 2, len(payload)]) + payload

    out = b""
    for row in rows:
        tensor = field(1, struct.pack(f"<{len(row)}f", *row))
        entry = field(1, b"values") + field(2, field(2, tensor))
        record = field(1, entry)
        out += struct.pack("<II", 0xCED7230A, len(record)) + record
        out += b"\0" * (-len(record) % 4)
    return out


@dataclass
class Case:
    id: str
    cite: str
    request: dict
    status: int = 200
    code: str | None = None  # the error code botocore raises, for a status other than 200
    content_type: str | None = None
    body: Callable[[Models], str] | None = None  # the exact response body
    original_status: int | None = None
    original_message: str | None = None
    message_has: str = ""
    target: str = "reg.tar.gz"


def _failed(cid: str, cite: str, target: str = "reg.tar.gz", **request) -> Case:
    return Case(
        cid,
        cite,
        request,
        424,
        "ModelError",
        original_status=503,
        original_message=PREDICTION_FAILED,
        target=target,
    )


def _line(m: Models, rows: np.ndarray = ROWS) -> str:
    return m.csv_line(m.predict(m.reg, rows))


def _json(m: Models, rows: np.ndarray = ROWS) -> str:
    return json.dumps(m.predict(m.reg, rows).tolist())


CSV = _csv(ROWS)
CASES = [
    # --- Accept: response encoding and content type
    Case(
        "accept-csv",
        "handler_service.py:99-105 one line",
        {"ContentType": "text/csv", "Accept": "text/csv", "Body": CSV},
        content_type="text/csv",
        body=_line,
    ),
    Case(
        "accept-none",
        "mms_transformer.py:62-63; TK environment.py:87-89",
        {"ContentType": "text/csv", "Body": CSV},
        content_type="application/json",
        body=_json,
    ),
    Case(
        "accept-any",
        "mms_transformer.py:62-63",
        {"ContentType": "text/csv", "Accept": "*/*", "Body": CSV},
        content_type="application/json",
        body=_json,
    ),
    Case(
        "accept-json",
        "handler_service.py:106-107; TK encoder.py:25-44",
        {"ContentType": "text/csv", "Accept": "application/json", "Body": CSV},
        content_type="application/json",
        body=_json,
    ),
    Case(
        "accept-upper-csv",
        "handler_service.py:97 lower(); mms_transformer.py:68,75 echo",
        {"ContentType": "text/csv", "Accept": "TEXT/CSV", "Body": CSV},
        content_type="TEXT/CSV",
        body=_line,
    ),
    Case(
        "accept-bare-csv",
        "handler_service.py:99 accept_type == 'csv'",
        {"ContentType": "text/csv", "Accept": "csv", "Body": CSV},
        content_type="csv",
        body=_line,
    ),
    _failed(
        "accept-bare-json",
        "handler_service.py:106-107 then TK encoder.py:106-110 KeyError",
        ContentType="text/csv",
        Accept="json",
        Body=CSV,
    ),
    _failed(
        "accept-csv-charset",
        "handler_service.py:99-116: exact match only",
        ContentType="text/csv",
        Accept="text/csv; charset=utf-8",
        Body=CSV,
    ),
    _failed(
        "accept-recordio",
        "handler_service.py:108-116",
        ContentType="text/csv",
        Accept="application/x-recordio-protobuf",
        Body=CSV,
    ),
    _failed(
        "accept-list",
        "handler_service.py:108-116 (no list parsing)",
        ContentType="text/csv",
        Accept="application/json, text/csv",
        Body=CSV,
    ),
    # --- Content-Type: request parsing
    Case(
        "ct-csv-charset",
        "data_utils.py:98-109 cgi.parse_header",
        {"ContentType": "text/csv; charset=utf-8", "Accept": "text/csv", "Body": CSV},
        content_type="text/csv",
        body=_line,
    ),
    Case(
        "ct-csv-label-size-1",
        "data_utils.py:103",
        {"ContentType": "text/csv;label_size=1", "Accept": "text/csv", "Body": CSV},
        content_type="text/csv",
        body=_line,
    ),
    _failed(
        "ct-csv-label-size-2",
        "data_utils.py:103-108 UserError",
        ContentType="text/csv;label_size=2",
        Body=CSV,
    ),
    Case(
        "ct-bare-csv",
        "data_utils.py:100",
        {"ContentType": "csv", "Accept": "text/csv", "Body": CSV},
        content_type="text/csv",
        body=_line,
    ),
    Case(
        "ct-upper-csv",
        "data_utils.py:98 lower()",
        {"ContentType": "TEXT/CSV", "Accept": "text/csv", "Body": CSV},
        content_type="text/csv",
        body=_line,
    ),
    Case(
        "ct-none-is-libsvm",
        "data_utils.py:92-93; serve_utils.py:134-137",
        {"Accept": "text/csv", "Body": _libsvm(ROWS)},
        content_type="text/csv",
        body=_line,
    ),
    Case(
        "ct-libsvm",
        "data_utils.py:110-111",
        {"ContentType": "text/libsvm", "Accept": "text/csv", "Body": _libsvm(ROWS)},
        content_type="text/csv",
        body=_line,
    ),
    Case(
        "ct-x-libsvm",
        "data_utils.py:110-111",
        {"ContentType": "text/x-libsvm", "Accept": "text/csv", "Body": _libsvm(ROWS)},
        content_type="text/csv",
        body=_line,
    ),
    Case(
        "libsvm-with-label",
        "serve_utils.py:101-102 tokens without ':' skipped",
        {"ContentType": "text/libsvm", "Accept": "text/csv", "Body": _libsvm(ROWS, label="3.5")},
        content_type="text/csv",
        body=_line,
    ),
    Case(
        "ct-recordio-protobuf",
        "data_utils.py:114-115; serve_utils.py:143-151; recordio_protobuf.py:72-137",
        {
            "ContentType": "application/x-recordio-protobuf",
            "Accept": "text/csv",
            "Body": _recordio(ROWS),
        },
        content_type="text/csv",
        body=lambda m: _line(m, ROWS.astype(np.float32)),
    ),
    _failed(
        "recordio-bad-magic",
        "recordio_protobuf.py:35-37",
        ContentType="application/x-recordio-protobuf",
        Body=b"\0" * 16,
    ),
    _failed(
        "ct-json",
        "data_utils.py:116-117 UserError",
        ContentType="application/json",
        Body="[[0.1, 0.2]]",
    ),
    _failed(
        "ct-parquet",
        "data_utils.py:112-113 then serve_utils.py:152-153",
        ContentType="application/x-parquet",
        Body=b"PAR1",
    ),
    # --- CSV details
    Case(
        "csv-trailing-newline",
        "serve_utils.py:127 strip()",
        {"ContentType": "text/csv", "Accept": "text/csv", "Body": CSV + "\n\n"},
        content_type="text/csv",
        body=_line,
    ),
    Case(
        "csv-empty-field-is-nan",
        "encoder.py:31-32",
        {"ContentType": "text/csv", "Accept": "text/csv", "Body": "0.1,,0.3,0.5,0.7"},
        content_type="text/csv",
        body=lambda m: _line(m, np.array([[0.1, np.nan, 0.3, 0.5, 0.7]])),
    ),
    Case(
        "csv-semicolons",
        "encoder.py:47-48 sniffed delimiter",
        {"ContentType": "text/csv", "Accept": "text/csv", "Body": _csv(ROWS, ";")},
        content_type="text/csv",
        body=_line,
    ),
    Case(
        "csv-tabs",
        "encoder.py:47-48 sniffed delimiter",
        {"ContentType": "text/csv", "Accept": "text/csv", "Body": _csv(ROWS, "\t")},
        content_type="text/csv",
        body=_line,
    ),
    _failed(
        "csv-header-row",
        "encoder.py:51 astype(float); serve_utils.py:129-133",
        ContentType="text/csv",
        Body="a,b,c,d,e\n" + CSV,
    ),
    _failed(
        "csv-ragged-rows",
        "encoder.py:51 np.array of unequal rows",
        ContentType="text/csv",
        Body="0.1,0.2,0.3,0.4,0.5\n0.1,0.2",
    ),
    _failed(
        "csv-empty-body",
        "handler_service.py:70-71 NoContentInferenceError",
        ContentType="text/csv",
        Body=b"",
    ),
    # --- feature counts
    Case(
        "csv-fewer-columns-scored",
        "serve_utils.py:203 checks pickles only; xgboost scores",
        {"ContentType": "text/csv", "Accept": "text/csv", "Body": _csv(ROWS[:, :4])},
        content_type="text/csv",
        body=lambda m: _line(m, ROWS[:, :4]),
    ),
    _failed(
        "csv-more-columns",
        "serve_utils.py:244-250; handler_service.py:86-87",
        ContentType="text/csv",
        Body=_csv(np.hstack([ROWS, ROWS[:, :1]])),
    ),
    Case(
        "pickle-one-fewer-column",
        "serve_utils.py:218-219 x == y + 1",
        {"ContentType": "text/csv", "Accept": "text/csv", "Body": _csv(ROWS[:, :4])},
        content_type="text/csv",
        body=lambda m: _line(m, ROWS[:, :4]),
        target="pickled.tar.gz",
    ),
    _failed(
        "pickle-two-fewer-columns",
        "serve_utils.py:218-223",
        "pickled.tar.gz",
        ContentType="text/csv",
        Body=_csv(ROWS[:, :3]),
    ),
    Case(
        "softprob-csv-lists",
        "handler_service.py:104 str() of each row's list",
        {"ContentType": "text/csv", "Accept": "text/csv", "Body": CSV},
        content_type="text/csv",
        body=lambda m: m.csv_line(m.predict(m.softprob, ROWS)),
        target="softprob.tar.gz",
    ),
    # --- archives
    Case(
        "archive-two-files-ensemble",
        "serve_utils.py:171-173,252-260,551-552",
        {"ContentType": "text/csv", "Accept": "text/csv", "Body": CSV},
        content_type="text/csv",
        body=lambda m: m.csv_line(
            np.mean([m.predict(m.reg, ROWS), m.predict(m.other, ROWS)], axis=0)
        ),
        target="two-files.tar.gz",
    ),
    Case(
        "archive-dotfile-ignored",
        "serve_utils.py:162-166",
        {"ContentType": "text/csv", "Accept": "text/csv", "Body": CSV},
        content_type="text/csv",
        body=_line,
        target="dotfile.tar.gz",
    ),
    Case(
        "archive-only-dotfile",
        "serve_utils.py:172 [0:1] empty; handler_service.py:51-54",
        {"ContentType": "text/csv", "Body": CSV},
        424,
        "ModelError",
        original_status=500,
        message_has="Unable to load model",
        target="only-dotfile.tar.gz",
    ),
    Case(
        "archive-subdir-only",
        "serve_utils.py:158-161 isfile at top level only",
        {"ContentType": "text/csv", "Body": CSV},
        424,
        "ModelError",
        original_status=500,
        message_has="Unable to load model",
        target="in-subdir.tar.gz",
    ),
    Case(
        "archive-not-a-model",
        "serve_utils.py:179-192",
        {"ContentType": "text/csv", "Body": CSV},
        424,
        "ModelError",
        original_status=500,
        message_has="cannot be loaded",
        target="not-a-model.tar.gz",
    ),
    # --- the runtime's own limits
    Case(
        "target-model-too-long",
        "SM TargetModel max 1024",
        {"ContentType": "text/csv", "Body": CSV},
        400,
        "ValidationError",
        message_has="1024",
        target="m/" + "x" * 1023,
    ),
    Case(
        "body-over-6-mb",
        "SM Body max 6291456",
        {"ContentType": "text/csv", "Body": b"0" * (6 * 1024 * 1024 + 1)},
        400,
        "ValidationError",
        message_has="6291456",
    ),
    Case(
        "target-model-relative-path",
        "MMS ModelArchive.java:77",
        {"ContentType": "text/csv", "Body": CSV},
        400,
        "ValidationError",
        message_has="../x.tar.gz",
        target="../x.tar.gz",
    ),
    Case(
        "target-model-missing-object",
        "AWS docs, invoke a multi-model endpoint",
        {"ContentType": "text/csv", "Body": CSV},
        400,
        "ValidationError",
        message_has="nope/v9.tar.gz",
        target="nope/v9.tar.gz",
    ),
]


def test_the_table_covers_at_least_thirty_request_shapes():
    assert len({c.id for c in CASES}) == len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_request_shape_answers_as_the_container_does(mme, case: Case):
    name, client, models = mme
    request = {"EndpointName": name, "TargetModel": case.target, **case.request}
    if case.status == 200:
        r = client.invoke_endpoint(**request)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert r["ContentType"] == case.content_type
        assert case.body is not None
        assert r["Body"].read().decode() == case.body(models)
        return
    with pytest.raises(ClientError) as e:
        client.invoke_endpoint(**request)
    response = e.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == case.status
    assert response["Error"]["Code"] == case.code
    if case.original_status is not None:
        assert response["OriginalStatusCode"] == case.original_status
    if case.original_message is not None:
        assert response["OriginalMessage"] == case.original_message
    assert case.message_has in response["Error"]["Message"]
