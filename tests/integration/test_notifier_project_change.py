"""`alert_routing.jira_project_key` changed while findings are open (docs/notifications.md, "Changing the Jira
project"): the notifier looks a finding's issue up in the configured project only, by its record and by its
`mlgov-<finding_id>` label. An open issue moved to the new project in Jira (which keeps its labels and leads the old
key to the new one) is found there, commented on and closed; one left in the old project is no longer touched, and
a RESOLVED finding for it creates nothing. Real parts: the delivery state on moto's DynamoDB, Jira as the local sink
(its search honours the JQL's project, as Jira's does)."""

from __future__ import annotations

from typing import Any

from mlgov_runtime.adapters.http import HttpClient
from mlgov_runtime.adapters.notification_state import DynamoDeliveryState
from mlgov_runtime.adapters.notifiers import JiraProject
from tests.integration.test_notifier_create_marker import world

__all__ = ["world"]


def channel(ddb: Any, sink: Any, project: str) -> JiraProject:
    """The notifier's Jira channel as a deploy with `jira_project_key: <project>` configures it."""
    return JiraProject(
        sink.url,
        "bot@example.com",
        "t",
        project,
        HttpClient(timeout=30.0, attempts=1),  # a slow machine is not a refusal
        resolve_transition_id="31",
        stored_status=lambda _finding_id: "RESOLVED",
        issue_keys=DynamoDeliveryState(ddb, "state"),
    )


def test_an_issue_moved_to_the_new_project_is_found_there_and_closed(world: tuple[Any, Any, dict[str, Any]]) -> None:
    ddb, sink, finding = world
    created = channel(ddb, sink, "OLD").send(finding)
    old_key = created.removeprefix("created ")
    assert old_key.startswith("OLD-"), created

    new_key = sink.move(old_key, "NEW")
    assert channel(ddb, sink, "NEW").send({**finding, "detail": "still there"}) == f"commented {new_key}"
    answer = channel(ddb, sink, "NEW").send({**finding, "status": "RESOLVED"})

    assert answer == f"commented and transitioned {new_key}"
    assert sink.issues[new_key]["status"] == "Done" and len(sink.issues) == 1


def test_an_issue_left_in_the_old_project_is_no_longer_touched(world: tuple[Any, Any, dict[str, Any]]) -> None:
    ddb, sink, finding = world
    old_key = channel(ddb, sink, "OLD").send(finding).removeprefix("created ")

    answer = channel(ddb, sink, "NEW").send({**finding, "status": "RESOLVED"})

    assert answer == "no open issue to resolve"
    assert sink.issues[old_key]["status"] == "To Do" and len(sink.issues) == 1
    assert sink.comments.get(old_key) is None
