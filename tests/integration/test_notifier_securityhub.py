"""The notifier's Security Hub channel under the emulator (moto's Security Hub plus the import rules and
BatchUpdateFindings of mlgov/emulator.py): one ASFF record per finding from open to resolved, Security
Hub's limits, and refusals reported and parked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from mlgov.cli import sample_finding
from mlgov.sandbox import FakeContext, sqs_event
from tests.integration.test_notifier_handler import (
    DEFAULT_ROUTING,
    REGION,
    Notifier,
    _setup,
    aws_and_sinks,
    good_secret,
)

ACCOUNT = "123456789012"  # the governance account the notifier runs in
PRODUCT = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
FINDINGS_TABLE = "mlgov-findings"


@dataclass
class Hub:
    notifier: Notifier
    client: Any
    ddb: Any
    account: str = ACCOUNT  # the account the notifier function runs in (its ARN)

    def records(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.client.get_findings(MaxResults=100)["Findings"]
        return found

    def store(self, finding: dict[str, Any]) -> None:
        """What the producer stored (the notifier believes this, not the message, for a resolution)."""
        self.ddb.put_item(
            TableName=FINDINGS_TABLE,
            Item={"finding_id": {"S": finding["finding_id"]}, "status": {"S": finding.get("status", "OPEN")}},
        )

    def deliver(self, finding: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
        context = FakeContext()
        context.invoked_function_arn = context.invoked_function_arn.replace(f":{ACCOUNT}:", f":{self.account}:")
        event = sqs_event([json.dumps(finding)], [message_id] if message_id else None)
        result: dict[str, Any] = self.notifier.module.handler(event, context)
        return result


def _hub(monkeypatch: pytest.MonkeyPatch, hub_account: str = ACCOUNT, enabled: bool = True) -> Iterator[Hub]:
    with aws_and_sinks() as (slack, jira):
        routing = {**DEFAULT_ROUTING, "security_hub": True}
        monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
        notifier = _setup(monkeypatch, slack, jira, good_secret(slack, jira), routing)
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName=FINDINGS_TABLE,
            KeySchema=[{"AttributeName": "finding_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "finding_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client = boto3.client("securityhub", region_name=REGION)
        if enabled:
            client.enable_security_hub()
        yield Hub(notifier, client, ddb, hub_account)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    yield from _hub(monkeypatch)


def finding(**changes: Any) -> dict[str, Any]:
    detail = (
        "Endpoint mlgov-notification-test serves a model that is not in the registry. "
        "Next: `mlgov audit endpoint mlgov-notification-test --region us-east-1`"
    )
    return {**sample_finding(), "detail": detail, "detected_at": "2026-12-01T10:00:00Z", **changes}


def test_one_record_per_finding_from_open_to_resolved(hub: Hub) -> None:
    opened = finding()
    hub.store(opened)
    assert hub.deliver(opened) == {"batchItemFailures": []}
    again = finding(severity="CRITICAL", detected_at="2026-12-01T11:00:00Z")  # worse: sent again
    assert hub.deliver(again) == {"batchItemFailures": []}
    [record] = hub.records()
    assert record["RecordState"] == "ACTIVE" and record["Workflow"] == {"Status": "NEW"}
    assert record["FindingProviderFields"]["Severity"]["Label"] == "CRITICAL"

    resolved = finding(status="RESOLVED", severity="INFO", detected_at="2026-12-02T09:00:00Z")
    hub.store(resolved)
    assert hub.deliver(resolved) == {"batchItemFailures": []}

    [record] = hub.records()  # the same record, never a second one
    assert (record["Id"], record["ProductArn"], record["GeneratorId"]) == (
        f"mlgov/{opened['finding_id']}",
        PRODUCT,
        "mlgov/UNREGISTERED_ENDPOINT",
    )
    assert record["RecordState"] == "ARCHIVED"
    assert record["Workflow"] == {"Status": "RESOLVED"}
    assert record["UpdatedAt"] == "2026-12-02T09:00:00Z"


def test_the_record_carries_severity_resource_account_region_and_the_fix(hub: Hub) -> None:
    hub.deliver(finding())
    [record] = hub.records()
    assert record["AwsAccountId"] == ACCOUNT and record["Severity"] == {"Label": "HIGH"}
    assert record["Resources"] == [
        {
            "Type": "Other",
            "Id": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/mlgov-notification-test",
            "Partition": "aws",
            "Region": "us-east-1",
        }
    ]
    recommendation = record["Remediation"]["Recommendation"]
    assert recommendation["Text"] == "Next: `mlgov audit endpoint mlgov-notification-test --region us-east-1`"
    assert recommendation["Url"].endswith("#/endpoints/mlgov-notification-test")
    assert record["ProductFields"]["mlgov/Region"] == "us-east-1"


def test_a_member_accounts_finding_is_imported_by_the_governance_account_and_names_the_member(hub: Hub) -> None:
    member = finding(
        account_id="210987654321",
        resource_arn="arn:aws:sagemaker:eu-west-1:210987654321:endpoint/churn",
        region="eu-west-1",
        finding_id="f" * 32,
    )
    assert hub.deliver(member) == {"batchItemFailures": []}
    [record] = hub.records()
    assert record["AwsAccountId"] == ACCOUNT  # Security Hub takes nothing else from this account
    assert record["ProductFields"]["mlgov/AccountId"] == "210987654321"
    assert record["Description"].startswith("Account 210987654321: ")
    assert record["Resources"][0]["Region"] == "eu-west-1"


def test_long_texts_are_cut_to_security_hubs_limits_not_refused(hub: Hub) -> None:
    long = finding(title="T" * 400, detail="why " * 2000 + "Next: `mlgov scan` " + "x" * 900)
    assert hub.deliver(long) == {"batchItemFailures": []}
    [record] = hub.records()
    assert len(record["Title"]) == 256
    assert len(record["Description"]) <= 1024 and "(cut; full finding:" in record["Description"]
    assert len(record["Remediation"]["Recommendation"]["Text"]) == 512
    assert record["Remediation"]["Recommendation"]["Text"].startswith("Next: `mlgov scan`")
    assert not hub.notifier.take(hub.notifier.dlq_url)


def test_a_forged_resolution_never_archives_an_open_record(hub: Hub) -> None:
    opened = finding()
    hub.store(opened)
    hub.deliver(opened)
    forged = finding(status="RESOLVED", severity="INFO", detected_at="2026-12-02T09:00:00Z")
    assert hub.deliver(forged) == {"batchItemFailures": []}  # the stored finding is still OPEN
    [record] = hub.records()
    assert record["RecordState"] == "ACTIVE" and record["Workflow"] == {"Status": "NEW"}
    # It disagrees with the stored finding, so no channel sends it (suppressed as stale); nothing to redrive.
    assert hub.notifier.take(hub.notifier.dlq_url) == []

    genuine = finding(status="RESOLVED", severity="INFO", detected_at="2026-12-02T10:00:00Z")
    hub.store(genuine)
    assert hub.deliver(genuine) == {"batchItemFailures": []}  # not suppressed by the forged one
    [record] = hub.records()
    assert record["RecordState"] == "ARCHIVED" and record["Workflow"] == {"Status": "RESOLVED"}


def test_failed_findings_are_reported_and_parked_not_counted_as_sent(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The function's ARN names another account than the credentials': Security Hub refuses the import.
    for hub in _hub(monkeypatch, hub_account="999999999999"):
        assert hub.deliver(finding(), "m-1") == {"batchItemFailures": []}
        assert hub.records() == []
        [parked] = hub.notifier.take(hub.notifier.dlq_url)
        reason = parked["MessageAttributes"]["mlgov_rejected"]["StringValue"]
        assert reason.startswith("securityhub:hub rejected: Security Hub refused 1 of 1 findings")
        assert "is not the calling account" in reason
        assert len(hub.notifier.slack.requests) == 1  # the channels that work still get it
    assert any("securityhub refused finding" in r.getMessage() for r in caplog.records)


def test_security_hub_not_enabled_is_a_refusal_that_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    for hub in _hub(monkeypatch, enabled=False):
        assert hub.deliver(finding()) == {"batchItemFailures": []}
        [parked] = hub.notifier.take(hub.notifier.dlq_url)
        reason = parked["MessageAttributes"]["mlgov_rejected"]["StringValue"]
        assert "InvalidAccessException" in reason and "aws securityhub enable-security-hub" in reason
