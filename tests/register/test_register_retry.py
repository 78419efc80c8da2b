"""Issue 19, item 9: a report path that cannot be written stops `register` before it
registers anything, and registering the same tuning job again returns the version the first
attempt created, so a retry never makes a second package of one artifact."""

from __future__ import annotations

from pathlib import Path

from test_register import diabetes, run, training  # noqa: F401

from mmeops.config.repo import load_repo


def versions(root: Path, name: str) -> list[int]:
    aws = training(load_repo(root))
    return [
        s["ModelPackageVersion"]
        for s in aws.paginate(
            "sagemaker",
            "list_model_packages",
            "ModelPackageSummaryList",
            ModelPackageGroupName=name,
        )
    ]


def test_an_unwritable_report_stops_register_before_anything_then_a_retry_is_one_version(
    diabetes,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
):
    root, name = diabetes
    (tmp_path / "a-file").write_text("")
    for bad in (tmp_path / "a-file" / "report.md", tmp_path / "no-such-folder" / "report.md"):
        result = run(root, "register", name, "--report", str(bad))
        assert result.exit_code == 2, result.output
        (line,) = result.output.strip().splitlines()
        assert line.startswith(f"Error: --report {bad} ") and "pass a file path" in line
    assert versions(root, name) == []  # no group, no package: nothing was registered

    first = run(root, "register", name, "--report", str(tmp_path / "report.md"))
    assert first.exit_code == 0, first.output
    again = run(root, "register", name)  # the same (latest) tuning job
    assert again.exit_code == 0, again.output
    assert versions(root, name) == [1]
    assert f"registered {name} version 1" in again.output
    assert (tmp_path / "report.md").read_text().strip()
