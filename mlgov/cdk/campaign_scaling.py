"""CampaignScaling: Application Auto Scaling for one SageMaker endpoint variant that never lets it reach
zero, keeps more instances in business hours and pre-scales for known campaigns (spec scenario 4).

- Target tracking on SageMakerVariantInvocationsPerInstance: scale out after 60 s, in after 300 s.
  The asymmetry is deliberate: adding an instance takes minutes of model loading, so scale-out reacts
  fast; campaign traffic tails off in bursts, and an instance removed too early must load the model
  again when the next burst comes, so scale-in waits five minutes (a few cents an event).
- A weekly minimum: overnight (default 1), business hours (default 2; Security Hub SageMaker.4 asks
  for more than one instance), and campaigns such as Manga Monday (5, Monday 08:00-22:00), all in one
  time zone. The minimum at any minute is the highest window covering it, so overlapping windows never
  lower each other; one scheduled action is emitted per change.
- Validated at synth: windows' syntax, every minimum >= the floor and <= max_capacity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_iam as iam
from constructs import Construct

from mlgov.cdk.weekly_schedule import layered_timeline, weekly_crons
from mlgov_runtime.capacity.schedule import ScheduleError, Window, zone

SERVICE_LINKED_ROLE = (
    "arn:{partition}:iam::{account}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


class CampaignScheduleError(ValueError):
    """A schedule that cannot be deployed; the message names the construct and the window."""


@dataclass(frozen=True)
class CampaignWindow:
    """A weekly window with its minimum, e.g. CampaignWindow("manga-monday", ["MON"], "08:00", "22:00", 5)."""

    name: str
    days: Sequence[str]
    start: str
    end: str
    min_capacity: int


def plan_schedule(
    *,
    floor: int,
    max_capacity: int,
    overnight_min: int,
    business_min: int,
    business_hours: str | None,
    campaigns: Sequence[CampaignWindow],
) -> list[tuple[str, int]]:
    """(weekly cron, MinCapacity) for every change of the weekly minimum. Raises ScheduleError."""
    if floor < 1:
        raise ScheduleError(f"floor {floor} would let the endpoint reach zero")
    if max_capacity < 1:
        raise ScheduleError(f"max_capacity {max_capacity} is below 1")
    layers: list[tuple[Window, int]] = []
    levels = [("overnight minimum", overnight_min)]
    if business_hours:
        layers.append((_window(business_hours), business_min))
        levels.append((f"business-hours minimum ({business_hours})", business_min))
    for campaign in campaigns:
        try:
            layers.append((Window.parse(campaign.days, campaign.start, campaign.end), campaign.min_capacity))
        except ScheduleError as exc:
            raise ScheduleError(f"campaign {campaign.name!r}: {exc}") from None
        levels.append((f"campaign {campaign.name!r} minimum", campaign.min_capacity))
    for what, level in levels:
        if level < floor:
            raise ScheduleError(f"{what} {level} is below the floor {floor}: the endpoint could reach zero")
        if level > max_capacity:
            raise ScheduleError(f"{what} {level} is above max_capacity {max_capacity}")
    timeline = layered_timeline(overnight_min, layers)
    lowest = min(level for _, level in timeline)
    if lowest < floor:  # cannot happen with the checks above; kept as the invariant the schedule must hold
        raise ScheduleError(f"the weekly minimum drops to {lowest}, below the floor {floor}")
    return weekly_crons(timeline)


def _window(text: str) -> Window:
    """'MON-FRI 06:00-24:00' or 'MON,SAT 08:00-22:00'."""
    days, _, hours = text.strip().partition(" ")
    start, _, end = hours.strip().partition("-")
    return Window.parse(days.split(","), start, end)


def _action_name(cron: str, level: int) -> str:
    minute, hour, _, _, days, _ = cron[5:-1].split(" ")
    when = "daily" if days == "?" else days.replace(",", "-")
    return f"mlgov-min{level}-{int(hour):02d}{int(minute):02d}-{when}"


class CampaignScaling(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        variant_name: str = "AllTraffic",
        max_capacity: int = 10,
        target_invocations_per_instance: float = 70.0,
        overnight_min: int = 1,
        business_min: int = 2,
        business_hours: str | None = "MON-SUN 06:00-24:00",
        campaigns: Sequence[CampaignWindow] = (),
        time_zone: str = "UTC",
        floor: int = 1,
        scale_out_cooldown: cdk.Duration | None = None,
        scale_in_cooldown: cdk.Duration | None = None,
        role: iam.IRole | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        try:
            zone(time_zone)
            self.plan = plan_schedule(
                floor=floor,
                max_capacity=max_capacity,
                overnight_min=overnight_min,
                business_min=business_min,
                business_hours=business_hours,
                campaigns=campaigns,
            )
        except ScheduleError as exc:
            raise CampaignScheduleError(f"{self.node.path}: {exc}") from None
        stack = cdk.Stack.of(self)
        role = role or iam.Role.from_role_arn(
            self,
            "ServiceLinkedRole",
            SERVICE_LINKED_ROLE.format(partition=stack.partition, account=stack.account),
            mutable=False,
        )
        self.target = appscaling.ScalableTarget(
            self,
            "Target",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{endpoint_name}/variant/{variant_name}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            # The scheduled actions take over at their next time; until then the higher baseline holds.
            min_capacity=max(overnight_min, business_min if business_hours else overnight_min),
            max_capacity=max_capacity,
            role=role,
        )
        self.policy = self.target.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=target_invocations_per_instance,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_out_cooldown=scale_out_cooldown or cdk.Duration.seconds(60),
            scale_in_cooldown=scale_in_cooldown or cdk.Duration.seconds(300),
        )
        for cron, level in self.plan:
            self.target.scale_on_schedule(
                _action_name(cron, level),
                schedule=appscaling.Schedule.expression(cron),
                min_capacity=level,
                max_capacity=max_capacity,
                time_zone=cdk.TimeZone.of(time_zone),
            )

    @classmethod
    def from_settings(
        cls, scope: Construct, construct_id: str, *, endpoint_name: str, variant_name: str, settings: Any
    ) -> CampaignScaling:
        """With the `capacity` section and thresholds.min_endpoint_capacity of mlgov.settings.Settings."""
        c = settings.capacity
        hours = c.business_hours
        return cls(
            scope,
            construct_id,
            endpoint_name=endpoint_name,
            variant_name=variant_name,
            max_capacity=c.max_capacity,
            target_invocations_per_instance=c.target_invocations_per_instance,
            overnight_min=c.overnight_min_capacity,
            business_min=c.business_hours_min_capacity,
            business_hours=f"{','.join(hours.days)} {hours.start}-{hours.end}",
            campaigns=[CampaignWindow(w.name, w.days, w.start, w.end, w.min_capacity) for w in c.campaigns],
            time_zone=c.time_zone,
            floor=settings.thresholds.min_endpoint_capacity,
            scale_out_cooldown=cdk.Duration.seconds(c.scale_out_cooldown_seconds),
            scale_in_cooldown=cdk.Duration.seconds(c.scale_in_cooldown_seconds),
        )
