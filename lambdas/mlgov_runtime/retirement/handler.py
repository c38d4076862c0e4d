"""Endpoint retirement Lambdas (docs/retirement.md). `handler`: the scheduled audit and deadline check, CloudTrail
tag changes (idempotent per event id). `step`: the deletion steps, a separate function whose role alone deletes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlgov_runtime.adapters.approvals_store import DynamoApprovals, ExecutionReader, KmsMacs
from mlgov_runtime.adapters.aws import context_for
from mlgov_runtime.adapters.cloudwatch import CloudWatchMetrics
from mlgov_runtime.adapters.cost_anomaly import AnomaliesUnavailable, service_anomalies
from mlgov_runtime.adapters.findings_store import FindingsStore, channel_store
from mlgov_runtime.core.entry import Entry, account_of
from mlgov_runtime.retirement.audit import on_tag_change, run_retiring_deadlines, run_stale_audit
from mlgov_runtime.retirement.deletion import Steps
from mlgov_runtime.retirement.endpoint_retirement import EndpointMetrics, SageMakerEndpoints
from mlgov_runtime.retirement.events import RetirementEvent, parse_event
from mlgov_runtime.retirement.logic import Verdict
from mlgov_runtime.retirement.settings import RetirementSettings, event_settings, step_settings

SERVICE = "endpoint-retirement"
STALE_METRIC = "StaleEndpointActive"

entry = Entry(SERVICE)
logger = entry.logger


def _now() -> datetime:
    return datetime.now(UTC)


def _ports(settings: RetirementSettings) -> tuple[SageMakerEndpoints, EndpointMetrics, FindingsStore]:
    aws = context_for(None)
    store = channel_store(settings)
    return (
        SageMakerEndpoints(aws.client("sagemaker")),
        EndpointMetrics(CloudWatchMetrics(aws.client("cloudwatch"))),
        store,
    )


def _anomalies(settings: RetirementSettings, today: date) -> dict[str, Any] | None:
    """SageMaker cost anomalies of the last 30 days, when a monitor is configured."""
    if not settings.cost_anomaly_monitor_arn:
        return None
    ce = context_for("us-east-1").client("ce")  # Cost Explorer is served from us-east-1
    try:
        found = service_anomalies(ce, settings.cost_anomaly_monitor_arn, today - timedelta(days=30), today)
    except AnomaliesUnavailable as exc:  # informational: the audit's verdicts stand without it
        logger.warning("Cost anomalies unavailable", extra={"reason": str(exc)})
        return {"error": str(exc)}
    return {"count": len(found), "total_impact_usd": round(sum(a["total_impact_usd"] for a in found), 2)}


def process(request: dict[str, Any], own_account: str) -> dict[str, Any]:
    settings = event_settings.get()
    event = RetirementEvent.from_dict(request)
    if event.account_id != own_account:
        return {
            "status": "skipped",
            "reason": f"event from account {event.account_id}; this function sees only its own",
        }
    endpoints, counter, store = _ports(settings)
    now, policy = _now(), settings.policy
    if event.task == "stale_audit":
        run = run_stale_audit(endpoints, counter, store, policy, now, event.account_id, event.region, quiet=counter)
        for check in run.checks:
            entry.count(STALE_METRIC, 1 if check.verdict is Verdict.STALE_ENDPOINT_ACTIVE else 0)
            logger.info("Endpoint checked", extra=check.to_dict())
        verdicts = [c.verdict.value for c in run.checks]
        result: dict[str, Any] = {
            "status": "audited",
            "task": event.task,
            "verdicts": {v: verdicts.count(v) for v in sorted(set(verdicts))},
            "published": [f.finding_id for f in run.published],
            "not_watched": run.skipped,
            "unreadable": run.unreadable,
            "sagemaker_cost_anomalies_30d": _anomalies(settings, now.date()),
        }
    elif event.task == "retiring_deadlines":
        published = run_retiring_deadlines(endpoints, store, policy, now, event.account_id, event.region)
        result = {"status": "checked", "task": event.task, "published": [f.finding_id for f in published]}
    else:
        assert event.tag_change is not None
        outcome, published = on_tag_change(
            event.tag_change,
            endpoints,
            store,
            policy,
            settings.tag_change_response,
            now,
            event.account_id,
            event.region,
            event.event_id,
        )
        result = {"status": outcome, "task": event.task, "published": [f.finding_id for f in published]}
    logger.info("Retirement task done", extra=result)
    return result


handler = entry.handler(entry.events(parse_event, process, event_settings.get))


@entry.handler
def step(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = step_settings.get()
    endpoints, counter, store = _ports(settings)
    aws = context_for(None)
    steps = Steps(
        endpoints=endpoints,
        metrics=counter,
        book=store,
        policy=settings.policy,
        account_id=account_of(context),
        region=context_for(None).region,
        now=_now,
        emit=lambda name, value: entry.count(name, value),
        approval_expiry_hours=settings.approval_expiry_hours,
        watch_hours=settings.watch_hours,
        error_metrics=settings.error_metrics,
        approvals=DynamoApprovals(aws.client("dynamodb"), settings.approvals_table)
        if settings.approvals_table
        else None,
        executions=ExecutionReader(aws.client("stepfunctions")),
        state_machine_name=settings.state_machine_name,
        macs=KmsMacs(aws.client("kms"), settings.approvals_mac_key_id) if settings.approvals_mac_key_id else None,
        approvers=settings.approvers,
    )
    name, state = event["step"], event.get("state") or {}
    logger.append_keys(step=name, endpoint_name=state.get("endpoint_name"))
    if name == "request_approval":
        result = steps.request_approval(state, event["token"], str(event.get("execution", "")))
    elif name in ("check_idle", "delete"):
        result = getattr(steps, name)(state, str(event.get("execution", "")))
        if result["outcome"] == "refused":
            logger.warning("Deletion refused", extra={"reason": result["reason"]})
    elif name in ("prepare", "close_request", "watch"):
        result = getattr(steps, name)(state, str(event.get("execution", "")))
    else:
        raise ValueError(f"unknown step {name!r}")
    logger.info("Step done", extra={"result": result})
    return result
