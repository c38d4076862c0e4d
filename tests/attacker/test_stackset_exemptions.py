"""The StackSets execution role's exemptions (issue 20, trust).

Any service-managed StackSet, the management account's or a StackSets delegated administrator's (a member account),
acts in each target account as the role stacksets-exec-<hash>. The guardrails exempted that role from the deny on
the product's rules for every product rule and from the governance bus policy deny, so a StackSet that reached the
account where the product runs could disable the real-time audit, the schedules and the challenger's start, or
rewrite the bus policy. What the product's StackSets actually make: the forwarding rule and role, and the member
audit role, in member accounts. Judged by the same independent evaluator as the decision matrix, on the SCPs
`attachments()` puts on each target, and on the StackSets' own templates.
"""

from __future__ import annotations

from typing import Any

import pytest

from mlgov.guardrails import attachments, guardrail_policies
from mlgov.policy_eval import evaluate
from mlgov.settings import parse_settings
from tests.attacker.conftest import GOV

PROD, REGION = "210987654321", "us-east-1"
WORKLOAD_OU = "ou-ab12-prodwork"
SETTINGS = parse_settings(
    {
        "organization_id": "o-a1b2c3d4e5",
        "org_scan": {"governance_account_id": GOV, "member_role_target_ou_ids": [WORKLOAD_OU]},
        "guardrails": {
            "target_ou_ids": [WORKLOAD_OU],
            "governance_target_ids": [GOV],
            "break_glass_role_arns": ["arn:aws:iam::*:role/mlgov-protected/MlGovBreakGlass"],
        },
    }
)
SCPS = {p.name: p.document for p in guardrail_policies(SETTINGS)}
HASH = "7f3e9a1b2c4d5e6f7a8b9c0d1e2f3a4b"
RULE_WRITES = [
    "events:PutRule",
    "events:PutTargets",
    "events:RemoveTargets",
    "events:EnableRule",
    "events:DisableRule",
    "events:DeleteRule",
]
# What CloudFormation names the governance stack's rules: <stack>-<logical id, truncated>-<suffix>.
GOVERNANCE_RULES = [
    f"arn:aws:events:{REGION}:{GOV}:rule/MlGovEndpointAudit-CloudTrailEndpointChanges1A2B3C-9Z8Y7X6W5V4U",
    f"arn:aws:events:{REGION}:{GOV}:rule/MlGovEndpointAudit-WeeklyScan5F6A7B8C-1Q2W3E4R5T6Y",
    f"arn:aws:events:{REGION}:{GOV}:rule/MlGovEndpointAudit-ChallengerPackageRegistered48C-1A2B3C4D5E6F",
]
FORWARDING_RULE = f"arn:aws:events:{REGION}:{PROD}:rule/mlgov-forward-sagemaker-events"


def stackset_role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/stacksets-exec-{HASH}"


def _scp(target: str, account: str, principal: str, action: str, resource: str) -> tuple[str, str | None]:
    policies = {name: SCPS[name] for name, targets in attachments(SETTINGS).items() if target in targets}
    context = {"aws:PrincipalArn": principal, "aws:PrincipalAccount": account}
    result = evaluate(policies, action, resource, context)
    return result.decision, result.statement


@pytest.mark.parametrize("rule", GOVERNANCE_RULES, ids=lambda arn: arn.rsplit("-", 2)[-2])
@pytest.mark.parametrize("action", RULE_WRITES)
def test_a_stackset_cannot_change_the_governance_stacks_rules(action: str, rule: str) -> None:
    # Where the product runs, a StackSet's execution role is refused every write on the governance stack's rules
    assert _scp(GOV, GOV, stackset_role(GOV), action, rule) == ("Deny", "DenyProductRuleChangesByStackSets")
    # And the deployer and break-glass still change them
    deployer = f"arn:aws:iam::{GOV}:role/cdk-hnb659fds-cfn-exec-role-{GOV}-{REGION}"
    assert _scp(GOV, GOV, deployer, action, rule) == ("Allow", None)
    glass = f"arn:aws:iam::{GOV}:role/mlgov-protected/MlGovBreakGlass"
    assert _scp(GOV, GOV, glass, action, rule) == ("Allow", None)


@pytest.mark.parametrize("action", RULE_WRITES)
def test_the_member_stackset_still_keeps_the_forwarding_rule_in_a_member_account(action: str) -> None:
    assert _scp(WORKLOAD_OU, PROD, stackset_role(PROD), action, FORWARDING_RULE) == ("Allow", None)
    # And nobody else there changes it
    developer = f"arn:aws:iam::{PROD}:role/OrganizationAccountAdmin"
    assert _scp(WORKLOAD_OU, PROD, developer, action, FORWARDING_RULE) == ("Deny", "DenyProductRuleChanges")


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("events:PutPermission", "*"),
        ("events:RemovePermission", "*"),
        ("events:UpdateEventBus", f"arn:aws:events:{REGION}:{GOV}:event-bus/default"),
    ],
)
def test_a_stackset_cannot_change_the_governance_bus_policy(action: str, resource: str) -> None:
    assert _scp(GOV, GOV, stackset_role(GOV), action, resource) == ("Deny", "DenyGovernanceBusPolicyChanges")
    deployer = f"arn:aws:iam::{GOV}:role/cdk-hnb659fds-cfn-exec-role-{GOV}-{REGION}"
    assert _scp(GOV, GOV, deployer, action, resource) == ("Allow", None)


def _resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(template["Resources"])


def test_no_product_stackset_needs_the_bus_policy_or_the_governance_stacks_rules() -> None:
    """Why the exemptions could go: what the two member StackSets deploy (their templates, carried inline)."""
    from stacks.member_role_stack import forwarding_template, member_template

    forwarding, member = _resources(forwarding_template(SETTINGS)), _resources(member_template(SETTINGS))
    # No bus policy and no bus in either; the only rule is the forwarding rule, by its fixed name
    types = {r["Type"] for r in [*forwarding.values(), *member.values()]}
    assert types <= {"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::Events::Rule"}, types
    rules = [r["Properties"] for r in forwarding.values() if r["Type"] == "AWS::Events::Rule"]
    assert [rule["Name"] for rule in rules] == ["mlgov-forward-sagemaker-events"]
    assert not [r for r in member.values() if r["Type"] == "AWS::Events::Rule"]
    # And in the governance account itself (in a target OU) the forwarding StackSet makes nothing at all
    assert all(r.get("Condition") == "IsMemberAccount" for r in forwarding.values())
    # Its role puts events on the governance bus; the bus policy that lets it is the governance stack's (deployer's)
    policies = [r["Properties"]["PolicyDocument"] for r in forwarding.values() if r["Type"] == "AWS::IAM::Policy"]
    actions = {
        a
        for p in policies
        for s in p["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert actions == {"events:PutEvents"}


def test_the_bus_policy_is_the_governance_stacks() -> None:
    """The statement the member accounts forward through is a CfnEventBusPolicy of the governance stack, deployed as
    the deployer (with mlgov.organization_id set)."""
    from aws_cdk.assertions import Template

    from app import build_app
    from stacks.constants import AUDIT_STACK_NAME

    app = build_app(
        context={
            "mlgov": {
                "organization_id": "o-a1b2c3d4e5",
                "guardrails": {"target_ou_ids": [WORKLOAD_OU], "governance_target_ids": [GOV]},
            }
        }
    )
    stack: Any = app.node.find_child(AUDIT_STACK_NAME)
    template = Template.from_stack(stack).to_json()
    policies = [r for r in template["Resources"].values() if r["Type"] == "AWS::Events::EventBusPolicy"]
    assert [p["Properties"]["StatementId"] for p in policies] == ["mlgov-org-forwarding"]
