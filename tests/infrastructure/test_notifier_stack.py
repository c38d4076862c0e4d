"""The notifier's construct: queue with partial batches and a DLQ, exactly its declared actions."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from aws_cdk.assertions import Match, Template

from stacks.permissions import notifier as permissions
from tests.infrastructure.templates import ACCOUNT, _one, _role_actions, concrete, role_arn_of

pytestmark = pytest.mark.infrastructure


def test_notifier_role_grants_exactly_its_declared_actions(template: Template) -> None:
    actions = _role_actions(template, "Notifier")
    assert actions == (
        set(permissions.SECRET_READ)
        | set(permissions.STATE)
        | set(permissions.PAGE)
        | set(permissions.PARK)
        | set(permissions.SECURITY_HUB)
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


def test_the_notifier_parks_only_into_its_own_dead_letter_queue(template: Template) -> None:
    env = _one(template, "AWS::Lambda::Function", prefix="Notifier")["Environment"]["Variables"]
    dlq_id = env["DEAD_LETTER_QUEUE_URL"]["Ref"]
    assert dlq_id.startswith("NotifierNotifierDeadLetterQueue")
    [park] = [
        statement
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        if logical_id.startswith("Notifier")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "sqs:SendMessage"
    ]
    assert park["Resource"] == {"Fn::GetAtt": [dlq_id, "Arn"]}


def test_the_notifier_has_an_errors_alarm_and_a_refusal_alarm(template: Template) -> None:
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    by_metric = {
        props["Properties"].get("MetricName"): props["Properties"]
        for logical_id, props in alarms.items()
        if logical_id.startswith("Notifier")
    }
    errors = by_metric["Errors"]
    assert errors["Namespace"] == "AWS/Lambda" and errors["Threshold"] == 1
    assert by_metric["NotificationRejected"]["Dimensions"] == [{"Name": "service", "Value": "notifier"}]
    assert "mlgov notify redrive" in concrete(by_metric["NotificationRejected"]["AlarmDescription"])
    # A resolution that may have left a Jira issue open (its delivery state unread) is not only counted.
    unrouted = by_metric["JiraResolutionUnrouted"]
    assert unrouted["Dimensions"] == [{"Name": "service", "Value": "notifier"}] and unrouted["Threshold"] == 1
    assert "mlgov-<finding_id>" in unrouted["AlarmDescription"]


def test_the_redrive_alarms_name_the_command_with_this_stacks_queues(template: Template) -> None:
    # Given the notifier's two queues (the DLQ: a RedrivePolicy names it) and its alarms
    queues = {
        k: v["Properties"] for k, v in template.find_resources("AWS::SQS::Queue").items() if k.startswith("Notifier")
    }
    [queue] = [k for k, props in queues.items() if "RedrivePolicy" in props]
    dlq = queues[queue]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    alarms = {
        k: concrete(v["Properties"]["AlarmDescription"])
        for k, v in template.find_resources("AWS::CloudWatch::Alarm").items()
        if k.startswith("NotifierNotifierDeadLetterAlarm") or k.startswith("NotifierDeliveryRejectedAlarm")
    }
    assert len(alarms) == 2
    # Then each description carries the exact command: region and both URLs resolved by CloudFormation
    command = f"`mlgov notify redrive --region us-east-1 --dlq-url ref-{dlq} --queue-url ref-{queue}`"
    for description in alarms.values():
        assert command in description
        assert "<" not in description and len(description) <= 1024
    # And the function gets the same queue URLs for its refusal log lines
    env = _one(template, "AWS::Lambda::Function", prefix="Notifier")["Environment"]["Variables"]
    assert env["NOTIFIER_QUEUE_URL"] == {"Ref": queue} and env["DEAD_LETTER_QUEUE_URL"] == {"Ref": dlq}


def test_the_function_timeout_the_delivery_budget_is_planned_for(template: Template) -> None:
    # tests/integration/test_notifier_deadline.py budgets deliveries for a 120 s function.
    function = _one(template, "AWS::Lambda::Function", prefix="Notifier")
    assert function["Timeout"] == 120
    queue = _one(template, "AWS::SQS::Queue", {"RedrivePolicy": Match.any_value()}, prefix="Notifier")
    assert queue["VisibilityTimeout"] >= 6 * 120


def test_notifier_consumes_a_queue_with_partial_batches_and_a_dead_letter_queue(template: Template) -> None:
    mapping = _one(template, "AWS::Lambda::EventSourceMapping")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = _one(template, "AWS::SQS::Queue", {"RedrivePolicy": Match.any_value()}, prefix="Notifier")
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "sqs", "RawMessageDelivery": True})
    env = _one(template, "AWS::Lambda::Function", prefix="Notifier")["Environment"]["Variables"]
    assert "NOTIFIER_SECRET_NAME" in env and "MLGOV_NOTIFIER_SETTINGS" in env
    assert not any(word in k for k in env for word in ("WEBHOOK", "TOKEN", "PASSWORD"))
    template.has_resource_properties("AWS::SecretsManager::Secret", {"KmsKeyId": Match.any_value()})


def test_the_notifier_queue_takes_messages_only_from_the_findings_topic_and_operators(template: Template) -> None:
    statements = [
        statement
        for policy in template.find_resources("AWS::SQS::QueuePolicy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "OnlyTheFindingsTopicSends"
    ]
    [deny] = statements
    assert deny["Effect"] == "Deny" and deny["Action"] == "sqs:SendMessage" and deny["Principal"] == {"AWS": "*"}
    assert "aws:SourceArn" in deny["Condition"]["ArnNotEquals"]
    assert deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == ["arn:*:iam::*:role/mlgov-protected/*"]


# -- who may put messages on the dead-letter queues (evaluated by principalmapper)


def _queue_policy(template: Template, queue_prefix: str) -> tuple[dict[str, Any], str]:
    [(logical, _)] = [
        (k, q) for k, q in template.find_resources("AWS::SQS::Queue").items() if k.startswith(queue_prefix)
    ]
    [policy] = [
        p["Properties"]["PolicyDocument"]
        for p in template.find_resources("AWS::SQS::QueuePolicy").values()
        if {"Ref": logical} in p["Properties"]["Queues"]
    ]
    return cast(dict[str, Any], concrete(policy)), f"arn:aws:{logical}:Arn"


def _send(document: dict[str, Any], queue_arn: str, context: dict[str, Any]) -> str:
    from mlgov.policy_eval import evaluate

    return evaluate(
        {"queue": document}, "sqs:SendMessage", queue_arn, {"aws:SecureTransport": "true", **context}
    ).decision


def test_only_the_notifier_parks_findings_in_its_dead_letter_queue(template: Template) -> None:
    document, arn = _queue_policy(template, "NotifierNotifierDeadLetterQueue")
    assert _send(document, arn, {"aws:PrincipalArn": role_arn_of(template, "NotifierNotifyRole")}) == "Allow"
    for other in ("DataScientist", "mlgov-protected/MlGovOperator"):
        assert _send(document, arn, {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/{other}"}) == "Deny"
    # No service sends to it either: the notifier queue's own redrive moves messages without SendMessage.
    rule = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/anything"
    assert _send(document, arn, {"aws:SourceArn": rule, "aws:SourceAccount": ACCOUNT}) == "Deny"


def test_an_eventbridge_dead_letter_queue_takes_only_its_own_rules_failures(template: Template) -> None:
    document, arn = _queue_policy(template, "OrgScanScheduleDeadLetterQueue")
    [rule] = [k for k in template.find_resources("AWS::Events::Rule") if k.startswith("OrgScanWeeklyOrgScan")]
    own = {"aws:SourceArn": f"arn:aws:{rule}:Arn", "aws:SourceAccount": ACCOUNT}
    assert _send(document, arn, own) == "Allow"
    assert _send(document, arn, {"aws:SourceArn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/planted"}) == "Deny"
    assert _send(document, arn, {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/DataScientist"}) == "Deny"


def test_key_grants_to_aws_services_carry_source_conditions(template: Template) -> None:
    # A service principal without aws:SourceAccount/aws:SourceArn (or the logs encryption context) would
    # use the key for any account's resources: the confused deputy.
    scoped = ("aws:SourceAccount", "aws:SourceArn", "kms:EncryptionContext:aws:logs:arn")
    granted = 0
    for name, key in template.find_resources("AWS::KMS::Key").items():
        for statement in key["Properties"]["KeyPolicy"]["Statement"]:
            if statement["Effect"] != "Allow" or "Service" not in statement.get("Principal", {}):
                continue
            granted += 1
            keys = {k for operator in statement.get("Condition", {}).values() for k in operator}
            assert keys & set(scoped), (name, statement["Principal"])
            if "aws:SourceAccount" in keys:
                assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert granted >= 4


def test_security_hub_imports_only_this_accounts_findings_and_only_resolves(template: Template) -> None:
    env = _one(template, "AWS::Lambda::Function", prefix="Notifier")["Environment"]["Variables"]
    # The switch travels in the settings; the hub is the function's own account (its ARN), never a variable.
    assert json.loads(env["MLGOV_NOTIFIER_SETTINGS"])["alert_routing"]["security_hub"] is True
    assert not any("ACCOUNT" in key for key in env)
    statements = {
        statement["Sid"]: statement
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        if logical_id.startswith("Notifier")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "Sid" in statement
    }
    imports, resolves = statements["ImportToSecurityHub"], statements["ResolveInSecurityHub"]
    assert imports["Action"] == "securityhub:BatchImportFindings"
    assert imports["Condition"] == {"StringEquals": {"securityhub:TargetAccount": {"Ref": "AWS::AccountId"}}}
    product = json.dumps(imports["Resource"])
    assert ":product/" in product and "/default" in product and "*" not in product
    assert resolves["Action"] == "securityhub:BatchUpdateFindings"
    assert resolves["Condition"] == {"StringEquals": {"securityhub:ASFFSyntaxPath/Workflow.Status": "RESOLVED"}}
    assert ":hub/default" in json.dumps(resolves["Resource"])
