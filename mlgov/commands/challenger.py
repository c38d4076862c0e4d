"""`mlgov challenger status|start|simulate` and `mlgov rollback` (spec scenario 3 stage 2, scenario 1 follow-up 2).

Exit codes: status 3 on REJECT, STOP_INVALID or PAUSED (a data problem); rollback 4 when there is no previous
Approved version (nothing changed; the fallbacks are printed), 5 when the update did not end serving the target
(rolled back by SageMaker, Failed, still updating at the deadline, or a write refused on the way: nothing
Rejected); 2 usage or a refused start or rollback; 1 unexpected failure.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import textwrap
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlgov.commands import common
from mlgov_runtime.core.arns import PACKAGE_ARN

EXIT_NO_PREVIOUS_VERSION = 4
EXIT_NOT_SERVING = 5  # rollback: the update did not end with the target serving
STATE_MACHINE_NAME = "mlgov-challenger"  # stacks/challenger.py names it so


def _config(args: argparse.Namespace) -> Any:
    from mlgov.guardrails import deploying_roles
    from mlgov_runtime.challenger.config import config_from_dict, with_writers

    settings = common.load_settings(args)
    g = settings.guardrails
    # The counts table's writers and deployers, checked against its policy (as the Steps function receives them).
    cfg = config_from_dict(settings.challenger.runtime_config(settings.thresholds))
    return with_writers(cfg, g.metric_writer_role_arns + g.break_glass_role_arns, deploying_roles(settings))


def _rollout(aws: Any) -> Any:
    from mlgov_runtime.challenger.endpoint_rollout import SageMakerRollout

    return SageMakerRollout(aws.client("sagemaker"))


def _region(aws: Any) -> str:
    try:
        return str(aws.region)
    except ValueError as exc:
        raise common.UsageError(str(exc)) from None


def _now() -> datetime:
    return datetime.now(UTC)


# -- status


def _served_model(rollout: Any, endpoint: str, variant: str, model: str) -> Any:
    """A variant's model, or one line saying why it cannot be judged (deleted under the endpoint, or unreadable)."""
    from botocore.exceptions import ClientError

    from mlgov_runtime.challenger.ports import NotFound

    try:
        return rollout.describe_model(model)
    except NotFound:
        why = "does not exist (deleted while the endpoint serves it)"
        fix = f"recreate it or roll the endpoint back (mlgov rollback --endpoint {endpoint} --group GROUP)"
    except ClientError as exc:
        if "AccessDenied" not in str(exc.response.get("Error", {}).get("Code", "")):
            raise
        why = "may not be read by this role (DescribeModel refused)"
        fix = f"the role needs sagemaker:DescribeModel on model/{model}"
    raise common.CommandFailed(
        f"endpoint {endpoint}'s variant {variant} serves model {model}, which {why}: no challenger to judge; {fix}"
    ) from None


def challenger_status(
    aws: Any, cfg: Any, endpoint_name: str, package: str | None, minutes: float | None
) -> dict[str, Any]:
    """The decision the monitor would take now, over the last `minutes` or since the endpoint last changed
    (when the challenger went live)."""
    from mlgov.ops.challenger_status import challenger_variants
    from mlgov_runtime.challenger import logic
    from mlgov_runtime.challenger.counts_policy import UnsealedCountsTable
    from mlgov_runtime.challenger.ports import NotFound
    from mlgov_runtime.challenger.recommendation_metrics import RecommendationMetrics

    rollout = _rollout(aws)
    try:
        endpoint = rollout.describe_endpoint(endpoint_name)
    except NotFound:
        hint = common.endpoint_hint(aws.client("sagemaker"), endpoint_name, _region(aws))
        raise common.UsageError(
            f"endpoint {endpoint_name} does not exist (or this role may not read it){hint}"
        ) from None
    config = rollout.describe_endpoint_config(str(endpoint["EndpointConfigName"]))
    models = {
        str(v["ModelName"]): _served_model(rollout, endpoint_name, str(v["VariantName"]), str(v["ModelName"]))
        for v in config.get("ProductionVariants", [])
        if v.get("ModelName")
    }
    try:
        production, challenger, challenger_package = challenger_variants(endpoint, config, models, package)
    except ValueError as exc:
        fix = (
            f"; --package must name a package one of its variants serves (`mlgov audit --endpoint {endpoint_name} "
            "--format json` lists them), or leave it out to judge the lighter variant"
            if package
            else "; an experiment adds one: mlgov challenger start --package with the candidate's model package ARN"
        )
        raise common.UsageError(f"no challenger to judge: {exc}{fix}") from None
    now = _now()
    if minutes:  # the last N settled minutes (the look leaves out the newest settle_minutes, as the monitor does)
        since = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes + cfg.decision.settle_minutes)
    else:
        since = logic.parse_time(endpoint["LastModifiedTime"])
    # The split to expect is the endpoint's own (the sample-ratio check asks whether traffic follows it).
    weights = {v: w for v, w in logic.variant_weights(endpoint).items() if not math.isnan(w)}
    fraction = cfg.decision.traffic_fraction
    if weights.get(challenger) and sum(weights.values()) > 0:
        fraction = weights[challenger] / sum(weights.values())
        if 0 < fraction < 1 and fraction != cfg.decision.traffic_fraction:
            cfg = replace(cfg, decision=replace(cfg.decision, traffic_fraction=fraction))
    ch = {
        "endpoint_name": endpoint_name,
        "production_variant": production,
        "challenger_variant": challenger,
        "traffic_fraction": fraction,
    }
    table = aws.client("dynamodb") if cfg.metrics.source == "table" else None  # COUNTS_TABLE
    arn = str(endpoint.get("EndpointArn") or "").split(":")
    account = arn[4] if len(arn) > 5 else None  # the table is the endpoint's account's
    metrics = RecommendationMetrics(aws.client("cloudwatch"), cfg.metrics, table, account)
    try:
        look = logic.look(metrics, cfg, ch, since, now)
    except UnsealedCountsTable as exc:  # no verdict from a table the product did not seal
        raise common.CommandFailed(str(exc)) from None
    report = {
        "endpoint_name": endpoint_name,
        "model_package_arn": challenger_package,
        "production_variant": production,
        "challenger_variant": challenger,
        "window": look["window"],
        **look["result"],
    }
    if not minutes and look["elapsed_minutes"] == 0:
        settle = cfg.decision.settle_minutes
        ready = logic.parse_time(look["window"]["start"]) + timedelta(minutes=settle + 1)
        report["reasons"] = [
            f"No settled minute yet: the endpoint last changed at {logic.iso(since)}, the look starts the minute after "
            f"and leaves out CloudWatch's newest {settle:g} minutes. Run it again after {logic.iso(ready)}, or pass "
            "--minutes N to judge the last N minutes.",
            *report["reasons"],
        ]
    return missing_is_not_zero(report)


def missing_is_not_zero(report: dict[str, Any]) -> dict[str, Any]:
    """A count with no datapoint in the whole window is null (no data), never 0: the look sums what it
    found, and a sum of nothing reads as "no impressions" to whoever reads the JSON."""
    stats = report.get("statistics") or {}
    if stats.get("aligned_minutes") == 0:  # the counts are sums over the aligned minutes: here, of none
        for variant in (report.get("variants") or {}).values():
            if isinstance(variant, dict):
                variant.update(impressions=None, clicks=None)
    window = stats.get("window_minutes")
    problem = stats.get("data_problem") or {}
    for gap in problem.get("missing") or ([problem] if problem.get("variant") else []):
        variant = (report.get("variants") or {}).get(gap.get("variant"))
        metric = gap.get("metric")
        whole_window = window is not None and (gap.get("minutes_without_data") or 0) >= window
        if isinstance(variant, dict) and metric in variant and whole_window:
            variant[metric] = None
    return report


def render_status(report: dict[str, Any]) -> str:
    from mlgov_runtime.challenger.findings import pct, ratio_text

    v = report["variants"]
    # A look stopped on its data (PAUSED, forged metrics) has no CTR statistics.
    ratio = report["statistics"].get("ctr_ratio") or {}

    def count(value: float | None, width: int) -> str:
        return f"{'no data':>{width}}" if value is None else f"{value:>{width},.0f}"

    def row(name: str, variant: str, s: dict[str, Any]) -> str:
        return (
            f"  {name:<10} {variant:<24} {count(s.get('impressions'), 12)} {count(s.get('clicks'), 9)}  "
            f"{pct(s.get('ctr')):>7} [{pct(s.get('ctr_lower'))} - {pct(s.get('ctr_upper'))}]"
        )

    lines = [
        f"{report['endpoint_name']}: {report['decision']} after {report['elapsed_minutes']:.0f} min "
        f"({report['window']['start']} .. {report['window']['end']})",
        f"  {'':<10} {'variant':<24} {'impressions':>12} {'clicks':>9}  {'CTR':>7} interval",
        row("production", report["production_variant"], v["production"]),
        row("challenger", report["challenger_variant"], v["challenger"]),
    ]
    # Said once: a reason that states the CTR ratio (the verdict's, or "No verdict yet") already gives it.
    if ratio.get("estimate") is not None and not any("CTR ratio" in r for r in report["reasons"]):
        lines.append(f"  {ratio_text(report)}")
    breached = [g["name"] for g in report["guardrails"] if g["breached"]]
    if breached:
        lines.append(f"  guardrails breached: {', '.join(breached)}")
    lines += [textwrap.fill(r, 110, initial_indent="  - ", subsequent_indent="    ") for r in report["reasons"]]
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    if args.minutes is not None and not 0 < args.minutes <= STATUS_MAX_MINUTES:
        raise common.UsageError(
            f"--minutes must be a number of minutes from 1 to {STATUS_MAX_MINUTES:,} (CloudWatch keeps one-minute "
            f"datapoints 15 days) (got {args.minutes:g})"
        )
    aws = common.aws_context(args)
    _region(aws)
    report = challenger_status(aws, _config(args), args.endpoint, args.package, args.minutes)
    print(json.dumps(report, indent=2) if args.format == "json" else render_status(report))
    return common.EXIT_VIOLATIONS if report["decision"] in ("REJECT", "STOP_INVALID", "PAUSED") else common.EXIT_OK


# -- start


def start_problem(aws: Any, cfg: Any, package_arn: str, endpoint: str | None) -> tuple[str | None, dict[str, Any]]:
    """The state machine's own refusals, checked before starting it: (why not, or None; what was read)."""
    from mlgov_runtime.challenger import logic
    from mlgov_runtime.challenger.ports import NotFound

    rollout = _rollout(aws)
    try:
        package = rollout.describe_package(package_arn)
    except NotFound:
        return f"{package_arn} does not exist.", {}
    group, version = logic.package_group_and_version(package)
    endpoint = endpoint or cfg.endpoints.get(group)
    facts = {"group": group, "version": version, "endpoint_name": endpoint}
    problem = logic.eligibility_problem(package, endpoint) or logic.watched_problem(endpoint, cfg)
    if problem or not endpoint:
        return problem, facts
    try:
        described = rollout.describe_endpoint(endpoint)
    except NotFound:
        return f"endpoint {endpoint} does not exist.", facts
    config = rollout.describe_endpoint_config(str(described["EndpointConfigName"]))
    plan = logic.plan_experiment(described, config, package_arn, version, cfg.decision.traffic_fraction, 1)
    if isinstance(plan, str):
        return plan, facts
    serving = logic.container_packages(rollout.describe_model(plan.production_model))
    production = []
    for arn in serving:
        try:
            production.append(rollout.describe_package(arn))
        except NotFound:
            continue
    older = logic.snapshot_problem(package, production, cfg)
    return (f"{older} {logic.OLDER_SNAPSHOT_NEXT}" if older else None), facts


def package_listing(package_arn: str, status: str) -> str:
    """The command that lists the packages of the ARN's group a user may have meant."""
    region, rest = package_arn.split(":")[3], package_arn.split(":model-package/", 1)[-1]
    group = rest.split("/", 1)[0]
    return (
        f"`aws sagemaker list-model-packages --model-package-group-name {group} --model-approval-status {status} "
        f"--region {region}` lists the group's {status} versions"
    )


def cmd_start(args: argparse.Namespace) -> int:
    from botocore.exceptions import ClientError

    from mlgov_runtime.adapters.executions import start_named
    from mlgov_runtime.challenger.logic import resource_name, stamp

    if not PACKAGE_ARN.fullmatch(args.package):
        raise common.UsageError(
            f"--package {args.package!r} is not a versioned model package ARN "
            "(arn:aws:sagemaker:REGION:ACCOUNT:model-package/GROUP/VERSION; the registration names it)"
        )
    aws = common.aws_context(args)
    region = _region(aws)
    problem, facts = start_problem(aws, _config(args), args.package, args.endpoint)
    if problem and not facts:  # the package itself is not there
        raise common.UsageError(f"refused: {problem} {package_listing(args.package, 'PendingManualApproval')}")
    if problem:
        raise common.UsageError(f"refused: {problem}")
    machine = args.state_machine_arn
    if not machine:
        identity = aws.client("sts").get_caller_identity()
        partition = str(identity["Arn"]).split(":")[1]
        machine = f"arn:{partition}:states:{region}:{identity['Account']}:stateMachine:{STATE_MACHINE_NAME}"
    name = resource_name(f"cli-{facts['endpoint_name']}", f"v{facts['version']}", stamp(_now()))
    run_input = {"model_package_arn": args.package, "endpoint_name": facts["endpoint_name"], "source": "cli"}
    try:
        arn, started = start_named(aws.client("stepfunctions"), machine, name, run_input)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code") or "")
        if code in ("StateMachineDoesNotExist", "InvalidArn", "StateMachineDeleting"):
            where = "--state-machine-arn names" if args.state_machine_arn else "this account/region has"
            raise common.UsageError(
                f"refused: {where} no challenger state machine ({machine}: {code}); nothing was started. Deploy "
                f"the stack (npx cdk deploy MlGovEndpointAudit) or pass --state-machine-arn with the ARN of its "
                f"{STATE_MACHINE_NAME} state machine (another account/region: --region, --profile)"
            ) from None
        raise
    out = {"execution_arn": arn, "started": started, **run_input}
    if args.format == "json":
        print(json.dumps(out))
    else:
        print(f"started {arn}\n  {args.package} as a challenger on {facts['endpoint_name']}")
        print(f"  follow it: mlgov challenger status --endpoint {facts['endpoint_name']}")
    return common.EXIT_OK


# -- simulate

# Bounds a user error cannot pass: NaN fails every comparison, so each check is written as "inside".
STATUS_MAX_MINUTES = 21_600
SIMULATE_MAX_RUNS = 100_000
SIMULATE_MAX_TRAFFIC = 1_000_000
WINDOW_MIN_MINUTES, WINDOW_MAX_MINUTES = 5, 10_080  # as Challenger.max_minutes in mlgov/settings.py


def cmd_simulate(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from mlgov.challenger_simulation import simulate

    if not 0 < args.traffic <= SIMULATE_MAX_TRAFFIC:
        raise common.UsageError(
            f"--traffic must be a positive number of recommendation impressions per minute, at most "
            f"{SIMULATE_MAX_TRAFFIC:,} (got {args.traffic:g})"
        )
    if not 0 <= args.drop < 1:
        raise common.UsageError("--drop is a relative CTR drop between 0 and 1 (0.15 for 15%)")
    if not 1 <= args.runs <= SIMULATE_MAX_RUNS:
        raise common.UsageError(
            f"--runs must be from 1 to {SIMULATE_MAX_RUNS:,} simulated experiments (got {args.runs})"
        )
    if not 1 <= args.minutes <= WINDOW_MAX_MINUTES:
        raise common.UsageError(f"--minutes must be from 1 to {WINDOW_MAX_MINUTES:,} (got {args.minutes})")
    if args.window is not None and not WINDOW_MIN_MINUTES <= args.window <= WINDOW_MAX_MINUTES:
        raise common.UsageError(
            f"--window is the gate's max_minutes, from {WINDOW_MIN_MINUTES} to {WINDOW_MAX_MINUTES:,} as in "
            f"mlgov.challenger.max_minutes (got {args.window:g})"
        )
    cfg = _config(args).decision
    if args.window is not None:
        try:
            cfg = replace(cfg, max_minutes=args.window, min_minutes=min(cfg.min_minutes, args.window))
        except ValueError as exc:
            raise common.UsageError(f"--window: {exc}") from None
    result = simulate(args.traffic, args.drop, args.runs, cfg, minutes=args.minutes, seed=args.seed)
    if args.format == "json":
        print(json.dumps(asdict(result), indent=2))
        return common.EXIT_OK
    rates = result.rates
    median = result.median_minutes_to_reject
    naive_median = result.naive_median_minutes_to_reject
    still = "still running" if args.minutes < cfg.max_minutes else "CONTINUE"
    print(
        f"{result.runs:,} simulated experiments: {args.traffic:,.0f} impressions/min, "
        f"{cfg.traffic_fraction:.0%} to the challenger, challenger CTR {args.drop:.0%} below production's 8%, "
        f"{args.minutes} min watched in {result.look_every}-min looks (window {cfg.max_minutes:g} min)"
    )
    print(f"  {'':<34} {'ours':>10} {'naive 0.9x rule':>16}")
    print(f"  {'REJECT':<34} {rates['REJECT'] * 100:>9.2f}% {result.naive_reject_rate * 100:>15.2f}%")
    print(
        f"  {'median minutes to REJECT':<34} {('-' if median is None else f'{median:.0f}'):>10} "
        f"{('-' if naive_median is None else f'{naive_median:.0f}'):>16}"
    )
    print(f"  {'PROMOTE':<34} {rates['PROMOTE'] * 100:>9.2f}% {'-':>16}")
    print(f"  {'INSUFFICIENT_DATA':<34} {rates['INSUFFICIENT_DATA'] * 100:>9.2f}% {'-':>16}")
    print(f"  {'STOP_INVALID (sample-ratio)':<34} {rates['STOP_INVALID'] * 100:>9.2f}% {'-':>16}")
    print(f"  {f'no verdict yet ({still})':<34} {rates['CONTINUE'] * 100:>9.2f}% {'-':>16}")
    if args.drop == 0:
        print("  A challenger identical to production: every REJECT above is a false rejection.")
    return common.EXIT_OK


# -- rollback


def rollback_report(plan: Any, fallbacks: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = plan.to_dict()
    if fallbacks is not None:
        out["fallbacks"] = fallbacks
    return out


def render_rollback(report: dict[str, Any], dry_run: bool) -> str:
    serving = (
        f"v{report['serving_version']} ({report['serving_status']})"
        if report["serving_package"]
        else f"model {report['serving_model']} (no version of {report['group']})"
    )
    if report.get("finishing"):  # the target serves already; serving_* is the version the rollback replaced
        serving = (
            f"v{report['target']['version']}, rolled back from v{report['serving_version']} "
            f"({report['serving_status']}),"
        )
    lines = [f"{report['endpoint_name']} serves {report['group']} {serving} on variant {report['production_variant']}"]
    target = report.get("target")
    if target:
        for check in report.get("target_checks") or []:
            lines.append(f"  checked v{target['version']}'s {check['kind']} {check['uri']}: {check['state']}")
        served = report["status"] in ("planned", "rolled_back", "rolled_back_not_rejected")
        verb = "would deploy" if dry_run else "deployed" if served else "tried to deploy"
        if report.get("finishing"):
            lines.append(
                f"  {'would finish' if dry_run else 'finished'} an earlier rollback: v{target['version']} already "
                f"serves (model {report['model_name']}, config {report['config_name']}); no new update"
            )
        else:
            lines.append(
                f"  {verb} v{target['version']} ({target['approval_status']}, catalog "
                f"{target['catalog_snapshot_date']}) blue/green: model {report['model_name']}, config "
                f"{report['config_name']}"
            )
        end = report.get("end_state")
        if end:
            lines.append(
                f"  end state: {end['endpoint_status']} on {end['endpoint_config_name']} ({end['serving']} config)"
                + (f": {end['failure_reason']}" if end.get("failure_reason") else "")
            )
        rejects = report["status"] in ("planned", "rolled_back")
        if report["serving_package"] and report["serving_status"] != "Rejected" and rejects:
            verb = "would mark" if dry_run else "marked"
            lines.append(f"  {verb} v{report['serving_version']} Rejected: {report['reason']}")
    if dry_run:
        lines.append("  dry run: nothing changed")
    return "\n".join(lines)


# Injected by tests so a rollback's wait takes no time.
_sleep = time.sleep
_clock = time.monotonic
GROUP_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def group_name(value: str) -> str:
    if not GROUP_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a model package group name (1-63 letters, digits and hyphens, no leading hyphen)"
        )
    return value


def percents(value: str) -> list[int]:
    """10,25,50,100: rising whole percentages of recommendations for the fallback."""
    try:
        steps = [int(p) for p in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a comma list of whole percentages (10,25,50)") from None
    if not steps or any(not 1 <= p <= 100 for p in steps) or steps != sorted(set(steps)):
        raise argparse.ArgumentTypeError(f"{value!r}: rising percentages between 1 and 100 (e.g. 10,25,50,100)")
    return steps


def _share_route(aws: Any, settings: Any, endpoint: str) -> Any:
    """The AppConfig route for `endpoint` with the CLI's sleep, or a usage error naming the missing setting."""
    from mlgov.ops.appconfig import AppConfigRoute, RouteTarget

    r = settings.capacity.fallback_route
    if r is None or endpoint not in r.endpoints:
        raise common.UsageError(
            f"--fallback-percent needs mlgov.capacity.fallback_route (the AppConfig route) listing {endpoint} in "
            "its endpoints; nothing was changed"
        )
    target = RouteTarget(
        r.application_id, r.environment_id, r.configuration_profile_id, r.deployment_strategy_id, r.route_key
    )
    return AppConfigRoute(aws.client("appconfig"), aws.client("appconfigdata"), target, sleep=_sleep), r.share_key


def _progress(message: str) -> None:
    print(f"mlgov: waiting: {message}", file=sys.stderr)


def _group_hint(client: Any, group: str) -> str:
    """The model package group a mistyped --group likely meant; best effort, like common.endpoint_hint."""
    import difflib

    names: list[str] = []
    try:
        for page in client.get_paginator("list_model_package_groups").paginate(PaginationConfig={"MaxItems": 1000}):
            names += [str(g["ModelPackageGroupName"]) for g in page.get("ModelPackageGroupSummaryList", [])]
    except Exception:  # the hint must never turn a usage error into a failure
        names = []
    close = difflib.get_close_matches(group, names, n=1, cutoff=0.8)
    return f"; did you mean {close[0]}?" if close else ""


def cmd_rollback(args: argparse.Namespace) -> int:
    from mlgov.ops.challenger_rollback import (
        ROLLED_BACK,
        STOPPED,
        ArtifactCheck,
        RollbackRefused,
        RollbackRollout,
        RolloutGroups,
        Waiting,
        apply_rollback,
        fallbacks,
        plan_rollback,
    )
    from mlgov_runtime.adapters.artifacts import store_pins

    settings = common.load_settings(args)
    if not 0 < args.wait_minutes <= 24 * 60:
        raise common.UsageError(f"--wait-minutes {args.wait_minutes:g}: must be above 0 and at most 1440")
    if not 1 <= args.poll_seconds <= 600:
        raise common.UsageError(f"--poll-seconds {args.poll_seconds:g}: between 1 and 600")
    aws = common.aws_context(args)
    _region(aws)
    rollout = RollbackRollout(aws.client("sagemaker"))
    artifacts = ArtifactCheck(aws.client("s3"), lambda region: aws.client_in("ecr", region))
    now = _now()
    try:
        plan = plan_rollback(
            rollout,
            rollout,
            args.endpoint,
            args.group,
            args.reason,
            now,
            settings.challenger.rollback_snapshot_warning_days,
            groups=RolloutGroups(rollout),
            artifacts=artifacts,
            execution_role_arn=args.execution_role_arn,
            pins=store_pins(aws),
        )
    except RollbackRefused as exc:
        message = str(exc)
        if message.startswith(f"endpoint {args.endpoint} does not exist"):
            message += common.endpoint_hint(aws.client("sagemaker"), args.endpoint, aws.region)
        elif message.startswith("no such model package group"):
            message += _group_hint(aws.client("sagemaker"), args.group)
        raise common.UsageError(message) from None
    for warning in plan.warnings:
        print(f"mlgov: warning: {warning}", file=sys.stderr)
    if args.fallback_percent and plan.target is not None:
        raise common.UsageError(
            f"v{plan.target['version']} is a previous Approved version: roll back to it (without "
            "--fallback-percent); the fallback share is for when there is none. Nothing was changed"
        )
    if plan.target is None and args.fallback_percent:
        return _gradual_fallback(args, aws, settings, plan)
    if plan.target is None:
        route = getattr(getattr(settings, "capacity", None), "fallback_route", None)
        steps = fallbacks(args.group, args.endpoint, route.model_dump() if route else None, plan.recovery)
        print(
            f"mlgov: no previous Approved version of {args.group} to roll back to "
            f"(the serving one is {'v' + str(plan.serving_version) if plan.serving_version else 'not in the group'});"
            " nothing was changed. Fallbacks:",
            file=sys.stderr,
        )
        for i, step in enumerate(steps, 1):
            print(f"  {i}. {step}", file=sys.stderr)
        if args.format == "json":
            print(json.dumps({**rollback_report(plan, steps), "dry_run": args.dry_run}, indent=2))
        return EXIT_NO_PREVIOUS_VERSION
    if not args.dry_run:
        waiting = Waiting(args.wait_minutes * 60, args.poll_seconds, _clock, _sleep, _progress)
        try:
            plan = apply_rollback(rollout, rollout, plan, now, waiting)
        except RollbackRefused as exc:
            raise common.UsageError(str(exc)) from None
    report = rollback_report(plan)
    report["dry_run"] = args.dry_run
    print(json.dumps(report, indent=2) if args.format == "json" else render_rollback(report, args.dry_run))
    if args.dry_run or plan.status == ROLLED_BACK:
        return common.EXIT_OK
    for step in plan.next_steps:
        # A stopped rollback is one line: what exists, what serves, what to do next.
        print(f"mlgov: {'error: ' if plan.status == STOPPED else ''}{step}", file=sys.stderr)
    return EXIT_NOT_SERVING


def _gradual_fallback(args: argparse.Namespace, aws: Any, settings: Any, plan: Any) -> int:
    from mlgov.ops.challenger_rollback import RollbackRefused, Waiting, shift_to_fallback

    route, share_key = _share_route(aws, settings, args.endpoint)
    if not 0 <= args.step_minutes <= 24 * 60:
        raise common.UsageError(f"--step-minutes {args.step_minutes:g}: between 0 and 1440")
    report = rollback_report(plan)
    if args.dry_run:
        try:
            share = route.value(share_key)
        except Exception as exc:
            raise common.UsageError(f"{common.one_line(str(exc))}: nothing was changed") from None
        report.update(
            dry_run=True, fallback={"share_key": share_key, "share_now": share, "percents": args.fallback_percent}
        )
        steps = ", ".join(map(str, args.fallback_percent))
        text = (
            f"{args.endpoint}: no previous Approved version of {args.group}; would step {share_key} from {share}% "
            f"to {steps}% every {args.step_minutes:g} min. dry run: nothing changed"
        )
        print(json.dumps(report, indent=2) if args.format == "json" else text)
        return common.EXIT_OK
    why = f"mlgov rollback {args.endpoint}: {args.reason}"
    waiting = Waiting(0, 0, _clock, _sleep, _progress)
    try:
        shift = shift_to_fallback(route, share_key, args.fallback_percent, args.step_minutes * 60, waiting, why)
    except RollbackRefused as exc:
        raise common.UsageError(str(exc)) from None
    report.update(dry_run=False, fallback=shift.to_dict())
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        for step in shift.steps:
            print(f"  {step['percent']:>3}% to the fallback: {step['status']}: {step['detail']}")
        print(f"{args.endpoint}: {share_key} {shift.share_before} -> {shift.share_now} ({shift.status})")
    if shift.status != "shifted":
        print(
            f"mlgov: the shift stopped: clients read {share_key}={shift.share_now}; run the command again with the "
            "remaining steps once the route deploys, or set it in AppConfig",
            file=sys.stderr,
        )
        return EXIT_NOT_SERVING
    return common.EXIT_OK


def _answer(args: argparse.Namespace, approve: bool) -> int:
    """Through the approval service, signed as the caller (STS decides who is recorded, never the body)."""
    from mlgov.commands.retirement import send_decision

    if not re.fullmatch(r"rq-[0-9a-f]{20}", args.request):
        raise common.UsageError(f"{args.request!r} is not a request id (rq- and 20 hex digits, from the finding)")
    answer, outcome = send_decision(
        args,
        approve,
        "the gate checks the record, approves the package and promotes it",
        "nothing is promoted; the challenger loses its traffic and the package stays PendingManualApproval",
    )
    print(json.dumps(answer, indent=2) if args.format == "json" else outcome)
    return common.EXIT_OK


def cmd_reapprove(args: argparse.Namespace) -> int:
    """A Rejected package back to Approved, only with a comment, stored with who (STS) and when."""
    from botocore.exceptions import ClientError

    from mlgov.ops import challenger_reapprove as reapproval
    from mlgov_runtime.challenger.logic import iso
    from mlgov_runtime.challenger.ports import NotFound

    if not PACKAGE_ARN.fullmatch(args.package):
        raise common.UsageError(f"--package {args.package!r} is not a versioned model package ARN")
    problem = reapproval.comment_problem(args.comment or "")
    if problem:
        raise common.UsageError(f"refused: {problem}; nothing changed")
    from mlgov_runtime.challenger.endpoint_rollout import SageMakerRollout

    aws = common.aws_context(args)
    sm = aws.client("sagemaker")
    try:
        package = SageMakerRollout(sm).describe_package(args.package)
    except NotFound:
        raise common.UsageError(f"{args.package} does not exist; {package_listing(args.package, 'Rejected')}") from None
    status = package.get("ModelApprovalStatus")
    if status != "Rejected":
        raise common.UsageError(
            f"refused: {args.package} is {status}, not Rejected; nothing to re-approve, nothing changed"
        )
    who = str(aws.client("sts").get_caller_identity()["Arn"])
    text = reapproval.description(who, iso(_now()), args.comment, str(package.get("ApprovalDescription") or ""))
    if not args.dry_run:
        try:
            sm.update_model_package(
                ModelPackageArn=args.package, ModelApprovalStatus="Approved", ApprovalDescription=text
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("AccessDeniedException", "AccessDenied"):
                raise common.UsageError(
                    f"refused by AWS: {who} may not approve packages (only the guardrails' approver roles may); "
                    "nothing changed"
                ) from None
            raise
    out = {
        "model_package_arn": args.package,
        "previous_status": status,
        "approval_status": status if args.dry_run else "Approved",
        "approved_by": who,
        "approval_description": text,
        "dry_run": bool(args.dry_run),
    }
    if args.format == "json":
        print(json.dumps(out, indent=2))
    else:
        verb = "would re-approve" if args.dry_run else "re-approved"
        print(f"{verb} {args.package} as {who}; ApprovalDescription: {text}")
    return common.EXIT_OK


def cmd_approve(args: argparse.Namespace) -> int:
    return _answer(args, approve=True)


def cmd_deny(args: argparse.Namespace) -> int:
    return _answer(args, approve=False)


def register(sub: Any) -> None:
    csub = common.command_group(
        sub, "challenger", "the challenger CTR gate: status, start, approve/deny, reapprove, simulate"
    )

    status = common.command(
        csub, "status", cmd_status, help="the decision the gate would take now (exit 3 on REJECT/STOP_INVALID/PAUSED)"
    )
    status.add_argument("--endpoint", required=True, help="endpoint with a production and a challenger variant")
    status.add_argument("--package", help="the challenger's model package ARN (default: the lighter variant)")
    status.add_argument(
        "--minutes", type=float, help="judge the last N minutes (default: since the endpoint last changed)"
    )

    start = common.command(
        csub, "start", cmd_start, help="start a challenger experiment for a package (the state machine)"
    )
    start.add_argument("--package", required=True, help="model package ARN (shadow_ctr_eligible=true)")
    start.add_argument("--endpoint", help="watched endpoint (default: the one mlgov.challenger.endpoints names)")
    start.add_argument("--state-machine-arn", help=f"default: this account's {STATE_MACHINE_NAME}")

    approve = common.command(
        csub, "approve", cmd_approve, help="approve a promotion waiting for a human (challenger.require_human_approval)"
    )
    approve.add_argument(
        "--request", required=True, metavar="ID", help="the request id from CHALLENGER_APPROVAL_REQUESTED"
    )
    approve.add_argument("--comment", default="", help="why (kept in the package's ApprovalDescription)")
    approve.add_argument("--approval-url", help="the approval service URL (default: MLGOV_APPROVAL_URL)")
    deny = common.command(csub, "deny", cmd_deny, help="deny a promotion waiting for a human: nothing is promoted")
    deny.add_argument(
        "--request", required=True, metavar="ID", help="the request id from CHALLENGER_APPROVAL_REQUESTED"
    )
    deny.add_argument("--reason", required=True, help="why not (recorded with the denial)")
    deny.add_argument("--approval-url", help="the approval service URL (default: MLGOV_APPROVAL_URL)")

    reapprove = common.command(
        csub,
        "reapprove",
        cmd_reapprove,
        help="approve a Rejected package again, with the comment saying why (stored in the registry)",
    )
    reapprove.add_argument("--package", required=True, help="the Rejected model package ARN")
    reapprove.add_argument(
        "--comment", required=True, help="why the rejection no longer applies (20-600 characters; kept with who/when)"
    )
    reapprove.add_argument("--dry-run", action="store_true", help="show the ApprovalDescription, change nothing")

    simulate = csub.add_parser("simulate", help="the gate next to the spec's naive rule on simulated traffic")
    simulate.add_argument("--traffic", type=float, required=True, help="recommendation impressions per minute")
    simulate.add_argument("--drop", type=float, required=True, help="challenger CTR drop, 0..1 (0.15 = 15%%)")
    simulate.add_argument("--runs", type=int, default=10_000, help="simulated experiments (default 10000)")
    simulate.add_argument("--minutes", type=int, default=30, help="minutes watched (default 30, the spec's window)")
    simulate.add_argument("--window", type=float, help="max_minutes of the gate (default: the settings')")
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--format", choices=("table", "json"), default="table")
    simulate.add_argument("--config", type=Path, default=None, help="settings file (default: ./cdk.json)")
    simulate.set_defaults(func=cmd_simulate)

    rollback = common.command(
        sub,
        "rollback",
        cmd_rollback,
        help="roll an endpoint back to the previous Approved version (exit 4: there is none)",
    )
    rollback.add_argument("--endpoint", required=True)
    rollback.add_argument("--group", required=True, type=group_name, help="model package group")
    rollback.add_argument("--reason", default="rolled back by an operator (no reason given)", help="why")
    rollback.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    rollback.add_argument(
        "--wait-minutes", type=float, default=30, help="how long to watch the update (default 30; exit 5 after)"
    )
    rollback.add_argument("--poll-seconds", type=float, default=30, help=argparse.SUPPRESS)
    rollback.add_argument(
        "--execution-role-arn", help="role for the restored model (default: the serving model's; needed if deleted)"
    )
    rollback.add_argument(
        "--fallback-percent",
        type=percents,
        help="no previous version: step the fallback's share of recommendations up, e.g. 10,25,50,100",
    )
    rollback.add_argument("--step-minutes", type=float, default=10, help="minutes between fallback steps (10)")
