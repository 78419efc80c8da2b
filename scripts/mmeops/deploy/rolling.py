"""The rolling retrain pull request: ONE branch, `mmeops/retrain-ENV`, that every retrain run
(scheduled or started by monitoring) rebuilds on main and updates.

Pull requests that each pin a run's versions conflict with each other once one merges, and
GitHub runs no `pull_request` workflow on a conflicting one. So each run starts the branch
again from main, re-applies the pins the open pull request still carries (those main does not
have yet) and its own, and rewrites the body: a `Kind:` line per model (retuned: a new
hyperparameter search; recalibrated: the approved hyperparameters on new data), which the
review rule reads, then each model's report. The previous body is read back for the models
this run did not retrain, between markers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from mmeops.config.repo import Repo
from mmeops.deploy.promote import Promotion, promote
from mmeops.errors import UserError

KINDS = ("retuned", "recalibrated")
BODY_MAX = 60_000  # GitHub refuses a body over 65,536 characters
_SECTION = re.compile(r"<!-- mmeops-model (\S+) -->\n(.*?)\n<!-- /mmeops-model -->", re.S)


def branch(env: str) -> str:
    return f"mmeops/retrain-{env}"


@dataclass(frozen=True)
class Entry:
    model: str
    version: int
    kind: str
    report: str


def pins_of(env_file_text: str) -> dict[str, int]:
    """The `models:` pins of an environment file's text (the branch's copy)."""
    doc = YAML(typ="safe").load(env_file_text) or {}
    models = doc.get("models") or {}
    return {str(k): int(v) for k, v in models.items() if isinstance(v, int)}


def sections_of(body: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in _SECTION.finditer(body)}


# The form tune writes into the evaluation report (`**Kind: recalibrated**`) and ours.
_KIND = re.compile(r"\bKind:\s*\**\s*(recalibrated|retuned)\b", re.IGNORECASE)


def kind_of(text: str) -> str:
    """The first Kind in `text`; retuned when none (the stricter review: fail safe)."""
    found = _KIND.search(text)
    return found.group(1).lower() if found else "retuned"


def carried(current: dict[str, int], previous: dict[str, int], new: set[str]) -> dict[str, int]:
    """Pins the open pull request carries that main has not caught up with (a newer pin on
    main, merged or promoted meanwhile, wins) and this run does not replace."""
    return {m: v for m, v in previous.items() if m not in new and v > current.get(m, 0)}


def read_pins_dir(pins_dir: Path) -> list[Entry]:
    """This run's MODEL.version files, with MODEL.kind (default retuned) and MODEL.md."""
    entries = []
    for f in sorted(pins_dir.glob("*.version")):
        model = f.name.removesuffix(".version")
        kind_file = pins_dir / f"{model}.kind"
        report = pins_dir / f"{model}.md"
        text = report.read_text() if report.exists() else ""
        # MODEL.kind when given, else the report's own Kind line (tune writes it).
        kind = kind_file.read_text().strip() if kind_file.exists() else kind_of(text)
        if kind not in KINDS:
            raise UserError(f"{kind_file}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
        try:
            version = int(f.read_text().strip())
        except ValueError:
            raise UserError(f"{f}: not a version number") from None
        report = pins_dir / f"{model}.md"
        entries.append(Entry(model, version, kind, report.read_text() if report.exists() else ""))
    return entries


def body(env: str, entries: list[Entry], limit: int = BODY_MAX) -> str:
    """Pins and kinds first (always whole), then each model's section while they fit."""
    head = [f"Pins in `environments/{env}.yaml`:", ""]
    head += [f"- {e.model} v{e.version}: Kind: {e.kind}" for e in entries]
    head += [
        "",
        f"Merging this pull request approves them; the deploy workflow then reconciles **{env}**,",
        "and reverting it rolls back. Each retrain run rebuilds this pull request on main.",
        "",
    ]
    text = "\n".join(head)
    if len(text) > limit - 200:
        # The review rule needs every Kind line: a body that cannot list them is refused.
        raise UserError(
            f"the rolling pull request would pin {len(entries)} models, more than its body "
            f"can list within GitHub's 65,536 characters: merge or close {branch(env)}'s pull "
            "request, then retrain again"
        )
    cut = False
    for e in entries:
        section = (
            f"<!-- mmeops-model {e.model} -->\n### {e.model} v{e.version}\n\nKind: {e.kind}\n\n"
            f"{e.report.strip()}\n<!-- /mmeops-model -->\n\n"
        )
        if len(text) + len(section) > limit - 200:
            cut = True
            continue
        text += section
    if cut:
        text += "⚠️ **Truncated**: some reports are only in the job summaries of the runs.\n"
    return text


def roll(
    repo: Repo,
    env: str,
    pins_dir: Path,
    previous_file: str = "",
    previous_body: str = "",
    note: str = "",
) -> tuple[list[Promotion], str]:
    """Apply the carried pins and this run's to environments/ENV.yaml; returns what was
    applied and the pull request body."""
    new = read_pins_dir(pins_dir)
    if note:
        new = [Entry(e.model, e.version, e.kind, f"{note.strip()}\n\n{e.report}") for e in new]
    current = dict(repo.env(env).models)
    previous = pins_of(previous_file) if previous_file else {}
    sections = sections_of(previous_body)
    kept = [
        Entry(m, v, kind_of(sections.get(m, "")), _report(sections.get(m, "")))
        for m, v in sorted(carried(current, previous, {e.model for e in new}).items())
    ]
    entries = sorted(kept + new, key=lambda e: e.model)
    # Registered by retrain runs; the pull request's plan checks the registry.
    done = [promote(repo, e.model, e.version, env, ask_registry=False) for e in entries]
    return done, body(env, entries)


def _report(section: str) -> str:
    """A carried section's report: what followed its heading and Kind line."""
    parts = section.split("\n\n", 2)
    return parts[2] if len(parts) == 3 else "(report in the run that retrained it)"
