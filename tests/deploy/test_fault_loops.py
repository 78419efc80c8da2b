"""Issue 27, slow tier: faults mid-apply, each converging with one re-run.

- The AWS endpoint frozen: the apply's requests go through a forwarder process
  (tests/aws_proxy.py) that is SIGSTOPped after a random number of requests, held, then
  SIGCONTinued; the apply must finish or fail in one line.
- The AWS endpoint killed: the forwarder is SIGKILLed after a random number of requests and
  started again only once the apply has ended (exit 1, one line naming the call, no
  traceback).
- Racing applies: two `mmeops reconcile --apply` processes of different workflow runs, one with
  `--prune` and one without, started together: one holds the lease, the other stops with
  LeaseHeld, finds nothing left to do, or (the winner having run whole between its read and
  its take of the lease) has its conditional manifest write refused: "run reconcile again".

After each fault the re-run of the same workflow run converges: `--check` in sync, the
pinned versions routed to artifacts that hold the bytes the manifest records, invoke answers.
The scenario is test_crash.py's (11 actions: copies, approvals, a removal, the manifest, an
endpoint rollout, smoke tests, prunes). Iterations are bounded (a few minutes in all);
`MMEOPS_FAULT_SEED` replays a draw.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_crash import ENV, SHA, Scenario, routed_artifacts_exist

MMEOPS = str(Path(sys.executable).with_name("mmeops"))
PROXY = Path(__file__).parents[1] / "aws_proxy.py"
ITERATIONS = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy:
    """The forwarder process in front of the stack's AWS endpoint."""

    def __init__(self, moto_url: str, tmp: Path):
        self.port, self.target = _free_port(), int(moto_url.rsplit(":", 1)[1].strip("/"))
        self.count_file = tmp / "requests"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.count_file.write_text("0")
        self.proc = subprocess.Popen(
            [sys.executable, str(PROXY), str(self.port), str(self.target), str(self.count_file)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def requests(self) -> int:
        text = self.count_file.read_text()
        return int(text) if text.strip() else 0

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()


def _apply(s: Scenario, proxy: Proxy, *extra: str, run_id: str) -> subprocess.Popen:
    env = dict(os.environ)
    env |= {
        "AWS_ENDPOINT_URL": proxy.url,
        "GITHUB_RUN_ID": run_id,
        "GITHUB_REPOSITORY": "octo/mmeops",
        "GITHUB_SHA": SHA,
    }
    argv = [MMEOPS, "--repo", str(s.world.root), "reconcile", ENV, "--apply", *extra]
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wait_for(proxy: Proxy, apply: subprocess.Popen, requests: int) -> bool:
    """True once the apply has sent `requests` requests; False if it ended first."""
    while apply.poll() is None:
        if proxy.requests() >= requests:
            return True
        time.sleep(0.05)
    return False


def _converges(s: Scenario, monkeypatch, run_id: str) -> None:
    """The re-run of the same workflow run (it takes its own lease over), then in sync."""
    monkeypatch.setenv("GITHUB_RUN_ID", run_id)
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/mmeops")
    s.world.mmeops("reconcile", ENV, "--apply", "--prune")
    monkeypatch.delenv("GITHUB_RUN_ID")
    s.world.mmeops("reconcile", ENV, "--check")
    assert routed_artifacts_exist(s.world) == {
        s.a: s.version(s.a, 3),
        s.b: s.version(s.b, 2),
    }
    assert s.world.invoke(ENV, s.a).strip()


def _one_line_failure(out: str, code: int) -> None:
    assert "Traceback" not in out, out
    assert code in (0, 1), out
    if code == 1:
        assert "Error:" in out and "unexpected" not in out, out


def _seed() -> random.Random:
    seed = int(os.environ.get("MMEOPS_FAULT_SEED") or random.SystemRandom().randrange(10**6))
    print(f"MMEOPS_FAULT_SEED={seed}")
    return random.Random(seed)


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["frozen", "killed"])
def test_the_aws_endpoint_frozen_or_killed_mid_apply_converges_with_one_re_run(
    stack, repo_copy, tmp_path, monkeypatch, fault
):
    monkeypatch.setenv("GITHUB_SHA", SHA)
    rng = _seed()
    for i in range(ITERATIONS):
        s = Scenario(repo_copy, tmp_path, 100 + i)
        proxy = Proxy(stack.moto_url, tmp_path)
        proxy.start()
        try:
            apply = _apply(s, proxy, "--prune", run_id=str(100 + i))
            at = rng.randrange(8, 40)
            hit = _wait_for(proxy, apply, at)
            if hit and fault == "frozen":
                proxy.signal(signal.SIGSTOP)
                time.sleep(rng.uniform(2, 6))
                proxy.signal(signal.SIGCONT)
            elif hit:
                proxy.signal(signal.SIGKILL)
            out, _ = apply.communicate(timeout=600)
            print(f"{fault} after request {at} (hit: {hit}): exit {apply.returncode}")
            print(out.strip().splitlines()[-1] if out.strip() else "")
            _one_line_failure(out, apply.returncode)
            if fault == "frozen":
                assert apply.returncode == 0, out  # a pause within the timeouts is waited out
        finally:
            proxy.stop()
        _converges(s, monkeypatch, str(100 + i))


@pytest.mark.slow
def test_racing_applies_with_and_without_prune_converge_with_one_re_run(
    stack, repo_copy, tmp_path, monkeypatch
):
    monkeypatch.setenv("GITHUB_SHA", SHA)
    for i in range(ITERATIONS):
        s = Scenario(repo_copy, tmp_path, 200 + i)
        proxy = Proxy(stack.moto_url, tmp_path)  # only to run both processes the same way
        proxy.start()
        try:
            runs = {
                f"{200 + i}1": _apply(s, proxy, "--prune", run_id=f"{200 + i}1"),
                f"{200 + i}2": _apply(s, proxy, run_id=f"{200 + i}2"),
            }
            outcomes = {}
            for run_id, p in runs.items():
                out, _ = p.communicate(timeout=600)
                _one_line_failure(out, p.returncode)
                outcomes[run_id] = (p.returncode, out)
        finally:
            proxy.stop()
        codes = sorted(code for code, _ in outcomes.values())
        print(f"race {i}: exits {codes}")
        for run_id, (code, out) in outcomes.items():
            flags = "--prune" if run_id.endswith("1") else "no --prune"
            last = out.strip().splitlines()[-1] if out.strip() else ""
            print(f"  run {run_id} ({flags}): exit {code}: {last}")
        for code, out in outcomes.values():
            if code == 1:
                # LeaseHeld (the holder and its age), or, when the winner ran whole between
                # the loser's read and its take of the lease, the loser's conditional manifest
                # write refused (reconcile.still_current says why no HEAD is paid for it).
                assert "lease" in out.lower() or "changed since it was read" in out, out
        assert 0 in codes  # one of them applied
        # Each refused workflow run is re-run once, with its own flags.
        for run_id, (code, _) in outcomes.items():
            if code != 0:
                monkeypatch.setenv("GITHUB_RUN_ID", run_id)
                monkeypatch.setenv("GITHUB_REPOSITORY", "octo/mmeops")
                flags = ["--prune"] if run_id.endswith("1") else []
                s.world.mmeops("reconcile", ENV, "--apply", *flags)
                monkeypatch.delenv("GITHUB_RUN_ID")
        s.world.mmeops("reconcile", ENV, "--check")  # in sync: the --prune run applied
        assert routed_artifacts_exist(s.world) == {
            s.a: s.version(s.a, 3),
            s.b: s.version(s.b, 2),
        }
        assert s.world.invoke(ENV, s.a).strip()


@pytest.mark.slow
def test_an_apply_racing_two_retrains_converges_with_one_re_run(stack, repo_copy, monkeypatch):
    """An apply of sandbox (a model pinned to v1) while two `retrain`s of the same model run:
    the retrains register two distinct versions (SageMaker numbers them in the group), the
    apply routes exactly the pinned one, and a re-run is in sync. One iteration: a retrain
    is the longest command there is."""
    from test_reconcile import World, add_model, isolate

    monkeypatch.setenv("GITHUB_SHA", SHA)
    world = World(repo_copy, isolate(repo_copy, "f"))
    m = f"m{world.uid}-rt"
    add_model(world, m)
    yaml = world.root / "models" / m / "model.yaml"
    yaml.write_text(yaml.read_text().replace("  max_jobs: 12", "  max_jobs: 2"))
    v1 = world.register(m, seed=1)
    world.mmeops("promote", m, str(v1), "--to", "sandbox")
    env = dict(os.environ) | {"GITHUB_RUN_ID": "300", "GITHUB_REPOSITORY": "octo/mmeops"}
    base = [MMEOPS, "--repo", str(world.root)]
    procs = {
        name: subprocess.Popen(
            base + argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for name, argv in {
            "retrain 1": ["retrain", m, "--backend", "local"],
            "apply": ["reconcile", "sandbox", "--apply"],
            "retrain 2": ["retrain", m, "--backend", "local"],
        }.items()
    }
    outs = {}
    for name, p in procs.items():
        out, _ = p.communicate(timeout=900)
        last = out.strip().splitlines()[-1] if out.strip() else ""
        print(f"{name}: exit {p.returncode}: {last}")
        assert "Traceback" not in out and "unexpected" not in out, out
        assert p.returncode in ((0, 1) if name == "apply" else (0, 3)), out  # 3: the gate
        outs[name] = (p.returncode, out)
    registered = sorted(
        int(found.group(1))
        for code, out in (outs["retrain 1"], outs["retrain 2"])
        if code == 0 and (found := re.search(rf"registered {m} version (\d+)", out))
    )
    assert len(set(registered)) == len(registered), registered  # never the same version twice
    if outs["apply"][0] != 0:
        monkeypatch.setenv("GITHUB_RUN_ID", "300")
        world.mmeops("reconcile", "sandbox", "--apply")
    world.mmeops("reconcile", "sandbox", "--check")
    assert world.manifest("sandbox")["models"][m]["version"] == v1
    assert world.invoke("sandbox", m).strip()
