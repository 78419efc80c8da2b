"""Endpoint lifecycles for the embedded moto, as SageMaker runs them (moto 5.2.5 makes every
endpoint InService at once and has no UpdateEndpoint).

- CreateEndpoint -> `Creating` -> `InService` (or `Failed` with a FailureReason);
- UpdateEndpoint -> `Updating` -> `InService` on the new config, or, when the update fails,
  `InService` on the OLD config with a FailureReason (SageMaker rolls back);
- DeleteEndpoint -> `Deleting` -> gone.

Each transition takes `DELAY_SECONDS` (scaled down from AWS's minutes; the one knob) and is
applied when the endpoint is next touched by any endpoint call, at or after its due time: a
client polling DescribeEndpoint sees what it would see on AWS, without a timer thread that
could outlive the stack.

Constraints taken from AWS's documentation (API_UpdateEndpoint, "Update endpoints that use
auto scaling") and enforced with a ValidationException:
- UpdateEndpoint only on an `InService` endpoint, and only to another endpoint config;
- an update that changes the instance type of a variant registered as a scalable target with
  Application Auto Scaling (same account and region) fails;
- `RetainAllVariantProperties` keeps the live instance counts and weights, except the
  properties named in `ExcludeRetainedVariantProperties`;
- CreateEndpoint refuses a name that exists;
- DeleteEndpointConfig refuses a config in use by an endpoint (AWS documents it as "must
  not"; refusing is stricter, see docs/embedded-stack.md).

Faults for tests (`failing`): while on, every CreateEndpoint or UpdateEndpoint fails after its
delay, as a container that never passes its health check would.

Listeners hear of every endpoint whose fleet changes: created (at the call), updated (when
the new config takes over) and deleted (at the call, config ""), so the local MME drops models
an old fleet had loaded.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

# How long each Creating / Updating / Deleting lasts. AWS takes minutes; the product polls
# with a backoff that starts well below a second, so the suite pays little for it.
DELAY_SECONDS = 0.1

# (account_id, region, endpoint_name, config_name) after each endpoint create, update, delete
# (config_name is empty for a delete).
EndpointListener = Callable[[str, str, str, str], None]
_listeners: list[EndpointListener] = []

_VARIANT_DIMENSION = "sagemaker:variant:"  # every scalable dimension of a variant


def add_endpoint_update_listener(listener: EndpointListener) -> Callable[[], None]:
    """Hear about every endpoint moto creates, updates or deletes; returns a remover."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def _notify(backend: SageMakerModelBackend, name: str, config: str) -> None:
    for listener in list(_listeners):
        listener(backend.account_id, backend.region_name, name, config)


# --- faults ----------------------------------------------------------------------------------


@dataclass
class Failing:
    """FailureReasons given to creations and updates requested while on (None: succeed)."""

    create: str | None = None
    update: str | None = None
    counts: Counter = field(default_factory=Counter)  # "create" / "update" -> how many failed


CREATE_FAILURE = (
    "The primary container for production variant AllTraffic did not pass the ping health "
    "check. Please check CloudWatch logs for this endpoint."
)
UPDATE_FAILURE = (
    "Failed to update endpoint: the new fleet for production variant AllTraffic did not pass "
    "the ping health check; the endpoint was rolled back to its previous configuration."
)

_failing: Failing | None = None


@contextmanager
def failing(create: str | None = None, update: str | None = None) -> Iterator[Failing]:
    """Make every CreateEndpoint (`create`) and/or UpdateEndpoint (`update`) requested while
    the block runs fail with that FailureReason. Process-global, like moto; one at a time."""
    global _failing
    if _failing is not None:
        raise RuntimeError("endpoint faults are already on")
    _failing = Failing(create, update)
    try:
        yield _failing
    finally:
        _failing = None


def _fault(kind: str) -> str | None:
    faults = _failing
    reason = getattr(faults, kind) if faults is not None else None
    if reason is not None:
        faults.counts[kind] += 1
    return reason


# --- transitions ----------------------------------------------------------------------------


@dataclass
class _Transition:
    kind: str  # "create" | "update" | "delete"
    backend: SageMakerModelBackend
    endpoint: FakeEndpoint
    failure: str | None = None
    config: str = ""  # update: the new endpoint config
    retain: bool = False
    exclude: frozenset[str] = frozenset()
    due: float = 0.0  # time.monotonic() at which it is done


_lock = threading.RLock()
_pending: dict[int, _Transition] = {}  # id(FakeEndpoint) -> its transition in progress


def _start(t: _Transition) -> None:
    t.due = time.monotonic() + DELAY_SECONDS
    _pending[id(t.endpoint)] = t


def reset() -> None:
    """Forget every transition in progress (moto's state was reset)."""
    with _lock:
        _pending.clear()


def advance() -> None:
    """Apply every transition whose time has come; listeners are told after the lock."""
    heard: list[tuple[SageMakerModelBackend, str, str]] = []
    with _lock:
        now = time.monotonic()
        for key, t in list(_pending.items()):
            if t.due <= now:
                del _pending[key]
                heard += _finish(t)
    for backend, name, config in heard:
        _notify(backend, name, config)


def _finish(t: _Transition) -> list[tuple[SageMakerModelBackend, str, str]]:
    ep, backend = t.endpoint, t.backend
    if backend.endpoints.get(ep.endpoint_name) is not ep:
        return []  # moto was reset, or the endpoint deleted meanwhile
    ep.last_modified_time = utcnow()
    if t.kind == "delete":
        del backend.endpoints[ep.endpoint_name]
        return []
    if t.kind == "create":
        ep.endpoint_status = "Failed" if t.failure else "InService"
        ep.failure_reason = t.failure
        return []
    ep.endpoint_status = "InService"
    ep.failure_reason = t.failure
    if t.failure:
        return []  # rolled back: the old config and fleet stay
    config = backend.endpoint_configs[t.config].response_object
    ep.production_variants = _variants(ep, config["ProductionVariants"], t.retain, t.exclude)
    ep.endpoint_config_name = t.config
    return [(backend, ep.endpoint_name, t.config)]


def _variants(
    ep: FakeEndpoint, new: list[dict], retain: bool, exclude: frozenset[str]
) -> list[dict]:
    """The new config's variants; with `retain`, each keeps the live variant's instance count
    and weight (unless excluded), as RetainAllVariantProperties does."""
    variants = ep._process_production_variants(new)
    if not retain:
        return variants
    live = {v["VariantName"]: v for v in ep.production_variants}
    kept = {
        "DesiredInstanceCount": ("CurrentInstanceCount", "DesiredInstanceCount"),
        "DesiredWeight": ("CurrentWeight", "DesiredWeight"),
    }
    for v in variants:
        old = live.get(v["VariantName"], {})
        for prop, keys in kept.items():
            if prop not in exclude:
                v.update({k: old[k] for k in keys if k in old})
    return variants


# --- the calls -------------------------------------------------------------------------------


def _endpoint_arn(backend: SageMakerModelBackend, name: str) -> str:
    return FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)


def _config_arn(backend: SageMakerModelBackend, name: str) -> str:
    return FakeEndpointConfig.arn_formatter(name, backend.account_id, backend.region_name)


def _instance_types(backend: SageMakerModelBackend, config_name: str) -> dict[str, str]:
    config = backend.endpoint_configs[config_name].response_object
    return {v["VariantName"]: v.get("InstanceType", "") for v in config["ProductionVariants"]}


def _check_autoscaling(backend: SageMakerModelBackend, ep: FakeEndpoint, config: str) -> None:
    """AWS: "If the update would change the instance type for any model that is a target for
    auto scaling, the update fails" ("Update endpoints that use auto scaling")."""
    scaling = applicationautoscaling_backends[backend.account_id][backend.region_name]
    old = _instance_types(backend, ep.endpoint_config_name)
    new = _instance_types(backend, config)
    for variant, instance_type in old.items():
        if new.get(variant, instance_type) == instance_type:
            continue
        resource = f"endpoint/{ep.endpoint_name}/variant/{variant}"
        for dimension, targets in scaling.targets.items():
            if dimension.startswith(_VARIANT_DIMENSION) and resource in targets:
                raise ValidationError(
                    message=(
                        f"The update would change the instance type of production variant "
                        f"{variant} from {instance_type} to {new[variant]}, and {resource} is "
                        "registered as a scalable target with Application Auto Scaling. "
                        "Delete its scaling policies and deregister it "
                        "(DeregisterScalableTarget) before updating the endpoint."
                    )
                )


def update_endpoint(
    self: SageMakerModelBackend,
    endpoint_name: str,
    endpoint_config_name: str,
    retain_all_variant_properties: bool = False,
    exclude_retained_variant_properties: list[dict] | None = None,
) -> str:
    advance()
    with _lock:
        ep = self.endpoints.get(endpoint_name)
        if ep is None:
            raise ValidationError(
                message=f"Could not find endpoint '{_endpoint_arn(self, endpoint_name)}'."
            )
        if endpoint_config_name not in self.endpoint_configs:
            arn = _config_arn(self, endpoint_config_name)
            raise ValidationError(message=f"Could not find endpoint configuration '{arn}'.")
        if ep.endpoint_status != "InService":
            raise ValidationError(
                message=(
                    f"Cannot update endpoint '{ep.arn}' while it is {ep.endpoint_status}: "
                    "wait until it is InService."
                )
            )
        if endpoint_config_name == ep.endpoint_config_name:
            raise ValidationError(
                message=(
                    f"Endpoint '{ep.arn}' already uses endpoint configuration "
                    f"'{endpoint_config_name}'; to update an endpoint, create a new one."
                )
            )
        _check_autoscaling(self, ep, endpoint_config_name)
        exclude = frozenset(
            p.get("VariantPropertyType", "") for p in exclude_retained_variant_properties or []
        )
        ep.endpoint_status = "Updating"
        ep.last_modified_time = utcnow()
        _start(
            _Transition(
                "update",
                self,
                ep,
                failure=_fault("update"),
                config=endpoint_config_name,
                retain=bool(retain_all_variant_properties),
                exclude=exclude,
            )
        )
        return ep.arn


def _response_update_endpoint(self: SageMakerResponse) -> ActionResult:
    arn = self.sagemaker_backend.update_endpoint(
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
        retain_all_variant_properties=self._get_param("RetainAllVariantProperties", False),
        exclude_retained_variant_properties=self._get_param("ExcludeRetainedVariantProperties"),
    )
    return ActionResult({"EndpointArn": arn})


def _create(original: Callable) -> Callable:
    @functools.wraps(original)
    def create_endpoint(self: SageMakerModelBackend, endpoint_name: str, *args, **kwargs):
        advance()
        with _lock:
            if endpoint_name in self.endpoints:
                arn = _endpoint_arn(self, endpoint_name)
                raise ValidationError(message=f'Cannot create already existing endpoint "{arn}".')
            ep = original(self, endpoint_name, *args, **kwargs)
            ep.endpoint_status = "Creating"
            _start(_Transition("create", self, ep, failure=_fault("create")))
        _notify(self, endpoint_name, ep.endpoint_config_name)
        return ep

    return create_endpoint


def _delete(original: Callable) -> Callable:
    @functools.wraps(original)
    def delete_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> None:
        advance()
        with _lock:
            ep = self.endpoints.get(endpoint_name)
            if ep is None:
                return original(self, endpoint_name)  # moto's own "Could not find"
            if ep.endpoint_status != "Deleting":
                ep.endpoint_status = "Deleting"
                _start(_Transition("delete", self, ep))
        _notify(self, endpoint_name, "")
        return None

    return delete_endpoint


def _delete_config(original: Callable) -> Callable:
    @functools.wraps(original)
    def delete_endpoint_config(self: SageMakerModelBackend, endpoint_config_name: str) -> None:
        advance()
        with _lock:
            users = sorted(
                ep.endpoint_name
                for ep in self.endpoints.values()
                if ep.endpoint_config_name == endpoint_config_name
            ) + sorted(
                t.endpoint.endpoint_name
                for t in _pending.values()
                if t.backend is self and t.config == endpoint_config_name
            )
            if users:
                arn = _config_arn(self, endpoint_config_name)
                raise ValidationError(
                    message=(
                        f"Endpoint configuration '{arn}' is in use by endpoint "
                        f"{', '.join(users)}; update or delete the endpoint first."
                    )
                )
            return original(self, endpoint_config_name)

    return delete_endpoint_config


def _weights(original: Callable) -> Callable:
    """UpdateEndpointWeightsAndCapacities (what Application Auto Scaling calls) on an
    InService endpoint only: moto's own would end any transition by setting InService."""

    @functools.wraps(original)
    def update_weights(self: SageMakerModelBackend, endpoint_name: str, *args, **kwargs):
        advance()
        with _lock:
            ep = self.endpoints.get(endpoint_name)
            if ep is not None and ep.endpoint_status != "InService":
                raise ValidationError(
                    message=f"Cannot update endpoint '{ep.arn}' while it is {ep.endpoint_status}."
                )
            return original(self, endpoint_name, *args, **kwargs)

    return update_weights


def _advancing(original: Callable) -> Callable:
    """A read (Describe/List) sees every transition that is due."""

    @functools.wraps(original)
    def read(self: SageMakerModelBackend, *args, **kwargs):
        advance()
        return original(self, *args, **kwargs)

    return read


_install_lock = threading.Lock()


def install() -> None:
    """Give moto's SageMaker these lifecycles (idempotent: each method is wrapped once)."""
    wrappers = {
        "create_endpoint": _create,
        "delete_endpoint": _delete,
        "delete_endpoint_config": _delete_config,
        "describe_endpoint": _advancing,
        "list_endpoints": _advancing,
        "update_endpoint_weights_and_capacities": _weights,
    }
    with _install_lock:
        if getattr(SageMakerModelBackend, "_mmeops_endpoints", False):
            return
        for name, wrap in wrappers.items():
            setattr(SageMakerModelBackend, name, wrap(getattr(SageMakerModelBackend, name)))
        SageMakerModelBackend.update_endpoint = update_endpoint
        SageMakerResponse.update_endpoint = _response_update_endpoint
        SageMakerModelBackend._mmeops_endpoints = True
