"""Spec scenario 2: the weekly catalog coverage check of the approved model's training snapshot.
A gap above the page threshold starts the retraining state machine (stacks/retraining.py)."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.building_blocks import GovernedFunction, encrypted_queue
from stacks.capability import CapabilityConstruct
from stacks.permissions import coverage as p
from stacks.retraining import Retraining


class Coverage(CapabilityConstruct):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.retraining = cast(Retraining, kwargs["peers"]["retraining"])
        self.coverage = self._build_coverage_function()
        self.dlq = encrypted_queue(self, "CoverageDeadLetterQueue", self.channel.key)
        self.dead_letter_queues.append(self.dlq)
        events.Rule(
            self,
            "WeeklyCoverageCheck",
            description="Catalog coverage gap of the approved model",
            schedule=events.Schedule.expression(self.settings.retraining.coverage_schedule),
            targets=[targets.LambdaFunction(self.coverage.function, retry_attempts=3, dead_letter_queue=self.dlq)],
        )
        self.alarms = [
            self.errors_alarm("CoverageCheckErrorsAlarm", "The weekly coverage check failed", self.coverage.function),
            self.dead_letter_alarm(
                "CoverageDeadLetterAlarm",
                "The weekly coverage check could not be invoked after all retries; its event is in the DLQ",
                self.dlq,
            ),
        ]

    def _build_coverage_function(self) -> GovernedFunction:
        r = self.settings.retraining
        machine_arn = self.retraining.state_machine.state_machine_arn
        environment = {
            **self.received_environment(),
            "RETRAINING_STATE_MACHINE_ARN": machine_arn,
            "POWERTOOLS_SERVICE_NAME": "coverage-check",
        }
        snapshot_objects = [self.retraining.bucket.arn_for_objects("catalog-snapshots/*")]
        if r.snapshot_fallback_uri:
            snapshot_objects.append(f"arn:{Stack.of(self).partition}:s3:::{r.snapshot_fallback_uri[5:]}")
        check = self.governed_function(
            "CoverageCheck",
            description="Weekly catalog coverage gap of the approved model's training snapshot",
            environment=environment,
            statements=[
                *self.retraining.catalog_and_registry_statements(),
                iam.PolicyStatement(sid="ReadSnapshots", actions=list(p.SNAPSHOT_READ), resources=snapshot_objects),
                iam.PolicyStatement(
                    sid="StartRetraining",
                    actions=["states:StartExecution"],
                    resources=[machine_arn],
                ),
                iam.PolicyStatement(
                    sid="SeeRunningRetraining",
                    actions=["states:ListExecutions"],
                    resources=[machine_arn],
                ),
            ],
            timeout=Duration.minutes(15),
            memory_size=1024,
        )
        self.channel.grant_publish(check)
        return check
