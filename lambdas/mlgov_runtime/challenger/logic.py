"""The challenger experiment's steps as stacks/challenger.py's state machine runs them (docs/challenger.md says
what each does). Each is a function of the state and `now`, the state's entered time: a retried step reads the same
window and names the same resources. Pure over challenger/ports.py."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from mlgov_runtime.challenger import findings as f
from mlgov_runtime.challenger.config import COUNTS_TABLE, COUNTS_TABLE_STAT, MINUTE_KEY, SERIES_KEY, ChallengerConfig
from mlgov_runtime.challenger.decision import INSUFFICIENT_DATA, PROMOTE, REJECT, STOP_INVALID
from mlgov_runtime.challenger.gate import CLOUDWATCH_WORDS, PAUSED, SourceWords, decide_minutes
from mlgov_runtime.challenger.ports import Endpoints, Metrics, NotFound, Ports, Throttled, endpoint_configs
from mlgov_runtime.challenger.provenance import what_to_do
from mlgov_runtime.core.findings import STATUS_RESOLVED, iso, store_and_publish

ABANDONED = "ABANDONED"  # the endpoint no longer has both variants: someone changed it under the experiment
RETENTION_KEY = "production_7day_retention_delta"
MANAGED_BY = {"mlgov:managed-by": "challenger"}
# Variant keys describe_endpoint_config returns that CreateEndpointConfig takes for a copied variant.
CHALLENGER_VARIANT_KEYS = (
    "InstanceType",
    "ServerlessConfig",
    "AcceleratorType",
    "VolumeSizeInGB",
    "ModelDataDownloadTimeoutInSeconds",
    "ContainerStartupHealthCheckTimeoutInSeconds",
    "InferenceAmiVersion",
)


class StepError(RuntimeError):
    """A step that cannot go on; the state machine's catch turns it into a CHALLENGER_FAILED finding."""


def parse_time(value: str | datetime) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def resource_name(head: str, *tail: str) -> str:
    """A SageMaker resource name (63 characters of letters, digits, hyphens): the head is cut, never the tail."""
    clean = lambda s: re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9-]", "-", s)).strip("-")  # noqa: E731
    suffix = "-".join(clean(t) for t in tail if t)
    room = 63 - len(suffix) - (1 if suffix else 0)
    return f"{clean(head)[:room].rstrip('-')}-{suffix}" if suffix else clean(head)[:63]


def _minute_up(moment: datetime) -> datetime:
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(minutes=1)


def _minute_down(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def package_group_and_version(package: Mapping[str, Any]) -> tuple[str, int]:
    arn = str(package.get("ModelPackageArn", ""))
    group = package.get("ModelPackageGroupName") or arn.rsplit("/", 2)[-2]
    version = package.get("ModelPackageVersion") or arn.rsplit("/", 1)[-1]
    return str(group), int(version)


def container_packages(model: Mapping[str, Any]) -> list[str]:
    containers = [model["PrimaryContainer"]] if model.get("PrimaryContainer") else list(model.get("Containers", []))
    return [str(c["ModelPackageName"]) for c in containers if c.get("ModelPackageName")]


def eligibility_problem(package: Mapping[str, Any], endpoint: str | None) -> str | None:
    """Why this package may not face live traffic, or None. Only packages the offline gate passed may."""
    arn = package.get("ModelPackageArn", "the package")
    status = package.get("ModelApprovalStatus")
    if status == "Rejected":
        return (
            f"{arn} is Rejected; a Rejected package never goes back to traffic automatically (an engineer "
            "re-approves it after investigation, with a comment saying why the rejection no longer applies)."
        )
    flag = (package.get("CustomerMetadataProperties") or {}).get("shadow_ctr_eligible")
    if flag is None:
        return (
            f"{arn} has no shadow_ctr_eligible metadata, so nothing says it passed the offline gate; only packages "
            "the gate passed (shadow_ctr_eligible=true) may face live traffic."
        )
    if str(flag).strip().lower() != "true":
        return f"{arn} has shadow_ctr_eligible={flag!r}: it did not pass the offline gate."
    if not endpoint:
        group, _ = package_group_and_version(package)
        return f"no endpoint is configured for group {group} (mlgov.challenger.endpoints); add one or pass --endpoint."
    return None


def watched_problem(endpoint: str | None, cfg: ChallengerConfig) -> str | None:
    """The gate changes only the endpoints the stack was deployed for (its role may touch no other)."""
    watched = sorted(set(cfg.endpoints.values()))
    if endpoint and endpoint not in watched:
        return (
            f"endpoint {endpoint} is not watched by the challenger gate (mlgov.challenger.endpoints: "
            f"{', '.join(watched) or 'none'}); add it there and deploy."
        )
    return None


@dataclass(frozen=True)
class ExperimentPlan:
    production: dict[str, Any]  # the production variant, as in the endpoint config
    challenger: dict[str, Any]  # the challenger variant to add
    production_model: str


def plan_experiment(
    endpoint: Mapping[str, Any],
    config: Mapping[str, Any],
    package_arn: str,
    version: int,
    fraction: float,
    instance_count: int,
) -> ExperimentPlan | str:
    """The two variants of the experiment's config, or why the endpoint cannot take a challenger."""
    name = endpoint["EndpointName"]
    status = endpoint.get("EndpointStatus")
    if status != "InService":
        return f"endpoint {name} is {status}; start the challenger once it is InService."
    variants = list(config.get("ProductionVariants", []))
    if any(not v.get("ModelName") for v in variants):
        return (
            f"endpoint {name} serves through inference components; the challenger gate splits traffic between "
            "production variants only."
        )
    if len(variants) != 1:
        return (
            f"endpoint {name} already has {len(variants)} production variants (a challenger may be running: "
            f"mlgov challenger status --endpoint {name})."
        )
    production = dict(variants[0])
    challenger = {k: production[k] for k in CHALLENGER_VARIANT_KEYS if k in production}
    challenger.update(VariantName=f"challenger-v{version}", InitialVariantWeight=fraction)
    if "InstanceType" in challenger:
        challenger["InitialInstanceCount"] = instance_count
    production["InitialVariantWeight"] = 1 - fraction
    return ExperimentPlan(production, challenger, str(production["ModelName"]))


def own_experiment(ports: Ports, config: str, arn: str) -> ExperimentPlan | None:
    """The experiment in `config` when it is one for this package: one production variant and challenger-v<N>
    serving it. Only pipeline roles create configs (SCPs), so one named as a step names it is that step's."""
    variants = {v["VariantName"]: v for v in ports.endpoints.describe_endpoint_config(config)["ProductionVariants"]}
    mine = variants.pop(f"challenger-v{arn.rsplit('/', 1)[-1]}", None)
    if (
        not mine
        or len(variants) != 1
        or arn not in container_packages(ports.endpoints.describe_model(mine["ModelName"]))
    ):
        return None
    [production] = variants.values()
    return ExperimentPlan(dict(production), dict(mine), str(production["ModelName"]))


# ---------------------------------------------------------------------------------------------------------------
# Steps


def start(ports: Ports, cfg: ChallengerConfig, request: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Deploy the package as a second production variant, or refuse (with a finding) and deploy nothing."""
    arn = str(request["model_package_arn"])
    refused: dict[str, Any] = {"refused": True, "model_package_arn": arn}
    try:
        package = ports.registry.describe_package(arn)
    except NotFound:
        return _refuse(ports, {**refused, "endpoint_name": request.get("endpoint_name")}, f"{arn} does not exist.")
    group, version = package_group_and_version(package)
    endpoint_name = request.get("endpoint_name") or cfg.endpoints.get(group)
    ch: dict[str, Any] = {
        **refused,
        "model_package_arn": str(package.get("ModelPackageArn", arn)),
        "group": group,
        "version": version,
        "endpoint_name": endpoint_name,
    }
    problem = eligibility_problem(package, endpoint_name) or watched_problem(endpoint_name, cfg)
    if problem or not endpoint_name:
        return _refuse(ports, ch, problem or "no endpoint.")
    # Whatever event or caller named it: only a package this product's pipeline registered goes live.
    origin = ports.provenance(package)
    if origin:
        return _refuse(ports, ch, origin, refusal="provenance", next_step=what_to_do(ch["model_package_arn"]))
    try:
        endpoint = ports.endpoints.describe_endpoint(endpoint_name)
    except NotFound:
        return _refuse(ports, ch, f"endpoint {endpoint_name} does not exist.")
    model_name = resource_name(group, f"v{version}", stamp(now))
    config_name = resource_name(endpoint_name, f"challenger-v{version}", stamp(now))
    served, pending = endpoint_configs(endpoint)
    config = ports.endpoints.describe_endpoint_config(served)
    fraction = cfg.decision.traffic_fraction
    previous: str | None = served
    if config_name in (served, pending):  # this step's own deploy, whose answer was lost: go on with it
        plan: ExperimentPlan | str | None = own_experiment(ports, config_name, ch["model_package_arn"])
        if plan is None:
            raise StepError(f"endpoint config {config_name} is not the experiment this step makes")
        previous = served if pending == config_name else None
    else:
        plan = plan_experiment(
            endpoint, config, ch["model_package_arn"], version, fraction, cfg.challenger_instance_count
        )
    if isinstance(plan, str):
        return _refuse(ports, ch, plan)
    production_model = ports.endpoints.describe_model(plan.production_model)
    serving = container_packages(production_model)
    if ch["model_package_arn"] in serving:
        return _refuse(ports, ch, f"endpoint {endpoint_name} already serves it in production.")
    older = snapshot_problem(package, [_package_or_none(ports, p) for p in serving], cfg)
    if older:
        return _refuse(ports, ch, older, refusal="older_snapshot", next_step=OLDER_SNAPSHOT_NEXT)
    role = production_model.get("ExecutionRoleArn")
    if not role:
        raise StepError(f"model {plan.production_model} has no ExecutionRoleArn to run the challenger with")

    tags = {**MANAGED_BY, "mlgov:model-package": ch["model_package_arn"][:256]}
    ports.endpoints.create_model(model_name, ch["model_package_arn"], str(role), tags)
    challenger_variant = {**plan.challenger, "ModelName": model_name}
    ports.endpoints.create_endpoint_config(config_name, config, [plan.production, challenger_variant], MANAGED_BY)
    ports.endpoints.update_endpoint(endpoint_name, config_name)
    return {
        **ch,
        "refused": False,
        "approval_status": package.get("ModelApprovalStatus"),
        "catalog_snapshot_date": (package.get("CustomerMetadataProperties") or {}).get("catalog_snapshot_date"),
        "endpoint_arn": endpoint.get("EndpointArn"),
        "production_variant": plan.production["VariantName"],
        "production_model": plan.production_model,
        "production_packages": serving,
        "challenger_variant": challenger_variant["VariantName"],
        "challenger_model": model_name,
        "previous_config": previous,
        "experiment_config": config_name,
        "traffic_fraction": fraction,
        "dashboard_url": f.dashboard_url(ports.region, endpoint_name),
        "started_at": iso(now),
    }


OLDER_SNAPSHOT_NEXT = (
    "Next: retrain on a current catalog snapshot (the retraining pipeline takes today's), or, when an older "
    "snapshot is intended, set mlgov.challenger.allow_older_catalog_snapshot to true, deploy, and start it again."
)


def _package_or_none(ports: Ports, arn: str) -> Mapping[str, Any] | None:
    try:
        return ports.registry.describe_package(arn)
    except NotFound:
        return None


def snapshot_problem(
    candidate: Mapping[str, Any], production: list[Mapping[str, Any] | None], cfg: ChallengerConfig
) -> str | None:
    """Spec scenario 2: a candidate may not be trained on an older catalog than the one production serves."""
    if cfg.allow_older_catalog_snapshot:
        return None
    dates = [
        str((p.get("CustomerMetadataProperties") or {}).get("catalog_snapshot_date") or "")
        for p in production
        if p is not None
    ]
    known = sorted(d for d in dates if d)
    if not known:
        return None  # production records no snapshot: nothing to compare with, and nothing older to refuse
    newest = known[-1]
    mine = str((candidate.get("CustomerMetadataProperties") or {}).get("catalog_snapshot_date") or "")
    if not mine:
        return (
            f"{candidate.get('ModelPackageArn')} records no catalog_snapshot_date, so it cannot be shown to be "
            f"trained on a catalog at least as new as production's ({newest})."
        )
    if mine < newest:
        return (
            f"{candidate.get('ModelPackageArn')} was trained on catalog snapshot {mine}, older than production's "
            f"{newest}: it would drop titles production already recommends."
        )
    return None


def _refuse(
    ports: Ports, ch: dict[str, Any], reason: str, *, refusal: str = "ineligible", next_step: str | None = None
) -> dict[str, Any]:
    severity = "HIGH" if refusal == "provenance" else "MEDIUM"
    finding = f.refused_finding(
        ch, reason, ports.account_id, ports.region, refusal=refusal, next_step=next_step, severity=severity
    )
    store_and_publish(ports.findings, finding)
    return {**ch, "refused": True, "reason": reason, "refusal": refusal, "finding_id": finding.finding_id}


def endpoint_status(ports: Ports, state: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    endpoint = ports.endpoints.describe_endpoint(state["challenger"]["endpoint_name"])
    return {
        "status": endpoint.get("EndpointStatus"),
        "config": endpoint.get("EndpointConfigName"),
        "failure_reason": endpoint.get("FailureReason"),
        "at": iso(now),
    }


def variant_weights(endpoint: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for v in endpoint.get("ProductionVariants", []):
        weight = v.get("CurrentWeight", v.get("DesiredWeight"))
        out[str(v["VariantName"])] = float(weight) if weight is not None else math.nan
    return out


def watch(ports: Ports, cfg: ChallengerConfig, state: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """One look: cumulative counts since the challenger went live, and the decision (decision.py)."""
    ch = state["challenger"]
    endpoint = ports.endpoints.describe_endpoint(ch["endpoint_name"])
    live = variant_weights(endpoint)
    missing = [v for v in (ch["production_variant"], ch["challenger_variant"]) if v not in live]
    if missing or endpoint.get("EndpointConfigName") != ch["experiment_config"]:
        return {
            "decision": ABANDONED,
            "reason": (
                f"endpoint {ch['endpoint_name']} changed under the experiment: it serves config "
                f"{endpoint.get('EndpointConfigName')} (variants {', '.join(live) or 'none'}), not "
                f"{ch['experiment_config']}; someone ran UpdateEndpoint or mlgov rollback."
            ),
        }
    previous = state.get("watch") or {}
    source = run_source(cfg, previous)
    cfg, split = run_split(cfg, previous.get(SPLIT_KEY))
    cap = max((w for _, w in cfg.decision.ramp), default=0.0)  # a ramp lowered mid-run: no step above it
    cfg, ramp = run_ramp(cfg, previous.get(RAMP_KEY))
    history = [list(step) for step in previous.get("ramp_history") or [[0, ch["traffic_fraction"]]]]
    early = [list(step) for step in previous.get("ctr_early_looks") or []] if cfg.decision.ctr_early_share else None
    try:
        result = look(ports.metrics, cfg, ch, parse_time(state["deployed_at"]), now, history, early)
    except Throttled as exc:  # past the client's retries: pause and look again, as for a missing metric
        result = throttled_look(cfg, parse_time(state["deployed_at"]), now, exc)
    result = {**result, SPLIT_KEY: split, RUN_SOURCE_KEY: source, RAMP_KEY: ramp}
    if early is not None:
        result = {**result, "ctr_early_looks": early_looks_after(early, result)}
    result = {**result, **data_problem_step(ports, ch, previous, result)}
    return ramp_step(ports, cfg, ch, parse_time(state["deployed_at"]), now, history, result, cap)


# What a run's error bounds are made of: how the reject budget is split (CTR mixture, front-loaded test,
# guardrails), the early window and the looks it counts, the mixture's tuning, the promotion interval's alpha and
# the window. Recorded in the watch state at the run's first look and read from there by every later look, so a
# deploy during a run applies to new runs only: re-splitting mid-run would spend one alpha twice.
SPLIT_KEY = "ctr_split"
SPLIT_FIELDS = (
    "reject_budget",
    "ctr_reject_share",
    "ctr_early_share",
    "ctr_early_minutes",
    "settle_minutes",
    "min_aligned_minutes",
    "ctr_target_variance",
    "alpha",
    "min_minutes",
    "max_minutes",
)


# The watch state's key for the run's counts source, "cloudwatch" or "table", recorded at its first look (none
# recorded: an older run, CloudWatch). Documented as watch.counts_source; not the statistics' COUNTS_TABLE_STAT.
RUN_SOURCE_KEY = "counts_source"


def run_source(cfg: ChallengerConfig, previous: Mapping[str, Any]) -> str:
    """The function's source at the first look; a later look on another (a deploy mid-run) fails the step."""
    source = cfg.metrics.source
    if not previous:
        return source
    recorded = previous.get(RUN_SOURCE_KEY, "cloudwatch")
    if recorded != source:
        raise StepError(
            f"this run's counts source is {recorded!r} (watch.{RUN_SOURCE_KEY}) but challenger.metrics.source is now "
            f"{source!r} (a deploy during the run): no verdict from two sources. Start a new run to use {source!r}."
        )
    return source


def run_split(cfg: ChallengerConfig, recorded: Any) -> tuple[ChallengerConfig, dict[str, Any]]:
    """The settings this run decides with, and its split to carry to the next look: the function's at the first
    look (nothing recorded), the recorded ones after. A recorded split that does not validate (an edited state)
    raises: no verdict from a split nobody configured."""
    if recorded is None:
        return cfg, {name: float(getattr(cfg.decision, name)) for name in SPLIT_FIELDS}
    where = f"watch.{SPLIT_KEY}"
    if not isinstance(recorded, Mapping) or set(recorded) != set(SPLIT_FIELDS):
        keys = sorted(map(str, recorded)) if isinstance(recorded, Mapping) else type(recorded).__name__
        raise StepError(f"{where} must hold exactly {', '.join(SPLIT_FIELDS)}; got {keys}. The run ends, no verdict.")
    split: dict[str, Any] = {}
    for name in SPLIT_FIELDS:
        value = recorded[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise StepError(f"{where}.{name} must be a finite number, got {value!r}. The run ends, no verdict.")
        split[name] = float(value)
    try:
        decision = replace(cfg.decision, **split)
    except ValueError as exc:
        raise StepError(f"{where} does not validate: {exc}. The run ends, no verdict.") from exc
    return replace(cfg, decision=decision), split


RAMP_KEY = "ramp"  # the run's own, as its split: a ramp a deploy adds would skip the front-loaded test it rests on


def run_ramp(cfg: ChallengerConfig, recorded: Any) -> tuple[ChallengerConfig, list[list[float]]]:
    """The function's ramp at the first look (an older run's next), the recorded one after."""
    if recorded is None:
        return cfg, [[m, w] for m, w in cfg.decision.ramp]
    try:
        if any(type(x) not in (int, float) for s in recorded for x in s):
            raise ValueError("not numbers")
        ramp = tuple((float(m), float(w)) for m, w in recorded)
        return replace(cfg, decision=replace(cfg.decision, ramp=ramp)), [list(s) for s in ramp]
    except (TypeError, ValueError) as exc:
        raise StepError(f"watch.{RAMP_KEY} {recorded!r} does not validate ({exc}). The run ends, no verdict.") from exc


def data_problem_step(
    ports: Ports, ch: Mapping[str, Any], previous: Mapping[str, Any], result: Mapping[str, Any]
) -> dict[str, Any]:
    """PAUSED: the data problem as its own finding (stable evidence); the first look with the data back
    resolves it."""
    if result["decision"] == PAUSED:
        finding = f.data_missing_finding(dict(ch), result["result"], ports.account_id, ports.region)
        store_and_publish(ports.findings, finding)
        return {"paused": True, "data_finding_id": finding.finding_id}
    if previous.get("paused") and result["decision"] != INSUFFICIENT_DATA:
        resolved = f.data_missing_finding(dict(ch), previous["result"], ports.account_id, ports.region)
        resolved.status, resolved.severity = STATUS_RESOLVED, "INFO"
        resolved.title = (
            f"Data back for challenger {ch.get('group', 'package')} v{ch.get('version', '?')}: judging again"
        )
        store_and_publish(ports.findings, resolved)
    return {}


def ramp_step(
    ports: Ports,
    cfg: ChallengerConfig,
    ch: Mapping[str, Any],
    deployed_at: datetime,
    now: datetime,
    history: list[list[float]],
    result: dict[str, Any],
    cap: float = 1.0,
) -> dict[str, Any]:
    """The optional ramp (docs/challenger.md, Traffic ramp): the minute of each change is recorded, so the
    sample-ratio test expects each minute's own split."""
    out = {**result, "ramp_history": history}
    steps = cfg.decision.ramp
    if not steps or result["decision"] != "CONTINUE":
        return out
    if any(g.get("breached") for g in result["result"].get("guardrails", [])):
        return out
    start = _minute_up(deployed_at)
    since = (now - start).total_seconds() / 60
    current = history[-1][1]
    due = [w for minute, w in steps if since >= minute and current < w <= cap]
    if not due:
        return out
    weight = max(due)
    ports.endpoints.set_weights(
        ch["endpoint_name"], {ch["production_variant"]: 1 - weight, ch["challenger_variant"]: weight}
    )
    history.append([int(since), weight])
    return {**out, "ramped_to": weight}


def early_looks_after(early: list[list[float]], result: Mapping[str, Any]) -> list[list[float]]:
    """The front-loaded test's record for the next look: this look's [minutes read, V] added when it was an early
    look (a PAUSED or stopped look computed no CTR statistic and spent nothing)."""
    test = (result["result"].get("statistics") or {}).get("ctr_test") or {}
    looks = (test.get("early") or {}).get("looks")
    return [list(step) for step in looks] if looks else early


def minute_weights(history: list[list[float]], minutes: int) -> list[float | None]:
    """The challenger's configured weight per minute of the window; None in a minute the weight changed."""
    out: list[float | None] = []
    changes = {int(m) for m, _ in history[1:]}
    for i in range(minutes):
        if i in changes:
            out.append(None)
            continue
        weight = history[0][1]
        for m, w in history:
            if m <= i:
                weight = w
        out.append(weight)
    return out


def look(
    metrics: Metrics,
    cfg: ChallengerConfig,
    ch: Mapping[str, Any],
    deployed_at: datetime,
    now: datetime,
    ramp_history: list[list[float]] | None = None,
    early_looks: list[list[float]] | None = None,
) -> dict[str, Any]:
    """The decision over [deployed_at rounded up to the minute, now rounded down - settle_minutes), the whole
    window read again at every look (docs/challenger.md, Watch)."""
    start = _minute_up(deployed_at)
    end = _minute_down(now) - timedelta(minutes=cfg.decision.settle_minutes)
    end = max(start, end)
    production, challenger = ch["production_variant"], ch["challenger_variant"]
    series = metrics.variant_series(ch["endpoint_name"], [production, challenger], start, end)
    minutes = int((end - start).total_seconds() // 60)
    weights = minute_weights(ramp_history, minutes) if ramp_history and len(ramp_history) > 1 else None
    table = cfg.metrics.source == "table"
    words = table_source_words(cfg.metrics.writers) if table else CLOUDWATCH_WORDS
    result = decide_minutes(
        series[production], series[challenger], minutes, cfg.decision, weights, early_looks, words
    ).to_dict()
    if table:
        _table_problems(result, list(getattr(metrics, "problems", [])), ch["endpoint_name"])
    verb = {REJECT: "Rejected", PROMOTE: "Approved"}.get(result["decision"], "Under evaluation")
    return {
        "decision": result["decision"],
        "elapsed_minutes": float(minutes),
        "window": {"start": iso(start), "end": iso(end)},
        "result": result,
        "approval_description": f.approval_description(result, ch["endpoint_name"], ch["traffic_fraction"], verb),
    }


# A throttle past max_minutes gets the missing-metric rule's minutes (at most this many) to clear before the run
# ends inconclusive: well inside the execution's margin (stacks/challenger.py: 6 h past the window and review wait).
THROTTLE_GRACE_MAX_MINUTES = 60


def throttled_look(cfg: ChallengerConfig, deployed_at: datetime, now: datetime, exc: Throttled) -> dict[str, Any]:
    """PAUSED with the throttled read as its data problem; past max_minutes plus the grace, INSUFFICIENT_DATA as a
    missing metric ends (the end step: weight 0, inconclusive). Never a rejection or a promotion."""
    start = _minute_up(deployed_at)
    end = max(start, _minute_down(now) - timedelta(minutes=cfg.decision.settle_minutes))
    elapsed = float(int((end - start).total_seconds() // 60))
    d = cfg.decision
    grace = min(d.missing_metric_minutes, THROTTLE_GRACE_MAX_MINUTES)
    problem = {"variant": "both", "metric": "counts", "minutes_without_data": 0, "throttled": exc.source}
    cause = f"Data problem: {exc.source} was throttled after the client's retries: no counts this look."
    decision, reasons = (
        PAUSED,
        [
            cause,
            "The experiment is paused: no verdict while the read is throttled; the monitor looks again next interval "
            f"and judges once the read succeeds, until {d.max_minutes:g} + {grace:g} minutes (then inconclusive, "
            "never a rejection or a promotion).",
        ],
    )
    if elapsed >= d.max_minutes + grace:
        decision, reasons = (
            INSUFFICIENT_DATA,
            [
                f"The {d.max_minutes:g}-minute window and {grace:g} minutes' grace ended with the read still "
                "throttled: inconclusive, the package is neither rejected nor promoted.",
                cause,
            ],
        )
    result = {
        "decision": decision,
        "reasons": reasons,
        "statistics": {"data_problem": {**problem, "missing": [dict(problem)]}},
    }
    return {
        "decision": decision,
        "elapsed_minutes": elapsed,
        "window": {"start": iso(start), "end": iso(end)},
        "result": result,
        "approval_description": "",
    }


def table_source_words(writers: tuple[str, ...]) -> SourceWords:
    """The gate's words for the table source: forged counts come from the table's writers, found in CloudTrail's
    data events; a missing count is fixed in what the recommender writes to the table."""
    by = f"written into table {COUNTS_TABLE} by one of its writers ({', '.join(writers)})"
    trail = f"(UpdateItem on table {COUNTS_TABLE} in CloudTrail's data events for the table, which must be on)"
    return SourceWords(
        forged_by=f"{by}, or a recommender bug",
        forged_short=f"counts {by}",
        find_writer=f"Find who wrote the items {trail}",
        check_writer=f"Check who wrote the items {trail}",
        count=f"the recommender's {{key}} count in table {COUNTS_TABLE}",
        publish_hint=f"check that the recommender writes every count each minute into table {COUNTS_TABLE} (the "
        "data problem below says how; a wrong variant name is the usual cause).",
        guardrail_hint=f"check that the recommender writes it into table {COUNTS_TABLE} each minute (its own "
        "counts) and that SageMaker publishes Invocation5XXErrors and ModelLatency with this endpoint's "
        "EndpointName and VariantName dimensions.",
    )


def _table_problems(result: dict[str, Any], problems: list[dict[str, Any]], endpoint: str) -> None:
    """With the counts from the table, say what the look found wrong there: a value that is no count was read as
    missing (never 0), and a missing count is fixed in the recommender's writes to the table, not in CloudWatch."""
    stats = result["statistics"]
    stats[COUNTS_TABLE_STAT] = COUNTS_TABLE  # the findings' next steps query the table, not CloudWatch
    if problems:
        stats["counts_table_problems"] = problems[:20]
        first = problems[0]
        at = f" at minute {first['minute']}" if first["minute"] is not None else ""
        result["reasons"].append(
            f"Data problem: {len(problems)} value(s) in table {COUNTS_TABLE} are not counts and were read as "
            f"missing, never 0 (first: {first['series']} {first['attribute']}{at}: {first['value']} "
            f"{first['problem']}). The recommender must ADD numbers >= 0 to each minute's item (UpdateItem ... ADD)."
        )
    if "data_problem" in stats:
        result["reasons"].append(
            f"Data problem: the recommender's counts are read from table {COUNTS_TABLE} (challenger.metrics.source "
            f'table): each minute needs an item {SERIES_KEY}="{endpoint}/<variant>", {MINUTE_KEY}=<epoch seconds of '
            "the minute's start> holding every count, 0 included (UpdateItem ... ADD 0); a minute without its item "
            "is missing."
        )


def reject(ports: Ports, state: Mapping[str, Any]) -> dict[str, Any]:
    """Users first: the challenger's weight to 0, then the registry, the metric and the finding."""
    ch, look_ = state["challenger"], state["watch"]
    result = look_["result"]
    ports.endpoints.set_weights(ch["endpoint_name"], {ch["production_variant"]: 1.0, ch["challenger_variant"]: 0.0})
    description = f.approval_description(result, ch["endpoint_name"], ch["traffic_fraction"], "Rejected")
    ports.registry.reject_package(ch["model_package_arn"], description)
    code = f.reason_code(result)
    ports.emit_rejection(code)
    finding = f.rejected_finding(ch, result, description, ports.account_id, ports.region)
    store_and_publish(ports.findings, finding)
    return {"reason": code, "approval_description": description, "finding_id": finding.finding_id}


def end(ports: Ports, state: Mapping[str, Any]) -> dict[str, Any]:
    """STOP_INVALID, INSUFFICIENT_DATA or ABANDONED: no verdict on the model, so the package is left as it is."""
    ch, look_ = state["challenger"], state["watch"]
    decision = look_["decision"]
    if decision == ABANDONED:
        finding = f.failed_finding(
            ch,
            "Watch",
            look_.get("reason", "the endpoint changed"),
            "The experiment ends without a verdict; the endpoint is left as whoever changed it left it.",
            ports.account_id,
            ports.region,
        )
    elif decision in (STOP_INVALID, INSUFFICIENT_DATA):
        endpoint = ports.endpoints.describe_endpoint(ch["endpoint_name"])
        if ch["challenger_variant"] in variant_weights(endpoint):
            ports.endpoints.set_weights(
                ch["endpoint_name"], {ch["production_variant"]: 1.0, ch["challenger_variant"]: 0.0}
            )
        if "data_problem" in look_["result"]["statistics"]:
            finding = f.data_missing_finding(ch, look_["result"], ports.account_id, ports.region, ended=True)
        else:
            build = f.invalid_finding if decision == STOP_INVALID else f.insufficient_finding
            finding = build(ch, look_["result"], ports.account_id, ports.region)
    else:
        raise StepError(f"end: unexpected decision {decision}")
    store_and_publish(ports.findings, finding)
    return {"outcome": decision, "finding_id": finding.finding_id}


def _replace_config(
    ports: Ports, ch: Mapping[str, Any], variants: list[dict[str, Any]], label: str, now: datetime
) -> str:
    endpoint = ports.endpoints.describe_endpoint(ch["endpoint_name"])
    current = ports.endpoints.describe_endpoint_config(str(endpoint["EndpointConfigName"]))
    name = resource_name(ch["endpoint_name"], label, stamp(now))
    ports.endpoints.create_endpoint_config(name, current, variants, MANAGED_BY)
    ports.endpoints.update_endpoint(ch["endpoint_name"], name)
    return name


def restore(ports: Ports, state: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Production-only config: every variant but the challenger's, production at full weight."""
    ch = state["challenger"]
    endpoint = ports.endpoints.describe_endpoint(ch["endpoint_name"])
    current = ports.endpoints.describe_endpoint_config(str(endpoint["EndpointConfigName"]))
    variants = [dict(v) for v in current.get("ProductionVariants", [])]
    kept = [v for v in variants if v["VariantName"] != ch["challenger_variant"]]
    if len(kept) == len(variants):
        return {"config": endpoint["EndpointConfigName"], "changed": False}
    for v in kept:
        if v["VariantName"] == ch["production_variant"]:
            v["InitialVariantWeight"] = 1.0
    return {"config": _replace_config(ports, ch, kept, "restored", now), "changed": True}


def check_promotion(ports: Ports, state: Mapping[str, Any]) -> dict[str, Any]:
    """Right before approval: a package Rejected meanwhile (by mlgov rollback, by hand) is never approved."""
    ch = state["challenger"]
    status = ports.registry.describe_package(ch["model_package_arn"]).get("ModelApprovalStatus")
    return {"approvable": status != "Rejected", "status": status}


def promote(ports: Ports, state: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """After ApprovePackage: the production variant (name, instances, autoscaling target) serves the
    challenger's model at 100%; the old model leaves the endpoint."""
    ch = state["challenger"]
    status = ports.registry.describe_package(ch["model_package_arn"]).get("ModelApprovalStatus")
    if status != "Approved":
        raise StepError(f"{ch['model_package_arn']} is {status}, not Approved; refusing to promote it")
    if ch["model_package_arn"] not in container_packages(ports.endpoints.describe_model(ch["challenger_model"])):
        raise StepError(f"model {ch['challenger_model']} does not serve {ch['model_package_arn']}; not promoting it")
    endpoint = ports.endpoints.describe_endpoint(ch["endpoint_name"])
    serving = endpoint.get("EndpointConfigName")
    # A redriven run: production may have moved on since. The config this step names (its retry after a lost answer:
    # the same time, so the same name) is its own promotion, to finish.
    own = resource_name(ch["endpoint_name"], f"v{ch['version']}", stamp(now))
    if serving != ch["experiment_config"] and own not in endpoint_configs(endpoint):
        raise StepError(
            f"endpoint {ch['endpoint_name']} serves config {serving}, not this experiment's {ch['experiment_config']}; "
            f"not promoting {ch['model_package_arn']} over it. Next: `mlgov challenger status --endpoint "
            f"{ch['endpoint_name']}`; start a new challenger run to try this package against today's production."
        )
    current = ports.endpoints.describe_endpoint_config(str(serving))
    variants = [dict(v) for v in current.get("ProductionVariants", []) if v["VariantName"] != ch["challenger_variant"]]
    for v in variants:
        if v["VariantName"] == ch["production_variant"]:
            v.update(ModelName=ch["challenger_model"], InitialVariantWeight=1.0)
    config = _replace_config(ports, ch, variants, f"v{ch['version']}", now)
    retag_endpoint(ports.endpoints, endpoint, ch["model_package_arn"])
    return {"promoted_at": iso(now), "config": config, "retired_model": ch["production_model"]}


def retag_endpoint(endpoints: Endpoints, endpoint: Mapping[str, Any], package_arn: str) -> None:
    """Keep the endpoint's ModelPackageName claim true when it has one."""
    arn = endpoint.get("EndpointArn")
    if arn and "ModelPackageName" in endpoints.endpoint_tags(str(arn)):
        endpoints.tag_endpoint(str(arn), {"ModelPackageName": package_arn})


def review(ports: Ports, cfg: ChallengerConfig, state: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The post-promotion review: retention in the days after promotion against the days before the
    challenger started, written into the package's metadata; a finding when it fell too far."""
    ch = state["challenger"]
    days = timedelta(days=cfg.review_after_days)
    promoted, started = parse_time(state["promotion"]["promoted_at"]), parse_time(ch["started_at"])
    metric = cfg.retention_metric
    after = ports.metrics.endpoint_statistic(metric, ch["endpoint_name"], promoted, min(promoted + days, now))
    before = ports.metrics.endpoint_statistic(metric, ch["endpoint_name"], started - days, started)
    package = ports.registry.describe_package(ch["model_package_arn"])
    metadata = {str(k): str(v) for k, v in (package.get("CustomerMetadataProperties") or {}).items()}
    if after is None or before is None or before == 0:
        metadata[RETENTION_KEY] = "unknown"
        ports.registry.write_package_metadata(ch["model_package_arn"], metadata)
        finding = f.review_incomplete_finding(
            ch, f"{metric.namespace}/{metric.metric_name}", cfg.review_after_days, ports.account_id, ports.region
        )
        store_and_publish(ports.findings, finding)
        return {RETENTION_KEY: None, "finding_id": finding.finding_id}
    delta = (after - before) / before
    metadata[RETENTION_KEY] = f"{delta:+.4f}"
    ports.registry.write_package_metadata(ch["model_package_arn"], metadata)
    out: dict[str, Any] = {RETENTION_KEY: delta, "before": before, "after": after}
    if delta < -cfg.max_retention_drop:
        finding = f.retention_finding(
            ch, before, after, delta, cfg.max_retention_drop, cfg.review_after_days, ports.account_id, ports.region
        )
        store_and_publish(ports.findings, finding)
        out["finding_id"] = finding.finding_id
    return out


def deployed_run(ports: Ports, ch: Mapping[str, Any], started: Any) -> dict[str, Any]:
    """After a failed start: the experiment named by its own Start time, if a lost UpdateEndpoint put it there;
    without that time, only the package's challenger configs seen."""
    arn, name = str(ch["model_package_arn"]), str(ch["endpoint_name"])
    own = resource_name(name, f"challenger-v{arn.rsplit('/', 1)[-1]}", stamp(parse_time(started or "1970-01-01")))
    configs = endpoint_configs(ports.endpoints.describe_endpoint(name))
    if not started:
        return {"seen": [c for c in configs if re.fullmatch(re.escape(own[:-14]) + r"\d{14}", c)]}
    plan = own in configs and own_experiment(ports, own, arn)
    if not plan:
        return {}
    return {
        "challenger_variant": plan.challenger["VariantName"],
        "challenger_model": plan.challenger["ModelName"],
        "production_variant": plan.production["VariantName"],
        "experiment_config": own,
        "traffic_fraction": plan.challenger.get("InitialVariantWeight", 0.1),
    }


def mine_live(ports: Ports, ch: Mapping[str, Any], config: str) -> bool:
    variants = ports.endpoints.describe_endpoint_config(config)["ProductionVariants"]
    model = next((v["ModelName"] for v in variants if v["VariantName"] == ch["challenger_variant"]), "")
    return model == ch["challenger_model"] and ch["model_package_arn"] in container_packages(
        ports.endpoints.describe_model(model)
    )


def registry_state(ports: Ports, ch: Mapping[str, Any], where: str, promoted: bool) -> str:
    """The package's status as the registry answers now (a lost answer may have changed it), and what next."""
    arn = ch["model_package_arn"]
    try:
        status = ports.registry.describe_package(arn).get("ModelApprovalStatus")
    except Exception as exc:
        return (
            f"The package's status is unknown ({exc}): `aws sagemaker describe-model-package "
            f"--model-package-name {arn}`."
        )
    said = f"The registry says the package is {status}."
    if status != "Approved" or promoted:
        return said
    return (
        f"{said} It does not serve. To withdraw the approval: `aws sagemaker update-model-package --model-package-arn "
        f"{arn} --model-approval-status PendingManualApproval --approval-description 'failed at {where}'`; or put "
        f"production back (above) and run it again: `mlgov challenger start --package {arn}`."
    )


UNMAPPED_KEY = "endpoint_unmapped"  # the handler's: challenger.endpoints maps the run's group elsewhere now


def report_failure(ports: Ports, state: Mapping[str, Any]) -> dict[str, Any]:
    """A step failed: take the challenger's traffic away if it has any (best effort), then the finding."""
    ch = dict(state.get("challenger") or {})
    ch.setdefault("model_package_arn", (state.get("input") or {}).get("model_package_arn", "unknown"))
    ch.setdefault("endpoint_name", (state.get("input") or {}).get("endpoint_name"))
    error = state.get("error") or {}
    where = str(state.get("failed_state") or "a step")
    message = f"{error.get('Error', 'error')}: {error.get('Cause', '')}".strip(": ")
    found, traffic, promoted = "", "The challenger had not been deployed.", False
    moved, weight = state.get(UNMAPPED_KEY), None
    if moved is not None:
        found = f"challenger.endpoints maps this run's group to {moved or 'no endpoint'} now (a deploy). "
    try:
        if not ch.get("challenger_variant") and not ch.get("refused") and ch["endpoint_name"]:
            seen = ch.update(deployed_run(ports, ch, state.get("started"))) or ch.pop("seen", [])
            found += f"This run's {ch['experiment_config']} was deployed. " if ch.get("challenger_variant") else ""
            if seen:
                traffic = (
                    f"This run's start time is unknown: nothing was taken away from {', '.join(seen)} (this "
                    f"package's challenger; this run's or another's): `aws sagemaker describe-endpoint-config "
                    f"--endpoint-config-name {seen[0]}`."
                )
        if ch.get("challenger_variant") and not ch.get("refused"):
            endpoint = ports.endpoints.describe_endpoint(ch["endpoint_name"])
            served, pending = endpoint_configs(endpoint)
            weight = variant_weights(endpoint).get(ch["challenger_variant"])
            # Configs running this run's own model as production: its promotion.
            model, variant = ch.get("challenger_model"), ch["challenger_variant"]
            mine = [
                c for c in (served, pending) if c and c != ch.get("experiment_config")
                and any(v.get("ModelName") == model and v["VariantName"] != variant
                        for v in ports.endpoints.describe_endpoint_config(c)["ProductionVariants"])
            ]  # fmt: skip
            promoted = bool(mine)
            if promoted or state.get("promotion"):
                traffic = (
                    f"Production serves the challenger's model ({served})."
                    if served in mine
                    else f"The promotion to {pending} is being deployed: production will serve the challenger's model."
                    if promoted
                    else f"Production serves {served}{f' ({pending} deploying)' if pending else ''}, not this run's "
                    "model: it moved on after the promotion."
                )
                promoted = True  # never offer to withdraw or demote a promotion or what production moved on to
            elif weight is None and pending != ch.get("experiment_config"):
                traffic = "The challenger variant is not on the endpoint."
            elif weight == 0:
                traffic = "The challenger variant already has weight 0."
            else:
                if moved is not None and not mine_live(ports, ch, served):
                    raise StepError(f"{served}'s {variant} does not serve {ch['model_package_arn']}; not touched")
                ports.endpoints.set_weights(
                    ch["endpoint_name"], {ch["production_variant"]: 1.0, ch["challenger_variant"]: 0.0}
                )
                traffic = "The challenger variant's weight was set to 0: production serves 100%."
    except Exception as exc:  # reported in the finding: the on-call must know traffic may still flow
        # The share now: the endpoint's, else the ramp's last step.
        last = ((state.get("watch") or {}).get("ramp_history") or [[None]])[-1][-1]
        share = next((w for w in (weight, last) if type(w) in (int, float)), ch.get("traffic_fraction", 0.1))
        traffic = (
            f"Setting the challenger variant's weight to 0 FAILED ({type(exc).__name__}: {exc}); it may still "
            f"take {share:.0%} of traffic."
        )
    registry = registry_state(ports, ch, where, promoted)
    if promoted:
        ch.update(previous_config=None, experiment_config=None)  # never offer to demote the Approved model serving
    finding = f.failed_finding(ch, where, message, found + traffic, ports.account_id, ports.region, registry)
    store_and_publish(ports.findings, finding)
    return {"finding_id": finding.finding_id, "traffic": found + traffic}
