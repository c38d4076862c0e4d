"""`mlgov capacity restore`: put the minimum back and, while a cold endpoint warms up, route
recommendations to the fallback (spec scenario 4, follow-up 4). Orchestration over injected ports;
every step goes to `log` as it happens (the CLI prints it and appends it to the open findings)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from mlgov_runtime.capacity.logic import COPIES_DIMENSION, PROVISIONED_DIMENSION, CapacityAudit, ScheduledAction
from mlgov_runtime.core.findings import utc_now_iso

# What `mlgov capacity restore` calls with the operator's credentials (never granted to the Lambda).
RESTORE = (
    "application-autoscaling:RegisterScalableTarget",
    "application-autoscaling:PutScalingPolicy",
    "application-autoscaling:PutScheduledAction",
    "cloudwatch:GetMetricStatistics",
    "sagemaker:ListInferenceComponents",
    "sagemaker:DescribeInferenceComponent",
    "sagemaker:InvokeEndpoint",
    "appconfig:StartConfigurationSession",
    "appconfig:GetLatestConfiguration",
    "appconfig:CreateHostedConfigurationVersion",
    "appconfig:StartDeployment",
    "appconfig:GetDeployment",
    "dynamodb:UpdateItem",
)

POLICY_NAME = "mlgov-capacity-target-tracking"
METRIC = {
    COPIES_DIMENSION: "SageMakerInferenceComponentInvocationsPerCopy",
    PROVISIONED_DIMENSION: "SageMakerVariantProvisionedConcurrencyUtilization",
}
VARIANT_METRIC = "SageMakerVariantInvocationsPerInstance"


def cold(audit: CapacityAudit) -> bool:
    """Serving nothing right now: not InService, an instance variant at zero instances, or an inference
    component below one copy (its model's requests fail until a copy loads)."""
    return audit.status not in (None, "InService") or any(
        c.current is not None and c.current < 1 for c in audit.capacities if c.kind != "serverless"
    )


class Scaler(Protocol):
    def register_scalable_target(
        self, resource_id: str, dimension: str, min_capacity: int, max_capacity: int
    ) -> None: ...
    def put_target_tracking(
        self, resource_id: str, dimension: str, name: str, metric: str, target: float, scale_in: int, scale_out: int
    ) -> None: ...
    def put_scheduled_action(self, resource_id: str, dimension: str, action: ScheduledAction) -> None: ...


class Route(Protocol):
    def current(self) -> str: ...
    def switch(self, value: str, why: str) -> str: ...


class Warmth(Protocol):
    def ready(self, endpoint: str, minimum: int) -> tuple[bool, str]: ...
    def invocations(self, endpoint: str, minutes: int = 5, components: Sequence[str] = ()) -> tuple[bool, str]: ...
    def smoke(self, endpoint: str, body: str, content_type: str) -> str: ...


@dataclass
class Step:
    action: str
    target: str
    detail: str
    status: str = "planned"  # planned | done | skipped | failed | needs_pipeline
    at: str | None = None
    undo: str | None = None  # the command that puts back what this step changed

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
            "status": self.status,
            "at": self.at,
            "undo": self.undo,
        }


@dataclass(frozen=True)
class RestoreOptions:
    minimum: int
    floor: int = 1
    max_capacity: int = 10
    target_invocations: float = 70.0
    scale_in_cooldown: int = 300
    scale_out_cooldown: int = 60
    fallback_value: str | None = None  # set when an AppConfig route is configured
    smoke_body: str | None = None
    smoke_content_type: str = "application/json"
    wait_seconds: float = 900.0
    poll_seconds: float = 15.0
    dry_run: bool = False
    # resource id -> the harmful SuspendedState flags set on its target (capacity_writers.suspensions)
    suspended: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass
class RestoreReport:
    endpoint_name: str
    dry_run: bool
    steps: list[Step] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(s.status == "failed" for s in self.steps)

    @property
    def changed(self) -> list[Step]:
        """The steps that changed something (what a failure after them leaves in place)."""
        return [s for s in self.steps if s.status == "done" and s.undo]

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "steps": [s.to_dict() for s in self.steps]}


Call = Callable[[Scaler], None]


def _register(rid: str, dim: str, low: int, high: int) -> Call:
    return lambda scaler: scaler.register_scalable_target(rid, dim, low, high)


# Provisioned concurrency tracks utilization (0..1), not invocations; 0.5 is AWS's documented example.
PROVISIONED_UTILIZATION = 0.5


def _target_value(dim: str, opts: RestoreOptions) -> float:
    return PROVISIONED_UTILIZATION if dim == PROVISIONED_DIMENSION else opts.target_invocations


def _track(rid: str, dim: str, metric: str, opts: RestoreOptions) -> Call:
    return lambda scaler: scaler.put_target_tracking(
        rid, dim, POLICY_NAME, metric, _target_value(dim, opts), opts.scale_in_cooldown, opts.scale_out_cooldown
    )


def _schedule(rid: str, dim: str, action: ScheduledAction) -> Call:
    return lambda scaler: scaler.put_scheduled_action(rid, dim, action)


def _aas(command: str, rid: str, dim: str, rest: str = "") -> str:
    return (
        f"aws application-autoscaling {command} --service-namespace sagemaker --resource-id {rid} "
        f"--scalable-dimension {dim}{rest}"
    )


def _undo_register(
    rid: str, dim: str, registered: bool, low: int | None, high: int | None, suspended: Sequence[str] = ()
) -> str:
    if not registered:
        return _aas("deregister-scalable-target", rid, dim)
    state = f" --suspended-state {','.join(f'{flag}=true' for flag in suspended)}" if suspended else ""
    return _aas("register-scalable-target", rid, dim, f" --min-capacity {low or 0} --max-capacity {high or 0}{state}")


def _undo_schedule(rid: str, dim: str, action: ScheduledAction) -> str:
    bounds = ",".join(
        f"{k}={v}"
        for k, v in (("MinCapacity", action.min_capacity), ("MaxCapacity", action.max_capacity))
        if v is not None
    )
    zone = f" --timezone {action.timezone}" if action.timezone else ""
    return _aas(
        "put-scheduled-action",
        rid,
        dim,
        f" --scheduled-action-name {action.name} --schedule '{action.schedule}'{zone}"
        f" --scalable-target-action {bounds}",
    )


def plan_scaling(audit: CapacityAudit, opts: RestoreOptions) -> list[tuple[Step, Call | None]]:
    """The Application Auto Scaling calls that give every capacity its minimum again (None: only a
    new endpoint config through the pipeline can fix it)."""
    plan: list[tuple[Step, Call | None]] = []
    for cap in audit.capacities:
        rid, dim = cap.resource_id, cap.dimension
        if rid is None or dim is None:
            continue
        high = max(cap.max_capacity or 0, opts.minimum) if cap.registered else max(opts.max_capacity, opts.minimum)
        # A suspended target keeps its minimum but fires no schedule or scale-out: every registration resumes it.
        suspended = list(opts.suspended.get(rid, ())) if cap.registered else []
        if not cap.registered or (cap.min_capacity or 0) < opts.minimum or suspended:
            low = max(cap.min_capacity or 0, opts.minimum) if cap.registered else opts.minimum
            was = f"MinCapacity {cap.min_capacity}" if cap.registered else "no scalable target"
            resumed = f", resuming {' and '.join(suspended)}" if suspended else ""
            plan.append(
                (
                    Step(
                        "register_scalable_target",
                        rid,
                        f"{was} -> MinCapacity {low}, MaxCapacity {high}{resumed}",
                        undo=_undo_register(rid, dim, cap.registered, cap.min_capacity, cap.max_capacity, suspended),
                    ),
                    _register(rid, dim, low, high),
                )
            )
        if not cap.policies and not cap.schedule:
            metric = METRIC.get(dim, VARIANT_METRIC)
            plan.append(
                (
                    Step(
                        "put_scaling_policy",
                        rid,
                        f"target tracking {metric} {_target_value(dim, opts):g}, scale out after "
                        f"{opts.scale_out_cooldown} s, in after {opts.scale_in_cooldown} s",
                        undo=_aas("delete-scaling-policy", rid, dim, f" --policy-name {POLICY_NAME}"),
                    ),
                    _track(rid, dim, metric, opts),
                )
            )
        for action in cap.schedule:
            if action.min_capacity is None or action.min_capacity >= opts.floor:
                continue
            fixed = replace(
                action,
                min_capacity=opts.floor,
                max_capacity=None if action.max_capacity is None else max(action.max_capacity, opts.floor),
            )
            plan.append(
                (
                    Step(
                        "put_scheduled_action",
                        rid,
                        f"{action.name} ({action.schedule}): MinCapacity {action.min_capacity} -> {opts.floor}",
                        undo=_undo_schedule(rid, dim, action),
                    ),
                    _schedule(rid, dim, fixed),
                )
            )
    plan += [(Step("needs_pipeline", audit.config_name or "-", why), None) for why in audit.pipeline_fixes]
    return plan


class Restorer:
    def __init__(
        self,
        scaler: Scaler,
        warmth: Warmth,
        route: Route | None,
        log: Callable[[Step], None],
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scaler, self.warmth, self.route, self._log = scaler, warmth, route, log
        self._sleep, self._clock = sleep, clock

    def _record(self, report: RestoreReport, step: Step, status: str, detail: str | None = None) -> Step:
        step.status, step.at = status, utc_now_iso()
        if detail:
            step.detail = detail
        report.steps.append(step)
        self._log(step)
        return step

    def _wait(
        self, report: RestoreReport, step: Step, probe: Callable[[], tuple[bool, str]], seconds: float, poll: float
    ) -> bool:
        deadline = self._clock() + seconds
        while True:
            ok, detail = probe()
            if ok:
                self._record(report, step, "done", detail)
                return True
            if self._clock() >= deadline:
                self._record(report, step, "failed", f"not within {seconds:g} s: {detail}")
                return False
            self._sleep(poll)

    def run(self, audit: CapacityAudit, opts: RestoreOptions) -> RestoreReport:
        name = audit.endpoint_name
        report = RestoreReport(name, opts.dry_run)
        previous = self._route_away(report, audit, opts)
        for step, call in plan_scaling(audit, opts):
            if call is None:
                self._record(report, step, "needs_pipeline")
            elif opts.dry_run:
                self._record(report, step, "planned")
            else:
                try:
                    call(self.scaler)
                except Exception as exc:  # logged to the finding; the route stays on the fallback
                    self._record(report, step, "failed", f"{step.detail}: {exc}")
                    return report
                self._record(report, step, "done")
        if opts.dry_run and self.route is not None and opts.fallback_value and cold(audit):
            for action, detail in (
                ("wait_in_service", "InService with instances"),
                ("wait_invocations", "InvocationsPerInstance > 0"),
                ("route_back", f"{self.route_key} back to its value before the switch"),
            ):
                self._record(report, Step(action, name, detail), "planned")
        if previous is None or self.route is None or not opts.fallback_value:
            return report
        # The components that were cold (copies below 1, or not read): their traffic, not another's, switches back.
        cold_components = [
            c.name for c in audit.capacities if c.kind == "inference-component" and (c.current is None or c.current < 1)
        ]
        ready = self._wait(
            report,
            Step("wait_in_service", name, "InService with instances"),
            lambda: self.warmth.ready(name, 1),
            opts.wait_seconds,
            opts.poll_seconds,
        )
        if ready and opts.smoke_body:
            step = Step("smoke_invoke", name, "one invocation so InvocationsPerInstance flows")
            try:
                self._record(report, step, "done", self.warmth.smoke(name, opts.smoke_body, opts.smoke_content_type))
            except Exception as exc:
                self._record(report, step, "failed", str(exc))
        if ready and self._wait(
            report,
            Step("wait_invocations", name, "InvocationsPerInstance > 0"),
            lambda: self.warmth.invocations(name, components=cold_components),
            opts.wait_seconds,
            opts.poll_seconds,
        ):
            detail = self.route.switch(previous, f"mlgov capacity restore: {name} serves again")
            self._record(report, Step("route_back", self.route_key, detail), "done")
        else:
            self._record(
                report,
                Step("route_back", self.route_key, ""),
                "failed",
                f"recommendations stay on {opts.fallback_value}: {name} is not serving yet; run the command "
                f"again, or set the route back to {previous!r} once it serves",
            )
        return report

    @property
    def route_key(self) -> str:
        return str(getattr(getattr(self.route, "target", None), "route_key", "route"))

    def _route_away(self, report: RestoreReport, audit: CapacityAudit, opts: RestoreOptions) -> str | None:
        """Switch to the fallback when the endpoint is cold; the value to switch back to, or None."""
        if self.route is None or not opts.fallback_value:
            return None
        step = Step("route_to_fallback", self.route_key, f"{self.route_key}={opts.fallback_value}")
        if not cold(audit):
            self._record(report, step, "skipped", "the endpoint has warm instances: recommendations stay on it")
            return None
        if opts.dry_run:
            self._record(report, step, "planned", f"{step.detail} until the endpoint serves again")
            return None
        previous = self.route.current()
        if previous == opts.fallback_value:
            self._record(report, step, "skipped", "already on the fallback before this command; left as it is")
            return None
        why = f"mlgov capacity restore: {audit.endpoint_name} is cold"
        step.undo = f"set {self.route_key} back to {previous!r} in AppConfig (a new hosted version, deployed)"
        self._record(report, step, "done", self.route.switch(opts.fallback_value, why))
        return previous
