"""The demo's front-door act (issue 25): a 10% canary and a shadow on prod, declared in
prod.yaml and deployed by reconcile; traffic through the front door (`mmeops invoker prod`,
which the CLI starts and hands over as a URL: the demo does not import the invoker); the canary
report from capture; the canary promoted by a commit; the promotion reverted.

`run` checks each claim and raises DemoFailed (via `check`) when one does not hold.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mmeops.config.repo import load_repo
from mmeops.deploy.promote import promote, promote_split
from mmeops.monitor.canary import canary_report

CANARY = "breast-cancer"  # v2 takes 10% of prod's route keys beside v1
SHADOW = "diabetes-progression"  # v2 is sent every request, its answers never returned
REQUESTS = 200


@dataclass(frozen=True)
class FrontDoorHandle:
    """What the CLI gives the demo: the front door's URL, a way to write out its capture, and
    a way to stop it (while the stack it writes to still runs)."""

    url: str
    flush: Callable[[], None]
    stop: Callable[[], None]


class _Client:
    def __init__(self, url: str):
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=120)

    def call(self, model: str, row: bytes, key: str) -> dict:
        headers = {"Content-Type": "text/csv", "X-Route-Key": key}
        self.conn.request("POST", f"/models/{model}/invocations", row, headers)
        r = self.conn.getresponse()
        answer = json.loads(r.read())
        if r.status != 200:
            raise RuntimeError(f"front door answered {r.status}: {answer.get('message')}")
        return answer


def _traffic(
    client: _Client, samples: dict[str, bytes], models: tuple[str, str]
) -> tuple[dict[str, dict[str, int]], str]:
    """REQUESTS calls per model, one sample row each, one route key per customer; the counts
    per model and answering version, and a route key the champion answered."""
    seen: dict[str, dict[str, int]] = {}
    champion_key = ""
    for model in models:
        rows = [r for r in samples[model].splitlines() if r.strip()]
        for i in range(REQUESTS):
            answer = client.call(model, rows[i % len(rows)], f"customer-{i}")
            key = f"{answer['variant']} v{answer['version']}"
            seen.setdefault(model, {}).setdefault(key, 0)
            seen[model][key] += 1
            if model == models[0] and answer["variant"] == "champion":
                champion_key = champion_key or f"customer-{i}"
    return seen, champion_key


def run(
    root: Path,
    samples: dict[str, bytes],
    start_front_door: Callable[[Path, str], FrontDoorHandle],
    commit: Callable[[str], None],
    reconcile: Callable[[str], object],
    revert: Callable[[], None],
    say: Callable[[str], None],
    check: Callable[[bool, str], None],
    models: tuple[str, str] = (CANARY, SHADOW),
) -> None:
    """`models`: the one that gets the canary, the one that gets the shadow (both v2, beside
    v1 in prod; qa pins v2, as promotion_from requires)."""
    canary_model, shadow_model = models
    repo = load_repo(root)
    promote_split(repo, canary_model, 2, "prod", "canary", 10)
    promote_split(repo, shadow_model, 2, "prod", "shadow", 1.0)
    prod = root / "environments" / "prod.yaml"
    prod.write_text(prod.read_text() + "capture: {sample: 1.0}\n")
    commit(f"prod: {canary_model} v2 as a 10% canary, {shadow_model} v2 as a shadow, capture all")
    reconcile("prod")

    door = start_front_door(root, "prod")
    try:
        say(f"  the front door of prod answers at {door.url}")
        client = _Client(door.url)
        seen, key = _traffic(client, samples, models)
        for model, counts in seen.items():
            answered = (f"{n} answered by {k}" for k, n in sorted(counts.items()))
            say(f"  {model}: " + ", ".join(answered))
        canary_share = seen[canary_model].get("canary v2", 0) / REQUESTS
        check(0.03 <= canary_share <= 0.2, f"the canary took {canary_share:.0%}, not about 10%")
        shadowed = seen[shadow_model]
        check(list(shadowed) == ["champion v1"], f"the shadow answered a client: {shadowed}")
        door.flush()

        report = canary_report(load_repo(root), "prod", canary_model, min_requests=10)
        for c in report.comparisons:
            say(f"  mmeops canary prod {canary_model}: {c.role} v{c.version}: {c.verdict}")
            for x in c.checks:
                say(f"    {x.name}: {x.verdict}: {x.detail}")
        shadow = canary_report(load_repo(root), "prod", shadow_model, min_requests=10)
        held = shadow.comparisons[0].requests[0]
        check(held == REQUESTS, f"the shadow's capture holds {held} of {REQUESTS} requests")
        say(f"  mmeops canary prod {shadow_model}: shadow v2 on all {REQUESTS} requests: "
            f"{shadow.verdict}")  # fmt: skip

        promote(load_repo(root), canary_model, 2, "prod")  # ends the canary: v2 is the champion
        commit(f"prod: promote {canary_model} v2 (the canary)")
        reconcile("prod")
        _served_within(client, samples[canary_model], canary_model, key, "champion v2", check)
        say(f"  promoted: every key gets {canary_model} v2 within seconds of the manifest write")

        revert()
        reconcile("prod")
        _served_within(client, samples[canary_model], canary_model, key, "champion v1", check)
        say("  reverted: v1 is the champion again, v2 back to a 10% canary")
    finally:
        door.stop()  # its last capture written while the stack still runs


def _served_within(client: _Client, sample: bytes, model: str, key: str, want: str, check):
    """The front door re-reads the manifest within a second: poll with a route key the
    champion answered (the canary's hash does not pick it) for up to 5 s."""
    row = next(r for r in sample.splitlines() if r.strip())
    deadline = time.monotonic() + 5
    while True:
        a = client.call(model, row, key)
        got = f"{a['variant']} v{a['version']}"
        if got == want:
            return
        check(time.monotonic() < deadline, f"the front door still answers {got}, not {want}")
        time.sleep(0.1)
