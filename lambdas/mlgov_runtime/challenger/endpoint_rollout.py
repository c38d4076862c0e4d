"""SageMaker calls of the challenger gate and `mlgov rollback`: endpoint configs, blue/green updates,
variant weights, and registry status/metadata (implements challenger.ports.Endpoints and Registry)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mlgov_runtime.adapters.errors import is_not_found
from mlgov_runtime.adapters.mapped_calls import SageMakerEndpointReads
from mlgov_runtime.challenger.ports import NotFound, endpoint_configs

# Config-level settings a new config keeps from the one it replaces.
CONFIG_KEYS = (
    "KmsKeyId",
    "DataCaptureConfig",
    "ShadowProductionVariants",
    "AsyncInferenceConfig",
    "ExplainerConfig",
    "ExecutionRoleArn",
    "VpcConfig",
    "EnableNetworkIsolation",
)


def _not_found(exc: Exception, what: str) -> Exception | None:
    """A missing resource is NotFound; any other error reaches the caller as botocore raised it."""
    return NotFound(f"{what} not found") if is_not_found(exc) else None


class SageMakerRollout(SageMakerEndpointReads):
    def __init__(self, sagemaker: Any) -> None:
        super().__init__(sagemaker, _not_found)

    # -- Endpoints (describe_endpoint, describe_endpoint_config and describe_model are SageMakerEndpointReads')
    def create_model(self, name: str, package_arn: str, role_arn: str, tags: dict[str, str]) -> None:
        try:
            existing = self.describe_model(name)
        except NotFound:
            self.client.create_model(
                ModelName=name,
                ExecutionRoleArn=role_arn,
                PrimaryContainer={"ModelPackageName": package_arn},
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
            return
        served = (existing.get("PrimaryContainer") or {}).get("ModelPackageName")
        if served != package_arn:
            raise ValueError(f"model {name} already exists and serves {served}, not {package_arn}")

    def create_endpoint_config(
        self, name: str, base: Mapping[str, Any], variants: list[dict[str, Any]], tags: dict[str, str]
    ) -> None:
        try:
            self.describe_endpoint_config(name)
            return  # created by an earlier attempt of the same step
        except NotFound:
            pass
        kwargs: dict[str, Any] = {k: base[k] for k in CONFIG_KEYS if base.get(k)}
        self.client.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=variants,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            **kwargs,
        )

    def update_endpoint(self, endpoint: str, config: str) -> None:
        """Blue/green to `config`. A variant of the same name keeps its current instance count (what autoscaling
        set, not the config's initial count) but takes the config's weight."""
        if config in endpoint_configs(self.describe_endpoint(endpoint)):
            return  # served or being deployed: an earlier attempt whose answer was lost
        self.client.update_endpoint(
            EndpointName=endpoint,
            EndpointConfigName=config,
            RetainAllVariantProperties=True,
            ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DesiredWeight"}],
        )

    def set_weights(self, endpoint: str, weights: dict[str, float]) -> None:
        self.client.update_endpoint_weights_and_capacities(
            EndpointName=endpoint,
            DesiredWeightsAndCapacities=[{"VariantName": v, "DesiredWeight": w} for v, w in weights.items()],
        )

    def endpoint_tags(self, endpoint_arn: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        for page in self.client.get_paginator("list_tags").paginate(ResourceArn=endpoint_arn):
            tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
        return tags

    def tag_endpoint(self, endpoint_arn: str, tags: dict[str, str]) -> None:
        self.client.add_tags(ResourceArn=endpoint_arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    # -- Registry
    def describe_package(self, arn: str) -> dict[str, Any]:
        return self.call(f"model package {arn}", "describe_model_package", ModelPackageName=arn)

    def reject_package(self, arn: str, description: str) -> None:
        self.client.update_model_package(
            ModelPackageArn=arn, ModelApprovalStatus="Rejected", ApprovalDescription=description
        )

    def write_package_metadata(self, arn: str, metadata: dict[str, str]) -> None:
        self.client.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties=metadata)


ECR_IMAGE = re.compile(
    r"^(?P<registry>\d{12})\.dkr\.ecr(-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/"
    r"(?P<repository>[^:@]+)(:(?P<tag>[^@]+))?(@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
