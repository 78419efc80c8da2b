"""Instance types are checked against botocore's service model (the enums SageMaker checks
server-side: ProductionVariantInstanceType for endpoints, TrainingInstanceType for training
jobs), so a typo is exit 2 at its line at validate, not an AWS refusal in the middle of an
apply that already took the lease and created a model."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from helpers import line_of
from mmeops.cli import main

CASES = {
    "endpoint": ("environments/sandbox.yaml", "instance_type: ml.m5.large",
                 "instance_type: ml.m5.huge", "not a SageMaker instance type for endpoints"),
    "training": ("models/breast-cancer/model.yaml", "training_instance_type: ml.m5.large",
                 "training_instance_type: ml.m5.larg", "not a SageMaker instance type for train"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", [["validate"], ["reconcile", "sandbox", "--plan"]])
def test_an_unknown_instance_type_is_exit_2_at_its_line_with_the_nearest_names(
    repo_copy, case, command
):
    file, good, bad, says = CASES[case]
    path = repo_copy / file
    text = path.read_text()
    assert good in text
    path.write_text(text.replace(good, bad))
    result = CliRunner().invoke(main, ["--repo", str(repo_copy), *command])
    assert result.exit_code == 2, result.output
    assert f"{file}:{line_of(path, bad)}:" in result.output
    assert says in result.output and "did you mean ml.m5.large" in result.output


def test_every_type_sagemaker_knows_is_accepted(repo_copy):
    path = repo_copy / "environments" / "sandbox.yaml"
    path.write_text(path.read_text().replace("ml.m5.large", "ml.g5.xlarge"))
    result = CliRunner().invoke(main, ["--repo", str(repo_copy), "validate"])
    assert result.exit_code == 0, result.output
