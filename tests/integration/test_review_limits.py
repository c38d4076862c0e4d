"""Limits on what the last stop stores in the notifier's delivery-state table, against moto's DynamoDB (which
refuses a partition key over 2,048 bytes, as DynamoDB does): every key the notifier writes, at the longest its
settings and AWS allow, fits; and the Jira issue key stored per finding round-trips."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from mlgov_runtime.adapters.notification_state import DynamoDeliveryState
from mlgov_runtime.core.findings import finding_id
from mlgov_runtime.core.routing import Delivery, Sent

REGION = "us-east-1"
PARTITION_KEY_MAX = 2048
# The longest of each part: a Jira project key (notifier settings: [A-Z][A-Z0-9]{1,9}), a Slack channel
# (#[a-z0-9_-]{1,80}), an SQS message id (100 characters at most), a finding id (32 hex characters).
PROJECT = "M" + "9" * 9
CHANNEL = "#" + "c" * 80
MESSAGE_ID = "m" * 100
FINDING = finding_id("UNREGISTERED_ENDPOINT", "123456789012", REGION, "arn:aws:sagemaker:::endpoint/" + "e" * 2000)


@pytest.fixture
def ddb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="state",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def test_the_emulator_refuses_a_partition_key_over_dynamodbs_limit(ddb: Any) -> None:
    """What makes the next test able to fail."""
    with pytest.raises(ClientError, match="2048"):
        ddb.put_item(TableName="state", Item={"pk": {"S": "k" * (PARTITION_KEY_MAX + 1)}})


def test_every_delivery_state_key_fits_at_its_longest(ddb: Any) -> None:
    state = DynamoDeliveryState(ddb, "state")
    now = datetime(2026, 12, 6, tzinfo=UTC)
    assert len(FINDING) == 32  # a resource ARN of any length makes the same 32 characters
    for delivery in (Delivery("slack", CHANNEL), Delivery("securityhub", CHANNEL), Delivery("jira", PROJECT)):
        state.mark_sent(FINDING, delivery, Sent(now, "OPEN", "f" * 64))
        assert state.last_sent(FINDING, delivery) is not None
        state.mark_delivered(MESSAGE_ID, delivery, now)
        assert state.delivered(MESSAGE_ID, delivery)
    # jira#<project>#<finding_id>: the issue the notifier created, then closed
    state.remember_issue(PROJECT, FINDING, f"{PROJECT}-9999999")
    assert state.open_issue(PROJECT, FINDING) == f"{PROJECT}-9999999"
    state.remember_issue(PROJECT, FINDING, None)
    assert state.open_issue(PROJECT, FINDING) is None
    longest = max(len(item["pk"]["S"].encode()) for item in ddb.scan(TableName="state")["Items"])
    assert longest < PARTITION_KEY_MAX // 8  # far from the limit: no setting makes a key grow
