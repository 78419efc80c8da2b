"""`mmeops canary ENV MODEL`: is the canary (and the shadow) as good as the champion, judged
from the front door's capture (mmeops/datacapture.py)?

Canary versus champion, on their own requests (the route key splits them):
- error rate: a one-sided two-proportion z-test at alpha 0.05; fails when the canary's rate is
  significantly higher;
- latency: the ratio of p99 model latencies; fails above 1.2;
- predictions: the two-sample Kolmogorov-Smirnov distance D, against the critical value that
  two samples of these sizes from ONE distribution exceed with probability 0.05,
  c(0.05) * sqrt((n + m) / (n m)), c = 1.358 (asymptotic; so a small sample cannot fail on
  sampling noise alone).
Shadow versus champion, on the SAME requests (joined on the inference id): the same error and
distribution checks, and agreement: the share of pairs whose predictions differ by at most
`tolerance` (relative), reported.
Each compared set needs `min_requests` records, else the verdict is "not enough data".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from mmeops import datacapture
from mmeops.aws import Aws, for_account
from mmeops.config.repo import Repo
from mmeops.deploy.desired import load_desired
from mmeops.deploy.manifest import read_manifest
from mmeops.errors import MmeopsError, UserError

ALPHA = 0.05
KS_C = 1.358  # c(alpha) of the two-sample KS test at alpha 0.05
MAX_P99_RATIO = 1.2

PASS, FAIL, NOT_ENOUGH = "pass", "fail", "not enough data"


@dataclass(frozen=True)
class Check:
    name: str
    verdict: str
    detail: str


@dataclass
class Comparison:
    role: str  # canary | shadow
    version: int
    champion: int
    requests: tuple[int, int]  # (this variant's, the champion's compared records)
    checks: list[Check] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        verdicts = {c.verdict for c in self.checks}
        return FAIL if FAIL in verdicts else NOT_ENOUGH if NOT_ENOUGH in verdicts else PASS


@dataclass(frozen=True)
class Report:
    env: str
    model: str
    comparisons: tuple[Comparison, ...]

    @property
    def verdict(self) -> str:
        verdicts = {c.verdict for c in self.comparisons}
        return FAIL if FAIL in verdicts else NOT_ENOUGH if NOT_ENOUGH in verdicts else PASS


# --- statistics -------------------------------------------------------------------------------


def worse_error_rate(errors_a: int, n_a: int, errors_b: int, n_b: int) -> float:
    """One-sided p-value that A's error rate exceeds B's (pooled two-proportion z-test)."""
    pooled = (errors_a + errors_b) / (n_a + n_b)
    if pooled in (0.0, 1.0):
        return 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (errors_a / n_a - errors_b / n_b) / se
    return 0.5 * math.erfc(z / math.sqrt(2))


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def ks_critical(n: int, m: int) -> float:
    return KS_C * math.sqrt((n + m) / (n * m))


# --- reading capture --------------------------------------------------------------------------


def _answered(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("mmeops", {}).get("status") == 200]


def _output(record: dict) -> list[float]:
    """A record's predictions, each row's first output; [] when the record is not one the
    front door wrote (a capture object is data from S3: never trusted to parse)."""
    try:
        rows = json.loads(record["captureData"]["endpointOutput"]["data"])
        return [float(p[0] if isinstance(p, list) else p) for p in rows]
    except (KeyError, TypeError, ValueError, IndexError):
        return []


def _predictions(records: list[dict]) -> np.ndarray:
    """Every row's first output, over the records that answered."""
    return np.asarray([v for r in _answered(records) for v in _output(r)], dtype=float)


def _latency_p99(records: list[dict]) -> float:
    return float(np.percentile([r["mmeops"]["model_latency_ms"] for r in records], 99))


def _errors(records: list[dict]) -> int:
    return sum(1 for r in records if r.get("mmeops", {}).get("status") != 200)


def compare(
    role: str,
    version: int,
    champion_version: int,
    mine: list[dict],
    theirs: list[dict],
    min_requests: int,
    tolerance: float = 0.05,
) -> Comparison:
    c = Comparison(role, version, champion_version, (len(mine), len(theirs)))
    if min(len(mine), len(theirs)) < min_requests:
        c.checks.append(
            Check(
                "requests",
                NOT_ENOUGH,
                f"{len(mine)} and {len(theirs)} captured requests, {min_requests} needed each",
            )  # fmt: skip
        )
        return c
    p = worse_error_rate(_errors(mine), len(mine), _errors(theirs), len(theirs))
    c.checks.append(
        Check(
            "error rate",
            FAIL if p < ALPHA else PASS,
            f"{_errors(mine) / len(mine):.2%} vs {_errors(theirs) / len(theirs):.2%} "
            f"(one-sided p = {p:.3g}, fails below {ALPHA})",
        )
    )
    if role == "canary":
        ratio = _latency_p99(mine) / max(_latency_p99(theirs), 1e-9)
        c.checks.append(
            Check(
                "p99 latency",
                FAIL if ratio > MAX_P99_RATIO else PASS,
                f"{ratio:.2f}x the champion's (fails above {MAX_P99_RATIO})",
            )
        )
    a, b = _predictions(mine), _predictions(theirs)
    if len(a) and len(b):
        d, crit = ks_distance(a, b), ks_critical(len(a), len(b))
        c.checks.append(
            Check(
                "prediction distribution",
                FAIL if d > crit else PASS,
                f"KS distance {d:.3f}, critical {crit:.3f} at {len(a)} and {len(b)} rows",
            )
        )
    if role == "shadow":
        c.checks.append(_agreement(mine, theirs, tolerance))
    return c


def _agreement(shadow: list[dict], champion: list[dict], tolerance: float) -> Check:
    by_id = {r["eventMetadata"]["inferenceId"]: r for r in _answered(champion)}
    same = pairs = 0
    for r in _answered(shadow):
        other = by_id.get(r["eventMetadata"]["inferenceId"])
        if other is None:
            continue
        for x, y in zip(_output(r), _output(other), strict=False):
            pairs += 1
            same += abs(x - y) <= tolerance * max(abs(y), 1e-12)
    share = same / pairs if pairs else 0.0
    return Check("agreement", PASS, f"{share:.1%} of {pairs} paired rows within {tolerance:.0%}")


def _paired(shadow: list[dict], champion: list[dict]) -> tuple[list[dict], list[dict]]:
    def ids(records: list[dict]) -> set[str]:
        return {r["eventMetadata"]["inferenceId"] for r in records}

    both = ids(shadow) & ids(champion)
    pick = [
        [r for r in rs if r["eventMetadata"]["inferenceId"] in both] for rs in (shadow, champion)
    ]
    return pick[0], pick[1]


def environment_aws(repo: Repo, env_name: str) -> Aws:
    """The environment's account as a plan reaches it (deploy/reconcile.py's accounts): on
    GitHub the job's own credentials, the reader role of `ENV-readonly`, which may list and
    read `capture/<env>/`; elsewhere the file's role assumed."""
    env = repo.env(env_name)
    return for_account(env.account_id, env.region, env.role_arn)


def compare_split(
    aws: Aws,
    bucket: str,
    env_name: str,
    model: str,
    champion: int,
    variants: list[tuple[str, int]],
    min_requests: int,
) -> Report:
    """Each (role, version) beside `champion` compared with it, from capture."""

    def records(version: int, variant: str) -> list[dict]:
        return datacapture.read(aws, bucket, env_name, model, version, variant)

    champion_records = records(champion, "champion")
    comparisons = []
    for role, version in variants:
        mine, theirs = records(version, role), champion_records
        if role == "shadow":  # the same requests: only those the champion answered too
            mine, theirs = _paired(mine, theirs)
        comparisons.append(compare(role, version, champion, mine, theirs, min_requests))
    return Report(env_name, model, tuple(comparisons))


def canary_report(repo: Repo, env_name: str, model: str, min_requests: int = 100) -> Report:
    """Read the manifest's split for `model` and compare each variant with the champion."""
    desired = load_desired(repo, env_name, sha="")
    aws = environment_aws(repo, env_name)
    manifest, _ = read_manifest(aws, desired.bucket, desired.manifest_key)
    entry = manifest.models.get(model) if manifest else None
    if entry is None:
        raise UserError(f"{model} is not routed in {env_name}; nothing to compare")
    if not entry.variants:
        raise UserError(
            f"{model} has no canary or shadow in {env_name}; name one with "
            f"`mmeops promote {model} --canary V --weight W --to {env_name}`"
        )
    variants = [(v.role, v.version) for v in entry.variants]
    return compare_split(aws, desired.bucket, env_name, model, entry.version, variants,
                         min_requests)  # fmt: skip


def lines(report: Report) -> list[str]:
    """The verdicts as `mmeops canary` prints them: status first, then each check's figures."""
    out = [f"{report.env} {report.model}: {report.verdict}"]
    for c in report.comparisons:
        mine, theirs = c.requests
        out.append(
            f"  {c.role} v{c.version} vs champion v{c.champion}: {c.verdict} "
            f"({mine} and {theirs} requests)"
        )
        out += [f"    {check.name}: {check.verdict}: {check.detail}" for check in c.checks]
    return out


_ICON = {PASS: "✅", FAIL: "❌", NOT_ENOUGH: "⏳"}


def plan_notes(repo: Repo, env_name: str, promotions, min_requests: int = 100) -> list[str]:
    """Markdown for a plan that makes a live canary (or shadow) the champion: `mmeops
    canary`'s verdict on it, read from capture as the environment's reader role. A capture
    that cannot be read is said, not fatal: the plan itself stands."""
    if not promotions:
        return []
    desired = load_desired(repo, env_name, sha="")
    out = []
    for p in promotions:
        head = f"**Canary verdict** for `{p.model}` ({p.role} v{p.version} → champion)"
        try:
            aws = environment_aws(repo, env_name)
            report = compare_split(aws, desired.bucket, env_name, p.model, p.champion,
                                   [(p.role, p.version)], min_requests)  # fmt: skip
        except MmeopsError as e:
            out += [f"⚠️ {head}: capture not read: {e}", ""]
            continue
        (c,) = report.comparisons
        mine, theirs = c.requests
        out += [
            f"{_ICON[c.verdict]} {head}: **{c.verdict}** ({mine} and {theirs} captured "
            f"requests, v{p.version} vs v{p.champion})",
            "",
            *(f"- {check.name}: {check.verdict}: {check.detail}" for check in c.checks),
            "",
        ]
    return out
