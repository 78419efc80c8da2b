"""The plan's vocabulary: typed actions (frozen dataclasses, each with a one-line message),
per-model rows and statuses. `Action.phase` is the apply order (see planner.py)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import ClassVar

from mmeops.deploy.manifest import Manifest
from mmeops.sample import Expected


class Status(str, enum.Enum):
    SYNCED = "synced"
    SYNC_FAILED = "sync failed"
    PRUNED = "pruned"
    PRUNE_SKIPPED = "prune skipped"
    OUT_OF_SYNC = "out of sync"


ENDPOINT = "(endpoint)"  # the row and action owner for endpoint-wide actions


@dataclass(frozen=True)
class Action:
    model: str
    phase: ClassVar[int] = 0

    @property
    def message(self) -> str:  # pragma: no cover - every action overrides it
        raise NotImplementedError


@dataclass(frozen=True)
class EnsureEndpoint(Action):
    endpoint: str = ""
    image_version: str = ""
    instance_type: str = ""
    instance_count: int = 1
    phase: ClassVar[int] = 0

    @property
    def message(self) -> str:
        return (
            f"create endpoint {self.endpoint} ({self.instance_count} x "
            f"{self.instance_type}, xgboost {self.image_version})"
        )


@dataclass(frozen=True)
class ReplaceEndpoint(EnsureEndpoint):
    """The endpoint is Failed, and SageMaker allows nothing but DeleteEndpoint on a failed
    endpoint: delete it, then create it as the file says."""

    reason: str = ""

    @property
    def message(self) -> str:
        return f"replace the endpoint ({self.reason}): delete it, then " + super().message


@dataclass(frozen=True)
class CopyArtifact(Action):
    version: int = 0
    source_uri: str = ""
    key: str = ""
    sha256: str = ""
    size: int = 0
    phase: ClassVar[int] = 1

    @property
    def message(self) -> str:
        return f"copy v{self.version} from the registry to {self.key}"


@dataclass(frozen=True)
class VerifyArtifact(Action):
    version: int = 0
    key: str = ""
    sha256: str = ""
    size: int = 0
    phase: ClassVar[int] = 1

    @property
    def message(self) -> str:
        return f"reuse retained {self.key} (checksum verified, no copy)"


@dataclass(frozen=True)
class PublishStable(Action):
    version: int = 0
    source_key: str = ""
    key: str = ""
    sha256: str = ""
    size: int = 0
    phase: ClassVar[int] = 2

    @property
    def message(self) -> str:
        return f"replace {self.key} with v{self.version}"


@dataclass(frozen=True)
class MirrorApproval(Action):
    version: int = 0
    package_arn: str = ""
    phase: ClassVar[int] = 3

    @property
    def message(self) -> str:
        return f"approve v{self.version} in the registry"


@dataclass(frozen=True)
class RemoveModel(Action):
    version: int = 0
    phase: ClassVar[int] = 4

    @property
    def message(self) -> str:
        return "remove from the routing manifest"


@dataclass(frozen=True)
class WriteManifest(Action):
    manifest: Manifest | None = None
    previous: Manifest | None = None
    etag: str | None = None
    changed: tuple[str, ...] = ()
    # Stable names only: the write that routes the models whose stable key is about to be
    # overwritten to their versioned keys, so the manifest never names bytes it does not
    # record (the final write routes them back once the endpoint serves the new stable key).
    interim: bool = False
    phase: ClassVar[int] = 4

    @property
    def message(self) -> str:
        if self.interim:
            return (
                f"route {', '.join(self.changed)} to their versioned keys while the stable "
                "names are replaced"
            )
        return f"write the routing manifest ({len(self.changed)} models changed)"


@dataclass(frozen=True)
class UpdateEndpointConfig(Action):
    instance_type: str = ""
    instance_count: int = 1
    reason: str = ""
    model_name: str = ""
    # The variant's scaling policies when it is autoscaled and the instance type changes: AWS
    # refuses that update until they are deleted and the target deregistered (registered
    # again by the plan's ConfigureAutoscaling). None: nothing to deregister.
    suspend_scaling: tuple[str, ...] | None = None
    phase: ClassVar[int] = 5

    @property
    def message(self) -> str:
        suspend = "" if self.suspend_scaling is None else " (autoscaling off during the update)"
        return (
            f"roll out a new endpoint config ({self.instance_count} x "
            f"{self.instance_type}): {self.reason}{suspend}"
        )


@dataclass(frozen=True)
class RefreshEndpoint(UpdateEndpointConfig):
    @property
    def message(self) -> str:
        return f"refresh the endpoint with a new endpoint config: {self.reason}"


@dataclass(frozen=True)
class RepairEndpoint(UpdateEndpointConfig):
    """The endpoint's model was deleted or repointed out of band: a new endpoint config on a
    model that serves this environment's prefix (created when needed)."""

    image_version: str = ""

    @property
    def message(self) -> str:
        return f"repair the endpoint: {self.reason}"


@dataclass(frozen=True)
class SmokeTest(Action):
    version: int = 0
    target_model: str = ""
    sample_uri: str = ""
    # What the plan read from the registry's sample.json (None: the package has none): the
    # executor tests with it instead of reading the object again.
    expected: Expected | None = field(default=None, repr=False, compare=False)
    phase: ClassVar[int] = 6

    @property
    def message(self) -> str:
        return f"warm up and smoke-test {self.target_model}"


@dataclass(frozen=True)
class PruneArtifact(Action):
    key: str = ""
    reason: str = ""
    phase: ClassVar[int] = 7

    @property
    def message(self) -> str:
        return f"delete {self.key} ({self.reason})"


@dataclass(frozen=True)
class ConfigureAutoscaling(Action):
    min_capacity: int = 1
    max_capacity: int = 1
    target_invocations: int = 1
    phase: ClassVar[int] = 8

    @property
    def message(self) -> str:
        return (
            f"autoscale {self.min_capacity}-{self.max_capacity} instances at "
            f"{self.target_invocations} invocations per instance"
        )


@dataclass(frozen=True)
class RemoveAutoscaling(Action):
    """The file has no `autoscaling`, the endpoint has: delete its policies, deregister it.
    The instance count stays where scaling left it until the next endpoint config."""

    policies: tuple[str, ...] = ()
    phase: ClassVar[int] = 8

    @property
    def message(self) -> str:
        return "stop autoscaling (not in the file)"


@dataclass(frozen=True)
class Row:
    model: str
    live: int | None
    desired: int | None
    status: Status
    action: str
    message: str


@dataclass(frozen=True)
class Plan:
    env: str
    actions: tuple[Action, ...] = ()
    rows: tuple[Row, ...] = ()
    # Whether the pinned models fit in the endpoint's memory (deploy/fit.py); informational.
    capacity: str = ""
    over_capacity: bool = False

    @property
    def empty(self) -> bool:
        return not self.actions

    def of(self, kind: type[Action]) -> list:
        return [a for a in self.actions if isinstance(a, kind)]
