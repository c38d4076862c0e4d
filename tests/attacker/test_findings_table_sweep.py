"""Hole: the findings table takes writes from anyone in the governance account, and the org scan's next-run
sweep publishes what it finds there as its own.

The topic denies sns:Publish to everyone but the producers ("a forged RESOLVED finding would close a real
violation's Jira issue"), and the notifier closes an issue only when the stored status agrees. Both rest on the
findings table, which has no resource policy (the approvals table has one) under a key whose policy delegates
to IAM (root kms:*). The aggregate step's sweep (`FindingsStore.unpublished`) republishes every stored item of
a scan-owned kind whose `published_fingerprint` differs from its `fingerprint`, with whatever `finding` JSON the
item holds, through the scan's role: a forged item becomes a message on the channel, and the same forged item is
the "stored status" the notifier checks.
"""

from __future__ import annotations

import json
from typing import Any

from mlgov.sinks import start_sink
from mlgov_runtime.adapters.findings_store import FindingsStore, stored_status
from mlgov_runtime.adapters.http import HttpClient
from mlgov_runtime.adapters.notifiers import JiraProject
from mlgov_runtime.core.findings import Finding
from tests.integration.test_org_scan import REGION, OrgWorld, org_world  # noqa: F401 (fixture)


def _forge(world: OrgWorld, finding: Finding, *, published: bool = False) -> None:
    """What any principal with dynamodb:PutItem on the table (and kms through IAM) can write."""
    body = json.dumps(finding.to_dict(), sort_keys=True)
    item: dict[str, Any] = {
        "finding_id": {"S": finding.finding_id},
        "kind": {"S": finding.kind},
        "status": {"S": finding.status},
        "severity": {"S": finding.severity},
        "account_id": {"S": finding.account_id},
        "region": {"S": finding.region},
        "resource_arn": {"S": finding.resource_arn},
        "title": {"S": finding.title},
        "finding": {"S": body},
        "fingerprint": {"S": finding.fingerprint()},
        "last_detected_at": {"S": "2026-01-01T00:00:00Z"},
    }
    if published:
        item["published_fingerprint"] = item["fingerprint"]
    world.ddb.put_item(TableName=world.resources["FINDINGS_TABLE_NAME"], Item=item)


def test_a_forged_table_item_is_paged_by_the_scan_with_the_forgers_words(org_world: OrgWorld) -> None:  # noqa: F811
    org_world.execute()
    org_world.published()
    prod = org_world.account("prod")
    # In a region the scan does not cover (not in org_scan.regions): no run ever re-checks or closes it.
    forged = Finding(
        kind="UNREGISTERED_ENDPOINT",
        severity="CRITICAL",
        account_id=prod,
        region="eu-west-1",
        resource_arn=f"arn:aws:sagemaker:eu-west-1:{prod}:endpoint/manga-recommender-prod",
        title="Production recommender serves an unregistered model",
        detail="Fix now: re-approve the live package with `mlgov challenger reapprove --package ... --comment ok` "
        "or follow https://mlgov-runbook.example.net/fix",
        source="scheduled",
    )
    _forge(org_world, forged)
    org_world.execute()
    sent = [f for f in org_world.published() if f["finding_id"] == forged.finding_id]
    assert sent and sent[0]["severity"] == "CRITICAL" and "mlgov-runbook.example.net" in sent[0]["detail"]


def test_a_forged_resolution_of_an_unreached_accounts_finding_closes_its_jira_issue(org_world: OrgWorld) -> None:  # noqa: F811
    # Given a real open violation in the sandbox account (the real-time audit found it; the scan cannot reach it)
    sandbox = org_world.account("sandbox")
    real = Finding(
        kind="UNREGISTERED_ENDPOINT",
        severity="CRITICAL",
        account_id=sandbox,
        region=REGION,
        resource_arn=f"arn:aws:sagemaker:{REGION}:{sandbox}:endpoint/recs-sandbox-rogue",
        title="Endpoint recs-sandbox-rogue serves a model with no registry lineage",
        detail="...",
        source="realtime",
    )
    table = org_world.resources["FINDINGS_TABLE_NAME"]
    store = FindingsStore(org_world.ddb, None, table, "")
    store.record(real)
    store.mark_published([real])
    with start_sink("jira") as sink:
        jira = JiraProject(
            sink.url,
            "bot@example.com",
            "token",
            "MLGOV",
            HttpClient(timeout=2.0, attempts=1),
            resolve_transition_id="31",
            stored_status=lambda fid: stored_status(org_world.ddb, table, fid),
        )
        jira.send(real.to_dict())
        [key] = list(sink.issues)
        # When someone rewrites the stored item as RESOLVED (never published)
        _forge(org_world, Finding(**{**real.__dict__, "status": "RESOLVED", "severity": "INFO"}))
        org_world.execute()
        # Then the scan publishes the resolution as its own
        [closing] = [f for f in org_world.published() if f["finding_id"] == real.finding_id]
        assert closing["status"] == "RESOLVED"
        # And the notifier's second line (the stored status) agrees, so the real violation's issue is closed
        assert jira.send(closing).startswith("commented and transitioned")
        assert sink.issues[key]["status"] == "Done"
