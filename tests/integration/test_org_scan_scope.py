"""A deploy that narrows the weekly scan's scope (a region dropped from org_scan.regions, an account excluded) under
moto, through the real plan, worker and aggregate: what was open where the scan no longer looks stays open (not
scanned is not compliant), and the report says which findings, where, why and what to do. In a dropped region the
account's sweep still lists the endpoints: one it no longer lists, in a region it listed in full, is gone."""

from __future__ import annotations

from typing import Any

import botocore.client
import pytest
from botocore.exceptions import ClientError

from mlgov.settings import parse_settings
from mlgov_runtime.core import env
from mlgov_runtime.org_scan import settings as e
from tests.integration.test_org_scan import (  # noqa: F401 (fixture)
    REGION,
    ROLE,
    OrgWorld,
    _stored,
    eu_only_endpoint,
    org_world,
)

EU = "eu-west-1"
GROUPS = "open_findings_not_looked_at"


def _scope(monkeypatch: pytest.MonkeyPatch, org_world: OrgWorld, **scan: Any) -> None:  # noqa: F811
    """A deploy with these org_scan settings (the governance account stays excluded, as in every org_world test)."""
    scan = {"regions": [REGION], "endpoint_concurrency": 4, **scan}
    scan["exclude_account_ids"] = [org_world.org.governance_account, *scan.get("exclude_account_ids", [])]
    for key, value in e.environment(parse_settings({"org_scan": scan})).items():
        monkeypatch.setenv(key, value)
    env.reset_all()


def _eu_endpoint(org_world: OrgWorld) -> Any:  # noqa: F811
    """An unregistered endpoint of staging in eu-west-1 (a raw artifact, no package)."""
    return eu_only_endpoint(org_world)


def _status(org_world: OrgWorld, finding_id: str) -> str:  # noqa: F811
    [item] = [i for i in _stored(org_world) if i["finding_id"] == finding_id]
    return str(item["status"])


def _group(report: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    [group] = [g for g in report[GROUPS] if (g["account_id"], g["region"]) == (account, region)]
    return dict(group)


def _eu_violation_after_the_region_is_dropped(
    org_world: OrgWorld,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[str, Any]:
    """A first run over both regions opens the eu-west-1 violation; a deploy then drops eu-west-1."""
    _scope(monkeypatch, org_world, regions=[REGION, EU])
    sm = _eu_endpoint(org_world)
    org_world.execute()
    [eu] = [
        f["finding_id"]
        for f in org_world.published()
        if f["kind"] == "UNREGISTERED_ENDPOINT" and f["resource_arn"].endswith("endpoint/recs-eu-only")
    ]
    _scope(monkeypatch, org_world, regions=[REGION])
    return eu, sm


def test_a_dropped_region_keeps_its_findings_open_named_in_the_report_until_the_sweep_sees_the_endpoint_gone(
    org_world: OrgWorld,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    staging = org_world.account("staging")
    eu, sm = _eu_violation_after_the_region_is_dropped(org_world, monkeypatch)
    # When the next run scans us-east-1 only (the endpoint still serves in eu-west-1)
    result = org_world.execute()
    report, published = result["body"], org_world.published()
    # Then nothing there is resolved: the finding stays open (the sweep lists the endpoint, it is not audited)
    assert _status(org_world, eu) == "OPEN"
    assert not [f for f in published if f["status"] == "RESOLVED" and f["region"] == EU]
    # And the report names it, where, why and what to do
    group = _group(report, staging, EU)
    assert group["why"] == "NOT_IN_SCOPE" and "org_scan.regions" in group["reason"]
    assert eu in {f["finding_id"] for f in group["findings"]}
    assert group["kinds"]["UNREGISTERED_ENDPOINT"] >= 1 and group["count"] == len(group["findings"])
    assert f"mlgov scan --accounts {staging} --regions {EU} --role-name {ROLE}" in group["next"]
    assert "re-add" in group["next"].lower()
    # So do the summary finding and report.md
    [summary] = [f for f in published if f["kind"] == "SCAN_SUMMARY"]
    assert f"{staging}/{EU}" in summary["detail"] and "did not look" in summary["detail"]
    key = result["report"].split("s3://mlgov-org-scan-reports/", 1)[1].replace("report.json", "report.md")
    markdown = org_world.s3.get_object(Bucket="mlgov-org-scan-reports", Key=key)["Body"].read().decode()
    assert "## Open findings where this run did not look" in markdown and f"| {staging} | {EU} |" in markdown
    # When the endpoint is deleted there, the sweep (which listed eu-west-1 in full) no longer lists it: resolved once
    sm.delete_endpoint(EndpointName="recs-eu-only")
    report = org_world.execute()["body"]
    closed = [f for f in org_world.published() if f["finding_id"] == eu]
    assert [f["status"] for f in closed] == ["RESOLVED"] and "no longer exists" in closed[0]["title"]
    assert _status(org_world, eu) == "RESOLVED"
    # What the sweep cannot tell (the forwarding rule there) stays open and named
    assert "EVENT_FORWARDING_MISSING" in _group(report, staging, EU)["kinds"]
    org_world.execute()
    assert not [f for f in org_world.published() if f["finding_id"] == eu]


def _refuse_eu_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        if name == "ListEndpoints" and self.meta.region_name == EU:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, name)
        return original(self, name, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)


def _opt_out_of_eu(monkeypatch: pytest.MonkeyPatch) -> None:
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        answer = original(self, name, params)
        if name == "DescribeRegions":
            answer["Regions"] = [r for r in answer.get("Regions", []) if r.get("RegionName") != EU]
        return answer

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)


@pytest.mark.parametrize("blind", [_refuse_eu_listing, _opt_out_of_eu], ids=["listing-refused", "region-not-listed"])
def test_a_deleted_endpoint_in_a_dropped_region_the_sweep_did_not_list_in_full_stays_open(
    org_world: OrgWorld,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    blind: Any,
) -> None:
    # Given the eu-west-1 violation, the region dropped, and the endpoint deleted there
    eu, sm = _eu_violation_after_the_region_is_dropped(org_world, monkeypatch)
    sm.delete_endpoint(EndpointName="recs-eu-only")
    # When the sweep could not list eu-west-1 (refused), or the account no longer lists it as enabled
    blind(monkeypatch)
    report = org_world.execute()["body"]
    # Then no listing says it is gone: it stays open, and named
    assert _status(org_world, eu) == "OPEN"
    assert not [f for f in org_world.published() if f["finding_id"] == eu]
    assert eu in {f["finding_id"] for f in _group(report, org_world.account("staging"), EU)["findings"]}


def test_an_excluded_account_keeps_its_findings_open_and_the_report_says_why(
    org_world: OrgWorld,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    staging = org_world.account("staging")
    org_world.execute()
    opened = {f["finding_id"] for f in org_world.published() if f["account_id"] == staging}
    assert opened
    # When a deploy excludes staging
    _scope(monkeypatch, org_world, exclude_account_ids=[staging])
    result = org_world.execute()
    published = org_world.published()
    # Then none of its findings is resolved, and the report names every one, why and what to do
    assert not [f for f in published if f["status"] == "RESOLVED" and f["account_id"] == staging]
    assert {_status(org_world, fid) for fid in opened} == {"OPEN"}
    group = _group(result["body"], staging, REGION)
    assert group["why"] == "NOT_IN_SCOPE" and "org_scan.exclude_account_ids" in group["reason"]
    assert {f["finding_id"] for f in group["findings"]} == opened and group["count"] == len(opened)
    assert sum(group["kinds"].values()) == len(opened)
    assert f"mlgov scan --accounts {staging} --regions {REGION} --role-name {ROLE}" in group["next"]
    [summary] = [f for f in published if f["kind"] == "SCAN_SUMMARY"]
    assert f"{staging}/{REGION}" in summary["detail"] and f"{len(opened)} open findings" in summary["detail"]
    # Only where this run did not look: prod's open findings are not in the list
    assert {g["account_id"] for g in result["body"][GROUPS]} == {staging}


def test_an_account_no_longer_reached_names_its_open_findings_and_the_reason(
    org_world: OrgWorld,  # noqa: F811
) -> None:
    staging = org_world.org.members["staging"]
    org_world.execute()
    opened = {f["finding_id"] for f in org_world.published() if f["account_id"] == staging.account_id}
    # When staging's member role is deleted
    iam = staging.session.client("iam")
    iam.delete_role_policy(RoleName=ROLE, PolicyName="MemberRead")
    iam.delete_role(RoleName=ROLE)
    report = org_world.execute()["body"]
    # Then its open findings stay open, named with the row's reason code
    assert {_status(org_world, fid) for fid in opened} == {"OPEN"}
    group = _group(report, staging.account_id, REGION)
    assert group["why"] == "NOT_REACHED" and "ROLE_NOT_ASSUMABLE" in group["reason"]
    assert {f["finding_id"] for f in group["findings"]} == opened


def test_rolled_up_findings_in_an_excluded_account_keep_the_summary_open_and_it_says_where(
    org_world: OrgWorld,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    staging = org_world.account("staging")
    _scope(monkeypatch, org_world, max_notifications_per_kind=1)
    first = org_world.execute()["body"]
    org_world.published()
    rolled = {f["finding_id"] for f in first["rolled_up"]["findings"] if f["account_id"] == staging}
    assert rolled
    # When staging is excluded
    _scope(monkeypatch, org_world, max_notifications_per_kind=1, exclude_account_ids=[staging])
    org_world.execute()
    [summary] = [f for f in org_world.published() if f["kind"] == "SCAN_SUMMARY"]
    # Then the summary stays open (those are not resolved on no evidence) and says where they are
    assert summary["status"] == "OPEN"
    assert f"{len(rolled)} of them where this run did not look" in summary["detail"], summary["detail"]
    assert {_status(org_world, fid) for fid in rolled} == {"OPEN"}
