"""The retraining state machine's Lambda steps: {"step": "prepare" | "quality_gate" | "offline_gate" |
"register" | "report_failure", "state": <execution state>}."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlgov_runtime.adapters.artifacts import copy_write_once, pinned_container, store_pins
from mlgov_runtime.adapters.aws import context_for
from mlgov_runtime.adapters.catalog import scan_catalog
from mlgov_runtime.adapters.findings_store import channel_store
from mlgov_runtime.adapters.pipeline_store import S3PipelineStore
from mlgov_runtime.adapters.registry import (
    create_pending_package,
    group_arn,
    latest_approved_package,
    package_naming,
)
from mlgov_runtime.core.entry import Entry, account_of
from mlgov_runtime.core.findings import store_and_publish
from mlgov_runtime.lineage_audit.pins import APPROVED_PREFIX
from mlgov_runtime.retraining.logic import (
    PipelineContext,
    data_quality_gate,
    failure_finding,
    offline_evaluation_gate,
    prepare,
    registration_metadata,
)
from mlgov_runtime.retraining.offline_gate import OfflineThresholds
from mlgov_runtime.retraining.registration import RETRAINING_EXECUTION_KEY, check_customer_metadata
from mlgov_runtime.retraining.settings import RetrainingSettings
from mlgov_runtime.retraining.settings import settings as retraining_settings
from mlgov_runtime.retraining.training_data import DataQualityThresholds

SERVICE = "retraining"
# Write-once prefix of the snapshot bucket (its policy requires If-None-Match and denies deletes there).
APPROVED_MODELS_KEY = APPROVED_PREFIX + "/{group}/{job}/model.tar.gz"
entry = Entry(SERVICE)
logger = entry.logger


def thresholds(settings: RetrainingSettings) -> tuple[DataQualityThresholds, OfflineThresholds]:
    t = settings.thresholds
    return (
        DataQualityThresholds(
            int(t.get("min_rows", 50_000)), t.get("min_ja_fraction", 0.25), t.get("min_new_title_coverage", 0.95)
        ),
        OfflineThresholds(
            t.get("max_eval_loss", 0.15),
            t.get("min_catalog_coverage_per_1000", 150),
            t.get("min_long_tail_exposure", 0.25),
            t.get("max_json_failure_rate", 0.05),
            int(t.get("max_safety_violations", 0)),
            t.get("max_regression", 0.05),
            t.get("max_cold_start_empty_rate", 0.0),
            t.get("min_cold_start_diversity", 0.3),
        ),
    )


def _catalog_items() -> list[dict[str, Any]]:
    settings = retraining_settings.get()
    items = scan_catalog(context_for(None).client("dynamodb"), settings.catalog_table)
    return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]


def _context() -> PipelineContext:
    settings = retraining_settings.get()
    aws = context_for(None)
    return PipelineContext(
        bucket=settings.snapshot_bucket,
        store=S3PipelineStore(aws.client("s3"), settings.snapshot_bucket),
        catalog_items=_catalog_items,
        approved_package=lambda: latest_approved_package(aws.client("sagemaker"), settings.watched_group),
        today=lambda: datetime.now(UTC).date(),
        emit_metric=lambda name, value: entry.count(name, value),
    )


def register(state: dict[str, Any]) -> dict[str, Any]:
    """Idempotent: a retry takes the copy (same bytes) and the package an earlier attempt made."""
    settings = retraining_settings.get()
    registration_metadata(state, settings.git_commit_sha, settings.team, settings.intended_use_case)  # refuse early
    aws = context_for(None)
    s3, sm = aws.client("s3"), aws.client("sagemaker")
    job = state["training"]["job_name"]
    # The package names a write-once copy (the training role cannot write there), pinned as it is now.
    key = APPROVED_MODELS_KEY.format(group=settings.watched_group, job=job)
    model_data_url = copy_write_once(
        s3, state["training"]["model_artifacts"], settings.snapshot_bucket, key, same_bytes_ok=True
    )
    copied_at = s3.head_object(Bucket=settings.snapshot_bucket, Key=key)["LastModified"]
    # Stable across retries: a retried create sends the same parameters and token.
    meta = registration_metadata(
        state, settings.git_commit_sha, settings.team, settings.intended_use_case, registered_at=copied_at
    )
    described = {"model_package_arn": None, "catalog_snapshot_date": meta.catalog_snapshot_date}
    made = package_naming(sm, settings.watched_group, model_data_url, copied_at - timedelta(minutes=5))
    if made:
        logger.info("Registration already made", extra={"model_package_arn": made})
        return {**described, "model_package_arn": made}
    container, pins = pinned_container(store_pins(aws), settings.inference_image, model_data_url)
    # The run that registered it: the challenger checks it SUCCEEDED and that its output names this package.
    metadata = {
        **meta.customer_metadata(),
        **pins,
        **({RETRAINING_EXECUTION_KEY: state["execution"]} if "execution" in state else {}),
    }
    check_customer_metadata(metadata)  # SageMaker's rule, refused here by key name rather than by the API
    arn = create_pending_package(
        sm,
        settings.watched_group,
        f"LoRA adapter trained on catalog snapshot {meta.catalog_snapshot_date}",
        settings.inference_image,
        model_data_url,
        metadata,
        container,
        client_token=hashlib.sha256(job.encode()).hexdigest()[:32],  # 36 characters at most
    )
    return {**described, "model_package_arn": arn}


def report_failure(state: dict[str, Any], account: str) -> dict[str, Any]:
    settings = retraining_settings.get()
    aws = context_for(None)
    region = aws.region
    finding = failure_finding(state, account, region, group_arn(region, account, settings.watched_group))
    store = channel_store(settings)
    store_and_publish(store, finding)
    logger.error("Retraining stopped", extra={"finding_id": finding.finding_id, "title": finding.title})
    return {"finding_id": finding.finding_id, "title": finding.title}


@entry.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step, state = event.get("step"), event.get("state") or {}
    logger.append_keys(step=step, execution=state.get("execution"))
    if step == "prepare":
        return prepare(_context(), state.get("execution"))
    quality, offline = thresholds(retraining_settings.get())
    if step == "quality_gate":
        return data_quality_gate(_context(), state["prepared"], quality)
    if step == "offline_gate":
        return offline_evaluation_gate(_context(), state["training"], offline)
    if step == "register":
        return register(state)
    if step == "report_failure":
        return report_failure(state, account_of(context))
    raise ValueError(f"unknown step {step!r}; expected prepare, quality_gate, offline_gate, register, report_failure")
