"""`alert_routing.jira_project_key` changed while findings are open (docs/notifications.md, "Changing the Jira
project"): the notifier looks a finding's issue up in the configured project only, by its record and by its
`mlgov-<finding_id>` label. An open issue moved to the new project in Jira (which keeps its labels and leads the old
key to the new one) is found there, commented on and closed; one left in the old project is no longer touched, and
a RESOLVED finding for it creates nothing. Real parts: the delivery state on moto's DynamoDB, Jira as the local sink
(its search honours the JQL's project, as Jira's does)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlgov.commands.notifier import sample_finding
from mlgov.sinks import start_sink
from mlgov_runtime.adapters.http import HttpClient
from mlgov_runtime.adapters.notification_state import DynamoDeliveryState
from mlgov_runtime.adapters.notifiers import JiraProject


@pytest.fixture
def world() -> Iterator[tuple[Any, Any]]:
    with mock_aws(config={"core": {"reset_boto3_session": False}}), start_sink("jira") as sink:
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="state",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield ddb, sink


def channel(ddb: Any, sink: Any, project: str) -> JiraProject:
    """The notifier's Jira channel as a deploy with `jira_project_key: <project>` configures it."""
    return JiraProject(
        sink.url,
        "bot@example.com",
        "t",
        project,
        HttpClient(timeout=2.0, attempts=1),
        resolve_transition_id="31",
        stored_status=lambda _finding_id: "RESOLVED",
        issue_keys=DynamoDeliveryState(ddb, "state"),
    )


def test_an_issue_moved_to_the_new_project_is_found_there_and_closed(world: tuple[Any, Any]) -> None:
    ddb, sink = world
    finding = sample_finding()
    created = channel(ddb, sink, "OLD").send(finding)
    old_key = created.removeprefix("created ")
    assert old_key.startswith("OLD-"), created

    new_key = sink.move(old_key, "NEW")
    assert channel(ddb, sink, "NEW").send({**finding, "detail": "still there"}) == f"commented {new_key}"
    answer = channel(ddb, sink, "NEW").send({**finding, "status": "RESOLVED"})

    assert answer == f"commented and transitioned {new_key}"
    assert sink.issues[new_key]["status"] == "Done" and len(sink.issues) == 1


def test_an_issue_left_in_the_old_project_is_no_longer_touched(world: tuple[Any, Any]) -> None:
    ddb, sink = world
    finding = sample_finding()
    old_key = channel(ddb, sink, "OLD").send(finding).removeprefix("created ")

    answer = channel(ddb, sink, "NEW").send({**finding, "status": "RESOLVED"})

    assert answer == "no open issue to resolve"
    assert sink.issues[old_key]["status"] == "To Do" and len(sink.issues) == 1
    assert sink.comments.get(old_key) is None
