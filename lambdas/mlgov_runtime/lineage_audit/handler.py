"""Audit Lambda: a CloudTrail CreateEndpoint/UpdateEndpoint call, an endpoint that went InService,
or the scheduled scan -> lineage verdict -> finding stored and published -> EMF metric."""

from __future__ import annotations

from typing import Any

from mlgov_runtime.adapters.artifacts import store_pins
from mlgov_runtime.adapters.aws import AccountNotReachable, context_for, context_for_account
from mlgov_runtime.adapters.challenger_runs import StepFunctionsChallengerRuns
from mlgov_runtime.adapters.findings_store import channel_store
from mlgov_runtime.adapters.organizations import ou_ancestors
from mlgov_runtime.adapters.sagemaker import SageMakerLineageReader
from mlgov_runtime.adapters.serving_index import ServingIndex
from mlgov_runtime.core.entry import Entry
from mlgov_runtime.lineage_audit.audit import EndpointAuditor, EndpointOutcome, close_vanished, report_endpoint
from mlgov_runtime.lineage_audit.events import AuditRequest, parse_audit_request
from mlgov_runtime.lineage_audit.logic import PackagePolicy
from mlgov_runtime.lineage_audit.settings import EndpointAuditSettings
from mlgov_runtime.lineage_audit.settings import settings as audit_settings

SERVICE = "endpoint-audit"
METRIC = "UnregisteredEndpointDetected"

# No Powertools Tracer: importing the X-Ray SDK costs ~130 ms of cold start (see `make bench`);
# the function runs with Lambda active tracing, which records each invocation without it.
entry = Entry(SERVICE, cold_start_metric=True)
# Alarmed (stacks/lineage_audit.py).
SKIPPED_METRIC = "AuditEventSkipped"
# Their audit records the configurations' CreationTime (what deployed); other audits compare with it.
DEPLOY_CALLS = ("CreateEndpoint", "UpdateEndpoint")
logger = entry.logger


def _challenger_runs(
    request: AuditRequest, own_account: str, settings: EndpointAuditSettings
) -> StepFunctionsChallengerRuns | None:
    """The challenger runs in this account and region only: elsewhere no experiment can be verified (None), so a
    challenger-shaped variant there stays UNAPPROVED."""
    machine = settings.challenger_state_machine_arn
    if not machine or request.account_id != own_account or machine.split(":")[3:5] != [request.region, own_account]:
        return None
    return StepFunctionsChallengerRuns(context_for(request.region).client("stepfunctions"), machine)


def _auditor(
    request: AuditRequest,
    own_account: str,
    settings: EndpointAuditSettings,
    index: ServingIndex | None = None,
    records: dict[str, Any] | None = None,
) -> EndpointAuditor:
    aws = context_for_account(request.account_id, request.region, own_account, settings.member_audit_role_name)
    home = context_for(None)

    def resolve_ous(account_id: str) -> list[str]:
        return ou_ancestors(home.client("organizations"), account_id)

    auditor = EndpointAuditor(
        SageMakerLineageReader(aws.client("sagemaker")),
        request.account_id,
        request.region,
        settings.exemptions,
        ou_resolver=resolve_ous,
        policy=PackagePolicy(
            settings.allowed_package_groups, settings.allowed_package_accounts, settings.challenger_share
        ),
        pins=store_pins(home),
        # Packages of the governance account (a central registry) are described with its own role.
        registry=(
            None
            if request.account_id == own_account
            else (own_account, SageMakerLineageReader(context_for(request.region).client("sagemaker")))
        ),
        challenger_runs=_challenger_runs(request, own_account, settings),
    )
    named, read = _named(request), {} if records is None else records
    if index:

        def deployment(name: str) -> Any:
            read[name] = index.deployment(request.account_id, request.region, name)  # kept for the record's update
            return _compared(read[name], named)

        auditor.deployments = deployment
    return auditor


def _named(request: AuditRequest) -> str | None:
    """The configuration a deploy call deploys; "" for a deploy call that names none (every one it reads)."""
    deploys = request.trigger == "cloudtrail" and request.action in DEPLOY_CALLS
    return (request.config_name or "") if deploys else None


def _compared(record: Any, named: str | None) -> Any:
    """A deploy call's audit compares every configuration but the one it names (docs/lineage-audit.md)."""
    if record is None or named is None:
        return record
    return {**record, "configs": {k: v for k, v in record["configs"].items() if named and k != named}}


def _deployment(record: Any, audit: Any, named: str) -> dict[str, str]:
    """The named configuration as read, the others as recorded."""
    if not named:
        return dict(audit.configs_read)
    kept = record["configs"] if record and record.get("endpoint_created") == audit.endpoint_created else {}
    configs = {k: v for k, v in kept.items() if k in audit.configs_read and k != named}
    if named in audit.configs_read:
        configs[named] = audit.configs_read[named]
    return configs


def _record_outcome(outcome: EndpointOutcome, request: AuditRequest) -> dict[str, Any]:
    audit = outcome.audit
    violation = bool(audit and audit.is_violation)
    entry.count(METRIC, 1 if violation else 0)
    summary: dict[str, Any] = {
        "endpoint_name": outcome.endpoint_name,
        "outcome": outcome.outcome,
        "published": [f.finding_id for f in outcome.published],
    }
    if audit is not None:
        summary.update(verdict=audit.verdict.value, reasons=audit.reasons)
        log = logger.warning if audit.verdict.value not in ("COMPLIANT", "EXEMPT") else logger.info
        log("Endpoint audited", extra={**summary, "account_id": request.account_id, "region": request.region})
    else:
        logger.info(outcome.message, extra={**summary, "account_id": request.account_id})
    return summary


def _serving_elsewhere(
    parsed: AuditRequest, own_account: str, settings: EndpointAuditSettings, index: ServingIndex, store: Any
) -> list[dict[str, Any]]:
    """A package changed state: re-audit, through the member roles, every endpoint the index says serves
    it outside the account/region the event came from (that one was re-audited whole)."""
    assert parsed.package_arn
    targets: dict[tuple[str, str], list[str]] = {}
    for account, region, name in index.endpoints_serving(parsed.package_arn):
        if (account, region) != (parsed.account_id, parsed.region):
            targets.setdefault((account, region), []).append(name)
    results: list[dict[str, Any]] = []
    for (account, region), names in sorted(targets.items()):
        there = AuditRequest(parsed.event_id, parsed.trigger, account, region, None, parsed.action)
        try:
            auditor = _auditor(there, own_account, settings, index)
        except AccountNotReachable as exc:
            logger.error("Account not auditable", extra={"reason": str(exc), "account_id": account})
            results += [
                {"endpoint_name": n, "account_id": account, "outcome": "skipped", "reason": str(exc)} for n in names
            ]
            continue
        for name in sorted(set(names)):
            outcome = report_endpoint(auditor, name, store, "realtime")
            if outcome.audit is not None:
                index.record(outcome.audit.to_dict())
            results.append({**_record_outcome(outcome, there), "account_id": account, "region": region})
    return results


def process(request: dict[str, Any], own_account: str) -> dict[str, Any]:
    settings = audit_settings.get()
    parsed = AuditRequest.from_dict(request)
    index = (
        ServingIndex(context_for(None).client("dynamodb"), settings.serving_index_table)
        if (settings.serving_index_table)
        else None
    )
    records: dict[str, Any] = {}
    auditor = _auditor(parsed, own_account, settings, index, records)
    store = channel_store(settings)
    source = "scheduled" if parsed.trigger == "schedule" else "realtime"
    names = [parsed.endpoint_name] if parsed.endpoint_name else list(auditor.reader.list_endpoint_names())
    results = []
    for name in names:
        outcome = report_endpoint(auditor, name, store, source)
        if index is not None and outcome.audit is not None:
            index.record(outcome.audit.to_dict())
        audit = outcome.audit
        named = _named(parsed)
        if named is not None and index and audit and audit.endpoint_created and audit.configs_read:
            record = records[name] if name in records else index.deployment(parsed.account_id, parsed.region, name)
            configs = _deployment(record, audit, named)
            if configs:
                index.record_deployment(parsed.account_id, parsed.region, name, audit.endpoint_created, configs)
        results.append(_record_outcome(outcome, parsed))
    closed = []
    if parsed.trigger == "schedule":
        closed = close_vanished(store, store, names, parsed.account_id, parsed.region, source)
    elsewhere = []
    if parsed.trigger == "package_change" and parsed.package_arn and index is not None:
        elsewhere = _serving_elsewhere(parsed, own_account, settings, index, store)
    return {
        "status": "audited",
        "trigger": parsed.trigger,
        "results": results,
        "serving_elsewhere": elsewhere,
        "resolved_vanished": [f.finding_id for f in closed],
        "packages_described": auditor.packages.describe_calls,
    }


handler = entry.handler(
    entry.events(
        parse_audit_request,
        process,
        audit_settings.get,
        skipped=(AccountNotReachable,),
        skipped_log="Account not auditable",
        failure_metric="AuditEventRejected",
        skipped_metric=SKIPPED_METRIC,
    )
)
