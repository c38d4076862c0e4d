"""The org-wide scan's planning, worker, snapshot-age check and aggregation, on fakes (no AWS, no sockets)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from mlgov.ops.scan_run import has_problems
from mlgov_runtime.core.checks import CheckContext, CheckResult, EndpointGone
from mlgov_runtime.core.findings import STATUS_RESOLVED, Finding
from mlgov_runtime.lineage_audit import endpoint_check as lineage_check
from mlgov_runtime.org_scan import snapshot_age
from mlgov_runtime.org_scan.logic import (
    ERROR,
    OK,
    Plan,
    Scope,
    Target,
    TargetResult,
    Unreachable,
    plan_targets,
    scan_target,
)
from mlgov_runtime.org_scan.report import (
    KIND_UNREACHABLE,
    OpenRecord,
    Run,
    aggregate,
    build_report,
    change_since,
    complete_results,
    not_looked_at,
    resolutions,
    to_markdown,
)
from tests.unit.fakes import ACCOUNT, REGION, FakeSageMaker, FindingBook, package_arn

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
CHECKS = [lineage_check, snapshot_age]
CHECK_KINDS = {c.NAME: tuple(c.KINDS) for c in CHECKS}
OPTIONS = {"thresholds": {"snapshot_max_age_days": 60}, "experiment_exemptions": {"account_ids": []}}


# -- planning


class FakeOrganization:
    def __init__(self) -> None:
        self.active = ["111111111111", "222222222222", "333333333333", "444444444444"]
        self.ous = {"ou-prod-aaaaaaaa": {"111111111111"}, "ou-prod-nested01": {"222222222222"}}
        self.children = {"ou-prod-aaaaaaaa": ["ou-prod-nested01"]}
        self.tags = {"111111111111": {"env": "prod"}, "222222222222": {"env": "prod"}, "333333333333": {"env": "dev"}}

    def active_accounts(self) -> list[str]:
        return list(self.active)

    def accounts_under(self, ou_id: str) -> set[str]:
        found = set(self.ous.get(ou_id, set()))
        for child in self.children.get(ou_id, []):
            found |= self.accounts_under(child)
        return found

    def account_tags(self, account_id: str) -> dict[str, str]:
        return dict(self.tags.get(account_id, {}))


def test_plan_is_every_active_account_times_every_region_in_order() -> None:
    plan = plan_targets(FakeOrganization(), Scope(regions=("us-east-1", "eu-west-1")))
    assert plan.targets[:2] == [Target("111111111111", "us-east-1"), Target("111111111111", "eu-west-1")]
    assert len(plan.targets) == 8 and plan.skipped == {}


def test_plan_filters_combine_ou_with_nested_ous_tags_list_and_exclusions() -> None:
    org = FakeOrganization()
    under_ou = plan_targets(org, Scope(regions=("us-east-1",), organizational_unit_ids=frozenset({"ou-prod-aaaaaaaa"})))
    assert [t.account_id for t in under_ou.targets] == ["111111111111", "222222222222"]
    tagged = plan_targets(org, Scope(regions=("us-east-1",), account_tags={"env": "prod"}))
    assert [t.account_id for t in tagged.targets] == ["111111111111", "222222222222"]
    listed = Scope(
        regions=("us-east-1",),
        account_ids=frozenset({"222222222222", "333333333333", "999999999999"}),
        exclude_account_ids=frozenset({"333333333333"}),
    )
    plan: Plan = plan_targets(org, listed)
    assert [t.account_id for t in plan.targets] == ["222222222222"]
    assert plan.skipped == {"999999999999": "not an ACTIVE account of the organization"}


def test_suspended_accounts_are_not_scanned() -> None:
    org = FakeOrganization()
    org.active.remove("444444444444")
    assert "444444444444" not in {t.account_id for t in plan_targets(org, Scope(regions=("us-east-1",))).targets}


# -- one account/region


def estate() -> FakeSageMaker:
    sm = FakeSageMaker()
    sm.package(1, "Approved")
    sm.packages[package_arn(1)]["CustomerMetadataProperties"] = {"catalog_snapshot_date": "2026-11-01"}
    sm.package(2, "Approved")
    sm.packages[package_arn(2)]["CustomerMetadataProperties"] = {"catalog_snapshot_date": "2026-05-02"}
    sm.package(3, "Approved")  # no metadata at all
    sm.package(4, "PendingManualApproval")
    for version in (1, 2, 3, 4):
        sm.model(f"m{version}", {"ModelPackageName": package_arn(version)})
    sm.model("raw", {"Image": "tgi:2.4", "ModelDataUrl": "s3://b/model.tar.gz"})
    sm.endpoint("fresh", [{"VariantName": "AllTraffic", "ModelName": "m1"}])
    sm.endpoint("stale", [{"VariantName": "AllTraffic", "ModelName": "m2"}])
    sm.endpoint("undated", [{"VariantName": "AllTraffic", "ModelName": "m3"}])
    sm.endpoint("pending", [{"VariantName": "AllTraffic", "ModelName": "m4"}])
    sm.endpoint("hotfix", [{"VariantName": "AllTraffic", "ModelName": "raw"}])
    return sm


class FakeMember:
    def __init__(self, sm: FakeSageMaker, listing_error: Unreachable | None = None) -> None:
        self.sm, self.listing_error = sm, listing_error

    def client(self, service: str) -> Any:
        raise AssertionError(f"the fake reader answers; no {service} client expected")

    def endpoint_names(self) -> list[str]:
        if self.listing_error:
            raise self.listing_error
        return list(self.sm.endpoints)

    def in_region(self, region: str) -> FakeMember:
        raise AssertionError(f"no sweep of other regions expected (asked for {region})")


class FakeConnector:
    def __init__(self, members: Mapping[Target, FakeMember | Unreachable]) -> None:
        self.members = members

    def connect(self, target: Target) -> FakeMember:
        member = self.members[target]
        if isinstance(member, Unreachable):
            raise member
        return member


def scan(
    target: Target, connector: FakeConnector, checks: list[Any] | None = None, concurrency: int = 4
) -> TargetResult:
    member = connector.members[target]
    sm = member.sm if isinstance(member, FakeMember) else FakeSageMaker()
    return scan_target(
        target,
        connector,
        checks if checks is not None else CHECKS,
        options=OPTIONS,
        source="scheduled",
        now=NOW,
        concurrency=concurrency,
        home_clients=lambda service: None,
        prepare=lambda ctx: ctx.preset(lineage_check.READER_KEY, sm),
    )


HOME = Target(ACCOUNT, REGION)


def test_every_endpoint_gets_every_check_and_a_row_shaped_like_mlgov_audit() -> None:
    result = scan(HOME, FakeConnector({HOME: FakeMember(estate())}))
    assert result.status == OK
    rows = {r["endpoint_name"]: r for r in result.endpoints}
    assert {n: r["verdict"] for n, r in rows.items()} == {
        "fresh": "COMPLIANT",
        "stale": "COMPLIANT",
        "undated": "COMPLIANT",
        "pending": "UNAPPROVED",
        "hotfix": "UNREGISTERED",
    }
    assert {"endpoint_name", "endpoint_arn", "account_id", "region", "verdict", "reasons", "variants"} <= set(
        rows["fresh"]
    )
    assert rows["fresh"]["snapshot"]["status"] == "OK" and rows["fresh"]["snapshot"]["age_days"] == 29
    assert rows["stale"]["snapshot"] | {} == {
        "status": "STALE",
        "catalog_snapshot_date": "2026-05-02",
        "age_days": 212,
        "model_package_arn": package_arn(2),
        "max_age_days": 60,
    }
    assert rows["undated"]["snapshot"]["status"] == "MISSING"
    assert rows["hotfix"]["snapshot"]["status"] == "N/A"
    kinds = sorted((f.kind, f.resource_arn.rsplit("/", 1)[1]) for f in result.findings)
    assert kinds == [
        ("CATALOG_SNAPSHOT_STALE", "stale"),
        ("CATALOG_SNAPSHOT_STALE", "undated"),
        ("UNREGISTERED_ENDPOINT", "hotfix"),
        ("UNREGISTERED_ENDPOINT", "pending"),
    ]


def test_a_stale_snapshot_finding_says_what_to_run_next_and_keeps_its_id_as_it_ages() -> None:
    result = scan(HOME, FakeConnector({HOME: FakeMember(estate())}))
    [stale] = [f for f in result.findings if f.kind == "CATALOG_SNAPSHOT_STALE" and "212-day" in f.title]
    assert "limit 60 days" in stale.title and "mlgov coverage --catalog-table" in stale.detail
    later = scan_target(
        HOME,
        FakeConnector({HOME: FakeMember(estate())}),
        CHECKS,
        options=OPTIONS,
        source="scheduled",
        now=NOW.replace(day=7, month=12),
        concurrency=2,
        home_clients=lambda s: None,
        prepare=lambda ctx: ctx.preset(lineage_check.READER_KEY, estate()),
    )
    [again] = [f for f in later.findings if f.kind == "CATALOG_SNAPSHOT_STALE" and "219-day" in f.title]
    # A week older is the same problem: same id, same fingerprint (nothing republished, no Jira comment).
    assert (again.finding_id, again.fingerprint()) == (stale.finding_id, stale.fingerprint())


def test_the_snapshot_limit_comes_from_the_thresholds() -> None:
    sm = estate()
    ctx = CheckContext(
        ACCOUNT,
        REGION,
        clients=lambda s: None,
        home_clients=lambda s: None,
        options={"thresholds": {"snapshot_max_age_days": 365}},
        source="cli",
        now=NOW,
    )
    ctx.preset(lineage_check.READER_KEY, sm)
    assert snapshot_age.check_endpoint(ctx, "stale").row["snapshot"]["status"] == "OK"


def test_exempt_endpoints_have_no_snapshot_verdict() -> None:
    sm = estate()
    sm.endpoint("experiment-old", [{"VariantName": "AllTraffic", "ModelName": "m2"}])
    options = {**OPTIONS, "experiment_exemptions": {"account_ids": [ACCOUNT]}}
    ctx = CheckContext(
        ACCOUNT, REGION, clients=lambda s: None, home_clients=lambda s: None, options=options, source="cli", now=NOW
    )
    ctx.preset(lineage_check.READER_KEY, sm)
    result = snapshot_age.check_endpoint(ctx, "experiment-old")
    assert result.findings == [] and result.row["snapshot"]["status"] == "N/A"


def test_an_account_that_cannot_be_reached_is_an_error_row_not_an_exception() -> None:
    denied = Target("333333333333", REGION)
    disabled = Target(ACCOUNT, "ap-east-1")
    connector = FakeConnector(
        {
            denied: Unreachable(
                "Cannot assume arn:aws:iam::333333333333:role/R (AccessDenied) ...", "ROLE_NOT_ASSUMABLE"
            ),
            disabled: FakeMember(estate(), Unreachable("ap-east-1 rejects the session ...", "REGION_DISABLED")),
        }
    )
    for target, code in ((denied, "ROLE_NOT_ASSUMABLE"), (disabled, "REGION_DISABLED")):
        result = scan(target, connector)
        assert (result.status, result.reason_code, result.endpoints) == (ERROR, code, [])
        assert result.reason


def stand_in(name: str, check_endpoint: Callable[[CheckContext, str], CheckResult]) -> Any:
    """A check module with no finding kinds and no member actions whose check is `check_endpoint`."""
    return SimpleNamespace(NAME=name, KINDS=(), MEMBER_ACTIONS=frozenset(), check_endpoint=check_endpoint)


def test_an_endpoint_deleted_during_the_scan_gets_no_row() -> None:
    def gone(ctx: CheckContext, name: str) -> CheckResult:
        if name == "hotfix":
            raise EndpointGone(name)
        return CheckResult()

    result = scan(HOME, FakeConnector({HOME: FakeMember(estate())}), checks=[lineage_check, stand_in("gone", gone)])
    assert "hotfix" not in {r["endpoint_name"] for r in result.endpoints} and len(result.endpoints) == 4


def test_a_failing_check_is_recorded_and_never_makes_an_endpoint_compliant() -> None:
    def broken(ctx: CheckContext, name: str) -> CheckResult:
        raise RuntimeError("boom")

    result = scan(HOME, FakeConnector({HOME: FakeMember(estate())}), checks=[stand_in("broken", broken)])
    assert all(r["verdict"] == "ERROR" for r in result.endpoints)
    assert all(r["check_errors"] == {"broken": "RuntimeError: boom"} for r in result.endpoints)
    assert all(r["inconclusive_checks"] == ["broken"] for r in result.endpoints)


class SlowPackages(FakeSageMaker):
    """Describing a package takes a while, so concurrent endpoints ask for it at the same time."""

    def describe_model_package(self, name_or_arn: str) -> Mapping[str, Any]:
        time.sleep(0.02)
        return super().describe_model_package(name_or_arn)


def test_endpoints_checked_concurrently_describe_each_package_once() -> None:
    sm = SlowPackages()
    sm.package(1, "Approved")
    sm.packages[package_arn(1)]["CustomerMetadataProperties"] = {"catalog_snapshot_date": "2026-11-01"}
    sm.model("m1", {"ModelPackageName": package_arn(1)})
    for i in range(24):
        sm.endpoint(f"ep-{i}", [{"VariantName": "AllTraffic", "ModelName": "m1"}])
    result = scan(HOME, FakeConnector({HOME: FakeMember(sm)}), concurrency=8)
    assert len(result.endpoints) == 24 and all(r["verdict"] == "COMPLIANT" for r in result.endpoints)
    assert [c for c in sm.calls if c[0] == "package"] == [("package", package_arn(1))]


def test_shared_values_are_built_once_under_concurrency() -> None:
    ctx = CheckContext(
        ACCOUNT, REGION, clients=lambda s: None, home_clients=lambda s: None, options={}, source="cli", now=NOW
    )
    built: list[int] = []
    barrier = threading.Barrier(6)

    def build() -> int:
        built.append(1)
        time.sleep(0.02)
        return len(built)

    def ask() -> int:
        barrier.wait()
        return ctx.shared("k", build)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert built == [1] and ctx.shared("k", build) == 1


# -- aggregation and the report


class Ledger(FindingBook):
    """The findings store in memory with the aggregate's calls: PublishBatch of at most 10 (an id in `refuse` is
    refused by SNS), the published mark of a roll-up, and what was stored but never published."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.refuse: set[str] = set()

    @property
    def sent(self) -> list[Finding]:
        return self.published

    def record(self, finding: Finding) -> bool:
        fresh = super().record(finding)
        item = self.items.get(finding.finding_id)
        if item is not None and item["fingerprint"] == finding.fingerprint():
            item.update(stored=finding, published=item.get("published"))
        return fresh

    def publish(self, finding: Finding) -> None:
        super().publish(finding)
        self.mark_published([finding])

    def publish_batch(self, findings: Sequence[Finding]) -> list[Finding]:
        assert len(findings) <= 10
        self.batches.append(len(findings))
        went = [f for f in findings if f.finding_id not in self.refuse]
        self.published += went
        self.mark_published(went)
        return went

    def mark_published(self, findings: Sequence[Finding], rolled_up_in: str | None = None) -> None:
        for finding in findings:
            self.items[finding.finding_id]["published"] = finding.fingerprint()
            self.items[finding.finding_id]["rolled_up_in"] = rolled_up_in

    def claim(self, findings: Sequence[Finding], run_id: str) -> list[Finding]:
        return list(findings)  # no concurrent run here (tests/integration/test_org_scan_races.py has them)

    def open_findings(self, kinds: Iterable[str]) -> list[dict[str, Any]]:
        # The table's attribute names for how each was told.
        return [{**i, "published_fingerprint": i.get("published")} for i in super().open_findings(kinds)]

    def unpublished(self, kinds: Iterable[str], detected_before: str) -> list[Finding]:
        wanted = set(kinds)
        return [
            i["stored"]
            for i in self.items.values()
            if i["kind"] in wanted and i.get("published") != i["stored"].fingerprint()
        ]


RUN = Run("scan-1", "2026-11-30T06:00:00Z", "scheduled", "MlGovMemberAudit", (REGION,))
DENIED = Target("333333333333", REGION)


def weekly(sm: FakeSageMaker, denied: bool = True) -> list[TargetResult]:
    members: dict[Target, FakeMember | Unreachable] = {HOME: FakeMember(sm)}
    if denied:
        members[DENIED] = Unreachable("Cannot assume the member role (AccessDenied).", "ROLE_NOT_ASSUMABLE")
    else:
        members[DENIED] = FakeMember(FakeSageMaker())
    connector = FakeConnector(members)
    return [scan(t, connector) for t in (HOME, DENIED)]


def test_aggregation_publishes_each_finding_once_and_one_unreachable_finding_per_account_region() -> None:
    ledger = Ledger()
    first = aggregate(RUN, weekly(estate()), ledger, CHECK_KINDS, previous=None)
    kinds = sorted(f.kind for f in first.published)
    assert kinds == ["CATALOG_SNAPSHOT_STALE"] * 2 + [KIND_UNREACHABLE] + ["UNREGISTERED_ENDPOINT"] * 2
    assert first.report["status"] == "PARTIAL" and first.report["status_line"] == "1 of 2 account/regions reached"
    [row] = first.report["unreachable"]
    assert (row["account_id"], row["status"], row["reason_code"]) == (DENIED.account_id, "ERROR", "ROLE_NOT_ASSUMABLE")
    # The same week again publishes nothing new.
    again = aggregate(RUN, weekly(estate()), ledger, CHECK_KINDS, previous=first.report)
    assert again.published == [] and again.report["change"]["new"] == []


def test_findings_of_deleted_endpoints_and_reached_accounts_are_resolved_once() -> None:
    ledger = Ledger()
    first = aggregate(RUN, weekly(estate()), ledger, CHECK_KINDS, previous=None)
    sm = estate()
    del sm.endpoints["hotfix"]  # deleted since last week
    second = aggregate(RUN, weekly(sm, denied=False), ledger, CHECK_KINDS, previous=first.report)
    resolved = sorted(
        (f.kind, f.resource_arn.rsplit("/", 1)[-1]) for f in second.published if f.status == STATUS_RESOLVED
    )
    assert resolved == [(KIND_UNREACHABLE, "MlGovMemberAudit"), ("UNREGISTERED_ENDPOINT", "hotfix")]
    assert {f["finding_id"] for f in second.report["change"]["resolved"]} == {
        f.finding_id for f in second.published if f.status == STATUS_RESOLVED
    }
    third = aggregate(RUN, weekly(sm, denied=False), ledger, CHECK_KINDS, previous=second.report)
    assert third.published == []


def test_nothing_is_resolved_where_the_scan_could_not_look() -> None:
    hidden = Finding(
        "UNREGISTERED_ENDPOINT",
        "HIGH",
        DENIED.account_id,
        REGION,
        f"arn:aws:sagemaker:{REGION}:{DENIED.account_id}:endpoint/x",
        "t",
        "d",
        "scheduled",
    )
    unreadable = Finding(
        "UNREGISTERED_ENDPOINT",
        "HIGH",
        ACCOUNT,
        REGION,
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/orphaned",
        "t",
        "d",
        "scheduled",
    )
    records = [OpenRecord.of(f.to_dict()) for f in (hidden, unreadable)]
    results = weekly(estate())
    orphaned = {
        "endpoint_name": "orphaned",
        "endpoint_arn": unreadable.resource_arn,
        "verdict": "ERROR",
        "inconclusive_checks": ["lineage"],
    }
    results[0].endpoints.append(orphaned)
    assert resolutions(records, results, CHECK_KINDS, set(), "scheduled") == []


def test_change_since_last_week_ignores_accounts_it_could_not_reach() -> None:
    before = {
        "run": {"run_id": "scan-0"},
        "findings": [
            {"finding_id": "a", "account_id": ACCOUNT, "region": REGION},
            {"finding_id": "b", "account_id": DENIED.account_id, "region": REGION},
        ],
    }
    results = weekly(estate())
    change = change_since(before, [], results)
    assert change["previous_run_id"] == "scan-0" and [f["finding_id"] for f in change["resolved"]] == ["a"]


def test_a_worker_that_failed_or_never_ran_leaves_an_error_row() -> None:
    done = TargetResult(ACCOUNT, REGION, OK)
    failed, never = Target("222222222222", REGION), Target("444444444444", REGION)
    rows = complete_results([HOME, failed, never], {HOME: done}, {failed: "The scan worker failed (Lambda.Timeout)."})
    assert [(r.status, r.reason_code) for r in rows] == [(OK, ""), (ERROR, "WORKER_FAILED"), (ERROR, "NO_RESULT")]


def test_report_totals_by_verdict_and_account_and_markdown_for_people() -> None:
    report = build_report(RUN, weekly(estate()), [f for r in weekly(estate()) for f in r.findings])
    assert report["totals_by_verdict"] == {"COMPLIANT": 3, "UNAPPROVED": 1, "UNREGISTERED": 1}
    assert report["totals_by_account"] == {ACCOUNT: {"COMPLIANT": 3, "UNAPPROVED": 1, "UNREGISTERED": 1}}
    assert report["summary"]["violations"] == 2 and report["summary"]["account_regions_unreachable"] == 1
    assert {r["endpoint_name"]: r["status"] for r in report["snapshot_ages"]}["stale"] == "STALE"
    assert has_problems(report)
    text = to_markdown(report)
    for heading in ("## Totals by account", "## Violations (2)", "## Unreachable (1)", "## Catalog snapshot age"):
        assert heading in text
    assert "| 111122223333 | eu-west-1 | stale | STALE | 2026-05-02 | 212 |" in text


def test_a_clean_estate_has_no_problems() -> None:
    sm = FakeSageMaker()
    sm.package(1, "Approved")
    sm.packages[package_arn(1)]["CustomerMetadataProperties"] = {"catalog_snapshot_date": "2026-11-01"}
    sm.model("m1", {"ModelPackageName": package_arn(1)})
    sm.endpoint("prod", [{"VariantName": "AllTraffic", "ModelName": "m1"}])
    results = [scan(HOME, FakeConnector({HOME: FakeMember(sm)}))]
    report = build_report(RUN, results, [])
    assert report["status"] == "COMPLETE" and not has_problems(report)


@pytest.mark.parametrize("bad", ["2026-13-01", "last spring", ""])
def test_an_unparseable_snapshot_date_counts_as_missing(bad: str) -> None:
    sm = estate()
    sm.packages[package_arn(1)]["CustomerMetadataProperties"] = {"catalog_snapshot_date": bad}
    ctx = CheckContext(
        ACCOUNT, REGION, clients=lambda s: None, home_clients=lambda s: None, options=OPTIONS, source="cli", now=NOW
    )
    ctx.preset(lineage_check.READER_KEY, sm)
    assert snapshot_age.check_endpoint(ctx, "fresh").row["snapshot"]["status"] == "MISSING"


# -- settings and routing


def test_one_slack_summary_per_run_and_jira_only_for_problems_by_default() -> None:
    from mlgov.settings import Settings, routing_policy

    policy = routing_policy(Settings())
    summary = {"kind": "SCAN_SUMMARY", "severity": "INFO", "status": "OPEN"}
    violation = {"kind": "UNREGISTERED_ENDPOINT", "severity": "HIGH", "status": "OPEN"}
    assert [(d.channel, d.target) for d in policy.deliveries(summary)] == [("slack", "#ml-governance-security")]
    assert {d.channel for d in policy.deliveries(violation)} == {"slack", "jira"}


def test_the_earlier_snapshot_age_key_still_sets_the_limit_and_a_conflict_is_named() -> None:
    from mlgov.settings import SettingsError, parse_settings

    assert parse_settings({"thresholds": {"snapshot_age_review_days": 90}}).thresholds.snapshot_max_age_days == 90
    assert parse_settings({"thresholds": {"snapshot_max_age_days": 45}}).thresholds.snapshot_max_age_days == 45
    with pytest.raises(SettingsError, match=r"mlgov\.thresholds.*snapshot_max_age_days"):
        parse_settings({"thresholds": {"snapshot_age_review_days": 90, "snapshot_max_age_days": 45}})


@pytest.mark.parametrize(
    ("org_scan", "key"),
    [
        ({"regions": ["eu-west"]}, "regions"),
        ({"account_ids": ["12345"]}, "account_ids"),
        ({"organizational_unit_ids": ["ou-x"]}, "organizational_unit_ids"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"tolerated_failure_percentage": 101}, "tolerated_failure_percentage"),
        ({"endpoint_concurrency": 65}, "endpoint_concurrency"),
        ({"max_notifications_per_kind": 0}, "max_notifications_per_kind"),
        ({"member_role_target_ou_ids": ["not-an-ou"]}, "member_role_target_ou_ids"),
    ],
)
def test_a_bad_org_scan_setting_is_refused_by_name(org_scan: dict[str, Any], key: str) -> None:
    from mlgov.settings import SettingsError, parse_settings

    with pytest.raises(SettingsError, match=rf"mlgov\.org_scan\.{key}"):
        parse_settings({"org_scan": org_scan})


def test_the_scan_scope_defaults_to_the_stacks_region() -> None:
    from mlgov.settings import parse_settings

    settings = parse_settings({"org_scan": {"account_tags": {"env": "prod"}}})
    scope = Scope.from_dict(settings.org_scan.scope("eu-west-1"))
    assert scope.regions == ("eu-west-1",) and scope.account_tags == {"env": "prod"}


# -- endpoints outside org_scan.regions (sixteenth review, hole 6)


class FakeEc2:
    def __init__(self, regions: list[str] | None) -> None:
        self.regions = regions

    def describe_regions(self) -> dict[str, Any]:
        if self.regions is None:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DescribeRegions")
        return {"Regions": [{"RegionName": r} for r in self.regions]}


def test_the_sweep_lists_endpoints_in_every_other_enabled_region_and_names_what_it_could_not_read() -> None:
    from mlgov_runtime.org_scan import regions

    endpoints = {"eu-west-1": ["b", "a"], "ap-south-1": []}

    def names_in(region: str) -> list[str]:
        if region == "me-south-1":
            raise Unreachable("opt-in region", "REGION_DISABLED")
        return endpoints.get(region, [])

    ec2 = FakeEc2(["us-east-1", "eu-west-1", "ap-south-1", "me-south-1"])
    found, why = regions.sweep(ec2, ["us-east-1"], names_in)
    assert found == {"eu-west-1": ["a", "b"]}
    assert why == "endpoints could not be listed in me-south-1 (REGION_DISABLED)"
    found, why = regions.sweep(FakeEc2(None), ["us-east-1"], names_in)
    assert found == {} and "UnauthorizedOperation" in why and "MlGovMemberRoleStackSet" in why


def _outside_record(account: str, region: str) -> OpenRecord:
    from mlgov_runtime.org_scan import regions

    finding = regions.finding(account, region, ["a"], ["us-east-1"], "scheduled")
    return OpenRecord.of({**finding.to_dict(), "status": "OPEN"})


@pytest.mark.parametrize(
    "swept,outside,reason,closed",
    [
        (True, {}, "", True),  # looked everywhere, nothing there any more
        (True, {"eu-west-1": ["a"]}, "", False),  # still there
        (True, {}, "endpoints could not be listed in eu-west-1 (THROTTLED)", False),  # could not look
        (False, {}, "", False),  # the account's first region was not this target
    ],
)
def test_an_outside_region_finding_is_resolved_only_where_every_region_was_looked_at(
    swept: bool, outside: dict[str, list[str]], reason: str, closed: bool
) -> None:
    result = TargetResult(ACCOUNT, "us-east-1", "OK", swept=swept, outside=outside, outside_reason=reason)
    record = _outside_record(ACCOUNT, "eu-west-1")
    closing = resolutions([record], [result], CHECK_KINDS, set(), "scheduled")
    assert bool(closing) is closed


@pytest.mark.parametrize(
    "swept,reason,named",
    [
        (True, "", False),  # the sweep looked at every region: resolved or still reported, not "not looked at"
        (True, "endpoints could not be listed in me-south-1 (THROTTLED)", True),
        (False, "", True),
    ],
)
def test_an_outside_region_finding_is_named_as_not_looked_at_exactly_when_the_sweep_could_not_tell(
    swept: bool, reason: str, named: bool
) -> None:
    result = TargetResult(ACCOUNT, REGION, "OK", swept=swept, outside_reason=reason)
    groups = not_looked_at([_outside_record(ACCOUNT, "me-south-1")], [result], RUN)
    assert bool(groups) is named


def test_an_account_the_plan_skipped_is_named_with_the_plans_reason() -> None:
    import dataclasses

    run = dataclasses.replace(RUN, skipped={"444455556666": "not an ACTIVE account of the organization"})
    arn = f"arn:aws:sagemaker:{REGION}:444455556666:endpoint/x"
    record = OpenRecord("f1", "UNREGISTERED_ENDPOINT", "444455556666", REGION, arn)
    [group] = not_looked_at([record], [TargetResult(ACCOUNT, REGION, "OK")], run)
    assert group["why"] == "NOT_IN_SCOPE" and group["count"] == 1 and group["kinds"] == {"UNREGISTERED_ENDPOINT": 1}
    assert group["reason"] == "account 444455556666: not an ACTIVE account of the organization"


def test_the_sweep_resolves_only_endpoint_findings_of_its_account_in_a_region_it_listed_in_full() -> None:
    # Given a sweep (from eu-west-1) that listed me-south-1 in full and found no endpoint there
    result = TargetResult(ACCOUNT, REGION, "OK", swept=True, listed=["me-south-1"])
    kind = "UNREGISTERED_ENDPOINT"

    def record(fid: str, region: str, arn_region: str, resource: str = "endpoint/gone") -> OpenRecord:
        return OpenRecord(fid, kind, ACCOUNT, region, f"arn:aws:sagemaker:{arn_region}:{ACCOUNT}:{resource}")

    records = [
        record("gone", "me-south-1", "me-south-1"),
        record("other-region-arn", "me-south-1", "ap-south-1"),
        record("not-an-endpoint", "me-south-1", "me-south-1", "model-package/x"),
        record("region-not-listed", "ap-south-1", "ap-south-1"),
    ]
    closing = resolutions(records, [result], CHECK_KINDS, set(), "scheduled")
    # Then only the endpoint finding of that account and region is resolved
    assert [f.resource_arn for f in closing] == [records[0].resource_arn]
    assert closing[0].evidence["why"] == "the endpoint no longer exists"
    # And with the endpoint still listed there, nothing is
    result.outside = {"me-south-1": ["GONE"]}
    assert resolutions(records, [result], CHECK_KINDS, set(), "scheduled") == []
