"""A reconcile report as rows (the CLI's rich table), markdown (a pull request comment or a
job summary: status first, detail in <details>) or JSON (machines)."""

from __future__ import annotations

import json

from mmeops.deploy.reconcile import Report

COLUMNS = ("model", "live", "desired", "status", "action", "message")


def _v(version: int | None) -> str:
    return "-" if version is None else f"v{version}"


def rows(report: Report) -> list[tuple[str, ...]]:
    return _rows(report.results)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# GitHub refuses a comment over 65,536 characters, and the plan comment holds one report per
# environment (three): a third of it each, with room for the headings.
COMMENT_CHARS = 20_000
_NOTICE_ROOM = 200  # the truncation notice and the <details> wrapper


def _quiet(r) -> bool:
    """A model with nothing to do: counted in a bounded report, not listed."""
    return r.status.value == "synced" and not r.details and r.live == r.desired


def markdown(report: Report, max_chars: int | None = None, notes: tuple[str, ...] = ()) -> str:
    """The report in markdown. With `max_chars` (a pull request comment), models with nothing
    to do are counted instead of listed and rows beyond the budget are cut, saying so.
    `notes` (markdown lines: a promoted canary's verdict) follow the status and are never
    cut: they are what a reviewer decides on."""
    icon = "✅" if report.in_sync else ("❌" if report.failed or report.drift else "🔄")
    out = [f"{icon} **{report.summary()}**", ""]
    if report.plan is not None and report.plan.capacity:
        out += [("⚠️ " if report.plan.over_capacity else "") + _cell(report.plan.capacity), ""]
    out += list(notes)
    drift = [f"- {_cell(d)}" for d in report.drift]
    results = list(report.results)
    if max_chars is not None:
        quiet = sum(_quiet(r) for r in results)
        results = [r for r in results if not _quiet(r)]
        if quiet:
            out += [f"{quiet} models in sync with nothing to do (listed in the job summary).", ""]
    table = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    table += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in _rows(results)]
    details = [(r.model, d) for r in results for d in r.details]
    lines = [f"- `{m}`: {_cell(d)}" for m, d in details]
    footer = ["", f"<sub>{report.mode} of `{report.git_sha[:12]}`</sub>"]
    full = _join(out, drift, table, lines, footer)
    if max_chars is None or len(full) <= max_chars:
        return full
    # Cut detail lines, then table rows, then drift lines, from the end, until the rest fits
    # beside the notice.
    budget, size, cut = max_chars - _NOTICE_ROOM, len(full), 0
    while size > budget and (lines or len(table) > 2 or drift):
        size -= len((lines or (table if len(table) > 2 else drift)).pop()) + 1
        cut += 1
    notice = f"⚠️ **Truncated**: {cut} more lines are in this run's job summary."
    return _join(out, drift, table, lines, ["", notice, *footer])


def _rows(results) -> list[tuple[str, ...]]:
    return [
        (r.model, _v(r.live), _v(r.desired), r.status.value, r.action, r.message) for r in results
    ]


def _join(
    head: list[str], drift: list[str], table: list[str], lines: list[str], footer: list[str]
) -> str:
    out = head + (drift + [""] if drift else []) + table
    if lines:
        out += [
            "",
            f"<details><summary>{len(lines)} actions</summary>",
            "",
            *lines,
            "",
            "</details>",
        ]
    return "\n".join(out + footer) + "\n"


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
