"""Helpers shared by test modules in several folders (tests/ is on sys.path: conftest.py's
folder, in pytest's default import mode)."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import psycopg2


def warehouse_sql(statements: str, *params) -> None:
    """Run `statements` in the test warehouse (MMEOPS_WAREHOUSE_DSN), committed."""
    conn = psycopg2.connect(os.environ["MMEOPS_WAREHOUSE_DSN"])
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statements, params or None)
    finally:
        conn.close()


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def subscribed_queue(aws, name: str) -> tuple[str, str]:
    """The template's topic (`mmeops-events`, infra/bootstrap.yaml's TopicName: the one the
    training and monitor roles may publish to) with a new SQS queue subscribed (raw
    delivery): (topic ARN, queue URL). Seeded as the stack's admin in `aws`'s account: the
    product's roles only publish."""
    from mmeops.stack.embedded import EmbeddedStack

    aws = EmbeddedStack.current.admin(aws.account_id, aws.region)
    topic = aws.call("sns", "create_topic", Name="mmeops-events")["TopicArn"]
    queue_url = aws.call("sqs", "create_queue", QueueName=f"{name}-events")["QueueUrl"]
    queue_arn = aws.call(
        "sqs", "get_queue_attributes", QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    aws.call(
        "sns",
        "subscribe",
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return topic, queue_url


def received(aws, queue_url: str) -> list[dict]:
    """The JSON messages waiting on the queue (read as the stack's admin, like the set-up)."""
    import json

    from mmeops.stack.embedded import EmbeddedStack

    aws = EmbeddedStack.current.admin(aws.account_id, aws.region)
    messages = aws.call("sqs", "receive_message", QueueUrl=queue_url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"


def execution_role(account_id: str) -> str:
    """The account's SageMaker execution role (infra/bootstrap.yaml's ExecutionRole, named as
    mmeops.yaml names it): what a model's fleet reads its target models as."""
    name = "mmeops-sagemaker-execution"
    return f"arn:aws:iam::{account_id}:role/{name}"


def create_multi_model(
    sagemaker, name: str, account_id: str, model_data_url: str, role_arn: str = ""
) -> None:
    """A SageMaker model in MultiModel mode whose target models live under `model_data_url`
    (`sagemaker` is an mmeops.aws.Aws of the account), run as `role_arn`, by default the
    account's execution role."""
    sagemaker.call(
        "sagemaker",
        "create_model",
        ModelName=name,
        ExecutionRoleArn=role_arn or execution_role(account_id),
        PrimaryContainer={
            "Image": XGBOOST_IMAGE,
            "Mode": "MultiModel",
            "ModelDataUrl": model_data_url,
        },
    )


_UIDS: set[str] = set()  # the uids isolate() gave out in this process


def isolate(root: Path, tag: str) -> str:
    """Give the repo copy's environments their own accounts, artifact prefixes and endpoint
    names on the shared stack (`<tag><uid>/`, `mme-<env>-<uid>`); returns the uid."""
    uid = uuid.uuid4().hex[:6]
    while uid in _UIDS:  # two worlds on one account: the second's prefix is never granted
        uid = uuid.uuid4().hex[:6]
    _UIDS.add(uid)
    for path in (root / "environments").glob("*.yaml"):
        text = path.read_text()
        text = re.sub(r"(artifact_prefix: s3://[^/]+/)mme/", rf"\g<1>{tag}{uid}/", text)
        text = re.sub(r"(  name: mme-[a-z]+)", rf"\g<1>-{uid}", text)
        path.write_text(text)
    fresh_accounts(root, uid)
    return uid


def fresh_accounts(root: Path, uid: str) -> None:
    """Move the repo copy's environments to fresh accounts and bootstrap them from
    infra/bootstrap.yaml with this copy's prefixes and endpoint names, as a platform team
    would (the roles then grant exactly this world's prefix and endpoint)."""
    for path in (root / "environments").glob("*.yaml"):
        text = path.read_text()
        account = re.search(r'^account_id: "?([0-9]{12})', text, re.M)
        if account is not None:  # a fresh account: the digits of the uid, never a real one
            # All of a 6-hex uid's value (8 digits): taken modulo 10**5 it gave two worlds of
            # one session the same account about once in 20 runs, and the second world's
            # roles never granted its prefix (AccessDenied on its manifest).
            fresh = "9" + str(int(uid, 16)).zfill(8)[-8:] + account.group(1)[:3]
            path.write_text(text.replace(account.group(1), fresh))
    from mmeops.stack.embedded import EmbeddedStack

    if EmbeddedStack.current is not None:
        EmbeddedStack.current.bootstrap(root)


def settle_endpoint(sagemaker, name: str, timeout: float = 10.0) -> dict | None:
    """Poll DescribeEndpoint until `name` leaves Creating/Updating/Deleting (the embedded
    stack's transitions take a scaled-down delay); its description, or None once deleted."""
    import time

    from mmeops.errors import NotFound

    deadline = time.monotonic() + timeout
    while True:
        try:
            ep = sagemaker.call("sagemaker", "describe_endpoint", EndpointName=name)
        except NotFound:
            return None
        if ep["EndpointStatus"] not in ("Creating", "Updating", "Deleting"):
            return ep
        assert time.monotonic() < deadline, f"{name} still {ep['EndpointStatus']}"
        time.sleep(0.05)


def png_rows(path, rows: int):
    """The first `rows` rows of an 8-bit, non-interlaced RGB(A) PNG as a uint8 array
    (rows × width × channels): enough of a decoder for a screenshot, without Pillow."""
    import struct
    import zlib

    import numpy as np

    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and interlace == 0 and colour in (2, 6), header
    channels = 4 if colour == 6 else 3
    stride = width * channels
    raw = zlib.decompressobj().decompress(idat, (stride + 1) * min(rows, height))
    out = np.zeros((min(rows, height), stride), dtype=np.int32)
    prior = np.zeros(stride, dtype=np.int32)
    for r in range(out.shape[0]):
        kind = raw[r * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, r * (stride + 1) + 1).astype(np.int32)
        if kind == 2:  # Up
            line = (line + prior) & 255
        elif kind in (1, 3, 4):  # Sub, Average, Paeth: each byte depends on its left one
            line = line.copy()
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                up, corner = prior[i], prior[i - channels] if i >= channels else 0
                if kind == 1:
                    pred = left
                elif kind == 3:
                    pred = (left + up) // 2
                else:
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 255
        out[r] = line
        prior = line
    return out.reshape(out.shape[0], width, channels).astype(np.uint8)


def runtime_client(operator):
    """boto3's own sagemaker-runtime client on the local MME, as the endpoint account's
    `operator` (`EmbeddedStack.current.admin(...)`): the MME authorizes InvokeEndpoint as IAM
    would, and the runner's own keys may only assume roles. One attempt: a wrong answer must
    show up as the error, not as a retry."""
    from botocore.config import Config

    from mmeops.stack.embedded import EmbeddedStack

    return operator.session.client(
        "sagemaker-runtime",
        region_name=operator.region,
        endpoint_url=EmbeddedStack.current.mme_url,
        config=Config(retries={"max_attempts": 1}),
    )
