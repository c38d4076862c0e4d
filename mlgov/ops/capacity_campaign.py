"""`mlgov capacity campaign` (spec scenario 4, follow-up 3): the minimum instances for a campaign's expected
peak, scheduled for its window. Instances = ceil(peak invocations per minute / invocations one instance
takes per minute), never below the floor; the target-tracking policy's InvocationsPerInstance target is what
one instance takes. Scale out `lead` before the start (the runbook's 30 minutes: a cold instance needs
minutes). At its end, back to what the variant's weekly schedule holds at that minute (never the minimum read
when it was scheduled: the week may hold more then, e.g. Manga Monday's 5 after a campaign that ends at 13:00
UTC), never below the floor or 1. A weekly action that would fire inside the window with a lower minimum is
raised to the campaign's (same name, schedule, time zone, start and end; MaxCapacity kept >= Min) and recorded on
the endpoint (mlgov_runtime.capacity.campaign_record); `mlgov capacity campaign-end` puts it back after the end.
A raised action also fires between now and the scale-out: the plan warns when it does."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mlgov_runtime.capacity.campaign_record import PREFIX, RaisedRecord
from mlgov_runtime.capacity.logic import CapacityAudit, ScheduledAction, TargetCapacity
from mlgov_runtime.capacity.permissions import AUTOSCALING_READ, ENDPOINT_READ
from mlgov_runtime.capacity.schedule import WEEK, to_utc_week, week_start, weekly_times

# What `mlgov capacity campaign` calls with the operator's credentials (never granted to the Lambda).
CAMPAIGN = ENDPOINT_READ + AUTOSCALING_READ + ("application-autoscaling:PutScheduledAction",)

_VALUE = re.compile(r"[\w\s.:/=+\-@]{0,256}")  # SageMaker tag values: letters, spaces, digits and _.:/=+-@


def end_key(campaign: str) -> str:
    return f"{PREFIX}{campaign}:end"


def record_key(campaign: str, index: int) -> str:
    return f"{PREFIX}{campaign}:{index}"


def taggable(value: str) -> bool:
    return bool(_VALUE.fullmatch(value))


def above_set(rec: RaisedRecord) -> str | None:
    """Why this record cannot be what a campaign wrote, or None. The campaign only raises: it records an
    action whose minimum is below its own and keeps a maximum at or above the one it found (adding one only
    where there was none), so a "before" above what it set is someone else's edit of the tag."""
    if rec.min_before > rec.min_set:
        return f"it says MinCapacity {rec.min_before} before, above the {rec.min_set} the campaign set"
    if rec.max_before is not None and rec.max_set is None:
        return f"it says MaxCapacity {rec.max_before} before, where the campaign set none"
    if rec.max_before is not None and rec.max_set is not None and rec.max_before > rec.max_set:
        return f"it says MaxCapacity {rec.max_before} before, above the {rec.max_set} the campaign set"
    return None


class ActionLost(Exception):
    """A scheduled action deleted on the way to being put back, and not there again: the message re-creates it."""


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
class RaisedAction:
    """A weekly action that would lower the campaign's minimum, and what the campaign sets it to until its end."""

    action: ScheduledAction
    min_capacity: int
    max_capacity: int | None
    fires: list[str]  # its firings inside the window (UTC ISO), or the reason it cannot be predicted

    def record(self, variant: str) -> RaisedRecord:
        a = self.action
        return RaisedRecord(
            variant, a.name, int(a.min_capacity or 0), a.max_capacity, self.min_capacity, self.max_capacity
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.action.to_dict(),
            "min_capacity": self.min_capacity,
            "max_capacity": self.max_capacity,
            "min_capacity_before": self.action.min_capacity,
            "max_capacity_before": self.action.max_capacity,
            "fires_during_campaign": self.fires,
        }


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
    raised: list[RaisedAction] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("actions", "raised")}
        out["scheduled_actions"] = [a.to_dict() for a in self.actions]
        out["raised_actions"] = [r.to_dict() for r in self.raised]
        out["recorded_tags"] = self.tags()
        return out

    def tags(self) -> dict[str, str]:
        """The endpoint tags campaign-end reads: the end, then one per raised action."""
        tags = {end_key(self.name): self.scale_in_at}
        for i, raised in enumerate(self.raised, start=1):
            tags[record_key(self.name, i)] = raised.record(self.variant).encode()
        return tags


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
    plan.raised = _raised(cap, n, max(high, n), start - lead, end)
    for raised in plan.raised:
        if not taggable(raised.record(cap.name).encode()):
            raise CampaignRefused(
                f"scheduled action {raised.action.name} cannot be recorded in an endpoint tag (letters, digits, "
                "spaces and _.:/=+-@ only): rename it or raise it by hand"
            )
        early = _firings_of(raised.action, now, start - lead - timedelta(seconds=1))
        if early:
            plan.warnings.append(
                f"weekly scheduled action {raised.action.name} is raised to MinCapacity {raised.min_capacity} from "
                f"now: it also fires before the scale-out (first at {early[0].isoformat()}); schedule the campaign "
                "closer to its start to avoid paying for that"
            )
        at = (
            "at times that cannot be predicted" if raised.fires == ["not a weekly pattern"] else f"at {raised.fires[0]}"
        )
        more = f" (and {len(raised.fires) - 1} more)" if len(raised.fires) > 1 else ""
        plan.warnings.append(
            f"weekly scheduled action {raised.action.name} sets MinCapacity {raised.action.min_capacity} {at}{more}, "
            f"inside the campaign: raised to {raised.min_capacity} until mlgov capacity campaign-end --endpoint "
            f"{audit.endpoint_name} --name {name} puts it back after {plan.scale_in_at}"
        )
    if n <= low:
        plan.warnings.append(f"MinCapacity is already {low} (>= {n}): the scale-out changes nothing")
    if n > high:
        plan.warnings.append(f"MaxCapacity {high} is raised to {n} for the campaign and set back at its end")
    return plan


def _firings_of(action: ScheduledAction, since: datetime, until: datetime) -> list[datetime] | None:
    """When one weekly action fires in [since, until] (UTC); None when it is not a weekly pattern."""
    times = weekly_times(action.schedule)
    if times is None:
        return None
    fired, week = [], week_start(since)
    while week <= until:
        for t in times:
            moment = week + timedelta(minutes=to_utc_week(t, action.timezone or "UTC", week))
            if since <= moment <= until:
                fired.append(moment)
        week += timedelta(minutes=WEEK)
    return sorted(fired)


def _raised(cap: TargetCapacity, n: int, high: int, scale_out: datetime, end: datetime) -> list[RaisedAction]:
    """Every recurring action that sets MinCapacity below n and fires in [scale_out, end), or whose firings cannot
    be predicted (rate(), day-of-month): raised to n, MaxCapacity kept >= n (set when n is above the target's)."""
    raised = []
    for action in cap.schedule:
        if action.min_capacity is None or action.schedule.startswith("at(") or action.min_capacity >= n:
            continue
        fired = _firings_of(action, scale_out, end - timedelta(seconds=1))
        if fired == []:
            continue
        fires = ["not a weekly pattern"] if fired is None else [f.isoformat() for f in fired]
        if action.max_capacity is not None:
            top: int | None = max(action.max_capacity, n)
        else:
            top = high if n > int(cap.max_capacity or 0) else None
        raised.append(RaisedAction(action, n, top, fires))
    return raised


class ScheduleStore:
    """The campaign's reads and writes: the endpoint's tags (its record) and the variant's scheduled actions."""

    NAMESPACE = "sagemaker"

    def __init__(self, autoscaling: Any, sagemaker: Any) -> None:
        self._aas, self._sm = autoscaling, sagemaker

    @property
    def autoscaling(self) -> Any:
        return self._aas

    def endpoint_tags(self, arn: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        kwargs: dict[str, Any] = {"ResourceArn": arn, "MaxResults": 100}
        while True:
            page = self._sm.list_tags(**kwargs)
            tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
            if not page.get("NextToken"):
                return tags
            kwargs["NextToken"] = page["NextToken"]

    def tag(self, arn: str, tags: dict[str, str]) -> None:
        self._sm.add_tags(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def untag(self, arn: str, keys: list[str]) -> None:
        self._sm.delete_tags(ResourceArn=arn, TagKeys=keys)

    def action(self, resource_id: str, dimension: str, name: str) -> dict[str, Any] | None:
        found = self._aas.describe_scheduled_actions(
            ServiceNamespace=self.NAMESPACE,
            ResourceId=resource_id,
            ScalableDimension=dimension,
            ScheduledActionNames=[name],
        )["ScheduledActions"]
        return dict(found[0]) if found else None

    def put(self, raw: dict[str, Any], min_capacity: int, max_capacity: int | None) -> None:
        """Re-put an action with new capacities and everything else as it is: PutScheduledAction drops a start
        and end time it is not given, so both are passed again. An action whose MaxCapacity goes away is deleted
        first, so nothing of the raised one survives."""
        target: dict[str, int] = {"MinCapacity": min_capacity}
        if max_capacity is not None:
            target["MaxCapacity"] = max_capacity
        elif "MaxCapacity" in raw.get("ScalableTargetAction", {}):
            self.delete(raw["ResourceId"], raw["ScalableDimension"], raw["ScheduledActionName"])
            try:
                self._put(raw, target)
            except Exception as exc:
                # Deleted and not put: put it back as it was, so its record still matches and a rerun finishes;
                # failing that too, the error carries the command that re-creates it (nothing else would).
                try:
                    self._put(raw, dict(raw["ScalableTargetAction"]))
                except Exception:
                    raise ActionLost(
                        f"{raw['ScheduledActionName']} was deleted to drop its MaxCapacity and could not be put "
                        f"again ({exc}): re-create it with {put_back_command(raw, min_capacity, None)}"
                    ) from exc
                raise
            return
        self._put(raw, target)

    def _put(self, raw: dict[str, Any], target: dict[str, int]) -> None:
        kwargs = {k: raw[k] for k in ("Timezone", "StartTime", "EndTime") if raw.get(k) is not None}
        self._aas.put_scheduled_action(
            ServiceNamespace=self.NAMESPACE,
            ScheduledActionName=raw["ScheduledActionName"],
            ResourceId=raw["ResourceId"],
            ScalableDimension=raw["ScalableDimension"],
            Schedule=raw["Schedule"],
            ScalableTargetAction=target,
            **kwargs,
        )

    def delete(self, resource_id: str, dimension: str, name: str) -> None:
        self._aas.delete_scheduled_action(
            ServiceNamespace=self.NAMESPACE,
            ScheduledActionName=name,
            ResourceId=resource_id,
            ScalableDimension=dimension,
        )


def put_back_command(raw: dict[str, Any], min_capacity: int | str, max_capacity: int | str | None) -> str:
    """The AWS CLI command that puts one action back by hand (what campaign-end does for it); a capacity may be a
    placeholder the operator fills in."""
    target = f"MinCapacity={min_capacity}" + ("" if max_capacity is None else f",MaxCapacity={max_capacity}")
    extra = "".join(
        f" --{flag} {raw[key] if isinstance(raw[key], str) else raw[key].isoformat()}"
        for key, flag in (("Timezone", "timezone"), ("StartTime", "start-time"), ("EndTime", "end-time"))
        if raw.get(key) is not None
    )
    return (
        f"aws application-autoscaling put-scheduled-action --service-namespace sagemaker --scheduled-action-name "
        f"{raw['ScheduledActionName']} --resource-id {raw['ResourceId']} --scalable-dimension "
        f"{raw['ScalableDimension']} --schedule '{raw['Schedule']}' --scalable-target-action {target}{extra}"
    )


def campaign_ends(tags: Mapping[str, str]) -> dict[str, datetime | None]:
    """Campaign name -> its recorded end (None when the value does not read as a time)."""
    ends: dict[str, datetime | None] = {}
    for key, value in tags.items():
        if key.startswith(PREFIX) and key.endswith(":end"):
            try:
                end = datetime.fromisoformat(value.replace("Z", "+00:00"))
                ends[key[len(PREFIX) : -len(":end")]] = end if end.tzinfo else end.replace(tzinfo=UTC)
            except ValueError:
                ends[key[len(PREFIX) : -len(":end")]] = None
    return ends
