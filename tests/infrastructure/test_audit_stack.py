"""The synthesized audit stack: rules, DLQ, encryption, least privilege, alarms, cdk-nag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match, Template

from app import build_app
from mlgov.settings import SettingsError
from mlgov_runtime.adapters import permissions

pytestmark = pytest.mark.infrastructure


def _one(template: Template, type_: str, props: dict[str, Any] | None = None, prefix: str = "") -> dict[str, Any]:
    found = {
        k: v
        for k, v in template.find_resources(type_, {"Properties": props} if props else None).items()
        if k.startswith(prefix)
    }
    assert len(found) == 1, f"expected one {type_} under {prefix or 'the stack'}, found {len(found)}"
    return next(iter(found.values()))["Properties"]


def test_cloudtrail_rule_matches_only_successful_create_and_update_endpoint(template: Template) -> None:
    rule = _one(template, "AWS::Events::Rule", {"EventPattern": {"detail-type": ["AWS API Call via CloudTrail"]}})
    detail = rule["EventPattern"]["detail"]
    assert rule["EventPattern"]["source"] == ["aws.sagemaker"]
    assert sorted(detail["eventName"]) == ["CreateEndpoint", "UpdateEndpoint"]
    assert detail["eventSource"] == ["sagemaker.amazonaws.com"]
    assert detail["errorCode"] == [{"exists": False}]


def test_state_change_rule_matches_in_service(template: Template) -> None:
    rule = _one(template, "AWS::Events::Rule", {"EventPattern": {"detail-type": ["SageMaker Endpoint State Change"]}})
    assert rule["EventPattern"]["detail"] == {"EndpointStatus": ["IN_SERVICE"]}


def test_every_rule_target_retries_and_has_a_dead_letter_queue(template: Template) -> None:
    rules = template.find_resources("AWS::Events::Rule")
    assert len([r for r in rules if r.startswith("EndpointAudit")]) == 3
    assert len(rules) == 4  # and the weekly coverage check
    for rule in rules.values():
        [target] = rule["Properties"]["Targets"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 3
        assert "Arn" in str(target["DeadLetterConfig"])


def test_queues_topics_and_tables_are_kms_encrypted(template: Template) -> None:
    for queue in template.find_resources("AWS::SQS::Queue").values():
        assert "KmsMasterKeyId" in queue["Properties"]
    topics = template.find_resources("AWS::SNS::Topic")
    assert len(topics) == 3  # findings, ops alarms, on-call pages
    for topic in topics.values():
        assert "KmsMasterKeyId" in topic["Properties"]
    for table in template.find_resources("AWS::DynamoDB::Table").values():
        sse = table["Properties"]["SSESpecification"]
        assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS" and "KMSMasterKeyId" in sse
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_findings_table_has_pitr_and_idempotency_table_has_ttl(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "finding_id", "KeyType": "HASH"}],
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
    )
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
        },
    )


def test_audit_function_shape(template: Template) -> None:
    fn = _one(template, "AWS::Lambda::Function", prefix="EndpointAudit")
    assert fn["Architectures"] == ["arm64"]
    assert fn["Handler"] == "mlgov_runtime.lineage_audit.handler.handler"
    assert fn["LoggingConfig"]["LogFormat"] == "JSON"
    assert len(fn["Layers"]) == 1  # Powertools, from the AWS-published layer
    assert "LogGroup" in fn["LoggingConfig"]
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 90})
    env = fn["Environment"]["Variables"]
    assert not any("SECRET" in k or "TOKEN" in k or "WEBHOOK" in k for k in env)


def _role_actions(template: Template, prefix: str) -> set[str]:
    actions: set[str] = set()
    for logical_id, policy in template.find_resources("AWS::IAM::Policy").items():
        if not logical_id.startswith(prefix):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            value = statement["Action"]
            actions.update([value] if isinstance(value, str) else value)
    return actions


def test_audit_role_grants_exactly_the_declared_actions_and_no_sagemaker_write(template: Template) -> None:
    actions = _role_actions(template, "EndpointAudit")
    sagemaker = {a for a in actions if a.startswith("sagemaker:")}
    assert sagemaker == set(permissions.ENDPOINT_AUDIT_READ)
    assert "sagemaker:*" not in actions
    assert not [
        a for a in sagemaker if a.split(":")[1].startswith(("Create", "Update", "Delete", "Put", "Add", "Stop"))
    ]
    expected_other = (
        set(permissions.ORGANIZATION_READ)
        | set(permissions.FINDINGS_WRITE)
        | set(permissions.FINDINGS_PUBLISH)
        | {"dynamodb:PutItem", "dynamodb:DeleteItem"}  # idempotency records
        | {"logs:CreateLogStream", "logs:PutLogEvents", "kms:Decrypt", "kms:GenerateDataKey"}
        | {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    )
    assert actions - sagemaker == expected_other
    assert not any(a.endswith(":*") for a in actions)


def test_notifier_role_grants_exactly_its_declared_actions(template: Template) -> None:
    actions = _role_actions(template, "Notifier")
    assert actions == (
        set(permissions.NOTIFIER_SECRET_READ)
        | set(permissions.NOTIFIER_STATE)
        | set(permissions.NOTIFIER_PAGE)
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


def test_roles_use_no_managed_policies(template: Template) -> None:
    for role in template.find_resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]


def test_alarms_on_unregistered_endpoints_and_the_dead_letter_queue(template: Template) -> None:
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "UnregisteredEndpointDetected",
            "Namespace": "MLGovernance",
            "Dimensions": [{"Name": "service", "Value": "endpoint-audit"}],
            "Threshold": 1,
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "ApproximateNumberOfMessagesVisible", "Threshold": 1}
    )


def test_every_dead_letter_queue_is_alarmed(template: Template) -> None:
    # A dead-letter queue nobody watches is where findings go to be lost.
    queues = [name for name in template.find_resources("AWS::SQS::Queue") if "DeadLetterQueue" in name]
    watched = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in template.find_resources(
            "AWS::CloudWatch::Alarm", {"Properties": {"MetricName": "ApproximateNumberOfMessagesVisible"}}
        ).values()
    }
    assert len(queues) == 3 and set(queues) <= watched, (queues, watched)


def test_cdk_nag_reports_no_unsuppressed_errors(nag_annotations: Annotations) -> None:
    errors = nag_annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert errors == [], [e.entry.data for e in errors]


def test_a_bad_setting_fails_the_synth_with_the_key_named() -> None:
    with pytest.raises(SettingsError, match=r"mlgov\.thresholds\.min_endpoint_capacity"):
        build_app(context={"mlgov": {"thresholds": {"min_endpoint_capacity": 0}}})


def test_lambda_asset_is_lean_and_has_no_cdk() -> None:
    root = Path(__file__).resolve().parents[2] / "lambdas"
    files = [p for p in root.rglob("*.py") if "__pycache__" not in p.parts]
    assert sum(p.stat().st_size for p in files) < 200_000
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "aws_cdk" not in text and "import moto" not in text, path
