"""The governance audit stack, deployed to the central governance account."""

from __future__ import annotations

import importlib
from typing import Any

from aws_cdk import Stack
from cdk_nag import NagSuppressions
from constructs import Construct

from mlgov.settings import Settings
from mlgov_runtime.registry import CAPABILITIES
from stacks.building_blocks import GovernedFunction, only_senders
from stacks.capability import CapabilityConstruct
from stacks.findings_channel import FindingsChannel


class GovernanceAuditStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.channel = FindingsChannel(self, "Findings")
        self.capabilities: dict[str, CapabilityConstruct] = {}
        for capability in CAPABILITIES:
            construct = getattr(importlib.import_module(f"stacks.{capability.name}"), capability.construct)
            self.capabilities[capability.name] = construct(
                self,
                capability.construct,
                capability=capability,
                settings=settings,
                channel=self.channel,
                peers=dict(self.capabilities),
            )
        self.channel.seal(settings.guardrails.operator_role_arns, settings.guardrails.deployer_role_arns)
        for built in self.capabilities.values():
            for queue in built.dead_letter_queues:
                only_senders(queue, built.dead_letter_senders.get(queue.node.path, ()))
        self.channel.encrypt_logs(self)
        self._suppress()

    def _suppress(self) -> None:
        reasons = {
            "AwsSolutions-IAM5": "Wildcards only where the resource set is open by nature, each scoped by type or "
            "prefix: every endpoint, config, model and package of this account (the audit reads them all); the "
            "watched group's package versions; objects under one prefix of the snapshot bucket (one per dated "
            "snapshot, job or evaluation); lora-* training jobs; the AWS Deep Learning Containers' ECR "
            "repositories. ListEndpoints, ListInferenceComponents, Application Auto Scaling's Describe* calls, "
            "organizations:ListParents, ecr:GetAuthorizationToken, "
            "cloudwatch:PutMetricData (namespace-conditioned) and X-Ray (added by active tracing) accept no "
            "resource scope. The member audit role exists in every member account. Log stream names under a "
            "function's own log group are generated at run time.",
            "AwsSolutions-L1": "Runtime pinned to the Python the test suite runs on (3.11); raised together.",
            "AwsSolutions-SQS3": "This queue is itself a dead-letter queue (of EventBridge targets or of the "
            "notifier queue).",
            "AwsSolutions-SMG4": "Holds third-party credentials (Slack webhooks, Jira API token) that are rotated "
            "at their provider and put here by the operator; there is no rotation Lambda to run.",
        }
        suppressions: list[tuple[Construct, list[str]]] = []
        for built in self.capabilities.values():
            suppressions += [(queue, ["AwsSolutions-SQS3"]) for queue in built.dead_letter_queues]
            suppressions += built.nag_suppressions
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
