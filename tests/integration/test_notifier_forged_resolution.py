"""A RESOLVED message closes a Jira issue only when the stored finding agrees: a forged or stale
closing must never hide an open violation (the topic policy is the first line; this is the second)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from mlgov.commands.notifier import sample_finding
from mlgov.sandbox import emf_metric
from mlgov.sinks import start_sink
from mlgov_runtime.adapters.http import HttpClient
from mlgov_runtime.adapters.notification_state import DynamoDeliveryState
from mlgov_runtime.adapters.notifiers import FOREIGN_ISSUE, JiraProject
from mlgov_runtime.core.findings import finding_id
from tests.integration.test_notifier_handler import DEFAULT_ROUTING, REGION, _setup, aws_and_sinks, good_secret


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


def test_a_recorded_issue_without_the_findings_label_is_left_alone_and_counted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with aws_and_sinks() as (slack, jira):
        notifier = _setup(
            monkeypatch, slack, jira, good_secret(slack, jira), {**DEFAULT_ROUTING, "jira_resolve_transition_id": "31"}
        )
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName="mlgov-findings",
            KeySchema=[{"AttributeName": "finding_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "finding_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        a = sample_finding()
        arn_b = a["resource_arn"].replace("mlgov-notification-test", "still-unregistered")
        b = {**a, "resource_arn": arn_b, "finding_id": finding_id(a["kind"], a["account_id"], a["region"], arn_b)}

        def store(finding: dict[str, Any], status: str) -> None:
            ddb.put_item(
                TableName="mlgov-findings",
                Item={"finding_id": {"S": finding["finding_id"]}, "status": {"S": status}},
            )

        store(a, "OPEN")
        store(b, "OPEN")
        assert notifier.invoke(json.dumps(a), json.dumps(b)) == {"batchItemFailures": []}
        state = DynamoDeliveryState(ddb, "mlgov-delivery-state")
        issue_a, issue_b = (str(state.open_issue("MLGOV", f["finding_id"])) for f in (a, b))
        capsys.readouterr()
        # Given A's record pointed at B's issue (the delivery state's seal taken off, or the notifier's role)
        state.remember_issue("MLGOV", a["finding_id"], issue_b)
        # When A's genuine resolution arrives
        store(a, "RESOLVED")
        assert notifier.invoke(json.dumps({**a, "status": "RESOLVED", "severity": "INFO"})) == {"batchItemFailures": []}
        # Then B's issue is neither commented on nor closed, A's own is closed, and the mismatch is counted and logged
        assert jira.issues[issue_b]["status"] == "To Do" and not jira.comments.get(issue_b)
        assert jira.issues[issue_a]["status"] == "Done"
        assert emf_metric(capsys.readouterr().out, "JiraIssueRecordMismatch") == 1.0
        assert any(FOREIGN_ISSUE in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


@pytest.mark.parametrize("recorded", ["MLGOV-99", "../../rest/api/3/issue/MLGOV-1/transitions"])
def test_a_recorded_issue_jira_does_not_show_is_set_aside_for_the_label_search(recorded: str) -> None:
    with start_sink("jira") as sink:
        finding: dict[str, Any] = sample_finding()
        jira = _jira(sink.url, {finding["finding_id"]: "OPEN"})
        jira.send(finding)
        [key] = list(sink.issues)
        # Given a record naming an issue Jira does not have (deleted, or never ours), or no issue key at all
        jira.issue_keys.remember_issue("MLGOV", finding["finding_id"], recorded)
        # Then the re-detection comments on the finding's own issue, found by its label, and says so
        outcome = jira.send(finding)
        assert FOREIGN_ISSUE in outcome and outcome.endswith(f"commented {key}")
        assert len(sink.comments[key]) == 1 and sink.issues[key]["status"] == "To Do"
        assert jira.issue_keys.open_issue("MLGOV", finding["finding_id"]) == key
