"""Issue 23, "every finding names its fix", and issue 27 item 1: one meta-test over the registry. Each finding
kind is built by its capability's own builder from a realistic case, and its detail must carry a runnable
command with the case's real values (no <placeholder>, no "...") or a console deep link to the resource.
A kind added to the registry without a case here fails the registry test below."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable

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


CASES: dict[str, Callable[[], Finding]] = {
    "UNREGISTERED_ENDPOINT": _unregistered,
    "CATALOG_COVERAGE_GAP": _coverage(alert_only=True),
    "RETRAINING_FAILED": _retraining_failed,
    "CHALLENGER_REVIEW_INCOMPLETE": _review_incomplete,
    "SERVERLESS_COLD_START_RISK": _cold_start,
}
# Kinds whose fix this test does not build a case for yet (each one names its fix by reading, not by test).
# Only shrinks: a new kind must come with a case.
NOT_YET = {
    "ENDPOINT_AUDIT_ERROR",
    "COVERAGE_CHECK_FAILED",
    "CHALLENGER_REJECTED",
    "CHALLENGER_INVALID",
    "CHALLENGER_INSUFFICIENT_DATA",
    "CHALLENGER_START_REFUSED",
    "CHALLENGER_FAILED",
    "CHALLENGER_RETENTION_REGRESSION",
    "CHALLENGER_DATA_MISSING",
    "ENDPOINT_CAN_SCALE_TO_ZERO",
    "ENDPOINT_WITHOUT_AUTOSCALING",
    "ENDPOINT_SINGLE_INSTANCE",
    "CAPACITY_CHECK_ERROR",
    "STALE_ENDPOINT_ACTIVE",
    "ENDPOINT_RETIREMENT_CANDIDATE",
    "ENDPOINT_RETIREMENT_CHECK_FAILED",
    "ENDPOINT_PURPOSE_TAG_INVALID",
    "ENDPOINT_RETIRING",
    "RETIRING_TAG_CHANGED",
    "SAFETY_ABORT_ENDPOINT_DELETION",
    "RETIRED_ENDPOINT_STILL_CALLED",
    "SCAN_ACCOUNT_UNREACHABLE",
    "SCAN_SUMMARY",
    "SCAN_FAILED",
    "CATALOG_SNAPSHOT_STALE",
    "EVENT_FORWARDING_MISSING",
}

COMMAND = re.compile(r"`((?:mlgov|aws) [^`]+)`")
DEEP_LINK = re.compile(r"https://[\w.-]*console\.aws\.amazon\.com/\S+#/\S+")


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


def test_an_unregistered_endpoint_names_the_group_it_really_serves_from() -> None:
    assert f"mlgov rollback --endpoint manga-recommender-v0 --group {GROUP}" in _unregistered().detail


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
