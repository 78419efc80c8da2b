"""The URI of SageMaker's built-in XGBoost image, as sagemaker-core's
`image_uris.retrieve("xgboost", region, version)` gives it, without importing sagemaker-core.

Importing `sagemaker.core.image_uris` costs 3 to 4 s of CPU (it pulls in JumpStart and most
of the SDK); every `reconcile --apply` that creates a model, every `tune` and every `register`
paid it for one string. The answer comes from two data files only: sagemaker-core's
`image_uri_config/xgboost.json` (the registry account per region, the repository, the
processor and Python version of the oldest images) and botocore's endpoint data (the ECR
hostname of the region). This module reads the same files and follows the same steps
retrieve takes for XGBoost without an instance type or image scope: the "training" scope
(which the SDK defaults to for XGBoost, its inference configuration being identical), the
single processor and Python version where the version lists them, tag
`<version>[-<processor>][-<py_version>]` (an alias, `latest`, is looked up as the version it
names and tagged as itself). tests/test_images.py compares it with the SDK's
own answer for every version in every region.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json

ECR_URI = "{registry}.dkr.{hostname}/{repository}:{tag}"


@functools.cache
def _config() -> dict:
    path = importlib.metadata.distribution("sagemaker-core").locate_file(
        "sagemaker/core/image_uri_config/xgboost.json"
    )
    with open(str(path), encoding="utf-8") as f:
        return json.load(f)["training"]


def _unsupported(what: str, value: str, options: list[str]) -> ValueError:
    # The SDK's own words (image_uris._validate_arg), so either path reads the same.
    return ValueError(
        f"Unsupported {what}: {value}. You may need to upgrade your SDK version "
        f"(pip install -U sagemaker) for newer {what}s. Supported {what}(s): "
        f"{', '.join(options)}."
    )


def _only(options: list[str] | None) -> str | None:
    """The one value a version lists (cpu, py3), as the SDK defaults to it; None if none."""
    return options[0] if options and len(options) == 1 else None


def _ecr_hostname(region: str) -> str:
    from botocore.regions import EndpointResolver

    from mmeops.aws import botocore_session

    loader = botocore_session().get_component("data_loader")
    found = EndpointResolver(loader.load_data("endpoints")).construct_endpoint("ecr", region)
    if region == "il-central-1" and not found:  # the SDK's own fallback
        return f"ecr.{region}.amazonaws.com"
    return found["hostname"]


@functools.cache
def xgboost_image(region: str, version: str) -> str:
    """The built-in XGBoost image of `version` in `region`; ValueError as the SDK's when
    either is one sagemaker-core does not know."""
    config = _config()
    aliases = config.get("version_aliases", {})  # latest: 1, looked up as 1, tagged latest
    versions = config["versions"]
    if version not in versions and version not in aliases:
        raise _unsupported("xgboost version", version, [*versions, *aliases])
    entry = versions[aliases.get(version, version)]
    if region not in entry["registries"]:
        raise _unsupported("region", region, list(entry["registries"]))
    parts = (version, _only(entry.get("processors")), _only(entry.get("py_versions")))
    return ECR_URI.format(
        registry=entry["registries"][region],
        hostname=_ecr_hostname(region),
        repository=entry["repository"],
        tag="-".join(p for p in parts if p),
    )
