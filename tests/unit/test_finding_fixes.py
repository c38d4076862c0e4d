"""Issue 23, "every finding names its fix", and issue 27 item 1: one meta-test over the registry. Each finding
kind is built by its capability's own builder from a realistic case, and its detail must carry a runnable
command with the case's real values (no <placeholder>, no "...") or a console deep link to the resource.
A kind added to the registry without a case here fails the registry test below."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

import pytest

from mlgov.cli import build_parser
from mlgov_runtime.core.findings import Finding
from mlgov_runtime.registry import CAPABILITIES

ACCOUNT, REGION = "123456789012", "us-east-1"
GROUP = "manga-recommender"
GROUP_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/{GROUP}"
PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/8"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:mlgov-retraining"
EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:mlgov-retraining:coverage-2026-11-30"
CHALLENGE = {
    "model_package_arn": PACKAGE,
    "endpoint_name": "manga-recommender-prod",
    "group": GROUP,
    "version": 8,
}


def _unregistered() -> Finding:
    from mlgov_runtime.lineage_audit.findings import finding_from_audit
    from mlgov_runtime.lineage_audit.logic import ContainerResult, EndpointAudit, VariantResult, Verdict

    rejected = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/4"
    container = ContainerResult(rejected, "Rejected", Verdict.UNAPPROVED, "package v4 is Rejected")
    variant = VariantResult("AllTraffic", "production", "manga-rec-v4", [container], Verdict.UNAPPROVED)
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/manga-recommender-v0"
    audit = EndpointAudit(
        "manga-recommender-v0", arn, ACCOUNT, REGION, Verdict.UNAPPROVED, ["v4 is Rejected"], [variant]
    )
    finding = finding_from_audit(audit, "scheduled")
    assert finding is not None
    return finding


def _cold_start() -> Finding:
    from datetime import UTC, datetime

    from mlgov_runtime.capacity.check import finding_for
    from mlgov_runtime.capacity.logic import (
        KIND_COLD_START,
        AutoscalingIndex,
        CapacityAudit,
        CapacityPolicy,
        CapacityRules,
    )

    audit = CapacityAudit("manga-recommender-sls", None, ACCOUNT, REGION, config_name="manga-recommender-sls-config")
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "manga-rec-v2",
        "ServerlessConfig": {"MemorySizeInMB": 4096, "MaxConcurrency": 10},
    }
    CapacityRules(CapacityPolicy(), datetime(2026, 11, 30, 9, tzinfo=UTC)).variant(
        audit, variant, {}, AutoscalingIndex()
    )
    return finding_for(audit, KIND_COLD_START, "scheduled")


def _coverage(alert_only: bool) -> Callable[[], Finding]:
    def build() -> Finding:
        from mlgov_runtime.coverage.check import coverage_finding
        from mlgov_runtime.coverage.logic import CoverageReport, CoverageThresholds

        gap = 9.5 if alert_only else 22.22
        report = CoverageReport(
            catalog_titles=1800,
            snapshot_titles=1629 if alert_only else 1400,
            gap_titles=171 if alert_only else 400,
            coverage_gap_pct=gap,
            action="alert" if alert_only else "retrain_and_page",
            gap_title_sample=["MNG-01790"],
        )
        uri = "s3://manga-training/catalog-snapshots/2026-05-02/training.jsonl"
        return coverage_finding(report, ACCOUNT, REGION, GROUP_ARN, uri, CoverageThresholds(5.0, 15.0), MACHINE)

    return build


def _retraining_failed() -> Finding:
    from mlgov_runtime.retraining.logic import failure_finding

    state = {
        "failed_stage": "train",
        "execution": EXECUTION,
        "error": {"Error": "SageMaker.ResourceLimitExceeded", "Cause": "ml.g5.2xlarge quota is 0"},
    }
    return failure_finding(state, ACCOUNT, REGION, GROUP_ARN)


def _review_incomplete() -> Finding:
    from mlgov_runtime.challenger.findings import review_incomplete_finding

    return review_incomplete_finding(CHALLENGE, "MangaAssist/Recommendations/UserRetention7d", 7, ACCOUNT, REGION)


def _audit_error(missing: bool = False) -> Finding:
    from mlgov_runtime.lineage_audit.findings import finding_from_audit
    from mlgov_runtime.lineage_audit.logic import EndpointAudit, Verdict

    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/manga-recommender-prod"
    reasons = [
        "Model manga-recommender-v7 was deleted." if missing else "AccessDenied on sagemaker:DescribeModelPackage."
    ]
    audit = EndpointAudit("manga-recommender-prod", arn, ACCOUNT, REGION, Verdict.ERROR, reasons)
    audit.evidence_missing = missing
    finding = finding_from_audit(audit, "scheduled")
    assert finding is not None
    return finding


def _coverage_failed() -> Finding:
    from mlgov_runtime.coverage.check import check_failed_finding

    reason = "no Approved package in manga-recommender and no snapshot_fallback_uri"
    return check_failed_finding(reason, ACCOUNT, REGION, GROUP_ARN, "manga-catalog")


PROD_CH = {
    **CHALLENGE,
    "challenger_variant": "challenger-v8",
    "traffic_fraction": 0.1,
    "approval_status": "PendingManualApproval",
    "previous_config": "manga-recommender-prod-config-7",
}
VARIANTS = {
    "production": {"impressions": 90000, "clicks": 2700, "ctr": 0.03},
    "challenger": {"impressions": 10000, "clicks": 250, "ctr": 0.025},
}


def _challenger(kind: str) -> Callable[[], Finding]:
    def build() -> Finding:
        from mlgov_runtime.challenger import findings as f

        stats = {
            "ctr_ratio": {"estimate": 0.83, "lower": 0.75, "upper": 0.92, "confidence": 0.99},
            "ctr_test": {"alpha": 0.01, "rejects": True, "ratio": 0.83, "ratio_lower": 0.75, "ratio_upper": 0.92},
            "srm": {"observed_share": 0.2, "expected_share": 0.1, "unit": "impressions"},
        }
        result = {
            "variants": VARIANTS,
            "statistics": stats,
            "reasons": ["CTR fell 17%."],
            "decision": "REJECT",
            "elapsed_minutes": 120.0,
            "guardrails": [],
        }
        if kind == f.REJECTED:
            return f.rejected_finding(PROD_CH, result, "Rejected by the challenger gate", ACCOUNT, REGION)
        if kind == f.INVALID:
            return f.invalid_finding(PROD_CH, result, ACCOUNT, REGION)
        if kind == f.DATA_MISSING:
            problem = {"variant": "challenger", "metric": "clicks", "minutes_without_data": 12}
            reasons = ["Data problem: the recommender's clicks metric has no datapoint."]
            paused = {**result, "decision": "PAUSED", "reasons": reasons}
            return f.data_missing_finding(
                PROD_CH, {**paused, "statistics": {**stats, "data_problem": problem}}, ACCOUNT, REGION
            )
        if kind == f.APPROVAL_REQUESTED:
            return f.approval_requested_finding(
                PROD_CH, result, "rq-0123456789abcdef0123", "2026-11-29T12:00:00Z", ACCOUNT, REGION
            )
        if kind == f.REAPPROVED_WITHOUT_COMMENT:
            package = {
                "ModelPackageArn": PROD_CH["model_package_arn"],
                "ModelApprovalStatus": "Approved",
                "ApprovalDescription": "Rejected by the mlgov challenger gate after 12 min.",
            }
            from mlgov_runtime.challenger.reapproval import unexplained_reapproval

            why = unexplained_reapproval(package)
            assert why
            return f.reapproved_without_comment_finding(package, why, ACCOUNT, REGION)
        if kind == f.NOT_APPROVED:
            why = "denied by arn:aws:iam::123456789012:role/Approver via cli: not yet"
            return f.not_approved_finding(PROD_CH, why, "PendingManualApproval", ACCOUNT, REGION)
        if kind == f.INSUFFICIENT:
            needed = {"additional_impressions": 40000, "additional_minutes": 300.0, "verdict": "reject"}
            return f.insufficient_finding(
                PROD_CH, {**result, "statistics": {**stats, "needed": needed}}, ACCOUNT, REGION
            )
        if kind == f.START_REFUSED:
            return f.refused_finding(PROD_CH, "The package has no catalog_snapshot_date.", ACCOUNT, REGION)
        if kind == f.FAILED:
            return f.failed_finding(
                PROD_CH, "Deploy", "ResourceLimitExceeded", "Production serves 100%.", ACCOUNT, REGION
            )
        assert kind == f.RETENTION_REGRESSION
        return f.retention_finding(PROD_CH, 0.41, 0.37, -0.0976, 0.05, 7, ACCOUNT, REGION)

    return build


def _capacity(kind: str, reason: str, production: bool = True) -> Callable[[], Finding]:
    def build() -> Finding:
        from mlgov_runtime.capacity.check import finding_for
        from mlgov_runtime.capacity.logic import CapacityAudit

        name = "manga-recommender-prod" if production else "manga-recommender-staging"
        audit = CapacityAudit(name, None, ACCOUNT, REGION, production=production, config_name=f"{name}-config")
        audit.problem(kind, reason)
        return finding_for(audit, kind, "scheduled")

    return build


def _campaign_overdue() -> Finding:
    from datetime import UTC, datetime

    from mlgov_runtime.capacity.campaign_record import RaisedRecord
    from mlgov_runtime.capacity.check import finding_for, note_overdue_campaigns
    from mlgov_runtime.capacity.logic import KIND_CAMPAIGN_OVERDUE, CapacityAudit, ScheduledAction, TargetCapacity

    name = "manga-recommender-prod"
    tags = {
        "mlgov:campaign:manga-monday:end": "2026-12-07T13:00:00+00:00",
        "mlgov:campaign:manga-monday:0": RaisedRecord("AllTraffic", "mlgov-min1-0000-daily", 1, None, 6, 6).encode(),
    }
    audit = CapacityAudit(name, None, ACCOUNT, REGION, config_name=f"{name}-config")
    # The campaign's own one-time actions: where the check takes its end and minimum from
    one_time = [
        ScheduledAction("mlgov-campaign-manga-monday-out", "at(2026-12-07T07:30:00)", None, 6, None),
        ScheduledAction("mlgov-campaign-manga-monday-in", "at(2026-12-07T13:00:00)", None, 1, None),
    ]
    audit.capacities.append(TargetCapacity("AllTraffic", "instance", schedule=one_time))
    note_overdue_campaigns(audit, tags, datetime(2026, 12, 8, 0, 0, tzinfo=UTC))
    return finding_for(audit, KIND_CAMPAIGN_OVERDUE, "scheduled")


def _check(verdict: str, kind: str) -> Callable[[], Finding]:
    """The retirement check's own findings for an endpoint with this verdict; the one of `kind` it opens."""

    def build() -> Finding:
        from mlgov_runtime.retirement.findings import check_findings
        from mlgov_runtime.retirement.logic import RetirementCheck, Verdict

        arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/manga-recommender-v1"
        check = RetirementCheck(
            "manga-recommender-v1",
            arn,
            ACCOUNT,
            REGION,
            Verdict[verdict],
            1200 if verdict == "STALE_ENDPOINT_ACTIVE" else 0,
            24,
            reasons=["It serves manga-recommender v1; v8 is current."],
            purpose="bogus" if kind == "ENDPOINT_PURPOSE_TAG_INVALID" else "active",
        )
        if kind == "ENDPOINT_PURPOSE_TAG_INVALID":
            check.purpose_problem = "has purpose 'bogus', not one of active, testing, retiring, retired"
        return next(x for x in check_findings(check, "scheduled") if x.kind == kind and x.status == "OPEN")

    return build


def _retiring() -> Any:
    from datetime import UTC, datetime

    from mlgov_runtime.retirement.findings import Retiring

    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/manga-recommender-v1"
    return Retiring.start(
        "manga-recommender-v1", arn, ACCOUNT, REGION, datetime(2026, 11, 1, tzinfo=UTC), 30, "ml-team", 412.0
    )


def _retirement(kind: str) -> Callable[[], Finding]:
    def build() -> Finding:
        from datetime import UTC, datetime

        from mlgov_runtime.retirement import findings as f

        r = _retiring()
        if kind == f.KIND_RETIRING:
            return f.retiring_finding(r, "scheduled")
        if kind == f.KIND_TAG_CHANGED:
            return f.tag_changed_finding(
                r, "arn:aws:iam::123456789012:role/dev", "active", "reverted", "e-1", "2026-11-10T09:00:00Z", "realtime"
            )
        if kind == f.KIND_SAFETY_ABORT:
            return f.safety_abort_finding(r, 37, 24, "alice", datetime(2026, 11, 20, tzinfo=UTC), "")
        assert kind == f.KIND_STILL_CALLED
        return f.still_called_finding(
            r, "manga-recommender-v1-config", "2026-11-20T10:00:00Z", {"Invocation4XXErrors": 12}, "scheduled"
        )

    return build


def _cutover(recording: bool) -> Callable[[], Finding]:
    """After a cut-over: still called (the successor recorded, the old one called), or no data to tell."""

    def build() -> Finding:
        from tests.unit.fakes import FindingBook
        from tests.unit.test_retirement_cutover import NEW, OLD, audit, estate, hours_ago

        sm, cw = estate()
        if recording:
            cw.variants[OLD] = {"AllTraffic": hours_ago(3, 2, 1)}
        else:
            cw.variants[NEW] = {}
        book = FindingBook()
        audit(sm, cw, book)
        kind = "ENDPOINT_STILL_CALLED_AFTER_CUTOVER" if recording else "ENDPOINT_QUIET_UNVERIFIED"
        return next(f for f in book.published if f.kind == kind)

    return build


def _scan(kind: str) -> Callable[[], Finding]:
    def build() -> Finding:
        from mlgov_runtime.org_scan import forwarding, report
        from mlgov_runtime.org_scan.logic import TargetResult

        if kind == report.KIND_OUTSIDE:
            from mlgov_runtime.org_scan import regions

            return regions.finding("210987654321", "eu-west-1", ["recs-eu-hotfix"], ["us-east-1"], "scheduled")
        if kind == report.KIND_UNREACHABLE:
            result = TargetResult(
                "210987654321", "eu-west-1", "ERROR", "AccessDenied assuming MlGovMemberAudit.", "ROLE_NOT_ASSUMABLE"
            )
            return report.unreachable_finding(result, "MlGovMemberAudit", "scheduled")
        if kind == report.KIND_FAILED:
            return report.failure_finding(
                "ListAccounts",
                "AccessDeniedException",
                "not the management account",
                "arn:aws:states:us-east-1:123456789012:execution:mlgov-org-scan:run-1",
                ACCOUNT,
                REGION,
            )
        if kind == report.KIND_SUMMARY:
            summary = {
                "account_regions_reached": 3,
                "account_regions": 4,
                "total": 12,
                "compliant": 9,
                "violations": 2,
                "errors": 1,
                "exempt": 0,
                "findings_open": 3,
            }
            data = {
                "summary": summary,
                "change": {"new": [1], "resolved": []},
                "unreachable": [{"account_id": "210987654321", "region": "eu-west-1"}],
            }
            run = report.Run(
                "2026-11-30T0900Z",
                "2026-11-30T09:00:00Z",
                "scheduled",
                "MlGovMemberAudit",
                ("us-east-1",),
                "arn:aws:states:us-east-1:123456789012:stateMachine:mlgov-org-scan",
            )
            uri = "s3://mlgov-reports-123456789012/org-scan/2026-11-30T0900Z/report.json"
            return report.summary_finding(data, run, uri, ACCOUNT, REGION)
        assert kind == forwarding.KIND
        return forwarding.finding(
            "210987654321",
            "eu-west-1",
            "MISSING",
            "Rule mlgov-forward is missing.",
            "scheduled",
            "MlGovMemberEventForwarding",
            forwarding.governance_bus(ACCOUNT, REGION),  # as the scan passes it
        )

    return build


def _no_aws(service: str) -> Any:
    raise AssertionError(f"writing the finding calls no AWS service ({service})")


def _snapshot_stale() -> Finding:
    from datetime import UTC, datetime

    from mlgov_runtime.core.checks import CheckContext
    from mlgov_runtime.lineage_audit.logic import EndpointAudit, Verdict
    from mlgov_runtime.org_scan import snapshot_age

    ctx = CheckContext(
        ACCOUNT,
        REGION,
        clients=_no_aws,
        home_clients=_no_aws,
        options={"catalog_table_name": "manga-catalog"},
        source="scheduled",
        now=datetime(2026, 11, 30, tzinfo=UTC),
    )
    audit = EndpointAudit("manga-recommender-prod", None, ACCOUNT, REGION, Verdict.COMPLIANT)
    packages = [
        {
            "model_package_arn": PACKAGE,
            "catalog_snapshot_date": "2026-05-02",
            "age_days": 212,
            "training_data_s3_uri": "s3://manga-training/catalog-snapshots/2026-05-02/training.jsonl",
        }
    ]
    return snapshot_age._finding(ctx, audit, "STALE", packages, 60)


def _registered_kinds(capability: str) -> tuple[str, ...]:
    return next(c.kinds for c in CAPABILITIES if c.name == capability)


CASES: dict[str, Callable[[], Finding]] = {
    "UNREGISTERED_ENDPOINT": _unregistered,
    "ENDPOINT_AUDIT_ERROR": _audit_error,
    "CATALOG_COVERAGE_GAP": _coverage(alert_only=True),
    "COVERAGE_CHECK_FAILED": _coverage_failed,
    "RETRAINING_FAILED": _retraining_failed,
    "CHALLENGER_REVIEW_INCOMPLETE": _review_incomplete,
    # _challenger builds each registered challenger kind; a kind it does not know fails its case.
    **{k: _challenger(k) for k in _registered_kinds("challenger") if k != "CHALLENGER_REVIEW_INCOMPLETE"},
    "SERVERLESS_COLD_START_RISK": _cold_start,
    "ENDPOINT_CAN_SCALE_TO_ZERO": _capacity("ENDPOINT_CAN_SCALE_TO_ZERO", "AllTraffic may scale to 0 instances."),
    "ENDPOINT_WITHOUT_AUTOSCALING": _capacity("ENDPOINT_WITHOUT_AUTOSCALING", "AllTraffic has no scalable target."),
    "ENDPOINT_SINGLE_INSTANCE": _capacity("ENDPOINT_SINGLE_INSTANCE", "AllTraffic runs 1 instance at 10:00."),
    "CAPACITY_CHECK_ERROR": _capacity("CAPACITY_CHECK_ERROR", "AccessDenied on DescribeScalableTargets."),
    "CAPACITY_CAMPAIGN_END_OVERDUE": _campaign_overdue,
    "STALE_ENDPOINT_ACTIVE": _check("STALE_ENDPOINT_ACTIVE", "STALE_ENDPOINT_ACTIVE"),
    "ENDPOINT_RETIREMENT_CANDIDATE": _check("RETIREMENT_CANDIDATE", "ENDPOINT_RETIREMENT_CANDIDATE"),
    "ENDPOINT_RETIREMENT_CHECK_FAILED": _check("ERROR", "ENDPOINT_RETIREMENT_CHECK_FAILED"),
    "ENDPOINT_PURPOSE_TAG_INVALID": _check("CURRENT", "ENDPOINT_PURPOSE_TAG_INVALID"),
    **{
        k: _retirement(k)
        for k in (
            "ENDPOINT_RETIRING",
            "RETIRING_TAG_CHANGED",
            "SAFETY_ABORT_ENDPOINT_DELETION",
            "RETIRED_ENDPOINT_STILL_CALLED",
        )
    },
    "ENDPOINT_STILL_CALLED_AFTER_CUTOVER": _cutover(recording=True),
    "ENDPOINT_QUIET_UNVERIFIED": _cutover(recording=False),
    **{k: _scan(k) for k in ("SCAN_ACCOUNT_UNREACHABLE", "SCAN_SUMMARY", "SCAN_FAILED", "EVENT_FORWARDING_MISSING")},
    "ENDPOINTS_OUTSIDE_SCANNED_REGIONS": _scan("ENDPOINTS_OUTSIDE_SCANNED_REGIONS"),
    "CATALOG_SNAPSHOT_STALE": _snapshot_stale,
}
# Kinds whose fix this test does not build a case for yet. Only shrinks: a new kind must come with a case.
NOT_YET: set[str] = set()
# Further samples of a kind where its severity differs (the findings reference lists every severity seen).
MORE: dict[str, list[Callable[[], Finding]]] = {
    "ENDPOINT_AUDIT_ERROR": [lambda: _audit_error(missing=True)],  # a model deleted under a live endpoint: HIGH
    "CATALOG_COVERAGE_GAP": [_coverage(alert_only=False)],
    **{
        kind: [_capacity(kind, "Outside production.", production=False)]
        for kind in (
            "ENDPOINT_CAN_SCALE_TO_ZERO",
            "ENDPOINT_WITHOUT_AUTOSCALING",
            "ENDPOINT_SINGLE_INSTANCE",
            "CAPACITY_CHECK_ERROR",
        )
    },
}


def samples(kind: str) -> list[Finding]:
    """The real findings built for a kind: its case first (docs/gen.py writes the reference from these)."""
    return [build() for build in (CASES[kind], *MORE.get(kind, []))]


COMMAND = re.compile(r"`((?:mlgov|aws|cdk|npx cdk) [^`]+)`")
DEEP_LINK = re.compile(r"https://[\w.-]*console\.aws\.amazon\.com/[^\s#]+#[^\s/]*/[^\s)]*[^\s).,;]")


def fixes(detail: str) -> list[str]:
    return COMMAND.findall(detail) + DEEP_LINK.findall(detail)


def runnable(command: str) -> bool:
    """Real values only; an mlgov command parses against the CLI, an aws one is a shell command line."""
    if re.search(r"<[^>]*>|\.\.\.|\bGROUP\b(?!=)", command):
        return False
    if command.startswith("https://"):
        return "console/home" not in command
    for part in command.split(" && "):
        words = shlex.split(part)
        if words[0] == "mlgov":
            try:
                build_parser().parse_args(words[1:])
            except SystemExit:
                return False
    return True


def test_every_registered_kind_has_a_case_or_is_listed_as_not_yet() -> None:
    kinds = {k for c in CAPABILITIES for k in c.kinds}
    assert set(CASES) | NOT_YET == kinds, sorted(kinds ^ (set(CASES) | NOT_YET))
    assert not set(CASES) & NOT_YET


@pytest.mark.parametrize("kind", sorted(CASES))
def test_the_finding_detail_names_a_runnable_fix_with_real_values(kind: str) -> None:
    finding = CASES[kind]()
    assert finding.kind == kind
    named = fixes(finding.detail)
    assert named, f"{kind}: no command or deep link in {finding.detail!r}"
    assert all(runnable(c) for c in named), f"{kind}: {named}"


def test_every_registered_kind_declares_when_it_fires() -> None:
    from mlgov.finding_kinds import kind_descriptions

    kinds = {k for c in CAPABILITIES for k in c.kinds}
    when = kind_descriptions()
    assert set(when) == kinds, sorted(kinds ^ set(when))
    assert all(text.strip().endswith(".") for text in when.values())


@pytest.mark.parametrize("kind", sorted(MORE))
def test_every_further_sample_names_a_runnable_fix(kind: str) -> None:
    for finding in samples(kind):
        assert finding.kind == kind
        assert fixes(finding.detail) and all(runnable(c) for c in fixes(finding.detail)), finding.detail


@pytest.mark.parametrize("kind", sorted(CASES))
def test_no_finding_detail_carries_a_placeholder(kind: str) -> None:
    """A fix written outside backticks is still read: it must not tell the on-call to fill in a blank."""
    detail = CASES[kind]().detail
    assert not re.search(r"<[a-z][^>]*>", detail), f"{kind}: {detail!r}"


def test_an_unregistered_endpoint_names_the_group_it_really_serves_from() -> None:
    assert f"mlgov rollback --endpoint manga-recommender-v0 --group {GROUP}" in _unregistered().detail


def test_an_endpoint_serving_from_two_groups_names_the_rollback_of_each() -> None:
    from mlgov_runtime.lineage_audit.findings import finding_from_audit
    from mlgov_runtime.lineage_audit.logic import ContainerResult, EndpointAudit, VariantResult, Verdict

    variants = [
        VariantResult(
            name,
            "production",
            f"model-{name}",
            [ContainerResult(f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{group}/4", "Rejected",
                             Verdict.UNAPPROVED, "package v4 is Rejected")],
            Verdict.UNAPPROVED,
        )
        for name, group in (("A", "manga-ranker"), ("B", "manga-recommender"))
    ]  # fmt: skip
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/two"
    audit = EndpointAudit("two", arn, ACCOUNT, REGION, Verdict.UNAPPROVED, ["v4 is Rejected"], variants)
    finding = finding_from_audit(audit, "scheduled")
    assert finding is not None
    assert (
        "`mlgov rollback --endpoint two --group manga-ranker` or `mlgov rollback --endpoint two --group "
        "manga-recommender`" in finding.detail
    )
    assert "GROUP" not in finding.detail


def test_a_coverage_gap_above_the_alert_threshold_carries_the_command_that_starts_retraining() -> None:
    finding = _coverage(alert_only=True)()
    command = finding.evidence["fix_command"]
    assert command in finding.detail and command.startswith(
        f"aws stepfunctions start-execution --state-machine-arn {MACHINE} "
    )
    assert f'"finding_id":"{finding.finding_id}"' in command and '"coverage_gap_pct":9.5' in command
    assert "retraining.start_on_coverage_alert" in finding.detail
    paged = _coverage(alert_only=False)()
    assert "Retraining started and on-call paged." in paged.detail  # above the page threshold it starts, as before


def test_a_serverless_cold_start_names_the_config_change_that_fixes_it() -> None:
    detail = _cold_start().detail
    assert "ServerlessConfig={MemorySizeInMB=4096,MaxConcurrency=10,ProvisionedConcurrency=1}" in detail
    assert "update-endpoint --region us-east-1 --endpoint-name manga-recommender-sls" in detail
    assert "mlgov capacity restore" not in detail  # restore cannot give a serverless variant provisioned concurrency


def test_a_failed_retraining_names_its_history_and_the_rerun_of_the_same_machine() -> None:
    detail = _retraining_failed().detail
    assert f"get-execution-history --execution-arn {EXECUTION}" in detail
    assert f"start-execution --state-machine-arn {MACHINE} " in detail


def test_a_failed_retraining_without_its_execution_names_the_command_that_lists_failed_runs() -> None:
    from mlgov_runtime.retraining.logic import failure_finding

    detail = failure_finding({"failed_stage": "train"}, ACCOUNT, REGION, GROUP_ARN).detail
    assert f"`aws stepfunctions list-executions --region {REGION} --status-filter FAILED --state-machine-arn " in detail
    assert "stateMachines[?contains(name, 'RetrainingStateMachine')].stateMachineArn | [0]" in detail
    assert "<" not in detail
