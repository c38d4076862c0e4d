"""Preventive guardrails: SCPs for the Organizations management (or delegated administrator)
account, and the same statements as an IAM managed policy and permissions boundary for a
single account without Organizations."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_organizations as organizations
from cdk_nag import NagSuppressions
from constructs import Construct

from mlgov.guardrails import account_policies, attachments, guardrail_policies, permissions_boundary
from mlgov.settings import Settings


class GuardrailsStack(Stack):
    """Deploy to the management or delegated administrator account; attaches to mlgov.guardrails.target_ou_ids
    (and where the product runs, mlgov.guardrails.governance_target_ids: see mlgov.guardrails.attachments)."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.policies = {}
        where = attachments(settings)
        for policy in guardrail_policies(settings):
            self.policies[policy.name] = organizations.CfnPolicy(
                self,
                policy.name,
                name=policy.name,
                description=policy.description,
                type="SERVICE_CONTROL_POLICY",
                content=policy.document,
                target_ids=where[policy.name] or None,
            )


# Managed policy name -> (construct id, description); mlgov.guardrails.ACCOUNT_POLICIES says which statements.
DENY_POLICIES = {
    "mlgov-guardrails": (
        "GuardrailsDenyPolicy",
        "ML governance guardrails: protected roles, approvals, lineage and serving changes (what the boundary carries)",
    ),
    "mlgov-guardrails-evidence": (
        "GuardrailsEvidenceDenyPolicy",
        "ML governance guardrails: package and governance tags, registry writes, mlgov events and recommendation "
        "metrics",
    ),
    "mlgov-guardrails-product": (
        "GuardrailsProductDenyPolicy",
        "ML governance guardrails: the product's functions, state machines, stack and bus policy (mlgov-product-guard)",
    ),
    "mlgov-guardrails-machinery": (
        "GuardrailsMachineryDenyPolicy",
        "ML governance guardrails: the product's rules, keys, findings channel and serving images' tag mutability",
    ),
}


class AccountGuardrailsStack(Stack):
    """Without Organizations: a managed policy to attach to human roles, and a boundary for roles
    that may create roles (the boundary also allows everything the deny list does not cover)."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        documents = account_policies(settings)
        # IAM's 6,144-character limit: the denies are several policies for the same human roles.
        self.deny_policies = {}
        for name, document in documents.items():
            policy_id, description = DENY_POLICIES[name]
            self.deny_policies[name] = self._managed_policy(policy_id, name, description, document)
        self.boundary = self._managed_policy(
            "GuardrailsBoundary",
            "mlgov-guardrails-boundary",
            "Permissions boundary: everything except what the ML governance guardrails deny",
            permissions_boundary(settings),
        )
        NagSuppressions.add_resource_suppressions(
            self.boundary,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "A permissions boundary caps, it grants nothing: it must allow "
                    "every action the guardrail denies do not remove, so it allows * and denies the guardrails.",
                }
            ],
        )

    def _managed_policy(
        self, construct_id: str, name: str, description: str, document: dict[str, Any]
    ) -> iam.ManagedPolicy:
        return iam.ManagedPolicy(
            self,
            construct_id,
            managed_policy_name=name,
            description=description,
            document=iam.PolicyDocument.from_json(document),
        )
