"""Third review: the member-role split (the forwarding role's new name and path, the boundary's compact
governance-tag deny) and the press worker's pins. Each guard test holds the safe outcome; a strict xfail asserts
the safe outcome of a hole still open (its reason names the hole)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlgov.guardrails import FORWARDING_ROLE_PREFIX, MEMBER_ROLE_PATH, guardrail_policies, permissions_boundary
from mlgov.policy_eval import evaluate
from mlgov_runtime.org_scan import forwarding
from tests.attacker.conftest import GOV
from tests.unit.test_guardrail_matrix import PROD, SETTINGS

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
STACKSET_EXEC = f"arn:aws:iam::{PROD}:role/stacksets-exec-7f3e9a1b2c4d5e6f7a8b9c0d1e2f3a4b"
NEW_ROLE = f"arn:aws:iam::{PROD}:role{MEMBER_ROLE_PATH}{FORWARDING_ROLE_PREFIX}-{REGION}"
# The last release: CloudFormation named the forwarding role after the StackSet's stack, on the root path.
GENERATED_ROLE = f"arn:aws:iam::{PROD}:role/StackSet-mlgov-member-event-forwa-ForwardingRole-1A2B3C4D5E6F"
# The release in between: a fixed name on the protected path.
PROTECTED_PATH_ROLE = f"arn:aws:iam::{PROD}:role/mlgov-protected/mlgov-event-forwarding-{REGION}"
FORWARDING_RULE = f"arn:aws:events:{REGION}:{PROD}:rule/{forwarding.RULE_NAME}"
# What CloudFormation does as the StackSets execution role when the StackSet's template renames the role: make the
# new one, give it its policy, pass it to the rule's target, then take the old one's policy off and delete it.
UPGRADE_CALLS = [
    ("iam:CreateRole", NEW_ROLE),
    ("iam:PutRolePolicy", NEW_ROLE),
    ("iam:PassRole", NEW_ROLE),
    ("events:PutTargets", FORWARDING_RULE),
    ("iam:DeleteRolePolicy", GENERATED_ROLE),
    ("iam:DeleteRole", GENERATED_ROLE),
]
# The commit before the member-role split (280152f): the SCPs a guarded organization runs while it upgrades.
BEFORE_SPLIT = "c5bfd1b"


def _as_stackset(action: str) -> dict[str, Any]:
    context: dict[str, Any] = {
        "aws:PrincipalArn": STACKSET_EXEC,
        "aws:PrincipalAccount": PROD,
        "aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/r-ab12/ou-ab12-prodwork/"],
    }
    if action == "iam:PassRole":
        context["iam:PassedToService"] = "events.amazonaws.com"
    return context


def _scps_before_the_split() -> dict[str, dict[str, Any]]:
    try:
        source = subprocess.run(
            ["git", "show", f"{BEFORE_SPLIT}:mlgov/guardrails.py"], cwd=ROOT, capture_output=True, check=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"no git history with {BEFORE_SPLIT} here (a shallow clone)")
    name = "mlgov_guardrails_before_split"
    module = ModuleType(name)
    module.__file__ = f"{name}.py"
    sys.modules[name] = module
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)
        return {p.name: p.document for p in module.guardrail_policies(SETTINGS)}
    finally:
        del sys.modules[name]


@pytest.mark.parametrize(
    ("action", "resource"), UPGRADE_CALLS, ids=[f"{a} {r.rsplit('/', 1)[-1]}" for a, r in UPGRADE_CALLS]
)
def test_the_forwarding_role_upgrade_goes_through_under_the_new_scps(action: str, resource: str) -> None:
    policies = {p.name: p.document for p in guardrail_policies(SETTINGS)}
    result = evaluate(policies, action, resource, _as_stackset(action))
    assert result.decision == "Allow", (action, resource, result)


def test_the_forwarding_role_upgrade_goes_through_under_the_scps_before_the_split() -> None:
    policies = _scps_before_the_split()
    for action, resource in UPGRADE_CALLS:
        result = evaluate(policies, action, resource, _as_stackset(action))
        assert result.decision == "Allow", (action, resource, result)


def test_from_the_protected_path_role_only_the_scps_before_the_split_let_the_stackset_delete_it() -> None:
    """docs/deploy.md's order (update the StackSet before the guardrails): the new SCPs refuse the StackSet the
    old protected-path role, the earlier ones do not."""
    new = {p.name: p.document for p in guardrail_policies(SETTINGS)}
    old = _scps_before_the_split()
    for action in ("iam:DeleteRolePolicy", "iam:DeleteRole"):
        refused = evaluate(new, action, PROTECTED_PATH_ROLE, _as_stackset(action))
        assert (refused.decision, refused.statement) == ("Deny", "DenyProtectedRoleChanges"), refused
        assert evaluate(old, action, PROTECTED_PATH_ROLE, _as_stackset(action)).decision == "Allow"


def _forwarding_rule(targets: list[dict[str, Any]]) -> tuple[str, str]:
    with mock_aws():
        events = boto3.client("events", region_name=REGION)
        events.put_rule(
            Name=forwarding.RULE_NAME,
            EventPattern=json.dumps(forwarding.expected_pattern()),
            State="ENABLED",
        )
        events.put_targets(Rule=forwarding.RULE_NAME, Targets=targets)
        return forwarding.check(events, forwarding.governance_bus(GOV, REGION))


def test_the_forwarding_check_accepts_the_target_with_the_new_role() -> None:
    bus = forwarding.governance_bus(GOV, REGION)
    status, reason = _forwarding_rule([{"Id": forwarding.TARGET_ID, "Arn": bus, "RoleArn": NEW_ROLE}])
    assert (status, reason) == (forwarding.OK, "")
    # and a target on another bus is still no forwarding
    elsewhere = forwarding.governance_bus("123456789012", REGION)
    status, _ = _forwarding_rule([{"Id": forwarding.TARGET_ID, "Arn": elsewhere, "RoleArn": NEW_ROLE}])
    assert status == forwarding.TAMPERED


@pytest.mark.parametrize("role", [None, f"arn:aws:iam::{PROD}:role/nobody-can-put-events"], ids=["no role", "other"])
def test_a_forwarding_target_without_the_stacks_role_is_reported(role: str | None) -> None:
    target: dict[str, Any] = {"Id": forwarding.TARGET_ID, "Arn": forwarding.governance_bus(GOV, REGION)}
    if role:
        target["RoleArn"] = role
    status, _ = _forwarding_rule([target])
    assert status == forwarding.TAMPERED


# The boundary's one governance-tag deny keeps the product's own writers working: retirement marks an endpoint
# retiring (the product's functions, named after the stack), the pipeline tags what it creates with its package.
ENDPOINT = f"arn:aws:sagemaker:{REGION}:{PROD}:endpoint/manga-recommender-prod"
RETIREMENT_ROLE = f"arn:aws:iam::{PROD}:role/MlGovEndpointAudit-RetirementFunctionServiceRole1A2B-Ab12Cd34"
PIPELINE_ROLE = f"arn:aws:iam::{PROD}:role/mlgov-protected/MlGovDeploymentPipeline-prod"
CHALLENGER_ROLE = f"arn:aws:iam::{PROD}:role/mlgov-protected/MlGovDeploymentPipelineChallenger"
PACKAGE = f"arn:aws:sagemaker:{REGION}:{PROD}:model-package/manga-recommender/7"


def _tagging(principal: str, tags: dict[str, str], action: str = "sagemaker:AddTags") -> str:
    context: dict[str, Any] = {
        "aws:PrincipalArn": principal,
        "aws:PrincipalAccount": PROD,
        "aws:TagKeys": list(tags),
        **{f"aws:RequestTag/{k}": v for k, v in tags.items()},
    }
    boundary = {"boundary": permissions_boundary(SETTINGS)}
    return evaluate(boundary, action, ENDPOINT, context, default_allow=False).decision


@pytest.mark.parametrize(
    ("principal", "tags", "expected"),
    [
        (RETIREMENT_ROLE, {"endpoint_purpose": "retiring"}, "Allow"),
        (PIPELINE_ROLE, {"ModelPackageName": PACKAGE}, "Allow"),
        (PIPELINE_ROLE, {"ModelPackageName": PACKAGE, "endpoint_purpose": "serving"}, "Allow"),
        (CHALLENGER_ROLE, {"endpoint_purpose": "challenger"}, "Allow"),
        (f"arn:aws:iam::{PROD}:role/DataScientist", {"endpoint_purpose": "retiring"}, "Deny"),
        (f"arn:aws:iam::{PROD}:role/DataScientist", {"modelpackagename": PACKAGE}, "Deny"),
        (f"arn:aws:iam::{PROD}:role/DataScientist", {"team": "recsys"}, "Allow"),
        # a product role's name on another path is not the product's role
        (f"arn:aws:iam::{PROD}:role/team/MlGovEndpointAudit-Retirement", {"endpoint_purpose": "retiring"}, "Deny"),
    ],
    ids=["retirement", "pipeline", "pipeline purpose", "challenger", "human", "case", "team tag", "look-alike"],
)
def test_the_boundarys_governance_tag_deny_spares_the_products_writers(
    principal: str, tags: dict[str, str], expected: str
) -> None:
    assert _tagging(principal, tags) == expected
    if expected == "Deny":  # taking a governance tag off is the same change
        assert _tagging(principal, tags, "sagemaker:DeleteTags") == "Deny"


def _function(template: dict[str, Any], prefix: str) -> dict[str, Any]:
    [found] = [
        r["Properties"]
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function" and k.startswith(prefix)
    ]
    return dict(found)


def test_the_slack_functions_memory_and_the_workers_timeout_are_what_the_docs_state(
    governance_template: dict[str, Any],
) -> None:
    from stacks.approvals import PRESS_WORKER_SECONDS, SLACK_MEMORY_MB

    docs = (ROOT / "docs" / "approvals.md").read_text()
    [memory] = set(re.findall(r"Slack\s+function therefore runs with ([\d,]+) MB", docs))
    [worker_seconds] = set(re.findall(r"its timeout is (\d+) s", docs))
    slack, worker = (
        _function(governance_template, "ApprovalsSlack"),
        _function(governance_template, "ApprovalsPressWorker"),
    )
    assert slack["MemorySize"] == int(memory.replace(",", "")) == SLACK_MEMORY_MB == 1769
    # Slack waits 3 s: the function that answers it has 5 s, the press worker the 120 s its calls need
    assert slack["Timeout"] == 5
    assert worker["Timeout"] == int(worker_seconds) == PRESS_WORKER_SECONDS == 120
    assert worker.get("MemorySize", 128) < slack["MemorySize"]  # only the Slack function pays for the vCPU


# Where the guardrails apply, DenyMemberRoleChanges keeps the member roles from CDK's execution role (a team's own
# `cdk deploy` may run as one), so a stack deployed by hand (MlGovMemberRole, MlGovMemberEventForwarding) cannot make
# its role in a guarded account: the scan's EVENT_FORWARDING_MISSING finding sends the operator to the StackSet.
def test_the_forwarding_findings_by_hand_deploy_is_refused_in_a_guarded_account() -> None:
    policies = {p.name: p.document for p in guardrail_policies(SETTINGS)}
    cdk_exec = f"arn:aws:iam::{PROD}:role/cdk-hnb659fds-cfn-exec-role-{PROD}-{REGION}"
    context = {**_as_stackset("iam:CreateRole"), "aws:PrincipalArn": cdk_exec}
    refused = evaluate(policies, "iam:CreateRole", NEW_ROLE, context)
    assert (refused.decision, refused.statement) == ("Deny", "DenyMemberRoleChanges")
    advice = forwarding.fix(PROD, REGION, forwarding.MISSING, "MlGovMemberEventForwarding", None)
    assert advice.index("member_role_target_ou_ids") < advice.index("cdk deploy MlGovMemberEventForwarding")
    assert "Outside the guarded OUs" in advice and "there use the StackSet" in advice
