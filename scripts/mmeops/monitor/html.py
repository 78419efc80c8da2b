"""The monitoring report as one self-contained HTML page (a workflow artifact, or Pages):
status first, then per model its verdict, the quality metrics with their intervals against
the gate's bound, the drift score's trend over past runs, and each feature's baseline and
window distributions drawn over each other. Inline CSS and SVG only: no script, no fetch,
so it renders the same from an artifact zip, a file:// URL or Pages."""

from __future__ import annotations

import html
import math

import numpy as np

from mmeops.monitor.run import NOT_JUDGED, OK, SKIPPED, VIOLATED, WAREHOUSE, ModelRun, MonitorRun
from mmeops.register.statistics import cdf_points

COLOUR = {VIOLATED: "#cf222e", OK: "#1a7f37", NOT_JUDGED: "#6e7781", SKIPPED: "#6e7781"}
BASE, WINDOW = "#8c959f", "#0969da"
W, H = 240, 90  # one distribution chart
TREND_W, TREND_H = 480, 110

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1f2328; }
header { padding: 18px 24px; color: #fff; }
header h1 { margin: 0; font-size: 22px; }
main { padding: 8px 24px 32px; }
section.model { border: 1px solid #d0d7de; border-radius: 6px; margin: 16px 0;
  padding: 0 16px 12px; }
section.model h2 { margin: 0 -16px 8px; padding: 8px 16px; color: #fff; font-size: 17px; }
.charts { display: flex; flex-wrap: wrap; gap: 10px; }
figure { margin: 0; } figcaption { font-size: 12px; }
figure.violated figcaption { color: #cf222e; font-weight: 600; }
table { border-collapse: collapse; } td, th { padding: 2px 8px; border-bottom: 1px solid #eaeef2; }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; }
"""


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _numeric_shares(base: dict, window: dict | None) -> tuple[list[str], list[float], list[float]]:
    """The baseline's ten buckets, and the window's share in each (from its own sketch)."""
    buckets = base["numerical_statistics"]["distribution"]["kll"]["buckets"]
    total = sum(b["count"] for b in buckets) or 1
    labels = [f"{b['lower_bound']:.3g}" for b in buckets]
    shares = [b["count"] / total for b in buckets]
    if not window or "numerical_statistics" not in window:
        return labels, shares, []
    items, cdf = cdf_points(window)
    if not items.size:
        return labels, shares, []
    edges = [b["upper_bound"] for b in buckets[:-1]]
    at = np.searchsorted(items, edges, side="right")
    below = np.concatenate([[0.0], np.where(at > 0, cdf[np.maximum(at - 1, 0)], 0.0), [1.0]])
    return labels, shares, list(np.diff(below))


def _categorical_shares(base: dict, window: dict | None):
    def counts(feature: dict | None) -> dict[str, int]:
        if not feature or "string_statistics" not in feature:
            return {}
        buckets = feature["string_statistics"]["distribution"]["categorical"]["buckets"]
        return {b["value"]: b["count"] for b in buckets}

    b, w = counts(base), counts(window)
    labels = list(b) + [k for k in w if k not in b]
    labels = sorted(labels, key=lambda k: -b.get(k, 0))[:20]
    bt, wt = sum(b.values()) or 1, sum(w.values()) or 1
    return (
        labels,
        [b.get(k, 0) / bt for k in labels],
        [w.get(k, 0) / wt for k in labels] if w else [],
    )


def distribution_svg(base: dict, window: dict | None) -> str:
    """Baseline shares as grey bars, the window's as blue outlined bars over them."""
    if "string_statistics" in base:
        labels, shares, current = _categorical_shares(base, window)
    else:
        labels, shares, current = _numeric_shares(base, window)
    if not labels:
        return f'<svg width="{W}" height="{H}" role="img"></svg>'
    top = max([*shares, *current, 1e-9])
    step = W / len(labels)
    parts = [f'<svg width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img">']
    for i, share in enumerate(shares):
        h = (H - 14) * share / top
        parts.append(
            f'<rect x="{i * step + 1:.1f}" y="{H - 14 - h:.1f}" width="{step - 2:.1f}" '
            f'height="{h:.1f}" fill="{BASE}"/>'
        )
    for i, share in enumerate(current):
        h = (H - 14) * share / top
        parts.append(
            f'<rect x="{i * step + 3:.1f}" y="{H - 14 - h:.1f}" width="{max(step - 6, 1):.1f}" '
            f'height="{h:.1f}" fill="none" stroke="{WINDOW}" stroke-width="2"/>'
        )
    parts.append(
        f'<text x="0" y="{H - 2}" font-size="10">{_esc(labels[0])}</text>'
        f'<text x="{W}" y="{H - 2}" font-size="10" text-anchor="end">{_esc(labels[-1])}</text>'
    )
    return "".join(parts) + "</svg>"


def trend_svg(rows: list[dict]) -> str:
    """The drift score over past runs, with the line at 1 (a violation above it)."""
    points = [r["drift_score"] for r in rows if r.get("drift_score") is not None][-30:]
    if len(points) < 2:
        return "<p>Trend: fewer than two runs so far.</p>"
    top = max(max(points), 1.5)
    xs = [10 + i * (TREND_W - 20) / (len(points) - 1) for i in range(len(points))]
    ys = [TREND_H - 10 - (TREND_H - 20) * p / top for p in points]
    one = TREND_H - 10 - (TREND_H - 20) / top
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    return (
        f'<svg width="{TREND_W}" height="{TREND_H}" role="img" aria-label="drift score trend">'
        f'<line x1="0" x2="{TREND_W}" y1="{one:.1f}" y2="{one:.1f}" stroke="{COLOUR[VIOLATED]}" '
        f'stroke-dasharray="4 3"/><polyline points="{line}" fill="none" stroke="{WINDOW}" '
        f'stroke-width="2"/></svg>'
    )


def _quality(m: ModelRun) -> str:
    q = m.quality
    if q is None:
        return ""
    if q.skipped or not q.metrics:
        return f"<p>Model quality: {_esc(q.skipped or 'no labeled rows')}</p>"
    cells = []
    for name, value in q.metrics.items():
        low, high = q.intervals.get(name, (math.nan, math.nan))
        shown = f"{low:.4g} to {high:.4g}" if name in q.intervals else ""
        bad = any(v.get("metric_name") == name for v in q.violations)
        cells.append(
            f"<tr{' style=color:#cf222e' if bad else ''}><td>{_esc(name)}</td>"
            f"<td>{value:.4g}</td><td>{shown}</td></tr>"
        )
    return (
        f"<p>Model quality on {q.labeled_rows} labeled rows ({q.confidence:.0%} bootstrap "
        "interval; a violation only when the whole interval fails the gate):</p>"
        f"<table><tr><th>metric</th><th>value</th><th>interval</th></tr>{''.join(cells)}</table>"
    )


def _features(m: ModelRun) -> str:
    if not m.data or not m.distributions:
        return ""
    base, window = ({f["name"]: f for f in s.get("features", [])} for s in m.distributions)
    figures = []
    for f in m.data.features:
        if f.name not in base:
            continue
        caption = f.name
        if f.p is not None:
            caption += f" (p={f.p:.2g})"
        elif f.distance is not None:
            caption += f" ({f.distance:.3f} / {f.limit:.3f})"
        figures.append(
            f'<figure class="{"violated" if f.violations else "ok"}">'
            f"{distribution_svg(base[f.name], window.get(f.name))}"
            f"<figcaption>{_esc(caption)}</figcaption></figure>"
        )
    legend = (
        f'<p class="legend"><span style="background:{BASE}"></span>baseline'
        f'<span style="border:2px solid {WINDOW}"></span>window</p>'
    )
    return legend + f'<div class="charts">{"".join(figures)}</div>'


def _model(m: ModelRun, past: list[dict]) -> str:
    from mmeops.monitor.report import headline, of_source

    # One section per model and source: the warehouse's keeps the id it always had.
    anchor = m.model if m.source == WAREHOUSE else f"{m.model}-{m.source}"
    parts = [
        f'<section class="model {m.status.replace(" ", "-")}" id="model-{_esc(anchor)}" '
        f'data-source="{_esc(m.source)}">',
        f'<h2 style="background:{COLOUR[m.status]}">{_esc(headline(m))}</h2>',
    ]
    if m.notes:
        parts.append("<ul>" + "".join(f"<li>{_esc(n)}</li>" for n in m.notes) + "</ul>")
    past = of_source(past, m.source)
    if m.status != SKIPPED:
        if m.data and m.data.tests:
            parts.append(
                f"<p>{m.data.tests} tests; false-alarm rate held at {m.data.alpha:g} "
                "per window (Holm).</p>"
            )
        if m.violations:
            items = "".join(
                f"<li><code>{_esc(v['constraint_check_type'])}</code> "
                f"{_esc(v.get('feature_name') or v.get('metric_name'))}: "
                f"{_esc(v['description'])}</li>"
                for v in m.violations
            )
            parts.append(f"<ul>{items}</ul>")
        parts += [_quality(m), trend_svg(past), _features(m)]
    return "".join(parts) + "</section>"


def page(run: MonitorRun) -> str:
    """The whole report: one banner in the run's status colour, then a section per model."""
    bad = list(dict.fromkeys(m.model for m in run.models if m.status == VIOLATED))
    status = VIOLATED if bad else OK
    title = f"Monitoring {run.env}: " + (
        f"violations in {', '.join(bad)}" if bad else "no violations"
    )
    body = "".join(_model(m, run.history.get(m.model, [])) for m in run.models)
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{_esc(title)}</title><style>{STYLE}</style></head><body>"
        f'<header id="status" class="{status}" style="background:{COLOUR[status]}">'
        f"<h1>{_esc(title)}</h1><div>run {_esc(run.run_id)}, {_esc(run.time)}</div></header>"
        f"<main>{body}</main></body></html>\n"
    )
