"""application/x-recordio-protobuf requests, read as the SageMaker XGBoost container reads them.

The record schema is SageMaker's `aialgs.data.Record` (AWS docs, "Common data formats for
training": Record{features=1, label=2 maps of string -> Value}, Value{float32_tensor=2,
float64_tensor=3, int32_tensor=7, bytes=9}, each tensor {values=1, keys=2, shape=3}, packed),
built here with protobuf's own descriptors rather than generated code. The framing and the
matrix follow the container's recordio_protobuf.py (`_read_recordio_records`,
`read_recordio_protobuf`): magic 0xCED7230A and a length, records padded to 4 bytes; the
feature named "values" of each record is one row, sparse when it has keys.
"""

from __future__ import annotations

import struct
from functools import cache

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from scipy.sparse import csr_matrix
from scipy.sparse import vstack as sparse_vstack

MAGIC = 0xCED7230A
_F = descriptor_pb2.FieldDescriptorProto


def _message(file: descriptor_pb2.FileDescriptorProto, name: str, fields: list) -> None:
    msg = file.message_type.add(name=name)
    for field_name, number, kind, label, type_name in fields:
        f = msg.field.add(name=field_name, number=number, type=kind, label=label)
        if type_name:
            f.type_name = type_name
        if label == _F.LABEL_REPEATED and kind not in (_F.TYPE_MESSAGE, _F.TYPE_BYTES):
            f.options.packed = True


@cache
def record_class() -> type:
    """The Record message class, from its schema."""
    file = descriptor_pb2.FileDescriptorProto(
        name="mmeops_record.proto", package="aialgs.data", syntax="proto2"
    )
    rep, opt = _F.LABEL_REPEATED, _F.LABEL_OPTIONAL
    for name, value_type in (
        ("Float32Tensor", _F.TYPE_FLOAT),
        ("Float64Tensor", _F.TYPE_DOUBLE),
        ("Int32Tensor", _F.TYPE_INT32),
    ):
        _message(
            file,
            name,
            [
                ("values", 1, value_type, rep, ""),
                ("keys", 2, _F.TYPE_UINT64, rep, ""),
                ("shape", 3, _F.TYPE_UINT64, rep, ""),
            ],
        )
    _message(
        file,
        "Bytes",
        [("value", 1, _F.TYPE_BYTES, rep, ""), ("content_type", 2, _F.TYPE_STRING, opt, "")],
    )
    m = _F.TYPE_MESSAGE
    _message(
        file,
        "Value",
        [
            ("float32_tensor", 2, m, opt, ".aialgs.data.Float32Tensor"),
            ("float64_tensor", 3, m, opt, ".aialgs.data.Float64Tensor"),
            ("int32_tensor", 7, m, opt, ".aialgs.data.Int32Tensor"),
            ("bytes", 9, m, opt, ".aialgs.data.Bytes"),
        ],
    )
    record = file.message_type.add(name="Record")
    for map_name, number, entry in (("features", 1, "FeaturesEntry"), ("label", 2, "LabelEntry")):
        e = record.nested_type.add(name=entry)
        e.options.map_entry = True
        e.field.add(name="key", number=1, type=_F.TYPE_STRING, label=opt)
        e.field.add(name="value", number=2, type=m, label=opt, type_name=".aialgs.data.Value")
        record.field.add(
            name=map_name,
            number=number,
            type=m,
            label=rep,
            type_name=f".aialgs.data.Record.{entry}",
        )
    for name, number in (("uid", 3), ("metadata", 4), ("configuration", 5)):
        record.field.add(name=name, number=number, type=_F.TYPE_STRING, label=opt)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("aialgs.data.Record"))


def records(buf: bytes):
    """The record payloads of a RecordIO buffer."""
    offset = 0
    while offset + 8 <= len(buf):
        magic, length = struct.unpack_from("<II", buf, offset)
        if magic != MAGIC:
            raise ValueError(f"Invalid RecordIO magic at offset {offset}")
        offset += 8
        padded = (length + 3) // 4 * 4
        if offset + padded > len(buf):
            raise ValueError(f"Truncated record at offset {offset}")
        yield buf[offset : offset + length]
        offset += padded


def _tensor(value) -> tuple[np.ndarray | None, np.ndarray | None, list | None]:
    for name, dtype in (
        ("float32_tensor", np.float32),
        ("float64_tensor", np.float64),
        ("int32_tensor", np.int32),
    ):
        if value.HasField(name):
            t = getattr(value, name)
            keys = np.array(t.keys, dtype=np.uint64) if t.keys else None
            return np.array(t.values, dtype=dtype), keys, list(t.shape) or None
    return None, None, None


def read_features(buf: bytes):
    """The feature matrix (dense array, or CSR when any record is sparse)."""
    rows, sparse = [], False
    record_type = record_class()
    for payload in records(bytes(buf)):
        record = record_type()
        record.ParseFromString(payload)
        if "values" not in record.features:
            continue
        values, keys, shape = _tensor(record.features["values"])
        if values is None:
            if shape:
                sparse = True
                rows.append(csr_matrix((1, int(shape[0])), dtype=np.float32))
            continue
        if keys is not None:
            sparse = True
            ncols = int(shape[0]) if shape else int(keys.max()) + 1 if len(keys) else 1
            rows.append(
                csr_matrix((values, keys.astype(np.int64), [0, len(keys)]), shape=(1, ncols))
            )
        else:
            rows.append(values.reshape(1, -1))
    if not rows:
        raise ValueError("No records found in RecordIO-Protobuf data")
    return sparse_vstack(rows).tocsr() if sparse else np.vstack(rows)
