"""The governance audit stack, deployed to the central governance account."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.endpoint_audit import EndpointAudit
from stacks.findings_channel import FindingsChannel
from stacks.notifier import Notifier
from stacks.settings import Settings


class GovernanceAuditStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.channel = FindingsChannel(self, "Findings")
        self.audit = EndpointAudit(self, "EndpointAudit", settings=settings, channel=self.channel)
        self.notifier = Notifier(self, "Notifier", settings=settings, channel=self.channel)
        self._suppress()

    def _suppress(self) -> None:
        reasons = {
            "AwsSolutions-IAM5": "Read-only lineage audit of every endpoint, config, model and package: resources "
            "are scoped to this account's SageMaker ARNs by type. ListEndpoints, organizations:ListParents and "
            "X-Ray accept no resource scope (active tracing adds the X-Ray actions to each function's role). "
            "The member audit role exists in every member account. Log stream names under a function's own "
            "log group are generated at run time.",
            "AwsSolutions-L1": "Runtime pinned to the Python the test suite runs on (3.11); raised together.",
            "AwsSolutions-SQS3": "This queue is itself a dead-letter queue (EventBridge target or notifier queue).",
            "AwsSolutions-SMG4": "Holds third-party credentials (Slack webhooks, Jira API token) that are rotated "
            "at their provider and put here by the operator; there is no rotation Lambda to run.",
        }
        for construct, rule_ids in (
            (self.audit.policy, ["AwsSolutions-IAM5"]),
            (self.audit.role, ["AwsSolutions-IAM5"]),
            (self.audit.function, ["AwsSolutions-L1"]),
            (self.audit.dlq, ["AwsSolutions-SQS3"]),
            (self.notifier.dlq, ["AwsSolutions-SQS3"]),
            (self.notifier.policy, ["AwsSolutions-IAM5"]),
            (self.notifier.role, ["AwsSolutions-IAM5"]),
            (self.notifier.function, ["AwsSolutions-L1"]),
            (self.notifier.secret, ["AwsSolutions-SMG4"]),
        ):
            NagSuppressions.add_resource_suppressions(
                construct, [{"id": rule, "reason": reasons[rule]} for rule in rule_ids], apply_to_children=True
            )
