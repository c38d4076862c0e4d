"""A RESOLVED message closes a Jira issue only when the stored finding agrees: a forged or stale
closing must never hide an open violation (the topic policy is the first line; this is the second)."""

from __future__ import annotations

from typing import Any

from mlgov.commands.notifier import sample_finding
from mlgov.sinks import start_sink
from mlgov_runtime.adapters.http import HttpClient
from mlgov_runtime.adapters.notifiers import JiraProject


def _jira(url: str, stored: dict[str, str]) -> JiraProject:
    return JiraProject(
        url,
        "bot@example.com",
        "token",
        "MLGOV",
        HttpClient(timeout=2.0, attempts=1),
        resolve_transition_id="31",
        stored_status=stored.get,
    )


def test_a_resolution_the_store_does_not_agree_with_comments_but_never_closes() -> None:
    with start_sink("jira") as sink:
        finding: dict[str, Any] = sample_finding()
        stored = {finding["finding_id"]: "OPEN"}
        jira = _jira(sink.url, stored)
        jira.send(finding)
        [key] = list(sink.issues)
        # Given a RESOLVED message while the stored finding is still OPEN (forged, or out of order)
        outcome = jira.send({**finding, "status": "RESOLVED", "severity": "INFO"})
        # Then the issue gets a comment and stays open
        assert "not transitioned" in outcome and sink.issues[key]["status"] == "To Do"
        # When the store agrees, the same message closes it
        stored[finding["finding_id"]] = "RESOLVED"
        assert jira.send({**finding, "status": "RESOLVED", "severity": "INFO"}).startswith("commented and transitioned")
        assert sink.issues[key]["status"] == "Done"
