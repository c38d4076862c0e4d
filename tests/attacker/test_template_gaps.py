"""Holes visible in the synthesized governance stack (slack_buttons on). Each test states what a sound stack
must contain; on today's main it does not, so each is xfail(strict): a fix turns it into XPASS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from app import build_app
from stacks.constants import AUDIT_STACK_NAME

GOV = "999988887777"


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    app = build_app(
        context={
            "mlgov": {
                "guardrails": {"target_ou_ids": ["ou-ab12-prodwork"], "governance_target_ids": [GOV]},
                "approvals": {
                    "slack_buttons": True,
                    "approvers": {"retirement": [f"arn:aws:iam::{GOV}:role/mlgov-protected/Approver"]},
                    "slack_approvers": {"U0APPROVER": f"arn:aws:iam::{GOV}:role/mlgov-protected/Approver"},
                },
            }
        }
    )
    stack: Any = app.node.find_child(AUDIT_STACK_NAME)
    template = Template.from_stack(stack).to_json()
    return dict(template["Resources"]) | {"__parameters__": template.get("Parameters", {})}


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if isinstance(v, dict) and v.get("Type") == kind}


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["Ref"]} if "Ref" in value else set()
        return found.union(*(_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


@pytest.mark.xfail(strict=True, reason="hole 4: the Slack signing secret (and NotifierSecret) readable by any IAM user")
@pytest.mark.parametrize("secret", ["SlackSigningSecret", "NotifierSecret"])
def test_each_secret_has_a_policy_keeping_it_to_its_function(resources: dict[str, Any], secret: str) -> None:
    [logical] = [k for k in _of_type(resources, "AWS::SecretsManager::Secret") if secret in k]
    policies = _of_type(resources, "AWS::SecretsManager::ResourcePolicy")
    assert any(logical in _refs(p["Properties"]["SecretId"]) for p in policies.values())


def test_the_secrets_key_delegates_to_iam(resources: dict[str, Any]) -> None:
    """Why hole 4 is open: the governance key (secrets, findings table) lets IAM grant its use (root kms:*)."""
    [key] = [v for k, v in _of_type(resources, "AWS::KMS::Key").items() if k.startswith("FindingsGovernanceKey")]
    first = key["Properties"]["KeyPolicy"]["Statement"][0]
    assert first["Action"] == "kms:*" and ":root" in str(first["Principal"])


@pytest.mark.xfail(strict=True, reason="hole 5: the findings and delivery-state tables take anyone's writes")
@pytest.mark.parametrize("table", ["FindingsFindingsTable", "NotifierDeliveryState"])
def test_the_tables_the_channel_believes_keep_writes_to_their_producers(resources: dict[str, Any], table: str) -> None:
    [props] = [v["Properties"] for k, v in _of_type(resources, "AWS::DynamoDB::Table").items() if k.startswith(table)]
    assert "ResourcePolicy" in props


def test_the_challenger_steps_function_is_no_eventbridge_target(resources: dict[str, Any]) -> None:
    """Hole 2's door, closed: no resource policy lets anyone (EventBridge included) invoke the step function, only
    the state machine's role may; the rules reach the Events function, whose role cannot act on a package."""
    permissions = [p["Properties"] for p in _of_type(resources, "AWS::Lambda::Permission").values()]
    assert not [p for p in permissions if "ChallengerSteps" in str(p["FunctionName"])]
    rules = [p for p in permissions if p["Principal"] == "events.amazonaws.com"]
    assert len([p for p in rules if "ChallengerEvents" in str(p["FunctionName"])]) == 2


def test_a_stack_parameter_names_the_layer_every_function_imports(resources: dict[str, Any]) -> None:
    """Hole 1's shortest exploit: UpdateStack --use-previous-template with this one parameter pointed at an SSM
    parameter holding another layer's ARN; CloudFormation applies it as cfn-exec (exempt), no PassRole asked."""
    parameters = resources["__parameters__"]
    [name] = [k for k in parameters if "powertools" in k.lower()]
    assert parameters[name]["Type"] == "AWS::SSM::Parameter::Value<String>"


@pytest.mark.xfail(strict=True, reason="hole 6: the retraining's inputs and outputs take anyone's writes")
@pytest.mark.parametrize("prefix", ["training-output", "evaluations", "catalog-snapshots"])
def test_the_snapshot_bucket_keeps_pipeline_prefixes_to_the_pipeline(resources: dict[str, Any], prefix: str) -> None:
    [policy] = [
        v["Properties"]["PolicyDocument"]["Statement"]
        for k, v in _of_type(resources, "AWS::S3::BucketPolicy").items()
        if k.startswith("RetrainingSnapshotBucketPolicy")
    ]
    guarded = [
        s
        for s in policy
        if s["Effect"] == "Deny"
        and "s3:PutObject" in str(s.get("Action"))
        and f"/{prefix}/" in json.dumps(s.get("Resource"))
    ]
    assert guarded
