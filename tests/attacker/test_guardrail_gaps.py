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
