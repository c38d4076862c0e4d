"""The Jira create marker (`create_sent_at` on `jira#<project>#<finding_id>` in the delivery-state table) under
corruption: a marker no notifier wrote (garbage, another type, no time zone, far ahead) reads as expired, so the
finding's issue is created, once; a marker a notifier just wrote still holds the create. Real parts: the delivery
state on moto's DynamoDB, Jira as the local sink."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlgov.commands.notifier import sample_finding
from mlgov.sinks import start_sink
from mlgov_runtime.adapters.http import DeliveryError, HttpClient
from mlgov_runtime.adapters.notification_state import DynamoDeliveryState
from mlgov_runtime.adapters.notifiers import SEARCH_SETTLE, JiraProject

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


@pytest.fixture
def world() -> Iterator[tuple[Any, Any, dict[str, Any]]]:
    with mock_aws(config={"core": {"reset_boto3_session": False}}), start_sink("jira") as sink:
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="state",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield ddb, sink, sample_finding()


def invocation(ddb: Any, sink: Any) -> JiraProject:
    """One notifier invocation's Jira channel, at NOW, its state in the table."""
    return JiraProject(
        sink.url,
        "bot@example.com",
        "t",
        "MLGOV",
        HttpClient(timeout=2.0, attempts=1),
        issue_keys=DynamoDeliveryState(ddb, "state"),
        now=lambda: NOW,
    )


def plant(ddb: Any, finding: dict[str, Any], **attributes: Any) -> None:
    pk = f"jira#MLGOV#{finding['finding_id']}"
    ddb.put_item(TableName="state", Item={"pk": {"S": pk}, **attributes})


@pytest.mark.parametrize(
    "marker",
    [
        {"S": "garbage"},  # unparseable, and later than any time as a string
        {"S": "9999-12-31"},
        {"S": ""},
        {"N": "1765083600"},  # another type: not comparable with a time string
        {"BOOL": True},
        {"L": [{"S": "2026-12-07T05:00:00+00:00"}]},
        {"SS": ["+00:00"]},  # holds the UTC suffix, as a set
        {"S": "2099-01-01T00:00:00+00:00"},  # far ahead: no notifier's clock
        {"S": (NOW + SEARCH_SETTLE + timedelta(seconds=1)).isoformat()},
        {"S": (NOW + timedelta(minutes=1)).replace(tzinfo=None).isoformat()},  # no time zone
        {"S": "2099-01-01T00:00:00"},
    ],
)
def test_a_marker_no_notifier_wrote_reads_as_expired_and_the_issue_is_created_once(
    world: tuple[Any, Any, dict[str, Any]], marker: dict[str, Any]
) -> None:
    ddb, sink, finding = world
    plant(ddb, finding, open={"BOOL": False}, create_sent_at=marker)
    assert invocation(ddb, sink).send(finding).startswith("created ")
    assert invocation(ddb, sink).send({**finding, "detail": "again"}).startswith("commented ")
    assert len(sink.issues) == 1


@pytest.mark.parametrize(
    "record",
    [
        {"open": {"BOOL": True}},  # open, but no issue key: open_issue reads no issue
        {"open": {"BOOL": True}, "issue_key": {"S": ""}},
        {"open": {"BOOL": True}, "issue_key": {"N": "7"}},
        {"open": {"S": "true"}, "issue_key": {"S": "MLGOV-7"}},
    ],
)
def test_a_record_read_as_no_open_issue_does_not_hold_the_create(
    world: tuple[Any, Any, dict[str, Any]], record: dict[str, Any]
) -> None:
    ddb, sink, finding = world
    plant(ddb, finding, **record)
    assert invocation(ddb, sink).send(finding).startswith("created ")
    assert len(sink.issues) == 1


@pytest.mark.parametrize("offset", [timedelta(0), -SEARCH_SETTLE + timedelta(seconds=1), SEARCH_SETTLE])
def test_a_marker_a_notifier_just_wrote_still_holds_the_create(
    world: tuple[Any, Any, dict[str, Any]], offset: timedelta
) -> None:
    # Another invocation's create, whose answer may have been lost: sent now, almost SEARCH_SETTLE ago, or on a
    # clock ahead of this one by SEARCH_SETTLE at most
    ddb, sink, finding = world
    plant(ddb, finding, open={"BOOL": False}, create_sent_at={"S": (NOW + offset).isoformat()})
    with pytest.raises(DeliveryError) as raised:
        invocation(ddb, sink).send(finding)
    assert raised.value.held and raised.value.retryable
    assert not sink.issues
    # Nor does the conditional write let a second delivery that skipped the read through
    assert not DynamoDeliveryState(ddb, "state").remember_create("MLGOV", finding["finding_id"], NOW)


def test_a_marker_ahead_of_the_clock_only_by_the_settle_time_holds_no_longer_than_one(
    world: tuple[Any, Any, dict[str, Any]],
) -> None:
    ddb, _, finding = world
    plant(ddb, finding, open={"BOOL": False}, create_sent_at={"S": (NOW + SEARCH_SETTLE).isoformat()})
    state = DynamoDeliveryState(ddb, "state")
    assert not state.remember_create("MLGOV", finding["finding_id"], NOW + timedelta(minutes=9))
    assert state.remember_create("MLGOV", finding["finding_id"], NOW + 2 * SEARCH_SETTLE + timedelta(seconds=1))
