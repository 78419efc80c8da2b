"""`mmeops monitor`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mmeops import github, outputs
from mmeops.cli import main
from mmeops.config.repo import load_repo


@main.command("monitor")
@click.argument("env")
@click.argument("models", nargs=-1)
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First day of the window (default: the day the served version's training data ends).",
)
@click.option(
    "--output",
    type=click.Choice(["table", "markdown", "json"]),
    default="table",
    show_default=True,
    help="What to print.",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False),
    help="Also write the markdown report to this file (an issue or pull request body).",
)
@click.option(
    "--issues",
    "issues_dir",
    type=click.Path(file_okay=False),
    help="Also write one issue body per model with data drift, DIR/MODEL.md, each that "
    "model's report alone (within GitHub's 65,536 characters).",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False),
    help="Also write the report as one self-contained HTML page (charts inline).",
)
@click.pass_obj
def monitor_cmd(
    obj: dict, env: str, models, since, output: str, report_file, issues_dir, html_file
) -> None:
    """Check every model ENV serves (or only MODELS) against its served version's baseline.

    Data quality: the window's rows (the model's query, or with `monitor.source: capture`
    what clients sent through the front door; `both`: each) against the baseline registered
    with the version. Model quality: where labels arrived (the query's target, or
    labels.sql joined on capture's inference ids), the gate's metrics against their bounds.
    Exits 3 on any violation; writes `data_drift=<json>` and `quality=<json>` (model lists)
    to $GITHUB_OUTPUT.

    Example:

        mmeops monitor prod --output markdown --issues issues/ --html monitor.html
    """
    from mmeops.monitor import html, report
    from mmeops.monitor.run import Violated, check_since, monitor

    day = since.date() if since else None
    check_since(day)
    outputs.check_writable(report_file, "--report")  # before the run writes its history
    outputs.check_folder(issues_dir, "--issues")
    outputs.check_writable(html_file, "--html")
    run = monitor(load_repo(obj["repo_root"]), env, list(models), since=day)
    markdown = report.markdown(run)
    click.echo({"table": report.table, "json": report.as_json}.get(output, report.markdown)(run))
    if report_file:
        outputs.write_text(report_file, markdown)
    if issues_dir:
        Path(issues_dir).mkdir(parents=True, exist_ok=True)
        for m in run.models:
            if m.data_violated:
                path = str(Path(issues_dir) / f"{m.model}.md")
                outputs.write_text(path, report.issue_body(run, m))
    if html_file:
        outputs.write_text(html_file, html.page(run))
    github.append_summary(markdown)
    # A model monitored from both sources has two results: each list names it once.
    drifted = list(dict.fromkeys(m.model for m in run.models if m.data_violated))
    degraded = list(dict.fromkeys(m.model for m in run.models if m.quality_violated))
    github.set_output("data_drift", json.dumps(drifted))
    github.set_output("quality", json.dumps(degraded))
    if run.violated:
        bad = ", ".join(dict.fromkeys(m.model for m in run.models if m.status == "violated"))
        raise Violated(f"monitoring found violations in {env}: {bad}")
