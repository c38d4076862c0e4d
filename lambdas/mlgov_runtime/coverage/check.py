"""The weekly coverage check's decision: which snapshot to compare, and what the gap means
(findings, pipeline start). Adapters are injected; shared by the Lambda and the sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlgov_runtime.core.findings import STATUS_OPEN, STATUS_RESOLVED, Finding, finding_id
from mlgov_runtime.coverage.logic import CoverageReport, CoverageThresholds, SnapshotFormatError, coverage_gap

KIND_COVERAGE_GAP = "CATALOG_COVERAGE_GAP"
KIND_COVERAGE_CHECK_FAILED = "COVERAGE_CHECK_FAILED"


class NoSnapshot(Exception):
    pass


def snapshot_uri_for(approved: Mapping[str, Any] | None, fallback: str | None) -> tuple[str, str]:
    """(uri, where it came from): the approved package's training_data_s3_uri, else the fallback."""
    uri = ((approved or {}).get("CustomerMetadataProperties") or {}).get("training_data_s3_uri")
    if approved and uri:
        return str(uri), f"training_data_s3_uri of {approved.get('ModelPackageArn')}"
    if fallback:
        reason = "no Approved package" if not approved else "the Approved package has no training_data_s3_uri"
        return fallback, f"settings fallback ({reason})"
    raise NoSnapshot(
        "no snapshot to compare: the watched group has no Approved package with training_data_s3_uri "
        "and no snapshot fallback is configured"
    )


UNVERSIONED = ("", "unversioned", "null")  # what registration records without a version


def snapshot_version_for(approved: Mapping[str, Any] | None, uri: str) -> str | None:
    """The training_data_version the approved package recorded for `uri`, or None."""
    meta = (approved or {}).get("CustomerMetadataProperties") or {}
    if not approved or meta.get("training_data_s3_uri") != uri:
        return None
    version = str(meta.get("training_data_version") or "").strip()
    return None if version in UNVERSIONED else version


@dataclass
class CoverageOutcome:
    report: CoverageReport
    snapshot_uri: str
    snapshot_source: str
    snapshot_version: str | None = None
    finding: Finding | None = None
    pipeline: str = "not needed"  # not needed | started <arn> | already running <arn> | not configured
    extra: dict[str, Any] = field(default_factory=dict)


def retrain_command(machine_arn: str, gap_pct: float, finding: str) -> str:
    """The exact call that starts the retraining pipeline for this gap (the input the weekly check gives it)."""
    body = json.dumps(
        {"trigger": "coverage-gap", "coverage_gap_pct": gap_pct, "finding_id": finding}, separators=(",", ":")
    )
    return f"aws stepfunctions start-execution --state-machine-arn {machine_arn} --input '{body}'"


def _next_step(page: bool, started: bool, machine_arn: str | None, command: str | None) -> str:
    if page or started:
        why = " and on-call paged." if page else " (retraining.start_on_coverage_alert)."
        started_text = "Retraining started" + why
        # The on-call follows the run it started: the machine's latest execution.
        follow = (
            f" Follow it: `aws stepfunctions list-executions --state-machine-arn {machine_arn} --max-results 1`."
            if machine_arn
            else ""
        )
        return started_text + follow
    if command:
        return (
            f"Start retraining for this gap: `{command}` (or set mlgov.retraining.start_on_coverage_alert to start "
            "it automatically above the alert threshold)."
        )
    return "Deploy the retraining state machine (stack MlGovEndpointAudit), then start it for this gap."


def coverage_finding(
    report: CoverageReport,
    account: str,
    region: str,
    group_arn: str,
    snapshot_uri: str,
    thresholds: CoverageThresholds,
    machine_arn: str | None = None,
    start_on_alert: bool = False,
) -> Finding:
    page = report.action == "retrain_and_page"
    started = page or (report.action == "alert" and start_on_alert and machine_arn is not None)
    fid = finding_id(KIND_COVERAGE_GAP, account, region, group_arn)
    command = retrain_command(machine_arn, report.coverage_gap_pct, fid) if machine_arn else None
    status = "OPEN" if report.action != "none" else STATUS_RESOLVED
    threshold = thresholds.page_pct if page else thresholds.alert_pct
    return Finding(
        kind=KIND_COVERAGE_GAP,
        severity="CRITICAL" if page else ("HIGH" if status == "OPEN" else "INFO"),
        account_id=account,
        region=region,
        resource_arn=group_arn,
        title=(
            f"Catalog coverage gap {report.coverage_gap_pct}%: {report.gap_titles} of {report.catalog_titles} "
            "catalog titles are invisible to the approved model"
            if status == "OPEN"
            else f"Catalog coverage gap back to {report.coverage_gap_pct}%"
        ),
        detail=(
            f"The training snapshot {snapshot_uri} covers {report.catalog_titles - report.gap_titles} of "
            f"{report.catalog_titles} live catalog titles; the gap {report.coverage_gap_pct}% is above "
            f"{threshold}%. {_next_step(page, started, machine_arn, command)}"
            if status == "OPEN"
            else f"The gap is {report.coverage_gap_pct}%, at or below {thresholds.alert_pct}%."
        ),
        source="scheduled",
        evidence={
            **report.to_dict(),
            "orphan_titles": report.orphan_titles,
            "snapshot_uri": snapshot_uri,
            **({"fix_command": command} if command and status == "OPEN" else {}),
        },
        status=status,
    )


def check_failed_finding(
    reason: str | None,
    account: str,
    region: str,
    group_arn: str,
    catalog_table: str | None = None,
    snapshot_uri: str | None = None,
) -> Finding:
    """A weekly check that cannot run leaves the gap unknown: that is itself something to fix.
    `reason=None` is the RESOLVED version, recorded after a check that ran."""
    failed = reason is not None
    group = group_arn.rsplit("/", 1)[-1]
    # The snapshot is the latest Approved package's training data; without a fallback URI, name how to find it.
    if snapshot_uri and catalog_table:
        check_by_hand = (
            f"`mlgov coverage --region {region} --catalog-table {catalog_table} --snapshot-uri {snapshot_uri}`"
        )
    else:
        check_by_hand = (
            f"mlgov coverage --catalog-table {catalog_table or '(the catalog table)'} and the snapshot URI, which is "
            "the training data of the latest Approved package: `aws sagemaker list-model-packages --region "
            f"{region} --model-package-group-name {group} --model-approval-status Approved --sort-by CreationTime "
            "--sort-order Descending --max-results 1`"
        )
    return Finding(
        kind=KIND_COVERAGE_CHECK_FAILED,
        severity="HIGH" if failed else "INFO",
        account_id=account,
        region=region,
        resource_arn=group_arn,
        title=(
            "Catalog coverage check could not run: the coverage gap is unknown"
            if failed
            else "Catalog coverage check runs again"
        ),
        detail=(
            f"{reason}. Until this is fixed, a stale training snapshot goes unnoticed. Next: fix what is named "
            f"here, check by hand with {check_by_hand}; the next weekly check that runs resolves this finding."
            if failed
            else "The weekly catalog coverage check completed."
        ),
        source="scheduled",
        evidence={"reason": reason} if failed else {},
        status=STATUS_OPEN if failed else STATUS_RESOLVED,
    )


def run_coverage_check(
    catalog_ids: Callable[[], set[str]],
    approved_package: Callable[[], Mapping[str, Any] | None],
    snapshot_batches: Callable[[str, str | None], Iterable[list[str]]],
    thresholds: CoverageThresholds,
    fallback_uri: str | None,
) -> CoverageOutcome:
    approved = approved_package()
    uri, source = snapshot_uri_for(approved, fallback_uri)
    version = snapshot_version_for(approved, uri)
    try:
        report = coverage_gap(catalog_ids(), snapshot_batches(uri, version), thresholds)
    except SnapshotFormatError as exc:
        raise SnapshotFormatError(f"snapshot {uri}: {exc}") from None
    return CoverageOutcome(report, uri, source, version)
