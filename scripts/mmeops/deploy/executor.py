"""The executor: the only code that mutates AWS. `DisplayExecutor` shows a plan instead.

Actions run in the plan's order (see planner.py); copies, verifications, approvals, smoke
tests and prunes run concurrently in a bounded pool, so a first sync of hundreds of models is
not a serial loop. A model whose step fails is left out of every later step, keeps its previous
manifest entry and ends `sync failed`; endpoint-wide failures stop the run. Smoke tests run
before anything routes to a model; with stable names the manifest routes to versioned keys
while the stable keys are overwritten (see `run` and planner.py).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from mmeops.aws import Aws, split_s3_uri
from mmeops.deploy.desired import Desired
from mmeops.deploy.endpoint import EndpointOps
from mmeops.deploy.manifest import Manifest, read_manifest, utc_now, write_manifest
from mmeops.deploy.planner import (
    ENDPOINT,
    Action,
    ConfigureAutoscaling,
    CopyArtifact,
    EnsureEndpoint,
    MirrorApproval,
    Plan,
    PruneArtifact,
    PublishStable,
    RefreshEndpoint,
    RemoveAutoscaling,
    Row,
    SmokeTest,
    Status,
    UpdateEndpointConfig,
    VerifyArtifact,
    WriteManifest,
)
from mmeops.errors import AwsError, CorruptObject, MmeopsError, NotFound, PreconditionFailed
from mmeops.sample import parse_csv_answer

SMOKE_ROWS = 5


class StepFailed(Exception):
    """One model's step failed; the message is short and lowercase, for the results table."""


@dataclass(frozen=True)
class ModelResult(Row):
    """A plan row after the apply: its status is now what happened to the model."""

    details: tuple[str, ...] = ()


def _details(plan: Plan, model: str) -> tuple[str, ...]:
    return tuple(a.message for a in plan.actions if a.model == model)


class DisplayExecutor:
    """`--plan`: what apply would do, per model; touches nothing."""

    def run(self, plan: Plan) -> list[ModelResult]:
        return [
            ModelResult(
                r.model, r.live, r.desired, r.status, r.action, r.message, _details(plan, r.model)
            )
            for r in plan.rows
        ]


def _digest(aws: Aws, bucket: str, key: str) -> tuple[int, str, str] | None:
    """(size, sha256 hex, ETag) of an object: S3's stored SHA-256 when present, else read and
    hash."""
    try:
        head = aws.call("s3", "head_object", Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except NotFound:
        return None
    stored = head.get("ChecksumSHA256")
    if stored and "-" not in stored:
        return int(head["ContentLength"]), base64.b64decode(stored).hex(), head["ETag"]
    body, etag = aws.get_bytes(bucket, key)
    return len(body), hashlib.sha256(body).hexdigest(), etag


class Executor:
    def __init__(
        self,
        env_aws: Aws,
        registry: Aws,
        desired: Desired,
        *,
        workers: int = 16,
        smoke_timeout: float = 300.0,
        poll_seconds: float = 15.0,
    ):
        self.aws = env_aws
        self.registry = registry
        self.desired = desired
        self.workers = workers
        self.smoke_timeout = smoke_timeout
        self.endpoint = EndpointOps(env_aws, desired, poll_seconds=poll_seconds)
        self.failed: dict[str, str] = {}
        self.manifest_etag: str | None = None
        self.written: Manifest | None = None
        self.routed: set[str] = set()
        self.published: set[str] = set()  # models whose stable key this run overwrote
        # model -> its versioned artifact's ETag, as copied or verified in this run: recorded
        # in the manifest entry that routes to it.
        # (model, version) -> the versioned artifact's ETag: a model with a canary or shadow
        # copies several versions, and only the champion's goes into its manifest entry.
        self.etags: dict[tuple[str, int], str] = {}

    # --- orchestration
    def run(self, plan: Plan) -> list[ModelResult]:
        steps: list[tuple[type, Callable]] = [
            (CopyArtifact, self.copy),
            (VerifyArtifact, self.verify),
            (MirrorApproval, self.approve),
            # Each model answers under its own versioned key before anything routes to it: a
            # failure leaves the manifest as it was, and a crash never leaves an untested
            # model routed (the next apply would see it as live).
            (SmokeTest, self.smoke_test),
        ]
        for a in plan.of(EnsureEndpoint):
            self.endpoint.ensure(a)
        for kind, fn in steps:
            self._per_model(plan.of(kind), fn)
        writes = plan.of(WriteManifest)
        for a in writes:
            if a.interim:  # stable names: off the keys about to be overwritten
                self.write(a)
        self._per_model(plan.of(PublishStable), self.publish_stable)
        stable = self.desired.naming == "stable"
        final = [a for a in writes if not a.interim]
        if not stable:
            for a in final:
                self.write(a)  # failed models keep their previous entries
        for a in plan.of(UpdateEndpointConfig):  # RefreshEndpoint included
            self._update_endpoint(a, plan)
        if stable:
            # Routed back to the stable keys only once the endpoint serves them; a stable key
            # whose model failed since it was overwritten gets its previous bytes back first.
            self._restore_stable(plan, final[0].previous if final else None)
            for a in final:
                self.write(a)
        if plan.of(PruneArtifact):
            self.routed = self._routed_keys()
        self._per_model(plan.of(PruneArtifact), self.prune)
        for a in plan.of(ConfigureAutoscaling):
            self.endpoint.autoscale(a)
        for a in plan.of(RemoveAutoscaling):
            self.endpoint.stop_autoscaling(a)
        return self._results(plan)

    def _update_endpoint(self, a: UpdateEndpointConfig, plan: Plan) -> None:
        """Roll out a new endpoint config; a failure (SageMaker rolled it back, say) fails the
        endpoint's row, not the run: autoscaling is still configured after it. A stable name
        the failed refresh should have served is put back with its model (`_restore_stable`)."""
        try:
            self.endpoint.update(a)
        except AwsError as e:
            self.failed.setdefault(ENDPOINT, str(e))
            for p in plan.of(PublishStable):
                self.failed.setdefault(p.model, "not served: the endpoint refresh failed")

    def _per_model(self, actions: Iterable[Action], fn: Callable[[Action], None]) -> None:
        todo = [a for a in actions if a.model not in self.failed]
        if not todo:
            return

        def guarded(a: Action) -> None:
            try:
                fn(a)
            except (StepFailed, AwsError) as e:
                self.failed.setdefault(a.model, str(e))

        with ThreadPoolExecutor(max_workers=min(self.workers, len(todo))) as pool:
            list(pool.map(guarded, todo))

    # --- artifacts
    def copy(self, a: CopyArtifact) -> None:
        """Server-side copy from the registry's ModelDataUrl; never overwrites."""
        src_bucket, src_key = split_s3_uri(a.source_uri)
        # PreconditionFailed: someone copied it first; the check below judges their copy.
        copied = {}
        with contextlib.suppress(PreconditionFailed):
            copied = self.aws.call(
                "s3",
                "copy_object",
                Bucket=self.desired.bucket,
                Key=a.key,
                CopySource={"Bucket": src_bucket, "Key": src_key},
                ChecksumAlgorithm="SHA256",
                IfNoneMatch="*",
            )
        self.etags[(a.model, a.version)] = self._check(a.key, a.size, a.sha256, copied)

    def verify(self, a: VerifyArtifact) -> None:
        self.etags[(a.model, a.version)] = self._check(a.key, a.size, a.sha256)

    def _check(self, key: str, size: int, sha256: str, copied: dict | None = None) -> str:
        """The object's ETag, once its bytes are the registry's: its SHA-256 and size. A copy
        that just wrote it answers with the SHA-256 S3 computed (CopyObjectResult.ChecksumSHA256,
        asked for with ChecksumAlgorithm) and its ETag: a SHA-256 equal to the registry's means
        the registry's bytes, and so its size; no HEAD then (the next reconcile compares the
        listed size too)."""
        result = (copied or {}).get("CopyObjectResult") or {}
        stored = result.get("ChecksumSHA256")
        copied_ok = stored and "-" not in stored and base64.b64decode(stored).hex() == sha256
        if copied_ok and result.get("ETag"):
            return result["ETag"]
        found = _digest(self.aws, self.desired.bucket, key)
        if found is None:
            raise StepFailed(f"{key} is missing after the copy")
        if found[1] != sha256:
            raise StepFailed(
                f"{key} exists with sha256 {found[1][:12]}…, the registry says {sha256[:12]}…; "
                "it was changed outside mmeops: delete it and apply again"
            )
        if found[0] != size:
            raise StepFailed(f"{key} is {found[0]} bytes, the registry says {size}")
        return found[2]

    def publish_stable(self, a: PublishStable) -> None:
        # Stable names are overwritten by design: the endpoint refresh that follows drops
        # whatever copy the fleet had cached.
        self.published.add(a.model)  # before the call: a copy that errs may still land
        copied = self.aws.call(
            "s3",
            "copy_object",
            Bucket=self.desired.bucket,
            Key=a.key,
            CopySource={"Bucket": self.desired.bucket, "Key": a.source_key},
            ChecksumAlgorithm="SHA256",
        )
        self._check(a.key, a.size, a.sha256, copied)

    def _routed_keys(self) -> set[str]:
        """Every key a manifest routes to: the one this run wrote and the one in S3 now (a run
        that wrote none prunes against what is live)."""
        try:
            live, _ = read_manifest(self.aws, self.desired.bucket, self.desired.manifest_key)
        except CorruptObject:  # this run could not rewrite it: only what it wrote counts
            live = None
        manifests = [m for m in (self.written, live) if m is not None]
        prefix = self.desired.key_prefix
        return {prefix + t for m in manifests for e in m.models.values() for t in e.targets()}

    def prune(self, a: PruneArtifact) -> None:
        if a.key in self.routed:
            return  # never delete what a manifest routes to
        self.aws.call("s3", "delete_object", Bucket=self.desired.bucket, Key=a.key)

    # --- registry
    def approve(self, a: MirrorApproval) -> None:
        # The status and its description only: UpdateModelPackage changes the fields sent
        # and keeps the others (API_UpdateModelPackage), and the approver role is denied any
        # CustomerMetadataProperties key (infra/bootstrap.yaml, RegistryApproverRole).
        self.registry.call(
            "sagemaker",
            "update_model_package",
            ModelPackageArn=a.package_arn,
            ModelApprovalStatus="Approved",
            ApprovalDescription=(
                f"approved by merging {self.desired.git_sha} into {self.desired.source}"
            ),
        )

    # --- manifest
    def _put_manifest(self, manifest: Manifest, etag: str | None) -> None:
        manifest = replace(manifest, updated=utc_now())
        try:
            self.manifest_etag = write_manifest(
                self.aws, self.desired.bucket, self.desired.manifest_key, manifest, etag
            )
        except PreconditionFailed:
            raise MmeopsError(
                f"s3://{self.desired.bucket}/{self.desired.manifest_key} changed since it was "
                "read (another writer); nothing was routed, run reconcile again"
            ) from None
        self.written = manifest

    def write(self, a: WriteManifest) -> None:
        assert a.manifest is not None
        manifest = self._without_failed(a.manifest, a.previous)
        models = {
            name: replace(entry, etag=self.etags[(name, entry.version)])
            if (name, entry.version) in self.etags
            else entry
            for name, entry in manifest.models.items()
        }
        # After this run's interim write, replace that one.
        etag = a.etag if self.written is None else self.manifest_etag
        self._put_manifest(replace(manifest, models=models), etag)

    def _without_failed(self, manifest: Manifest, previous: Manifest | None) -> Manifest:
        """`manifest` with each failed model's entry put back as it was before."""
        models = dict(manifest.models)
        before = previous.models if previous else {}
        for name in self.failed:
            if name in before:
                models[name] = before[name]
            else:
                models.pop(name, None)
        return replace(manifest, models=models)

    def _restore_stable(self, plan: Plan, previous: Manifest | None) -> None:
        """Stable keys this run overwrote for models that then failed (the refresh, say): put
        the previous version back and refresh, so the fleet drops the copy it may have cached
        and the previous entry, written next, names the bytes it records."""
        before = previous.models if previous else {}
        back = [
            a
            for a in plan.of(PublishStable)
            if a.model in self.failed and a.model in self.published and a.model in before
        ]
        for a in back:
            old = before[a.model]
            self.aws.call(
                "s3",
                "copy_object",
                Bucket=self.desired.bucket,
                Key=a.key,
                CopySource={
                    "Bucket": self.desired.bucket,
                    "Key": self.desired.artifact_key(a.model, old.version),
                },
                ChecksumAlgorithm="SHA256",
            )
        if back:
            d = self.desired
            self._update_endpoint(
                RefreshEndpoint(
                    ENDPOINT,
                    d.instance_type,
                    d.instance_count,
                    f"restore after a failed refresh: {', '.join(a.model for a in back)}",
                ),
                plan,
            )

    # --- smoke tests
    def smoke_test(self, a: SmokeTest) -> None:
        """Send the sample rows and require exactly the predictions registration recorded
        for them (mmeops/sample.py): same rows, same artifact, same xgboost, same numbers."""
        expected = a.expected  # read by the plan: each object is read once per run
        rows = list(expected.sample if expected else ())[:SMOKE_ROWS] or self._sample_rows(a)
        text = self._invoke_sample(a, "\n".join(rows).encode())
        try:
            got = parse_csv_answer(text)
        except ValueError:
            raise StepFailed(f"smoke test failed: not a prediction: {text[:40]!r}") from None
        if expected is None or not expected.rows:
            # A package registered before predictions were recorded: one number per row is
            # all that can be asked of it (registering it again gives the exact check).
            if len(got) != len(rows):
                raise StepFailed(f"smoke test failed: {len(got)} predictions for {len(rows)} rows")
            return
        per_row = len(expected.predictions) // expected.rows
        want = expected.predictions[: len(rows) * per_row]
        if len(got) != len(want):
            raise StepFailed(
                f"smoke test failed: {len(got)} predictions for {len(rows)} rows, "
                f"the registered model gives {len(want)}"
            )
        if got != want:
            i = next(i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w)
            raise StepFailed(
                f"smoke test failed: the endpoint answers {got[i]!r} for sample value {i + 1}, "
                f"the registered model {want[i]!r}; is the serving image's xgboost the one "
                "the model was trained with?"
            )

    def _sample_rows(self, a: SmokeTest) -> list[str]:
        """sample.csv's first rows: for packages whose sample.json does not carry them."""
        body, _ = self.registry.get_bytes(*split_s3_uri(a.sample_uri))
        return [line for line in body.decode().splitlines() if line.strip()][:SMOKE_ROWS]

    def _invoke_sample(self, a: SmokeTest, payload: bytes) -> str:
        """The endpoint's CSV answer (one line, as the container's multi-model path writes
        it), waiting out ModelNotReadyException within `smoke_timeout`."""
        deadline = time.monotonic() + self.smoke_timeout
        delay = 1.0
        while True:
            try:
                out = self.aws.call(
                    "sagemaker-runtime",
                    "invoke_endpoint",
                    EndpointName=self.desired.endpoint_name,
                    TargetModel=a.target_model,
                    ContentType="text/csv",
                    Accept="text/csv",
                    Body=payload,
                )
                return out["Body"].read().decode()
            except AwsError as e:
                # A model still loading answers ModelNotReadyException: wait, within a bound.
                if e.code != "ModelNotReadyException" or time.monotonic() + delay > deadline:
                    raise StepFailed(f"smoke test failed: {e.code}: {_short(e)}") from None
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    # --- results
    def _results(self, plan: Plan) -> list[ModelResult]:
        return [self._result(r, _details(plan, r.model)) for r in plan.rows]

    def _result(self, r: Row, details: tuple[str, ...]) -> ModelResult:
        if r.model in self.failed:
            return ModelResult(
                r.model,
                r.live,
                r.desired,
                Status.SYNC_FAILED,
                r.action,
                self.failed[r.model],
                details,
            )
        if r.status is not Status.OUT_OF_SYNC:
            return ModelResult(r.model, r.live, r.desired, r.status, r.action, r.message, details)
        if r.model == ENDPOINT:
            return ModelResult(r.model, None, None, Status.SYNCED, r.action, r.message, details)
        if r.desired is None:  # removed from the file, applied with --prune
            return ModelResult(r.model, r.live, None, Status.PRUNED, r.action, "removed", details)
        return ModelResult(
            r.model, r.desired, r.desired, Status.SYNCED, r.action, r.message, details
        )


def _short(e: AwsError) -> str:
    text = str(e).split(": ", 2)[-1]
    return text.lower()[:160]
