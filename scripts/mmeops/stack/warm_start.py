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
from collections.abc import Callable, Mapping
from typing import Any

from moto.sagemaker.exceptions import ValidationError

# Parents a warm start may name, in these states (the stricter reading: a Failed tuning job
# has no best training job to start from).
TERMINAL = ("Completed", "Stopped")
MAX_PARENTS = 5
# botocore's HyperParameterTuningJobWarmStartType (the API reference's prose says
# IDENTICAL_DATA_AND_ALGORITHM; the wire value is CamelCase, as the SDK 2.x sends it).
WARM_START_TYPES = ("IdenticalDataAndAlgorithm", "TransferLearning")
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


def _kinds(config: Mapping[str, Any], definition: Mapping[str, Any]) -> dict[str, tuple[str, bool]]:
    """name -> (type, declared): a range declares its type, a static value's is inferred."""
    kinds = {n: (_kind_of_static(v), False) for n, v in _static(definition).items()}
    kinds.update({n: (k, True) for n, (k, _) in tunable(config).items()})
    return kinds


def _compatible(a: tuple[str, bool], b: tuple[str, bool]) -> bool:
    """Whether a hyperparameter kept its type. A static value only hints at one: "3" fits an
    integer, continuous or categorical range, "0.5" a continuous or categorical one."""
    if a[0] == b[0]:
        return True
    if a[1] and b[1]:
        return False  # two declared ranges of different types
    static, declared = (a[0], b[0]) if not a[1] else (b[0], a[0])
    fits = {"Integer": {"Continuous", "Categorical"}, "Continuous": {"Categorical"}}
    return declared in fits.get(static, set())


def _repository(image: str) -> str:
    return image.rsplit(":", 1)[0]


def data_digest(
    read: Callable[[dict], list[tuple[str, bytes]]], definition: Mapping[str, Any]
) -> str:
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
    data_digest_of: Callable[[], str],
) -> list[Any]:
    """The parent tuning jobs, or ValidationError naming the first rule broken."""
    kind = warm_start["WarmStartType"]
    if kind not in WARM_START_TYPES:  # the service model's enum, as AWS words the refusal
        raise ValidationError(
            message=f"1 validation error detected: Value '{kind}' at "
            "'warmStartConfig.warmStartType' failed to satisfy constraint: Member must satisfy "
            f"enum value set: [{', '.join(WARM_START_TYPES)}]"
        )
    names = [p["HyperParameterTuningJobName"] for p in warm_start["ParentHyperParameterTuningJobs"]]
    if not 1 <= len(names) <= MAX_PARENTS:
        raise ValidationError(
            message=f"A warm start tuning job can have between 1 and {MAX_PARENTS} parent jobs."
        )
    parents = []
    for name in names:
        parent = backend.hyper_parameter_tuning_jobs.get(name)
        if parent is None or not hasattr(parent, "training_jobs_launched"):
            raise ValidationError(message=f"Parent hyperparameter tuning job {name} not found.")
        _check_parent(name, parent, kind, config, definition)
        if kind == "IdenticalDataAndAlgorithm" and parent.data_digest != data_digest_of():
            raise ValidationError(
                message=f"IdenticalDataAndAlgorithm needs the same input data as parent {name}."
            )
        parents.append(parent)
    return parents


def _check_parent(
    name: str, parent: Any, kind: str, config: Mapping[str, Any], definition: Mapping[str, Any]
) -> None:
    """One parent against the new job's request: state, objective, algorithm, hyperparameters."""
    if parent.status not in TERMINAL:
        raise ValidationError(
            message=f"Parent hyperparameter tuning job {name} is {parent.status}; a parent "
            f"must be in a terminal state ({' or '.join(TERMINAL)})."
        )
    if (
        parent.config["HyperParameterTuningJobObjective"]
        != config["HyperParameterTuningJobObjective"]
    ):
        raise ValidationError(
            message=f"The objective metric of parent {name} differs from this tuning job's."
        )
    image = definition["AlgorithmSpecification"].get("TrainingImage", "")
    parent_image = parent.definition["AlgorithmSpecification"].get("TrainingImage", "")
    if kind == "IdenticalDataAndAlgorithm" and parent_image != image:
        raise ValidationError(
            message=f"IdenticalDataAndAlgorithm needs the training image of parent {name} "
            f"({parent_image})."
        )
    if _repository(parent_image) != _repository(image):
        raise ValidationError(message=f"Parent {name} used another algorithm ({parent_image}).")
    before, now = _kinds(parent.config, parent.definition), _kinds(config, definition)
    if set(before) != set(now):
        raise ValidationError(
            message=f"The static plus tunable hyperparameters must be the same as in parent "
            f"{name}; they differ in: {', '.join(sorted(set(before) ^ set(now)))}."
        )
    for hp in sorted(now):
        if not _compatible(before[hp], now[hp]):
            raise ValidationError(
                message=f"Hyperparameter {hp} changed type from {before[hp][0]} in parent "
                f"{name} to {now[hp][0]}."
            )
    if _changes(parent, definition) > MAX_STATIC_CHANGES:
        raise ValidationError(
            message=f"More than {MAX_STATIC_CHANGES} static hyperparameter changes from "
            f"parent {name}."
        )
