"""The guardrails stacks: SCPs attached to the configured OUs, and the single-account variant."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template

from mlgov.guardrails import IAM_POLICY_MAX_CHARS, SCP_MAX_CHARS, GuardrailLimitError
from mlgov.settings import parse_settings
from stacks.constants import ACCOUNT_GUARDRAILS_STACK_NAME, GUARDRAILS_STACK_NAME
from stacks.guardrails_stack import GuardrailsStack

pytestmark = pytest.mark.infrastructure
GOV = "999988887777"


def test_scps_are_service_control_policies_attached_to_the_target_ous(guardrail_templates: dict[str, Any]) -> None:
    _, template = guardrail_templates[GUARDRAILS_STACK_NAME]
    policies = template.find_resources("AWS::Organizations::Policy")
    assert {p["Properties"]["Name"] for p in policies.values()} == {
        "mlgov-endpoint-lineage",
        "mlgov-model-approval",
        "mlgov-protected-roles",
        "mlgov-product-guard",
    }
    for policy in policies.values():
        props = policy["Properties"]
        assert props["Type"] == "SERVICE_CONTROL_POLICY"
        # Without governance_target_ids the product guard is created unattached (attach it where the product runs)
        expected = None if props["Name"] == "mlgov-product-guard" else ["ou-ab12-prodwork", "ou-ab12-stagingx"]
        assert props.get("TargetIds") == expected
        assert len(json.dumps(props["Content"], separators=(",", ":"))) <= SCP_MAX_CHARS
        assert all(s["Effect"] == "Deny" for s in props["Content"]["Statement"])


def test_every_scp_attaches_where_the_product_runs_and_the_product_guard_only_there() -> None:
    # Given the governance account named as where the product runs
    app = cdk.App()
    settings = parse_settings({"guardrails": {"target_ou_ids": ["ou-ab12-prodwork"], "governance_target_ids": [GOV]}})
    stack = GuardrailsStack(app, "GuardrailsWithGovernance", settings=settings)
    targets = {
        p["Properties"]["Name"]: p["Properties"].get("TargetIds")
        for p in Template.from_stack(stack).find_resources("AWS::Organizations::Policy").values()
    }
    # Then the product guard attaches there only, the rest on both (the challenger's endpoint, watched groups
    # and recommendation metrics live where the product runs): four SCPs there, beside FullAWSAccess
    assert targets == {
        "mlgov-endpoint-lineage": ["ou-ab12-prodwork", GOV],
        "mlgov-model-approval": ["ou-ab12-prodwork", GOV],
        "mlgov-protected-roles": ["ou-ab12-prodwork", GOV],
        "mlgov-product-guard": [GOV],
    }


def test_single_account_variant_has_the_same_denies_and_a_boundary(guardrail_templates: dict[str, Any]) -> None:
    _, scps = guardrail_templates[GUARDRAILS_STACK_NAME]
    _, account = guardrail_templates[ACCOUNT_GUARDRAILS_STACK_NAME]
    scp_sids = {
        s["Sid"]
        for p in scps.find_resources("AWS::Organizations::Policy").values()
        for s in p["Properties"]["Content"]["Statement"]
    }
    # Then the account's managed deny policies together carry every SCP statement, each under IAM's limit
    deny_sids: list[str] = []
    for name in (
        "mlgov-guardrails",
        "mlgov-guardrails-evidence",
        "mlgov-guardrails-product",
        "mlgov-guardrails-machinery",
    ):
        [policy] = account.find_resources(
            "AWS::IAM::ManagedPolicy", {"Properties": {"ManagedPolicyName": name}}
        ).values()
        document = policy["Properties"]["PolicyDocument"]
        deny_sids += [s["Sid"] for s in document["Statement"]]
        assert len("".join(json.dumps(document, separators=(",", ":")).split())) <= IAM_POLICY_MAX_CHARS
    assert sorted(deny_sids) == sorted(scp_sids)
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


def test_synth_refuses_a_fifth_scp_where_the_product_runs_naming_the_way_out() -> None:
    # Given the governance account already carries FullAWSAccess and one SCP of the organization's own
    settings = parse_settings(
        {
            "guardrails": {
                "target_ou_ids": ["ou-ab12-prodwork"],
                "governance_target_ids": [GOV],
                "existing_scps_per_target": 2,
            }
        }
    )
    # When the guardrails stack is built, Then synth stops before any policy exists, naming the target and the fix
    with pytest.raises(GuardrailLimitError, match=rf"SCP number 6 on {GOV}.*4 from mlgov.*parent OU or the root"):
        GuardrailsStack(cdk.App(), "GuardrailsFull", settings=settings)
