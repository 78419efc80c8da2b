"""The monitoring report: markdown for a pull request or job summary (status first, detail
in a table per model, a trend of the drift score), a terminal table, or JSON. Every result
says its source (the warehouse query, or capture), and what that source's reader counted."""

from __future__ import annotations

import json

from mmeops.monitor.run import (
    NOT_JUDGED,
    OK,
    SKIPPED,
    SOURCE_NAMES,
    VIOLATED,
    WAREHOUSE,
    ModelRun,
    MonitorRun,
)

TREND_POINTS = 20
ICON = {OK: "✅", VIOLATED: "❌", SKIPPED: "⏭️", NOT_JUDGED: "❔"}


def headline(m: ModelRun) -> str:
    if m.status == SKIPPED:
        return f"{m.model}: skipped ({m.reason})"
    parts = [f"{m.model} v{m.version}: {m.status}"]
    if m.data:
        window = f"{m.data.rows} rows dated {m.window.start} to {m.window.end} (exclusive)"
        parts.append(f"from the {SOURCE_NAMES[m.source]}: {m.data.skipped or window}")
    if m.drifted:
        parts.append("drift on " + ", ".join(m.drifted))
    if m.quality_violated:
        parts.append("model quality below its gate")
    return "; ".join(parts)


def table(run: MonitorRun) -> str:
    lines = [f"monitor {run.env} ({run.run_id})"]
    for m in run.models:
        lines.append(headline(m))
        lines += [f"  {note}" for note in m.notes]
        for v in m.violations:
            where = v.get("feature_name") or v.get("metric_name")
            lines.append(f"  {v['constraint_check_type']:22} {where}: {v['description']}")
    return "\n".join(lines)


def of_source(rows: list[dict], source: str) -> list[dict]:
    """History rows of one source (rows written before sources existed: the warehouse's)."""
    return [r for r in rows if r.get("source", WAREHOUSE) == source]


def _trend(model: str, rows: list[dict]) -> list[str]:
    points = [r for r in rows if r.get("drift_score") is not None][-TREND_POINTS:]
    if len(points) < 2:
        return []
    xs = ", ".join(f'"{r["run_id"][:8]}"' for r in points)
    ys = ", ".join(f"{r['drift_score']:.4g}" for r in points)
    return [
        "",
        "```mermaid",
        "xychart-beta",
        f'    title "{model}: drift score by run (1 = at the threshold)"',
        f"    x-axis [{xs}]",
        '    y-axis "drift score"',
        f"    line [{ys}]",
        "```",
    ]


def _metric(quality, name: str) -> str:
    """`rmse 4.1 (95%: 3.8 to 4.4)` for a bounded metric, the value alone for the others."""
    value = quality.metrics[name]
    if name not in quality.intervals:
        return f"{name} {value:.4g}"
    low, high = quality.intervals[name]
    return f"{name} {value:.4g} ({quality.confidence:.0%}: {low:.4g} to {high:.4g})"


def _model_section(m: ModelRun, past: list[dict]) -> list[str]:
    lines = [f"### {ICON[m.status]} {headline(m)}", ""]
    if m.status == SKIPPED:
        return lines
    lines += [f"- {note}" for note in m.notes] + ([""] if m.notes else [])
    bad = [f for f in (m.data.features if m.data else ()) if f.violations]
    if bad:
        lines += ["| feature | distance | p-value | checks |", "|---|---|---|---|"]
        for f in bad:
            kinds = ", ".join(sorted({v["constraint_check_type"] for v in f.violations}))
            shown = "n/a" if f.distance is None else f"{f.distance:.4f}"
            p = "n/a" if f.p is None else f"{f.p:.2g}"
            lines.append(f"| {f.name} | {shown} | {p} | {kinds} |")
    if m.data and m.data.tests:
        lines += [
            "",
            f"{m.data.tests} tests, false-alarm rate held at {m.data.alpha:g} per window (Holm).",
        ]
    if m.quality and m.quality.metrics:
        values = ", ".join(_metric(m.quality, k) for k in m.quality.metrics)
        lines += ["", f"Model quality on {m.quality.labeled_rows} labeled rows: {values}"]
    elif m.quality and m.quality.skipped:
        lines += ["", f"Model quality not measured: {m.quality.skipped}"]
    lines += [
        "",
        "<details><summary>violations and trend</summary>",
        "",
        *(f"- `{v['constraint_check_type']}` {v['description']}" for v in m.violations),
        *_trend(f"{m.model} ({SOURCE_NAMES[m.source]})", of_source(past, m.source)),
        "",
        f"Violations file: `{m.violations_uri}`" if m.violations_uri else "",
        "</details>",
        "",
    ]
    return lines


def markdown(run: MonitorRun) -> str:
    bad = list(dict.fromkeys(m.model for m in run.models if m.status == VIOLATED))
    status = f"❌ violations in {', '.join(bad)}" if bad else "✅ no violations"
    lines = [f"## Monitoring {run.env}: {status}", "", f"Run `{run.run_id}`.", ""]
    for m in run.models:
        lines += _model_section(m, run.history.get(m.model, []))
    return "\n".join(lines).rstrip() + "\n"


# GitHub refuses an issue body over 65,536 characters ("Limits for issues": the REST API's
# `body` maximum); the margin leaves room for the line the workflow appends (the run's link).
ISSUE_LIMIT = 65_536
ISSUE_BODY_MAX = 60_000


def issue_body(run: MonitorRun, m: ModelRun, limit: int = ISSUE_BODY_MAX) -> str:
    """The data-drift issue of ONE model: its own sections (one per source), never the other
    models'; cut at whole lines to `limit` characters (thousands of drifted features)."""
    own = [m]
    if any(r is m for r in run.models):  # each source's result of the model, in run order
        own = [r for r in run.models if r.model == m.model]
    status = VIOLATED if any(r.status == VIOLATED for r in own) else m.status
    past = run.history.get(m.model, [])
    lines = [
        f"## Monitoring {run.env}: {ICON[status]} {m.model}",
        "",
        f"Run `{run.run_id}`.",
        "",
        *(line for r in own for line in _model_section(r, past)),
    ]
    text = "\n".join(lines).rstrip() + "\n"
    if len(text) <= limit:
        return text
    note = "\n⚠️ **Truncated**: the whole report is in the run's job summary and violations file.\n"
    close = "\n</details>"
    kept = text[: limit - len(note) - len(close)].rsplit("\n", 1)[0]
    # An open <details> would swallow the note: close it.
    if kept.count("<details>") > kept.count("</details>"):
        kept += close
    return kept + "\n" + note


def as_json(run: MonitorRun) -> str:
    models = []
    for m in run.models:
        models.append(
            {
                "model": m.model,
                "source": m.source,
                "status": m.status,
                "version": m.version,
                "reason": m.reason,
                "window": {"start": str(m.window.start), "end": str(m.window.end)}
                if m.window
                else None,
                "rows": m.data.rows if m.data else 0,
                "drift_score": m.data.score if m.data else None,
                "drifted": m.drifted,
                "data_violated": m.data_violated,
                "quality_violated": m.quality_violated,
                "metrics": m.quality.metrics if m.quality else {},
                "intervals": m.quality.intervals if m.quality else {},
                "tests": m.data.tests if m.data else 0,
                "violations": m.violations,
                "violations_uri": m.violations_uri,
                "notes": list(m.notes),
            }
        )
    return json.dumps({"env": run.env, "run_id": run.run_id, "models": models}, indent=2)
