"""The planner: a pure function (desired, remote) -> Plan. It never calls AWS.

A plan is an ordered list of typed actions, each with a one-line message, plus one row per
model (live version, desired version, status, what will happen). Apply order keeps the
endpoint serving something valid at every moment, and the manifest naming only bytes it
records (`_apply_order`):
- versioned names: ensure endpoint -> copy and verify artifacts -> mirror approvals -> smoke
  tests (each model under its own key, before anything routes to it) -> write manifest ->
  endpoint update -> prune -> autoscaling;
- stable names: the same up to the smoke tests, then route the changed models to their
  versioned keys (interim manifest) -> overwrite the stable keys -> refresh the endpoint ->
  write the manifest (back to the stable keys) -> prune -> autoscaling. Overwriting a stable
  key the manifest routes to would, until the manifest write, serve bytes it does not record.
"""

from __future__ import annotations

from dataclasses import replace

from mmeops.config.policy import promotion_problems
from mmeops.deploy.actions import (  # noqa: F401 (re-exported: the planner's public vocabulary)
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
    RemoveModel,
    RepairEndpoint,
    ReplaceEndpoint,
    Row,
    SmokeTest,
    Status,
    UpdateEndpointConfig,
    VerifyArtifact,
    WriteManifest,
)
from mmeops.deploy.desired import Desired
from mmeops.deploy.fit import fit
from mmeops.deploy.manifest import Manifest, ManifestEntry, Variant
from mmeops.deploy.remote import (
    VERSION_KEY,
    EndpointState,
    Package,
    Remote,
    is_live,
    split_live,
)
from mmeops.errors import ConfigErrors, RegistryChanged, UserError

# --- validation -----------------------------------------------------------------------------


def check_policy(desired: Desired) -> list[UserError]:
    """promotion_from: every version here must have passed through the upstream file."""
    if desired.promotion_from is None:
        return []
    # A canary or shadow serves real requests: it too must have passed through upstream.
    pins = ((m.name, v, line) for m in desired.models for v, line in m.versions())
    return promotion_problems(pins, desired.upstream, desired.promotion_from, desired.source)


def check_owner(desired: Desired, remote: Remote) -> list[UserError]:
    """The prefix's manifest must be this environment's: another environment's (a prefix
    shared across repositories, which validation cannot see) would have its artifacts pruned
    and its routing replaced."""
    owner = remote.manifest.environment if remote.manifest else desired.env
    if owner == desired.env:
        return []
    return [
        UserError(
            f"s3://{desired.bucket}/{desired.manifest_key} is environment {owner!r}'s routing "
            f"manifest, not {desired.env!r}'s; give this environment an artifact_prefix of its "
            "own",
            desired.source,
            desired.prefix_line,
        )
    ]


def check_registry(desired: Desired, remote: Remote) -> list[UserError]:
    problems = []
    # The image the endpoint runs; the one it will be created with when there is none yet.
    image = (remote.endpoint and remote.endpoint.image_version) or desired.image_version
    for (name, version), pkg in remote.packages.items():
        m = desired.model(name)
        line = dict(m.versions()).get(version, m.line) if m else None
        if pkg is None:
            problems.append(
                UserError(
                    f"{name} v{version} is not in the registry (model package group {name}); "
                    "pin a registered version",
                    desired.source,
                    line,
                )
            )
        elif pkg.status == "Rejected" and _routed(remote, name, version):
            problems.append(
                RegistryChanged(
                    f"{name} v{version} was Rejected in the registry after it was deployed and "
                    "is still served; pin another version (a registry change: the file was "
                    "fine when merged)",
                    desired.source,
                    line,
                )
            )
        elif pkg.status == "Rejected":
            problems.append(
                UserError(
                    f"{name} v{version} is Rejected in the registry; pin another version",
                    desired.source,
                    line,
                )
            )
        elif not (pkg.sha256 and pkg.size > 0 and pkg.model_data_url and pkg.sample_uri):
            problems.append(
                UserError(
                    f"{name} v{version}'s package lacks artifact_sha256, artifact_size (a "
                    "whole number), sample_uri or ModelDataUrl; register the model again",
                    desired.source,
                    line,
                )
            )
        elif skew := version_skew(pkg, image):
            problems.append(UserError(f"{name} v{version} {skew}", desired.source, line))
    return problems


def _routed(remote: Remote, name: str, version: int) -> bool:
    entry = remote.manifest.models.get(name) if remote.manifest else None
    return entry is not None and entry.version == version


def version_skew(pkg: Package, image_version: str) -> str | None:
    """Why `pkg` must not be served by `image_version`, or None. A model saved by one xgboost
    release line loads in another without error and predicts different numbers (FACTS.md), so
    a recorded `xgboost_version` must be the image's release line. A package without one (made
    before mmeops recorded it) cannot be judged and passes; `mmeops register` records it."""
    trained = pkg.metadata.get("xgboost_version", "")
    if trained in ("", "unknown"):
        return None
    serves = image_version.split("-", 1)[0]
    if ".".join(trained.split(".")[:2]) == serves:
        return None
    return (
        f"was trained with xgboost {trained} but this environment's endpoint serves image "
        f"{image_version} (xgboost {serves}); it would predict wrong numbers without an error. "
        f"Pin a version trained with xgboost {serves}, or retrain it"
    )


def validate(desired: Desired, remote: Remote) -> None:
    problems = (
        check_owner(desired, remote) + check_policy(desired) + check_registry(desired, remote)
    )
    if len(problems) == 1:
        raise problems[0]
    if problems:
        errors = ConfigErrors(problems)
        if all(isinstance(p, RegistryChanged) for p in problems):
            errors.exit_code = RegistryChanged.exit_code  # a verdict, unless the file is wrong too
        raise errors


# --- planning -------------------------------------------------------------------------------


def _rel(desired: Desired, key: str) -> str:
    return key[len(desired.key_prefix) :]


def _model_actions(
    desired: Desired,
    remote: Remote,
    name: str,
    version: int,
    pkg: Package,
    live: ManifestEntry | None,
    *,
    champion: bool = True,
) -> list[Action]:
    key = desired.artifact_key(name, version)
    acts: list[Action] = []
    if _rel(desired, key) in remote.objects:
        acts.append(VerifyArtifact(name, version, key, pkg.sha256, pkg.size))
    else:
        acts.append(CopyArtifact(name, version, pkg.model_data_url, key, pkg.sha256, pkg.size))
    if not champion:  # a canary or shadow is called by its versioned key, whatever the naming
        acts.append(SmokeTest(name, version, _rel(desired, key), pkg.sample_uri))
        return acts
    if desired.naming == "stable":
        acts.append(
            PublishStable(name, version, key, desired.stable_key(name), pkg.sha256, pkg.size)
        )
    if desired.approve and pkg.status != "Approved":
        acts.append(MirrorApproval(name, version, pkg.arn))
    if live is None or live.version != version or live.sha256 != pkg.sha256:
        # Under its versioned key with either naming: the stable key gets the same bytes
        # (checked by SHA-256) only after the test passed.
        acts.append(SmokeTest(name, version, _rel(desired, key), pkg.sample_uri, pkg.expected))
    return acts


def _splits(desired: Desired, remote: Remote, m) -> tuple[tuple[Variant, ...], list[Action]]:
    """The manifest's variants for `m`'s canary and shadow, and what deploys those not live:
    copy (or verify) the versioned artifact, mirror its approval, smoke-test it."""
    variants: list[Variant] = []
    acts: list[Action] = []
    for split in m.splits:
        live = split_live(desired, remote.manifest, remote.objects, m.name, split)
        if live is not None:
            variants.append(replace(live, share=split.share))
            continue
        pkg = remote.packages[(m.name, split.version)]
        assert pkg is not None  # validate() refused missing packages
        key = _rel(desired, desired.artifact_key(m.name, split.version))
        variants.append(
            Variant(split.role, split.version, key, pkg.arn, pkg.sha256, pkg.size, split.share)
        )
        acts += _model_actions(desired, remote, m.name, split.version, pkg, None, champion=False)
    return tuple(variants), acts


def split_text(entry: ManifestEntry) -> str:
    """`canary v8 10%, shadow v9 25% mirrored`: how a model's requests are split."""
    parts = []
    for v in entry.variants:
        share = f"{v.share:g}%" if v.role == "canary" else f"{v.share * 100:g}% mirrored"
        parts.append(f"{v.role} v{v.version} {share}")
    if entry.capture:
        parts.append(f"capture {entry.capture * 100:g}%")
    return ", ".join(parts)


def _describe_change(live: int | None, version: int, retained: bool) -> str:
    if live is None:
        return f"add v{version}"
    if live == version:
        return f"repair v{version}"
    if version < live:
        return f"rollback v{live} → v{version}" + (" (retained: manifest only)" if retained else "")
    return f"upgrade v{live} → v{version}"


def _retention_prunes(desired: Desired, remote: Remote, name: str, version: int) -> list[Action]:
    # The version live until this apply is not kept beyond retention: prunes run after the
    # manifest routes to `version`, and the executor never deletes what a manifest still
    # routes to (a model whose switch failed). So one apply converges (issue 19, item 5).
    # Every version the file names (champion, canary, shadow) is kept whatever its age.
    m = desired.model(name)
    named = {v for v, _ in m.versions()} if m else {version}
    versions = remote.versions(name) | named
    keep = set(sorted(versions, reverse=True)[: desired.retention]) | named
    return [
        PruneArtifact(name, desired.artifact_key(name, v), f"beyond retention {desired.retention}")
        for v in sorted(versions - keep)
    ]


def _removed(desired: Desired, remote: Remote) -> dict[str, list[str]]:
    """Models live (manifest) or stored (prefix) but no longer in the file -> their keys."""
    wanted = {m.name for m in desired.models}
    out: dict[str, list[str]] = {}
    for name in remote.manifest.models if remote.manifest else {}:
        if name not in wanted:
            out.setdefault(name, [])
    for rel in remote.objects:
        match = VERSION_KEY.match(rel)
        name = match.group("model") if match else rel.removesuffix(".tar.gz")
        stable = "/" not in rel and rel.endswith(".tar.gz")
        if (match or stable) and name not in wanted:
            out.setdefault(name, []).append(desired.key_prefix + rel)
    return out


def plan(desired: Desired, remote: Remote, *, prune: bool = False) -> Plan:
    """Validate, then compute the actions that make live equal desired."""
    validate(desired, remote)
    old = remote.manifest.models if remote.manifest else {}
    new: dict[str, ManifestEntry] = {}
    actions: list[Action] = []
    rows: list[Row] = []

    for m in desired.models:
        live = old.get(m.name)
        live_v = live.version if live else None
        variants, variant_acts = _splits(desired, remote, m)
        actions += variant_acts
        if is_live(desired, remote.manifest, remote.objects, m.name, remote.checksums):
            assert live is not None
            new[m.name] = replace(live, variants=variants, capture=m.capture)
            prunes = _retention_prunes(desired, remote, m.name, m.version)
            actions += prunes
            routed = new[m.name] != live
            status = Status.OUT_OF_SYNC if prunes or routed else Status.SYNCED
            msg = prunes[0].message if prunes else f"v{m.version} live"
            if routed:
                msg = f"v{m.version} live; route {split_text(new[m.name]) or 'the champion only'}"
            action = "prune" if prunes else "route" if routed else "none"
            rows.append(Row(m.name, live_v, m.version, status, action, msg))
            continue
        pkg = remote.packages[(m.name, m.version)]
        assert pkg is not None  # validate() refused missing packages
        names = pkg.expected.feature_names if pkg.expected else ()
        new[m.name] = ManifestEntry(
            desired.target_model(m.name, m.version),
            m.version,
            pkg.arn,
            pkg.sha256,
            pkg.size,
            feature_names=names,
            feature_count=len(names),
            variants=variants,
            capture=m.capture,
        )
        acts = _model_actions(desired, remote, m.name, m.version, pkg, live)
        acts += _retention_prunes(desired, remote, m.name, m.version)
        actions += acts
        retained = any(isinstance(a, VerifyArtifact) and a.version == m.version for a in acts)
        change = _describe_change(live_v, m.version, retained)
        if variants:
            change += f"; {split_text(new[m.name])}"
        rows.append(Row(m.name, live_v, m.version, Status.OUT_OF_SYNC, change.split()[0], change))

    for name, keys in sorted(_removed(desired, remote).items()):
        live = old.get(name)
        live_v = live.version if live else None
        if not prune:
            if live is not None:
                new[name] = live
            rows.append(
                Row(
                    name,
                    live_v,
                    None,
                    Status.PRUNE_SKIPPED,
                    "none",
                    f"not in {desired.source}; rerun with --prune to remove it",
                )
            )
            continue
        if live is not None:
            actions.append(RemoveModel(name, live_v or 0))
        actions += [PruneArtifact(name, k, "model removed from the file") for k in keys]
        rows.append(
            Row(
                name,
                live_v,
                None,
                Status.OUT_OF_SYNC,
                "remove",
                f"remove (not in {desired.source})",
            )
        )

    endpoint_actions = _endpoint_actions(desired, remote, actions)
    actions += endpoint_actions
    rows += [
        Row(ENDPOINT, None, None, Status.OUT_OF_SYNC, type(a).__name__, a.message)
        for a in endpoint_actions
    ]
    published = sorted({a.model for a in actions if isinstance(a, PublishStable)})
    if published:
        actions.append(_interim_write(desired, remote, new, published))
    if new != old or published:
        changed = tuple(sorted(k for k in set(new) | set(old) if new.get(k) != old.get(k)))
        previous = remote.manifest
        actions.append(
            WriteManifest(
                "",
                Manifest(desired.env, desired.git_sha, "", new),
                previous,
                remote.manifest_etag,
                changed,
            )
        )
    actions.sort(key=lambda a: _apply_order(a, desired))  # stable: keeps per-phase order
    served = sum(len(m.versions()) for m in desired.models)  # canaries and shadows load too
    room = fit(desired.instance_type, desired.instance_count, served)
    return Plan(desired.env, tuple(actions), tuple(rows), room.line, room.over)


def _interim_write(
    desired: Desired, remote: Remote, new: dict[str, ManifestEntry], published: list[str]
) -> WriteManifest:
    """The manifest as it will be, with each model whose stable key is replaced routed to its
    versioned key meanwhile: those bytes are already copied and verified, and never change."""
    models = dict(new)
    for name in published:
        key = _rel(desired, desired.artifact_key(name, new[name].version))
        models[name] = replace(new[name], target_model=key)
    manifest = Manifest(desired.env, desired.git_sha, "", models)
    return WriteManifest(
        "", manifest, remote.manifest, remote.manifest_etag, tuple(published), interim=True
    )


# Where the steps run, beyond `Action.phase` (the executor runs them in this order).
_SMOKE = WriteManifest.phase - 0.5  # both namings: tested before anything routes to a model
_STABLE_ORDER = {  # stable names: interim routing, overwrite, refresh, then route back
    "interim": WriteManifest.phase - 0.3,
    PublishStable: WriteManifest.phase - 0.2,
    WriteManifest: UpdateEndpointConfig.phase + 0.5,
    RemoveModel: UpdateEndpointConfig.phase + 0.5,
}


def _apply_order(action: Action, desired: Desired) -> float:
    if isinstance(action, SmokeTest):
        return _SMOKE
    if desired.naming != "stable":
        return action.phase
    if isinstance(action, WriteManifest) and action.interim:
        return _STABLE_ORDER["interim"]
    return _STABLE_ORDER.get(type(action), action.phase)


def _model_problem(desired: Desired, ep: EndpointState) -> str:
    """Why the endpoint's model does not serve this environment's prefix, or ""."""
    if ep.model_missing:
        return f"its model {ep.model_name} was deleted"
    if ep.model_data_url and ep.model_data_url != desired.prefix_uri:
        return f"its model {ep.model_name} loads {ep.model_data_url}, not {desired.prefix_uri}"
    return ""


def _suspended_scaling(
    desired: Desired, remote: Remote, ep: EndpointState
) -> tuple[str, ...] | None:
    """The scaling policies an endpoint update must delete, with the target, before it runs:
    SageMaker refuses a new instance type for a variant registered as a scalable target
    ("Update endpoints that use auto scaling"); autoscaling is configured again after. Any
    update that sets the file's instance type (a repair too) is such an update."""
    if remote.scaling is None or ep.instance_type == desired.instance_type:
        return None
    return remote.scaling.policies


def _endpoint_actions(desired: Desired, remote: Remote, actions: list[Action]) -> list[Action]:
    out: list[Action] = []
    ep = remote.endpoint
    if ep is None:
        out.append(
            EnsureEndpoint(
                ENDPOINT,
                desired.endpoint_name,
                desired.image_version,
                desired.instance_type,
                desired.instance_count,
            )
        )
    elif ep.status == "Failed":
        out.append(
            ReplaceEndpoint(
                ENDPOINT,
                desired.endpoint_name,
                desired.image_version,
                desired.instance_type,
                desired.instance_count,
                f"it is Failed: {ep.failure_reason}" if ep.failure_reason else "it is Failed",
            )
        )
    elif reason := _model_problem(desired, ep):
        image = ep.image_version or desired.image_version
        out.append(
            RepairEndpoint(
                ENDPOINT,
                desired.instance_type,
                desired.instance_count,
                reason,
                suspend_scaling=_suspended_scaling(desired, remote, ep),
                image_version=image,
            )
        )
    elif (ep.instance_type, ep.instance_count) != (desired.instance_type, desired.instance_count):
        out.append(
            UpdateEndpointConfig(
                ENDPOINT,
                desired.instance_type,
                desired.instance_count,
                f"was {ep.instance_count} x {ep.instance_type}",
                ep.model_name,
                _suspended_scaling(desired, remote, ep),
            )
        )
    elif any(isinstance(a, PublishStable) for a in actions):
        # Stable names: the endpoint may serve a cached copy of the replaced artifact; a new
        # endpoint config starts a new, empty fleet.
        replaced = sorted({a.model for a in actions if isinstance(a, PublishStable)})
        out.append(
            RefreshEndpoint(
                ENDPOINT,
                desired.instance_type,
                desired.instance_count,
                f"stable names replaced: {', '.join(replaced)}",
                ep.model_name,
            )
        )
    suspended = any(
        isinstance(a, UpdateEndpointConfig) and a.suspend_scaling is not None for a in out
    )
    scaling = None if suspended else remote.scaling  # what is left once the update ran
    if desired.autoscaling is not None:
        a = desired.autoscaling
        want = (a.min_capacity, a.max_capacity, a.target_invocations)
        s = scaling
        if s is None or (s.min_capacity, s.max_capacity, s.target_invocations) != want:
            out.append(ConfigureAutoscaling(ENDPOINT, *want))
    elif scaling is not None:
        out.append(RemoveAutoscaling(ENDPOINT, scaling.policies))
    return out


# --- drift (`--check`) ----------------------------------------------------------------------


def drift(desired: Desired, remote: Remote, the_plan: Plan) -> list[str]:
    """How live differs from desired, one short line each; empty when in sync. Expects a
    remote read with `verify_all` (every pinned version resolved, checksums read)."""
    out: list[str] = []
    ep = remote.endpoint
    if ep is None:
        out.append(f"endpoint {desired.endpoint_name} does not exist")
    elif ep.status != "InService":
        out.append(f"endpoint {desired.endpoint_name} is {ep.status}, not InService")
    if remote.manifest_problem:
        out.append(remote.manifest_problem)
    elif remote.manifest is None and desired.models:
        out.append("no routing manifest")
    for m in desired.models:
        pkg = remote.packages.get((m.name, m.version))
        keys = [desired.artifact_key(m.name, m.version)]
        if desired.naming == "stable":
            keys.append(desired.stable_key(m.name))
        for key in keys:
            rel = _rel(desired, key)
            if rel not in remote.objects:
                out.append(f"{m.name}: artifact {key} is missing")
            elif pkg and rel in remote.checksums and remote.checksums[rel] != pkg.sha256:
                out.append(
                    f"{m.name}: {key} has sha256 {remote.checksums[rel][:12]}…, the "
                    f"registry says {pkg.sha256[:12]}…; delete it and apply to re-copy"
                )
        if pkg and desired.approve and pkg.status != "Approved":
            out.append(f"{m.name}: v{m.version} is {pkg.status} in the registry, not Approved")
    for row in the_plan.rows:
        if row.model == ENDPOINT:
            out.append(f"endpoint: {row.message}")
        elif row.status is Status.PRUNE_SKIPPED:
            out.append(f"{row.model}: unexpected (not in the file), still live or stored")
        elif row.status is Status.OUT_OF_SYNC:
            out.append(f"{row.model}: manifest out of date ({row.message})")
    known = {
        _rel(desired, k)
        for m in desired.models
        for k in (desired.artifact_key(m.name, m.version), desired.stable_key(m.name))
    }
    for rel in sorted(remote.objects):
        match = VERSION_KEY.match(rel)
        if not match and rel not in known:
            out.append(f"unexpected object {desired.key_prefix}{rel}")
    return list(dict.fromkeys(out))
