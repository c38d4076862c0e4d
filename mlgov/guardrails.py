"""Preventive guardrails as policy documents: SCPs for an organization, or the same statements
as an IAM managed policy and permissions boundary for a single account. No CDK import: the CLI
(`mlgov guardrails explain`) evaluates exactly these documents.

What IAM can see, and so what these statements can and cannot guarantee, is in the README
("Guardrails"). In short: CreateEndpoint sees only request tags, not the models behind the
config, so the tag is a claim; the audit Lambda verifies the real lineage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mlgov.settings import Settings

SCP_MAX_CHARS = 5120
SCPS_PER_TARGET = 5
MODEL_PACKAGE_ARN_SHAPE = "arn:aws*:sagemaker:*:*:model-package/*/*"
# Every partition (aws, aws-cn, aws-us-gov): a literal "arn:aws:" would match nothing in the others.
SM = "arn:*:sagemaker:*:*"
IAM_ROLE_CHANGES = [
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:UpdateRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:PassRole",
]


class GuardrailLimitError(ValueError):
    pass


@dataclass(frozen=True)
class NamedPolicy:
    name: str
    description: str
    document: dict[str, Any]

    @property
    def size(self) -> int:
        """Characters as Organizations counts them: the minified JSON document."""
        return len(minified(self.document))


def minified(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


def _principal_exceptions(roles: list[str]) -> dict[str, Any]:
    return {"ArnNotLike": {"aws:PrincipalArn": roles}} if roles else {}


def _merge(*conditions: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for condition in conditions:
        for operator, keys in condition.items():
            merged.setdefault(operator, {}).update(keys)
    return merged


def _endpoint_statements(
    sid: str, actions: list[str], resource_types: list[str], condition: dict[str, Any], settings: Settings
) -> list[dict[str, Any]]:
    """Deny on endpoint-scoped resources, except experiment endpoints in experiment accounts/OUs.

    IAM has no OR inside one statement, so "experiment name AND experiment account" becomes two
    denies: every other name everywhere (NotResource), and every name outside experiment accounts.
    """
    ex = settings.experiment_exemptions
    resources = [f"{SM}:{t}/*" for t in resource_types]
    outside: dict[str, Any] = {}
    if ex.account_ids:
        outside["StringNotEquals"] = {"aws:PrincipalAccount": list(ex.account_ids)}
    if ex.organizational_unit_ids:
        outside["ForAllValues:StringNotLike"] = {
            "aws:PrincipalOrgPaths": [f"*/{ou}/*" for ou in ex.organizational_unit_ids]
        }
    if not outside:
        return [{"Sid": sid, "Effect": "Deny", "Action": actions, "Resource": resources, "Condition": condition}]
    prefix = ex.endpoint_name_prefix
    return [
        {
            "Sid": f"{sid}Named",
            "Effect": "Deny",
            "Action": actions,
            "NotResource": [f"{SM}:{t}/{prefix}*" for t in resource_types],
            "Condition": condition,
        },
        {
            "Sid": f"{sid}OutsideExperiments",
            "Effect": "Deny",
            "Action": actions,
            "Resource": resources,
            "Condition": _merge(condition, outside),
        },
    ]


def endpoint_lineage_policy(settings: Settings) -> NamedPolicy:
    g = settings.guardrails
    pipeline = g.pipeline_role_arns + g.break_glass_role_arns
    statements = [
        *_endpoint_statements(
            "DenyEndpointWithoutPackageTag",
            ["sagemaker:CreateEndpoint"],
            ["endpoint"],
            _merge(
                {"StringNotLike": {"aws:RequestTag/ModelPackageName": MODEL_PACKAGE_ARN_SHAPE}},
                _principal_exceptions(g.break_glass_role_arns),
            ),
            settings,
        ),
        *_endpoint_statements(
            "DenyLineageChangeOutsidePipeline",
            [
                "sagemaker:UpdateEndpoint",
                "sagemaker:UpdateEndpointWeightsAndCapacities",
                "sagemaker:CreateEndpointConfig",
                "sagemaker:DeleteEndpointConfig",
            ],
            ["endpoint", "endpoint-config"],
            _principal_exceptions(pipeline),
            settings,
        ),
        *_endpoint_statements(
            "DenyGovernanceTagChange",
            ["sagemaker:AddTags", "sagemaker:DeleteTags"],
            ["endpoint"],
            # IAM compares tag keys case-insensitively elsewhere; a `modelpackagename` tag must not slip by.
            _merge(
                {"ForAnyValue:StringEqualsIgnoreCase": {"aws:TagKeys": g.governance_tag_keys}},
                _principal_exceptions(pipeline),
            ),
            settings,
        ),
        # A model or inference component is what serves: created, swapped or deleted only by the pipeline.
        *_endpoint_statements(
            "DenyServingChangeOutsidePipeline",
            [
                "sagemaker:CreateModel",
                "sagemaker:DeleteModel",
                "sagemaker:CreateInferenceComponent",
                "sagemaker:UpdateInferenceComponent",
            ],
            ["model", "inference-component"],
            _principal_exceptions(pipeline),
            settings,
        ),
    ]
    return NamedPolicy(
        "mlgov-endpoint-lineage",
        "ML governance: endpoints only from registered model packages; lineage changes only via the pipeline",
        {"Version": "2012-10-17", "Statement": statements},
    )


def model_approval_policy(settings: Settings) -> NamedPolicy:
    g = settings.guardrails
    statement = {
        "Sid": "DenyApprovalOutsideApprovers",
        "Effect": "Deny",
        "Action": ["sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage"],
        "Resource": [f"{SM}:model-package/*"],
        "Condition": _merge(
            {"StringEquals": {"sagemaker:ModelApprovalStatus": "Approved"}},
            _principal_exceptions(g.approver_role_arns + g.break_glass_role_arns),
        ),
    }
    # An update without a status can still repoint an Approved package (AdditionalInferenceSpecificationsToAdd):
    # no condition key shows which fields change, so every update is the approvers' and the pipeline's.
    changes = {
        "Sid": "DenyPackageChangeOutsideApprovers",
        "Effect": "Deny",
        "Action": ["sagemaker:UpdateModelPackage"],
        "Resource": [f"{SM}:model-package/*"],
        "Condition": _principal_exceptions(g.approver_role_arns + g.pipeline_role_arns + g.break_glass_role_arns),
    }
    return NamedPolicy(
        "mlgov-model-approval",
        "ML governance: only approver roles may approve a model package, and only they or the pipeline change one",
        {"Version": "2012-10-17", "Statement": [statement, changes]},
    )


def protected_roles_policy(settings: Settings) -> NamedPolicy:
    """The exemptions above name roles on a protected path; only role admins may make or pass those roles."""
    g = settings.guardrails
    statement = {
        "Sid": "DenyProtectedRoleChanges",
        "Effect": "Deny",
        "Action": IAM_ROLE_CHANGES,
        "Resource": [f"arn:*:iam::*:role{g.protected_role_path}*"],
        "Condition": _principal_exceptions(g.role_admin_arns + g.break_glass_role_arns),
    }
    return NamedPolicy(
        "mlgov-protected-roles",
        "ML governance: the exempt pipeline and approver roles can be created, changed or passed only by role admins",
        {"Version": "2012-10-17", "Statement": [statement]},
    )


def guardrail_policies(settings: Settings) -> list[NamedPolicy]:
    """The SCPs, checked against Organizations' limits (a clear error names the policy)."""
    policies = [endpoint_lineage_policy(settings), model_approval_policy(settings), protected_roles_policy(settings)]
    for policy in policies:
        if policy.size > SCP_MAX_CHARS:
            raise GuardrailLimitError(
                f"SCP {policy.name} is {policy.size} characters; Organizations allows {SCP_MAX_CHARS}. "
                "Shorten the role patterns or exemption lists in mlgov.guardrails/experiment_exemptions."
            )
    attached = len(policies) + settings.guardrails.existing_scps_per_target
    if attached > SCPS_PER_TARGET:
        raise GuardrailLimitError(
            f"SCP {policies[-1].name} would be SCP number {attached} on each target; Organizations allows "
            f"{SCPS_PER_TARGET} per target (mlgov.guardrails.existing_scps_per_target="
            f"{settings.guardrails.existing_scps_per_target})."
        )
    return policies


def permissions_boundary(settings: Settings) -> dict[str, Any]:
    """For a single account: allow everything else, deny what the SCPs deny."""
    statements: list[dict[str, Any]] = [
        {"Sid": "AllowWithinBoundary", "Effect": "Allow", "Action": "*", "Resource": "*"}
    ]
    for policy in guardrail_policies(settings):
        statements.extend(policy.document["Statement"])
    return {"Version": "2012-10-17", "Statement": statements}
