"""Holes visible in the synthesized governance stack (slack_buttons on). Each test states what a sound stack
must contain; where main does not yet, it is xfail(strict) (a fix turns it into XPASS); a few pin a hole's door.
Holes 4, 5 and 6 are closed: the resource policies below are judged for who they let through."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.attacker.resource_policies import (
    DEPLOYER,
    DEVELOPER,
    OPERATOR,
    decide,
    role_arn,
    secret_policy,
    table_policy,
)
from tests.infrastructure.templates import concrete


@pytest.fixture(scope="module")
def resources(governance_template: dict[str, Any]) -> dict[str, Any]:
    return dict(governance_template["Resources"]) | {"__parameters__": governance_template.get("Parameters", {})}


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if isinstance(v, dict) and v.get("Type") == kind}


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["Ref"]} if "Ref" in value else set()
        return found.union(*(_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


@pytest.mark.parametrize(
    ("secret", "function"), [("SlackSigningSecret", "ApprovalsSlackRole"), ("NotifierSecret", "NotifierNotifyRole")]
)
def test_each_secret_has_a_policy_keeping_it_to_its_function(
    governance_template: dict[str, Any], resources: dict[str, Any], secret: str, function: str
) -> None:
    """Hole 4 closed: whoever reads the signing secret signs a press as any listed approver; whoever reads the
    notifier's secret posts to Slack and Jira as the product."""
    [logical] = [k for k in _of_type(resources, "AWS::SecretsManager::Secret") if secret in k]
    policies = _of_type(resources, "AWS::SecretsManager::ResourcePolicy")
    assert any(logical in _refs(p["Properties"]["SecretId"]) for p in policies.values())
    policy = secret_policy(governance_template, logical)
    arn = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{secret}-AbCdEf"
    reader = role_arn(governance_template, function)
    assert decide(policy, reader, "secretsmanager:GetSecretValue", arn) == "Allow"
    for other in (DEVELOPER, OPERATOR, role_arn(governance_template, "LineageAuditRole")):
        assert decide(policy, other, "secretsmanager:GetSecretValue", arn) == "Deny", other
    # Setting a value one knows is as good as reading it: only the operators (who put it) and the deployer.
    for action in ("secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret"):
        assert decide(policy, DEVELOPER, action, arn) == "Deny"
        assert decide(policy, reader, action, arn) == "Deny"
        assert decide(policy, OPERATOR, action, arn) == "Allow"
    # Its policy and its existence change only through a deploy (CloudFormation's execution role).
    for action in (
        "secretsmanager:PutResourcePolicy",
        "secretsmanager:DeleteResourcePolicy",
        "secretsmanager:DeleteSecret",
    ):
        assert decide(policy, OPERATOR, action, arn) == "Deny"
        assert decide(policy, DEPLOYER, action, arn) == "Allow"


def test_the_secrets_key_delegates_to_iam(resources: dict[str, Any]) -> None:
    """Why the secrets need their own policies: the governance key (secrets, findings table) lets IAM grant
    its use (root kms:*), so kms:Decrypt keeps nobody out."""
    [key] = [v for k, v in _of_type(resources, "AWS::KMS::Key").items() if k.startswith("FindingsGovernanceKey")]
    first = key["Properties"]["KeyPolicy"]["Statement"][0]
    assert first["Action"] == "kms:*" and ":root" in str(first["Principal"])


@pytest.mark.parametrize(
    ("who", "action", "expected"),
    [
        ("ApprovalsServiceRole", "kms:GenerateMac", "Allow"),
        ("ApprovalsPressWorkerRole", "kms:GenerateMac", "Allow"),  # decides the presses Slack's URL hands off
        ("ApprovalsSlackRole", "kms:GenerateMac", "Deny"),  # the unauthenticated URL's function decides nothing
        ("RetirementStepsRole", "kms:VerifyMac", "Allow"),
        ("RetirementStepsRole", "kms:GenerateMac", "Deny"),  # a waiting step verifies, never makes, a decision
        ("Developer", "kms:GenerateMac", "Deny"),
        ("Developer", "kms:VerifyMac", "Deny"),
        ("LineageAuditRole", "kms:GenerateMac", "Deny"),  # another product role
    ],
)
def test_only_the_approval_roles_use_the_approval_mac_key(
    governance_template: dict[str, Any], resources: dict[str, Any], who: str, action: str, expected: str
) -> None:
    """An explicit deny: a grant (kms:CreateGrant is the account's to delegate) or an IAM policy cannot add a
    MAC-maker, who would record an APPROVED decision the deletion step believes."""
    [key] = [v for k, v in _of_type(resources, "AWS::KMS::Key").items() if k.startswith("ApprovalsApprovalMacKey")]
    policy = concrete(key["Properties"]["KeyPolicy"])
    principal = DEVELOPER if who == "Developer" else role_arn(governance_template, who)
    assert decide(policy, principal, action, "*") == expected
    # The account keeps administering the key (its policy, rotation, deletion): KMS's lockout rules.
    [admin] = [s for s in policy["Statement"] if s.get("Sid") == "AdministerOnly"]
    assert ":root" in str(admin["Principal"]) and "kms:Put*" in admin["Action"]


@pytest.mark.parametrize(
    ("table", "writers"),
    [
        ("FindingsFindingsTable", ["OrgScanCoordinatorRole", "LineageAuditRole", "RetrainingPipelineStepsRole"]),
        ("NotifierDeliveryState", ["NotifierNotifyRole"]),
    ],
)
def test_the_tables_the_channel_believes_keep_writes_to_their_producers(
    governance_template: dict[str, Any], resources: dict[str, Any], table: str, writers: list[str]
) -> None:
    """Hole 5 closed: the scan's sweep republishes what the findings table holds and the notifier checks a
    resolution against it; the notifier skips what its delivery state says it sent."""
    [props] = [v["Properties"] for k, v in _of_type(resources, "AWS::DynamoDB::Table").items() if k.startswith(table)]
    assert "ResourcePolicy" in props
    policy = table_policy(governance_template, table)
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/t"
    for action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"):
        assert decide(policy, DEVELOPER, action, arn) == "Deny", action
        for writer in writers:
            assert decide(policy, role_arn(governance_template, writer), action, arn) == "Allow", (writer, action)
    assert decide(policy, role_arn(governance_template, "ApprovalsServiceRole"), "dynamodb:PutItem", arn) == "Deny"
    # The operators' CLI logs steps to findings (`mlgov capacity restore`) and closes retirements (`retire cancel`).
    assert decide(policy, OPERATOR, "dynamodb:UpdateItem", arn) == ("Allow" if table.startswith("Findings") else "Deny")
    assert decide(policy, DEVELOPER, "dynamodb:GetItem", arn) == "Allow"  # reading is IAM's to grant


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


@pytest.mark.parametrize("prefix", ["training-output", "evaluations", "catalog-snapshots", "checkpoints"])
def test_the_snapshot_bucket_keeps_pipeline_prefixes_to_the_pipeline(resources: dict[str, Any], prefix: str) -> None:
    """Hole 6 closed (who gets through is judged in test_retraining_outputs_swapped)."""
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
