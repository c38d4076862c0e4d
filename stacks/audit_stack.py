"""The governance audit stack, deployed to the central governance account."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.endpoint_audit import EndpointAudit
from stacks.findings_channel import FindingsChannel
from stacks.settings import Settings


class GovernanceAuditStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.channel = FindingsChannel(self, "Findings")
        self.audit = EndpointAudit(self, "EndpointAudit", settings=settings, channel=self.channel)
        self._suppress()

    def _suppress(self) -> None:
        reasons = {
            "AwsSolutions-IAM5": "Read-only lineage audit of every endpoint, config, model and package: resources "
            "are scoped to this account's SageMaker ARNs by type. ListEndpoints, organizations:ListParents and "
            "X-Ray accept no resource scope. The member audit role exists in every member account. Log stream "
            "names under the function's own log group are generated at run time.",
            "AwsSolutions-L1": "Runtime pinned to the Python the test suite runs on (3.11); raised together.",
            "AwsSolutions-SQS3": "This queue is itself the dead-letter queue of the EventBridge targets.",
        }
        for construct, rule_ids in (
            (self.audit.policy, ["AwsSolutions-IAM5"]),
            (self.audit.role, ["AwsSolutions-IAM5"]),
            (self.audit.function, ["AwsSolutions-L1"]),
            (self.audit.dlq, ["AwsSolutions-SQS3"]),
        ):
            NagSuppressions.add_resource_suppressions(
                construct, [{"id": rule, "reason": reasons[rule]} for rule in rule_ids], apply_to_children=True
            )
