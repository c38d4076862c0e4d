"""The emulator's extensions to moto: UpdateEndpoint and inference components, through boto3."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from mlgov.emulator import install

REGION = "us-east-1"


@pytest.fixture
def sm() -> Iterator[Any]:
    install()
    with mock_aws():
        client = boto3.client("sagemaker", region_name=REGION)
        for name in ("model-a", "model-b"):
            client.create_model(
                ModelName=name,
                ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
                PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"},
            )
        yield client


def _config(sm: Any, name: str, **variant: Any) -> None:
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "main", "InstanceType": "ml.g4dn.xlarge", "InitialInstanceCount": 1, **variant}
        ],
    )


def test_update_endpoint_moves_the_endpoint_to_the_new_config(sm: Any) -> None:
    _config(sm, "cfg-a", ModelName="model-a")
    _config(sm, "cfg-b", ModelName="model-b")
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="cfg-a")
    arn = sm.update_endpoint(EndpointName="ep", EndpointConfigName="cfg-b")["EndpointArn"]
    assert arn.endswith(":endpoint/ep")
    assert sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "cfg-b"
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sm.update_endpoint(EndpointName="nope", EndpointConfigName="cfg-b")


def test_inference_components_live_on_an_endpoint_whose_variant_has_no_model(sm: Any) -> None:
    # Given an endpoint built for inference components: its variant names no model
    _config(sm, "cfg-ic")
    sm.create_endpoint(EndpointName="ep-ic", EndpointConfigName="cfg-ic")
    # When two components are created, one with a registered model, one with a raw container
    sm.create_inference_component(
        InferenceComponentName="ic-approved",
        EndpointName="ep-ic",
        VariantName="main",
        Specification={"ModelName": "model-a", "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 1024}},
        RuntimeConfig={"CopyCount": 1},
    )
    sm.create_inference_component(
        InferenceComponentName="ic-rogue",
        EndpointName="ep-ic",
        VariantName="main",
        Specification={
            "Container": {"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/rogue:1", "ArtifactUrl": "s3://b/m"},
            "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 1024},
        },
        RuntimeConfig={"CopyCount": 2},
    )
    # Then both are listed for the endpoint and described with their specification
    listed = sm.list_inference_components(EndpointNameEquals="ep-ic")["InferenceComponents"]
    assert [c["InferenceComponentName"] for c in listed] == ["ic-approved", "ic-rogue"]
    rogue = sm.describe_inference_component(InferenceComponentName="ic-rogue")
    assert rogue["Specification"]["Container"]["ArtifactUrl"] == "s3://b/m"
    assert rogue["RuntimeConfig"]["CurrentCopyCount"] == 2
    # And an update swaps the model behind a component; a delete removes it
    sm.update_inference_component(InferenceComponentName="ic-approved", Specification={"ModelName": "model-b"})
    swapped = sm.describe_inference_component(InferenceComponentName="ic-approved")
    assert swapped["Specification"]["ModelName"] == "model-b"
    sm.delete_inference_component(InferenceComponentName="ic-rogue")
    assert len(sm.list_inference_components(EndpointNameEquals="ep-ic")["InferenceComponents"]) == 1
    with pytest.raises(ClientError, match="Could not find inference component"):
        sm.describe_inference_component(InferenceComponentName="ic-rogue")
    assert sm.list_inference_components(EndpointNameEquals="other")["InferenceComponents"] == []


def test_update_model_package_changes_only_what_the_request_names(sm: Any) -> None:
    # Given a package with metadata
    sm.create_model_package_group(ModelPackageGroupName="g")
    arn = sm.create_model_package(
        ModelPackageGroupName="g",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        CustomerMetadataProperties={"catalog_snapshot_date": "2026-11-01"},
    )["ModelPackageArn"]
    # When it is rejected, then a metadata key is written on its own
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected", ApprovalDescription="CTR down")
    sm.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"note": "x"})
    # Then status, description and the earlier metadata are all still there
    package = sm.describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"] == "CTR down"
    assert package["CustomerMetadataProperties"] == {"catalog_snapshot_date": "2026-11-01", "note": "x"}
