"""Which version answers a request, and whether it is mirrored and captured: deterministic.

A request's route key (the `X-Route-Key` header, a customer id say; else its inference id) is
hashed into [0, 1) once per decision, each with its own salt, so a key always gets the same
variant and the canary, shadow and capture draws are independent of one another.
"""

from __future__ import annotations

import hashlib

from mmeops.deploy.manifest import ManifestEntry, Variant


def draw(key: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def answering(entry: ManifestEntry, key: str) -> Variant | None:
    """The canary when the key falls in its weight (percent), else None: the champion."""
    canary = entry.variant("canary")
    if canary is not None and draw(key, "canary") < canary.share / 100:
        return canary
    return None


def mirrored(entry: ManifestEntry, key: str) -> Variant | None:
    shadow = entry.variant("shadow")
    if shadow is not None and draw(key, "shadow") < shadow.share:
        return shadow
    return None


def captured(share: float | None, key: str) -> bool:
    return bool(share) and (share >= 1 or draw(key, "capture") < share)  # 1.0: no hash
