"""Two org-scan aggregates at once (a retried or hand-started execution beside the scheduled one) and detectors
writing the same findings meanwhile, on moto's DynamoDB and SNS: each due version is claimed by one run with a
conditional write and published once, and a late published mark never overwrites a newer stored version."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlgov.estate import create_governance_resources, drain_findings
from mlgov_runtime.adapters.findings_store import FindingsStore
from mlgov_runtime.core.findings import Finding, store_and_publish
from mlgov_runtime.org_scan.ledger import CLAIM_SECONDS, ScanLedger
from mlgov_runtime.org_scan.report import aggregate, mark_rolled_up
from tests.unit.test_org_scan import CHECK_KINDS, RUN
from tests.unit.test_org_scan_publishing import violation, week

REGION = "us-east-1"
T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


@dataclass
class Channel:
    ddb: Any
    sns: Any
    sqs: Any
    resources: dict[str, str]

    def ledger(self, now: datetime = T0) -> ScanLedger:
        r = self.resources
        return ScanLedger(self.ddb, self.sns, r["FINDINGS_TABLE_NAME"], r["FINDINGS_TOPIC_ARN"], now=lambda: now)

    def detector(self) -> FindingsStore:
        """A real-time detector's store: the shared FindingsStore."""
        r = self.resources
        return FindingsStore(self.ddb, self.sns, r["FINDINGS_TABLE_NAME"], r["FINDINGS_TOPIC_ARN"])

    def published(self) -> list[dict[str, Any]]:
        return drain_findings(self.sqs, self.resources["FINDINGS_QUEUE_URL"])

    def item(self, finding: Finding) -> dict[str, Any]:
        got = self.detector().get(finding.finding_id)
        assert got is not None
        return got


@pytest.fixture
def channel() -> Iterator[Channel]:
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        ddb, sns, sqs = (session.client(s) for s in ("dynamodb", "sns", "sqs"))
        yield Channel(ddb, sns, sqs, create_governance_resources(ddb, sns, sqs))


class Overlapped(ScanLedger):
    """Run A's ledger: just before its first PublishBatch, run B's whole aggregate happens."""

    def __init__(self, channel: Channel, meanwhile: Any) -> None:
        r = channel.resources
        super().__init__(channel.ddb, channel.sns, r["FINDINGS_TABLE_NAME"], r["FINDINGS_TOPIC_ARN"], now=lambda: T0)
        self.meanwhile = meanwhile

    def publish_batch(self, findings: Sequence[Finding]) -> list[Finding]:
        if self.meanwhile:
            run, self.meanwhile = self.meanwhile, None
            run()
        return super().publish_batch(findings)


def test_two_overlapping_runs_publish_each_due_finding_and_each_swept_one_once(channel: Channel) -> None:
    # Given a finding an earlier run stored but never published (the sweep's), elsewhere than this week's results
    stale = replace(violation(900), account_id="444455556666", resource_arn="arn:aws:sagemaker:x:1:endpoint/old")
    channel.ledger().record(stale)
    channel.ddb.update_item(
        TableName=channel.resources["FINDINGS_TABLE_NAME"],
        Key={"finding_id": {"S": stale.finding_id}},
        UpdateExpression="SET last_detected_at = :then",
        ExpressionAttributeValues={":then": {"S": "2026-01-01T00:00:00Z"}},
    )
    results = week(20, range(12))
    run_b = replace(RUN, run_id="scan-b")
    other: list[Any] = []

    def other_run() -> None:
        other.append(aggregate(run_b, results, channel.ledger(), CHECK_KINDS, previous=None, max_per_kind=25))

    # When run A and run B aggregate the same week at once (B entirely inside A's publishing)
    a = Overlapped(channel, other_run)
    done = aggregate(RUN, results, a, CHECK_KINDS, previous=None, max_per_kind=25, concurrency=1)
    # Then every finding and the swept one went out exactly once, by whichever run claimed it
    ids = Counter(f["finding_id"] for f in channel.published())
    assert len(ids) == 13 and set(ids.values()) == {1} and stale.finding_id in ids
    # A claimed them first; B found them claimed and left them to A
    assert len(done.published) == 13 and other[0].published == []
    assert other[0].report["published"]["claimed_by_another_run"] == 13


def test_a_claim_holds_against_other_runs_until_it_expires_and_for_its_own_retry(channel: Channel) -> None:
    finding = violation(1)
    channel.ledger().record(finding)
    assert channel.ledger().claim([finding], "scan-a") == [finding]
    assert channel.ledger(T0 + timedelta(seconds=CLAIM_SECONDS - 60)).claim([finding], "scan-b") == []
    assert channel.ledger(T0 + timedelta(seconds=60)).claim([finding], "scan-a") == [finding]  # its retry
    # Run A died: after its claim expired, another run takes it
    later = channel.ledger(T0 + timedelta(seconds=CLAIM_SECONDS + 120))
    assert later.claim([finding], "scan-b") == [finding]
    # Once published, no run claims that version again; a newer version is claimable at once
    later.publish_batch([finding])
    assert "claimed_by" not in channel.item(finding)  # the mark ends the claim
    assert later.claim([finding], "scan-c") == []
    worse = replace(finding, severity="CRITICAL")
    later.record(worse)
    assert later.claim([worse], "scan-c") == [worse]


def test_a_late_roll_up_mark_never_overwrites_a_version_published_one_by_one_meanwhile(channel: Channel) -> None:
    # Given run A rolled up X (its summary is going out) and Y
    x, y = violation(1), violation(2)
    ledger = channel.ledger()
    for finding in (x, y):
        ledger.record(finding)
    # Meanwhile the real-time audit finds X worse and publishes it on its own (an issue is filed for it), and
    # another run publishes Y one by one
    worse = replace(x, severity="CRITICAL")
    store_and_publish(channel.detector(), worse)
    channel.ledger().publish_batch([y])
    # When run A's roll-up marks land late
    mark_rolled_up(ledger, [x, y], RUN.run_id)
    # Then X's stored, published version stays the one told on its own, and neither is marked rolled up (their
    # resolutions will be sent one by one and close their issues)
    assert channel.item(x)["published_fingerprint"] == worse.fingerprint() == channel.item(x)["fingerprint"]
    assert "rolled_up_in" not in channel.item(x) and "rolled_up_in" not in channel.item(y)
    assert channel.item(y)["published_fingerprint"] == y.fingerprint()


def test_a_late_one_by_one_mark_never_undoes_a_detectors_mark_of_a_newer_version(channel: Channel) -> None:
    # Given run A published X, and before its mark lands the real-time audit stores and publishes a worse X
    x = violation(1)
    ledger = channel.ledger()
    ledger.record(x)
    assert ledger.claim([x], RUN.run_id) == [x]
    worse = replace(x, severity="CRITICAL")
    store_and_publish(channel.detector(), worse)
    # When A's mark of the older version lands
    ledger.mark_published([x])
    # Then the table still says the worse version went out (the next run does not send it again)
    item = channel.item(x)
    assert item["published_fingerprint"] == item["fingerprint"] == worse.fingerprint()
