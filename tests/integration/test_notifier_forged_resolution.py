"""A RESOLVED message closes a Jira issue only when the stored finding agrees: a forged or stale
closing must never hide an open violation (the topic policy is the first line; this is the second)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlgov.commands.notifier import sample_finding
from mlgov.sandbox import emf_metric
from mlgov.sinks import start_sink
from mlgov_runtime.adapters.http import HttpClient
from mlgov_runtime.adapters.notifiers import JiraProject
from tests.integration.test_notifier_handler import DEFAULT_ROUTING, _setup, aws_and_sinks, good_secret


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


def test_a_resolution_with_no_issue_creates_none_and_is_counted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # A RESOLVED finding never filed one by one (it was rolled up, or below the Jira route): nothing to close.
    with aws_and_sinks() as (slack, jira):
        notifier = _setup(
            monkeypatch, slack, jira, good_secret(slack, jira), {**DEFAULT_ROUTING, "jira_resolve_transition_id": "31"}
        )
        resolved = {**sample_finding(), "status": "RESOLVED", "severity": "INFO"}
        assert notifier.invoke(json.dumps(resolved)) == {"batchItemFailures": []}
        assert jira.issues == {} and len(slack.delivered) == 1
        assert emf_metric(capsys.readouterr().out, "JiraNothingToResolve") == 1.0
        assert any("no open issue to resolve" in r.getMessage() for r in caplog.records)
