"""The evaluation report: markdown for the job summary and the pull request body."""

from __future__ import annotations

from mmeops.register.run import Registration
from mmeops.tune.recalibrate import kind_line

HISTORY_POINTS = 10


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


# Thresholded binary metrics at 0: the model never gets the positive class right.
SUSPICIOUS_AT_ZERO = {"f1", "precision", "recall"}


def _head(r: Registration) -> str:
    if r.version is not None and r.verdict.warnings:
        return f"### ⚠️ {r.model} v{r.version} registered (PendingManualApproval), with warnings"
    if r.version is not None:
        return f"### ✅ {r.model} v{r.version} registered (PendingManualApproval)"
    if r.verdict.refusals:
        return f"### ❌ {r.model}: refused as degenerate, nothing registered"
    return f"### ❌ {r.model}: gate failed, nothing registered"


def _mark(r: Registration, name: str, value: float) -> str:
    """❌ for a metric that failed its bound or that shows a useless model, whatever passed."""
    suspicious = value != value or (  # NaN: undefined on this test set
        r.problem == "binary" and name in SUSPICIOUS_AT_ZERO and value == 0
    )
    if name in r.verdict.failed_metrics() or suspicious:
        return " ❌"
    return " ✅" if name in r.verdict.gated else ""


def render(r: Registration, bound: float, history_rows: list[dict]) -> str:
    gate_metric = r.verdict.metric
    bounds = {c.name.split(" ", 1)[0]: c.limit for c in r.verdict.checks if "absolute" in c.name}
    bounds.setdefault(gate_metric, bound)
    lines = [_head(r), "", kind_line(r.record), "", r.verdict.summary(), ""]
    lines += [f"> ⚠️ {w}" for w in r.verdict.warnings]
    lines += [""] if r.verdict.warnings else []
    champion = f"champion ({r.champion.env} v{r.champion.version})" if r.champion else "champion"
    lines += [f"| metric | challenger | {champion} | bound |", "|---|---|---|---|"]
    for name, value in r.metrics.items():
        champ = r.champion.metrics.get(name) if r.champion else None
        gated = name in r.verdict.gated
        limit = _fmt(bounds.get(name)) if gated else ""
        label = (f"**{name}** (gate)" if gated else name) + _mark(r, name, value)
        lines.append(f"| {label} | {_fmt(value)} | {_fmt(champ)} | {limit} |")
    lines += ["", "Champion and challenger are scored on the same new test set."]
    rec = r.record
    warm = rec.warm_start_type or "cold start"
    parents = ", ".join(rec.parents) if rec.parents else "none"
    lines += [
        "",
        "<details><summary>Tuning and warm start</summary>",
        "",
        f"- tuning job `{rec.job_name}` ({rec.backend}, {rec.n_training_jobs} training jobs)",
        f"- {rec.eval_metric} = {_fmt(rec.best_value)}",
        f"- warm start: {warm}; parents: {parents}",
        f"- dataset `{rec.dataset_run_id}` (sha256 `{rec.dataset_sha256[:12]}`)",
        f"- evaluation: `{r.evaluation_uri}`",
        "",
        "</details>",
    ]
    chart = _chart(gate_metric, history_rows)
    if chart:
        lines += [
            "",
            "<details><summary>Gate metric over the last versions</summary>",
            "",
            *chart,
            "",
            "</details>",
        ]
    return "\n".join(lines) + "\n"


def _chart(metric: str, rows: list[dict]) -> list[str]:
    points = [
        (row["version"], row.get(metric))
        for row in rows
        if row.get("version") is not None and row.get(metric) is not None
    ]
    points = points[-HISTORY_POINTS:]
    if not points:
        return []
    xs = ", ".join(f'"v{v}"' for v, _ in points)
    ys = ", ".join(f"{value:.6g}" for _, value in points)
    return [
        "```mermaid",
        "xychart-beta",
        f'    title "{metric} by registered version"',
        f"    x-axis [{xs}]",
        f'    y-axis "{metric}"',
        f"    line [{ys}]",
        "```",
    ]
