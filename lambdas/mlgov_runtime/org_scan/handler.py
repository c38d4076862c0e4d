"""The org-wide scan's Lambdas (docs/org-scan.md): coordinator `handler` ({"step": plan|aggregate|report_failure,
"state": ...}) and worker `scan` (one Distributed Map batch)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlgov_runtime.adapters.aws import context_for
from mlgov_runtime.adapters.cost_explorer import weekly_purpose_costs
from mlgov_runtime.adapters.findings_store import channel_store
from mlgov_runtime.adapters.member_accounts import MemberAccounts
from mlgov_runtime.adapters.organizations import OrganizationAccounts
from mlgov_runtime.adapters.scan_store import KmsMac, S3ScanStore
from mlgov_runtime.core.checks import CheckContext
from mlgov_runtime.core.entry import Entry, account_of
from mlgov_runtime.core.findings import store_and_publish
from mlgov_runtime.lineage_audit.endpoint_check import CHALLENGER_MACHINE_OPTION, DEPLOYMENTS_KEY
from mlgov_runtime.org_scan.ledger import ScanLedger
from mlgov_runtime.org_scan.logic import OK, Scope, Target, TargetResult, plan_targets, scan_target
from mlgov_runtime.org_scan.report import (
    RollUpDecision,
    Run,
    aggregate,
    complete_results,
    failure_finding,
    mark_rolled_up,
    summary_finding,
    to_markdown,
)
from mlgov_runtime.org_scan.settings import WorkerSettings, coordinator_settings, worker_settings
from mlgov_runtime.registry import endpoint_checks

SERVICE = "org-scan"
entry = Entry(SERVICE)
logger = entry.logger
_home_lock = threading.Lock()
# Time kept back from publishing for the report, the summary and the marks (docs/org-scan.md, 'A first run').
AGGREGATE_RESERVE_SHARE = 0.15
MIN_RESERVE_SECONDS = 15.0


def _home_client(service: str) -> Any:
    with _home_lock:  # the checks' threads may ask at once; creating a client is not thread-safe
        return context_for(None).client(service)


def _region(context: LambdaContext) -> str:
    return context.invoked_function_arn.split(":")[3]


def _ledger(table: str, topic_arn: str) -> ScanLedger:
    return ScanLedger(_home_client("dynamodb"), _home_client("sns"), table, topic_arn)


def _store(bucket: str, mac_key_id: str) -> S3ScanStore:
    return S3ScanStore(_home_client("s3"), bucket, KmsMac(_home_client("kms"), mac_key_id))


# -- coordinator


def plan(state: dict[str, Any]) -> dict[str, Any]:
    settings = coordinator_settings.get()
    scope = Scope.from_dict(settings.scope)
    planned = plan_targets(OrganizationAccounts(_home_client("organizations")), scope)
    run_id = str(state["run_id"])
    key = _store(settings.report_bucket, settings.result_mac_key_id).put_targets(run_id, planned.targets)
    logger.info("Scan planned", extra={"targets": len(planned.targets), "skipped": planned.skipped})
    return {
        "run_id": run_id,
        "started_at": str(state.get("started_at") or datetime.now(UTC).isoformat()),
        "state_machine": str(state.get("state_machine") or ""),
        "bucket": settings.report_bucket,
        "targets_key": key,
        "targets": len(planned.targets),
        "accounts": len({t.account_id for t in planned.targets}),
        "skipped": planned.skipped,
    }


def _aggregate(state: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = coordinator_settings.get()
    planned = state["plan"]
    run_id = str(planned["run_id"])
    store = _store(settings.report_bucket, settings.result_mac_key_id)
    # Only this run's signed plan: anything else fails the run.
    targets = store.targets(str(planned["targets_key"]), run_id)
    # A retry reuses the first attempt's roll-up; a forged one fails the run.
    decided = store.rolled_up(run_id)
    with ThreadPoolExecutor(max_workers=8) as pool:
        fetched = list(pool.map(lambda t: store.result(run_id, t), targets))
    found = {t: r for t, r in zip(targets, fetched, strict=True) if r is not None}
    manifest = ((state.get("map") or {}).get("ResultWriterDetails") or {}).get("Key")
    failures = store.failed_items(manifest)
    results = complete_results(targets, found, failures)
    run = Run(
        run_id=run_id,
        started_at=str(planned.get("started_at", "")),
        source="scheduled",
        role_name=settings.member_role_name,
        regions=tuple(settings.scope.get("regions", ())),
        # The notifier accepts only an ARN: without the state machine's, this function's own.
        resource_arn=str(planned.get("state_machine") or context.invoked_function_arn),
        skipped=planned.get("skipped") or {},
        scope=settings.scope,
    )
    ledger = _ledger(settings.findings_table, settings.findings_topic_arn)
    previous = store.previous_report(run_id)
    checks = {check.NAME: tuple(check.KINDS) for check in endpoint_checks()}
    costs = weekly_purpose_costs(
        context_for("us-east-1").client("ce"), settings.purpose_tag_key, datetime.now(UTC).date()
    )
    reserve = max(MIN_RESERVE_SECONDS, AGGREGATE_RESERVE_SHARE * context.get_remaining_time_in_millis() / 1000)
    done = aggregate(
        run,
        results,
        ledger,
        checks,
        previous,
        costs=costs,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000 - reserve,
        max_per_kind=settings.max_notifications_per_kind,
        decided=RollUpDecision.from_dict(decided) if decided is not None else None,
        keep=lambda decision: store.put_rolled_up(run_id, decision.to_dict()),
    )
    report = done.report
    uri = store.put_report(run_id, report, to_markdown(report))
    summary = summary_finding(report, run, uri, account_of(context), _region(context))
    store_and_publish(ledger, summary)
    # Only once the summary is out: until then they stay due.
    mark_rolled_up(ledger, done.rolled_up, run_id)

    s = report["summary"]
    entry.count("ScanAccountRegionsReached", s["account_regions_reached"])
    entry.count("ScanAccountRegionsUnreachable", s["account_regions_unreachable"])
    entry.count("UnregisteredEndpointDetected", s["violations"])
    stale = sum(1 for r in report["snapshot_ages"] if r.get("status") in ("STALE", "MISSING"))
    entry.count("CatalogSnapshotStale", stale)
    published = report["published"]
    entry.count("ScanFindingsRolledUp", published["rolled_up"])
    entry.count("ScanFindingsLeftForNextRun", published["unpublished"] + published["not_stored"])
    if published["unpublished"] or published["not_stored"]:
        logger.warning(
            "Aggregate ran out of time: the rest is published by the next run",
            extra={"unpublished": published["unpublished"], "not_stored": published["not_stored"]},
        )
    logger.info("Scan aggregated", extra={"status_line": report["status_line"], "report": uri, "summary": s})
    return {
        "status": report["status"],
        "status_line": report["status_line"],
        "report": uri,
        "summary": s,
        "map_failed": bool(state.get("map_error")),
    }


def report_failure(state: dict[str, Any], stage: str, context: LambdaContext) -> dict[str, Any]:
    settings = coordinator_settings.get()
    error = state.get("error") or {}
    finding = failure_finding(
        stage,
        str(error.get("Error") or "Error"),
        str(error.get("Cause") or "unknown"),
        str(state.get("state_machine") or context.invoked_function_arn),
        account_of(context),
        _region(context),
    )
    ledger = channel_store(settings)
    published = store_and_publish(ledger, finding)
    logger.error("Scan failed", extra={"stage": stage, "error": error})
    return {"finding_id": finding.finding_id, "published": published}


@entry.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step, state = event.get("step"), event.get("state") or {}
    if step == "plan":
        return plan(state)
    if step == "aggregate":
        return _aggregate(state, context)
    if step == "report_failure":
        return report_failure(state, str(event.get("stage") or "unknown"), context)
    raise ValueError(f"unknown step {step!r}: expected plan, aggregate or report_failure")


# -- worker


def _batch(event: dict[str, Any]) -> tuple[str, list[Target]]:
    batch_input = event.get("BatchInput") or {}
    items = event.get("Items")
    if not isinstance(items, list) or not batch_input.get("run_id"):
        raise ValueError("expected a Distributed Map batch: {'Items': [...], 'BatchInput': {'run_id': ...}}")
    return str(batch_input["run_id"]), [Target.from_dict(item) for item in items]


def check_options(settings: WorkerSettings) -> dict[str, Any]:
    """The checks' options, and the challenger machine whose RUNNING executions the lineage check believes."""
    machine = settings.challenger_state_machine_arn
    return {**settings.check_options, CHALLENGER_MACHINE_OPTION: machine} if machine else settings.check_options


@entry.handler
def scan(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = worker_settings.get()
    run_id, targets = _batch(event)
    connector = MemberAccounts(
        own_account=account_of(context),
        role_name=settings.member_role_name,
        pool=settings.endpoint_concurrency + 2,
        governance_region=settings.governance_region or _region(context),
    )
    store = _store(settings.report_bucket, settings.result_mac_key_id)
    checks, options = endpoint_checks(), check_options(settings)
    now = datetime.now(UTC)
    index = None
    if settings.serving_index_table:
        from mlgov_runtime.adapters.serving_index import ServingIndex

        index = ServingIndex(_home_client("dynamodb"), settings.serving_index_table)

    def deployments(ctx: CheckContext) -> None:
        # The real-time audit's deployment records, compared as that audit does.
        if found := index:
            ctx.preset(DEPLOYMENTS_KEY, lambda name: found.deployment(ctx.account_id, ctx.region, name))

    summaries = []
    for target in targets:
        result: TargetResult = scan_target(
            target,
            connector,
            checks,
            options=options,
            source="scheduled",
            now=now,
            concurrency=settings.endpoint_concurrency,
            home_clients=_home_client,
            home_account=account_of(context),
            home_region=settings.governance_region or _region(context),
            scan_regions=settings.scan_regions,
            prepare=deployments,
        )
        store.put_result(run_id, result)
        if index:
            index.record_all(result.endpoints)
        reached = result.status == OK
        entry.count("ScanEndpointsChecked", len(result.endpoints))
        log = logger.info if reached else logger.warning
        log("Account/region scanned", extra=result.summary())
        summaries.append(result.summary())
    return {"run_id": run_id, "results": summaries}
