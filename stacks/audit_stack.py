"""The governance audit stack, deployed to the central governance account."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Stack
from cdk_nag import NagSuppressions
from constructs import Construct

from mlgov.settings import Settings
from stacks.building_blocks import GovernedFunction
from stacks.endpoint_audit import EndpointAudit
from stacks.findings_channel import FindingsChannel
from stacks.notifier import Notifier
from stacks.retraining import Retraining


class GovernanceAuditStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.channel = FindingsChannel(self, "Findings")
        self.audit = EndpointAudit(self, "EndpointAudit", settings=settings, channel=self.channel)
        self.notifier = Notifier(self, "Notifier", settings=settings, channel=self.channel)
        self.retraining = Retraining(self, "Retraining", settings=settings, channel=self.channel)
        self._suppress()

    def _suppress(self) -> None:
        reasons = {
            "AwsSolutions-IAM5": "Wildcards only where the resource set is open by nature, each scoped by type or "
            "prefix: every endpoint, config, model and package of this account (the audit reads them all); the "
            "watched group's package versions; objects under one prefix of the snapshot bucket (one per dated "
            "snapshot, job or evaluation); lora-* training jobs; the AWS Deep Learning Containers' ECR "
            "repositories. ListEndpoints, organizations:ListParents, ecr:GetAuthorizationToken, "
            "cloudwatch:PutMetricData (namespace-conditioned) and X-Ray (added by active tracing) accept no "
            "resource scope. The member audit role exists in every member account. Log stream names under a "
            "function's own log group are generated at run time.",
            "AwsSolutions-L1": "Runtime pinned to the Python the test suite runs on (3.11); raised together.",
            "AwsSolutions-SQS3": "This queue is itself a dead-letter queue (of EventBridge targets or of the "
            "notifier queue).",
            "AwsSolutions-SMG4": "Holds third-party credentials (Slack webhooks, Jira API token) that are rotated "
            "at their provider and put here by the operator; there is no rotation Lambda to run.",
        }
        suppressions: list[tuple[Construct, list[str]]] = [
            (self.audit.dlq, ["AwsSolutions-SQS3"]),
            (self.notifier.dlq, ["AwsSolutions-SQS3"]),
            (self.retraining.dlq, ["AwsSolutions-SQS3"]),
            (self.notifier.secret, ["AwsSolutions-SMG4"]),
            (self.retraining.training_role, ["AwsSolutions-IAM5"]),
            (self.retraining.training_policy, ["AwsSolutions-IAM5"]),
            (cast(Construct, self.retraining.machine_role), ["AwsSolutions-IAM5"]),
        ]
        for construct in self.node.find_all():
            if isinstance(construct, GovernedFunction):
                suppressions += [
                    (construct.function, ["AwsSolutions-L1"]),
                    (construct.role, ["AwsSolutions-IAM5"]),
                    (construct.policy, ["AwsSolutions-IAM5"]),
                ]
        for target, rule_ids in suppressions:
            NagSuppressions.add_resource_suppressions(
                target, [{"id": rule, "reason": reasons[rule]} for rule in rule_ids], apply_to_children=True
            )
