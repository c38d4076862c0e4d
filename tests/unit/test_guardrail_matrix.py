"""Decision matrix: request contexts evaluated against the synthesized guardrail policies by an
independent evaluator (principalmapper's local policy simulation, with its StringNotLike defect
corrected in mlgov.policy_eval). Prints the matrix: run with -s to see it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlgov.guardrails import (
    FORWARDING_ROLE_PREFIX,
    IAM_POLICY_MAX_CHARS,
    MEMBER_ROLE_PATH,
    SCP_MAX_CHARS,
    GuardrailLimitError,
    account_policies,
    attachments,
    base_sid,
    guardrail_policies,
    permissions_boundary,
)
from mlgov.policy_eval import evaluate
from mlgov.settings import DEFAULT_MEMBER_ROLE_NAME, parse_settings

PROD, STAGING, EXPERIMENT = "210987654321", "345678901234", "111122223333"
EXPERIMENT_OU = "ou-ab12-exprmnts"
PACKAGE = f"arn:aws:sagemaker:us-east-1:{PROD}:model-package/manga-recommender/7"
# The recommender's function, which runs as a metric writer (guardrails.metric_writer_function_arns).
RECOMMENDER = "arn:aws:lambda:us-east-1:999988887777:function:manga-recommender-api"
SETTINGS = parse_settings(
    {
        "experiment_exemptions": {"account_ids": [EXPERIMENT], "organizational_unit_ids": [EXPERIMENT_OU]},
        "guardrails": {
            "target_ou_ids": ["ou-ab12-prodwork"],
            "pipeline_role_arns": ["arn:aws:iam::*:role/mlgov-protected/MlGovDeploymentPipeline*"],
            "approver_role_arns": ["arn:aws:iam::*:role/mlgov-protected/MlGovModelApprover"],
            "role_admin_arns": ["arn:aws:iam::*:role/mlgov-protected/MlGovRoleAdmin"],
            "break_glass_role_arns": ["arn:aws:iam::*:role/mlgov-protected/MlGovBreakGlass"],
            "governance_target_ids": ["999988887777"],
            "serving_repository_names": ["manga-recommender-serving"],
            "metric_writer_function_arns": [RECOMMENDER],
        },
    }
)
POLICIES = {p.name: p.document for p in guardrail_policies(SETTINGS)}


def role(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


@dataclass
class Case:
    name: str
    action: str
    account: str
    principal: str
    expected: str
    endpoint: str = "manga-recommender-prod"
    request_tags: dict[str, str] = field(default_factory=dict)
    tag_keys: list[str] = field(default_factory=list)
    approval: str | None = None
    org_path: str | None = None
    resource_arn: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # service condition keys (events:source, ...)
    sid: str | None = None  # the statement that must decide a Deny

    def resource(self) -> str:
        if self.resource_arn:
            return self.resource_arn
        if "ModelPackage" in self.action:
            return PACKAGE.replace(PROD, self.account)
        kind = "endpoint-config" if self.action.endswith("EndpointConfig") else "endpoint"
        return f"arn:aws:sagemaker:us-east-1:{self.account}:{kind}/{self.endpoint}"

    def context(self) -> dict[str, Any]:
        ctx: dict[str, Any] = {"aws:PrincipalArn": self.principal, "aws:PrincipalAccount": self.account}
        ctx.update({f"aws:RequestTag/{k}": v for k, v in self.request_tags.items()})
        keys = self.tag_keys or list(self.request_tags)
        if keys:
            ctx["aws:TagKeys"] = keys
        if self.approval:
            ctx["sagemaker:ModelApprovalStatus"] = self.approval
        ctx["aws:PrincipalOrgPaths"] = [self.org_path or "o-a1b2c3d4e5/r-ab12/ou-ab12-prodwork/"]
        ctx.update(self.extra)
        return ctx


DS = "DataScientist"
PIPE = "mlgov-protected/MlGovDeploymentPipeline-prod"
APPROVER = "mlgov-protected/MlGovModelApprover"
ROLE_ADMIN = "mlgov-protected/MlGovRoleAdmin"


def sm_arn(kind: str, name: str, account: str = PROD, partition: str = "aws", region: str = "us-east-1") -> str:
    return f"arn:{partition}:sagemaker:{region}:{account}:{kind}/{name}"


def protected_role(name: str) -> str:
    return f"arn:aws:iam::{PROD}:role/mlgov-protected/{name}"


TAG = {"ModelPackageName": PACKAGE}
CASES = [
    Case("registered package tag, prod", "sagemaker:CreateEndpoint", PROD, role(PROD, PIPE), "Allow", request_tags=TAG),
    Case("no tag, prod", "sagemaker:CreateEndpoint", PROD, role(PROD, DS), "Deny"),
    Case("no tag, staging", "sagemaker:CreateEndpoint", STAGING, role(STAGING, DS), "Deny"),
    Case(
        "bogus tag value",
        "sagemaker:CreateEndpoint",
        PROD,
        role(PROD, DS),
        "Deny",
        request_tags={"ModelPackageName": "trust-me"},
    ),
    Case(
        "tag is a model ARN, not a package",
        "sagemaker:CreateEndpoint",
        PROD,
        role(PROD, DS),
        "Deny",
        request_tags={"ModelPackageName": f"arn:aws:sagemaker:us-east-1:{PROD}:model/manga-raw"},
    ),
    Case(
        "package group ARN without version",
        "sagemaker:CreateEndpoint",
        PROD,
        role(PROD, DS),
        "Deny",
        request_tags={"ModelPackageName": f"arn:aws:sagemaker:us-east-1:{PROD}:model-package-group/manga"},
    ),
    Case(
        "tag under another key",
        "sagemaker:CreateEndpoint",
        PROD,
        role(PROD, DS),
        "Deny",
        request_tags={"model_package": PACKAGE},
    ),
    Case(
        "experiment- name in prod account",
        "sagemaker:CreateEndpoint",
        PROD,
        role(PROD, DS),
        "Deny",
        endpoint="experiment-lora-r16",
    ),
    Case(
        "experiment- name in experiment account",
        "sagemaker:CreateEndpoint",
        EXPERIMENT,
        role(EXPERIMENT, DS),
        "Allow",
        endpoint="experiment-lora-r16",
    ),
    Case(
        "other name in experiment account",
        "sagemaker:CreateEndpoint",
        EXPERIMENT,
        role(EXPERIMENT, DS),
        "Deny",
        endpoint="manga-recommender-shadow",
    ),
    Case(
        "experiment- name in experiment OU",
        "sagemaker:CreateEndpoint",
        STAGING,
        role(STAGING, DS),
        "Allow",
        endpoint="experiment-lora-r8",
        org_path=f"o-a1b2c3d4e5/r-ab12/{EXPERIMENT_OU}/",
    ),
    Case(
        "break-glass role without tag",
        "sagemaker:CreateEndpoint",
        PROD,
        role(PROD, "mlgov-protected/MlGovBreakGlass"),
        "Allow",
    ),
    Case("break-glass look-alike name", "sagemaker:CreateEndpoint", PROD, role(PROD, "MlGovBreakGlassNot"), "Deny"),
    Case(
        "break-glass name outside the protected path",
        "sagemaker:CreateModel",
        PROD,
        role(PROD, "MlGovBreakGlass"),
        "Deny",
        resource_arn=sm_arn("model", "manga-hotfix"),
    ),
    Case(
        "data scientist creates the break-glass role",
        "iam:CreateRole",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn=protected_role("MlGovBreakGlass"),
    ),
    Case("pipeline updates endpoint", "sagemaker:UpdateEndpoint", PROD, role(PROD, PIPE), "Allow"),
    Case(
        "pipeline removes ModelPackageName while retiring an endpoint",
        "sagemaker:DeleteTags",
        PROD,
        role(PROD, PIPE),
        "Allow",
        tag_keys=["ModelPackageName"],
    ),
    Case(
        "human updates an experiment- endpoint in prod account",
        "sagemaker:UpdateEndpoint",
        PROD,
        role(PROD, DS),
        "Deny",
        endpoint="experiment-lora-r16",
    ),
    Case(
        "human removes ModelPackageName from an experiment- endpoint in prod account",
        "sagemaker:DeleteTags",
        PROD,
        role(PROD, DS),
        "Deny",
        endpoint="experiment-lora-r16",
        tag_keys=["ModelPackageName"],
    ),
    Case("human updates endpoint", "sagemaker:UpdateEndpoint", PROD, role(PROD, DS), "Deny"),
    Case(
        "human creates endpoint config",
        "sagemaker:CreateEndpointConfig",
        PROD,
        role(PROD, DS),
        "Deny",
        endpoint="manga-recommender-prod-config-v9",
    ),
    Case(
        "pipeline creates endpoint config",
        "sagemaker:CreateEndpointConfig",
        PROD,
        role(PROD, PIPE),
        "Allow",
        endpoint="manga-recommender-prod-config-v9",
    ),
    Case(
        "human retags an experiment endpoint's purpose in an experiment account",
        "sagemaker:AddTags",
        EXPERIMENT,
        role(EXPERIMENT, DS),
        "Allow",
        endpoint="experiment-lora-r16",
        request_tags={"endpoint_purpose": "retiring"},
    ),
    Case(
        "human updates experiment endpoint in experiment account",
        "sagemaker:UpdateEndpoint",
        EXPERIMENT,
        role(EXPERIMENT, DS),
        "Allow",
        endpoint="experiment-lora-r16",
    ),
    Case(
        "remove ModelPackageName tag after creation",
        "sagemaker:DeleteTags",
        PROD,
        role(PROD, DS),
        "Deny",
        tag_keys=["ModelPackageName"],
    ),
    Case(
        "overwrite ModelPackageName tag",
        "sagemaker:AddTags",
        PROD,
        role(PROD, DS),
        "Deny",
        request_tags={"ModelPackageName": PACKAGE},
    ),
    Case(
        "retag endpoint_purpose to dodge retirement",
        "sagemaker:AddTags",
        PROD,
        role(PROD, DS),
        "Deny",
        request_tags={"endpoint_purpose": "active"},
    ),
    Case(
        "governance key hidden among other keys",
        "sagemaker:DeleteTags",
        PROD,
        role(PROD, DS),
        "Deny",
        tag_keys=["team", "ModelPackageName"],
    ),
    Case(
        "human adds an unrelated tag",
        "sagemaker:AddTags",
        PROD,
        role(PROD, DS),
        "Allow",
        request_tags={"cost-center": "recsys"},
    ),
    Case(
        "pipeline retags lineage",
        "sagemaker:AddTags",
        PROD,
        role(PROD, PIPE),
        "Allow",
        request_tags={"ModelPackageName": PACKAGE},
    ),
    Case(
        "approve package without approver role",
        "sagemaker:UpdateModelPackage",
        PROD,
        role(PROD, DS),
        "Deny",
        approval="Approved",
    ),
    Case(
        "register as Approved directly",
        "sagemaker:CreateModelPackage",
        PROD,
        role(PROD, PIPE),
        "Deny",
        approval="Approved",
    ),
    Case(
        "register as PendingManualApproval",
        "sagemaker:CreateModelPackage",
        PROD,
        role(PROD, PIPE),
        "Allow",
        approval="PendingManualApproval",
    ),
    Case(
        "approver approves",
        "sagemaker:UpdateModelPackage",
        PROD,
        role(PROD, APPROVER),
        "Allow",
        approval="Approved",
    ),
    Case("pipeline rejects", "sagemaker:UpdateModelPackage", PROD, role(PROD, PIPE), "Allow", approval="Rejected"),
    Case(
        "data scientist repoints an Approved package (no status in the request)",
        "sagemaker:UpdateModelPackage",
        PROD,
        role(PROD, DS),
        "Deny",
    ),
    Case(
        "data scientist shifts traffic weights",
        "sagemaker:UpdateEndpointWeightsAndCapacities",
        PROD,
        role(PROD, DS),
        "Deny",
    ),
    Case(
        "pipeline shifts traffic weights",
        "sagemaker:UpdateEndpointWeightsAndCapacities",
        PROD,
        role(PROD, PIPE),
        "Allow",
    ),
    Case(
        "data scientist deletes the config under a live endpoint",
        "sagemaker:DeleteEndpointConfig",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn=sm_arn("endpoint-config", "manga-recommender-prod-config"),
    ),
    Case(
        "pipeline deletes an old config",
        "sagemaker:DeleteEndpointConfig",
        PROD,
        role(PROD, PIPE),
        "Allow",
        resource_arn=sm_arn("endpoint-config", "manga-recommender-v6-config"),
    ),
    Case(
        "approve in experiment account without approver role",
        "sagemaker:UpdateModelPackage",
        EXPERIMENT,
        role(EXPERIMENT, DS),
        "Deny",
        approval="Approved",
    ),
    # Exempt principals are pinned to a protected path: a look-alike name elsewhere is not exempt.
    Case(
        "pipeline-named role outside the protected path updates endpoint",
        "sagemaker:UpdateEndpoint",
        PROD,
        role(PROD, "MlGovDeploymentPipelineMine"),
        "Deny",
    ),
    Case(
        "data scientist creates a role on the protected path",
        "iam:CreateRole",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn=protected_role("MlGovDeploymentPipelineMine"),
    ),
    Case(
        "data scientist passes the pipeline role",
        "iam:PassRole",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn=protected_role("MlGovDeploymentPipeline-prod"),
    ),
    Case(
        "role admin creates the pipeline role",
        "iam:CreateRole",
        PROD,
        role(PROD, ROLE_ADMIN),
        "Allow",
        resource_arn=protected_role("MlGovDeploymentPipeline-prod"),
    ),
    Case(
        "data scientist creates a role elsewhere",
        "iam:CreateRole",
        PROD,
        role(PROD, DS),
        "Allow",
        resource_arn=f"arn:aws:iam::{PROD}:role/team/recsys-notebook",
    ),
    Case(
        "data scientist passes a role elsewhere",
        "iam:PassRole",
        PROD,
        role(PROD, DS),
        "Allow",
        resource_arn=f"arn:aws:iam::{PROD}:role/team/recsys-notebook",
    ),
    # What serves: models and inference components.
    Case(
        "model from a raw artifact, prod",
        "sagemaker:CreateModel",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn=sm_arn("model", "manga-hotfix"),
    ),
    Case(
        "delete the model under a live endpoint",
        "sagemaker:DeleteModel",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn=sm_arn("model", "manga-recommender-v7"),
    ),
    Case(
        "pipeline creates a model",
        "sagemaker:CreateModel",
        PROD,
        role(PROD, PIPE),
        "Allow",
        resource_arn=sm_arn("model", "manga-recommender-v8"),
    ),
    Case(
        "pipeline deletes a model",
        "sagemaker:DeleteModel",
        PROD,
        role(PROD, PIPE),
        "Allow",
        resource_arn=sm_arn("model", "manga-recommender-v6"),
    ),
    Case(
        "experiment- model in experiment account",
        "sagemaker:CreateModel",
        EXPERIMENT,
        role(EXPERIMENT, DS),
        "Allow",
        resource_arn=sm_arn("model", "experiment-lora-r16", EXPERIMENT),
    ),
    Case(
        "experiment- model in prod account",
        "sagemaker:CreateModel",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn=sm_arn("model", "experiment-lora-r16"),
    ),
    Case(
        "rogue inference component on a prod endpoint",
        "sagemaker:CreateInferenceComponent",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn=sm_arn("inference-component", "manga-lora-rogue"),
    ),
    Case(
        "swap the model behind an approved inference component",
        "sagemaker:UpdateInferenceComponent",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn=sm_arn("inference-component", "manga-lora-approved"),
    ),
    Case(
        "take a prod inference component to zero copies",
        "sagemaker:UpdateInferenceComponentRuntimeConfig",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn=sm_arn("inference-component", "manga-lora-approved"),
    ),
    Case(
        "delete a prod inference component",
        "sagemaker:DeleteInferenceComponent",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn=sm_arn("inference-component", "manga-lora-approved"),
    ),
    Case(
        "read a prod inference component",
        "sagemaker:DescribeInferenceComponent",
        PROD,
        role(PROD, DS),
        "Allow",
        resource_arn=sm_arn("inference-component", "manga-lora-approved"),
    ),
    Case(
        "pipeline sets an inference component's copies",
        "sagemaker:UpdateInferenceComponentRuntimeConfig",
        PROD,
        role(PROD, PIPE),
        "Allow",
        resource_arn=sm_arn("inference-component", "manga-lora-v8"),
    ),
    Case(
        "pipeline deletes a retired inference component",
        "sagemaker:DeleteInferenceComponent",
        PROD,
        role(PROD, PIPE),
        "Allow",
        resource_arn=sm_arn("inference-component", "manga-lora-v6"),
    ),
    Case(
        "experiment- inference component's copies in experiment account",
        "sagemaker:UpdateInferenceComponentRuntimeConfig",
        EXPERIMENT,
        role(EXPERIMENT, DS),
        "Allow",
        resource_arn=sm_arn("inference-component", "experiment-lora-r16", EXPERIMENT),
    ),
    Case(
        "pipeline creates an inference component",
        "sagemaker:CreateInferenceComponent",
        PROD,
        role(PROD, PIPE),
        "Allow",
        resource_arn=sm_arn("inference-component", "manga-lora-v8"),
    ),
    Case(
        "pipeline updates an inference component",
        "sagemaker:UpdateInferenceComponent",
        PROD,
        role(PROD, PIPE),
        "Allow",
        resource_arn=sm_arn("inference-component", "manga-lora-v8"),
    ),
    # Tag keys compare case-insensitively; ARNs match in every partition.
    Case(
        "remove the governance tag spelled in lower case",
        "sagemaker:DeleteTags",
        PROD,
        role(PROD, DS),
        "Deny",
        tag_keys=["modelpackagename"],
    ),
    Case(
        "no tag, aws-cn partition",
        "sagemaker:CreateEndpoint",
        PROD,
        f"arn:aws-cn:iam::{PROD}:role/{DS}",
        "Deny",
        resource_arn=sm_arn("endpoint", "manga-recommender-prod", partition="aws-cn", region="cn-north-1"),
    ),
    Case(
        "model from a raw artifact, aws-us-gov partition",
        "sagemaker:CreateModel",
        PROD,
        f"arn:aws-us-gov:iam::{PROD}:role/{DS}",
        "Deny",
        resource_arn=sm_arn("model", "manga-hotfix", partition="aws-us-gov", region="us-gov-west-1"),
    ),
]


GOV = "999988887777"
PRODUCT = "MlGovEndpointAudit-RetrainingStateMachineRoleA1B2-Xy12"
DEPLOYER = f"cdk-hnb659fds-cfn-exec-role-{GOV}-us-east-1"
OPERATOR = "mlgov-protected/MlGovOperator"
WRITER = "mlgov-protected/MlGovRecommenderMetrics"
CHALLENGER_MACHINE = "mlgov-protected/MlGovModelApproverChallenger"
FUNCTION = f"arn:aws:lambda:us-east-1:{GOV}:function:MlGovEndpointAudit-ChallengerStepsFunctionAB12-Zz9"
APPROVAL_FUNCTION = f"arn:aws:lambda:us-east-1:{GOV}:function:MlGovEndpointAudit-ApprovalsServiceFunction12-Qq1"
APPROVAL_SERVICE = "MlGovEndpointAudit-ApprovalsServiceRole12AB-Yy7"
MACHINE = f"arn:aws:states:us-east-1:{GOV}:stateMachine:mlgov-challenger"
BUS = f"arn:aws:events:us-east-1:{GOV}:event-bus/default"
RETRAINING = {"events:source": ["mlgov.retraining"]}
RECS = {"cloudwatch:namespace": "MangaAssist/Recommendations"}
GROUP = f"arn:aws:sagemaker:us-east-1:{PROD}:model-package-group/manga-recommender"
SERVING_REPO = f"arn:aws:ecr:us-east-1:{PROD}:repository/manga-recommender-serving"


def gov(action: str, principal: str, expected: str, name: str, resource: str, **kw: Any) -> Case:
    return Case(name, action, GOV, role(GOV, principal), expected, resource_arn=resource, **kw)


# Issue 20: nothing the product automates can be steered by a forged input. Each new denial: the allowed
# principal allowed, others denied, with and without the condition key in the request.
# A production endpoint is deleted or created only by the pipeline, break-glass, or the retirement (where the product
# runs, by name): a deleted host takes production down, a re-created one serves nothing until its components return.
RETIREMENT_STEPS = "MlGovEndpointAudit-RetirementStepsFunctionServiceRole12-Ab1"
CASES += [
    Case("developer deletes a production endpoint", "sagemaker:DeleteEndpoint", PROD, role(PROD, DS), "Deny"),
    Case(
        "developer creates a package-tagged endpoint from an existing config",
        "sagemaker:CreateEndpoint",
        PROD,
        role(PROD, DS),
        "Deny",
        request_tags=TAG,
        sid="DenyLineageChangeOutsidePipelineNamed",
    ),
    Case("pipeline deletes a production endpoint", "sagemaker:DeleteEndpoint", PROD, role(PROD, PIPE), "Allow"),
    Case("retirement deletes after approval", "sagemaker:DeleteEndpoint", PROD, role(PROD, RETIREMENT_STEPS), "Allow"),
    Case(
        "developer deletes an experiment endpoint in an experiment account",
        "sagemaker:DeleteEndpoint",
        EXPERIMENT,
        role(EXPERIMENT, DS),
        "Allow",
        endpoint="experiment-lora-r16",
    ),
]
CASES += [
    # A forged "Model Package Registered" event used to start a challenger.
    gov(
        "events:PutEvents",
        DS,
        "Deny",
        "forged retraining announcement",
        BUS,
        extra=RETRAINING,
        sid="DenyProductEventsOutsideProduct",
    ),
    gov("events:PutEvents", PRODUCT, "Allow", "retraining state machine announces", BUS, extra=RETRAINING),
    gov(
        "events:PutEvents",
        DS,
        "Deny",
        "forged entry hidden among others",
        BUS,
        extra={"events:source": ["com.manga.app", "mlgov.retraining"]},
        sid="DenyProductEventsOutsideProduct",
    ),
    gov("events:PutEvents", DS, "Allow", "the app's own events", BUS, extra={"events:source": ["com.manga.app"]}),
    gov("events:PutEvents", DS, "Allow", "PutEvents without a source key", BUS),
    gov(
        "events:PutEvents",
        f"team/{PRODUCT}",
        "Deny",
        "product role name off its path",
        BUS,
        extra=RETRAINING,
        sid="DenyProductEventsOutsideProduct",
    ),
    # 222,000 forged impressions turned a 2.4 % CTR challenger into PROMOTE.
    Case(
        "forged impressions",
        "cloudwatch:PutMetricData",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn="*",
        extra=RECS,
        sid="DenyRecommendationMetricsOutsideWriters",
    ),
    Case(
        "recommender writes its metrics",
        "cloudwatch:PutMetricData",
        PROD,
        role(PROD, WRITER),
        "Allow",
        resource_arn="*",
        extra=RECS,
    ),
    Case(
        "metrics in another namespace",
        "cloudwatch:PutMetricData",
        PROD,
        role(PROD, DS),
        "Allow",
        resource_arn="*",
        extra={"cloudwatch:namespace": "Team/Notebook"},
    ),
    Case(
        "PutMetricData without a namespace key",
        "cloudwatch:PutMetricData",
        PROD,
        role(PROD, DS),
        "Allow",
        resource_arn="*",
    ),
    Case(
        "metric-writer name off the protected path",
        "cloudwatch:PutMetricData",
        PROD,
        role(PROD, "MlGovRecommenderMetrics"),
        "Deny",
        resource_arn="*",
        extra=RECS,
        sid="DenyRecommendationMetricsOutsideWriters",
    ),
    # Anyone used to register a PendingManualApproval package with any image into a watched group.
    Case(
        "data scientist registers into a watched group",
        "sagemaker:CreateModelPackage",
        PROD,
        role(PROD, DS),
        "Deny",
        approval="PendingManualApproval",
        sid="DenyRegistryWriteOutsidePipeline",
    ),
    Case(
        "registration without a status, watched group",
        "sagemaker:CreateModelPackage",
        PROD,
        role(PROD, DS),
        "Deny",
        sid="DenyRegistryWriteOutsidePipeline",
    ),
    Case(
        "retraining registers into a watched group",
        "sagemaker:CreateModelPackage",
        PROD,
        role(PROD, PRODUCT),
        "Allow",
        approval="PendingManualApproval",
    ),
    Case(
        "data scientist registers into an unwatched group",
        "sagemaker:CreateModelPackage",
        PROD,
        role(PROD, DS),
        "Allow",
        approval="PendingManualApproval",
        resource_arn=sm_arn("model-package", "my-sandbox/3"),
    ),
    # Issue 22: a group policy lets another account write versions into a watched group.
    Case(
        "data scientist opens a group to another account",
        "sagemaker:PutModelPackageGroupPolicy",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn=GROUP,
        sid="DenyRegistryWriteOutsidePipeline",
    ),
    Case(
        "pipeline sets the group policy",
        "sagemaker:PutModelPackageGroupPolicy",
        PROD,
        role(PROD, PIPE),
        "Allow",
        resource_arn=GROUP,
    ),
    Case(
        "data scientist removes the group policy",
        "sagemaker:DeleteModelPackageGroupPolicy",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn=GROUP,
        sid="DenyRegistryWriteOutsidePipeline",
    ),
    Case(
        "pipeline removes the group policy",
        "sagemaker:DeleteModelPackageGroupPolicy",
        PROD,
        role(PROD, PIPE),
        "Allow",
        resource_arn=GROUP,
    ),
    # Step Lambdas were confused deputies; their settings (MLGOV_CHALLENGER_SETTINGS) changed the gate.
    gov(
        "lambda:InvokeFunction",
        DS,
        "Deny",
        "direct invoke of a step function",
        FUNCTION,
        sid="DenyProductFunctionInvoke",
    ),
    gov("lambda:InvokeFunction", CHALLENGER_MACHINE, "Allow", "challenger state machine invokes its step", FUNCTION),
    gov(
        "lambda:InvokeFunction",
        DS,
        "Allow",
        "data scientist invokes an own function",
        f"arn:aws:lambda:us-east-1:{GOV}:function:notebook-helper",
    ),
    gov(
        "lambda:UpdateFunctionConfiguration",
        DS,
        "Deny",
        "lower the gate's alphas in MLGOV_CHALLENGER_SETTINGS",
        FUNCTION,
        sid="DenyProductFunctionChanges",
    ),
    gov(
        "lambda:UpdateFunctionConfiguration",
        PRODUCT,
        "Deny",
        "a product role changes a function",
        FUNCTION,
        sid="DenyProductFunctionChanges",
    ),
    gov("lambda:UpdateFunctionConfiguration", DEPLOYER, "Allow", "deploy changes the configuration", FUNCTION),
    gov("lambda:UpdateFunctionCode", DS, "Deny", "swap a step's code", FUNCTION, sid="DenyProductFunctionChanges"),
    gov("lambda:UpdateFunctionCode", DEPLOYER, "Allow", "deploy ships new code", FUNCTION),
    gov(
        "lambda:UpdateFunctionCode",
        DS,
        "Deny",
        "swap the code that runs as a metric writer (it writes the counts the gate believes)",
        RECOMMENDER,
        sid="DenyProductFunctionChanges",
    ),
    gov(
        "lambda:UpdateFunctionConfiguration",
        DS,
        "Deny",
        "add a layer to the metric writer's function",
        f"{RECOMMENDER}:live",
        sid="DenyProductFunctionChanges",
    ),
    gov("lambda:UpdateFunctionCode", DEPLOYER, "Allow", "a deploy ships the recommender's code", RECOMMENDER),
    gov("lambda:InvokeFunction", DS, "Allow", "callers still invoke the recommender", RECOMMENDER),
    gov(
        "states:StartExecution",
        DS,
        "Deny",
        "start a challenger with a made-up input",
        MACHINE,
        sid="DenyProductStateMachineStart",
    ),
    gov("states:StartExecution", OPERATOR, "Allow", "operator starts a challenger from the CLI", MACHINE),
    gov("states:StartExecution", PRODUCT, "Allow", "a product role starts a state machine", MACHINE),
    gov(
        "states:UpdateStateMachine",
        DS,
        "Deny",
        "rewrite the challenger's definition",
        MACHINE,
        sid="DenyProductStateMachineChanges",
    ),
    gov("states:UpdateStateMachine", DEPLOYER, "Allow", "deploy updates the definition", MACHINE),
    gov(
        "states:SendTaskSuccess",
        DS,
        "Deny",
        "approve a deletion with a leaked token",
        "*",
        sid="DenyTaskAnswersOutsideProduct",
    ),
    gov(
        "states:SendTaskFailure",
        DS,
        "Deny",
        "deny a deletion with a leaked token",
        "*",
        sid="DenyTaskAnswersOutsideProduct",
    ),
    gov(
        "states:SendTaskSuccess",
        OPERATOR,
        "Deny",
        "operator answers a token directly",
        "*",
        sid="DenyTaskAnswersOutsideProduct",
    ),
    gov("states:SendTaskSuccess", APPROVAL_SERVICE, "Allow", "approval service approves a deletion", "*"),
    gov("states:SendTaskFailure", APPROVAL_SERVICE, "Allow", "approval service denies a deletion", "*"),
    # Approvers reach the approval service through its AWS_IAM function URL, which needs InvokeFunction too.
    gov(
        "lambda:InvokeFunction",
        DS,
        "Allow",
        "approver calls the approval service's function URL",
        APPROVAL_FUNCTION,
        extra={"lambda:InvokedViaFunctionUrl": "true"},
    ),
    gov(
        "lambda:InvokeFunction",
        DS,
        "Deny",
        "direct invoke of the approval service",
        APPROVAL_FUNCTION,
        sid="DenyProductFunctionInvoke",
    ),
    gov(
        "lambda:InvokeFunction",
        DS,
        "Deny",
        "direct invoke saying it is not via a URL",
        APPROVAL_FUNCTION,
        extra={"lambda:InvokedViaFunctionUrl": "false"},
        sid="DenyProductFunctionInvoke",
    ),
    gov(
        "states:SendTaskHeartbeat",
        DS,
        "Deny",
        "keep a task alive with a leaked token",
        "*",
        sid="DenyTaskAnswersOutsideProduct",
    ),
    gov("states:SendTaskHeartbeat", PRODUCT, "Allow", "a product role heartbeats its task", "*"),
    # The exemptions above name the product's and deployer's roles: nobody else may make or pass them.
    gov(
        "iam:CreateRole",
        DS,
        "Deny",
        "create a role named like the product's",
        f"arn:aws:iam::{GOV}:role/MlGovEndpointAudit-Mine",
        sid="DenyProtectedRoleChanges",
    ),
    gov(
        "iam:CreateRole",
        DS,
        "Deny",
        "create a role named like the deployer",
        f"arn:aws:iam::{GOV}:role/cdk-hnb659fds-cfn-exec-role-x",
        sid="DenyProtectedRoleChanges",
    ),
    gov(
        "iam:CreateRole",
        DEPLOYER,
        "Allow",
        "deploy creates a product role",
        f"arn:aws:iam::{GOV}:role/MlGovEndpointAudit-NewRole-Q1",
    ),
    gov(
        "iam:CreateRole",
        DEPLOYER,
        "Allow",
        "deploy creates the challenger's protected role",
        f"arn:aws:iam::{GOV}:role/mlgov-protected/MlGovDeploymentPipelineChallenger",
    ),
    gov(
        "iam:PassRole",
        DS,
        "Deny",
        "pass a product role to an own function",
        f"arn:aws:iam::{GOV}:role/{PRODUCT}",
        sid="DenyProtectedRoleChanges",
    ),
    gov(
        "iam:PassRole",
        PRODUCT,
        "Allow",
        "retraining passes the training role",
        f"arn:aws:iam::{GOV}:role/MlGovEndpointAudit-TrainingRole-Z9",
    ),
    # Issue 22: a serving repository's tags stay immutable.
    Case(
        "data scientist makes serving tags mutable",
        "ecr:PutImageTagMutability",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn=SERVING_REPO,
        sid="DenyServingImageTagMutabilityChange",
    ),
    Case(
        "pipeline sets serving tags immutable",
        "ecr:PutImageTagMutability",
        PROD,
        role(PROD, PIPE),
        "Allow",
        resource_arn=SERVING_REPO,
    ),
    # Fourth review: deleting an image frees an IMMUTABLE tag for other bytes.
    *[
        Case(
            f"data scientist {verb} a serving image",
            f"ecr:{verb}",
            PROD,
            role(PROD, DS),
            "Deny",
            resource_arn=SERVING_REPO,
            sid="DenyServingImageTagMutabilityChange",
        )
        for verb in ("BatchDeleteImage", "PutImage")
    ],
    *[
        Case(
            f"pipeline {verb} a serving image",
            f"ecr:{verb}",
            PROD,
            role(PROD, PIPE),
            "Allow",
            resource_arn=SERVING_REPO,
        )
        for verb in ("BatchDeleteImage", "PutImage")
    ],
    Case(
        "data scientist pushes to an own repository",
        "ecr:PutImage",
        PROD,
        role(PROD, DS),
        "Allow",
        resource_arn=f"arn:aws:ecr:us-east-1:{PROD}:repository/notebook-images",
    ),
    Case(
        "data scientist changes an own repository",
        "ecr:PutImageTagMutability",
        PROD,
        role(PROD, DS),
        "Allow",
        resource_arn=f"arn:aws:ecr:us-east-1:{PROD}:repository/notebook-images",
    ),
]


# Attacker review (issues 20 and 22): every other write on a product function or state machine, and the
# triggers that invoke a function as its own role, stay the deployer's.
ALIAS = f"{FUNCTION}:live"
EXECUTION = f"arn:aws:states:us-east-1:{GOV}:execution:mlgov-challenger:run-1"
FUNCTION_WRITES = {
    "lambda:CreateFunctionUrlConfig": FUNCTION,
    "lambda:UpdateFunctionUrlConfig": FUNCTION,
    "lambda:DeleteFunctionUrlConfig": FUNCTION,
    "lambda:PutFunctionEventInvokeConfig": FUNCTION,
    "lambda:UpdateFunctionEventInvokeConfig": FUNCTION,
    "lambda:PublishVersion": FUNCTION,
    "lambda:CreateAlias": FUNCTION,
    "lambda:UpdateAlias": FUNCTION,
    "lambda:DeleteFunction": FUNCTION,
    "lambda:DeleteFunctionConcurrency": FUNCTION,
    "lambda:PutProvisionedConcurrencyConfig": ALIAS,
    "lambda:AddPermission": FUNCTION,
    "lambda:RemovePermission": FUNCTION,
}
MACHINE_WRITES = [
    "states:DeleteStateMachine",
    "states:PublishStateMachineVersion",
    "states:CreateStateMachineAlias",
    "states:UpdateStateMachineAlias",
]
TO_FUNCTION = {"lambda:FunctionArn": FUNCTION}
for action, arn in FUNCTION_WRITES.items():
    CASES += [
        gov(action, DS, "Deny", f"{action} on a product function", arn, sid="DenyProductFunctionChanges"),
        gov(action, PRODUCT, "Deny", f"{action} by a product role", arn, sid="DenyProductFunctionChanges"),
        gov(action, DEPLOYER, "Allow", f"{action} by the deployer", arn),
    ]
for action in MACHINE_WRITES:
    CASES += [
        gov(action, DS, "Deny", f"{action} on a product machine", MACHINE, sid="DenyProductStateMachineChanges"),
        gov(action, DEPLOYER, "Allow", f"{action} by the deployer", MACHINE),
    ]
for action in ("states:StopExecution", "states:RedriveExecution"):
    CASES += [
        gov(action, DS, "Deny", f"{action} of a product execution", EXECUTION, sid="DenyProductStateMachineStart"),
        gov(action, OPERATOR, "Allow", f"{action} by an operator", EXECUTION),
        gov(action, PRODUCT, "Allow", f"{action} by a product role", EXECUTION),
    ]
CASES += [
    gov(
        "lambda:InvokeAsync", DS, "Deny", "deprecated async invoke of a step", FUNCTION, sid="DenyProductFunctionInvoke"
    ),
    gov("lambda:InvokeAsync", PRODUCT, "Allow", "a product role invokes asynchronously", FUNCTION),
    gov("lambda:InvokeFunction", DS, "Deny", "invoke a step through its alias", ALIAS, sid="DenyProductFunctionInvoke"),
    gov(
        "lambda:CreateEventSourceMapping",
        DS,
        "Deny",
        "feed an own queue into a product function",
        "*",
        extra=TO_FUNCTION,
        sid="DenyProductFunctionTriggers",
    ),
    gov(
        "lambda:UpdateEventSourceMapping",
        DS,
        "Deny",
        "repoint a mapping at a product function",
        f"arn:aws:lambda:us-east-1:{GOV}:event-source-mapping:abc",
        extra={"lambda:FunctionArn": ALIAS},
        sid="DenyProductFunctionTriggers",
    ),
    gov("lambda:CreateEventSourceMapping", DEPLOYER, "Allow", "deploy maps the notifier queue", "*", extra=TO_FUNCTION),
    gov("lambda:UpdateEventSourceMapping", DEPLOYER, "Allow", "deploy updates a mapping", "*", extra=TO_FUNCTION),
    gov(
        "lambda:CreateEventSourceMapping",
        DS,
        "Allow",
        "map a queue to an own function",
        "*",
        extra={"lambda:FunctionArn": f"arn:aws:lambda:us-east-1:{GOV}:function:notebook-helper"},
    ),
    gov("lambda:GetAlias", DS, "Allow", "read a product alias", FUNCTION),
    gov("lambda:GetFunctionUrlConfig", DS, "Allow", "read a product function URL", FUNCTION),
    gov("states:DescribeExecution", DS, "Allow", "read a product execution", EXECUTION),
    gov("states:DescribeStateMachineAlias", DS, "Allow", "read a product machine alias", MACHINE),
]


# Attacker review (issue 26, tests/attacker/test_guardrail_gaps.py): the registry, metric and lineage denies hold
# where the product runs too, and the product's stack, deployer roles, rules and channel are the deployers' and
# the product's. Each denial beside the product (or its deployer) still allowed.
GOV_ENDPOINT = f"arn:aws:sagemaker:us-east-1:{GOV}:endpoint/manga-recommender-prod"
GOV_PACKAGE = f"arn:aws:sagemaker:us-east-1:{GOV}:model-package/manga-recommender/9"
CHALLENGER_FUNCTION = "mlgov-protected/MlGovDeploymentPipelineChallenger"
PURPOSE = {"aws:TagKeys": ["endpoint_purpose"], "aws:RequestTag/endpoint_purpose": "retiring"}
CASES += [
    gov(
        "sagemaker:AddTags",
        DS,
        "Deny",
        "mark the governance account's endpoint retiring",
        GOV_ENDPOINT,
        extra=PURPOSE,
        sid="DenyGovernanceTagChangeNamed",
    ),
    gov("sagemaker:AddTags", PRODUCT, "Allow", "retirement marks an endpoint retiring", GOV_ENDPOINT, extra=PURPOSE),
    gov(
        "sagemaker:AddTags",
        f"team/{PRODUCT}",
        "Deny",
        "product role name off its path tags",
        GOV_ENDPOINT,
        extra=PURPOSE,
        sid="DenyGovernanceTagChangeNamed",
    ),
    gov(
        "sagemaker:UpdateEndpoint",
        CHALLENGER_FUNCTION,
        "Allow",
        "challenger shifts traffic on its endpoint",
        GOV_ENDPOINT,
    ),
    # The challenger's state machine role takes the approver pattern's name (exact here: MlGovModelApprover).
    gov(
        "sagemaker:UpdateModelPackage",
        APPROVER,
        "Allow",
        "challenger approves the package it promoted",
        GOV_PACKAGE,
        approval="Approved",
    ),
    gov("sagemaker:CreateModelPackage", PRODUCT, "Allow", "retraining registers a candidate", GOV_PACKAGE),
    gov(
        "cloudwatch:PutMetricData",
        WRITER,
        "Allow",
        "recommender writes its metrics where the product runs",
        "*",
        extra=RECS,
    ),
]

STACK = f"arn:aws:cloudformation:us-east-1:{GOV}:stack/MlGovEndpointAudit/5e7c9a10-0000-0000-0000-000000000000"
TOOLKIT = f"arn:aws:cloudformation:us-east-1:{GOV}:stack/CDKToolkit/0a1b2c3d-0000-0000-0000-000000000000"
DEPLOY_ROLE = f"cdk-hnb659fds-deploy-role-{GOV}-us-east-1"
STACK_WRITES = [
    "cloudformation:UpdateStack",
    "cloudformation:CreateChangeSet",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:DeleteStack",
    "cloudformation:SetStackPolicy",
    "cloudformation:UpdateTerminationProtection",
    "cloudformation:ContinueUpdateRollback",
    "cloudformation:RollbackStack",
    "cloudformation:CancelUpdateStack",
    "cloudformation:CreateStackRefactor",
    "cloudformation:ExecuteStackRefactor",
    "cloudformation:TagResource",
]
for action in STACK_WRITES:
    CASES += [
        gov(action, DS, "Deny", f"{action} on the product stack", STACK, sid="DenyProductStackChanges"),
        gov(action, DEPLOY_ROLE, "Allow", f"{action} by cdk deploy (the deploy role)", STACK),
    ]
CASES += [
    gov("cloudformation:UpdateStack", DEPLOYER, "Allow", "the execution role updates the stack", STACK),
    gov("cloudformation:UpdateStack", PRODUCT, "Deny", "a product role updates its stack", STACK),
    gov("cloudformation:CreateChangeSet", DS, "Deny", "rewrite the bootstrap stack", TOOLKIT),
    gov("cloudformation:CreateChangeSet", ROLE_ADMIN, "Allow", "role admin runs cdk bootstrap", TOOLKIT),
    # Seventh review hole 3: a team stack deployed with the same bootstrap keeps the deployer as its service role,
    # so where the product runs every stack is changed by who deploys only.
    gov(
        "cloudformation:UpdateStack",
        DS,
        "Deny",
        "a team updates its own stack where the product runs",
        f"arn:aws:cloudformation:us-east-1:{GOV}:stack/team-etl/1",
        sid="DenyProductStackChanges",
    ),
    gov(
        "cloudformation:CreateStack",
        DS,
        "Deny",
        "a team creates a stack where the product runs",
        f"arn:aws:cloudformation:us-east-1:{GOV}:stack/team-etl-2/1",
        sid="DenyProductStackChanges",
    ),
    gov(
        "cloudformation:CreateStack",
        ROLE_ADMIN,
        "Allow",
        "a role admin creates a team stack where the product runs",
        f"arn:aws:cloudformation:us-east-1:{GOV}:stack/team-etl-2/1",
    ),
    gov(
        "cloudformation:UpdateStack",
        ROLE_ADMIN,
        "Allow",
        "a role admin deploys a team stack where the product runs",
        f"arn:aws:cloudformation:us-east-1:{GOV}:stack/team-etl/1",
    ),
    # Seventh review hole 2: a team's CDK execution role in a workload account matches the default deployer pattern;
    # the deployer's exemptions hold where the product runs only.
    Case(
        "a team's CDK execution role mints a protected role in a workload account",
        "iam:CreateRole",
        PROD,
        role(PROD, f"cdk-hnb659fds-cfn-exec-role-{PROD}-us-east-1"),
        "Deny",
        resource_arn=role(PROD, "mlgov-protected/MlGovModelApprover"),
        sid="DenyProtectedRoleChanges",
    ),
    Case(
        "a team's CDK execution role rewrites the forwarding rule",
        "events:PutRule",
        PROD,
        role(PROD, f"cdk-hnb659fds-cfn-exec-role-{PROD}-us-east-1"),
        "Deny",
        resource_arn=f"arn:aws:events:us-east-1:{PROD}:rule/mlgov-forward-sagemaker-events",
        sid="DenyProductRuleChanges",
    ),
    gov("iam:CreateRole", DEPLOYER, "Allow", "the deployer makes a product role", role(GOV, "mlgov-protected/MlGovX")),
    # Eighth review hole 1: an object planted under the next release's content hash in CDK's assets bucket is what
    # the deployer ships.
    gov(
        "s3:PutObject",
        DS,
        "Deny",
        "plant the next release in the assets bucket",
        f"arn:aws:s3:::cdk-hnb659fds-assets-{GOV}-us-east-1/3f0c.zip",
        sid="DenyProductStackChanges",
    ),
    gov(
        "s3:DeleteObject",
        DS,
        "Deny",
        "delete a deployed asset",
        f"arn:aws:s3:::cdk-hnb659fds-assets-{GOV}-us-east-1/3f0c.zip",
        sid="DenyProductStackChanges",
    ),
    gov(
        "s3:PutBucketPolicy",
        DS,
        "Deny",
        "rewrite the assets bucket's policy",
        f"arn:aws:s3:::cdk-hnb659fds-assets-{GOV}-us-east-1",
        sid="DenyProductStackChanges",
    ),
    gov(
        "s3:PutObject",
        f"cdk-hnb659fds-file-publishing-role-{GOV}-us-east-1",
        "Allow",
        "cdk deploy uploads its assets",
        f"arn:aws:s3:::cdk-hnb659fds-assets-{GOV}-us-east-1/3f0c.zip",
    ),
    gov(
        "s3:DeleteObject",
        ROLE_ADMIN,
        "Allow",
        "a role admin cleans the assets bucket",
        f"arn:aws:s3:::cdk-hnb659fds-assets-{GOV}-us-east-1/3f0c.zip",
    ),
    gov(
        "s3:ReplicateObject",
        DS,
        "Deny",
        "replicate an object into the assets bucket",
        f"arn:aws:s3:::cdk-hnb659fds-assets-{GOV}-us-east-1/3f0c.zip",
        sid="DenyProductStackChanges",
    ),
    gov(
        "s3:ReplicateObject",
        f"cdk-hnb659fds-cfn-exec-role-{GOV}-us-east-1",
        "Allow",
        "the deployer's own replication",
        f"arn:aws:s3:::cdk-hnb659fds-assets-{GOV}-us-east-1/3f0c.zip",
    ),
    gov("s3:PutObject", DS, "Allow", "a team's own bucket", f"arn:aws:s3:::team-etl-{GOV}/x.zip"),
    gov(
        "s3:PutBucketPolicy",
        ROLE_ADMIN,
        "Allow",
        "cdk bootstrap sets the assets bucket's policy",
        f"arn:aws:s3:::cdk-hnb659fds-assets-{GOV}-us-east-1",
    ),
    # Seventh review hole 1: a metric filter publishes into the recommendation namespace as CloudWatch Logs.
    gov(
        "logs:PutMetricFilter",
        DS,
        "Deny",
        "a metric filter where the product runs",
        f"arn:aws:logs:us-east-1:{GOV}:log-group:team-notebook",
        sid="DenyGovernanceBusPolicyChanges",
    ),
    gov(
        "logs:PutMetricExtractionPolicy",
        DS,
        "Deny",
        "an account-level metric extraction policy where the product runs",
        "*",
        sid="DenyGovernanceBusPolicyChanges",
    ),
    gov("logs:PutMetricExtractionPolicy", DEPLOYER, "Allow", "a deploy sets a metric extraction policy", "*"),
    gov(
        "logs:PutMetricFilter",
        WRITER,
        "Deny",
        "a metric writer's metric filter",
        f"arn:aws:logs:us-east-1:{GOV}:log-group:rec",
        sid="DenyGovernanceBusPolicyChanges",
    ),
    gov(
        "logs:PutMetricFilter",
        DEPLOYER,
        "Allow",
        "a deploy makes a metric filter",
        f"arn:aws:logs:us-east-1:{GOV}:log-group:rec",
    ),
    gov("cloudformation:DescribeStacks", DS, "Allow", "read the product stack", STACK),
    gov("sts:AssumeRole", DS, "Deny", "become the deploy role", role(GOV, DEPLOY_ROLE), sid="DenyProductStackChanges"),
    gov(
        "sts:AssumeRole",
        DS,
        "Deny",
        "become the asset publishing role",
        role(GOV, f"cdk-hnb659fds-file-publishing-role-{GOV}-us-east-1"),
        sid="DenyProductStackChanges",
    ),
    gov("sts:AssumeRole", ROLE_ADMIN, "Allow", "role admin runs cdk deploy", role(GOV, DEPLOY_ROLE)),
    gov("sts:AssumeRole", DS, "Allow", "assume a team role", role(GOV, "team-etl-runner")),
    gov(
        "sts:AssumeRole",
        DS,
        "Allow",
        "another qualifier's bootstrap role",
        role(GOV, f"cdk-team1234-deploy-role-{GOV}-us-east-1"),
    ),
    # CDK's deploy role hands CloudFormation the execution role on every deploy: the product must stay deployable.
    gov("iam:PassRole", DEPLOY_ROLE, "Allow", "cdk deploy passes the execution role", role(GOV, DEPLOYER)),
    gov("iam:PassRole", DS, "Deny", "pass the execution role", role(GOV, DEPLOYER), sid="DenyProtectedRoleChanges"),
    # In a guarded account the execution role of that name is the team's own, exempt from nothing there (the
    # deployer's exemptions are pinned to the governance accounts): its deploy role passes it for the team's own
    # `cdk deploy`, and what that deploys makes no protected role.
    Case(
        "a guarded account's deploy role passes its own execution role",
        "iam:PassRole",
        PROD,
        role(PROD, f"cdk-hnb659fds-deploy-role-{PROD}-us-east-1"),
        "Allow",
        resource_arn=role(PROD, f"cdk-hnb659fds-cfn-exec-role-{PROD}-us-east-1"),
    ),
    Case(
        "a team's own qualifier in a guarded account",
        "iam:PassRole",
        PROD,
        role(PROD, f"cdk-team1234-deploy-role-{PROD}-us-east-1"),
        "Allow",
        resource_arn=role(PROD, f"cdk-team1234-cfn-exec-role-{PROD}-us-east-1"),
    ),
    gov(
        "iam:UpdateAssumeRolePolicy",
        DS,
        "Deny",
        "let a service assume the deploy role",
        role(GOV, DEPLOY_ROLE),
        sid="DenyProtectedRoleChanges",
    ),
    gov("iam:UpdateAssumeRolePolicy", ROLE_ADMIN, "Allow", "role admin re-bootstraps", role(GOV, DEPLOY_ROLE)),
    gov(
        "iam:PutRolePolicy",
        DS,
        "Deny",
        "widen the asset publishing role",
        role(GOV, f"cdk-hnb659fds-file-publishing-role-{GOV}-us-east-1"),
        sid="DenyProtectedRoleChanges",
    ),
    gov("iam:PutRolePolicy", DS, "Allow", "change a team role", role(GOV, "team-etl-runner")),
]

RULE = f"arn:aws:events:us-east-1:{GOV}:rule/MlGovEndpointAudit-ChallengerPackageRegistered48C-1A2B3C4D5E6F"
FORWARDING_RULE = f"arn:aws:events:us-east-1:{PROD}:rule/mlgov-forward-sagemaker-events"
STACKSET_EXEC = "stacksets-exec-7f3e9a1b2c4d5e6f7a8b9c0d1e2f3a4b"
RULE_WRITES = [
    "events:PutRule",
    "events:PutTargets",
    "events:RemoveTargets",
    "events:EnableRule",
    "events:DisableRule",
    "events:DeleteRule",
]
for action in RULE_WRITES:
    CASES += [
        gov(action, DS, "Deny", f"{action} on a product rule", RULE, sid="DenyProductRuleChanges"),
        gov(action, DEPLOYER, "Allow", f"{action} on a product rule by the deployer", RULE),
        gov(action, "mlgov-protected/MlGovBreakGlass", "Allow", f"{action} on a product rule by break-glass", RULE),
        # Issue 20 (trust): any service-managed StackSet, a delegated administrator's too, acts as stacksets-exec-*;
        # it is exempt for the member forwarding rule only, never the governance stack's own rules.
        gov(
            action,
            STACKSET_EXEC,
            "Deny",
            f"{action} on a product rule by a StackSet",
            RULE,
            sid="DenyProductRuleChangesByStackSets",
        ),
        Case(
            f"{action} on the forwarding rule",
            action,
            PROD,
            role(PROD, DS),
            "Deny",
            resource_arn=FORWARDING_RULE,
            sid="DenyProductRuleChanges",
        ),
        Case(
            f"{action} on the forwarding rule by the StackSet",
            action,
            PROD,
            role(PROD, STACKSET_EXEC),
            "Allow",
            resource_arn=FORWARDING_RULE,
        ),
    ]
CASES += [
    gov("events:PutTargets", PRODUCT, "Deny", "a product role retargets a rule", RULE, sid="DenyProductRuleChanges"),
    gov("events:PutRule", DS, "Allow", "a team's own rule", f"arn:aws:events:us-east-1:{GOV}:rule/team-etl-nightly"),
    # The StackSets deny names only the governance stack's rules: a StackSet still makes a team's own rule.
    gov(
        "events:PutRule",
        STACKSET_EXEC,
        "Allow",
        "a StackSet makes a team's own rule",
        f"arn:aws:events:us-east-1:{GOV}:rule/team-etl-nightly",
    ),
    gov(
        "events:DisableRule",
        STACKSET_EXEC,
        "Deny",
        "a StackSet disables the weekly scan's schedule",
        f"arn:aws:events:us-east-1:{GOV}:rule/MlGovEndpointAudit-WeeklyScan5F6A7B8C-1Q2W3E4R5T6Y",
        sid="DenyProductRuleChangesByStackSets",
    ),
    Case(
        "a look-alike StackSets role",
        "iam:CreateRole",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn=role(PROD, "stacksets-exec-mine"),
        sid="DenyProtectedRoleChanges",
    ),
]

QUEUE = f"arn:aws:sqs:us-east-1:{GOV}:MlGovEndpointAudit-NotifierNotifierQueue1A2B3C4D-AbCdEfGh1234"
DLQ = f"arn:aws:sqs:us-east-1:{GOV}:MlGovEndpointAudit-NotifierNotifierDeadLetters9F8E-Zz0987"
SUBSCRIPTION = f"arn:aws:sns:us-east-1:{GOV}:MlGovEndpointAudit-FindingsFindingsTopic5E6F7A8B-Xy12:0f1e2d3c"
TOPIC = SUBSCRIPTION.rsplit(":", 1)[0]
NOTIFIER = "MlGovEndpointAudit-NotifierFunctionServiceRoleC0FFEE-Ab1"
for action, arn in [
    ("sqs:PurgeQueue", QUEUE),
    ("sqs:SetQueueAttributes", QUEUE),
    ("sqs:DeleteQueue", DLQ),
    ("sns:SetSubscriptionAttributes", SUBSCRIPTION),
    ("sns:Unsubscribe", SUBSCRIPTION),
    ("sns:SetTopicAttributes", TOPIC),
    ("sns:DeleteTopic", TOPIC),
]:
    CASES += [
        gov(action, DS, "Deny", f"{action} on the channel", arn, sid="DenyChannelDrainOutsideProduct"),
        gov(action, DEPLOYER, "Allow", f"{action} on the channel by the deployer", arn),
    ]
for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage"):
    CASES += [
        gov(action, DS, "Deny", f"{action} on the channel", QUEUE, sid="DenyChannelReadOutsideProduct"),
        gov(action, DEPLOYER, "Allow", f"{action} on the channel by the deployer", QUEUE),
    ]
CASES += [
    # The redrive roles (every protected-path role by default) move dead letters; nothing more.
    gov(
        "sqs:PurgeQueue",
        OPERATOR,
        "Deny",
        "a redrive role purges the queue",
        QUEUE,
        sid="DenyChannelDrainOutsideProduct",
    ),
    gov(
        "sns:Unsubscribe",
        OPERATOR,
        "Deny",
        "a redrive role drops the notifier's subscription",
        SUBSCRIPTION,
        sid="DenyChannelDrainOutsideProduct",
    ),
    gov("sns:Unsubscribe", NOTIFIER, "Allow", "a product role changes a subscription", SUBSCRIPTION),
    gov("sqs:ReceiveMessage", NOTIFIER, "Allow", "the notifier polls its queue", QUEUE),
    gov("sqs:DeleteMessage", NOTIFIER, "Allow", "the notifier deletes what it delivered", QUEUE),
    gov("sqs:ReceiveMessage", OPERATOR, "Allow", "mlgov notify redrive reads the dead letters", DLQ),
    gov("sqs:DeleteMessage", OPERATOR, "Allow", "mlgov notify redrive removes a moved letter", DLQ),
    gov("sqs:DeleteMessage", DS, "Deny", "drop a dead letter", DLQ, sid="DenyChannelReadOutsideProduct"),
    gov("sqs:ReceiveMessage", DS, "Allow", "a team reads its own queue", f"arn:aws:sqs:us-east-1:{GOV}:team-etl"),
    gov(
        "sns:Unsubscribe",
        DS,
        "Allow",
        "a team drops its own subscription",
        f"arn:aws:sns:us-east-1:{GOV}:team-alerts:9a8b7c6d",
    ),
    gov("sns:Subscribe", DS, "Allow", "subscribe a pager to the findings topic", TOPIC),
]


# Issue 20, the holes left open: the governance bus's policy, the member forwarding role, the product's keys.
BREAK_GLASS = "mlgov-protected/MlGovBreakGlass"
for action in ("events:PutPermission", "events:RemovePermission", "events:UpdateEventBus"):
    # PutPermission and RemovePermission take no resource (Service Authorization Reference): "*".
    where = BUS if action == "events:UpdateEventBus" else "*"
    CASES += [
        gov(action, DS, "Deny", f"{action} on the governance bus", where, sid="DenyGovernanceBusPolicyChanges"),
        gov(action, ROLE_ADMIN, "Deny", f"{action} by a role admin", where, sid="DenyGovernanceBusPolicyChanges"),
        gov(action, PRODUCT, "Deny", f"{action} by a product role", where, sid="DenyGovernanceBusPolicyChanges"),
        gov(action, DEPLOYER, "Allow", f"{action} by the deployer (CfnEventBusPolicy)", where),
        # No product StackSet writes a bus policy (the member StackSets make a rule and a role in member accounts).
        gov(
            action,
            STACKSET_EXEC,
            "Deny",
            f"{action} by the StackSets execution role",
            where,
            sid="DenyGovernanceBusPolicyChanges",
        ),
        gov(action, BREAK_GLASS, "Allow", f"{action} by break-glass", where),
    ]

# Issue 20, fourth review: the product's alarms and log groups (named after the stack) change only in a deploy.
ALARM = f"arn:aws:cloudwatch:us-east-1:{GOV}:alarm:MlGovEndpointAudit-AuditDeadLetterAlarm1A2B-3C4D5E6F"
LOG_GROUP = f"arn:aws:logs:us-east-1:{GOV}:log-group:MlGovEndpointAudit-AuditFunctionLogGroup1A2B-3C4D5E6F"
for action, resource in [
    ("cloudwatch:DisableAlarmActions", ALARM),
    ("cloudwatch:SetAlarmState", ALARM),
    ("cloudwatch:PutMetricAlarm", ALARM),
    ("cloudwatch:PutAlarmMuteRule", ALARM),
    ("cloudwatch:DeleteAlarms", ALARM),
    ("logs:DeleteLogGroup", LOG_GROUP),
    ("logs:DeleteLogStream", f"{LOG_GROUP}:log-stream:2026/12/06/[$LATEST]0123abcd"),
    ("logs:PutRetentionPolicy", LOG_GROUP),
]:
    CASES += [
        gov(action, DS, "Deny", f"{action} on a product alarm or log", resource, sid="DenyProductAlarmAndLogChanges"),
        gov(action, PRODUCT, "Deny", f"{action} by a product role", resource, sid="DenyProductAlarmAndLogChanges"),
        gov(action, DEPLOYER, "Allow", f"{action} by the deployer", resource),
        gov(action, BREAK_GLASS, "Allow", f"{action} by break-glass", resource),
        gov(action, DS, "Allow", f"{action} on a team's own", resource.replace("MlGovEndpointAudit-", "team-etl-")),
    ]
# The function's own logging is untouched.
CASES.append(gov("logs:PutLogEvents", PRODUCT, "Allow", "a product function logs", f"{LOG_GROUP}:log-stream:s"))

# The member StackSets' roles (stacks/member_role_stack.py), named on any path: only role admins and the StackSets
# execution role create, change, pass or delete them (DenyMemberRoleChanges). The forwarding role sits off the
# protected path, where no StackSet may make a role.
FORWARDING_ROLE = f"arn:aws:iam::{PROD}:role{MEMBER_ROLE_PATH}{FORWARDING_ROLE_PREFIX}-us-east-1"
MEMBER_AUDIT_ROLE = f"arn:aws:iam::{PROD}:role/{DEFAULT_MEMBER_ROLE_NAME}"
for action in (
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:DeleteRole",
    "iam:PassRole",
):
    CASES += [
        Case(
            f"{action} on the member forwarding role",
            action,
            PROD,
            role(PROD, "OrganizationAccountAdmin"),
            "Deny",
            resource_arn=FORWARDING_ROLE,
            sid="DenyMemberRoleChanges",
        ),
        Case(
            f"{action} on the forwarding role by the StackSet",
            action,
            PROD,
            role(PROD, STACKSET_EXEC),
            "Allow",
            resource_arn=FORWARDING_ROLE,
        ),
    ]
CASES += [
    Case(
        "the StackSet creates the forwarding role",
        "iam:CreateRole",
        PROD,
        role(PROD, STACKSET_EXEC),
        "Allow",
        resource_arn=FORWARDING_ROLE,
    ),
    Case(
        "a role admin repairs the forwarding role",
        "iam:PutRolePolicy",
        PROD,
        role(PROD, ROLE_ADMIN),
        "Allow",
        resource_arn=FORWARDING_ROLE,
    ),
]
# The StackSets execution role is exempt for those two roles only: any service-managed StackSet (a delegated
# administrator's too) acts as it, so it must not make an approver, pipeline or role-admin role anywhere.
for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:PassRole"):
    for name in (APPROVER, PIPE, ROLE_ADMIN):
        CASES.append(
            Case(
                f"the StackSet {action} on {name.rsplit('/', 1)[-1]} in a guarded account",
                action,
                PROD,
                role(PROD, STACKSET_EXEC),
                "Deny",
                resource_arn=protected_role(name.rsplit("/", 1)[-1]),
                sid="DenyProtectedRoleChanges",
            )
        )
    CASES += [
        Case(
            f"the StackSet {action} on the member audit role",
            action,
            PROD,
            role(PROD, STACKSET_EXEC),
            "Allow",
            resource_arn=MEMBER_AUDIT_ROLE,
        ),
        Case(
            f"a member admin {action} on the member audit role",
            action,
            PROD,
            role(PROD, "OrganizationAccountAdmin"),
            "Deny",
            resource_arn=MEMBER_AUDIT_ROLE,
            sid="DenyMemberRoleChanges",
        ),
    ]
CASES += [
    Case(
        "a team's own cdk execution role rewrites the member audit role",
        "iam:PutRolePolicy",
        PROD,
        role(PROD, f"cdk-hnb659fds-cfn-exec-role-{PROD}-us-east-1"),
        "Deny",
        resource_arn=MEMBER_AUDIT_ROLE,
        sid="DenyMemberRoleChanges",
    ),
    Case(
        "a role admin repairs the member audit role",
        "iam:PutRolePolicy",
        PROD,
        role(PROD, ROLE_ADMIN),
        "Allow",
        resource_arn=MEMBER_AUDIT_ROLE,
    ),
    Case(
        "a member admin takes the forwarding role's name on another path",
        "iam:CreateRole",
        PROD,
        role(PROD, "OrganizationAccountAdmin"),
        "Deny",
        resource_arn=f"arn:aws:iam::{PROD}:role/{FORWARDING_ROLE_PREFIX}-us-east-1",
        sid="DenyMemberRoleChanges",
    ),
]

# The product's keys carry mlgov:guarded=product-key; the deny needs no key id and holds in any account.
KEY = f"arn:aws:kms:us-east-1:{GOV}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
GUARDED = {"aws:ResourceTag/mlgov:guarded": "product-key"}
KEY_ADMIN = [
    "kms:PutKeyPolicy",
    "kms:CreateGrant",
    "kms:RevokeGrant",
    "kms:RetireGrant",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
]
for action in KEY_ADMIN:
    CASES += [
        gov(action, DS, "Deny", f"{action} on a product key", KEY, extra=GUARDED, sid="DenyProductKeyAdministration"),
        gov(action, ROLE_ADMIN, "Deny", f"{action} on a product key by a role admin", KEY, extra=GUARDED),
        gov(action, PRODUCT, "Deny", f"{action} on a product key by a product role", KEY, extra=GUARDED),
        gov(action, DEPLOYER, "Allow", f"{action} on a product key by the deployer (cdk deploy)", KEY, extra=GUARDED),
        gov(action, BREAK_GLASS, "Allow", f"{action} on a product key by break-glass", KEY, extra=GUARDED),
        gov(action, DS, "Allow", f"{action} on a team's own key", KEY, extra={"aws:ResourceTag/team": "etl"}),
    ]
CASES += [
    gov(
        "kms:UntagResource",
        DS,
        "Deny",
        "take the guard tag off first",
        KEY,
        extra={**GUARDED, "aws:TagKeys": ["mlgov:guarded"]},
        sid="DenyProductKeyAdministration",
    ),
    gov("kms:Decrypt", DS, "Allow", "use is the key policy's to decide", KEY, extra=GUARDED),
    # Only the deployer puts the tag key on (any case): on a team's key it would lock the team out.
    *[
        Case(
            f"{action} marks a team's key as the product's ({key})",
            action,
            account,
            role(account, DS),
            "Deny",
            resource_arn="*" if action == "kms:CreateKey" else KEY.replace(GOV, account),
            extra={"aws:TagKeys": ["team", key], f"aws:RequestTag/{key}": "product-key"},
            sid="DenyProductKeyTagOutsideDeploy",
        )
        for action in ("kms:TagResource", "kms:CreateKey")
        for account in (GOV, PROD)
        for key in ("mlgov:guarded", "MLGov:Guarded")
    ],
    gov(
        "kms:CreateKey",
        DEPLOYER,
        "Allow",
        "the deployer creates a product key with its tag",
        "*",
        extra={"aws:TagKeys": ["mlgov:guarded"], "aws:RequestTag/mlgov:guarded": "product-key"},
    ),
    gov("kms:CreateKey", DS, "Allow", "a team creates its own tagged key", "*", extra={"aws:TagKeys": ["team"]}),
    gov(
        "kms:TagResource",
        DS,
        "Allow",
        "a team tags its own key",
        KEY,
        extra={"aws:TagKeys": ["team"], "aws:ResourceTag/team": "etl"},
    ),
    gov("kms:CancelKeyDeletion", DS, "Allow", "undoing a deletion restores", KEY, extra=GUARDED),
    gov("kms:EnableKey", DS, "Allow", "enabling restores", KEY, extra=GUARDED),
    Case(
        "a product key in a guarded account",
        "kms:ScheduleKeyDeletion",
        PROD,
        role(PROD, DS),
        "Deny",
        resource_arn=KEY.replace(GOV, PROD),
        extra=GUARDED,
        sid="DenyProductKeyAdministration",
    ),
]


# The catalog table the retraining snapshots (retraining.catalog_table_name): only its ingest roles and break-glass
# write it, however they write (items, batches, PartiQL, the table itself); reads stay open to all.
GOV_CATALOG = f"arn:aws:dynamodb:us-east-1:{GOV}:table/manga-catalog"
CATALOG_WRITER = "mlgov-protected/MlGovCatalogWriterIngest"
CATALOG_WRITE_CASES = [
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
    "dynamodb:UpdateTable",
    "dynamodb:DeleteTable",
    "dynamodb:PutResourcePolicy",
    "dynamodb:UpdateTimeToLive",
    "dynamodb:ImportTable",
    "dynamodb:CreateTable",
]
for action in CATALOG_WRITE_CASES:
    CASES += [
        gov(action, DS, "Deny", f"{action} plants or unflags a title", GOV_CATALOG, sid="DenyCatalogWrites"),
        gov(action, CATALOG_WRITER, "Allow", f"{action} by the catalog ingest", GOV_CATALOG),
        gov(action, BREAK_GLASS, "Allow", f"{action} by break-glass", GOV_CATALOG),
    ]
CASES += [
    # No deploy writes the table (imported by name), and the retraining only reads it
    gov("dynamodb:PutItem", DEPLOYER, "Deny", "the deployer writes the catalog", GOV_CATALOG, sid="DenyCatalogWrites"),
    gov("dynamodb:PutItem", PRODUCT, "Deny", "a product role writes the catalog", GOV_CATALOG, sid="DenyCatalogWrites"),
    gov(
        "dynamodb:BatchWriteItem",
        "MlGovCatalogWriterIngest",
        "Deny",
        "the ingest role's name off the protected path",
        GOV_CATALOG,
        sid="DenyCatalogWrites",
    ),
    *[
        gov(action, DS, "Allow", f"{action} reads the catalog", GOV_CATALOG)
        for action in ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan")
    ],
    gov("dynamodb:PartiQLSelect", DS, "Allow", "PartiQLSelect reads the catalog", GOV_CATALOG),
    gov("dynamodb:PutItem", DS, "Allow", "a team's own table", f"{GOV_CATALOG}-staging"),
]


def test_the_matrix_exercises_every_deny_statement_both_ways() -> None:
    """Each deny statement of the synthesized SCPs decides at least one case, and for each action it
    guards there is an allowed case too (the pipeline's or approver's legitimate work)."""
    sids = {st["Sid"] for doc in POLICIES.values() for st in doc["Statement"] if st["Effect"] == "Deny"}
    deciding = {evaluate(POLICIES, c.action, c.resource(), c.context()).statement for c in CASES}
    assert sids <= deciding, f"deny statements no case reaches: {sorted(sids - deciding)}"
    denied_actions = {c.action for c in CASES if c.expected == "Deny"}
    allowed_actions = {c.action for c in CASES if c.expected == "Allow"}
    assert denied_actions <= allowed_actions, f"no allowed case for {sorted(denied_actions - allowed_actions)}"
    assert len(CASES) >= 25


def test_the_guardrails_page_counts_the_matrix_as_it_is() -> None:
    """docs/guardrails.md gives the matrix's size: the count of CASES, kept true as cases are added."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "guardrails.md").read_text(encoding="utf-8")
    said = re.findall(r"\(([\d,]+) request contexts, `len\(CASES\)`", " ".join(page.split()))
    assert said == [f"{len(CASES):,}"], said


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decision(case: Case) -> None:
    result = evaluate(POLICIES, case.action, case.resource(), case.context())
    print(
        f"\n  {case.name:<55} {case.action:<32} expected {case.expected:<5} evaluated {result.decision:<5} "
        f"{result.statement or '(no deny matches)'}"
    )
    assert result.decision == case.expected
    if case.sid:
        assert result.statement == case.sid, f"decided by {result.statement}, expected {case.sid}"


def test_the_boundary_denies_what_the_scps_deny_and_allows_the_rest() -> None:
    boundary = {"boundary": permissions_boundary(SETTINGS)}
    carried = {base_sid(s["Sid"]) for s in boundary["boundary"]["Statement"]}
    # The boundary's governance-tag deny is one statement, not split for experiments: stricter there.
    stricter = {"human retags an experiment endpoint's purpose in an experiment account"}
    # A boundary is one policy of 6,144 characters: it carries mlgov-guardrails and the governance tags, the rest
    # are managed policies. What it should decide: the SCPs' statements it carries, and nothing else.
    kept = {
        name: {**doc, "Statement": [s for s in doc["Statement"] if base_sid(s["Sid"]) in carried]}
        for name, doc in POLICIES.items()
    }
    for case in CASES:
        result = evaluate(boundary, case.action, case.resource(), case.context(), default_allow=False)
        expected = evaluate(kept, case.action, case.resource(), case.context()).decision
        if case.name in stricter:
            expected = "Deny"
        assert result.decision == expected, case.name
    other = evaluate(boundary, "s3:GetObject", "arn:aws:s3:::manga-training/x", {}, default_allow=False)
    assert other.decision == "Allow"


def test_evaluator_correction_absent_key_matches_string_not_like() -> None:
    """Without the correction principalmapper 1.1.5 would allow a CreateEndpoint without the tag."""
    doc = {
        "p": {
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": "sagemaker:CreateEndpoint",
                    "Resource": "*",
                    "Condition": {"StringNotLike": {"aws:RequestTag/ModelPackageName": "arn:*"}},
                }
            ]
        }
    }
    assert evaluate(doc, "sagemaker:CreateEndpoint", "arn:aws:sagemaker:us-east-1:1:endpoint/x", {}).decision == "Deny"


def test_scp_sizes_are_under_the_organizations_limit() -> None:
    for policy in guardrail_policies(SETTINGS):
        print(f"\n  {policy.name}: {policy.size} of {SCP_MAX_CHARS} characters")
        assert policy.size <= SCP_MAX_CHARS


def test_an_oversized_scp_is_refused_naming_the_policy() -> None:
    many = [f"arn:aws:iam::*:role/mlgov-protected/pipeline-{i:03d}-with-a-long-name" for i in range(80)]
    settings = parse_settings({"guardrails": {"pipeline_role_arns": many}})
    with pytest.raises(GuardrailLimitError, match=r"SCP mlgov-endpoint-lineage is .* characters"):
        guardrail_policies(settings)


def test_too_many_scps_on_a_target_is_refused() -> None:
    with pytest.raises(GuardrailLimitError, match="per target"):
        guardrail_policies(parse_settings({"guardrails": {"existing_scps_per_target": 3}}))


@pytest.mark.parametrize(
    ("partition", "region"), [("aws", "us-east-1"), ("aws-cn", "cn-north-1"), ("aws-us-gov", "us-gov-west-1")]
)
def test_the_denies_hold_in_every_partition(partition: str, region: str) -> None:
    # Without exemptions every deny is a plain Resource match: a literal "arn:aws:" would miss the others.
    policies = {p.name: p.document for p in guardrail_policies(parse_settings({}))}
    principal = f"arn:{partition}:iam::{PROD}:role/{DS}"
    context = {"aws:PrincipalArn": principal, "aws:PrincipalAccount": PROD}
    for action, kind in (("sagemaker:CreateEndpoint", "endpoint"), ("sagemaker:CreateModel", "model")):
        arn = sm_arn(kind, "manga-hotfix", partition=partition, region=region)
        assert evaluate(policies, action, arn, context).decision == "Deny", (action, arn)


HEAVY_MARGIN = 0.1  # room left in the heavy configuration: another role or two per allow-list still fits


def heavy_settings() -> Any:
    """Ten watched groups, five serving repositories, two roles per allow-list, two experiment accounts and an OU."""
    return parse_settings(heavy_context())


def heavy_context() -> dict[str, Any]:
    """heavy_settings() as the `mlgov` context a synth reads."""
    roles = lambda name: [f"arn:aws:iam::*:role/mlgov-protected/{name}-{i}*" for i in range(2)]  # noqa: E731
    return {
        "watched_model_package_groups": [f"manga-recommender-{i:02d}" for i in range(10)],
        "retraining": {"model_package_group": "manga-recommender-00"},
        "challenger": {"endpoints": {"manga-recommender-00": "manga-recommender-prod"}},
        "experiment_exemptions": {"account_ids": [EXPERIMENT, STAGING], "organizational_unit_ids": [EXPERIMENT_OU]},
        "guardrails": {
            "target_ou_ids": ["ou-ab12-prodwork", "ou-ab12-stagingx"],
            "governance_target_ids": [GOV],
            "pipeline_role_arns": roles("MlGovDeploymentPipeline"),
            "approver_role_arns": roles("MlGovModelApprover"),
            "break_glass_role_arns": roles("MlGovBreakGlass"),
            "operator_role_arns": roles("MlGovOperator"),
            "metric_writer_role_arns": roles("MlGovRecommenderMetrics"),
            "catalog_writer_role_arns": roles("MlGovCatalogWriter"),
            "serving_repository_names": [f"serving/manga-recommender-{i}" for i in range(5)],
        },
    }


def test_a_heavy_but_plausible_configuration_fits_every_scp() -> None:
    for policy in guardrail_policies(heavy_settings()):
        print(f"\n  {policy.name}: {policy.size} of {SCP_MAX_CHARS} characters")
        assert policy.size <= SCP_MAX_CHARS * (1 - HEAVY_MARGIN)


def test_a_heavy_but_plausible_configuration_fits_every_managed_policy_and_the_boundary() -> None:
    """The single-account variant of the same configuration: each managed policy and the boundary under IAM's
    6,144 characters (whitespace not counted), with the same margin."""
    settings = heavy_settings()
    documents = {**account_policies(settings), "mlgov-guardrails-boundary": permissions_boundary(settings)}
    for name, document in documents.items():
        size = len("".join(json.dumps(document, separators=(",", ":")).split()))
        print(f"\n  {name}: {size} of {IAM_POLICY_MAX_CHARS} characters")
        assert size <= IAM_POLICY_MAX_CHARS * (1 - HEAVY_MARGIN), name
    # And together they still deny every statement of the SCPs
    sids = {s["Sid"] for p in guardrail_policies(settings) for s in p.document["Statement"]}
    carried = [s["Sid"] for name, d in documents.items() if name != "mlgov-guardrails-boundary" for s in d["Statement"]]
    assert sorted(carried) == sorted(sids)


def test_the_product_guard_attaches_only_where_the_product_runs() -> None:
    where = attachments(SETTINGS)
    assert where["mlgov-product-guard"] == [GOV]
    # The challenger's endpoint, watched groups and recommendation metrics live where the product runs too.
    assert where["mlgov-protected-roles"] == where["mlgov-endpoint-lineage"] == where["mlgov-model-approval"]
    assert where["mlgov-model-approval"] == ["ou-ab12-prodwork", GOV]


def test_scps_per_target_count_each_target_and_name_the_one_over_the_limit() -> None:
    # Given the product's account: it carries all four SCPs, beside FullAWSAccess
    apart = {"target_ou_ids": ["ou-ab12-prodwork"], "governance_target_ids": [GOV]}
    assert len(guardrail_policies(parse_settings({"guardrails": {**apart, "existing_scps_per_target": 1}}))) == 4
    # Then one more existing SCP there is one too many, and the error names that target and the way out
    with pytest.raises(GuardrailLimitError, match=f"SCP number 6 on {GOV}.*Attach your other SCPs to a parent OU"):
        guardrail_policies(parse_settings({"guardrails": {**apart, "existing_scps_per_target": 2}}))
    # And without governance_target_ids (the SCPs attached there by hand) the four still count
    ou = {"target_ou_ids": ["ou-ab12-prodwork"], "existing_scps_per_target": 2}
    with pytest.raises(GuardrailLimitError, match=r"SCP number 6 on \(where the product runs\)"):
        guardrail_policies(parse_settings({"guardrails": ou}))
    # And a guarded OU carries three
    where = attachments(parse_settings({"guardrails": apart}))
    assert sum("ou-ab12-prodwork" in targets for targets in where.values()) == 3
    # And the same account as a guarded target and where the product runs still counts each SCP once
    both = {"target_ou_ids": [GOV], "governance_target_ids": [GOV], "existing_scps_per_target": 1}
    assert len(guardrail_policies(parse_settings({"guardrails": both}))) == 4


def test_watched_groups_are_matched_in_the_lower_case_sagemaker_writes_into_arns() -> None:
    # principalmapper matches resources case-insensitively where IAM does not, so this reads the document.
    settings = parse_settings(
        {
            "watched_model_package_groups": ["Manga-Recs"],
            "retraining": {"model_package_group": "Manga-Recs"},
            "challenger": {"endpoints": {"Manga-Recs": "manga-recs-prod"}},
        }
    )
    approval = {p.name: p.document for p in guardrail_policies(settings)}["mlgov-model-approval"]
    [registry] = [s for s in approval["Statement"] if s["Sid"] == "DenyRegistryWriteOutsidePipeline"]
    assert "arn:*:sagemaker:*:*:model-package/manga-recs/*" in registry["Resource"]
    assert not any("Manga" in r for r in registry["Resource"])


def test_operator_and_metric_writer_roles_must_sit_on_the_protected_path() -> None:
    from mlgov.settings import SettingsError

    for key in ("operator_role_arns", "metric_writer_role_arns"):
        with pytest.raises((SettingsError, ValueError), match="protected path"):
            parse_settings({"guardrails": {key: ["arn:aws:iam::*:role/MlGovOperator"]}})


def test_the_single_account_policies_deny_what_the_scps_deny_and_fit_iam() -> None:
    documents = account_policies(SETTINGS)
    assert set(documents) == {
        "mlgov-guardrails",
        "mlgov-guardrails-evidence",
        "mlgov-guardrails-product",
        "mlgov-guardrails-machinery",
    }
    for case in CASES:
        result = evaluate(documents, case.action, case.resource(), case.context())
        assert result.decision == case.expected, case.name
    for name, document in [*documents.items(), ("boundary", permissions_boundary(SETTINGS))]:
        size = len("".join(json.dumps(document, separators=(",", ":")).split()))
        print(f"\n  {name}: {size} of {IAM_POLICY_MAX_CHARS} characters")
        assert size <= IAM_POLICY_MAX_CHARS


def test_a_boundary_over_the_iam_limit_is_refused_naming_it() -> None:
    # The boundary carries statements of three SCPs: each of them fits, their sum does not.
    long = "with-a-long-name"
    admins = [f"arn:aws:iam::*:role/mlgov-protected/role-admin-{i:02d}-{long}" for i in range(7)]
    pipelines = [f"arn:aws:iam::*:role/mlgov-protected/pipeline-{i:02d}-{long}" for i in range(13)]
    settings = parse_settings({"guardrails": {"role_admin_arns": admins, "pipeline_role_arns": pipelines}})
    assert all(p.size <= SCP_MAX_CHARS for p in guardrail_policies(settings))
    with pytest.raises(GuardrailLimitError, match=r"boundary mlgov-guardrails-boundary is .* IAM allows 6144"):
        permissions_boundary(settings)


def _reference() -> dict[str, Any]:
    """The Service Authorization Reference's actions and resource types, as cfn-lint ships them."""
    from pathlib import Path

    import cfnlint

    path = Path(cfnlint.__file__).parent / "data" / "AdditionalSpecs" / "Policies.json"
    return dict(json.loads(path.read_text()))


def test_product_guard_wildcards_match_only_writes_per_the_service_authorization_reference() -> None:
    import fnmatch

    reference = _reference()
    guard = POLICIES["mlgov-product-guard"]
    for statement in guard["Statement"]:
        for pattern in statement["Action"]:
            service, name = pattern.split(":")
            matched = [a for a in reference[service]["Actions"] if fnmatch.fnmatchcase(a, name.lower())]
            assert matched, f"{pattern} matches no action"
            reads = [a for a in matched if a.startswith(("get", "list", "describe"))]
            # The one exception: CDK's assets bucket, which only who deploys reads (CloudFormation and Lambda read it
            # as the deployer); s3:* also keeps replication into it and every setting of it in one pattern.
            assert not reads or pattern == "s3:*", f"{pattern} also denies reads: {reads}"
            assert pattern != "s3:*" or statement["Sid"] == "DenyProductStackChanges"
    denied = {a.lower() for s in guard["Statement"] for a in s["Action"]}
    for action in [*FUNCTION_WRITES, *MACHINE_WRITES, "states:StopExecution", "states:RedriveExecution"]:
        service, name = action.split(":")
        assert any(fnmatch.fnmatchcase(name.lower(), d.split(":")[1]) for d in denied if d.startswith(service)), action
    # Which resource each action names decides the Resource element the statement needs.
    lam, states = reference["lambda"]["Actions"], reference["states"]["Actions"]
    assert "Resources" not in lam["createeventsourcemapping"]  # only lambda:FunctionArn names the function
    assert lam["putprovisionedconcurrencyconfig"]["Resources"] == ["function alias", "function version"]
    assert states["stopexecution"]["Resources"] == states["redriveexecution"]["Resources"] == ["execution"]


def test_exact_product_arns_also_cover_their_versions_aliases_and_executions() -> None:
    exact = f"arn:aws:lambda:us-east-1:{GOV}:function:mlgov-steps"
    settings = parse_settings(
        {
            "guardrails": {
                "product_function_arns": [exact],
                "product_state_machine_arns": [MACHINE],
            }
        }
    )
    guard = {p.name: p.document for p in guardrail_policies(settings)}
    ds = {"aws:PrincipalArn": role(GOV, DS), "aws:PrincipalAccount": GOV}
    assert evaluate(guard, "lambda:PutProvisionedConcurrencyConfig", f"{exact}:live", ds).decision == "Deny"
    assert evaluate(guard, "lambda:InvokeFunction", f"{exact}:7", ds).decision == "Deny"
    assert evaluate(guard, "lambda:InvokeFunction", f"{exact}-other", ds).decision == "Allow"
    assert evaluate(guard, "states:StopExecution", EXECUTION, ds).decision == "Deny"
    other = EXECUTION.replace("mlgov-challenger", "team-etl")
    assert evaluate(guard, "states:StopExecution", other, ds).decision == "Allow"


def test_the_stack_rule_and_channel_denies_name_what_the_service_authorization_reference_authorizes() -> None:
    import fnmatch

    reference = _reference()
    statements = {s["Sid"]: s for doc in POLICIES.values() for s in doc["Statement"]}
    expected = {
        # s3: the assets bucket and its objects.
        "DenyProductStackChanges": {"stack", "role", "bucket", "object"},
        "DenyProductRuleChanges": {"rule-on-default-event-bus", "rule-on-custom-event-bus"},
        "DenyProductRuleChangesByStackSets": {"rule-on-default-event-bus", "rule-on-custom-event-bus"},
        "DenyChannelDrainOutsideProduct": {"queue", "topic"},
        "DenyChannelReadOutsideProduct": {"queue"},
        "DenyProductAlarmAndLogChanges": {"alarm", "log-group", "log-stream"},
        "DenyServingImageTagMutabilityChange": {"repository"},
    }
    for sid, resource_types in expected.items():
        for pattern in statements[sid]["Action"]:
            service, name = pattern.split(":")
            matched = [a for a in reference[service]["Actions"] if fnmatch.fnmatchcase(a, name.lower())]
            assert matched, f"{pattern} matches no action"
            # (s3:* on the assets bucket: nobody but who deploys reads it either)
            assert pattern == "s3:*" or not [a for a in matched if a.startswith(("get", "list", "describe"))], pattern
            for action in matched:
                # Each action authorizes against a resource type the statement's Resource names (TagResource
                # also takes change sets and stack sets: the stack is the one guarded).
                types = set(reference[service]["Actions"][action].get("Resources", []))
                # s3:* also matches calls on other s3 resource types (access points, jobs, grants): their
                # ARNs never match the assets bucket's, so they deny nothing; the bucket's own writes must be there.
                assert types & resource_types or service == "s3", (sid, action)
    assert {"putobject", "deleteobject", "putbucketpolicy", "putbucketacl"} <= {
        a
        for p in statements["DenyProductStackChanges"]["Action"]
        if p.startswith("s3:")
        for a in reference["s3"]["Actions"]
        if fnmatch.fnmatchcase(a, p.split(":")[1].lower())
        and set(reference["s3"]["Actions"][a].get("Resources", [])) & {"bucket", "object"}
    }
    # The stack writes the attacker review named, and the later ones the same verbs cover.
    denied = [a.split(":")[1].lower() for a in statements["DenyProductStackChanges"]["Action"]]
    for action in STACK_WRITES:
        assert any(fnmatch.fnmatchcase(action.split(":")[1].lower(), d) for d in denied), action
    # SNS authorizes Unsubscribe and SetSubscriptionAttributes as "topic", whose ARN format (.*) also takes the
    # subscription ARN <topic>:<id>: the pattern <stack>-* covers both.
    assert reference["sns"]["Resources"]["topic"]["ARNFormats"] == ["arn:${Partition}:sns:${Region}:${Account}:.*"]


def test_the_named_product_resources_follow_the_stacks() -> None:
    from mlgov.guardrails import FORWARDING_RULE, PRODUCT_STACK
    from stacks.constants import AUDIT_STACK_NAME

    # CloudFormation names the product's queues, topics and rules after the stack; the SCPs name them so.
    assert PRODUCT_STACK == AUDIT_STACK_NAME
    assert FORWARDING_RULE == "mlgov-forward-sagemaker-events"


def test_the_bootstrap_roles_follow_the_deployers_qualifier() -> None:
    # Given a deployer bootstrapped with its own qualifier
    settings = parse_settings(
        {"guardrails": {"deployer_role_arns": ["arn:aws:iam::*:role/cdk-mlgov42-cfn-exec-role-*"]}}
    )
    policies = {p.name: p.document for p in guardrail_policies(settings)}
    ds = {"aws:PrincipalArn": role(GOV, DS), "aws:PrincipalAccount": GOV}
    deploy_role = role(GOV, f"cdk-mlgov42-deploy-role-{GOV}-us-east-1")
    # Then its bootstrap roles are the deployers', and the default qualifier's no longer are
    assert evaluate(policies, "sts:AssumeRole", deploy_role, ds).decision == "Deny"
    default = role(GOV, f"cdk-hnb659fds-deploy-role-{GOV}-us-east-1")
    assert evaluate(policies, "sts:AssumeRole", default, ds).decision == "Allow"
    deployer = {"aws:PrincipalArn": deploy_role, "aws:PrincipalAccount": GOV}
    assert evaluate(policies, "cloudformation:ExecuteChangeSet", STACK, deployer).decision == "Allow"
    # And a deployer that is no bootstrap role names none
    custom = parse_settings(
        {"guardrails": {"deployer_role_arns": ["arn:aws:iam::*:role/mlgov-protected/MlGovDeployer"]}}
    )
    guard = {p.name: p.document for p in guardrail_policies(custom)}["mlgov-product-guard"]
    [stacks] = [s for s in guard["Statement"] if s["Sid"] == "DenyProductStackChanges"]
    assert not [r for r in stacks["Resource"] if ":iam::" in r]
    assert evaluate({"guard": guard}, "sts:AssumeRole", default, ds).decision == "Allow"


def test_the_key_and_bus_denies_name_what_the_service_authorization_reference_authorizes() -> None:
    import fnmatch

    reference = _reference()
    statements = {s["Sid"]: s for doc in POLICIES.values() for s in doc["Statement"]}
    # Every key-administration pattern matches only writes on the "key" resource type, whose condition keys include
    # aws:ResourceTag (so the tag finds the product's keys), and covers the actions the matrix names.
    keys = statements["DenyProductKeyAdministration"]
    kms = reference["kms"]
    assert "aws:ResourceTag/${TagKey}" in kms["Resources"]["key"]["ConditionKeys"]
    [tag_key] = keys["Condition"]["StringEquals"]
    assert tag_key.startswith("aws:ResourceTag/")
    matched: set[str] = set()
    for pattern in keys["Action"]:
        names = [a for a in kms["Actions"] if fnmatch.fnmatchcase(a, pattern.split(":")[1].lower())]
        assert names, f"{pattern} matches no action"
        assert not [a for a in names if a.startswith(("get", "list", "describe"))], pattern
        assert all(kms["Actions"][a]["Resources"] == ["key"] for a in names), pattern
        matched.update(names)
    assert {a.split(":")[1].lower() for a in KEY_ADMIN} == matched
    # PutPermission and RemovePermission take no resource, so the bus statement names "*"; UpdateEventBus the bus.
    bus = statements["DenyGovernanceBusPolicyChanges"]
    events = reference["events"]["Actions"]
    assert bus["Resource"] == "*"
    assert "Resources" not in events["putpermission"] and "Resources" not in events["removepermission"]
    assert "event-bus" in events["updateeventbus"]["Resources"]
    assert "enablerule" in events and "EnableRule" in " ".join(statements["DenyProductRuleChanges"]["Action"])


def test_every_new_statement_is_on_the_policy_with_room_and_named_where_it_belongs() -> None:
    # The bus deny takes every bus of the account: only where the product runs. The key deny names only tagged keys,
    # so it rides on an SCP the guarded OUs carry too.
    where = {s["Sid"]: name for name, doc in POLICIES.items() for s in doc["Statement"]}
    assert where["DenyGovernanceBusPolicyChanges"] == "mlgov-product-guard"
    assert where["DenyProductKeyAdministration"] == "mlgov-protected-roles"
    # The catalog table is named by the user, not after the product: a guarded account's own table of that name would
    # be denied too, so only where the product runs.
    assert where["DenyCatalogWrites"] == "mlgov-product-guard"
    # The governance stack's rules are named after its stack: harmless in a guarded account, so off the product guard
    # (which needs the room for the catalog).
    assert where["DenyProductRuleChangesByStackSets"] == "mlgov-endpoint-lineage"
    for sid in ("DenyChannelDrainOutsideProduct", "DenyChannelReadOutsideProduct"):
        # Named after the product's stack: harmless in a guarded account, so off the crowded product guard.
        assert where[sid] == "mlgov-protected-roles"
        [resources] = [s["Resource"] for s in POLICIES[where[sid]]["Statement"] if s["Sid"] == sid]
        named = [resources] if isinstance(resources, str) else resources
        assert all(r.endswith(":MlGovEndpointAudit-*") for r in named)


@pytest.mark.parametrize("target", ["ou-ab12-governce", "r-ab12"])
def test_an_ou_where_the_product_runs_is_refused_while_the_deploy_role_exemption_names_no_account(target: str) -> None:
    # Given the product's targets named as an OU (or the root), with the default deployer (any account)
    guardrails = {"target_ou_ids": ["ou-ab12-prodwork"], "governance_target_ids": [target]}
    settings = parse_settings({"guardrails": guardrails})
    # When the SCPs are built, Then synth stops, naming the setting, the exemption and what to list instead
    with pytest.raises(GuardrailLimitError, match=rf"governance_target_ids names {target}.*List the account ids"):
        guardrail_policies(settings)
    # And a deployer that is no CDK bootstrap role exempts no deploy role: the OU is accepted
    custom = {**guardrails, "deployer_role_arns": ["arn:aws:iam::*:role/mlgov-protected/MlGovDeployer"]}
    assert len(guardrail_policies(parse_settings({"guardrails": custom}))) == 4


def test_the_deploy_role_exemption_names_the_accounts_where_the_product_runs() -> None:
    # Given the governance account named by id: the deploy role is exempt there only, in both statements
    # (the stack statement exempts every bootstrap role there: only who deploys may become any of them)
    for sid, role_pattern in (
        ("DenyProtectedRoleChanges", "cdk-hnb659fds-deploy-role-*"),
        ("DenyProductStackChanges", "cdk-hnb659fds-*"),
    ):
        [statement] = [s for doc in POLICIES.values() for s in doc["Statement"] if s["Sid"] == sid]
        exempt = statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
        deploy = [arn for arn in exempt if "-deploy-role-" in arn or arn.endswith("cdk-hnb659fds-*")]
        assert deploy == [f"arn:*:iam::{GOV}:role/{role_pattern}"], sid
    # And a deployer pinned to an account pins its deploy role, so an OU is safe there
    pinned = parse_settings(
        {
            "guardrails": {
                "governance_target_ids": ["ou-ab12-governce"],
                "deployer_role_arns": [f"arn:aws:iam::{GOV}:role/cdk-hnb659fds-cfn-exec-role-{GOV}-us-east-1"],
            }
        }
    )
    guard = {p.name: p.document for p in guardrail_policies(pinned)}["mlgov-product-guard"]
    [stack] = [s for s in guard["Statement"] if s["Sid"] == "DenyProductStackChanges"]
    exempt = stack["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    assert f"arn:aws:iam::{GOV}:role/cdk-hnb659fds-*" in exempt
    # In another account of that OU the deploy role stays denied
    other = role("444455556666", "cdk-hnb659fds-deploy-role-444455556666-us-east-1")
    context = {"aws:PrincipalArn": other, "aws:PrincipalAccount": "444455556666"}
    their_stack = STACK.replace(GOV, "444455556666")
    assert evaluate({"guard": guard}, "cloudformation:UpdateStack", their_stack, context).decision == "Deny"


def test_explain_names_the_new_statements_with_a_reason_and_a_way_forward(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlgov.cli import main

    config = tmp_path / "cdk.json"
    config.write_text(json.dumps({"context": {"mlgov": {"guardrails": {"governance_target_ids": [GOV]}}}}))
    admin = ["--principal", f"arn:aws:iam::{GOV}:role/Admin", "--format", "json", "--config", str(config)]
    asks = {
        "DenyProductKeyAdministration": [
            "--action",
            "kms:PutKeyPolicy",
            "--resource",
            KEY,
            "--resource-tag",
            "mlgov:guarded=product-key",
        ],
        "DenyGovernanceBusPolicyChanges": ["--action", "events:RemovePermission"],
        "DenyProductAlarmAndLogChanges": [
            "--action",
            "cloudwatch:DisableAlarmActions",
            "--resource",
            f"arn:aws:cloudwatch:us-east-1:{GOV}:alarm:MlGovEndpointAudit-AuditDeadLetterAlarm1A2B-3C4D5E6F",
        ],
        "DenyProductRuleChanges": ["--action", "events:EnableRule", "--resource", RULE],
        "DenyProductKeyTagOutsideDeploy": [
            "--action",
            "kms:TagResource",
            "--tag-key",
            "mlgov:guarded",
            "--resource",
            KEY,
        ],
        "DenyMemberRoleChanges": ["--action", "iam:PutRolePolicy", "--resource", role(GOV, DEFAULT_MEMBER_ROLE_NAME)],
    }
    for sid, ask in asks.items():
        assert main(["guardrails", "explain", *ask, *admin]) == 3, sid
        report = json.loads(capsys.readouterr().out)
        assert report["statement"] == sid and report["why"] and report["what_to_do"]
    # Without the tag the key is not the product's: nothing denies
    assert main(["guardrails", "explain", "--action", "kms:PutKeyPolicy", "--resource", KEY, *admin]) == 0


def test_the_sizes_docs_guardrails_states_are_the_ones_synth_checks() -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "guardrails.md").read_text()
    rows = dict(
        (name, (int(d.replace(",", "")), int(h.replace(",", ""))))
        for name, d, h in re.findall(r"^\| `(mlgov-[a-z-]+)` \| [\d,]+ \| ([\d,]+) \| ([\d,]+) \|$", text, re.M)
    )

    def sizes(settings: Any) -> dict[str, int]:
        iam = {**account_policies(settings), "mlgov-guardrails-boundary": permissions_boundary(settings)}
        out = {p.name: p.size for p in guardrail_policies(settings)}
        out.update({name: len("".join(json.dumps(d, separators=(",", ":")).split())) for name, d in iam.items()})
        return out

    default, heavy = sizes(parse_settings({})), sizes(heavy_settings())
    assert rows == {name: (default[name], heavy[name]) for name in default}


def test_a_protected_path_over_the_member_roles_path_is_refused() -> None:
    # Given the protected path set to the forwarding role's own path: no StackSet could make that role there (the
    # exempt roles' own checks aside: every other setting as default)
    def on(path: str) -> Any:
        settings = parse_settings({})
        return settings.model_copy(
            update={"guardrails": settings.guardrails.model_copy(update={"protected_role_path": path})}
        )

    # Then synth stops, naming the setting and the path
    with pytest.raises(GuardrailLimitError, match=rf"protected_role_path {MEMBER_ROLE_PATH} covers the member"):
        guardrail_policies(on(MEMBER_ROLE_PATH))
    # And another path is fine
    assert len(guardrail_policies(on("/mlgov-other/"))) == 4


# The compact verbs stand for exactly these writes (the Service Authorization Reference, cfn-lint's copy).
COMPACT_VERBS = {
    ("DenyProtectedRoleChanges", "DenyMemberRoleChanges"): {
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
    },
    ("DenyLineageChangeOutsidePipeline",): {
        "sagemaker:CreateEndpoint",
        "sagemaker:DeleteEndpoint",
        "sagemaker:UpdateEndpoint",
        "sagemaker:UpdateEndpointWeightsAndCapacities",
        "sagemaker:CreateEndpointConfig",
        "sagemaker:DeleteEndpointConfig",
    },
    ("DenyCatalogWrites",): {
        *(f"dynamodb:{a}" for a in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem")),
        *(f"dynamodb:PartiQL{a}" for a in ("Insert", "Update", "Delete")),
        *(f"dynamodb:{a}" for a in ("UpdateTable", "DeleteTable", "PutResourcePolicy", "DeleteResourcePolicy")),
        *(f"dynamodb:{a}" for a in ("UpdateTimeToLive", "UpdateContinuousBackups", "UpdateContributorInsights")),
        *(f"dynamodb:{a}" for a in ("UpdateGlobalTable", "UpdateGlobalTableSettings", "UpdateGlobalTableVersion")),
        *(f"dynamodb:{a}" for a in ("UpdateKinesisStreamingDestination", "UpdateTableReplicaAutoScaling")),
        *(f"dynamodb:{a}" for a in ("DeleteBackup", "DeleteGlobalTableWitness")),
        *(f"dynamodb:{a}" for a in ("DeleteTableReplica", "UpdateAbacStatus")),
        *(f"dynamodb:{a}" for a in ("ImportTable", "CreateTable", "CreateGlobalTable")),
    },
    ("DenyProductAlarmAndLogChanges",): {
        *(f"cloudwatch:{a}" for a in ("DisableAlarmActions", "SetAlarmState", "DeleteAlarms", "PutAlarmMuteRule")),
        *(f"cloudwatch:Put{a}Alarm" for a in ("Metric", "Composite", "Log")),
        *(f"logs:{a}" for a in ("DeleteLogGroup", "DeleteLogStream", "PutRetentionPolicy")),
    },
    ("DenyServingChangeOutsidePipeline",): {
        "sagemaker:CreateModel",
        "sagemaker:DeleteModel",
        "sagemaker:CreateInferenceComponent",
        "sagemaker:UpdateInferenceComponent",
        "sagemaker:UpdateInferenceComponentRuntimeConfig",
        "sagemaker:DeleteInferenceComponent",
    },
}


def test_the_compact_action_verbs_match_exactly_the_named_writes_per_the_service_authorization_reference() -> None:
    import fnmatch

    reference = _reference()
    statements = [s for p in guardrail_policies(heavy_settings()) for s in p.document["Statement"]]
    for sids, expected in COMPACT_VERBS.items():
        found = [s for s in statements if base_sid(s["Sid"]) in sids]
        assert len(found) >= len(sids), sids
        for statement in found:
            matched = set()
            for pattern in statement["Action"]:
                service, name = pattern.split(":")
                matched |= {
                    f"{service}:{a}" for a in reference[service]["Actions"] if fnmatch.fnmatchcase(a, name.lower())
                }
            assert matched == {a.lower() for a in expected}, statement["Sid"]


def test_the_stack_statements_short_verbs_name_one_action_each() -> None:
    """UpdateT* and Co* in DenyProductStackChanges stand for one action each (room for the catalog's creation)."""
    from mlgov.guardrails import STACK_CHANGES

    short = {"cloudformation:UpdateT*": "UpdateTerminationProtection", "cloudformation:Co*": "ContinueUpdateRollback"}
    assert set(short) <= set(STACK_CHANGES)
    for pattern, action in short.items():
        assert _expanded([pattern]) == [f"cloudformation:{action.lower()}"], pattern


def _expanded(patterns: list[str]) -> list[str]:
    import fnmatch

    reference = _reference()
    return [
        f"{service}:{action}"
        for service, name in (p.split(":") for p in patterns)
        for action in reference[service]["Actions"]
        if fnmatch.fnmatchcase(action, name.lower())
    ]


def test_the_experiment_splits_second_statement_denies_with_any_resource_exactly_what_the_pair_denied() -> None:
    """Resource "*" on ...OutsideExperiments: against that statement naming its resource types, every request gets
    the same decision from the same statement (the Named one denies first whatever the types leave out)."""
    settings = heavy_settings()
    prefix = settings.experiment_exemptions.endpoint_name_prefix
    statements = [s for p in guardrail_policies(settings) for s in p.document["Statement"]]
    # In the order the policy has them (the first statement that denies is the one explain names)
    pairs = {
        base_sid(s["Sid"]): [t for t in statements if base_sid(t["Sid"]) == base_sid(s["Sid"])] for s in statements
    }
    named = {base_sid(s["Sid"]): s for s in statements if s["Sid"].endswith("Named")}
    outside = {base_sid(s["Sid"]): s for s in statements if s["Sid"].endswith("OutsideExperiments")}
    assert sorted(named) == sorted(outside) and len(named) == 4
    pipeline = role(PROD, "mlgov-protected/MlGovDeploymentPipeline-0a")
    callers: list[dict[str, Any]] = [
        {"aws:PrincipalArn": role(EXPERIMENT, DS), "aws:PrincipalAccount": EXPERIMENT},
        {"aws:PrincipalArn": role(PROD, DS), "aws:PrincipalAccount": PROD},
        {
            "aws:PrincipalArn": role(PROD, DS),
            "aws:PrincipalAccount": PROD,
            "aws:PrincipalOrgPaths": [f"o-a/r-b/{EXPERIMENT_OU}/"],
        },
        {"aws:PrincipalArn": pipeline, "aws:PrincipalAccount": PROD},
    ]
    kinds = ["endpoint", "endpoint-config", "model", "inference-component", "training-job", "model-package"]
    decided_by_outside = 0
    for sid, first in named.items():
        second = outside[sid]
        assert second["Resource"] == "*" and second["Action"] == first["Action"]
        typed = {**second, "Resource": [r.replace(f"/{prefix}*", "/*") for r in first["NotResource"]]}
        for action in _expanded(first["Action"]):
            for kind in kinds:
                for name in (f"{prefix}ab", "manga-recommender-prod"):
                    for caller in callers:
                        context = {**caller, "aws:TagKeys": ["ModelPackageName"]}
                        resource = sm_arn(kind, name, account=caller["aws:PrincipalAccount"])
                        now = evaluate({"p": {"Statement": pairs[sid]}}, action, resource, context)
                        was = [typed if t is second else t for t in pairs[sid]]
                        before = evaluate({"p": {"Statement": was}}, action, resource, context)
                        assert (now.decision, now.statement) == (before.decision, before.statement), (
                            sid,
                            action,
                            resource,
                        )
                        decided_by_outside += now.statement == second["Sid"]
    assert decided_by_outside  # the grid reaches the second statement too
    assert all(pair == [named[sid], outside[sid]] for sid, pair in pairs.items() if sid in named)


def test_a_pattern_another_one_matches_is_listed_once_and_still_exempt() -> None:
    from mlgov.guardrails import _covers, _distinct

    protected = "arn:*:iam::*:role/mlgov-protected/*"
    assert _covers(protected, "arn:aws:iam::*:role/mlgov-protected/MlGovBreakGlass-0*")
    assert _covers("arn:*:iam::*:role/cdk-hnb659fds-*", "arn:*:iam::*:role/cdk-hnb659fds-cfn-exec-role-*")
    # Never wider: a ? is one character, not a *; a literal partition does not cover any partition; no colon spans
    assert not _covers("arn:*:iam::*:role/a?c", "arn:*:iam::*:role/a*c")
    assert not _covers("arn:aws:iam::*:role/x", "arn:*:iam::*:role/x")
    assert not _covers("arn:*:iam::*:role/x*", "arn:*:iam::*:role/y")
    assert not _covers("arn:*:iam::*:*", "arn:*:iam::*:role/x:y")
    assert _distinct(["b", "a", "b"]) == ["b", "a"]
    assert _distinct(["arn:*:iam::*:role/a**", "arn:*:iam::*:role/a*"]) == ["arn:*:iam::*:role/a**"]
    # Given the heavy configuration, whose redrive roles are the whole protected path
    settings = heavy_settings()
    read = next(
        s
        for p in guardrail_policies(settings)
        for s in p.document["Statement"]
        if s["Sid"] == "DenyChannelReadOutsideProduct"
    )
    exempt = read["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    # Then the break-glass roles are not listed again, and stay exempt
    assert protected in exempt and not [r for r in exempt if "MlGovBreakGlass" in r]
    queue = f"arn:aws:sqs:us-east-1:{GOV}:MlGovEndpointAudit-Findings"
    glass = {"aws:PrincipalArn": role(GOV, "mlgov-protected/MlGovBreakGlass-0a"), "aws:PrincipalAccount": GOV}
    assert evaluate({"p": {"Statement": [read]}}, "sqs:ReceiveMessage", queue, glass).decision == "Allow"
    other = {"aws:PrincipalArn": role(GOV, DS), "aws:PrincipalAccount": GOV}
    assert evaluate({"p": {"Statement": [read]}}, "sqs:ReceiveMessage", queue, other).decision == "Deny"


def test_the_product_key_tag_deny_rides_beside_the_key_administration_deny() -> None:
    # The same targets as every SCP but the product guard; first, so a tag change on a product key is explained so.
    sids = [s["Sid"] for s in POLICIES["mlgov-protected-roles"]["Statement"]]
    assert sids.index("DenyProductKeyTagOutsideDeploy") + 1 == sids.index("DenyProductKeyAdministration")
    assert "DenyProductKeyTagOutsideDeploy" not in {s["Sid"] for s in POLICIES["mlgov-model-approval"]["Statement"]}


def test_the_stacksets_exemption_holds_for_the_forwarding_rule_only_whatever_the_role_lists() -> None:
    """Issue 20 (trust): DenyProductRuleChanges exempts the StackSets execution role for the member forwarding rule;
    DenyProductRuleChangesByStackSets takes it back on the governance stack's rules, the same writes, and does not
    grow with the allow-lists (the heavy configuration's copy is the default's)."""
    from mlgov.guardrails import FORWARDING_RULE as FORWARDING_RULE_NAME
    from mlgov.guardrails import PRODUCT_STACK, STACKSET_EXECUTION_ROLES

    for settings in (parse_settings({}), SETTINGS, heavy_settings()):
        statements = {s["Sid"]: s for p in guardrail_policies(settings) for s in p.document["Statement"]}
        rules, back = statements["DenyProductRuleChanges"], statements["DenyProductRuleChangesByStackSets"]
        assert STACKSET_EXECUTION_ROLES in rules["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
        assert back["Action"] == rules["Action"]
        assert back["Resource"] == f"arn:*:events:*:*:rule/{PRODUCT_STACK}-*"
        assert FORWARDING_RULE_NAME not in json.dumps(back)
        assert back["Condition"] == {"ArnLike": {"aws:PrincipalArn": STACKSET_EXECUTION_ROLES}}
        # And no StackSet is exempt from the bus policy deny
        assert "stacksets-exec" not in json.dumps(statements["DenyGovernanceBusPolicyChanges"])
    # Every partition: the StackSet's role there is refused the governance stack's rules, and keeps the forwarding rule
    for partition in ("aws", "aws-cn", "aws-us-gov"):
        stackset = {"aws:PrincipalArn": f"arn:{partition}:iam::{GOV}:role/{STACKSET_EXEC}", "aws:PrincipalAccount": GOV}
        rule = RULE.replace("arn:aws:", f"arn:{partition}:")
        assert evaluate(POLICIES, "events:DeleteRule", rule, stackset).decision == "Deny", partition
        member = {**stackset, "aws:PrincipalArn": stackset["aws:PrincipalArn"].replace(GOV, PROD)}
        forwarding = FORWARDING_RULE.replace("arn:aws:", f"arn:{partition}:")
        assert evaluate(POLICIES, "events:PutRule", forwarding, member).decision == "Allow", partition


@pytest.mark.parametrize(
    "deployer",
    [
        "arn:aws:iam::*:role/stacksets-exec-*",
        "arn:*:iam::*:role/*",
        f"arn:aws:iam::{GOV}:role/*exec*",
        "arn:aws-cn:iam::*:role/stacksets-*",
    ],
)
def test_a_deployer_pattern_a_stackset_role_matches_is_refused(deployer: str) -> None:
    # Given a deployer (or product role) pattern that every service-managed StackSet's role matches
    for key in ("deployer_role_arns", "product_role_arns"):
        settings = parse_settings({"guardrails": {key: [deployer]}})
        # Then synth (and explain) stop, naming the setting, the pattern and what to name instead
        with pytest.raises(GuardrailLimitError, match=rf"{key} names .* matches the StackSets execution roles"):
            guardrail_policies(settings)


def test_a_deployer_pattern_no_stackset_role_matches_is_accepted() -> None:
    for deployer in (
        "arn:aws:iam::*:role/cdk-hnb659fds-cfn-exec-role-*",
        "arn:aws:iam::*:role/mlgov-protected/MlGovDeployer",
        "arn:aws:iam::*:role/stacksets-exec",
        "arn:aws:iam::*:role/team/stacksets-exec-*",
    ):
        assert len(guardrail_policies(parse_settings({"guardrails": {"deployer_role_arns": [deployer]}}))) == 4


CATALOG = "arn:aws:dynamodb:us-east-1:123456789012:table/manga-catalog"


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("dynamodb:PutItem", CATALOG),
        ("dynamodb:UpdateItem", CATALOG),
        ("dynamodb:DeleteItem", CATALOG),
        ("dynamodb:BatchWriteItem", CATALOG),
        ("dynamodb:PartiQLUpdate", CATALOG),
        ("dynamodb:DeleteTable", CATALOG),
        ("dynamodb:PutResourcePolicy", CATALOG),
        ("dynamodb:PartiQLInsert", CATALOG),
    ],
)
def test_only_the_catalog_writers_write_the_catalog_the_retraining_trains_on(action: str, resource: str) -> None:
    policies = {p.name: p.document for p in guardrail_policies(parse_settings({}))}

    def as_role(role: str) -> str:
        context = {"aws:PrincipalArn": f"arn:aws:iam::123456789012:role/{role}", "aws:PrincipalAccount": "1"}
        return evaluate(policies, action, resource, context).decision

    assert as_role("Developer") == "Deny"
    assert as_role("mlgov-protected/MlGovCatalogWriterIngest") == "Allow"
    assert as_role("cdk-hnb659fds-cfn-exec-role-123456789012-us-east-1") == "Deny"  # no deploy writes it
    # Reads stay open, and another table is not the catalog
    context = {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/Developer", "aws:PrincipalAccount": "1"}
    assert evaluate(policies, "dynamodb:Query", CATALOG, context).decision == "Allow"
    assert evaluate(policies, action, f"{CATALOG}-staging", context).decision == "Allow"


def test_the_catalog_writers_are_refused_off_the_protected_path_or_as_stacksets() -> None:
    with pytest.raises(ValueError, match="catalog_writer_role_arns"):
        parse_settings({"guardrails": {"catalog_writer_role_arns": ["arn:aws:iam::*:role/Ingest"]}})
    with pytest.raises(ValueError, match="catalog_writer_role_arns"):
        parse_settings({"guardrails": {"catalog_writer_role_arns": ["not-an-arn"]}})


def test_the_catalog_deny_follows_the_catalog_table_setting() -> None:
    settings = parse_settings({"retraining": {"catalog_table_name": "titles-v2"}})
    policies = {p.name: p.document for p in guardrail_policies(settings)}
    context = {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/Developer", "aws:PrincipalAccount": "1"}
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/titles-v2"
    assert evaluate(policies, "dynamodb:PutItem", table, context).decision == "Deny"
    assert evaluate(policies, "dynamodb:PutItem", CATALOG, context).decision == "Allow"
