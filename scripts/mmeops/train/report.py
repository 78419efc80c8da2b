"""The evaluation report: markdown for the job summary and the pull request body."""

from __future__ import annotations

from mmeops.train.recalibrate import kind_line
from mmeops.train.register import Registration

HISTORY_POINTS = 10


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def render(r: Registration, bound: float, history_rows: list[dict]) -> str:
    gate_metric = r.verdict.metric
    if r.version is not None:
        head = f"### ✅ {r.model} v{r.version} registered (PendingManualApproval)"
    else:
        head = f"### ❌ {r.model}: gate failed, nothing registered"
    lines = [head, "", kind_line(r.record), "", r.verdict.summary(), ""]
    champion = f"champion ({r.champion.env} v{r.champion.version})" if r.champion else "champion"
    lines += [f"| metric | challenger | {champion} | bound |", "|---|---|---|---|"]
    for name, value in r.metrics.items():
        champ = r.champion.metrics.get(name) if r.champion else None
        limit = _fmt(bound) if name == gate_metric else ""
        label = f"**{name}** (gate)" if name == gate_metric else name
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
