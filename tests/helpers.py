"""Helpers shared by test modules in several folders (tests/ is on sys.path: conftest.py's
folder, in pytest's default import mode)."""

from __future__ import annotations

from pathlib import Path


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


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
