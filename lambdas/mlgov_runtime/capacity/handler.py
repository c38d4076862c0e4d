"""Capacity Lambda: an Application Auto Scaling or SageMaker API call, an endpoint that went InService,
or the weekly schedule -> can the endpoint reach zero? -> findings stored and published -> EMF metric."""

from __future__ import annotations

from typing import Any

from mlgov_runtime.adapters.aws import AccountNotReachable, context_for, context_for_account
from mlgov_runtime.adapters.findings_store import channel_store
from mlgov_runtime.adapters.organizations import ou_ancestors
from mlgov_runtime.capacity.autoscaling import AutoscalingReader
from mlgov_runtime.capacity.check import CapacityChecker, report
from mlgov_runtime.capacity.events import CapacityRequest, parse_capacity_request
from mlgov_runtime.capacity.logic import CapacityReadError, EndpointGone, Verdict
from mlgov_runtime.capacity.settings import CapacitySettings
from mlgov_runtime.capacity.settings import settings as capacity_settings
from mlgov_runtime.core.entry import Entry

SERVICE = "capacity-check"
METRIC = "EndpointCanScaleToZero"

entry = Entry(SERVICE)
logger = entry.logger


class Skipped(Exception):
    pass


def _checker(request: CapacityRequest, own_account: str, settings: CapacitySettings) -> CapacityChecker:
    try:
        aws = context_for_account(request.account_id, request.region, own_account, settings.member_audit_role_name)
    except AccountNotReachable as exc:
        raise Skipped(str(exc)) from None
    home = context_for(None)
    return CapacityChecker(
        AutoscalingReader(aws.client("sagemaker"), aws.client("application-autoscaling")),
        request.account_id,
        request.region,
        settings.policy,
        settings.exemptions,
        ou_resolver=lambda account: ou_ancestors(home.client("organizations"), account),
    )


def process(request: dict[str, Any], own_account: str) -> dict[str, Any]:
    settings = capacity_settings.get()
    parsed = CapacityRequest(**request)
    checker = _checker(parsed, own_account, settings)
    checker.in_service = parsed.trigger == "state_change" and parsed.action == "IN_SERVICE"
    store = channel_store(settings)
    name = parsed.endpoint_name
    if parsed.component:
        try:
            name = checker.reader.endpoint_of_component(parsed.component)
        except (EndpointGone, CapacityReadError) as exc:
            raise Skipped(f"inference component {parsed.component}: {exc}") from None
    audits = checker.check_many([name] if name else None)
    source = "scheduled" if parsed.trigger == "schedule" else "realtime"
    results = []
    for audit in audits:
        outcome = report(audit, store, source)
        if audit.verdict is not Verdict.ERROR:  # nothing read is no datapoint, never a safe 0
            entry.count(METRIC, 1 if audit.can_reach_zero else 0)
        summary = {
            "endpoint_name": audit.endpoint_name,
            "verdict": audit.verdict.value,
            "minimum": audit.minimum,
            "reasons": audit.reasons,
            "published": [f.finding_id for f in outcome.published],
        }
        log = logger.warning if audit.problems else logger.info
        log("Endpoint capacity checked", extra={**summary, "account_id": parsed.account_id})
        results.append(summary)
    return {"status": "checked", "trigger": parsed.trigger, "results": results}


handler = entry.handler(entry.events(parse_capacity_request, process, capacity_settings.get, skipped=(Skipped,)))
