"""`mlgov capacity audit|restore|campaign`: can an endpoint reach zero instances, putting the minimum back, and
scheduling a campaign's minimum."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from mlgov.commands import common

FINDINGS_TABLE_ENV = "MLGOV_FINDINGS_TABLE"


def capacity_policy(settings: Any) -> Any:
    """The check's policy from the app's settings (the Lambda gets the same through its environment)."""
    from mlgov_runtime.capacity.logic import CapacityPolicy
    from mlgov_runtime.capacity.schedule import Window

    cap = settings.capacity
    hours = cap.business_hours
    return CapacityPolicy(
        floor=settings.thresholds.min_endpoint_capacity,
        business_min=cap.business_hours_min_capacity,
        business_hours=Window.parse(hours.days, hours.start, hours.end),
        time_zone=cap.time_zone,
        environment_tag_key=cap.environment_tag_key,
        non_production=frozenset(v.lower() for v in cap.non_production_environments),
        serverless_is_violation=cap.serverless_cold_start_is_violation,
    )


def _audited(args: argparse.Namespace, settings: Any) -> tuple[Any, Any, Any]:
    """The named endpoint's capacity audit: one that does not exist is a usage error (exit 2), one that
    cannot be read a failure (exit 1)."""
    from mlgov_runtime.capacity.logic import Verdict

    aws, checker = _checker(args, settings)
    audit = checker.check_endpoint(args.endpoint)
    if not audit.found:
        hint = common.endpoint_hint(aws.client("sagemaker"), args.endpoint, checker.region)
        raise common.UsageError(
            f"endpoint {args.endpoint} does not exist in {checker.account_id}/{checker.region}{hint}"
        )
    if audit.verdict is Verdict.ERROR:
        raise common.CommandFailed(audit.reasons[0])
    return aws, checker, audit


def _checker(args: argparse.Namespace, settings: Any) -> tuple[Any, Any]:
    from mlgov_runtime.adapters.organizations import ou_ancestors
    from mlgov_runtime.capacity.autoscaling import AutoscalingReader
    from mlgov_runtime.capacity.check import CapacityChecker
    from mlgov_runtime.core.exemptions import ExemptionPolicy

    aws = common.aws_context(args)
    try:
        region = aws.region
    except ValueError as exc:
        raise common.UsageError(str(exc)) from None
    ex = settings.experiment_exemptions
    checker = CapacityChecker(
        AutoscalingReader(aws.client("sagemaker"), aws.client("application-autoscaling")),
        aws.account_id(),
        region,
        capacity_policy(settings),
        ExemptionPolicy(ex.endpoint_name_prefix, frozenset(ex.account_ids), frozenset(ex.organizational_unit_ids)),
        ou_resolver=lambda account: ou_ancestors(aws.client("organizations"), account),
    )
    return aws, checker


def _when(schedule: str) -> str:
    """cron(0 8 ? * MON *) -> MON 08:00; cron(0 6 * * ? *) -> daily 06:00; anything else as it is."""
    parts = schedule.removeprefix("cron(").removesuffix(")").split(" ")
    if len(parts) != 6 or not (parts[0].isdigit() and parts[1].isdigit()):
        return schedule
    days = "daily" if parts[4] in ("?", "*") and parts[2] in ("*", "?") else parts[4]
    return f"{days} {int(parts[1]):02d}:{int(parts[0]):02d}"


def render_table(audits: list[Any]) -> str:
    rows = [("ENDPOINT", "VERDICT", "MIN", "BIZ MIN", "SCHEDULE", "FIRST REASON")]
    for audit in audits:
        schedule = [
            f"{_when(a.schedule)}->{a.min_capacity}"
            for c in audit.capacities
            for a in c.schedule
            if a.min_capacity is not None
        ]
        reason = audit.reasons[0] if audit.reasons else ""
        rows.append(
            (
                audit.endpoint_name,
                audit.verdict.value,
                "-" if audit.minimum is None else str(audit.minimum),
                "-" if audit.business_hours_minimum is None else str(audit.business_hours_minimum),
                ", ".join(schedule) or "-",
                reason[:90] + ("..." if len(reason) > 90 else ""),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join(
        "  ".join(f"{cell:<{widths[i]}}" for i, cell in enumerate(row[:5])) + f"  {row[5]}".rstrip() for row in rows
    )


def cmd_audit(args: argparse.Namespace) -> int:
    from mlgov_runtime.capacity.logic import Verdict

    aws, checker = _checker(args, common.load_settings(args))
    common.require_endpoints(aws.client("sagemaker"), args.endpoint, checker.account_id, checker.region)
    if args.format == "table" and not args.endpoint:
        print(f"Checking every endpoint in {checker.account_id}/{checker.region} ...", file=sys.stderr)
    audits = checker.check_many(args.endpoint)
    if args.format == "json":
        print(json.dumps([a.to_dict() for a in audits], indent=2))
    else:
        print(render_table(audits))
        zero = sum(a.verdict is Verdict.CAN_SCALE_TO_ZERO for a in audits)
        errors = sum(a.verdict is Verdict.ERROR for a in audits)
        print(f"\n{common.count(len(audits), 'endpoint')}: {zero} can scale to zero, {common.count(errors, 'error')}")
    unsafe = any(a.verdict in (Verdict.CAN_SCALE_TO_ZERO, Verdict.ERROR) for a in audits)
    return common.EXIT_VIOLATIONS if unsafe else common.EXIT_OK


def _route(aws: Any, settings: Any, endpoint: str) -> tuple[Any, str | None, Any]:
    """(AppConfig route or None, fallback value, the route settings) for this endpoint."""
    from mlgov.ops.appconfig import AppConfigRoute, RouteTarget

    r = settings.capacity.fallback_route
    if r is None or endpoint not in r.endpoints:
        return None, None, r
    target = RouteTarget(
        r.application_id, r.environment_id, r.configuration_profile_id, r.deployment_strategy_id, r.route_key
    )
    return AppConfigRoute(aws.client("appconfig"), aws.client("appconfigdata"), target), r.fallback_value, r


def cmd_restore(args: argparse.Namespace) -> int:
    from mlgov.ops.capacity_restore import RestoreOptions, Restorer, Step, cold
    from mlgov.ops.capacity_writers import AutoscalingWriter, EndpointWarmth
    from mlgov.ops.finding_log import FindingLog
    from mlgov_runtime.capacity.check import endpoint_arn
    from mlgov_runtime.capacity.logic import KIND_CAMPAIGN_OVERDUE, KINDS, Verdict
    from mlgov_runtime.core.findings import finding_id

    settings = common.load_settings(args)
    floor = settings.thresholds.min_endpoint_capacity
    minimum = args.min if args.min is not None else floor
    if not floor <= minimum <= 1000:
        raise common.UsageError(
            f"--min {minimum}: must be at least thresholds.min_endpoint_capacity ({floor}) and <= 1000"
        )
    if not 0 < args.wait_minutes <= 24 * 60:  # NaN too: a wait it cannot keep would skip the traffic check
        raise common.UsageError(f"--wait-minutes {args.wait_minutes:g}: must be above 0 and at most 1440")
    aws, checker, before = _audited(args, settings)
    if before.verdict is Verdict.EXEMPT:
        print(f"{args.endpoint}: {before.reasons[0]} Nothing to restore.", file=sys.stderr)
        return common.EXIT_OK
    route, fallback, route_settings = (None, None, None) if args.no_fallback else _route(aws, settings, args.endpoint)
    suspended = _suspensions(aws.client("application-autoscaling"), before)
    table = args.findings_table or os.environ.get(FINDINGS_TABLE_ENV)
    preflight(aws, table, route, cold(before))
    log_to = FindingLog(aws.client("dynamodb"), table) if table and not args.dry_run else None
    # Restore's steps belong to the capacity findings, not to an overdue campaign end (campaign-end fixes that).
    restores = [k for k in KINDS if k in before.problems and k != KIND_CAMPAIGN_OVERDUE]
    ids = [finding_id(k, before.account_id, before.region, endpoint_arn(before)) for k in restores]
    logged: set[str] = set()
    log_errors: list[str] = []

    def log(step: Step) -> None:
        if args.format == "table":
            print(f"  [{step.status:<14}] {step.action:<24} {step.target}: {step.detail}", file=sys.stderr)
        for fid in ids if log_to else []:
            try:
                if log_to is not None and log_to.append(fid, {"command": "mlgov capacity restore", **step.to_dict()}):
                    logged.add(fid)
            except Exception as exc:  # the change is made: say so below rather than lose it
                log_errors.append(f"{step.action} not logged to {fid}: {common.one_line(str(exc))}")

    cap = settings.capacity
    options = RestoreOptions(
        minimum=minimum,
        floor=floor,
        max_capacity=cap.max_capacity,
        target_invocations=cap.target_invocations_per_instance,
        scale_in_cooldown=cap.scale_in_cooldown_seconds,
        scale_out_cooldown=cap.scale_out_cooldown_seconds,
        fallback_value=fallback,
        smoke_body=route_settings.smoke_test_body if route_settings and route else None,
        smoke_content_type=route_settings.smoke_test_content_type if route_settings else "application/json",
        wait_seconds=args.wait_minutes * 60,
        dry_run=args.dry_run,
        suspended=suspended,
    )
    if args.format == "table":
        plan = "plan (dry run)" if args.dry_run else "restoring"
        print(f"{plan} {args.endpoint}: {before.verdict.value}, minimum {before.minimum}", file=sys.stderr)
    warmth = EndpointWarmth(aws.client("sagemaker"), aws.client("cloudwatch"), aws.client("sagemaker-runtime"))
    report = Restorer(AutoscalingWriter(aws.client("application-autoscaling")), warmth, route, log).run(before, options)
    after = before if args.dry_run else checker.check_endpoint(args.endpoint)
    body = {
        "endpoint_name": args.endpoint,
        "verdict": after.verdict.value,
        "verdict_before": before.verdict.value,
        "minimum_before": before.minimum,
        "minimum": after.minimum,
        "reasons": after.reasons,
        **report.to_dict(),
        "findings_logged": sorted(logged),
    }
    body["log_errors"] = log_errors
    if args.format == "json":
        print(json.dumps(body, indent=2))
    else:
        if args.dry_run:
            print(f"{args.endpoint}: {before.verdict.value}, minimum {before.minimum}; dry run: nothing changed")
        else:
            print(f"{args.endpoint}: {before.verdict.value} -> {after.verdict.value}, minimum {after.minimum}")
        if not args.dry_run:
            if logged:
                where = f"{len(logged)} finding(s) in {table}"
            elif table:
                where = f"no stored finding: {table} holds no open capacity finding for {args.endpoint} yet"
            else:
                where = "no stored finding (pass --findings-table)"
            print(f"steps logged to {where}; the capacity Lambda resolves the findings when it sees the change")
    if (report.failed or log_errors) and report.changed:
        for error in log_errors:
            print(f"mlgov: error: {error}", file=sys.stderr)
        print("mlgov: these changes were made before the failure; to undo one, run its command:", file=sys.stderr)
        for step in report.changed:
            print(f"  {step.action} {step.target} ({step.detail}): undo with: {step.undo}", file=sys.stderr)
    if log_errors:
        return common.EXIT_FAILURE
    return common.EXIT_VIOLATIONS if after.can_reach_zero or report.failed else common.EXIT_OK


def preflight(aws: Any, table: str | None, route: Any, cold: bool) -> None:
    """Every dependency checked before the first change: the findings table exists and takes this caller's
    writes (a conditional probe that writes nothing), and the route reads when it will be switched. The
    scalable targets were read by the audit just before. Application Auto Scaling has no dry run, so its
    write permissions show only at the first call; the undo commands cover that."""
    from mlgov.ops.finding_log import FindingLog

    problems: list[str] = []
    if table:
        why = FindingLog(aws.client("dynamodb"), table).probe()
        if why:
            problems.append(
                f"findings table {table} cannot be written ({common.one_line(why)}): pass --findings-table with the "
                f"stack's findings table (or unset ${FINDINGS_TABLE_ENV} to log nowhere)"
            )
    if route is not None and cold:
        try:
            route.current()
        except Exception as exc:
            problems.append(
                f"the AppConfig route cannot be read ({common.one_line(str(exc))}): fix it or pass --no-fallback"
            )
    if problems:
        raise common.UsageError("nothing was changed: " + "; ".join(problems))


def _suspensions(autoscaling: Any, audit: Any) -> dict[str, list[str]]:
    """Each registered target's SuspendedState flags that take capacity away, read before any change: one that
    cannot be read stops the restore (exit 1, nothing changed), never "not suspended"."""
    from mlgov.ops.capacity_writers import suspensions

    out: dict[str, list[str]] = {}
    for cap in audit.capacities:
        if not cap.registered or cap.resource_id is None or cap.dimension is None:
            continue
        try:
            out[cap.resource_id] = suspensions(autoscaling, cap.resource_id, cap.dimension)
        except Exception as exc:
            raise common.CommandFailed(
                f"nothing was changed: the SuspendedState of {cap.resource_id} cannot be read "
                f"({common.one_line(str(exc))}): run the command again once DescribeScalableTargets answers"
            ) from None
    return out


def _refuse_suspended(autoscaling: Any, plan: Any) -> None:
    """A campaign is scheduled actions: with ScheduledScalingSuspended none of them fires (exit 2)."""
    from mlgov.ops.capacity_writers import resume_command, suspensions

    try:
        flags = suspensions(autoscaling, plan.resource_id, plan.dimension)
    except Exception as exc:
        raise common.CommandFailed(
            f"nothing was scheduled: the SuspendedState of {plan.resource_id} cannot be read "
            f"({common.one_line(str(exc))}): run the campaign again once DescribeScalableTargets answers"
        ) from None
    resume = resume_command(plan.resource_id, plan.dimension)
    if "ScheduledScalingSuspended" in flags:
        raise common.UsageError(
            f"nothing was scheduled: the scalable target {plan.resource_id} has ScheduledScalingSuspended, so none "
            f"of the campaign's scheduled actions would fire; resume it with mlgov capacity restore --endpoint "
            f"{plan.endpoint_name} (it registers with every suspension off) or {resume}, then run the campaign again"
        )
    if "DynamicScalingOutSuspended" in flags:
        plan.warnings.append(
            f"the scalable target {plan.resource_id} has DynamicScalingOutSuspended: target tracking adds nothing "
            f"above the campaign's MinCapacity {plan.instances}; resume it with {resume}"
        )


def _campaign_name(value: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,59}", value):
        raise argparse.ArgumentTypeError(f"{value!r}: 1-60 letters, digits and hyphens")
    return value


def cmd_campaign(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from mlgov.ops.capacity_campaign import CampaignRefused, ScheduleStore, plan_campaign

    settings = common.load_settings(args)
    per_instance = args.per_instance or settings.capacity.target_invocations_per_instance
    if args.peak is None:  # --peak-rps (the contract's name): per second, the plan counts per minute
        args.peak = args.peak_rps * 60
    if not 0 <= args.lead_minutes <= 24 * 60:
        raise common.UsageError(f"--lead-minutes {args.lead_minutes:g}: between 0 and 1440")
    aws, _, audit = _audited(args, settings)
    try:
        plan = plan_campaign(
            audit,
            name=args.name,
            peak_per_minute=args.peak,
            per_instance_per_minute=per_instance,
            floor=settings.thresholds.min_endpoint_capacity,
            start=args.start,
            end=args.end,
            now=_campaign_now(),
            lead=timedelta(minutes=args.lead_minutes),
            variant=args.variant,
            instance_limit=max(settings.capacity.max_capacity, 1000),
        )
    except CampaignRefused as exc:
        raise common.UsageError(f"nothing was scheduled: {exc}") from None
    store = ScheduleStore(aws.client("application-autoscaling"), aws.client("sagemaker"))
    _refuse_suspended(store.autoscaling, plan)
    for warning in plan.warnings:
        print(f"mlgov: warning: {warning}", file=sys.stderr)
    _refuse_overlap(store, audit, plan)
    raised, done, failed = ([], [], False) if args.dry_run else _schedule(store, audit, plan)
    if failed:
        return common.EXIT_FAILURE
    body = {
        **plan.to_dict(),
        "dry_run": args.dry_run,
        "scheduled": done,
        "raised": raised,
        "planned_at": datetime.now(UTC).isoformat(),
    }
    if args.format == "json":
        print(json.dumps(body, indent=2))
    else:
        verb = "would schedule" if args.dry_run else "scheduled"
        print(f"{plan.endpoint_name}/{plan.variant}: {plan.formula} instances for {args.peak:g} invocations/min")
        for up in plan.raised:
            a = up.action
            print(
                f"  {'would raise' if args.dry_run else 'raised'} weekly {a.name}: {a.schedule} {a.timezone or 'UTC'} "
                f"MinCapacity {a.min_capacity} -> {up.min_capacity} until mlgov capacity campaign-end"
            )
        for action in plan.actions:
            print(
                f"  {verb} {action.name}: {action.schedule} UTC -> MinCapacity {action.min_capacity}, "
                f"MaxCapacity {action.max_capacity}"
            )
        if args.dry_run:
            print("  dry run: nothing changed")
    return common.EXIT_OK


def _refuse_overlap(store: Any, audit: Any, plan: Any) -> None:
    """One record per campaign name, and one campaign per raised action: a second record of an action already
    raised would take the raised value for the original (exit 2, nothing changed)."""
    from mlgov.ops.capacity_campaign import campaign_ends
    from mlgov_runtime.capacity.campaign_record import records

    tags = store.endpoint_tags(audit.endpoint_arn)
    ends = campaign_ends(tags)
    if plan.name in ends or records(tags, plan.name):
        raise common.UsageError(
            f"nothing was scheduled: campaign {plan.name} is already recorded on {plan.endpoint_name}: run mlgov "
            f"capacity campaign-end --endpoint {plan.endpoint_name} --name {plan.name} (--cancel before its end) first"
        )
    mine = {r.action.name for r in plan.raised}
    for other in ends:
        for _, rec in records(tags, other):
            if rec is not None and rec.variant == plan.variant and rec.action in mine:
                raise common.UsageError(
                    f"nothing was scheduled: scheduled action {rec.action} is raised by campaign {other}: end it "
                    f"first (mlgov capacity campaign-end --endpoint {plan.endpoint_name} --name {other})"
                )


def _schedule(store: Any, audit: Any, plan: Any) -> tuple[list[str], list[str], bool]:
    """Record, schedule, raise, in that order: the record comes first, then the one-time actions campaign-end
    believes it by, so that campaign-end --cancel undoes any partial run that raised something. (raised,
    scheduled, failed): a failure names every change made and how to undo it."""
    from mlgov.ops.capacity_campaign import put_back_command
    from mlgov.ops.capacity_writers import AutoscalingWriter

    arn, raised_done, done, undo = audit.endpoint_arn, [], [], []
    end = f"mlgov capacity campaign-end --endpoint {plan.endpoint_name} --name {plan.name} --cancel"
    step = f"recording the campaign in tags of {plan.endpoint_name}"
    try:
        store.tag(arn, plan.tags())
        undo.append(f"aws sagemaker delete-tags --resource-arn {arn} --tag-keys {' '.join(plan.tags())}")
        writer = AutoscalingWriter(store.autoscaling)
        for action in plan.actions:
            step = f"scheduling {action.name}"
            writer.put_scheduled_action(plan.resource_id, plan.dimension, action)
            done.append(action.name)
            undo.append(
                f"aws application-autoscaling delete-scheduled-action --service-namespace sagemaker "
                f"--scheduled-action-name {action.name} --resource-id {plan.resource_id} "
                f"--scalable-dimension {plan.dimension}"
            )
        for raised in plan.raised:
            step = f"raising {raised.action.name} to MinCapacity {raised.min_capacity}"
            raw = store.action(plan.resource_id, plan.dimension, raised.action.name)
            if raw is None:
                raise RuntimeError(f"scheduled action {raised.action.name} disappeared while scheduling")
            store.put(raw, raised.min_capacity, raised.max_capacity)
            raised_done.append(raised.action.name)
            undo.append(put_back_command(raw, int(raised.action.min_capacity), raised.action.max_capacity))
    except Exception as exc:
        print(f"mlgov: error: {step} failed: {common.one_line(str(exc))}", file=sys.stderr)
        if not undo:
            print("mlgov: nothing was changed", file=sys.stderr)
            return [], [], True
        changed = ", ".join(["the campaign's record (endpoint tags)", *done, *(f"raised {n}" for n in raised_done)])
        whole = end if done else undo[0]  # without its one-time actions campaign-end does not believe the record
        print(f"mlgov: changed before the failure: {changed}; to undo all of it run: {whole}", file=sys.stderr)
        print("mlgov: or undo each by hand:", file=sys.stderr)
        for command in undo:
            print(f"  {command}", file=sys.stderr)
        return raised_done, done, True
    return raised_done, done, False


def cmd_campaign_end(args: argparse.Namespace) -> int:
    """Put back what `mlgov capacity campaign` raised, from the record on the endpoint, and remove the campaign's
    one-time actions. It believes the record only as far as AWS agrees: an action is put back only while it holds
    exactly the values the record says the campaign set, and never below the floor."""
    from mlgov.ops.capacity_campaign import ActionLost, ScheduleStore, above_set, campaign_ends, end_key
    from mlgov_runtime.capacity.campaign_record import ACTION_PREFIX, PREFIX, Anchor, anchors, records
    from mlgov_runtime.capacity.logic import scheduled_action

    settings = common.load_settings(args)
    floor = settings.thresholds.min_endpoint_capacity
    aws, _, audit = _audited(args, settings)
    store = ScheduleStore(aws.client("application-autoscaling"), aws.client("sagemaker"))
    tags = store.endpoint_tags(audit.endpoint_arn)
    ends, recorded = campaign_ends(tags), records(tags, args.name)
    own = [(c.resource_id, c.dimension) for c in audit.capacities if c.kind == "instance" and c.resource_id]
    found = [
        (r, d, raw)
        for r, d in own
        for side in ("out", "in")
        if (raw := store.action(r, d, f"{ACTION_PREFIX}{args.name}-{side}")) is not None
    ]
    one_time = [(r, d, str(raw["ScheduledActionName"])) for r, d, raw in found]
    if not one_time:
        if args.name in ends or recorded:
            keys = " ".join(k for k in tags if k.startswith(f"{PREFIX}{args.name}:"))
            raise common.UsageError(
                f"campaign {args.name} is recorded on {args.endpoint} but not scheduled: neither "
                f"{ACTION_PREFIX}{args.name}-out nor -in exists, so its record (endpoint tags) is not believed and "
                f"nothing was put back; remove the record with aws sagemaker delete-tags --resource-arn "
                f"{audit.endpoint_arn} --tag-keys {keys}"
            )
        raise common.UsageError(f"no campaign {args.name} is recorded on {args.endpoint}: nothing to end")
    # The end and the minimum come from the one-time actions: the tags are anyone's to write
    anchor = anchors(scheduled_action(raw) for _, _, raw in found).get(args.name, Anchor())
    end, now = anchor.end, _campaign_now()
    if end is None and not args.cancel:
        raise common.UsageError(
            f"campaign {args.name} has no readable end ({ACTION_PREFIX}{args.name}-in is missing or not an at() "
            "schedule): pass --cancel to end it now"
        )
    if end is not None and end > now and not args.cancel:
        raise common.UsageError(
            f"campaign {args.name} runs until {end.isoformat()}: its raised weekly actions hold its minimum until "
            "then; pass --cancel to end it now"
        )
    restored: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    removed: list[str] = []
    plan: list[tuple[str, Any, Any, int, int | None]] = []
    for key, rec in recorded:
        if rec is None:
            skipped.append({"tag": key, "reason": f"the record {tags[key]!r} does not read: left as is"})
            continue
        if not anchor.believes(rec):
            skipped.append(
                {
                    "name": rec.action,
                    "reason": f"the record says the campaign set MinCapacity {rec.min_set}, not the "
                    f"{anchor.min_set} of {ACTION_PREFIX}{args.name}-out: not believed, left as is",
                }
            )
            removed.append(key)
            continue
        resource = f"endpoint/{args.endpoint}/variant/{rec.variant}"
        dimension = next((d for r, d in own if r == resource), "sagemaker:variant:DesiredInstanceCount")
        raw = store.action(resource, dimension, rec.action)
        held = raw.get("ScalableTargetAction", {}) if raw else {}
        if raw is None:
            skipped.append({"name": rec.action, "reason": "it no longer exists"})
        elif (held.get("MinCapacity"), held.get("MaxCapacity")) != (rec.min_set, rec.max_set):
            skipped.append(
                {
                    "name": rec.action,
                    "reason": f"it holds MinCapacity {held.get('MinCapacity')} MaxCapacity {held.get('MaxCapacity')}, "
                    f"not the {rec.min_set}/{rec.max_set} the campaign set: changed since, left as is",
                }
            )
        elif (forged := above_set(rec)) is not None:
            skipped.append(_not_believed(rec, raw, forged))
        else:
            low = max(rec.min_before, floor)
            high = None if rec.max_before is None else max(rec.max_before, low)
            plan.append((key, rec, raw, low, high))
            continue
        removed.append(key)  # nothing left for this command to put back from this record
    failed = False
    done_keys: list[str] = []
    try:
        for key, rec, raw, low, high in plan:
            if not args.dry_run:
                store.put(raw, low, high)
                store.untag(audit.endpoint_arn, [key])
                done_keys.append(key)
            restored.append(
                {
                    "name": rec.action,
                    "variant": rec.variant,
                    "schedule": raw["Schedule"],
                    "timezone": raw.get("Timezone"),
                    "min_capacity": low,
                    "max_capacity": high,
                    "min_capacity_during_campaign": rec.min_set,
                    "max_capacity_during_campaign": rec.max_set,
                    **({"clamped_to_floor": True} if low != rec.min_before else {}),
                }
            )
        if not args.dry_run:
            if removed:
                store.untag(audit.endpoint_arn, removed)
            if args.name in ends:
                store.untag(audit.endpoint_arn, [end_key(args.name)])
            # Last: the one-time actions are what a second run believes the record by
            for resource, dimension, name in one_time:
                store.delete(resource, dimension, name)
    except Exception as exc:
        failed = True
        # An action lost on the way carries the command that re-creates it: never cut
        text = common.one_line(str(exc), limit=4000 if isinstance(exc, ActionLost) else 500)
        print(f"mlgov: error: ending campaign {args.name} failed: {text}", file=sys.stderr)
        names = ", ".join(r["name"] for r in restored) or "nothing"
        print(
            f"mlgov: put back before the failure: {names}; the rest is still recorded on {args.endpoint}: run the "
            "same command again to finish",
            file=sys.stderr,
        )
    for skip in skipped:
        print(f"mlgov: warning: {skip.get('name', skip.get('tag'))} not put back: {skip['reason']}", file=sys.stderr)
    body = {
        "endpoint_name": args.endpoint,
        "campaign": args.name,
        "dry_run": args.dry_run,
        "restored": restored,
        "skipped": skipped,
        "removed_actions": [name for _, _, name in one_time],
        "ended_at": now.isoformat(),
    }
    if failed:
        return common.EXIT_FAILURE
    if args.format == "json":
        print(json.dumps(body, indent=2))
    else:
        verb = "would put back" if args.dry_run else "put back"
        for r in restored:
            top = "no MaxCapacity" if r["max_capacity"] is None else f"MaxCapacity {r['max_capacity']}"
            print(f"  {verb} {r['name']}: MinCapacity {r['min_capacity']}, {top}")
        for name in body["removed_actions"]:
            print(f"  {'would remove' if args.dry_run else 'removed'} {name}")
        if args.dry_run:
            print("  dry run: nothing changed")
    return common.EXIT_OK


def _not_believed(rec: Any, raw: dict[str, Any], forged: str) -> dict[str, str]:
    """A record whose "before" is above what the campaign set: putting it back would raise the action above the
    campaign every week from now on. Left raised (what the campaign set, never more) for a human who knows its
    value before the campaign, with the command that puts it back once N (and M) are filled in."""
    from mlgov.ops.capacity_campaign import put_back_command

    by_hand = put_back_command(raw, "N", None if rec.max_set is None else "M")
    top = (
        ""
        if rec.max_set is None
        else f", M its maximum before (at most {rec.max_set}; if it had none, delete the action and put it without "
        "MaxCapacity)"
    )
    held = f"MinCapacity {rec.min_set}" + ("" if rec.max_set is None else f" MaxCapacity {rec.max_set}")
    return {
        "name": rec.action,
        "reason": f"its record is not believed: {forged}, and a campaign only raises: left as is at the campaign's "
        f"{held}; put it back by hand with N its minimum before the "
        f"campaign{top}: {by_hand}",
        "put_back_by_hand": by_hand,
    }


def _campaign_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def register(sub: Any) -> None:
    commands = common.command_group(sub, "capacity", "endpoints that can scale to zero, and putting the minimum back")
    audit = common.command(commands, "audit", cmd_audit, help="every endpoint's minimum, schedule and verdict")
    audit.add_argument("--endpoint", action="append", metavar="NAME", help="endpoint (repeatable; default all)")
    restore = common.command(commands, "restore", cmd_restore, help="put an endpoint's minimum capacity back")
    restore.add_argument("--endpoint", required=True, metavar="NAME")
    restore.add_argument("--min", type=int, help="the minimum to set (default thresholds.min_endpoint_capacity)")
    restore.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    restore.add_argument("--no-fallback", action="store_true", help="never switch the AppConfig route")
    restore.add_argument("--wait-minutes", type=float, default=15, help="how long to wait for the endpoint to serve")
    restore.add_argument("--findings-table", help=f"findings table to log each step to (default ${FINDINGS_TABLE_ENV})")
    campaign = common.command(
        commands,
        "campaign",
        cmd_campaign,
        help="schedule the minimum instances for a campaign's expected peak (spec scenario 4)",
    )
    campaign.add_argument("--endpoint", required=True, metavar="NAME")
    campaign.add_argument("--variant", help="instance variant (default: the endpoint's only one)")
    campaign.add_argument("--name", required=True, type=_campaign_name, help="campaign name, e.g. manga-monday")
    peak = campaign.add_mutually_exclusive_group(required=True)
    peak.add_argument("--peak", type=common.positive_number, help="expected peak invocations per minute")
    peak.add_argument(
        "--peak-rps",
        type=common.positive_number,
        metavar="N",
        help="expected peak invocations per second (the same as --peak N*60)",
    )
    campaign.add_argument(
        "--per-instance",
        type=common.positive_number,
        help="invocations per minute one instance takes (default capacity.target_invocations_per_instance)",
    )
    campaign.add_argument("--start", required=True, type=common.aware_time, help="campaign start, ISO with offset")
    campaign.add_argument("--end", required=True, type=common.aware_time, help="campaign end, ISO with offset")
    campaign.add_argument("--lead-minutes", type=float, default=30, help="scale out this long before (default 30)")
    campaign.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    ending = common.command(
        commands,
        "campaign-end",
        cmd_campaign_end,
        help="put back the weekly scheduled actions a campaign raised, after its end",
    )
    ending.add_argument("--endpoint", required=True, metavar="NAME")
    ending.add_argument("--name", required=True, type=_campaign_name, help="the campaign's name")
    ending.add_argument("--cancel", action="store_true", help="end the campaign before its recorded end")
    ending.add_argument("--dry-run", action="store_true", help="print what would be put back, change nothing")
