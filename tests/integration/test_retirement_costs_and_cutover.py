"""Issue 27 items 4 and 6 under moto: the quiet check after a cut-over and hosting cost by purpose, through
the real CLI and adapters. Cost Explorer answers from moto's result queue (moto tracks no cost; the request
still goes through botocore's validation) or botocore's Stubber for an error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlgov.retirement_estate import DAILY_HOSTING, hosting_cost_answer, queue_hosting_costs
from mlgov_runtime.retirement.costs import last_week
from tests.integration.test_org_scan import OrgWorld
from tests.integration.test_org_scan import org_world as org_world  # the fixture
from tests.integration.test_retirement import ACCOUNT, RetirementWorld, retirement_context, run_cli
from tests.settings_files import NO_SETTINGS


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[RetirementWorld]:
    with retirement_context(monkeypatch) as w:
        yield w


def test_retire_audit_costs_adds_last_weeks_hosting_by_purpose(world: RetirementWorld, tmp_path: Path) -> None:
    start, end = last_week(datetime.now(UTC).date())
    queue_hosting_costs(ACCOUNT, hosting_cost_answer(start, end, DAILY_HOSTING))
    config = NO_SETTINGS
    code, out, _ = run_cli("retire", "audit", "--costs", "--format", "json", "--config", config)
    assert code == 3  # the verdicts decide the exit code; costs only inform
    report = json.loads(out)
    costs = report["costs_by_purpose"]
    assert costs["hosting_by_purpose"] == {"active": 315.84, "retiring": 157.92, "(no tag)": 157.92}
    assert costs["period"] == {"start": start.isoformat(), "end": end.isoformat()}
    assert len(report["endpoints"]) == 4  # the endpoints are all there too
    code, out, _ = run_cli("retire", "audit", "--format", "json", "--config", config)
    assert "costs_by_purpose" not in json.loads(out)  # only when asked: each request is billed


def test_retire_audit_costs_says_unavailable_when_cost_explorer_refuses(
    world: RetirementWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.stub import Stubber

    from mlgov_runtime.adapters.aws import AwsContext

    original = AwsContext.client_in
    stubs: list[Stubber] = []

    def refusing(self: AwsContext, service: str, region: str) -> object:
        client = original(self, service, region)
        if service == "ce":
            stub = Stubber(client)
            stub.add_client_error("get_cost_and_usage", "AccessDeniedException", "not authorized")
            stub.activate()
            stubs.append(stub)
        return client

    monkeypatch.setattr(AwsContext, "client_in", refusing)
    code, out, _ = run_cli("retire", "audit", "--costs", "--format", "table", "--config", NO_SETTINGS)
    assert code == 3
    assert "unavailable: Cost Explorer GetCostAndUsage" in out and "AccessDeniedException" in out
    assert "ce:GetCostAndUsage" in out
    stubs[0].assert_no_pending_responses()


def test_went_quiet_gate_fails_on_the_pinned_old_endpoint_and_passes_on_the_quiet_one(
    world: RetirementWorld, tmp_path: Path
) -> None:
    from mlgov.retirement_estate import IDLE, LIVE, STALE

    config = NO_SETTINGS
    code, out, _ = run_cli(
        "retire", "audit", "--went-quiet", "--endpoint", STALE, "--format", "json", "--config", config
    )
    assert code == 3
    report = json.loads(out)
    [row] = report["endpoints"]
    quiet = row["cutover"]
    assert (quiet["status"], quiet["successor"], quiet["invocations"]) == ("STILL_CALLED", LIVE, 4920)
    assert quiet["by_variant"]["AllTraffic"].count(205) == 24  # SageMaker's Invocations, hour by hour
    assert report["went_quiet"] == {
        "passed": False,
        "endpoints": [{"endpoint_name": STALE, "status": "STILL_CALLED"}],
        "line": f"went-quiet gate: failed: {STALE} STILL_CALLED",
    }
    code, out, _ = run_cli("retire", "audit", "--went-quiet", "--endpoint", IDLE, "--config", config)
    assert code == 0 and "went-quiet gate: passed" in out and f"while {LIVE} recorded 7,440" in out
    # The live endpoint itself has no cut-over: naming it to the gate is a failure, never a pass.
    code, out, _ = run_cli("retire", "audit", "--went-quiet", "--endpoint", LIVE, "--config", config)
    assert code == 3 and f"{LIVE} NO_CUTOVER" in out


def test_went_quiet_gate_with_a_stated_cutover_and_bad_input(world: RetirementWorld, tmp_path: Path) -> None:
    from mlgov.retirement_estate import STALE

    config = NO_SETTINGS
    recent = (datetime.now(UTC) - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    argv = ("retire", "audit", "--went-quiet", "--endpoint", STALE, "--cutover-at", recent, "--config", config)
    code, out, _ = run_cli(*argv)
    assert code == 3 and "PENDING" in out and "due at" in out  # 24 h have not passed: not a pass
    code, out, _ = run_cli(*argv, "--grace-hours", "0.25")
    assert code == 3 and "STILL_CALLED" in out  # the mobile client called it in the last 15 minutes
    for bad, message in (
        (("--cutover-at", "yesterday"), "not an ISO-8601 time"),
        (("--cutover-at", "2026-12-01T09:30:00"), "no time zone"),
        (("--cutover-at", "2999-01-01T00:00:00Z"), "in the future"),
        (("--grace-hours", "-1"), "not in 0..336"),
    ):
        code, _, err = run_cli("retire", "audit", "--went-quiet", "--endpoint", STALE, *bad, "--config", config)
        assert code == 2 and message in err, (bad, err)
    code, _, err = run_cli("retire", "audit", "--cutover-at", recent, "--config", config)
    assert code == 2 and "--cutover-at needs --endpoint" in err


def test_the_weekly_org_scan_report_has_hosting_cost_by_purpose_from_one_cost_explorer_request(
    org_world: OrgWorld,
) -> None:
    import boto3
    from botocore.client import BaseClient

    account = boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"]
    start, end = last_week(datetime.now(UTC).date())
    queue_hosting_costs(account, hosting_cost_answer(start, end, DAILY_HOSTING))
    calls: list[str] = []
    client_class: Any = BaseClient
    original = client_class._make_api_call

    def counting(self: Any, operation_name: str, api_params: Any) -> Any:
        if self.meta.service_model.service_name == "ce":
            calls.append(f"{operation_name} {self.meta.endpoint_url}")
        return original(self, operation_name, api_params)

    client_class._make_api_call = counting
    try:
        done = org_world.execute()
    finally:
        client_class._make_api_call = original
    assert calls == [
        "GetCostAndUsage https://ce.us-east-1.amazonaws.com"
    ]  # once per run, for every account and endpoint
    costs = done["body"]["costs_by_purpose"]
    assert costs["hosting_by_purpose"] == {"active": 315.84, "retiring": 157.92, "(no tag)": 157.92}
    assert done["body"]["endpoints"]  # the rest of the report is unchanged
    run_id = done["body"]["run"]["run_id"]
    key = f"org-scan/runs/{run_id}/report.md"
    markdown = org_world.s3.get_object(Bucket="mlgov-org-scan-reports", Key=key)["Body"].read().decode()
    assert "## SageMaker hosting cost by purpose (last week)" in markdown and "retiring" in markdown
