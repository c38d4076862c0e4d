"""Spec scenario 4: the capacity check. Application Auto Scaling and SageMaker API calls, endpoints
reaching InService and the weekly schedule -> capacity Lambda -> findings channel. Campaign scaling for
the endpoints listed in capacity.scaled_endpoints (mlgov.cdk.CampaignScaling)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from mlgov.cdk.campaign_scaling import CampaignScaling
from mlgov.settings import Settings
from mlgov_runtime.capacity.events import AUTOSCALING_CALLS, SAGEMAKER_CALLS
from mlgov_runtime.capacity.settings import Received
from mlgov_runtime.core import env
from mlgov_runtime.core.model import received_environment
from stacks import constants as c
from stacks.building_blocks import encrypted_queue, encrypted_table
from stacks.capability import CapabilityConstruct, successful_calls
from stacks.permissions import capacity as p
from stacks.permissions.core import IDEMPOTENCY

SERVICE = "capacity-check"


def function_environment(settings: Settings) -> dict[str, str]:
    """What the capacity Lambda reads (mlgov_runtime/capacity/settings.py `Received`), from the app's settings."""
    return {**received_environment(settings, Received), "POWERTOOLS_SERVICE_NAME": SERVICE}


def autoscaling_pattern() -> events.EventPattern:
    """Successful Application Auto Scaling calls on SageMaker resources."""
    return successful_calls("application-autoscaling", AUTOSCALING_CALLS, serviceNamespace=["sagemaker"])


def sagemaker_pattern() -> events.EventPattern:
    return successful_calls("sagemaker", SAGEMAKER_CALLS)


class Capacity(CapabilityConstruct):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.idempotency_table = encrypted_table(
            self, "IdempotencyTable", self.channel.key, "id", ttl_attribute="expiration", retain=False
        )
        environment = function_environment(self.settings)
        environment[env.IDEMPOTENCY_TABLE_NAME] = self.idempotency_table.table_name
        self.check = self.governed_function(
            "Check",
            description="Checks that SageMaker endpoints cannot scale to zero",
            environment=environment,
            statements=self._statements(),
            timeout=Duration.minutes(5),
            # Named: the member role in other accounts trusts it (stacks/member_role_stack.py).
            role_name=f"{c.CAPACITY_ROLE_PREFIX}-{Stack.of(self).region}",
            role_path=self.settings.guardrails.protected_role_path,
        )
        self.channel.grant_publish(self.check)
        self.dlq = encrypted_queue(self, "CapacityDeadLetterQueue", self.channel.key)
        self.dead_letter_queues.append(self.dlq)
        self.rules = self._build_rules()
        self.alarms = [
            self.errors_alarm(
                "CapacityCheckErrorsAlarm", "The capacity check failed; events are being retried", self.check.function
            ),
            self.dead_letter_alarm(
                "CapacityDeadLetterAlarm",
                "Capacity events could not be checked after all retries; redrive the DLQ",
                self.dlq,
            ),
        ]
        self.campaign_scaling = [
            CampaignScaling.from_settings(
                self,
                f"CampaignScaling{index}",
                endpoint_name=scaled.endpoint_name,
                variant_name=scaled.variant_name,
                settings=self.settings,
            )
            for index, scaled in enumerate(self.settings.capacity.scaled_endpoints)
        ]

    def _statements(self) -> list[iam.PolicyStatement]:
        stack = Stack.of(self)
        sm = f"arn:{stack.partition}:sagemaker:*:{stack.account}"
        return [
            iam.PolicyStatement(
                sid="ReadEndpoints",
                actions=list(p.ENDPOINT_READ),
                resources=[f"{sm}:endpoint/*", f"{sm}:endpoint-config/*", f"{sm}:inference-component/*"],
            ),
            # These accept no resource scope.
            iam.PolicyStatement(sid="ListEndpoints", actions=list(p.LISTS), resources=["*"]),
            iam.PolicyStatement(sid="ReadAutoscaling", actions=list(p.AUTOSCALING_READ), resources=["*"]),
            iam.PolicyStatement(
                sid="IdempotencyRecords", actions=list(IDEMPOTENCY), resources=[self.idempotency_table.table_arn]
            ),
            *self.other_account_statements(p.ORGANIZATION_READ),
        ]

    def _build_rules(self) -> list[events.Rule]:
        target = targets.LambdaFunction(
            self.check.function, dead_letter_queue=self.dlq, retry_attempts=8, max_event_age=Duration.hours(6)
        )
        return self.event_rules(
            [
                (
                    "AutoscalingApiCalls",
                    "Scalable targets, scaling policies and scheduled actions of SageMaker resources",
                    autoscaling_pattern(),
                    target,
                ),
                (
                    "EndpointApiCalls",
                    "Endpoints and inference components created or updated",
                    sagemaker_pattern(),
                    target,
                ),
                (
                    "EndpointInService",
                    "SageMaker endpoints reaching InService",
                    events.EventPattern(
                        source=["aws.sagemaker"],
                        detail_type=[c.STATE_CHANGE_DETAIL_TYPE],
                        detail={"EndpointStatus": ["IN_SERVICE"]},
                    ),
                    target,
                ),
                (
                    "WeeklyCheck",
                    "Weekly capacity check of every endpoint in this account/region",
                    events.Schedule.expression(self.settings.weekly_scan_schedule),
                    target,
                ),
            ]
        )
