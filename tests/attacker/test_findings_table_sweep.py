"""Hole closed: the findings table takes writes only from the producers, so the org scan's sweep republishes
only what they stored.

The topic denies sns:Publish to everyone but the producers, and the notifier closes an issue only when the
stored status agrees. Both rest on the findings table: the aggregate step's sweep (`FindingsStore.unpublished`)
republishes every stored item of a scan-owned kind whose `published_fingerprint` differs from its `fingerprint`,
with whatever `finding` JSON the item holds. The table's key delegates to IAM (root kms:*), so its resource
policy is what keeps a forged item out: writes are denied to every principal but the producers' roles and the
operators' CLI. Here the synthesized policy judges a developer's writes (PowerUserAccess: allowed through IAM).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from mlgov.sinks import start_sink
from mlgov_runtime.adapters.findings_store import FindingsStore, stored_status
from mlgov_runtime.adapters.http import HttpClient
from mlgov_runtime.adapters.notifiers import JiraProject
from mlgov_runtime.core.findings import Finding
from tests.attacker.resource_policies import DEVELOPER, act_as, role_arn, table_policy
from tests.integration.test_org_scan import REGION, OrgWorld, org_world  # noqa: F401 (fixture)


def _as(principal: str, template: dict[str, Any]) -> Any:
    return act_as(
        boto3.client("dynamodb", region_name=REGION), principal, table_policy(template, "FindingsFindingsTable")
    )


def _forge(world: OrgWorld, ddb: Any, finding: Finding, *, published: bool = False) -> None:
    """What a principal with dynamodb:PutItem on the table (and kms through IAM) would write."""
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
    with pytest.raises(ClientError) as refused:
        ddb.put_item(TableName=world.resources["FINDINGS_TABLE_NAME"], Item=item)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"


def test_a_forged_table_item_is_refused_and_the_scan_pages_nothing_in_the_forgers_words(
    org_world: OrgWorld,  # noqa: F811
    governance_template: dict[str, Any],
) -> None:
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
    _forge(org_world, _as(DEVELOPER, governance_template), forged)
    org_world.execute()
    assert not [f for f in org_world.published() if f["finding_id"] == forged.finding_id]
    table = org_world.resources["FINDINGS_TABLE_NAME"]
    assert "Item" not in org_world.ddb.get_item(TableName=table, Key={"finding_id": {"S": forged.finding_id}})


def test_a_forged_resolution_of_an_unreached_accounts_finding_is_refused_and_its_jira_issue_stays_open(
    org_world: OrgWorld,  # noqa: F811
    governance_template: dict[str, Any],
) -> None:
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
    # (stored by the real-time audit, through its own role: the producers still write)
    store = FindingsStore(_as(role_arn(governance_template, "LineageAuditRole"), governance_template), None, table, "")
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
        # When a developer rewrites the stored item as RESOLVED (never published): refused
        forged = Finding(**{**real.__dict__, "status": "RESOLVED", "severity": "INFO"})
        _forge(org_world, _as(DEVELOPER, governance_template), forged)
        org_world.execute()
        # Then the scan publishes no resolution, the stored status stays open, and the issue stays open
        assert not [f for f in org_world.published() if f["finding_id"] == real.finding_id]
        assert stored_status(org_world.ddb, table, real.finding_id) == real.status
        assert sink.issues[key]["status"] != "Done"
