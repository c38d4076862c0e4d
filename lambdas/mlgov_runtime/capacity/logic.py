"""Can an endpoint reach zero instances? Pure rules over what SageMaker and Application Auto Scaling
report; the reader is injected (autoscaling.py, or a fake in unit tests)."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from mlgov_runtime.capacity.schedule import (
    ScheduleError,
    Window,
    live_timeline,
    lowest_in,
    to_utc_week,
    week_start,
    weekly_times,
)
from mlgov_runtime.core.endpoint_reads import EndpointReads
from mlgov_runtime.core.findings import endpoint_identity

VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
COPIES_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
PROVISIONED_DIMENSION = "sagemaker:variant:DesiredProvisionedConcurrency"

KIND_ZERO = "ENDPOINT_CAN_SCALE_TO_ZERO"
KIND_NO_AUTOSCALING = "ENDPOINT_WITHOUT_AUTOSCALING"
KIND_SINGLE_INSTANCE = "ENDPOINT_SINGLE_INSTANCE"
KIND_COLD_START = "SERVERLESS_COLD_START_RISK"
KIND_ERROR = "CAPACITY_CHECK_ERROR"
KIND_CAMPAIGN_OVERDUE = "CAPACITY_CAMPAIGN_END_OVERDUE"
NEW_HOST_GRACE_S = 1800  # a host younger than this without components is a deployment under way
# Components come once the host is InService: at that state change a host this young is new, however slow its
# creation (a host going InService later than this after its creation is an update).
FIRST_IN_SERVICE_S = 6 * 3600
KINDS = (KIND_ZERO, KIND_ERROR, KIND_NO_AUTOSCALING, KIND_SINGLE_INSTANCE, KIND_COLD_START, KIND_CAMPAIGN_OVERDUE)


class Verdict(enum.StrEnum):
    CAN_SCALE_TO_ZERO = "CAN_SCALE_TO_ZERO"
    ERROR = "ERROR"
    NO_AUTOSCALING = "NO_AUTOSCALING"
    SINGLE_INSTANCE = "SINGLE_INSTANCE"
    COLD_START_RISK = "COLD_START_RISK"
    COMPLIANT = "COMPLIANT"
    EXEMPT = "EXEMPT"


# The verdict is the worst problem found (KINDS is worst first); an overdue campaign end costs money but leaves
# capacity as safe as it was, so it has no verdict of its own.
_VERDICT_OF_KIND = {
    KIND_ZERO: Verdict.CAN_SCALE_TO_ZERO,
    KIND_ERROR: Verdict.ERROR,
    KIND_NO_AUTOSCALING: Verdict.NO_AUTOSCALING,
    KIND_SINGLE_INSTANCE: Verdict.SINGLE_INSTANCE,
    KIND_COLD_START: Verdict.COLD_START_RISK,
}


class EndpointGone(Exception):
    """The endpoint does not exist."""


class CapacityReadError(Exception):
    """Something could not be read (access denied, throttled after retries, service error)."""


class CapacityReader(EndpointReads, Protocol):
    def inference_components(self, endpoint_name: str) -> list[str]: ...
    def describe_inference_component(self, component: str) -> Mapping[str, Any]: ...
    def endpoint_of_component(self, component: str) -> str: ...
    def scalable_targets(self, resource_ids: Sequence[str] | None) -> list[Mapping[str, Any]]: ...
    def scaling_policies(self, resource_id: str | None) -> list[Mapping[str, Any]]: ...
    def scheduled_actions(self, resource_id: str | None) -> list[Mapping[str, Any]]: ...


@dataclass(frozen=True)
class CapacityPolicy:
    """What the settings ask for (thresholds.min_endpoint_capacity and the capacity section)."""

    floor: int = 1
    business_min: int = 2
    business_hours: Window = field(default_factory=lambda: Window(tuple(range(7)), 360, 1440))
    time_zone: str = "UTC"
    environment_tag_key: str = "environment"
    non_production: frozenset[str] = frozenset({"dev", "development", "test", "staging", "sandbox"})
    serverless_is_violation: bool = False


@dataclass
class ScheduledAction:
    name: str
    schedule: str
    timezone: str | None
    min_capacity: int | None
    max_capacity: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "schedule": self.schedule,
            "timezone": self.timezone,
            "min_capacity": self.min_capacity,
            "max_capacity": self.max_capacity,
        }


@dataclass
class TargetCapacity:
    """One capacity that can scale: a variant's instances, or an inference component's copies."""

    name: str
    kind: str  # instance | serverless | inference-component
    resource_id: str | None = None
    dimension: str | None = None
    registered: bool = False
    min_capacity: int | None = None
    max_capacity: int | None = None
    current: int | None = None
    policies: list[str] = field(default_factory=list)
    schedule: list[ScheduledAction] = field(default_factory=list)
    lowest: int | None = None
    business_hours_minimum: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "resource_id": self.resource_id,
            "scalable_target": self.registered,
            "min_capacity": self.min_capacity,
            "max_capacity": self.max_capacity,
            "current": self.current,
            "scaling_policies": self.policies,
            "scheduled_actions": [a.to_dict() for a in self.schedule],
            "lowest_minimum": self.lowest,
            "business_hours_minimum": self.business_hours_minimum,
        }


@dataclass
class CapacityAudit:
    endpoint_name: str
    endpoint_arn: str | None
    account_id: str
    region: str
    verdict: Verdict = Verdict.COMPLIANT
    production: bool = True
    status: str | None = None
    config_name: str | None = None
    reasons: list[str] = field(default_factory=list)
    capacities: list[TargetCapacity] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)  # finding kind -> reasons
    found: bool = True
    waiting: bool = False  # a new host before its components: whether it serves nothing is not decided yet
    business_min: int = 2
    pipeline_fixes: list[str] = field(default_factory=list)  # only a new endpoint config fixes these
    fixes: dict[str, str] = field(default_factory=dict)  # finding kind -> a command fitter than restore

    def problem(self, kind: str, reason: str) -> None:
        self.problems.setdefault(kind, []).append(reason)
        self.reasons.append(reason)

    def settle(self) -> CapacityAudit:
        worst = next((k for k in KINDS if k in self.problems and k in _VERDICT_OF_KIND), None)
        self.verdict = _VERDICT_OF_KIND[worst] if worst else Verdict.COMPLIANT
        return self

    @property
    def can_reach_zero(self) -> bool:
        return self.verdict is Verdict.CAN_SCALE_TO_ZERO

    @property
    def minimum(self) -> int | None:
        levels = [c.lowest for c in self.capacities if c.lowest is not None]
        return min(levels) if levels else None

    @property
    def business_hours_minimum(self) -> int | None:
        levels = [c.business_hours_minimum for c in self.capacities if c.business_hours_minimum is not None]
        return min(levels) if levels else None

    def fix_command(self, kind: str | None = None) -> str:
        kind = kind or next((k for k in KINDS if k in self.problems), None)
        if kind == KIND_ERROR or not self.found:
            return f"mlgov capacity audit --endpoint {self.endpoint_name}"
        if kind in self.fixes:
            return self.fixes[kind]
        if kind == KIND_SINGLE_INSTANCE:
            return f"mlgov capacity restore --endpoint {self.endpoint_name} --min {self.business_min}"
        return f"mlgov capacity restore --endpoint {self.endpoint_name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            **endpoint_identity(self),
            "production": self.production,
            "endpoint_status": self.status,
            "minimum": self.minimum,
            "business_hours_minimum": self.business_hours_minimum,
            "reasons": self.reasons,
            "findings": sorted(self.problems, key=KINDS.index),
            "fix_command": self.fix_command() if self.problems else None,
            "capacities": [c.to_dict() for c in self.capacities],
        }


@dataclass
class AutoscalingIndex:
    """Scalable targets, policies and scheduled actions of the sagemaker namespace, by resource id."""

    targets: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    policies: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    actions: dict[tuple[str, str], list[Mapping[str, Any]]] = field(default_factory=dict)

    @classmethod
    def read(cls, reader: CapacityReader, resource_ids: Sequence[str] | None) -> AutoscalingIndex:
        """resource_ids None: the whole namespace at once (a scan); else only those resources."""
        index = cls()
        if resource_ids is not None and not resource_ids:
            return index
        for target in reader.scalable_targets(resource_ids):
            index.targets[(target["ResourceId"], target["ScalableDimension"])] = target
        ids: list[str | None] = [None] if resource_ids is None else [rid for rid, _ in index.targets]
        for rid in ids:
            for policy in reader.scaling_policies(rid):
                key = (policy["ResourceId"], policy["ScalableDimension"])
                index.policies.setdefault(key, []).append(str(policy["PolicyName"]))
            for action in reader.scheduled_actions(rid):
                index.actions.setdefault((action["ResourceId"], action["ScalableDimension"]), []).append(action)
        return index


def scheduled_action(raw: Mapping[str, Any]) -> ScheduledAction:
    """One DescribeScheduledActions entry as the audit reads it."""
    target = raw.get("ScalableTargetAction") or {}
    return ScheduledAction(
        name=str(raw.get("ScheduledActionName")),
        schedule=str(raw.get("Schedule")),
        timezone=raw.get("Timezone"),
        min_capacity=target.get("MinCapacity"),
        max_capacity=target.get("MaxCapacity"),
    )


def _expired(raw: Mapping[str, Any], now: datetime) -> bool:
    end = raw.get("EndTime")
    return isinstance(end, datetime) and end.astimezone(UTC) < now


class CapacityRules:
    """Applies the policy to one endpoint's descriptions and autoscaling state."""

    def __init__(self, policy: CapacityPolicy, now: datetime, in_service: bool = False) -> None:
        self.policy = policy
        self.now = now
        self.in_service = in_service  # checking the endpoint's InService state change
        self._start = week_start(now)
        tz = policy.time_zone
        self._business = [
            (to_utc_week(s, tz, self._start), to_utc_week(e, tz, self._start)) for s, e in policy.business_hours.spans()
        ]

    def business_hours(self) -> str:
        return f"{self.policy.business_hours.describe()} {self.policy.time_zone}"

    def scalable(self, audit: CapacityAudit, cap: TargetCapacity, index: AutoscalingIndex) -> None:
        """Rules for a capacity that Application Auto Scaling may manage."""
        floor, what = self.policy.floor, f"{cap.kind.replace('-', ' ')} {cap.name}"
        key = (cap.resource_id or "", cap.dimension or "")
        target = index.targets.get(key)
        if target is None:
            one, many = ("copy", "copies") if cap.kind == "inference-component" else ("instance", "instances")
            fixed = (
                f"fixed at {cap.current} {one if cap.current == 1 else many}"
                if cap.current is not None
                else f"its {many} are fixed"
            )
            audit.problem(KIND_NO_AUTOSCALING, f"{what}: no scalable target, {fixed}; campaign traffic queues.")
            if cap.current is not None:
                cap.lowest = cap.business_hours_minimum = cap.current
            self._business_rule(audit, cap, what)
            return
        cap.registered = True
        cap.min_capacity, cap.max_capacity = int(target["MinCapacity"]), int(target["MaxCapacity"])
        cap.policies = index.policies.get(key, [])
        live = [a for a in index.actions.get(key, []) if not _expired(a, self.now)]
        cap.schedule = [scheduled_action(a) for a in live]
        suspended = target.get("SuspendedState") or {}
        resume = (
            f"aws application-autoscaling register-scalable-target --region {audit.region} --service-namespace "
            f"sagemaker --resource-id {cap.resource_id} --scalable-dimension {cap.dimension} --suspended-state "
            "DynamicScalingInSuspended=false,DynamicScalingOutSuspended=false,ScheduledScalingSuspended=false"
        )
        if suspended.get("DynamicScalingOutSuspended") is True:
            audit.problem(
                KIND_NO_AUTOSCALING,
                f"{what}: scale-out suspended (SuspendedState.DynamicScalingOutSuspended): its scaling policies add "
                f"no {'copy' if cap.kind == 'inference-component' else 'instance'} under load; resume it: `{resume}`.",
            )
        paused = suspended.get("ScheduledScalingSuspended") is True
        if paused:
            # AWS fires none of the actions and keeps MinCapacity: the week is MinCapacity alone. Actions at 0
            # still count towards `lowest` below: resuming fires them.
            audit.reasons.append(
                f"{what}: scheduled scaling suspended (SuspendedState.ScheduledScalingSuspended): none of its "
                f"{len(cap.schedule)} scheduled actions fire, it stays at MinCapacity {cap.min_capacity}; resume "
                f"it: `{resume}`."
            )
        if cap.min_capacity < floor:
            audit.problem(
                KIND_ZERO,
                f"{what}: MinCapacity {cap.min_capacity} (below {floor}): it can scale to zero and cold-start "
                "for minutes when traffic returns.",
            )
        events: list[tuple[int, int]] = []
        lows = [cap.min_capacity]  # every live action, weekly or one-time
        for action in cap.schedule:
            if action.min_capacity is None:
                continue
            lows.append(action.min_capacity)
            if action.min_capacity < floor:
                audit.problem(
                    KIND_ZERO,
                    f"{what}: scheduled action {action.name} ({action.schedule} {action.timezone or 'UTC'}) "
                    f"sets MinCapacity {action.min_capacity}{' (suspended; fires once resumed)' if paused else ''}.",
                )
            if paused:
                continue
            times = weekly_times(action.schedule)
            if times is None:
                audit.reasons.append(
                    f"{what}: scheduled action {action.name} ({action.schedule}) is not a weekly pattern; "
                    "left out of the business-hours minimum."
                )
                continue
            events += [(to_utc_week(t, action.timezone or "UTC", self._start), action.min_capacity) for t in times]
        if not cap.policies and (not cap.schedule or paused):
            audit.problem(
                KIND_NO_AUTOSCALING,
                f"{what}: scalable target without a scaling policy or live schedule; it stays at "
                f"{cap.current if cap.current is not None else cap.min_capacity}.",
            )
        timeline = live_timeline(cap.min_capacity, events)
        cap.lowest = min(lows + [level for _, level in timeline])
        try:
            cap.business_hours_minimum = lowest_in(timeline, self._business)
        except ScheduleError:
            cap.business_hours_minimum = cap.lowest
        self._business_rule(audit, cap, what, " (scheduled scaling suspended)" if paused else "")

    def provisioned(self, audit: CapacityAudit, cap: TargetCapacity, rid: str, index: AutoscalingIndex) -> None:
        """A serverless variant's provisioned concurrency under Application Auto Scaling: a minimum (or a
        scheduled minimum) of 0 releases it, and the variant cold-starts as if it had none."""
        target = index.targets.get((rid, PROVISIONED_DIMENSION))
        if target is None:
            return  # fixed at the config's ProvisionedConcurrency
        cap.resource_id, cap.dimension, cap.registered = rid, PROVISIONED_DIMENSION, True
        cap.min_capacity, cap.max_capacity = int(target["MinCapacity"]), int(target["MaxCapacity"])
        cap.policies = index.policies.get((rid, PROVISIONED_DIMENSION), [])
        cap.schedule = [
            scheduled_action(a)
            for a in index.actions.get((rid, PROVISIONED_DIMENSION), [])
            if not _expired(a, self.now)
        ]
        lows = [(cap.min_capacity, f"scalable target MinCapacity {cap.min_capacity}")] + [
            (a.min_capacity, f"scheduled action {a.name} ({a.schedule}) sets MinCapacity {a.min_capacity}")
            for a in cap.schedule
            if a.min_capacity is not None
        ]
        cap.lowest = min(level for level, _ in lows)
        for level, why in lows:
            if level < 1:
                kind = KIND_ZERO if self.policy.serverless_is_violation else KIND_COLD_START
                audit.problem(
                    kind,
                    f"serverless variant {cap.name}: provisioned concurrency autoscales to {level} ({why} on "
                    f"{PROVISIONED_DIMENSION}), so it cold-starts after idle periods.",
                )

    def _business_rule(self, audit: CapacityAudit, cap: TargetCapacity, what: str, why: str = "") -> None:
        need, have = self.policy.business_min, cap.business_hours_minimum
        if cap.kind != "instance" or not audit.production or have is None or have >= need or have < self.policy.floor:
            return
        audit.problem(
            KIND_SINGLE_INSTANCE,
            f"{what}: minimum {have}{why} during business hours ({self.business_hours()}); the settings ask for "
            f"{need} (Security Hub SageMaker.4).",
        )

    def variant(
        self, audit: CapacityAudit, variant: Mapping[str, Any], live: Mapping[str, Any], index: AutoscalingIndex
    ) -> TargetCapacity | None:
        name = str(variant.get("VariantName"))
        managed = variant.get("ManagedInstanceScaling") or {}
        if managed.get("Status") == "ENABLED" and int(managed.get("MinInstanceCount", 1)) < self.policy.floor:
            reason = (
                f"variant {name}: ManagedInstanceScaling.MinInstanceCount {managed.get('MinInstanceCount')} in "
                f"endpoint config {audit.config_name}: its instances can be released to zero."
            )
            audit.problem(KIND_ZERO, reason)
            audit.pipeline_fixes.append(reason)
        serverless = variant.get("ServerlessConfig")
        if serverless:
            cap = TargetCapacity(name, "serverless", current=serverless.get("ProvisionedConcurrency"))
            if not serverless.get("ProvisionedConcurrency"):
                kind = KIND_ZERO if self.policy.serverless_is_violation else KIND_COLD_START
                reason = (
                    f"serverless variant {name}: no provisioned concurrency, so it cold-starts after idle periods "
                    "(set ServerlessConfig.ProvisionedConcurrency, or serve it from instances: a new endpoint "
                    "config, which only the pipeline or break-glass may deploy where the guardrails apply)."
                )
                audit.problem(kind, reason)
                audit.pipeline_fixes.append(reason)
                if kind == KIND_COLD_START and variant.get("ModelName"):
                    # Provisioned concurrency lives in the endpoint config: a new config, then an update.
                    config = f"{audit.config_name}-pc"[:63]
                    memory, most = serverless.get("MemorySizeInMB", 2048), serverless.get("MaxConcurrency", 1)
                    spec = (
                        f"VariantName={name},ModelName={variant['ModelName']},ServerlessConfig={{MemorySizeInMB="
                        f"{memory},MaxConcurrency={most},ProvisionedConcurrency=1}}"
                    )
                    audit.fixes.setdefault(
                        KIND_COLD_START,
                        f"aws sagemaker create-endpoint-config --region {audit.region} --endpoint-config-name {config} "
                        f"--production-variants '{spec}' && aws sagemaker update-endpoint --region {audit.region} "
                        f"--endpoint-name {audit.endpoint_name} --endpoint-config-name {config}",
                    )
            else:
                self.provisioned(audit, cap, f"endpoint/{audit.endpoint_name}/variant/{name}", index)
            return cap
        if not variant.get("ModelName"):
            return None  # an inference-component endpoint: capacity is in the components' copies
        count = live.get("CurrentInstanceCount", live.get("DesiredInstanceCount", variant.get("InitialInstanceCount")))
        cap = TargetCapacity(
            name,
            "instance",
            resource_id=f"endpoint/{audit.endpoint_name}/variant/{name}",
            dimension=VARIANT_DIMENSION,
            current=None if count is None else int(count),
        )
        self.scalable(audit, cap, index)
        return cap


@dataclass
class EndpointFacts:
    """What was read about one endpoint."""

    endpoint: Mapping[str, Any]
    config: Mapping[str, Any]
    tags: dict[str, str]
    components: list[str]
    described: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # DescribeInferenceComponent by name


def judge(
    facts: EndpointFacts, index: AutoscalingIndex, rules: CapacityRules, account_id: str, region: str
) -> CapacityAudit:
    endpoint = facts.endpoint
    name = str(endpoint["EndpointName"])
    policy = rules.policy
    audit = CapacityAudit(
        name,
        endpoint.get("EndpointArn"),
        account_id,
        region,
        status=endpoint.get("EndpointStatus"),
        config_name=endpoint.get("EndpointConfigName"),
        production=facts.tags.get(policy.environment_tag_key, "").lower() not in policy.non_production,
        business_min=policy.business_min,
    )
    live = {v.get("VariantName"): v for v in endpoint.get("ProductionVariants") or []}
    for variant in facts.config.get("ProductionVariants") or []:
        cap = rules.variant(audit, variant, live.get(variant.get("VariantName"), {}), index)
        if cap is not None:
            audit.capacities.append(cap)
    for component in facts.components:
        cap = TargetCapacity(
            component, "inference-component", resource_id=f"inference-component/{component}", dimension=COPIES_DIMENSION
        )
        low = _copies(audit, cap, facts.described.get(component), rules.policy.floor)
        rules.scalable(audit, cap, index)
        if low is not None and low < rules.policy.floor:
            cap.lowest = low if cap.lowest is None else min(cap.lowest, low)
        audit.capacities.append(cap)
    # Nothing read is nothing known, never compliant.
    created = endpoint.get("CreationTime")
    grace = FIRST_IN_SERVICE_S if rules.in_service else NEW_HOST_GRACE_S
    new_host = isinstance(created, datetime) and (rules.now - created).total_seconds() < grace
    if is_component_endpoint(facts.config) and not facts.components and new_host:
        # A deployment creates the host, then its components: each CreateInferenceComponent checks it again.
        audit.reasons.append(f"endpoint {name}: created {created:%H:%M} UTC, no inference component yet.")
        audit.waiting = True
    elif is_component_endpoint(facts.config) and not facts.components:
        audit.problem(
            KIND_ZERO,
            f"endpoint {name} hosts inference components but serves none: every request fails until one is "
            f"created (`aws sagemaker list-inference-components --region {region} --endpoint-name-equals "
            f"{name}`; redeploy its components through the pipeline).",
        )
    elif not audit.capacities and not audit.problems:
        audit.problem(KIND_ERROR, f"endpoint config {audit.config_name} names no variant whose capacity can be read.")
    if not audit.production:
        audit.reasons.append(
            f"Tagged {policy.environment_tag_key}={facts.tags[policy.environment_tag_key]}: "
            "not production, so findings are not paged."
        )
    return audit.settle()


def _copies(audit: CapacityAudit, cap: TargetCapacity, described: Mapping[str, Any] | None, floor: int) -> int | None:
    """An inference component's copies (RuntimeConfig): below the floor it serves nothing, whatever its
    scalable target says (UpdateInferenceComponentRuntimeConfig sets them directly)."""
    what = f"inference component {cap.name}"
    runtime = (described or {}).get("RuntimeConfig")
    if not isinstance(runtime, Mapping) or not isinstance(runtime.get("DesiredCopyCount"), int):
        audit.problem(KIND_ERROR, f"{what}: its copy count (RuntimeConfig) could not be read.")
        return None
    desired, current = int(runtime["DesiredCopyCount"]), runtime.get("CurrentCopyCount")
    cap.current = int(current) if isinstance(current, int) else None
    status = (described or {}).get("InferenceComponentStatus")
    # Copies still loading towards a desired count at the floor are a deployment, not a zero.
    loading = status in ("Creating", "Updating") and desired >= floor
    low = min(desired, cap.current) if cap.current is not None and not loading else desired
    if low < floor:
        audit.problem(
            KIND_ZERO,
            f"{what}: {cap.current if cap.current is not None else 'unknown'} copies now, {desired} desired (below "
            f"{floor}): requests for its model fail until a copy loads (cold start). Set them back: `aws sagemaker "
            f"update-inference-component-runtime-config --region {audit.region} --inference-component-name "
            f"{cap.name} --desired-runtime-config CopyCount={max(floor, 1)}`.",
        )
    return low


def resource_ids(endpoint_name: str, config: Mapping[str, Any], components: Sequence[str]) -> list[str]:
    ids = [
        f"endpoint/{endpoint_name}/variant/{v.get('VariantName')}"
        for v in config.get("ProductionVariants") or []
        if v.get("ModelName")  # a serverless variant's provisioned concurrency scales under the same id
    ]
    return ids + [f"inference-component/{c}" for c in components]


def is_component_endpoint(config: Mapping[str, Any]) -> bool:
    return any(not v.get("ModelName") and not v.get("ServerlessConfig") for v in config.get("ProductionVariants") or [])
