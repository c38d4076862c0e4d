"""Closed hole: the scan's forwarding check read only the rule's State. A member developer who rewrote the rule's
pattern (events:PutRule) or removed its target (events:RemoveTargets) left it ENABLED: the account forwarded
nothing and the scan said OK. The check now compares the pattern with the stack's and wants a target putting the
events, unchanged, on the governance bus; anything else is TAMPERED, a finding naming how to put it back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlgov_runtime.org_scan import forwarding
from tests.unit.test_finding_fixes import fixes, runnable

GOVERNANCE, MEMBER, REGION = "999988887777", "123456789012", "us-east-1"
BUS = forwarding.governance_bus(GOVERNANCE, REGION)
ROLE = f"arn:aws:iam::{MEMBER}:role/mlgov-member/mlgov-member-forwarding-{REGION}"


@pytest.fixture
def events() -> Iterator[Any]:
    """The member account's rule as the forwarding stack deploys it."""
    with mock_aws():
        client = boto3.client("events", region_name=REGION)
        client.put_rule(
            Name=forwarding.RULE_NAME, EventPattern=json.dumps(forwarding.expected_pattern()), State="ENABLED"
        )
        client.put_targets(
            Rule=forwarding.RULE_NAME, Targets=[{"Id": forwarding.TARGET_ID, "Arn": BUS, "RoleArn": ROLE}]
        )
        yield client


def test_the_rule_as_the_stack_deploys_it_is_ok(events: Any) -> None:
    assert forwarding.check(events, BUS) == (forwarding.OK, "")


def test_a_rule_that_matches_nothing_and_has_no_target_is_tampered(events: Any) -> None:
    events.remove_targets(Rule=forwarding.RULE_NAME, Ids=[forwarding.TARGET_ID])
    events.put_rule(
        Name=forwarding.RULE_NAME, EventPattern=json.dumps({"source": ["com.example.nothing"]}), State="ENABLED"
    )
    status, reason = forwarding.check(events, BUS)
    assert status == forwarding.TAMPERED and "com.example.nothing" in reason


def test_a_removed_target_is_tampered(events: Any) -> None:
    events.remove_targets(Rule=forwarding.RULE_NAME, Ids=[forwarding.TARGET_ID])
    status, reason = forwarding.check(events, BUS)
    assert status == forwarding.TAMPERED and "no target" in reason


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": ["aws.sagemaker"], "detail-type": list(forwarding.DETAIL_TYPES)},  # one source dropped
        {**forwarding.expected_pattern(), "account": ["000000000000"]},  # narrowed to an account that never sends
        {**forwarding.expected_pattern(), "detail-type": ["SageMaker Endpoint State Change"]},
    ],
)
def test_a_changed_pattern_is_tampered(events: Any, pattern: dict[str, Any]) -> None:
    events.put_rule(Name=forwarding.RULE_NAME, EventPattern=json.dumps(pattern), State="ENABLED")
    status, reason = forwarding.check(events, BUS)
    assert status == forwarding.TAMPERED and "pattern was changed" in reason


def test_the_same_pattern_in_another_order_is_ok(events: Any) -> None:
    reordered = {k: list(reversed(v)) for k, v in reversed(forwarding.expected_pattern().items())}
    events.put_rule(Name=forwarding.RULE_NAME, EventPattern=json.dumps(reordered), State="ENABLED")
    assert forwarding.check(events, BUS)[0] == forwarding.OK


@pytest.mark.parametrize(
    "target",
    [
        {"Id": forwarding.TARGET_ID, "Arn": f"arn:aws:events:{REGION}:{MEMBER}:event-bus/default", "RoleArn": ROLE},
        {"Id": forwarding.TARGET_ID, "Arn": BUS, "RoleArn": ROLE, "Input": json.dumps({"source": "nothing"})},
    ],
    ids=["another-bus", "constant-input"],
)
def test_a_target_that_does_not_put_the_events_on_the_governance_bus_is_tampered(
    events: Any, target: dict[str, Any]
) -> None:
    events.put_targets(Rule=forwarding.RULE_NAME, Targets=[target])
    assert forwarding.check(events, BUS)[0] == forwarding.TAMPERED


def test_a_tampered_rule_is_a_finding_naming_the_command_that_puts_it_back() -> None:
    found = forwarding.finding(
        MEMBER, REGION, forwarding.TAMPERED, "Rule x has no target.", "scheduled", "MlGovMemberEventForwarding", BUS
    )
    assert found.kind == forwarding.KIND and found.evidence["status"] == forwarding.TAMPERED
    named = fixes(found.detail)
    assert forwarding.put_rule_command(REGION) in named and forwarding.rule_console(REGION) in named
    assert all(runnable(c) for c in named) and BUS in found.detail
    # The command restores exactly the stack's pattern
    pattern = json.loads(forwarding.put_rule_command(REGION).split("--event-pattern ", 1)[1].strip("'"))
    assert forwarding.pattern_problem(json.dumps(pattern)) is None
