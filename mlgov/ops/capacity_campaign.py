"""`mlgov capacity campaign` (spec scenario 4, follow-up 3): the minimum instances for a campaign's expected
peak, scheduled for its window. Instances = ceil(peak invocations per minute / invocations one instance
takes per minute), never below the floor; the target-tracking policy's InvocationsPerInstance target is what
one instance takes. Scale out `lead` before the start (the runbook's 30 minutes: a cold instance needs
minutes). At its end, back to what the variant's weekly schedule holds at that minute (never the minimum read
when it was scheduled: the week may hold more then, e.g. Manga Monday's 5 after a campaign that ends at 13:00
UTC), never below the floor or 1. A weekly action that fires inside the window still sets its own minimum (the
last action fired wins): the plan warns, naming each one."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mlgov_runtime.capacity.logic import CapacityAudit, ScheduledAction, TargetCapacity
from mlgov_runtime.capacity.schedule import WEEK, to_utc_week, week_start, weekly_times


class CampaignRefused(ValueError):
    """The campaign cannot be scheduled as asked (exit 2); nothing changed."""


def instances_for_peak(peak_per_minute: float, per_instance_per_minute: float, floor: int) -> int:
    if not math.isfinite(peak_per_minute) or peak_per_minute <= 0:
        raise CampaignRefused(f"expected peak {peak_per_minute:g} invocations/min: must be a number above 0")
    if not math.isfinite(per_instance_per_minute) or per_instance_per_minute <= 0:
        raise CampaignRefused(f"{per_instance_per_minute:g} invocations/min per instance: must be above 0")
    return max(floor, math.ceil(peak_per_minute / per_instance_per_minute))


def at_expression(moment: datetime) -> str:
    return f"at({moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')})"


@dataclass
class CampaignPlan:
    endpoint_name: str
    name: str
    variant: str
    resource_id: str
    dimension: str
    peak_invocations_per_minute: float
    invocations_per_instance: float
    instances: int
    formula: str
    scale_out_at: str
    scale_in_at: str
    min_before: int
    max_before: int
    actions: list[ScheduledAction] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "actions"}
        out["scheduled_actions"] = [a.to_dict() for a in self.actions]
        return out


def _variant_capacity(audit: CapacityAudit, variant: str | None) -> TargetCapacity:
    instances = [c for c in audit.capacities if c.kind == "instance"]
    if not instances:
        raise CampaignRefused(f"endpoint {audit.endpoint_name} has no instance variant to scale")
    if variant is None:
        if len(instances) > 1:
            names = ", ".join(c.name for c in instances)
            raise CampaignRefused(f"endpoint {audit.endpoint_name} has variants {names}: pass --variant")
        return instances[0]
    for cap in instances:
        if cap.name == variant:
            return cap
    raise CampaignRefused(f"endpoint {audit.endpoint_name} has no instance variant {variant}")


def _weekly_firings(cap: TargetCapacity, since: datetime, until: datetime) -> list[tuple[datetime, int, str]] | None:
    """(moment UTC, MinCapacity, action name) of every weekly scheduled action firing in [since, until]; None
    when an action that sets MinCapacity is neither weekly nor one-time (rate(), day-of-month): not predictable."""
    fired: list[tuple[datetime, int, str]] = []
    for action in cap.schedule:
        if action.min_capacity is None or action.schedule.startswith("at("):
            continue  # one-time actions (other campaigns) are their own plans
        times = weekly_times(action.schedule)
        if times is None:
            return None
        week = week_start(since)
        while week <= until:
            for t in times:
                moment = week + timedelta(minutes=to_utc_week(t, action.timezone or "UTC", week))
                if since <= moment <= until:
                    fired.append((moment, int(action.min_capacity), action.name))
            week += timedelta(minutes=WEEK)
    return sorted(fired, key=lambda f: (f[0], f[1]))


def weekly_minimum_at(cap: TargetCapacity, moment: datetime, floor: int) -> int:
    """What the weekly schedule holds at `moment` (its actions of that minute included): the last weekly action
    fired before it (two at one minute: the lower), else the registered minimum. A schedule that cannot be
    predicted: the highest minimum any of its actions or the target sets. Never below the floor or 1."""
    fired = _weekly_firings(cap, moment - timedelta(days=7), moment)
    registered = int(cap.min_capacity or 0)
    if fired is None:
        level = max([registered, *(int(a.min_capacity) for a in cap.schedule if a.min_capacity is not None)])
    elif fired:
        last = fired[-1][0]
        level = min(low for when, low, _ in fired if when == last)
    else:
        level = registered
    return max(level, floor, 1)


def plan_campaign(
    audit: CapacityAudit,
    *,
    name: str,
    peak_per_minute: float,
    per_instance_per_minute: float,
    floor: int,
    start: datetime,
    end: datetime,
    now: datetime,
    lead: timedelta = timedelta(minutes=30),
    variant: str | None = None,
    instance_limit: int = 1000,
) -> CampaignPlan:
    if start.tzinfo is None or end.tzinfo is None:
        raise CampaignRefused("--start and --end need a UTC offset (2026-12-07T08:00:00+09:00 or ...Z)")
    if end <= start:
        raise CampaignRefused(f"the campaign ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    if start - lead <= now:
        raise CampaignRefused(
            f"the scale-out at {(start - lead).isoformat()} ({lead} before the start) is not in the future: "
            f"scale now with mlgov capacity restore --endpoint {audit.endpoint_name} "
            f"--min {instances_for_peak(peak_per_minute, per_instance_per_minute, floor)}"
        )
    cap = _variant_capacity(audit, variant)
    if not cap.registered or cap.resource_id is None or cap.dimension is None:
        raise CampaignRefused(
            f"variant {cap.name} of {audit.endpoint_name} has no scalable target: run mlgov capacity restore "
            f"--endpoint {audit.endpoint_name} first"
        )
    n = instances_for_peak(peak_per_minute, per_instance_per_minute, floor)
    if n > instance_limit:
        raise CampaignRefused(f"{n} instances is above {instance_limit}: check the peak and the per-instance rate")
    low, high = int(cap.min_capacity or 0), int(cap.max_capacity or 0)
    plan = CampaignPlan(
        audit.endpoint_name,
        name,
        cap.name,
        cap.resource_id,
        cap.dimension,
        peak_per_minute,
        per_instance_per_minute,
        n,
        f"max({floor}, ceil({peak_per_minute:g} / {per_instance_per_minute:g})) = {n}",
        (start - lead).astimezone(UTC).isoformat(),
        end.astimezone(UTC).isoformat(),
        low,
        high,
    )
    plan.actions = [
        ScheduledAction(f"mlgov-campaign-{name}-out", at_expression(start - lead), "UTC", n, max(high, n)),
        ScheduledAction(
            f"mlgov-campaign-{name}-in", at_expression(end), "UTC", weekly_minimum_at(cap, end, floor), high
        ),
    ]
    lowering = [(when, level, who) for when, level, who in _weekly_firings(cap, start - lead, end) or [] if when < end]
    for when, level, who in lowering:
        if level < n:
            plan.warnings.append(
                f"weekly scheduled action {who} sets MinCapacity {level} at {when.isoformat()}, inside the campaign: "
                f"from then the minimum is {level}, not {n}; for a recurring campaign add a capacity.campaigns window "
                "(docs/capacity.md, CampaignScaling) and deploy, or run mlgov capacity restore --endpoint "
                f"{audit.endpoint_name} --min {n} after it fires"
            )
    if n <= low:
        plan.warnings.append(f"MinCapacity is already {low} (>= {n}): the scale-out changes nothing")
    if n > high:
        plan.warnings.append(f"MaxCapacity {high} is raised to {n} for the campaign and set back at its end")
    return plan
