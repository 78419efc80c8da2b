"""Endpoint config names carry a digest of what they hold (deploy/endpoint.py), so a
reconcile can skip describing one whose digest is the file's (deploy/remote.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from mmeops.deploy.endpoint import config_name, our_configs
from mmeops.deploy.remote import config_digest, model_name

NOW = dt.datetime(2026, 12, 6, 14, 0, 0, 123000, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("endpoint", ["mme-sandbox", "e" * 33, "e" * 34, "e" * 42, "e" * 63])
def test_names_fit_sagemakers_63_characters_and_the_roles_pattern(endpoint: str) -> None:
    name = config_name(endpoint, model_name(endpoint), "ml.m5.large", 1, NOW)
    assert len(name) <= 63  # botocore: EndpointConfigName max 63
    if len(endpoint) <= 42:  # infra/bootstrap.yaml allows endpoint-config/<endpoint>-*
        assert name.startswith(f"{endpoint}-")
    assert our_configs(endpoint).match(name)  # pruned like every config mmeops made
    digest = config_digest(model_name(endpoint), "ml.m5.large", 1)
    assert name.endswith(f"-{digest}") == (len(endpoint) <= 33)


def test_the_digest_changes_with_each_thing_the_config_holds() -> None:
    base = config_digest("m-mme", "ml.m5.large", 1)
    assert base != config_digest("m-mme", "ml.m5.large", 2)
    assert base != config_digest("m-mme", "ml.m5.xlarge", 1)
    assert base != config_digest("other-mme", "ml.m5.large", 1)
    # The layout before the digest is still recognised (and pruned), a stranger's is not.
    assert our_configs("mme-sandbox").match("mme-sandbox-20261128T101500123Z")
    assert not our_configs("mme-sandbox").match("mme-sandbox-manual")
