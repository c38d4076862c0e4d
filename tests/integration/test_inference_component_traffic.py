"""Live-traffic checks count inference-component traffic (issue 22 item 6): SageMaker reports an inference
component's Invocations per InferenceComponentName, so an endpoint serving through components reads zero
per variant while it is busy. The real adapters, under the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlgov.ops.capacity_writers import EndpointWarmth
from mlgov_runtime.adapters.cloudwatch import CloudWatchMetrics
from mlgov_runtime.retirement.endpoint_retirement import EndpointMetrics, SageMakerEndpoints

REGION = "us-east-1"


@pytest.fixture
def ic_endpoint() -> Iterator[tuple[Any, Any]]:
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        sm, cw = (boto3.client(s, region_name=REGION) for s in ("sagemaker", "cloudwatch"))
        sm.create_model(
            ModelName="lora-v1",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerExecution",
            PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/tgi@sha256:" + "a" * 64},
        )
        host = {"VariantName": "main", "InstanceType": "ml.g4dn.12xlarge", "InitialInstanceCount": 1}
        sm.create_endpoint_config(EndpointConfigName="lora-host", ProductionVariants=[host])
        sm.create_endpoint(EndpointName="lora-host", EndpointConfigName="lora-host")
        sm.create_inference_component(
            InferenceComponentName="ic-lora-v1",
            EndpointName="lora-host",
            VariantName="main",
            Specification={"ModelName": "lora-v1"},
            RuntimeConfig={"CopyCount": 1},
        )
        # The busy component: its traffic is published per InferenceComponentName only.
        cw.put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {
                    "MetricName": "Invocations",
                    "Dimensions": [{"Name": "InferenceComponentName", "Value": "ic-lora-v1"}],
                    "Timestamp": datetime.now(UTC) - timedelta(minutes=2),
                    "Value": 40,
                    "Unit": "Count",
                }
            ],
        )
        yield sm, cw


def test_the_deletion_check_counts_component_traffic_where_the_variant_reads_zero(ic_endpoint: Any) -> None:
    sm, cw = ic_endpoint
    end = datetime.now(UTC)
    start = end - timedelta(hours=1)
    metrics = EndpointMetrics(CloudWatchMetrics(cw))
    assert metrics.invocations("lora-host", ["main"], start, end) == 0
    components = SageMakerEndpoints(sm).component_names("lora-host")
    assert components == ["ic-lora-v1"]
    assert metrics.component_invocations(components, start, end) == 40


def test_the_capacity_guard_sees_a_component_endpoint_serving_again(ic_endpoint: Any) -> None:
    sm, cw = ic_endpoint
    serving, detail = EndpointWarmth(sm, cw).invocations("lora-host")
    assert serving, detail
    assert "Invocations 40 on 1 inference component" in detail


def _second_component(sm: Any, copies: int) -> None:
    sm.create_inference_component(
        InferenceComponentName="ic-lora-v2",
        EndpointName="lora-host",
        VariantName="main",
        Specification={"ModelName": "lora-v1"},
        RuntimeConfig={"CopyCount": copies},
    )


def test_the_restore_waits_for_every_components_copies(ic_endpoint: Any) -> None:
    """The host's instances are up while a component at 0 copies serves nothing (seventeenth review, hole 7)."""
    sm, cw = ic_endpoint
    _second_component(sm, 0)
    ready, detail = EndpointWarmth(sm, cw).ready("lora-host", 1)
    assert not ready and "ic-lora-v2 0" in detail and "ic-lora-v1 1" in detail, detail
    sm.update_inference_component(InferenceComponentName="ic-lora-v2", RuntimeConfig={"CopyCount": 1})
    ready, detail = EndpointWarmth(sm, cw).ready("lora-host", 1)
    assert ready, detail


def test_the_restore_counts_only_the_traffic_of_the_components_that_were_cold(ic_endpoint: Any) -> None:
    """ic-lora-v1 is busy (40 invocations); the restored ic-lora-v2 has served nothing yet."""
    sm, cw = ic_endpoint
    _second_component(sm, 1)
    serving, detail = EndpointWarmth(sm, cw).invocations("lora-host", components=["ic-lora-v2"])
    assert not serving and "Invocations 0 on ic-lora-v2" in detail, detail
    assert EndpointWarmth(sm, cw).invocations("lora-host")[0]  # all components: the busy one counts
    serving, detail = EndpointWarmth(sm, cw).invocations("lora-host", components=["ic-lora-v1"])
    assert serving, detail
