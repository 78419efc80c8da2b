"""The two tiers of the suite (issue 27): `make test` is the fast tier the README names,
`make test-slow` the long scenarios and fault loops. CI (`.ci/run`) runs both tiers and the
linters."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _recipe(target: str) -> str:
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", text, re.M)
    assert match, f"no `{target}` target in the Makefile"
    return match.group(1)


def test_make_test_skips_the_slow_tier_and_make_test_slow_runs_only_it():
    assert re.search(r'pytest -q -m "not slow"', _recipe("test"))
    assert re.search(r"pytest -q -m slow\b", _recipe("test-slow"))


def test_ci_runs_the_readme_command_the_slow_tier_and_the_linters():
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "make test" in lines and "make test-slow" in lines and "make lint" in lines
    assert "make test" in (ROOT / "README.md").read_text()
