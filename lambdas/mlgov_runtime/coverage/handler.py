"""Weekly catalog coverage check: live catalog vs the approved model's training snapshot.
> alert threshold: a finding; > page threshold: a CRITICAL finding and the retraining pipeline starts
(unless a run is already going)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlgov_runtime.adapters.aws import context_for
from mlgov_runtime.adapters.catalog import CatalogUnavailable, SnapshotUnreadable, catalog_title_ids, snapshot_chunks
from mlgov_runtime.adapters.findings_store import channel_store
from mlgov_runtime.adapters.registry import group_arn, latest_approved_package
from mlgov_runtime.adapters.state_machines import start_once
from mlgov_runtime.core.entry import Entry, account_of
from mlgov_runtime.core.findings import store_and_publish
from mlgov_runtime.coverage.check import NoSnapshot, check_failed_finding, coverage_finding, run_coverage_check
from mlgov_runtime.coverage.logic import CoverageThresholds, SnapshotFormatError, title_id_batches
from mlgov_runtime.coverage.settings import settings as coverage_settings

SERVICE = "coverage-check"
entry = Entry(SERVICE)
logger, metrics = entry.logger, entry.metrics


def execution_name(event_id: str | None, today: date) -> str:
    """One name per scheduled event: a duplicate delivery of that event cannot start a second run
    (Step Functions refuses a second execution of the same name). Kept to what a training job name
    allows, since the job is named lora-<execution name> (63 characters at most)."""
    return ("coverage-gap-" + re.sub(r"[^A-Za-z0-9]+", "-", event_id or today.isoformat()))[:58].rstrip("-")


def _event_id(event: Any) -> str | None:
    """The scheduled event's id; anything else (an invocation by hand) runs under today's date."""
    value = event.get("id") if isinstance(event, dict) else None
    return value if isinstance(value, str) and value.strip() else None


@entry.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = coverage_settings.get()
    thresholds = CoverageThresholds(settings.alert_pct, settings.page_pct)
    aws = context_for(None)
    account = account_of(context)
    region = aws.region
    group = group_arn(region, account, settings.watched_group)
    store = channel_store(settings)
    try:
        outcome = run_coverage_check(
            lambda: catalog_title_ids(aws.client("dynamodb"), settings.catalog_table),
            lambda: latest_approved_package(aws.client("sagemaker"), settings.watched_group),
            lambda uri, version: title_id_batches(snapshot_chunks(aws.client("s3"), uri, version_id=version)),
            thresholds,
            settings.snapshot_fallback_uri,
        )
    except (NoSnapshot, SnapshotUnreadable, SnapshotFormatError, CatalogUnavailable) as exc:
        logger.error("Coverage check could not run", extra={"reason": str(exc)})
        failed = check_failed_finding(
            str(exc), account, region, group, settings.catalog_table, settings.snapshot_fallback_uri
        )
        store_and_publish(store, failed)
        return {"status": "error", "reason": str(exc), "finding_id": failed.finding_id}
    store_and_publish(store, check_failed_finding(None, account, region, group))
    report = outcome.report
    metrics.add_metric(name="CatalogCoverageGapPct", unit=MetricUnit.Percent, value=report.coverage_gap_pct)
    metrics.add_dimension(name="ModelPackageGroup", value=settings.watched_group)
    machine = settings.retraining_state_machine_arn
    start = report.action == "retrain_and_page" or (report.action == "alert" and settings.start_on_alert)
    finding = coverage_finding(
        report, account, region, group, outcome.snapshot_uri, thresholds, machine, settings.start_on_alert
    )
    published = store_and_publish(store, finding)
    pipeline = "not needed"
    if start:
        if settings.retraining_state_machine_arn:
            pipeline = start_once(
                aws.client("stepfunctions"),
                settings.retraining_state_machine_arn,
                execution_name(_event_id(event), datetime.now(UTC).date()),
                {
                    "trigger": "coverage-gap",
                    "coverage_gap_pct": report.coverage_gap_pct,
                    "finding_id": finding.finding_id,
                },
            )
        else:
            pipeline = "not configured"
    result = {
        **report.to_dict(),
        "snapshot_uri": outcome.snapshot_uri,
        "snapshot_source": outcome.snapshot_source,
        "snapshot_version": outcome.snapshot_version,
        "finding_published": published,
        "pipeline": pipeline,
    }
    logger.info("Coverage checked", extra=result)
    return result
