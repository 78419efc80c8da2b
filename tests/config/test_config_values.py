"""Values that pass a naive check and fail later are refused at validation, exit 2 at their
line (issue 19, item 7): a cron that never fires, NaN or infinity where a number is
compared, a seed numpy's generators refuse."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from helpers import line_of
from mmeops.cli import main

MODEL = "models/diabetes-progression/model.yaml"

CASES = {
    "cron on February 31": ('schedule: "0 3 * * 1"', 'schedule: "0 0 31 2 *"', "never fires"),
    "NaN gate bound": ("bound: 80", "bound: .nan", "finite number"),
    "infinite range max": ("min: 0.5, max: 1.0", "min: 0.5, max: .inf", "finite number"),
    "NaN tolerance": ("tolerance: 0.05", "tolerance: .nan", "finite number"),
    "negative seed": ("seed: 7", "seed: -1", "greater than or equal to 0"),
    "seed beyond 32 bits": ("seed: 7", "seed: 4294967296", "less than or equal to"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_value_that_would_fail_later_is_exit_2_at_its_line(repo_copy, case):
    old, new, message = CASES[case]
    path = repo_copy / MODEL
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))  # the first occurrence: one bad value
    result = CliRunner().invoke(main, ["--repo", str(repo_copy), "validate"])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"{MODEL}:{line_of(path, new)}: "), line
    assert message in line, line
