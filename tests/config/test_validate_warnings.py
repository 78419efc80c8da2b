"""`mmeops validate` warns, and still passes, when mmeops.yaml sets no kms_key_id: SageMaker
then encrypts tuning output with the account's AWS-managed aws/s3 key (CreateTrainingJob's
OutputDataConfig.KmsKeyId: "If you don't provide a KMS key ID, SageMaker uses the default KMS
key for Amazon S3 for your role's account"), and an AWS-managed key's policy cannot be
changed to let another account decrypt (AWS KMS docs, "AWS managed keys"), so no
environment could copy the artifact."""

from __future__ import annotations

from click.testing import CliRunner

from mmeops.cli import main


def _validate(root, env=None):
    return CliRunner().invoke(main, ["--repo", str(root), "validate"], env=env)


def _without_kms_key(root) -> None:
    settings = root / "mmeops.yaml"
    lines = settings.read_text().splitlines(keepends=True)
    settings.write_text("".join(x for x in lines if not x.startswith("kms_key_id:")))


def test_the_demo_sets_the_templates_artifact_key_and_validates_without_warning(repo_copy):
    assert "kms_key_id: alias/mmeops\n" in (repo_copy / "mmeops.yaml").read_text()
    result = _validate(repo_copy)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


def test_without_a_kms_key_validate_warns_why_and_still_passes(repo_copy):
    _without_kms_key(repo_copy)
    result = _validate(repo_copy)
    assert result.exit_code == 0, result.output
    (warning,) = [x for x in result.stderr.splitlines() if x.startswith("warning:")]
    assert warning.startswith("warning: mmeops.yaml:")
    assert "aws/s3" in warning and "alias/mmeops" in warning
    assert result.stdout.startswith("valid: ")


def test_on_github_the_warning_is_a_warning_annotation_not_an_error(repo_copy):
    _without_kms_key(repo_copy)
    result = _validate(repo_copy, env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 0
    (annotation,) = [x for x in result.stdout.splitlines() if x.startswith("::")]
    assert annotation.startswith("::warning file=mmeops.yaml")
