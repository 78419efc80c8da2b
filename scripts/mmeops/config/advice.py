"""What `mmeops validate` warns about: valid settings a platform team would regret.

A warning never fails validation (exit 0); it names the file and says why and what to set.
"""

from __future__ import annotations

from mmeops.config.repo import Repo
from mmeops.errors import UserError

NO_KMS_KEY = (
    "kms_key_id is not set: SageMaker then encrypts tuning output with the training "
    "account's AWS-managed aws/s3 key, whose key policy no other account can be granted, so "
    "no environment can copy the artifacts; set kms_key_id to infra/bootstrap.yaml's "
    "ArtifactKey alias (alias/mmeops), whose key policy lets the environment accounts decrypt"
)


UNREAD_LABELS = (
    "labels.sql is read only when monitoring reads capture; set monitor.source to capture or "
    "both, or remove labels.sql (the warehouse source's labels are query.sql's target column)"
)


def warnings(repo: Repo) -> list[UserError]:
    """Each warning as a `path:line: message` problem (never raised)."""
    found = []
    if repo.settings.kms_key_id is None:
        found.append(repo.sources["settings"].error(NO_KMS_KEY))
    for name, model in repo.models.items():
        # The file name is monitor.labels.LABELS_FILE; config sits below monitor.
        labels = repo.model_dir(name) / "labels.sql"
        if model.monitor.source == "warehouse" and labels.is_file():
            found.append(UserError(UNREAD_LABELS, labels.relative_to(repo.root)))
    return found
