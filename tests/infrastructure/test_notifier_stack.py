"""The notifier's construct: queue with partial batches and a DLQ, exactly its declared actions."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from mlgov_runtime.notifier import permissions
from tests.infrastructure.templates import _one, _role_actions

pytestmark = pytest.mark.infrastructure


def test_notifier_role_grants_exactly_its_declared_actions(template: Template) -> None:
    actions = _role_actions(template, "Notifier")
    assert actions == (
        set(permissions.SECRET_READ)
        | set(permissions.STATE)
        | set(permissions.PAGE)
        | {"logs:CreateLogStream", "logs:PutLogEvents", "kms:Decrypt", "kms:GenerateDataKey"}
        | {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
        | {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
        }
    )
    assert not any("sagemaker" in a for a in actions)


def test_notifier_consumes_a_queue_with_partial_batches_and_a_dead_letter_queue(template: Template) -> None:
    mapping = _one(template, "AWS::Lambda::EventSourceMapping")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = _one(template, "AWS::SQS::Queue", {"RedrivePolicy": Match.any_value()}, prefix="Notifier")
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "sqs", "RawMessageDelivery": True})
    env = _one(template, "AWS::Lambda::Function", prefix="Notifier")["Environment"]["Variables"]
    assert "NOTIFIER_SECRET_NAME" in env and "ROUTING_JSON" in env
    assert not any(word in k for k in env for word in ("WEBHOOK", "TOKEN", "PASSWORD"))
    template.has_resource_properties("AWS::SecretsManager::Secret", {"KmsKeyId": Match.any_value()})
