"""Issue 21 item 6: whatever order SQS delivers a finding's OPEN and RESOLVED messages in, each channel's last
word is the finding's stored state (the findings table; producers store before they publish). Through the
notifier Lambda, against the local Slack and Jira sinks and moto's DynamoDB."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import boto3
import pytest

from mlgov.cli import sample_finding
from tests.integration.test_notifier_handler import REGION, Notifier, notifier

__all__ = ["notifier"]


def store(status: str, finding_id: str) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    with contextlib.suppress(ddb.exceptions.ResourceInUseException):
        ddb.create_table(
            TableName="mlgov-findings",
            KeySchema=[{"AttributeName": "finding_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "finding_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    ddb.put_item(TableName="mlgov-findings", Item={"finding_id": {"S": finding_id}, "status": {"S": status}})


def slack_statuses(notifier: Notifier) -> list[str]:
    said = []
    for request in notifier.slack.delivered:
        text = json.dumps(request.body)
        said.append("RESOLVED" if "RESOLVED" in text or "Resolved" in text else "OPEN")
    return said


def messages() -> dict[str, dict[str, Any]]:
    opened = sample_finding()
    return {"OPEN": opened, "RESOLVED": {**opened, "status": "RESOLVED", "severity": "INFO"}}


@pytest.mark.parametrize("order", [("OPEN", "RESOLVED"), ("RESOLVED", "OPEN")])
@pytest.mark.parametrize("stored", ["OPEN", "RESOLVED"])
def test_the_channels_last_word_is_the_stored_state_whatever_the_delivery_order(
    notifier: Notifier, order: tuple[str, str], stored: str
) -> None:
    by_status = messages()
    store(stored, by_status["OPEN"]["finding_id"])
    for i, status in enumerate(order):
        assert notifier.invoke(json.dumps(by_status[status]), message_ids=[f"m-{i}"]) == {"batchItemFailures": []}
    said = slack_statuses(notifier)
    assert said and said[-1] == stored, said
    assert stored in said and len(said) == 1  # the message that disagrees with the store is never posted


def test_a_resolved_delivered_before_its_open_leaves_no_open_jira_issue(notifier: Notifier) -> None:
    by_status = messages()
    store("RESOLVED", by_status["OPEN"]["finding_id"])
    notifier.invoke(json.dumps(by_status["RESOLVED"]), message_ids=["late-resolution"])
    notifier.invoke(json.dumps(by_status["OPEN"]), message_ids=["early-open"])
    assert notifier.jira.issues == {}  # the stale OPEN opened nothing


def test_without_a_stored_record_the_message_is_delivered_as_it_says(notifier: Notifier) -> None:
    by_status = messages()  # no findings table at all: no evidence either way
    notifier.invoke(json.dumps(by_status["RESOLVED"]), message_ids=["r"])
    notifier.invoke(json.dumps(by_status["OPEN"]), message_ids=["o"])
    assert slack_statuses(notifier) == ["RESOLVED", "OPEN"]
