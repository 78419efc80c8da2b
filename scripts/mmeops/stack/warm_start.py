"""WarmStartConfig checked as SageMaker checks it, and the parents' results as priors.

The rules are AWS's "Warm start tuning restrictions" (SageMaker Developer Guide, "Run a Warm
Start Hyperparameter Tuning Job",
https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-warm-start.html) and the
API reference of HyperParameterTuningJobWarmStartConfig:
- 1 to 5 parents, each an existing tuning job of this account in a terminal state;
- the same objective metric; the same algorithm (IdenticalDataAndAlgorithm: the same image
  and the same input data; TransferLearning: the image may be another version);
- the same set of hyperparameter names (static plus tunable), each keeping its type;
- at most 10 changes from the parents' tunable to static hyperparameters plus changes of static
  values (a categorical range made static counts its values);
- not recursive: a parent's own parents are not used.
Refusals are ValidationException, as CreateHyperParameterTuningJob answers bad input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from moto.sagemaker.exceptions import ValidationError

# Parents a warm start may name, in these states (the stricter reading: a Failed tuning job
# has no best training job to start from).
TERMINAL = ("Completed", "Stopped")
MAX_PARENTS = 5
MAX_STATIC_CHANGES = 10
_RANGE_KINDS = {
    "IntegerParameterRanges": "Integer",
    "ContinuousParameterRanges": "Continuous",
    "CategoricalParameterRanges": "Categorical",
}


def tunable(config: Mapping[str, Any]) -> dict[str, tuple[str, dict]]:
    """name -> (kind, range) of a HyperParameterTuningJobConfig's ParameterRanges."""
    ranges = config.get("ParameterRanges") or {}
    return {r["Name"]: (kind, r) for key, kind in _RANGE_KINDS.items() for r in ranges.get(key, [])}


def _static(definition: Mapping[str, Any]) -> dict[str, str]:
    return {k: v for k, v in (definition.get("StaticHyperParameters") or {}).items()}


def _kind_of_static(value: str) -> str:
    try:
        float(value)
    except ValueError:
        return "Categorical"
    return "Integer" if value.lstrip("-").isdigit() else "Continuous"


def _repository(image: str) -> str:
    return image.rsplit(":", 1)[0]


def data_digest(read: Any, definition: Mapping[str, Any]) -> str:
    """sha256 over every channel's objects, so identical data uploaded twice (at another key)
    is recognised as identical."""
    digest = hashlib.sha256()
    for channel in sorted(definition.get("InputDataConfig", []), key=lambda c: c["ChannelName"]):
        digest.update(channel["ChannelName"].encode())
        for _name, body in read(channel):
            digest.update(hashlib.sha256(body).digest())
    return digest.hexdigest()


def _changes(parent: Any, definition: Mapping[str, Any]) -> int:
    """Tunable-to-static changes plus static value changes, counted as AWS counts them."""
    before_tunable = tunable(parent.config)
    before_static = _static(parent.definition)
    changes = 0
    for name, value in _static(definition).items():
        if name in before_tunable:
            kind, spec = before_tunable[name]
            changes += len(spec.get("Values", [])) if kind == "Categorical" else 1
        elif name in before_static and before_static[name] != value:
            # AWS's example: a categorical static value changed (red to blue) counts twice.
            changes += 2 if _kind_of_static(value) == "Categorical" else 1
    return changes


def check(
    backend: Any,
    warm_start: Mapping[str, Any],
    config: Mapping[str, Any],
    definition: Mapping[str, Any],
    data_digest_of: Any,
) -> list[Any]:
    """The parent tuning jobs, or ValidationError naming the first rule broken."""
    names = [p["HyperParameterTuningJobName"] for p in warm_start["ParentHyperParameterTuningJobs"]]
    if not 1 <= len(names) <= MAX_PARENTS:
        raise ValidationError(
            message=f"A warm start tuning job can have between 1 and {MAX_PARENTS} parent jobs."
        )
    kind = warm_start["WarmStartType"]
    objective = config["HyperParameterTuningJobObjective"]
    image = definition["AlgorithmSpecification"].get("TrainingImage", "")
    names_now = set(tunable(config)) | set(_static(definition))
    kinds_now = {n: k for n, (k, _) in tunable(config).items()}
    kinds_now.update({n: _kind_of_static(v) for n, v in _static(definition).items()})
    parents = []
    for name in names:
        parent = backend.hyper_parameter_tuning_jobs.get(name)
        if parent is None or not hasattr(parent, "training_jobs_launched"):
            raise ValidationError(message=f"Parent hyperparameter tuning job {name} not found.")
        if parent.status not in TERMINAL:
            raise ValidationError(
                message=f"Parent hyperparameter tuning job {name} is {parent.status}; a parent "
                f"must be in a terminal state ({' or '.join(TERMINAL)})."
            )
        if parent.config["HyperParameterTuningJobObjective"] != objective:
            raise ValidationError(
                message=f"The objective metric of parent {name} differs from this tuning job's."
            )
        parent_image = parent.definition["AlgorithmSpecification"].get("TrainingImage", "")
        if kind == "IdenticalDataAndAlgorithm" and parent_image != image:
            raise ValidationError(
                message=f"IdenticalDataAndAlgorithm needs the training image of parent {name} "
                f"({parent_image})."
            )
        if _repository(parent_image) != _repository(image):
            raise ValidationError(message=f"Parent {name} used another algorithm ({parent_image}).")
        parent_names = set(tunable(parent.config)) | set(_static(parent.definition))
        if parent_names != names_now:
            diff = sorted(parent_names ^ names_now)
            raise ValidationError(
                message=f"The static plus tunable hyperparameters must be the same as in parent "
                f"{name}; they differ in: {', '.join(diff)}."
            )
        for hp, (hp_kind, _) in tunable(parent.config).items():
            if hp in kinds_now and kinds_now[hp] != hp_kind and hp in tunable(config):
                raise ValidationError(
                    message=f"Hyperparameter {hp} changed type from {hp_kind} in parent {name}."
                )
        if _changes(parent, definition) > MAX_STATIC_CHANGES:
            raise ValidationError(
                message=f"More than {MAX_STATIC_CHANGES} static hyperparameter changes from "
                f"parent {name}."
            )
        if kind == "IdenticalDataAndAlgorithm" and parent.data_digest != data_digest_of():
            raise ValidationError(
                message=f"IdenticalDataAndAlgorithm needs the same input data as parent {name}."
            )
        parents.append(parent)
    return parents
