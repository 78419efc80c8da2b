"""A reconcile report as rows (the CLI's rich table), markdown (a pull request comment or a
job summary: status first, detail in <details>) or JSON (machines)."""

from __future__ import annotations

import json

from mmeops.deploy.reconcile import Report

COLUMNS = ("model", "live", "desired", "status", "action", "message")


def _v(version: int | None) -> str:
    return "-" if version is None else f"v{version}"


def rows(report: Report) -> list[tuple[str, ...]]:
    return [
        (r.model, _v(r.live), _v(r.desired), r.status.value, r.action, r.message)
        for r in report.results
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: Report) -> str:
    icon = "✅" if report.in_sync else ("❌" if report.failed or report.drift else "🔄")
    out = [f"{icon} **{report.summary()}**", ""]
    if report.plan is not None and report.plan.capacity:
        out += [("⚠️ " if report.plan.over_capacity else "") + _cell(report.plan.capacity), ""]
    if report.drift:
        out += [f"- {_cell(d)}" for d in report.drift] + [""]
    out += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows(report)]
    details = [(r.model, d) for r in report.results for d in r.details]
    if details:
        out += ["", f"<details><summary>{len(details)} actions</summary>", ""]
        out += [f"- `{m}`: {_cell(d)}" for m, d in details]
        out += ["", "</details>"]
    out += ["", f"<sub>{report.mode} of `{report.git_sha[:12]}`</sub>"]
    return "\n".join(out) + "\n"


def as_json(report: Report) -> str:
    return json.dumps(
        {
            "environment": report.env,
            "mode": report.mode,
            "git_sha": report.git_sha,
            "summary": report.summary(),
            "in_sync": report.in_sync,
            "drift": list(report.drift),
            "capacity": report.plan.capacity if report.plan is not None else "",
            "models": [
                {
                    "model": r.model,
                    "live": r.live,
                    "desired": r.desired,
                    "status": r.status.value,
                    "action": r.action,
                    "message": r.message,
                    "actions": list(r.details),
                }
                for r in report.results
            ],
        },
        indent=2,
    )
