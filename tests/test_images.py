"""mmeops.images gives the URI sagemaker-core's image_uris.retrieve("xgboost", region,
version) gives (the request the SDK builds: CreateModel's and CreateTrainingJob's image),
for every version sagemaker-core knows in every region it lists, and refuses what it
refuses with its words, without importing the SDK."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sagemaker.core import image_uris

from mmeops import images


def _everything() -> list[tuple[str, str]]:
    config = images._config()
    versions = [*config["versions"], *config.get("version_aliases", {})]
    regions = {r for v in config["versions"].values() for r in v["registries"]}
    return [(r, v) for v in versions for r in sorted(regions)]


def _answer(f, region: str, version: str) -> str:
    try:
        return f(region, version)
    except ValueError as e:
        return f"ValueError: {e}"


def _compare(pairs: list[tuple[str, str]]) -> dict:
    # retrieve reads botocore's endpoint data on each call: one resolver for the run
    endpoints = image_uris.utils._botocore_resolver()
    resolver = image_uris.utils._botocore_resolver
    image_uris.utils._botocore_resolver = lambda: endpoints
    try:
        sdk = {p: _answer(lambda r, v: image_uris.retrieve("xgboost", r, v), *p) for p in pairs}
    finally:
        image_uris.utils._botocore_resolver = resolver
    ours = {p: _answer(images.xgboost_image, *p) for p in pairs}
    assert ours == sdk
    return ours


# One of each kind: the versions with a processor and a Python version (0.90-1), an alias,
# partitions with their own ECR hostname (China, GovCloud, ISO), the SDK's own fallback for
# il-central-1, a region and a version the SDK does not know.
SAMPLE = [
    ("us-east-1", "3.2-0"),
    ("eu-west-1", "0.90-1"),
    ("us-east-1", "latest"),
    ("cn-north-1", "1.7-1"),
    ("us-gov-west-1", "3.0-5"),
    ("us-iso-east-1", "1.5-1"),
    ("il-central-1", "3.2-0"),
    ("mars-central-1", "3.2-0"),
    ("us-east-1", "9.9-9"),
]


def test_one_of_each_kind_is_the_sdks():
    ours = _compare(SAMPLE)
    assert ours[("us-east-1", "3.2-0")] == (
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"
    )
    assert ours[("cn-north-1", "1.7-1")].endswith(".amazonaws.com.cn/sagemaker-xgboost:1.7-1")
    assert ours[("us-east-1", "9.9-9")].startswith("ValueError: Unsupported xgboost version")


@pytest.mark.slow
def test_every_version_in_every_region_is_the_sdks():
    pairs = _everything()
    assert len(pairs) > 300
    _compare(pairs)


def test_the_uri_costs_no_import_of_the_sdk():
    code = (
        "import sys; from mmeops import images; images.xgboost_image('eu-west-1', '3.2-0');"
        "print(sorted(m for m in sys.modules if m.startswith('sagemaker')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.replace("'", '"')) == []
