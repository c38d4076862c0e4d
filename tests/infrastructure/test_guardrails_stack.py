"""The guardrails stacks: SCPs attached to the configured OUs, and the single-account variant."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from mlgov.guardrails import SCP_MAX_CHARS
from stacks.constants import ACCOUNT_GUARDRAILS_STACK_NAME, GUARDRAILS_STACK_NAME

pytestmark = pytest.mark.infrastructure


def test_scps_are_service_control_policies_attached_to_the_target_ous(guardrail_templates: dict[str, Any]) -> None:
    _, template = guardrail_templates[GUARDRAILS_STACK_NAME]
    policies = template.find_resources("AWS::Organizations::Policy")
    assert {p["Properties"]["Name"] for p in policies.values()} == {
        "mlgov-endpoint-lineage",
        "mlgov-model-approval",
        "mlgov-protected-roles",
    }
    for policy in policies.values():
        props = policy["Properties"]
        assert props["Type"] == "SERVICE_CONTROL_POLICY"
        assert props["TargetIds"] == ["ou-ab12-prodwork", "ou-ab12-stagingx"]
        assert len(json.dumps(props["Content"], separators=(",", ":"))) <= SCP_MAX_CHARS
        assert all(s["Effect"] == "Deny" for s in props["Content"]["Statement"])


def test_single_account_variant_has_the_same_denies_and_a_boundary(guardrail_templates: dict[str, Any]) -> None:
    _, scps = guardrail_templates[GUARDRAILS_STACK_NAME]
    _, account = guardrail_templates[ACCOUNT_GUARDRAILS_STACK_NAME]
    scp_sids = {
        s["Sid"]
        for p in scps.find_resources("AWS::Organizations::Policy").values()
        for s in p["Properties"]["Content"]["Statement"]
    }
    deny = account.find_resources("AWS::IAM::ManagedPolicy", {"Properties": {"ManagedPolicyName": "mlgov-guardrails"}})
    [deny_policy] = deny.values()
    assert {s["Sid"] for s in deny_policy["Properties"]["PolicyDocument"]["Statement"]} == scp_sids
    account.has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {
            "ManagedPolicyName": "mlgov-guardrails-boundary",
            "PolicyDocument": {"Statement": Match.array_with([Match.object_like({"Effect": "Allow", "Action": "*"})])},
        },
    )


def test_guardrail_stacks_have_no_unsuppressed_cdk_nag_errors(guardrail_templates: dict[str, Any]) -> None:
    for stack, _ in guardrail_templates.values():
        errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
        assert errors == [], [e.entry.data for e in errors]
