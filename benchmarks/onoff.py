"""The timing both overhead benchmarks share (strict_overhead.py, iam_overhead.py): the same
request mix in rounds with a check on and off, alternated in one run on the same moto."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from contextlib import AbstractContextManager


def arguments(doc: str) -> argparse.Namespace:
    """--requests per round and --repeat rounds of each arm."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    return parser.parse_args()


def timed_round(mix: Callable[[int], int], requests: int) -> tuple[float, float]:
    """(requests per wall second, CPU milliseconds per request) of `mix(i)` calls, each sending
    some requests and returning how many. Client and moto run in this process, so its CPU time
    covers both sides and is barely moved by other processes' load."""
    sent, start, cpu, i = 0, time.perf_counter(), time.process_time(), 0
    while sent < requests:
        sent += mix(i)
        i += 1
    return sent / (time.perf_counter() - start), (time.process_time() - cpu) * 1000 / sent


def compare(
    name: str,
    mix: Callable[[int], int],
    off: Callable[[], AbstractContextManager],
    requests: int,
    repeat: int,
    refused: Callable[[], list],
) -> None:
    """Rounds alternate on/off after an untimed warm-up of each; the fastest of `repeat` rounds
    counts (a shared runner is noisy). Nothing may have been `refused()` outside a round with
    the check off. Prints the rounds, then the benchmark's last line."""
    timed_round(mix, 50)  # untimed: imports, connections, model loading
    with off():
        timed_round(mix, 50)
    on, offs = [], []
    for _ in range(repeat):
        on.append(timed_round(mix, requests))
        with off():
            offs.append(timed_round(mix, requests))
    assert refused() == [], refused()
    for label, rounds in (("on ", on), ("off", offs)):
        shown = ", ".join(f"{r:.0f}/s {ms:.2f}ms" for r, ms in rounds)
        print(f"rounds {label}: {shown} (requests per second, CPU per request)")
    best_on, best_off = max(r for r, _ in on), max(r for r, _ in offs)
    cpu_on, cpu_off = min(ms for _, ms in on), min(ms for _, ms in offs)
    print(
        f"{name} requests={requests} rps_on={best_on:.0f} "
        f"rps_off={best_off:.0f} overhead_pct={(best_off / best_on - 1) * 100:.1f} "
        f"cpu_ms_on={cpu_on:.2f} cpu_ms_off={cpu_off:.2f} "
        f"cpu_overhead_pct={(cpu_on / cpu_off - 1) * 100:.1f}"
    )
