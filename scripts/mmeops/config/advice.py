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


def warnings(repo: Repo) -> list[UserError]:
    """Each warning as a `path:line: message` problem (never raised)."""
    found = []
    if repo.settings.kms_key_id is None:
        found.append(repo.sources["settings"].error(NO_KMS_KEY))
    return found
