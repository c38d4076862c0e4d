"""Holes that were in the guardrail SCPs, judged by the same independent evaluator as the decision matrix.

Each case states what a sound guard must answer (Deny) for an ordinary developer role. They were marked
xfail(strict) while the evaluator answered Allow; each is closed now (the decision matrix pins who stays
allowed). Only the policies `attachments()` puts on the account in question are evaluated.
"""

from __future__ import annotations

from typing import Any

import pytest

from mlgov.guardrails import attachments, guardrail_policies
from mlgov.policy_eval import evaluate
from mlgov.settings import parse_settings

GOV, PROD = "999988887777", "210987654321"
WORKLOAD_OU = "ou-ab12-prodwork"
SETTINGS = parse_settings({"guardrails": {"target_ou_ids": [WORKLOAD_OU], "governance_target_ids": [GOV]}})
POLICIES = {p.name: p.document for p in guardrail_policies(SETTINGS)}


def attached(target: str) -> dict[str, Any]:
    return {name: POLICIES[name] for name, targets in attachments(SETTINGS).items() if target in targets}


def developer(account: str) -> dict[str, Any]:
    return {
        "aws:PrincipalArn": f"arn:aws:iam::{account}:role/Developer",
        "aws:PrincipalAccount": account,
        "aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/r-ab12/"],
    }


def decision(target: str, account: str, action: str, resource: str, **keys: Any) -> str:
    return evaluate(attached(target), action, resource, {**developer(account), **keys}).decision


STACK = f"arn:aws:cloudformation:us-east-1:{GOV}:stack/MlGovEndpointAudit/5e7c9a10-0000-0000-0000-000000000000"
DEPLOY_ROLE = f"arn:aws:iam::{GOV}:role/cdk-hnb659fds-deploy-role-{GOV}-us-east-1"
RULE = f"arn:aws:events:us-east-1:{GOV}:rule/MlGovEndpointAudit-ChallengerPackageRegistered48C-1A2B3C4D5E6F"
FORWARDING_RULE = f"arn:aws:events:us-east-1:{PROD}:rule/mlgov-forward-sagemaker-events"

# 1. CloudFormation is the deployer: a stack keeps its service role (cfn-exec, exempt everywhere) and uses it for
#    every later UpdateStack/ExecuteChangeSet without iam:PassRole. The bootstrap's deploy role trusts the account.
CFN = [
    ("cloudformation:UpdateStack", STACK),
    ("cloudformation:CreateChangeSet", STACK),
    ("cloudformation:ExecuteChangeSet", STACK),
    ("sts:AssumeRole", DEPLOY_ROLE),
]


@pytest.mark.parametrize(("action", "resource"), CFN)
def test_a_developer_cannot_drive_the_product_stack(action: str, resource: str) -> None:
    assert decision(GOV, GOV, action, resource) == "Deny"


# 2. The product's EventBridge rules reach ChallengerSteps (and every rule-triggered function) as EventBridge:
#    DenyProductFunctionInvoke cannot see that; disabling them silences the real-time audit and the schedules.
RULE_WRITES = ["events:PutRule", "events:PutTargets", "events:RemoveTargets", "events:DisableRule", "events:DeleteRule"]


@pytest.mark.parametrize("action", RULE_WRITES)
def test_a_developer_cannot_rewrite_the_products_rules(action: str) -> None:
    assert decision(GOV, GOV, action, RULE) == "Deny"


@pytest.mark.parametrize("action", ["events:PutRule", "events:PutTargets", "events:RemoveTargets"])
def test_a_member_developer_cannot_blind_the_forwarding_rule(action: str) -> None:
    assert decision(WORKLOAD_OU, PROD, action, FORWARDING_RULE) == "Deny"


# 3. mlgov-model-approval and mlgov-endpoint-lineage attach only to target_ou_ids: in the governance account,
#    where the challenger's endpoint, watched groups and recommendation metrics live, none of them applies.
GOV_PACKAGE = f"arn:aws:sagemaker:us-east-1:{GOV}:model-package/manga-recommender/9"
GOV_CASES = [
    ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "MangaAssist/Recommendations"}),
    ("sagemaker:UpdateModelPackage", GOV_PACKAGE, {"sagemaker:ModelApprovalStatus": "Approved"}),
    ("sagemaker:CreateModelPackage", GOV_PACKAGE, {}),
    ("sagemaker:UpdateEndpoint", f"arn:aws:sagemaker:us-east-1:{GOV}:endpoint/manga-recommender-prod", {}),
]


@pytest.mark.parametrize(("action", "resource", "keys"), GOV_CASES)
def test_the_governance_account_keeps_the_gates_inputs(action: str, resource: str, keys: dict[str, Any]) -> None:
    assert decision(GOV, GOV, action, resource, **keys) == "Deny"


def test_the_same_requests_are_denied_in_a_workload_account() -> None:
    """Control: the statements exist and work where they are attached."""
    for action, resource, keys in GOV_CASES:
        assert decision(WORKLOAD_OU, PROD, action, resource.replace(GOV, PROD), **keys) == "Deny", action


# 7. The channel's plumbing: whoever may drain the notifier's queue or filter its subscription silences every
#    finding (the queue policy denies only foreign sends; the topic policy only foreign publishes).
QUEUE = f"arn:aws:sqs:us-east-1:{GOV}:MlGovEndpointAudit-NotifierNotifierQueue1A2B3C4D-AbCdEfGh1234"
SUBSCRIPTION = f"arn:aws:sns:us-east-1:{GOV}:MlGovEndpointAudit-FindingsFindingsTopic5E6F7A8B-Xy12:0f1e2d3c"
SILENCE = [
    ("sqs:PurgeQueue", QUEUE),
    ("sqs:ReceiveMessage", QUEUE),
    ("sqs:DeleteMessage", QUEUE),
    ("sns:SetSubscriptionAttributes", SUBSCRIPTION),
    ("sns:Unsubscribe", SUBSCRIPTION),
]


@pytest.mark.parametrize(("action", "resource"), SILENCE)
def test_a_developer_cannot_silence_the_channel(action: str, resource: str) -> None:
    assert decision(GOV, GOV, action, resource) == "Deny"


# 8. The holes issue 20 left open. A re-enabled product rule (EnableRule was missing from the rule statement).
@pytest.mark.parametrize("target, account, rule", [(GOV, GOV, RULE), (WORKLOAD_OU, PROD, FORWARDING_RULE)])
def test_a_developer_cannot_enable_a_product_rule(target: str, account: str, rule: str) -> None:
    assert decision(target, account, "events:EnableRule", rule) == "Deny"


# The governance bus's policy: removing the organization statement blinds every member account's forwarding,
# widening it lets anyone put events there. PutPermission/RemovePermission take no resource.
@pytest.mark.parametrize("action", ["events:RemovePermission", "events:PutPermission", "events:UpdateEventBus"])
def test_an_admin_where_the_product_runs_cannot_change_the_bus_policy(action: str) -> None:
    assert decision(GOV, GOV, action, "*") == "Deny"


def test_a_guarded_account_keeps_its_own_bus_policy() -> None:
    """Control: the bus deny rides on the product guard, attached only where the product runs."""
    assert decision(WORKLOAD_OU, PROD, "events:PutPermission", "*") == "Allow"


# The member forwarding role: its policy and trust decide whether the forwarding rule can put events on the bus.
@pytest.fixture(scope="module")
def forwarding_role_arn() -> str:
    from stacks.member_role_stack import forwarding_template

    resources = forwarding_template(SETTINGS)["Resources"]
    [role] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    name = role["RoleName"]["Fn::Join"][1]
    assert name[0] == "mlgov-member-forwarding-" and name[1] == {"Ref": "AWS::Region"}
    return f"arn:aws:iam::{PROD}:role{role['Path']}mlgov-member-forwarding-us-east-1"


@pytest.mark.parametrize(
    "action",
    [
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
        "iam:UpdateAssumeRolePolicy",
        "iam:DeleteRole",
        "iam:PassRole",
    ],
)
def test_a_member_admin_cannot_change_or_pass_the_forwarding_role(forwarding_role_arn: str, action: str) -> None:
    assert decision(WORKLOAD_OU, PROD, action, forwarding_role_arn) == "Deny"


# The product's keys: the root statement (kms:* for the account) lets account admins rewrite the key policy, grant
# themselves use, disable or delete the key. Judged on the keys the stack really synthesizes, with their tags.
def product_keys(template: dict[str, Any]) -> dict[str, dict[str, str]]:
    keys = {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::KMS::Key"}
    return {k: {t["Key"]: t["Value"] for t in p.get("Tags", [])} for k, p in keys.items()}


@pytest.mark.parametrize(
    "action",
    ["kms:PutKeyPolicy", "kms:CreateGrant", "kms:DisableKey", "kms:ScheduleKeyDeletion", "kms:UntagResource"],
)
def test_an_admin_where_the_product_runs_cannot_administer_the_product_keys(
    governance_template: dict[str, Any], action: str
) -> None:
    keys = product_keys(governance_template)
    assert len(keys) >= 3  # the findings channel's, the org scan's and the approvals' keys
    for logical_id, tags in keys.items():
        resource_tags = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
        arn = f"arn:aws:kms:us-east-1:{GOV}:key/{logical_id}"
        assert decision(GOV, GOV, action, arn, **resource_tags) == "Deny", logical_id


def test_every_stackset_acknowledges_the_named_roles_it_creates() -> None:
    """CloudFormation refuses a named IAM resource without CAPABILITY_NAMED_IAM: the forwarding StackSet, whose
    role now has a name on the protected path, would fail in every member account."""
    import json

    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from stacks.member_role_stack import MemberRoleStackSetStack

    settings = parse_settings(
        {
            "organization_id": "o-a1b2c3d4e5",
            "org_scan": {"governance_account_id": GOV, "member_role_target_ou_ids": [WORKLOAD_OU]},
        }
    )
    stack = MemberRoleStackSetStack(cdk.App(), "StackSets", settings=settings)
    stack_sets = Template.from_stack(stack).find_resources("AWS::CloudFormation::StackSet").values()
    for props in (s["Properties"] for s in stack_sets):
        body = json.loads(props["TemplateBody"])
        named = [
            r for r in body["Resources"].values() if r["Type"] == "AWS::IAM::Role" and "RoleName" in r["Properties"]
        ]
        assert named, props["StackSetName"]  # both create a named role now
        assert props["Capabilities"] == ["CAPABILITY_NAMED_IAM"], props["StackSetName"]
