"""Model Registry reads and writes for the retraining pipeline and the coverage check."""

from __future__ import annotations

from typing import Any

from mlgov_runtime.core.arns import sagemaker_arn


def latest_approved_package(sm: Any, group: str) -> dict[str, Any] | None:
    """The most recent Approved package of the group, described (with its metadata), or None."""
    listed = sm.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    ).get("ModelPackageSummaryList", [])
    if not listed:
        return None
    return dict(sm.describe_model_package(ModelPackageName=listed[0]["ModelPackageArn"]))


def group_arn(region: str, account: str, group: str) -> str:
    return sagemaker_arn(region, account, f"model-package-group/{group.lower()}")


def create_pending_package(
    sm: Any,
    group: str,
    description: str,
    image: str,
    model_data_url: str,
    metadata: dict[str, str],
    container: dict[str, str] | None = None,
) -> str:
    """Register a package as PendingManualApproval; approval stays a human (approver role) decision.
    `container`: the pinned container (ImageDigest, ModelDataETag) when registration pinned it."""
    answer = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=description,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [container or {"Image": image, "ModelDataUrl": model_data_url}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        CustomerMetadataProperties=metadata,
    )
    return str(answer["ModelPackageArn"])
