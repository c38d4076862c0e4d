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
    client_token: str | None = None,
) -> str:
    """Register a package as PendingManualApproval; approval stays a human (approver role) decision.
    `container`: the pinned container (ImageDigest, ModelDataETag) when registration pinned it."""
    answer = sm.create_model_package(
        **({"ClientToken": client_token} if client_token else {}),
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


def package_naming(sm: Any, group: str, model_data_url: str, created_after: Any = None) -> str | None:
    """A package of the group naming `model_data_url` (a registration whose answer was lost), or None."""
    pages = sm.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group,
        SortBy="CreationTime",
        SortOrder="Descending",
        **({"CreationTimeAfter": created_after} if created_after is not None else {}),
    )
    for page in pages:
        for summary in page.get("ModelPackageSummaryList", []):
            described = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            containers = (described.get("InferenceSpecification") or {}).get("Containers") or []
            if any(c.get("ModelDataUrl") == model_data_url for c in containers):
                return str(summary["ModelPackageArn"])
    return None
