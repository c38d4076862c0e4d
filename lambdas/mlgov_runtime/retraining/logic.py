"""The retraining pipeline's steps, as plain functions over injected adapters.

The state machine calls one Lambda with {"step": ...}; each step reads what the previous steps
put in the execution state and returns what the next ones need. Every failure path ends in
report_failure, which turns it into a finding naming the stage and the failed checks.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from mlgov_runtime.core.findings import Finding
from mlgov_runtime.retraining.offline_gate import OfflineThresholds, offline_gate, validate_evaluation
from mlgov_runtime.retraining.registration import RegistrationMetadata, UnreadableMetrics, evaluation_metrics_of
from mlgov_runtime.retraining.training_data import (
    Check,
    DataQualityThresholds,
    build_training_pairs,
    quality_gate,
    scan_snapshot,
)

KIND_RETRAINING_FAILED = "RETRAINING_FAILED"


def _rerun(execution: Any, region: str) -> str:
    """The next step with real values: the failed run's history, then a new run of the same state machine."""
    parts = str(execution or "").split(":")
    if len(parts) < 8 or parts[5] != "execution":
        # No execution named: CloudFormation names the machine after its logical id, RetrainingStateMachine...
        machine = (
            f"$(aws stepfunctions list-state-machines --region {region} --query "
            "\"stateMachines[?contains(name, 'RetrainingStateMachine')].stateMachineArn | [0]\" --output text)"
        )
        return (
            f"Next: `aws stepfunctions list-executions --region {region} --status-filter FAILED "
            f"--state-machine-arn {machine}` lists the failed runs."
        )
    machine = ":".join([*parts[:5], "stateMachine", parts[6]])
    return (
        f"Next: `aws stepfunctions get-execution-history --execution-arn {execution} --reverse-order` shows what "
        f"failed; once fixed, `aws stepfunctions start-execution --state-machine-arn {machine} "
        """--input '{"trigger":"rerun"}'` trains again."""
    )


# One prefix per run (the training channel): runs the same day never rewrite each other's.
SNAPSHOT_KEY = "catalog-snapshots/{date}/{run}/training.jsonl"
# The base contract's path, for readers outside the pipeline: the day's latest run (the pipeline never reads it).
DAY_KEY = "catalog-snapshots/{date}/training.jsonl"
# Beside the pairs, in the training job's `train` channel: restricted flags and popularity for its evaluation.
CATALOG_KEY = "catalog-snapshots/{date}/{run}/catalog.jsonl"
CATALOG_FIELDS = ("title_id", "title", "language", "added_at", "adult_content_restricted", "popularity")
EVALUATION_KEY = "evaluations/{job}/evaluation.json"


class PipelineStore(Protocol):
    """S3 for snapshots and evaluations; version ids come back from writes."""

    def put(self, key: str, body: bytes) -> str: ...
    def lines(self, key: str, version_id: str | None = None) -> Iterable[bytes]: ...
    def get_json(self, key: str) -> Any: ...


@dataclass
class PipelineContext:
    bucket: str
    store: PipelineStore
    catalog_items: Callable[[], list[dict[str, Any]]]
    approved_package: Callable[[], Mapping[str, Any] | None]
    today: Callable[[], date]
    emit_metric: Callable[[str, float], None]


def _s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def run_name(execution: Any) -> str:
    """The execution's name (its ARN's last part); a fresh one outside the state machine."""
    name = str(execution or "").rsplit(":", 1)[-1].strip()
    return name if name and "/" not in name else f"manual-{uuid.uuid4().hex[:12]}"


def prepare(ctx: PipelineContext, execution: Any = None) -> dict[str, Any]:
    """Catalog -> training pairs -> catalog-snapshots/YYYY-MM-DD/<execution name>/training.jsonl."""
    snapshot_date = ctx.today().isoformat()
    run = run_name(execution)
    key = SNAPSHOT_KEY.format(date=snapshot_date, run=run)
    items = ctx.catalog_items()
    body = b"".join(
        (json.dumps(pair, ensure_ascii=False) + "\n").encode("utf-8") for pair in build_training_pairs(items)
    )
    version = ctx.store.put(key, body)
    ctx.store.put(DAY_KEY.format(date=snapshot_date), body)
    ctx.store.put(CATALOG_KEY.format(date=snapshot_date, run=run), catalog_lines(items))
    return {
        "snapshot_date": snapshot_date,
        "snapshot_uri": _s3_uri(ctx.bucket, key),
        "snapshot_prefix": _s3_uri(ctx.bucket, key.rsplit("/", 1)[0] + "/"),
        "snapshot_key": key,
        "version_id": version,
        "catalog_titles": len(items),
    }


def catalog_lines(items: Iterable[Mapping[str, Any]]) -> bytes:
    """The catalog as the training job's evaluation reads it (JSON Lines, numbers as numbers)."""
    out = []
    for item in items:
        row = {k: item[k] for k in CATALOG_FIELDS if k in item}
        if "popularity" in row:
            try:
                row["popularity"] = float(row["popularity"])
            except (TypeError, ValueError):
                del row["popularity"]
        out.append(json.dumps(row, ensure_ascii=False) + "\n")
    return "".join(out).encode("utf-8")


def gate_result(checks: list[Check]) -> dict[str, Any]:
    """What a gate step returns: the verdict the state machine's Choice reads, and every check."""
    return {
        "passed": all(c.passed for c in checks),
        "checks": [c.to_dict() for c in checks],
        "failed": [c.to_dict() for c in checks if not c.passed],
    }


def _last_snapshot_date(approved: Mapping[str, Any] | None) -> date | None:
    text = ((approved or {}).get("CustomerMetadataProperties") or {}).get("catalog_snapshot_date")
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def data_quality_gate(ctx: PipelineContext, prepared: Mapping[str, Any], t: DataQualityThresholds) -> dict[str, Any]:
    items = ctx.catalog_items()
    catalog_ids = {str(i["title_id"]) for i in items}
    last = _last_snapshot_date(ctx.approved_package())
    new_titles = (
        {
            str(i["title_id"])
            for i in items
            if last is None or date.fromisoformat(str(i.get("added_at", "1970-01-01"))[:10]) > last
        }
        if last
        else set()
    )
    # The version prepare wrote (what the package records), not the newest.
    stats = scan_snapshot(ctx.store.lines(prepared["snapshot_key"], prepared.get("version_id") or None), catalog_ids)
    version = prepared["version_id"]
    if stats.orphan_rows:
        version = ctx.store.put(prepared["snapshot_key"], b"".join(stats.kept_lines))
    ctx.emit_metric("OrphanTitleIds", len(stats.orphan_title_ids))
    return {
        **gate_result(quality_gate(stats, new_titles, t)),
        "version_id": version,
        "rows": stats.rows,
        "last_snapshot_date": last.isoformat() if last else None,
    }


def offline_evaluation_gate(ctx: PipelineContext, training: Mapping[str, Any], t: OfflineThresholds) -> dict[str, Any]:
    evaluation = validate_evaluation(ctx.store.get_json(EVALUATION_KEY.format(job=training["job_name"])))
    approved = ctx.approved_package()
    checks: list[Check] = []
    try:
        baseline = evaluation_metrics_of((approved or {}).get("CustomerMetadataProperties") or {})
    except UnreadableMetrics as exc:
        # Missing is not zero: a baseline that cannot be believed voids the regression checks, so the gate fails.
        baseline = None
        arn = (approved or {}).get("ModelPackageArn")
        checks.append(Check("baseline_metrics", False, 0, "readable", f"last approved package {arn}: {exc}"))
    return {
        **gate_result(offline_gate(evaluation, baseline, t) + checks),
        "evaluation": evaluation,
        "baseline_package": (approved or {}).get("ModelPackageArn"),
    }


def registration_metadata(
    state: Mapping[str, Any],
    git_commit_sha: str,
    team: str,
    intended_use_case: str,
    registered_at: datetime | None = None,
) -> RegistrationMetadata:
    prepared, quality, training, offline = state["prepared"], state["quality"], state["training"], state["offline"]
    metrics = {
        k: v
        for k, v in offline["evaluation"].items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }
    return RegistrationMetadata.from_mapping(
        {
            "training_job_arn": training["job_arn"],
            "git_commit_sha": git_commit_sha,
            "training_data_s3_uri": prepared["snapshot_uri"],
            "training_data_version": quality["version_id"] or "unversioned",
            "trained_at_utc": (registered_at or datetime.now(UTC))
            .astimezone(UTC)
            .replace(microsecond=0)
            .isoformat()
            .replace("+00:00", "Z"),
            "catalog_snapshot_date": prepared["snapshot_date"],
            "evaluation_metrics": metrics,
            "shadow_ctr_eligible": True,  # it passed the offline gate
            "intended_use_case": intended_use_case,
            "team": team,
            "approved_by": "pending-manual-approval",
        }
    )


def failure_finding(state: Mapping[str, Any], account: str, region: str, group_arn: str) -> Finding:
    stage = str(state.get("failed_stage", "unknown"))
    gate = (
        state.get("quality")
        if stage == "data_quality_gate"
        else state.get("offline")
        if stage == "offline_gate"
        else None
    )
    failed = (gate or {}).get("failed") or []
    error = state.get("error") or {}
    if failed:
        what = "; ".join(f"{c['name']}: {c['detail']} (required {c['required']})" for c in failed)
    else:
        cause = str(error.get("Cause", ""))[:500]
        what = f"{error.get('Error', 'error')}: {cause}".strip(": ")
    return Finding(
        kind=KIND_RETRAINING_FAILED,
        severity="HIGH",
        account_id=account,
        region=region,
        resource_arn=group_arn,
        title=f"Retraining stopped at {stage.replace('_', ' ')}"
        + (f": {', '.join(c['name'] for c in failed)} failed" if failed else ""),
        detail=f"Execution {state.get('execution', '?')} stopped at {stage}. {what} "
        + _rerun(state.get("execution"), region),
        source="pipeline",
        evidence={"stage": stage, "failed_checks": failed, "error": error, "execution": state.get("execution")},
    )
