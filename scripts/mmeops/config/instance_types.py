"""The instance types SageMaker accepts, from botocore's own service model (the enums AWS
checks server-side): a config that names another is bad input at `mmeops validate`, not an
error at apply after the lease is taken and a model created."""

from __future__ import annotations

import difflib
import functools

# botocore shapes: where a model's training jobs run, and where an endpoint's variants run.
TRAINING = "TrainingInstanceType"
HOSTING = "ProductionVariantInstanceType"


@functools.cache
def known(shape: str) -> frozenset[str]:
    import botocore.session  # loads the service model once (about 0.1 s)

    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(model.shape_for(shape).enum)


def problem(value: str, shape: str) -> str | None:
    """Why SageMaker would refuse `value` where `shape` is expected, with the nearest names."""
    types = known(shape)
    if value in types:
        return None
    near = difflib.get_close_matches(value, sorted(types), n=3, cutoff=0.6)
    where = "for training jobs" if shape == TRAINING else "for endpoints"
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    return f"{value} is not a SageMaker instance type {where} (botocore's {shape}){hint}"
