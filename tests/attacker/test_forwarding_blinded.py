"""Hole: the scan's forwarding check reads only the rule's State. A member developer who rewrites the rule's
pattern (events:PutRule) or removes its target (events:RemoveTargets) leaves it ENABLED: the account forwards
nothing, the real-time audit is blind there until the weekly scan, and the scan reports forwarding OK."""

from __future__ import annotations

import json

import boto3
from moto import mock_aws

from mlgov_runtime.org_scan import forwarding


def test_a_rule_that_matches_nothing_and_has_no_target_is_reported_ok() -> None:
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        events.put_rule(
            Name=forwarding.RULE_NAME, EventPattern=json.dumps({"source": ["com.example.nothing"]}), State="ENABLED"
        )
        assert events.list_targets_by_rule(Rule=forwarding.RULE_NAME)["Targets"] == []
        status, _ = forwarding.check(events)
        assert status == forwarding.OK  # a sound check says MISSING/UNKNOWN: this rule forwards nothing
