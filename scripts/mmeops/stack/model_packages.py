"""UpdateModelPackage as SageMaker runs it: only the fields a request sends change.

Moto 5.2.5 overwrites every field on each call, so an omitted `ModelApprovalStatus`,
`ApprovalDescription` or `CustomerMetadataProperties` becomes null. SageMaker's API reference
(API_UpdateModelPackage) marks every field but `ModelPackageArn` optional and has
`CustomerMetadataPropertiesToRemove` for removing keys and
`AdditionalInferenceSpecificationsToAdd` for appending: a field left out is left alone, and
`CustomerMetadataProperties` adds or replaces the keys it names. The approver role relies on
it: it sends the status and its description, and is denied every metadata key.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from moto.sagemaker.models import SageMakerModelBackend


def _partial(original: Callable) -> Callable:
    @functools.wraps(original)
    def update_model_package(
        self: SageMakerModelBackend, model_package_arn: str, **fields
    ) -> str:  # moto's responses pass the fields by their snake_case names
        name = self.model_package_name_mapping.get(model_package_arn, model_package_arn)
        package = self.model_packages.get(name)  # None: moto's own "not found" below
        if package is not None:
            if fields["model_approval_status"] is None:
                fields["model_approval_status"] = package.model_approval_status
            if fields["approval_description"] is None:
                fields["approval_description"] = package.approval_description
            sent = fields["customer_metadata_properties"] or {}
            kept = package.customer_metadata_properties or {}
            fields["customer_metadata_properties"] = {**kept, **sent} or None
        return original(self, model_package_arn, **fields)

    return update_model_package


_install_lock = threading.Lock()


def install() -> None:
    """Make moto's UpdateModelPackage partial (idempotent)."""
    with _install_lock:
        if getattr(SageMakerModelBackend, "_mmeops_model_packages", False):
            return
        SageMakerModelBackend.update_model_package = _partial(
            SageMakerModelBackend.update_model_package
        )
        SageMakerModelBackend._mmeops_model_packages = True
