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
