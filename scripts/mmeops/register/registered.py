"""Has this tuning job been registered already? Makes `mmeops register` idempotent: a retry
after a crash (or after a failure writing the report) returns the version the first attempt
created instead of registering the same artifact twice (issue 19, item 9)."""

from __future__ import annotations

from mmeops.aws import Aws
from mmeops.errors import NotFound


def description(model: str, job_name: str) -> str:
    """The package description register writes; a summary carries it, so a lookup needs no
    describe call per version."""
    return f"{model} from tuning job {job_name}"


def find_registered(aws: Aws, model: str, job_name: str) -> tuple[str, int] | None:
    """(ARN, version) of the package registered from `job_name`, newest first; None if none.
    The description narrows the search; the package's own tuning_job metadata decides."""
    wanted = description(model, job_name)
    try:
        summaries = aws.paginate(
            "sagemaker",
            "list_model_packages",
            "ModelPackageSummaryList",
            ModelPackageGroupName=model,
            SortBy="CreationTime",
            SortOrder="Descending",
        )
        for s in summaries:
            if s.get("ModelPackageDescription") != wanted:
                continue
            pkg = aws.call(
                "sagemaker", "describe_model_package", ModelPackageName=s["ModelPackageArn"]
            )
            if (pkg.get("CustomerMetadataProperties") or {}).get("tuning_job") == job_name:
                return pkg["ModelPackageArn"], int(pkg["ModelPackageVersion"])
    except NotFound:  # no group yet: nothing registered
        return None
    return None
