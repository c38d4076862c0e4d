"""The lineage audit's construct: rules, function, least privilege, alarms."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.permissions import lineage_audit as permissions
from stacks.permissions.core import FINDINGS, IDEMPOTENCY
from tests.infrastructure.templates import _one, _role_actions, concrete

pytestmark = pytest.mark.infrastructure


def _audit_rule(template: Template, detail_type: str) -> dict[str, Any]:
    """The lineage audit's EventBridge rule for this detail-type (exactly one)."""
    return _one(template, "AWS::Events::Rule", {"EventPattern": {"detail-type": [detail_type]}}, prefix="LineageAudit")


def test_cloudtrail_rule_matches_only_successful_create_and_update_endpoint(template: Template) -> None:
    rule = _audit_rule(template, "AWS API Call via CloudTrail")
    detail = rule["EventPattern"]["detail"]
    assert rule["EventPattern"]["source"] == ["aws.sagemaker"]
    assert sorted(detail["eventName"]) == sorted(
        [
            "CreateEndpoint",
            "UpdateEndpoint",
            "DeleteEndpoint",
            "UpdateEndpointWeightsAndCapacities",
            "CreateInferenceComponent",
            "UpdateInferenceComponent",
            "DeleteInferenceComponent",
            "DeleteModel",
            "DeleteEndpointConfig",
        ]
    )
    assert detail["eventSource"] == ["sagemaker.amazonaws.com"]
    assert detail["errorCode"] == [{"exists": False}]


def test_package_approval_changes_reach_the_audit(template: Template) -> None:
    rule = _audit_rule(template, "SageMaker Model Package State Change")
    assert rule["EventPattern"]["source"] == ["aws.sagemaker"]


def test_state_change_rule_matches_in_service(template: Template) -> None:
    rule = _audit_rule(template, "SageMaker Endpoint State Change")
    assert rule["EventPattern"]["detail"] == {"EndpointStatus": ["IN_SERVICE"]}


def test_audit_function_shape(template: Template) -> None:
    fn = _one(template, "AWS::Lambda::Function", prefix="LineageAudit")
    assert fn["Architectures"] == ["arm64"]
    assert fn["Handler"] == "mlgov_runtime.lineage_audit.handler.handler"
    assert fn["LoggingConfig"]["LogFormat"] == "JSON"
    assert len(fn["Layers"]) == 1  # Powertools, from the AWS-published layer
    assert "LogGroup" in fn["LoggingConfig"]
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 90})
    env = fn["Environment"]["Variables"]
    assert not any("SECRET" in k or "TOKEN" in k or "WEBHOOK" in k for k in env)


def test_audit_role_grants_exactly_the_declared_actions_and_no_sagemaker_write(template: Template) -> None:
    actions = _role_actions(template, "LineageAudit")
    sagemaker = {a for a in actions if a.startswith("sagemaker:")}
    assert sagemaker == set(permissions.LINEAGE_READ)
    assert "sagemaker:*" not in actions
    assert not [
        a for a in sagemaker if a.split(":")[1].startswith(("Create", "Update", "Delete", "Put", "Add", "Stop"))
    ]
    expected_other = (
        set(permissions.ORGANIZATION_READ)
        | set(FINDINGS)
        | set(IDEMPOTENCY)
        | set(permissions.FINDINGS_SCAN)
        | set(permissions.PIN_READ)
        | set(permissions.SERVING_INDEX)
        | set(permissions.CHALLENGER_RUNS)
        | {"logs:CreateLogStream", "logs:PutLogEvents", "kms:Decrypt", "kms:GenerateDataKey"}
        | {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    )
    assert actions - sagemaker == expected_other
    assert not any(a.endswith(":*") for a in actions)


def test_the_audit_reads_the_running_executions_of_the_challenger_machine_and_nothing_else(
    template: Template,
) -> None:
    """The verifier behind UNDER_EVALUATION: ListExecutions on the challenger state machine, DescribeExecution on
    its executions, and the function told that machine's ARN."""
    [machine] = [
        r["Properties"]["StateMachineName"]
        for r in template.find_resources("AWS::StepFunctions::StateMachine").values()
        if r["Properties"].get("StateMachineName") == "mlgov-challenger"
    ]
    prefix = "arn:aws:states:us-east-1:123456789012"
    statements = [
        concrete(statement)
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        if logical_id.startswith("LineageAudit")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    states = [s for s in statements if "states:" in str(s["Action"])]
    assert sorted((s["Action"], s["Resource"]) for s in states) == [
        ("states:DescribeExecution", f"{prefix}:execution:{machine}:*"),
        ("states:ListExecutions", f"{prefix}:stateMachine:{machine}"),
    ]
    fn = _one(template, "AWS::Lambda::Function", prefix="LineageAudit")
    assert (
        concrete(fn["Environment"]["Variables"]["CHALLENGER_STATE_MACHINE_ARN"]) == f"{prefix}:stateMachine:{machine}"
    )


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


def test_an_alarm_fires_when_forwarded_events_of_another_account_are_skipped(template: Template) -> None:
    # The handler counts AuditEventSkipped when it may not read the event's account (no member role to assume).
    from mlgov_runtime.lineage_audit.handler import SKIPPED_METRIC

    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": SKIPPED_METRIC,
            "Namespace": "MLGovernance",
            "Dimensions": [{"Name": "service", "Value": "endpoint-audit"}],
            "Threshold": 1,
        },
    )


def test_the_stack_names_its_serving_index_for_the_cli(template: Template) -> None:
    # `mlgov audit|scan --serving-index-table` reads it; the error for an unreadable table points to this output.
    [(logical, _)] = template.find_resources(
        "AWS::DynamoDB::Table", {"Properties": {"TimeToLiveSpecification": {"AttributeName": "expires_at"}}}
    ).items()
    outputs = template.to_json()["Outputs"]
    [output] = [v for k, v in outputs.items() if "ServingIndexTableName" in k]
    assert output["Value"] == {"Ref": logical}


def test_the_audit_function_and_the_scan_worker_receive_the_challengers_ramp() -> None:
    """With challenger.ramp set, both take a running challenger up to the ramp's largest weight (the twenty-second
    review's hole 2): the audit function through its settings variable, the worker through its checks' options."""
    from typing import cast

    from aws_cdk import Stack

    from app import build_app
    from mlgov_runtime.lineage_audit.settings import load_endpoint_audit_settings
    from mlgov_runtime.org_scan.settings import load_worker_settings
    from stacks.constants import AUDIT_STACK_NAME

    ramp = [[10, 0.25], [20, 0.5]]
    app = build_app(context={"mlgov": {"challenger": {"ramp": ramp}}})
    stack = Template.from_stack(cast(Stack, app.node.find_child(AUDIT_STACK_NAME)))
    functions = stack.find_resources("AWS::Lambda::Function")

    def variables(prefix: str) -> dict[str, str]:
        [env] = [f["Properties"]["Environment"]["Variables"] for k, f in functions.items() if k.startswith(prefix)]
        return {k: v for k, v in env.items() if k.startswith("MLGOV_")}

    wired = {"FINDINGS_TABLE_NAME": "findings", "IDEMPOTENCY_TABLE_NAME": "idempotency"}
    topic = {"FINDINGS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:findings"}
    audit = load_endpoint_audit_settings({**variables("LineageAudit"), **wired, **topic})
    assert audit.challenger_share == 0.5
    wiring = {"REPORT_BUCKET": "b-report", "MEMBER_ROLE_NAME": "MlGovMemberAudit", "RESULT_MAC_KEY_ID": "alias/mac"}
    worker = load_worker_settings({**wiring, **variables("OrgScanWorker")})
    assert worker.check_options["challenger_ramp"] == ramp
