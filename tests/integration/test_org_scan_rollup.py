"""A roll-up's life under moto, through the real notifier to local Slack and Jira servers: the first run rolls
findings up into the summary (one Jira issue), and when they are fixed the resolutions are told as the openings
were: one by one for those with an issue of their own, and for the rest only the summary, which resolves."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from mlgov.sandbox import FakeContext, sqs_event
from mlgov.settings import parse_settings
from mlgov.sinks import start_sink
from mlgov_runtime.core import env
from mlgov_runtime.org_scan import settings as e
from tests.integration.test_notifier_handler import _setup, good_secret
from tests.integration.test_org_scan import BUCKET, REGION, OrgWorld, _forward, org_world  # noqa: F401 (fixture)


def _limit(monkeypatch: pytest.MonkeyPatch, org_world: OrgWorld, limit: int) -> None:  # noqa: F811
    scan = {
        "regions": [REGION],
        "exclude_account_ids": [org_world.org.governance_account],
        "endpoint_concurrency": 4,
        "max_notifications_per_kind": limit,
    }
    for key, value in e.environment(parse_settings({"org_scan": scan})).items():
        monkeypatch.setenv(key, value)
    env.reset_all()


def _fix_everything(org_world: OrgWorld) -> None:  # noqa: F811
    """Every endpoint of the reached accounts deleted, and their event forwarding deployed."""
    for name in ("prod", "staging"):
        sagemaker = org_world.org.members[name].session.client("sagemaker")
        for endpoint in sagemaker.list_endpoints()["Endpoints"]:
            sagemaker.delete_endpoint(EndpointName=endpoint["EndpointName"])
        _forward(org_world, name)


def _issue_of(jira: Any, finding_id: str) -> dict[str, Any]:
    [issue] = [i for i in jira.issues.values() if f"mlgov-{finding_id}" in i["fields"]["labels"]]
    return dict(issue)


def test_a_fixed_roll_up_resolves_the_summarys_issue_and_files_or_floods_nothing(
    org_world: OrgWorld,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _limit(monkeypatch, org_world, 1)
    routing = {"jira_project_key": "MLGOV", "jira_resolve_transition_id": "31"}
    with start_sink("slack") as slack, start_sink("jira") as jira:
        notifier = _setup(monkeypatch, slack, jira, good_secret(slack, jira), routing)

        def deliver(findings: list[dict[str, Any]]) -> None:
            answer = notifier.module.handler(sqs_event([json.dumps(f) for f in findings]), FakeContext())
            assert answer == {"batchItemFailures": []}

        # Given a first run whose findings beyond one of a kind were rolled up into a severe summary
        first = org_world.execute()["body"]
        opened = org_world.published()
        deliver(opened)
        [summary] = [f for f in opened if f["kind"] == "SCAN_SUMMARY"]
        assert summary["severity"] != "INFO" and first["rolled_up"]["findings"]
        one_by_one = {f["finding_id"] for f in opened if f["kind"] != "SCAN_SUMMARY"}
        issues = len(jira.issues)
        assert _issue_of(jira, summary["finding_id"])["status"] == "To Do"
        # When everything the scan can see is fixed
        _fix_everything(org_world)
        org_world.execute()
        told = org_world.published()
        # Then only findings told one by one get a resolution each; the rolled-up ones none
        resolved = {f["finding_id"] for f in told if f["status"] == "RESOLVED" and f["kind"] != "SCAN_SUMMARY"}
        rolled = {f["finding_id"] for f in first["rolled_up"]["findings"]}
        assert resolved and resolved <= one_by_one and not resolved & rolled
        # And the summary itself is RESOLVED, which closes its issue; no issue is created for anything
        [closing] = [f for f in told if f["kind"] == "SCAN_SUMMARY"]
        assert closing["status"] == "RESOLVED" and "rolled-up findings resolved" in closing["detail"]
        deliver(told)
        assert len(jira.issues) == issues
        assert _issue_of(jira, summary["finding_id"])["status"] == "Done"
        # Every other issue is closed too, but the one of what is still wrong (the account still unreachable)
        left = {label for i in jira.issues.values() if i["status"] != "Done" for label in i["fields"]["labels"]}
        assert {f"mlgov-{fid}" for fid in resolved} & left == set()
        assert {label for label in left if label.startswith("mlgov-")} <= {f"mlgov-{f}" for f in one_by_one - resolved}
        # A week later nothing rolled up is left: an ordinary INFO summary, open
        org_world.execute()
        assert [(f["kind"], f["severity"], f["status"]) for f in org_world.published()] == [
            ("SCAN_SUMMARY", "INFO", "OPEN")
        ]


# -- a retried aggregate


def _plan_and_scan(org_world: OrgWorld, run_id: str) -> dict[str, Any]:  # noqa: F811
    """The state machine's steps up to the aggregate: what it hands the aggregate (and each retry of it)."""
    plan = org_world.coordinator.handler(
        {"step": "plan", "state": {"run_id": run_id, "started_at": "2026-11-30T06:00:00Z"}}, FakeContext()
    )
    targets = json.loads(org_world.s3.get_object(Bucket=BUCKET, Key=plan["targets_key"])["Body"].read())
    org_world.coordinator.scan({"Items": targets, "BatchInput": {"run_id": run_id}}, FakeContext())
    return {"plan": plan, "map": None}


def _attempt_dies_after_publishing(org_world: OrgWorld, state: dict[str, Any], monkeypatch: Any) -> None:  # noqa: F811
    """An aggregate attempt that publishes, then times out before its report and summary."""
    from mlgov_runtime.adapters.scan_store import S3ScanStore

    def timeout(*args: Any) -> str:
        raise TimeoutError("Task timed out after 900.00 seconds")

    with monkeypatch.context() as patched:
        patched.setattr(S3ScanStore, "put_report", timeout)
        with pytest.raises(TimeoutError):
            org_world.coordinator.handler({"step": "aggregate", "state": state}, FakeContext())


def test_a_retried_aggregate_keeps_the_first_attempts_roll_up(
    org_world: OrgWorld,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _limit(monkeypatch, org_world, 1)
    state = _plan_and_scan(org_world, "scan-retried")
    # Given a first attempt that sent one finding of each kind, then died before its summary
    _attempt_dies_after_publishing(org_world, state, monkeypatch)
    first = org_world.published()
    assert first and all(f["kind"] != "SCAN_SUMMARY" for f in first)
    key = "org-scan/runs/scan-retried/rolled_up.json"
    decision = json.loads(org_world.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert "mlgov-mac" in org_world.s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    # When Step Functions retries the aggregate
    retried = org_world.coordinator.handler({"step": "aggregate", "state": state}, FakeContext())
    second = org_world.published()
    # Then the retry sends nothing more one by one: what the first attempt rolled up goes into the summary
    assert [f["kind"] for f in second] == ["SCAN_SUMMARY"]
    assert set(Counter(f["kind"] for f in first).values()) == {1}
    rolled = {fid for fid, (_, _, how) in decision["findings"].items() if how == "rolled"}
    assert rolled and {fid for fid, (_, _, how) in decision["findings"].items() if how == "single"} == {
        f["finding_id"] for f in first
    }
    key = retried["report"].split(f"s3://{BUCKET}/", 1)[1]
    report = json.loads(org_world.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert {f["finding_id"] for f in report["rolled_up"]["findings"]} == rolled


def test_a_tampered_roll_up_decision_fails_the_retry_before_anything_is_published(
    org_world: OrgWorld,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlgov_runtime.adapters.scan_store import UnverifiedObject

    _limit(monkeypatch, org_world, 1)
    state = _plan_and_scan(org_world, "scan-tampered")
    _attempt_dies_after_publishing(org_world, state, monkeypatch)
    org_world.published()
    # Someone rewrites the decision so that everything goes out one by one (its genuine HMAC kept)
    key = "org-scan/runs/scan-tampered/rolled_up.json"
    genuine = org_world.s3.get_object(Bucket=BUCKET, Key=key)
    decision = json.loads(genuine["Body"].read())
    decision["findings"] = {fid: [kind, status, "single"] for fid, (kind, status, _) in decision["findings"].items()}
    org_world.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(decision).encode(), Metadata=genuine["Metadata"])
    table = org_world.resources["FINDINGS_TABLE_NAME"]
    before = org_world.ddb.scan(TableName=table)["Items"]
    # Then the retry fails naming the file, and neither publishes nor stores anything
    with pytest.raises(UnverifiedObject, match=r"rolled_up\.json: its HMAC does not verify"):
        org_world.coordinator.handler({"step": "aggregate", "state": state}, FakeContext())
    assert org_world.published() == []
    assert org_world.ddb.scan(TableName=table)["Items"] == before
