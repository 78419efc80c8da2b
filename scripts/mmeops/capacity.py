"""How many XGBoost models one multi-model endpoint instance holds loaded at once.

A multi-model endpoint runs each loaded model in its own multi-model-server worker process, so
memory is counted per loaded model, not per artifact byte: about 215 MB RSS each, measured
with the SageMaker XGBoost container (docs/FACTS: "about 215 MB RSS / 124 MB PSS per loaded
XGBoost model"). When memory runs short the endpoint unloads the least recently used model
and the next request for it loads it again (a cold start, `ModelNotReadyException` past 60 s).

Shared by the plan (the capacity line) and the embedded endpoint (its cache bound), so the
number the plan prints is the one the demo endpoint enforces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIB = 1024 * 1024

# Resident memory of one loaded XGBoost model's worker process (measured, see above).
WORKER_RSS_BYTES = 215 * MIB

# Memory the instance keeps for itself before any model loads: the OS and SageMaker's agents.
# An estimate (AWS publishes no figure); the JVM heap is counted separately below.
SYSTEM_RESERVE_BYTES = 512 * MIB

# Request size the container configures multi-model-server with (serving_mms.py,
# DEFAULT_MAX_CONTENT_LEN = 6 * 1024**2), which sizes its JVM heap.
_MAX_CONTENT_MB = 6

# (vCPUs, memory GiB) per SageMaker hosting instance type, from the "Instance details" table of
# https://aws.amazon.com/sagemaker/pricing/ (Real-Time Inference), which matches the EC2
# instance families' published sizes.
INSTANCE_TYPES: dict[str, tuple[int, int]] = {
    "ml.t2.medium": (2, 4),
    "ml.t2.large": (2, 8),
    "ml.t2.xlarge": (4, 16),
    "ml.t2.2xlarge": (8, 32),
    "ml.m5.large": (2, 8),
    "ml.m5.xlarge": (4, 16),
    "ml.m5.2xlarge": (8, 32),
    "ml.m5.4xlarge": (16, 64),
    "ml.m5.12xlarge": (48, 192),
    "ml.m5.24xlarge": (96, 384),
    "ml.c5.large": (2, 4),
    "ml.c5.xlarge": (4, 8),
    "ml.c5.2xlarge": (8, 16),
    "ml.c5.4xlarge": (16, 32),
    "ml.c5.9xlarge": (36, 72),
    "ml.c5.18xlarge": (72, 144),
    "ml.r5.large": (2, 16),
    "ml.r5.xlarge": (4, 32),
    "ml.r5.2xlarge": (8, 64),
    "ml.r5.4xlarge": (16, 128),
    "ml.m6i.large": (2, 8),
    "ml.m6i.xlarge": (4, 16),
    "ml.m6i.2xlarge": (8, 32),
    "ml.c6i.large": (2, 4),
    "ml.c6i.xlarge": (4, 8),
    "ml.r6i.large": (2, 16),
    "ml.r6i.xlarge": (4, 32),
}


def jvm_heap_bytes(vcpus: int) -> int:
    """The heap the container gives multi-model-server's frontend: (workers + queue) x max
    payload x 1.2 + 128 MB, with workers = vCPUs and queue = 2 x vCPUs (serving_mms.py,
    `_set_mms_configs`)."""
    return (math.ceil((vcpus + 2 * vcpus) * _MAX_CONTENT_MB * 1.2) + 128) * MIB


@dataclass(frozen=True)
class Capacity:
    instance_type: str
    memory_bytes: int
    usable_bytes: int  # what is left for model workers
    per_instance: int  # XGBoost models loaded at once on one instance

    def summary(self) -> str:
        return (
            f"{self.instance_type}: {self.memory_bytes // MIB // 1024} GiB, "
            f"{self.usable_bytes // MIB} MiB for models at {WORKER_RSS_BYTES // MIB} MiB each"
        )


def capacity(instance_type: str) -> Capacity | None:
    """The capacity of one instance of `instance_type`; None for a type not in the table."""
    spec = INSTANCE_TYPES.get(instance_type)
    if spec is None:
        return None
    vcpus, gib = spec
    memory = gib * 1024 * MIB
    usable = max(memory - SYSTEM_RESERVE_BYTES - jvm_heap_bytes(vcpus), 0)
    return Capacity(instance_type, memory, usable, usable // WORKER_RSS_BYTES)


def model_cost(artifact_size: int) -> int:
    """What one loaded model takes: its worker process, plus the model itself in memory."""
    return WORKER_RSS_BYTES + artifact_size
