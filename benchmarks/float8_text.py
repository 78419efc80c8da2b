"""What PostgreSQL's float8 text costs in C (scripts/mmeops/extract/_float8.h): nanoseconds per
value of a C loop over pre-generated doubles, against glibc's snprintf("%.17g") on the same
values in the same run (the baseline: the obvious way to print a double that round-trips).

    python benchmarks/float8_text.py [--values 10000000] [--repeat 3]

Two value sets: PostgreSQL's random() (pg_prng_double: 52 random bits in [0, 1), what the
extract benchmark's table holds) and random bit patterns (every exponent; NaN and infinities
skipped). The header is also built without the 128-bit integer (FLOAT8_NO_INT128, the path
for compilers without one). Compiled with cc -O2 as setup.py builds the extension; the
fastest of --repeat loops counts (a shared runner is noisy). Last line:

    float8_text values=N ns_random=A ns_bits=B ns_printf_random=C ns_printf_bits=D
    ns_portable_random=E ratio=F

ratio = ns_printf_random / ns_random: how many times faster than snprintf on random().
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from pathlib import Path

HEADER_DIR = Path(__file__).resolve().parent.parent / "scripts" / "mmeops" / "extract"

PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "_float8.h"

static uint64_t state = 0x9e3779b97f4a7c15u;
static uint64_t next(void) {  /* xorshift64*: fast, and good enough to pick values */
    state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
    return state * 0x2545f4914f6cdd1du;
}
static double now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9;
}
/* ns per value of the fastest of `repeat` passes; the bytes' total keeps the work alive. */
static double timed(const double *v, long n, int repeat, int use_printf, long *bytes) {
    char buf[64]; double best = 1e30;
    for (int r = 0; r < repeat; r++) {
        long total = 0; double t0 = now();
        for (long i = 0; i < n; i++)
            total += use_printf ? snprintf(buf, sizeof buf, "%.17g", v[i]) : float8_text(v[i], buf);
        double dt = now() - t0;
        if (dt < best) best = dt;
        *bytes += total;
    }
    return best / n * 1e9;
}
int main(int argc, char **argv) {
    long n = atol(argv[1]); int repeat = atoi(argv[2]), with_printf = atoi(argv[3]);
    double *random01 = malloc(n * sizeof *random01), *bits = malloc(n * sizeof *bits);
    for (long i = 0; i < n; i++) random01[i] = (double)(next() >> 12) * 0x1p-52;
    for (long i = 0; i < n;) {
        uint64_t b = next(); double d; memcpy(&d, &b, 8);
        if (((b >> 52) & 0x7ff) != 0x7ff) bits[i++] = d;
    }
    long bytes = 0;
    printf("random %.1f\n", timed(random01, n, repeat, 0, &bytes));
    printf("bits %.1f\n", timed(bits, n, repeat, 0, &bytes));
    if (with_printf) {
        printf("printf_random %.1f\n", timed(random01, n, repeat, 1, &bytes));
        printf("printf_bits %.1f\n", timed(bits, n, repeat, 1, &bytes));
    }
    fprintf(stderr, "%ld bytes\n", bytes);
    return 0;
}
"""


def run(exe: Path, values: int, repeat: int, with_printf: bool) -> dict[str, float]:
    out = subprocess.run(
        [str(exe), str(values), str(repeat), str(int(with_printf))],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+)", out)}


def build(tmp: Path, name: str, *flags: str) -> Path:
    source = tmp / "bench.c"
    source.write_text(PROGRAM)
    exe = tmp / name
    subprocess.run(
        ["cc", "-O2", *flags, "-I", str(HEADER_DIR), "-o", str(exe), str(source)], check=True
    )
    return exe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fast = run(build(Path(tmp), "fast"), args.values, args.repeat, True)
        portable = run(
            build(Path(tmp), "portable", "-DFLOAT8_NO_INT128"), args.values, args.repeat, False
        )
    print(
        f"float8_text values={args.values} ns_random={fast['random']} ns_bits={fast['bits']} "
        f"ns_printf_random={fast['printf_random']} ns_printf_bits={fast['printf_bits']} "
        f"ns_portable_random={portable['random']} "
        f"ratio={fast['printf_random'] / fast['random']:.1f}"
    )


if __name__ == "__main__":
    main()
