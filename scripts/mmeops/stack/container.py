"""What the SageMaker XGBoost container does with one request in multi-model mode.

In a multi-model endpoint the container runs multi-model-server with the sagemaker-inference
toolkit and its own `algorithm_mode/handler_service.py` + `mms_patch/mms_transformer.py`
(github.com/aws/sagemaker-xgboost-container), not the Flask app single-model endpoints use.
Everything here follows that code, file and line in the docstrings; tests/stack/
test_mme_conformance.py checks each rule through boto3.

The surprise worth knowing: every error the handler raises while parsing, predicting or
encoding reaches the client as multi-model-server's HTTP 503 "Prediction failed", because
`XGBMMSTransformer.transform` calls `self.handle_error(context, e.status_code, e.message)`
(mms_transformer.py:80,82), a signature the toolkit's `handle_error(context,
inference_exception, trace)` does not have (transformer.py:89): the AttributeError it raises
escapes to multi-model-server's `Service.predict`, which answers 503 (mms/service.py:115-117).
The handler's intended message only reaches the container's log.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import pickle
import posixpath
import tarfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost
from scipy.sparse import csr_matrix

from mmeops.stack import recordio

log = logging.getLogger(__name__)

PKL_FORMAT, XGB_FORMAT = "pkl_format", "xgb_format"


class ContainerError(Exception):
    """An answer other than 200 from the container: its status and its body."""

    def __init__(self, status: int, body: str, reason: str = ""):
        super().__init__(body)
        self.status, self.body, self.reason = status, body, reason


def mms_error(status: int, message: str) -> str:
    """multi-model-server's error body: GSON pretty-printed {code, type, message} and a newline
    (NettyUtils.sendError/sendJsonResponse; Job.sendError wraps the worker's message in an
    InternalServerException, Job.java:122-130)."""
    body = {"code": status, "type": "InternalServerException", "message": message}
    return json.dumps(body, indent=2) + "\n"


def prediction_failed(reason: str) -> ContainerError:
    """Any error raised inside `transform` (see the module docstring): 503 on the wire; the
    reason is what the handler meant to say, logged as the container would log it."""
    log.info("container: %s -> 503 Prediction failed", reason)
    return ContainerError(503, mms_error(503, "Prediction failed"), reason)


# --- loading (serve_utils.get_loaded_booster) ------------------------------------------------


@dataclass(frozen=True)
class LoadedModel:
    boosters: tuple[Any, ...]
    formats: tuple[str, ...]
    size: int  # bytes of the model files, for the cache's cost


def load_archive(data: bytes) -> LoadedModel:
    """Load a model.tar.gz as the container does once it is extracted into the model dir:
    every regular file at the top level (serve_utils.py:158-168 lists the directory, skipping
    dotfiles and subdirectories), each unpickled or else `Booster.load_model`
    (serve_utils.py:179-192). Ensembles are on by default (`SAGEMAKER_INFERENCE_ENSEMBLE`
    defaults to "true", serve_utils.py:551-552), so several files load as an ensemble whose
    prediction is their mean (serve_utils.py:252-260). Errors become the handler's
    "Unable to load model: ..." (handler_service.py:51-54, inference_errors.py:28-33)."""
    try:
        files = _top_level_files(data)
        if not files:
            raise IndexError("list index out of range")  # full_model_paths[0:1] was empty
        loaded = [_load_one(name, raw) for name, raw in files]
    except Exception as e:
        message = f"Unable to load model: Unable to load model: {e}"
        raise ContainerError(500, mms_error(500, message), message) from None
    return LoadedModel(
        tuple(b for b, _ in loaded),
        tuple(f for _, f in loaded),
        sum(len(raw) for _, raw in files),
    )


def _top_level_files(data: bytes) -> list[tuple[str, bytes]]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for m in tar.getmembers():
            name = posixpath.normpath(m.name)
            if not m.isfile() or "/" in name or name.startswith("."):
                continue
            extracted = tar.extractfile(m)
            assert extracted is not None
            out.append((name, extracted.read()))
    return sorted(out)  # os.listdir order is arbitrary; a sorted one keeps runs repeatable


def _load_one(name: str, raw: bytes) -> tuple[Any, str]:
    try:
        # The container trusts its artifacts the same way; they come from our own bucket.
        return pickle.loads(raw), PKL_FORMAT  # noqa: S301
    except Exception as exp_pkl:
        try:
            booster = xgboost.Booster()
            booster.load_model(bytearray(raw))
            return booster, XGB_FORMAT
        except Exception as exp_xgb:
            raise RuntimeError(
                f"Model /opt/ml/models/model/{name} cannot be loaded:"
                f"\nPickle load error={exp_pkl}\nXGB load model error={exp_xgb}"
            ) from None


# --- parsing (serve_utils.parse_content_data, data_utils.get_content_type) --------------------

CSV, LIBSVM, PARQUET, RECORDIO = "csv", "libsvm", "parquet", "recordio-protobuf"


def content_kind(content_type: str | None) -> str:
    """data_utils.get_content_type (data_utils.py:81-117): no Content-Type is libsvm;
    parameters are allowed, but a CSV `label_size` other than 1 is refused."""
    if content_type is None:
        return LIBSVM
    kind, params = _parse_header(content_type.lower())
    if kind in (CSV, "text/csv"):
        if params.get("label_size", "1") != "1":
            raise prediction_failed(f"{content_type} is not an accepted csv ContentType")
        return CSV
    if kind in (LIBSVM, "text/libsvm", "text/x-libsvm"):
        return LIBSVM
    if kind in (PARQUET, "application/x-parquet"):
        return PARQUET
    if kind in (RECORDIO, "application/x-recordio-protobuf"):
        return RECORDIO
    raise prediction_failed(f"{content_type} is not an accepted ContentType")


def _parse_header(value: str) -> tuple[str, dict[str, str]]:
    """cgi.parse_header's split (the container still uses the deprecated module): the media
    type, then `key=value` parameters, quotes dropped."""
    head, *rest = value.split(";")
    params = {}
    for part in rest:
        key, sep, val = part.partition("=")
        if sep:
            params[key.strip()] = val.strip().strip('"')
    return head.strip(), params


def parse(body: bytes, content_type: str | None) -> tuple[xgboost.DMatrix, str]:
    """The request body as the DMatrix the handler predicts on (handler_service.py:57-73)."""
    if len(body) == 0:  # NoContentInferenceError, handler_service.py:70-71
        raise prediction_failed("no content")
    kind = content_kind(content_type)
    if kind == CSV:
        try:
            return _csv_matrix(body.strip().decode("utf-8")), kind
        except Exception as e:
            raise prediction_failed(f"Loading csv data failed with Exception: {e}") from None
    if kind == LIBSVM:
        try:
            return xgboost.DMatrix(_libsvm_matrix(body.strip().decode("utf-8"))), kind
        except Exception as e:
            raise prediction_failed(f"Loading libsvm data failed with Exception: {e}") from None
    if kind == RECORDIO:  # serve_utils.py:143-151, encoder.py:90-99
        try:
            return xgboost.DMatrix(recordio.read_features(body)), kind
        except Exception as e:
            raise prediction_failed(f"Loading recordio-protobuf data failed: {e}") from None
    # parquet passes get_content_type but parse_content_data has no branch for it
    # (serve_utils.py:152-153).
    raise prediction_failed(f"Content-type {content_type} is not supported.")


def _csv_matrix(text: str) -> xgboost.DMatrix:
    """encoder.csv_to_dmatrix (encoder.py:35-52): the delimiter sniffed from the first line's
    first 512 characters (an alphanumeric guess means ","), empty fields are NaN, and every
    row must have as many fields as the others."""
    sniffed = csv.Sniffer().sniff(text.split("\n")[0][:512]).delimiter
    delimiter = "," if sniffed.isalnum() else sniffed
    rows = [["nan" if x == "" else x for x in line.split(delimiter)] for line in text.split("\n")]
    return xgboost.DMatrix(np.array(rows).astype(float))


def _libsvm_matrix(text: str) -> csr_matrix:
    """serve_utils._get_sparse_matrix_from_libsvm (serve_utils.py:94-118): `index:value`
    tokens split on single spaces, a leading label ignored, 1-based indices shifted to 0."""
    row, col, data = [], [], []
    for i, line in enumerate(text.split("\n")):
        for item in line.split(" "):
            if ":" in item:
                row.append(i)
                col.append(int(item.split(":")[0]))
                data.append(item.split(":")[1])
    cols = np.array(col).astype(int)
    if len(cols) > 0 and cols.min() >= 1:
        cols = cols - 1
    return csr_matrix((np.array(data).astype(float), (np.array(row), cols)))


# --- predicting (serve_utils.predict) --------------------------------------------------------


def predict(model: LoadedModel, matrix: xgboost.DMatrix, kind: str) -> np.ndarray:
    """serve_utils.predict (serve_utils.py:200-262), wrapped in BadRequestInferenceError by
    handler_service.py:84-87. A pickled model checks the column count first (CSV: equal, or
    one fewer; libsvm: at most one more); a `load_model` one does not, and xgboost scores a
    row with fewer columns than the model (the rest are missing) and refuses more."""
    try:
        if model.formats[0] == PKL_FORMAT:
            _check_pickled(model.boosters[0], matrix, kind)
        outputs = [_predict_one(b, matrix) for b in model.boosters]
        return outputs[0] if len(outputs) == 1 else np.mean(outputs, axis=0)
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise prediction_failed(f"Unable to evaluate payload provided: {first}") from None


def _check_pickled(booster: Any, matrix: xgboost.DMatrix, kind: str) -> None:
    x = booster.num_features()
    y = len(matrix.feature_names) if matrix.feature_names is not None else matrix.num_col()
    if kind == LIBSVM and y > x + 1:
        raise ValueError(f"Feature size of libsvm inference data {y} is larger than {x}.")
    if kind == CSV and not (x == y or x == y + 1):
        raise ValueError(f"Feature size of csv inference data {y} is not consistent with {x}.")


def _predict_one(booster: Any, matrix: xgboost.DMatrix) -> np.ndarray:
    best = getattr(booster, "best_ntree_limit", 0) or 0
    if best > 0:
        return booster.predict(matrix, iteration_range=(0, best), validate_features=False)
    return booster.predict(matrix, validate_features=False)


# --- encoding (handler_service.default_output_fn, mms_transformer.transform) ----------------

DEFAULT_ACCEPT = "application/json"  # toolkit environment.py:87-89, no env override set


def encode(prediction: np.ndarray, accept: str | None) -> tuple[bytes, str]:
    """The response body and its content type. A missing or `*/*` Accept is the toolkit's
    default, application/json (mms_transformer.py:60-63); the content type echoes the Accept
    as sent (mms_transformer.py:67-75). `text/csv` (or `csv`, any case) joins every prediction
    with commas on ONE line, str() of each, a multi-output row as a Python list: upstream
    marks it FIXME (handler_service.py:99-105). `application/json` is a JSON array (toolkit
    encoder._array_to_json); `json` passes the handler's check (line 106) but the toolkit's
    encoder has no entry for it, so it fails like any other. Anything else, parameters
    included, is refused (handler_service.py:108-116)."""
    if not accept or accept == "*/*":
        accept = DEFAULT_ACCEPT
    kind = accept.lower()
    if kind in ("text/csv", "csv"):
        return ",".join(map(str, prediction.tolist())).encode("utf-8"), accept
    if kind == "application/json":  # "json" passes the check but has no encoder: refused
        return json.dumps(prediction.tolist()).encode("utf-8"), accept
    raise prediction_failed(
        f"Encoding to accept type {accept} failed with exception: {accept} is not an "
        "accepted Accept type."
    )
