"""Preventive guardrails as policy documents: SCPs for an organization, or the same statements
as IAM managed policies and a permissions boundary for a single account. No CDK import and part of
the installed package: the CLI (`mlgov guardrails explain`) evaluates exactly these documents.

What IAM can see, and so what these statements can and cannot guarantee, is in docs/guardrails.md
("Guardrails"). In short: CreateEndpoint sees only request tags, not the models behind the
config, so the tag is a claim; the audit Lambda verifies the real lineage.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mlgov.settings import Settings, member_role_name
from mlgov_runtime.org_scan.forwarding import FORWARDING_ROLE_PREFIX, MEMBER_ROLE_PATH
from mlgov_runtime.org_scan.forwarding import RULE_NAME as FORWARDING_RULE

SCP_MAX_CHARS = 5120
SCPS_PER_TARGET = 5
IAM_POLICY_MAX_CHARS = 6144  # a managed policy (and so a permissions boundary), whitespace not counted
MODEL_PACKAGE_ARN_SHAPE = "arn:aws*:sagemaker:*:*:model-package/*/*"
# Every partition (aws, aws-cn, aws-us-gov): a literal "arn:aws:" would match nothing in the others.
SM = "arn:*:sagemaker:*:*"
# Verbs per the Service Authorization Reference (tests expand them against cfn-lint's copy), shorter than the 13
# names and matching no read: "*teRole" is Create/Delete/UpdateRole, "*tachRolePolicy" Attach/Detach,
# "*RolePermissionsBoundary" Put/Delete, "*TagRole" Tag/UntagRole.
IAM_ROLE_CHANGES = [
    "iam:*teRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:*tachRolePolicy",
    "iam:*RolePermissionsBoundary",
    "iam:*TagRole",
    "iam:PassRole",
]


# Sources the product's own events use (the retraining announcement that starts a challenger).
PRODUCT_EVENT_SOURCES = "mlgov.*"
TASK_ANSWERS = ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"]
# Every write on a product function, alias or version (the Service Authorization Reference's resource types):
# the verbs match no read or invoke, and also cover writes AWS adds later. Tests expand them against the
# reference's action list (cfn-lint's copy).
FUNCTION_CHANGES = [
    "lambda:Create*",
    "lambda:Update*",
    "lambda:Delete*",
    "lambda:Put*",
    "lambda:*Permission",
    "lambda:PublishVersion",
]
# CreateEventSourceMapping takes no resource: only lambda:FunctionArn names the target function (Update and
# Delete carry the same key). "*eEventSourceMapping" is Create/Update/Delete, not Get.
FUNCTION_TRIGGERS = ["lambda:*eEventSourceMapping"]
# The governance stack (stacks.constants.AUDIT_STACK_NAME; a test keeps them equal): CloudFormation names the
# product's queues, topics and rules after it. CDKToolkit holds the deployer's roles (`cdk bootstrap`).
PRODUCT_STACK = "MlGovEndpointAudit"
# Every write on a stack, per the Service Authorization Reference (all take the stack ARN, ExecuteChangeSet
# too): "*Stack" is Create/Update/Delete/Rollback/CancelUpdateStack, "Execute*" ExecuteChangeSet/StackRefactor.
STACK_CHANGES = [
    "cloudformation:*Stack",
    "cloudformation:CreateChangeSet",
    "cloudformation:Execute*",
    "cloudformation:CreateStackRefactor",
    "cloudformation:SetStackPolicy",
    "cloudformation:UpdateT*",  # UpdateTerminationProtection alone (room for the catalog's creation)
    "cloudformation:Co*",  # ContinueUpdateRollback alone
    "cloudformation:SignalResource",
    "cloudformation:*TagResource",
]
RULE_CHANGES = [
    "events:PutRule",
    "events:PutTargets",
    "events:RemoveTargets",
    "events:EnableRule",
    "events:DisableRule",
    "events:DeleteRule",
]
# Who may put events on the governance bus is its policy (the organization statement the member accounts forward
# through): PutPermission and RemovePermission take no resource (Service Authorization Reference), so every bus of
# the account; UpdateEventBus could give the bus a key EventBridge may not use, or a dead-letter queue elsewhere.
BUS_POLICY_CHANGES = ["events:PutPermission", "events:RemovePermission", "events:UpdateEventBus"]
# A metric filter publishes into any namespace as CloudWatch Logs, out of reach of the cloudwatch:namespace deny;
# it has no namespace key, so where the product runs (the gate reads the recommendation metrics there) only a
# deploy makes one. It rides DenyGovernanceBusPolicyChanges' exemptions (the deployer, break-glass) for room.
# PutMetric* also takes PutMetricExtractionPolicy, which an account-level metric extraction policy needs as well.
METRIC_FILTER_CHANGES = ["logs:PutMetric*"]
# CDK's assets bucket holds the next release's function code and template under their content hashes, which anyone
# who reads the source can compute: an object planted there first is what the deployer ships (cdk-assets skips an
# upload it finds done). Every S3 call on it is who deploys' there: writes, deletes, replication into it, its policy
# and settings; nobody else needs to read it (CloudFormation and Lambda read it as the deployer).
ASSET_ACCESS = ["s3:*"]
# The product's KMS keys carry this tag (stacks: findings channel, org scan, approvals); aws:ResourceTag is a
# condition key of the "key" resource type, so the deny finds them in any account without their ids. Changing
# or removing the tag is itself denied, so it cannot be taken off first.
PRODUCT_KEY_TAG = ("mlgov:guarded", "product-key")
# Key administration per the Service Authorization Reference (all on "key"): the key policy, grants (create,
# revoke, retire), disabling the key or its rotation, deletion, and the tag that marks it. "Disable*" is DisableKey
# and DisableKeyRotation, "*Grant" Create/Revoke/RetireGrant (not ListGrants), "*TagResource" Tag/UntagResource.
KEY_ADMINISTRATION = [
    "kms:PutKeyPolicy",
    "kms:*Grant",
    "kms:Disable*",
    "kms:ScheduleKeyDeletion",
    "kms:*TagResource",
]
# Whoever drains the notifier's queues, filters or drops their subscriptions, or rewrites a queue's or topic's
# policy (SetQueueAttributes/SetTopicAttributes) silences or forges findings.
CHANNEL_DRAIN = [
    "sqs:PurgeQueue",
    "sqs:SetQueueAttributes",
    "sqs:RemovePermission",  # takes a policy statement off by its Sid
    "sqs:DeleteQueue",
    "sns:SetSubscriptionAttributes",
    "sns:Unsubscribe",
    "sns:SetTopicAttributes",
    "sns:RemovePermission",
    "sns:PutDataProtectionPolicy",  # may deny or mask what is published
    "sns:DeleteTopic",
]
# The member forwarding role (FORWARDING_ROLE_PREFIX, MEMBER_ROLE_PATH: the org scan checks the rule's target role)
# is off the protected path: the StackSets execution role must make it, and is exempt for the member roles only.
# A service-managed StackSet acts in a member account as the role stacksets-exec-<hash>, which the StackSets
# service-linked role creates there (the management account's StackSets may assume only that name).
STACKSET_EXECUTION_ROLES = "arn:*:iam::*:role/stacksets-exec-*"
# What such a role's ARN ends in (the service names it stacksets-exec-<32 hex digits>, on the root path).
STACKSET_EXECUTION_ROLE_SAMPLE = "role/stacksets-exec-7f3e9a1b2c4d5e6f7a8b9c0d1e2f3a4b"
# `cdk bootstrap` names its roles cdk-<qualifier>-<purpose>-role-<account>-<region>.
_CFN_EXEC_ROLE = re.compile(r"^(arn:[^:]*:iam::[^:]*:role/)cdk-([a-z0-9]+)-cfn-exec-role-")
# The product's alarms and log groups carry generated names after the stack (no AlarmName/LogGroupName in the
# template). Per the Service Authorization Reference (each on "alarm", "log-group" or "log-stream", whose ARN is
# log-group:<name>:log-stream:<stream>): "Put*Alarm*" is PutMetricAlarm, PutCompositeAlarm, PutLogAlarm and
# PutAlarmMuteRule (a mute rule silences the alarms it names); the log writes that erase or shorten the record.
# "DisableA*" is DisableAlarmActions alone and "Set*" SetAlarmState alone (short for room): a forced OK state would
# hold until the next evaluation, long enough to miss the one page a refusal sends.
ALARM_AND_LOG_CHANGES = [
    "cloudwatch:DisableA*",
    "cloudwatch:Set*",
    "cloudwatch:Put*Alarm*",
    "cloudwatch:DeleteAlarms",
    "logs:DeleteLogGroup",
    "logs:DeleteLogStream",
    "logs:PutRetentionPolicy",
]
# Every write on a DynamoDB table (the Service Authorization Reference; tests expand the verbs against cfn-lint's
# copy and check that none is a read). Short for room in the product guard. Restores and imports make a new table:
# they cannot replace a table nobody deletes.
CATALOG_WRITES = [
    "dynamodb:Put*",  # PutItem, PutResourcePolicy
    "dynamodb:Up*",  # every Update*
    "dynamodb:Del*",  # every Delete*
    "dynamodb:*eItem",  # BatchWriteItem (and Update/DeleteItem again), never GetItem or BatchGetItem
    "dynamodb:*te",  # PartiQLUpdate, PartiQLDelete
    "dynamodb:P*rt",  # PartiQLInsert, not PartiQLSelect
    "dynamodb:Im*",  # ImportTable: the table, created full, while its name is free
    "dynamodb:Cr*Table",  # CreateTable, CreateGlobalTable (never CreateBackup)
]
MACHINE_CHANGES = [
    "states:UpdateStateMachine",
    "states:DeleteStateMachine",
    "states:PublishStateMachineVersion",
    "states:*teStateMachineAlias",
]


class GuardrailLimitError(ValueError):
    pass


class GuardrailSettingsError(GuardrailLimitError):
    """Settings the guardrails cannot honour safely (reported like a limit: at synth, and by the CLI)."""


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


def _covers(wide: str, narrow: str) -> bool:
    """Whether every ARN the pattern `narrow` matches also matches `wide` (ArnLike, case-sensitive). Conservative: a
    wildcard of `wide` never spans a colon, and a `?` of it stands for no `*` of `narrow`."""
    if wide.count(":") != narrow.count(":"):
        return False
    parts = ("[^:]*" if c == "*" else "[^:*]" if c == "?" else re.escape(c) for c in wide)
    return re.fullmatch("".join(parts), narrow) is not None


def _distinct(patterns: list[str]) -> list[str]:
    """The patterns without those another one already matches (a role exempt twice costs characters, not safety)."""
    kept: list[str] = []
    for pattern in patterns:
        if not any(_covers(other, pattern) for other in kept):
            # Two patterns that match each other (a* and a**): the first stays, never neither.
            kept = [other for other in kept if not _covers(pattern, other)] + [pattern]
    return kept


def _principal_exceptions(roles: list[str]) -> dict[str, Any]:
    return {"ArnNotLike": {"aws:PrincipalArn": _distinct(roles)}} if roles else {}


def _merge(*conditions: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for condition in conditions:
        for operator, keys in condition.items():
            merged.setdefault(operator, {}).update(keys)
    return merged


def _qualifiers(settings: Settings) -> list[tuple[str, str]]:
    """(role ARN prefix, qualifier) of every deployer that is a CloudFormation execution role of `cdk bootstrap`."""
    found = (_CFN_EXEC_ROLE.match(arn) for arn in settings.guardrails.deployer_role_arns)
    return [(m[1], m[2]) for m in found if m]


def _bootstrap_roles(settings: Settings, purpose: str) -> list[str]:
    """The `cdk bootstrap` roles (`purpose` "deploy", or "*" for all) of every qualifier whose CloudFormation
    execution role is a deployer (default: hnb659fds): CDK deploys with the deploy role, which passes that role."""
    suffix = "-role-*" if purpose != "*" else ""
    return list(dict.fromkeys(f"{prefix}cdk-{q}-{purpose}{suffix}" for prefix, q in _qualifiers(settings)))


def _where_the_product_runs(settings: Settings, roles: list[str], what: str) -> list[str]:
    """`roles` pinned to the accounts of governance_target_ids: a pattern naming no account would be exempt in every
    guarded account too. An OU or root there is refused, since the exemption would then hold in every account below
    it. Without targets (SCPs attached by hand) the roles stay as they are."""
    targets = settings.guardrails.governance_target_ids
    unpinned = [role for role in roles if ":iam::*:" in role]
    groups = [target for target in targets if not target.isdigit()]
    if unpinned and groups:
        raise GuardrailSettingsError(
            f"mlgov.guardrails.governance_target_ids names {', '.join(groups)} (an OU or root): the exemption of "
            f"{what} ({unpinned[0]}: DenyProductStackChanges, DenyProtectedRoleChanges) would hold in every account "
            "below it. List the account ids the product runs in (12 digits) instead, or name the account in "
            "mlgov.guardrails.deployer_role_arns (arn:aws:iam::<account>:role/cdk-hnb659fds-cfn-exec-role-*)."
        )
    if not targets:
        return roles
    pinned = (role.replace(":iam::*:", f":iam::{account}:", 1) for role in roles for account in targets)
    return list(dict.fromkeys(pinned))


def _bootstrap_buckets(settings: Settings) -> list[str]:
    """The assets buckets of the deployers' qualifiers (`cdk-<qualifier>-assets-<account>-<region>`, objects too)."""
    return list(dict.fromkeys(f"arn:*:s3:::cdk-{q}-assets-*" for _, q in _qualifiers(settings)))


def _bootstrap_roles_where_the_product_runs(settings: Settings) -> list[str]:
    """Every bootstrap role of the deployers' qualifiers, in the governance accounts: the deploy role drives the
    change sets, the file-publishing role uploads the assets. Only who deploys may become any of them
    (sts:AssumeRole, same statement), so exempting them all exempts nobody new."""
    roles = _bootstrap_roles(settings, "*")
    return _where_the_product_runs(settings, roles, "CDK's bootstrap roles, which trust their whole account")


def _deploy_roles_where_the_product_runs(settings: Settings) -> list[str]:
    """The deploy roles, in the governance accounts: elsewhere an exempt deploy role would let whoever may assume it
    (its trust is the account) pass the deployer role or drive the product's stack."""
    roles = _bootstrap_roles(settings, "deploy")
    return _where_the_product_runs(settings, roles, "CDK's deploy role, which trusts its whole account")


def _deployers_where_the_product_runs(settings: Settings) -> list[str]:
    """The deployer roles, in the governance accounts: in a guarded account a team's own stack keeps CDK's
    execution role (the default deployer pattern names every account) as its service role, and whoever may update
    that stack acts as it, with no iam:PassRole. A deployer on the protected path exists only where role admins
    made it, so it stays as it is."""
    off_path = _by_name(settings, settings.guardrails.deployer_role_arns)
    on_path = [arn for arn in settings.guardrails.deployer_role_arns if arn not in off_path]
    return on_path + _where_the_product_runs(settings, off_path, "the deployer role")


def _endpoint_statements(
    sid: str, actions: list[str], resource_types: list[str], condition: dict[str, Any], settings: Settings
) -> list[dict[str, Any]]:
    """Deny on endpoint-scoped resources, except experiment endpoints in experiment accounts/OUs.

    IAM has no OR inside one statement, so "experiment name AND experiment account" becomes two
    denies: every other name everywhere (NotResource), and every name outside experiment accounts. The second
    takes Resource "*": whatever it would leave out (not of these types) the first already denies, under the
    same condition and before it.
    """
    ex = settings.experiment_exemptions
    # endpoint and endpoint-config are SageMaker's only resource types starting "endpoint" (Service
    # Authorization Reference): one pattern for both keeps the SCP under Organizations' size limit.
    if sorted(resource_types) == ["endpoint", "endpoint-config"]:
        resource_types = ["endpoint*"]
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
            "Resource": "*",
            "Condition": _merge(condition, outside),
        },
    ]


GOVERNANCE_TAG_ACTIONS = ["sagemaker:AddTags", "sagemaker:DeleteTags"]


def _governance_tag_condition(settings: Settings) -> dict[str, Any]:
    """IAM compares tag keys case-insensitively elsewhere; a `modelpackagename` tag must not slip by. Retirement
    tags endpoint_purpose=retiring where the product runs, as a function role named after the stack (the product's
    roles off the path; the challenger's on it are pipeline roles)."""
    g = settings.guardrails
    return _merge(
        {"ForAnyValue:StringEqualsIgnoreCase": {"aws:TagKeys": g.governance_tag_keys}},
        _principal_exceptions(g.pipeline_role_arns + g.break_glass_role_arns + _by_name(settings, g.product_role_arns)),
    )


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
            # Exactly Create/Update/DeleteEndpoint, UpdateEndpointWeightsAndCapacities and Create/DeleteEndpointConfig
            # (the reference). A deleted and re-created host serves nothing until its components come back, and a
            # deletion is the retirement's, after approval: where the product runs its roles, by name, delete.
            ["sagemaker:*teEndpoint*"],
            ["endpoint", "endpoint-config"],
            _principal_exceptions(pipeline + _by_name(settings, g.product_role_arns)),
            settings,
        ),
        *_endpoint_statements(
            "DenyGovernanceTagChange",
            GOVERNANCE_TAG_ACTIONS,
            ["endpoint"],
            _governance_tag_condition(settings),
            settings,
        ),
    ]
    if g.serving_repository_names:
        # PutImageTagMutability has no condition key for the new setting: the whole action is the pipeline's,
        # so a serving repository created IMMUTABLE stays so (and a MUTABLE one is fixed through the pipeline).
        # Immutability refuses an overwrite, not a deletion: BatchDeleteImage frees the tag and PutImage fills it
        # with other bytes, which the next retraining run pins. Pushing and deleting serving images is the
        # pipeline's too (the Service Authorization Reference: both on "repository").
        statements.append(
            {
                "Sid": "DenyServingImageTagMutabilityChange",
                "Effect": "Deny",
                "Action": ["ecr:PutImageTagMutability", "ecr:BatchDeleteImage", "ecr:PutImage"],
                "Resource": [f"arn:*:ecr:*:*:repository/{name}" for name in g.serving_repository_names],
                "Condition": _principal_exceptions(pipeline),
            }
        )
    # DenyProductRuleChanges (mlgov-protected-roles) exempts the StackSets execution role for the one rule a
    # StackSet makes, the member forwarding rule. IAM has no OR inside a statement, so this takes the exemption
    # back on the governance stack's rules (the real-time audit, the schedules, the challenger's start): they
    # change only as the deployer or break-glass. Its size does not grow with the role lists (a split
    # DenyProductRuleChanges would list the deployers twice). It names only the governance stack's rules, so it
    # matches nothing in a guarded account: here, where the heavy configuration leaves room (mlgov-protected-roles
    # grows with the deployer list, the product guard keeps room for DenyCatalogWrites).
    statements.append(
        {
            "Sid": "DenyProductRuleChangesByStackSets",
            "Effect": "Deny",
            "Action": RULE_CHANGES,
            "Resource": f"arn:*:events:*:*:rule/{PRODUCT_STACK}-*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": STACKSET_EXECUTION_ROLES}},
        }
    )
    return NamedPolicy(
        "mlgov-endpoint-lineage",
        "ML governance: endpoints only from registered model packages; lineage, governance tags and serving "
        "images' tag mutability change only via the pipeline",
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
    # A package in a watched group is a challenger candidate; a group policy lets other accounts write into a
    # group. SageMaker writes names into ARNs in lower case, and ARN matching is case-sensitive.
    groups = sorted({name.lower() for name in settings.watched_model_package_groups})
    registry = {
        "Sid": "DenyRegistryWriteOutsidePipeline",
        "Effect": "Deny",
        "Action": [
            "sagemaker:CreateModelPackage",
            "sagemaker:PutModelPackageGroupPolicy",
            "sagemaker:DeleteModelPackageGroupPolicy",
        ],
        "Resource": [
            *[f"{SM}:model-package/{group}/*" for group in groups],
            f"{SM}:model-package-group/*",
        ],
        "Condition": _principal_exceptions(g.pipeline_role_arns + g.product_role_arns + g.break_glass_role_arns),
    }
    # The gate reads impressions and clicks from these namespaces; anyone else writing there forges the CTR.
    namespaces = sorted({settings.challenger.metrics.namespace, settings.challenger.retention_metric.namespace})
    metrics = {
        "Sid": "DenyRecommendationMetricsOutsideWriters",
        "Effect": "Deny",
        "Action": ["cloudwatch:PutMetricData"],
        "Resource": "*",
        "Condition": _merge(
            {"StringEquals": {"cloudwatch:namespace": namespaces}},
            _principal_exceptions(g.metric_writer_role_arns + g.break_glass_role_arns),
        ),
    }
    # A model or inference component is what serves: created, swapped or deleted only by the pipeline. Here rather
    # than in mlgov-endpoint-lineage (same targets) so both keep room under Organizations' limit.
    serving = _endpoint_statements(
        "DenyServingChangeOutsidePipeline",
        [
            "sagemaker:*teModel",  # CreateModel and DeleteModel (the reference)
            # Create/Update/DeleteInferenceComponent and UpdateInferenceComponentRuntimeConfig (copies to 0), not
            # DescribeInferenceComponent ("be", not "te"): the reference has no other action so named.
            "sagemaker:*teInferenceComponent*",
        ],
        ["model", "inference-component"],
        _principal_exceptions(g.pipeline_role_arns + g.break_glass_role_arns),
        settings,
    )
    # Every refusal the trust model ends in an alarm or a logged reason: the product's alarms and the log groups
    # that hold the reasons (and the EMF metrics the alarms watch) change only in a deploy. They live where the
    # product runs, but the product guard has no room in the heavy configuration (docs/guardrails.md, "Sizes"); named
    # after the product's stack, this statement matches nothing in a guarded workload account.
    alarms_and_logs = {
        "Sid": "DenyProductAlarmAndLogChanges",
        "Effect": "Deny",
        "Action": ALARM_AND_LOG_CHANGES,
        "Resource": [f"arn:*:cloudwatch:*:*:alarm:{PRODUCT_STACK}-*", f"arn:*:logs:*:*:log-group:{PRODUCT_STACK}-*"],
        "Condition": _principal_exceptions(g.deployer_role_arns + g.break_glass_role_arns),
    }
    statements = [statement, changes, registry, metrics, *serving, alarms_and_logs]
    return NamedPolicy(
        "mlgov-model-approval",
        "ML governance: only approvers approve a package, only the pipeline creates models and registers into "
        "watched groups, only the recommender writes the metrics the challenger gate decides on; the product's alarms "
        "and logs change only in a deploy",
        {"Version": "2012-10-17", "Statement": statements},
    )


def _by_name(settings: Settings, roles: list[str]) -> list[str]:
    path = f":role{settings.guardrails.protected_role_path}"
    return [arn for arn in roles if path not in arn]


def protected_roles_policy(settings: Settings) -> NamedPolicy:
    """The exemptions name roles on a protected path, or the product's and deployer's roles by name; only role
    admins (and, for the product's roles, the deployer) may make or change those roles; the member StackSets' two
    roles only role admins and the StackSets execution role. Only the product's roles speak as the product: an
    `mlgov.*` event starts a challenger. The product's rules (the governance stack's, and the
    forwarding rule in member accounts), keys and findings channel change only in a deploy.

    Every statement here names only the product's own resources (by path, name, stack prefix or tag), so it may
    attach to the guarded OUs as well as where the product runs."""
    g = settings.guardrails
    deploy_roles = _deploy_roles_where_the_product_runs(settings)
    deployers = _deployers_where_the_product_runs(settings)
    product = g.deployer_role_arns + g.product_role_arns + g.break_glass_role_arns
    # The product's roles pass each other (the retraining role passes the training role); their own policies
    # grant no other IAM change, so one statement (one exception list) keeps the policies under the size limits.
    # CDK's deploy role passes the execution role to CloudFormation. Every bootstrap role (the deploy role and
    # the StackSets execution role are exempt elsewhere, the publishing roles write the deploy's assets) is
    # protected by name too. No StackSet is exempt here: any service-managed StackSet (a delegated
    # administrator's too) acts as stacksets-exec-*, and would make approver or pipeline roles everywhere.
    if MEMBER_ROLE_PATH.startswith(g.protected_role_path):
        raise GuardrailSettingsError(
            f"mlgov.guardrails.protected_role_path {g.protected_role_path} covers the member roles' path "
            f"{MEMBER_ROLE_PATH}: the member StackSet could not create the forwarding role. Choose another path."
        )
    statement = {
        "Sid": "DenyProtectedRoleChanges",
        "Effect": "Deny",
        "Action": IAM_ROLE_CHANGES,
        "Resource": _distinct(
            [
                f"arn:*:iam::*:role{g.protected_role_path}*",
                *_by_name(settings, g.product_role_arns),
                # The deployer's and CDK's roles matter where the product runs; a team in a guarded account bootstraps
                # and deploys with roles of the same names, exempt from nothing there.
                *_where_the_product_runs(
                    settings,
                    _by_name(settings, g.deployer_role_arns + _bootstrap_roles(settings, "*")),
                    "the deployer's and CDK's roles, protected by name",
                ),
                STACKSET_EXECUTION_ROLES,
            ]
        ),
        "Condition": _principal_exceptions(
            [
                *g.role_admin_arns,
                *deployers,
                *deploy_roles,
                *g.product_role_arns,
                *g.break_glass_role_arns,
            ]
        ),
    }
    # The two roles the member StackSets make in every guarded account: the only ones the StackSets execution role
    # may make or change. By name on any path: role names are unique in an account whatever the path, so a role
    # made first under either name elsewhere would make the StackSet fail there. The member audit role is on the
    # root path by contract (the scan assumes it by name); narrowed, a violation reads as an error.
    member = {
        "Sid": "DenyMemberRoleChanges",
        "Effect": "Deny",
        "Action": IAM_ROLE_CHANGES,
        "Resource": [
            f"arn:*:iam::*:role/*{member_role_name(settings)}",
            f"arn:*:iam::*:role/*{FORWARDING_ROLE_PREFIX}-*",
        ],
        "Condition": _principal_exceptions(
            # Not the deployer: no product stack makes them, and in a guarded OU a team's own `cdk deploy` may run
            # as an execution role the deployer pattern matches.
            [*g.role_admin_arns, STACKSET_EXECUTION_ROLES, *g.break_glass_role_arns]
        ),
    }
    statements: list[dict[str, Any]] = [statement, member]
    # events:source is per entry (EventBridge authorizes each entry and fails only the forged ones with
    # NotAuthorizedForSourceException); ForAnyValue also holds if a request carries several sources.
    statements.append(
        {
            "Sid": "DenyProductEventsOutsideProduct",
            "Effect": "Deny",
            "Action": ["events:PutEvents"],
            "Resource": "*",
            "Condition": _merge(
                {"ForAnyValue:StringLike": {"events:source": [PRODUCT_EVENT_SOURCES]}},
                _principal_exceptions(g.product_role_arns + g.break_glass_role_arns),
            ),
        }
    )
    # A rule reaches its targets as EventBridge, so the function guards cannot see a rewritten pattern or target;
    # a disabled rule silences the real-time audit and the schedules. CloudFormation names the governance stack's
    # rules after it (default bus); the member StackSet deploys the forwarding rule as its execution role. That
    # exemption is for the forwarding rule only: DenyProductRuleChangesByStackSets (below) takes it back on the
    # governance stack's rules.
    statements.append(
        {
            "Sid": "DenyProductRuleChanges",
            "Effect": "Deny",
            "Action": RULE_CHANGES,
            "Resource": [
                f"arn:*:events:*:*:rule/{PRODUCT_STACK}-*",
                f"arn:*:events:*:*:rule/{FORWARDING_RULE}",
            ],
            "Condition": _principal_exceptions([*deployers, STACKSET_EXECUTION_ROLES, *g.break_glass_role_arns]),
        }
    )
    # The product's keys are found by their tag (mlgov:guarded=product-key, DenyProductKeyAdministration); nothing
    # else keeps that tag off other keys, and a key tagged so is administered by the deployer only: its owners
    # locked out. Only the deployer puts the tag key on (CreateKey with tags, TagResource). Before the
    # administration deny: a tag change on a product key is explained as this one.
    tag, value = PRODUCT_KEY_TAG
    statements.append(
        {
            "Sid": "DenyProductKeyTagOutsideDeploy",
            "Effect": "Deny",
            "Action": ["kms:CreateKey", "kms:TagResource"],
            "Resource": "*",
            "Condition": _merge(
                {"ForAnyValue:StringEqualsIgnoreCase": {"aws:TagKeys": [tag]}},
                _principal_exceptions(g.deployer_role_arns + g.break_glass_role_arns),
            ),
        }
    )
    # The root statement of a key policy (`kms:*` for the account) lets account admins rewrite the policy, grant
    # themselves use, disable or delete the key: findings, approvals and scan results would be unreadable or forged.
    statements.append(
        {
            "Sid": "DenyProductKeyAdministration",
            "Effect": "Deny",
            "Action": KEY_ADMINISTRATION,
            "Resource": "*",
            "Condition": _merge(
                {"StringEquals": {f"aws:ResourceTag/{tag}": value}},
                _principal_exceptions(g.deployer_role_arns + g.break_glass_role_arns),
            ),
        }
    )
    # Subscription ARNs are <topic ARN>:<id>, so the topic pattern covers them. Named after the product's stack:
    # nothing matches in a guarded account.
    statements.append(
        {
            "Sid": "DenyChannelDrainOutsideProduct",
            "Effect": "Deny",
            "Action": CHANNEL_DRAIN,
            "Resource": [f"arn:*:{service}:*:*:{PRODUCT_STACK}-*" for service in ("sqs", "sns")],
            "Condition": _principal_exceptions(product),
        }
    )
    # Reading and deleting messages also moves dead letters back (`mlgov notify redrive`, the redrive roles).
    statements.append(
        {
            "Sid": "DenyChannelReadOutsideProduct",
            "Effect": "Deny",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
            "Resource": f"arn:*:sqs:*:*:{PRODUCT_STACK}-*",
            "Condition": _principal_exceptions(product + settings.alert_routing.redrive_role_arns),
        }
    )
    return NamedPolicy(
        "mlgov-protected-roles",
        "ML governance: exempt roles are made or passed only by role admins; only product roles send mlgov events; "
        "the product's rules, keys and findings channel change only in a deploy",
        {"Version": "2012-10-17", "Statement": statements},
    )


def _with_qualifiers(functions: list[str]) -> list[str]:
    """An exact function ARN also as function:<name>:<version or alias> (provisioned concurrency, qualified
    invokes); a pattern ending in * already matches those."""
    return functions + [f"{arn}:*" for arn in functions if not arn.endswith("*")]


def deploying_roles(settings: Settings) -> list[str]:
    """Who may deploy the product: the deployer roles, the role admins who bootstrap and run `cdk deploy`, and
    break-glass. The product guard keeps its stack to them; the counts table's policy its controls."""
    g = settings.guardrails
    return g.deployer_role_arns + g.role_admin_arns + g.break_glass_role_arns


def _execution_arn(machine: str) -> str:
    """arn:...:stateMachine:<name> -> arn:...:execution:<name>:* (Stop/RedriveExecution name the execution)."""
    head, _, name = machine.partition(":stateMachine:")
    return f"{head}:execution:{name}:*"


def product_guard_policy(settings: Settings) -> NamedPolicy:
    """Where the product runs: its functions and state machines are invoked, started and changed only by the
    deployer, its own roles and (for starts and approvals) the operators' CLI roles; its stack and the CDK
    bootstrap roles are the deployers' (and role admins'); the bus policy and (as against a StackSet) the governance
    stack's rules the deployer's. Only statements that would reach a guarded account's own resources belong here
    (the rest ride on the other three SCPs), and the StackSets deny on the governance stack's rules, which exist
    only here."""
    g = settings.guardrails
    deployer = g.deployer_role_arns + g.break_glass_role_arns
    product = g.deployer_role_arns + g.product_role_arns + g.break_glass_role_arns
    who_deploys = deploying_roles(settings)
    functions = _with_qualifiers(g.product_function_arns)
    # Code that runs as a metric writer writes the counts the gate believes: changed only in a deploy, still invoked.
    changed_in_a_deploy = functions + _with_qualifiers(g.metric_writer_function_arns)
    executions = [_execution_arn(arn) for arn in g.product_state_machine_arns]
    statements = [
        # A function URL call needs lambda:InvokeFunction too (since October 2025); the approval service's
        # AWS_IAM URL authenticates and checks its callers itself, so only direct invocations are denied.
        {
            "Sid": "DenyProductFunctionInvoke",
            "Effect": "Deny",
            "Action": ["lambda:InvokeFunction", "lambda:InvokeAsync"],
            "Resource": functions,
            "Condition": _merge(
                {"BoolIfExists": {"lambda:InvokedViaFunctionUrl": "false"}}, _principal_exceptions(product)
            ),
        },
        {
            "Sid": "DenyProductFunctionChanges",
            "Effect": "Deny",
            "Action": FUNCTION_CHANGES,
            "Resource": changed_in_a_deploy,
            "Condition": _principal_exceptions(deployer),
        },
        # An event source mapping invokes a function as the function's own role, with records anyone who
        # writes the queue or stream chose.
        {
            "Sid": "DenyProductFunctionTriggers",
            "Effect": "Deny",
            "Action": FUNCTION_TRIGGERS,
            "Resource": "*",
            "Condition": _merge(
                {"ArnLike": {"lambda:FunctionArn": changed_in_a_deploy}}, _principal_exceptions(deployer)
            ),
        },
        {
            "Sid": "DenyProductStateMachineStart",
            "Effect": "Deny",
            # A stop ends a deletion approval or an experiment early; a redrive reruns a failed one's steps.
            "Action": ["states:St*Execution", "states:RedriveExecution"],
            "Resource": g.product_state_machine_arns + executions,
            "Condition": _principal_exceptions(product + g.operator_role_arns),
        },
        {
            "Sid": "DenyProductStateMachineChanges",
            "Effect": "Deny",
            "Action": MACHINE_CHANGES,
            "Resource": g.product_state_machine_arns,
            "Condition": _principal_exceptions(deployer),
        },
        # SendTask* takes no resource (the token names the task): in the product's account, only the product's
        # roles (the approval service) answer a waiting task; people approve through the service.
        {
            "Sid": "DenyTaskAnswersOutsideProduct",
            "Effect": "Deny",
            "Action": TASK_ANSWERS,
            "Resource": "*",
            "Condition": _principal_exceptions(g.product_role_arns + g.break_glass_role_arns),
        },
        # A stack keeps its service role for every later update, and the bootstrap roles trust the whole account:
        # either would make anyone the deployer. Every stack here, not only the product's: a team stack deployed
        # with the same bootstrap keeps the deployer as its service role too, and the guard cannot tell which do.
        # Role admins run `cdk bootstrap` and `cdk deploy`; CDK's deploy role drives the change sets. One statement
        # (sts:AssumeRole never names a stack, nor a stack write a role) keeps the product guard under the size limit.
        {
            "Sid": "DenyProductStackChanges",
            "Effect": "Deny",
            "Action": [*STACK_CHANGES, "sts:AssumeRole", *ASSET_ACCESS],
            "Resource": [
                "arn:*:cloudformation:*:*:stack/*",
                *_bootstrap_roles(settings, "*"),
                *_bootstrap_buckets(settings),
            ],
            "Condition": _principal_exceptions(who_deploys + _bootstrap_roles_where_the_product_runs(settings)),
        },
        # The governance bus's policy lets the organization's accounts forward their SageMaker events: removing its
        # statement blinds the real-time audit of every member account, widening it lets anyone put events there.
        # Only the deployer writes it (CfnEventBusPolicy in the governance stack). No StackSet: the member StackSets
        # make the forwarding rule and role in member accounts (nothing in the governance account, and no bus
        # policy), and any service-managed StackSet (a delegated administrator's too) acts as stacksets-exec-*.
        {
            "Sid": "DenyGovernanceBusPolicyChanges",
            "Effect": "Deny",
            "Action": BUS_POLICY_CHANGES + METRIC_FILTER_CHANGES,
            "Resource": "*",
            "Condition": _principal_exceptions(deployer),
        },
        # The retraining trains on, and the safety suite filters by, the catalog table it snapshots: whoever writes it
        # plants titles in the next model or unflags restricted ones. The table is imported by name (no deploy writes
        # it), so only its ingest roles and break-glass do. Here: the table lives where the product runs.
        {
            "Sid": "DenyCatalogWrites",
            "Effect": "Deny",
            "Action": CATALOG_WRITES,
            "Resource": f"arn:*:dynamodb:*:*:table/{settings.retraining.catalog_table_name}",
            "Condition": _principal_exceptions(g.catalog_writer_role_arns + g.break_glass_role_arns),
        },
    ]
    return NamedPolicy(
        "mlgov-product-guard",
        "ML governance: the product's functions, state machines, stacks and event bus policy are run and changed "
        "only by the product and its deployers",
        {"Version": "2012-10-17", "Statement": statements},
    )


def _arn_like(pattern: str, arn: str) -> bool:
    """ArnLike for one component (no colon inside): * any characters, ? one."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch("".join(parts), arn) is not None


def _refuse_stackset_deployers(settings: Settings) -> None:
    """A deployer (or product role) pattern that matches the StackSets execution roles makes every service-managed
    StackSet (a delegated administrator's too) the deployer: exempt from every deploy-only deny, and refused the
    governance stack's rules by DenyProductRuleChangesByStackSets all the same. Refused at synth rather than
    half-honoured. The other role lists sit on the protected path, where no StackSets execution role is."""
    g = settings.guardrails
    for key, arns in (
        ("deployer_role_arns", g.deployer_role_arns),
        ("product_role_arns", g.product_role_arns),
        ("catalog_writer_role_arns", g.catalog_writer_role_arns),
    ):
        for arn in arns:
            if _arn_like(arn.split(":", 5)[5], STACKSET_EXECUTION_ROLE_SAMPLE):
                raise GuardrailSettingsError(
                    f"mlgov.guardrails.{key} names {arn}, which matches the StackSets execution roles "
                    "(stacksets-exec-*): every service-managed StackSet, a delegated administrator's too, acts as "
                    "one and would act as the product. Name the roles the governance stack deploys with and runs "
                    "as (defaults: arn:aws:iam::<account>:role/cdk-hnb659fds-cfn-exec-role-*, "
                    "arn:aws:iam::<account>:role/MlGovEndpointAudit-*), not a pattern a StackSet matches."
                )


def attachments(settings: Settings) -> dict[str, list[str]]:
    """Policy name -> the targets it attaches to: the guarded OUs, and where the product runs."""
    g = settings.guardrails
    workloads = list(g.target_ou_ids)
    both = list(dict.fromkeys(workloads + list(g.governance_target_ids)))
    return {
        # The challenger's endpoint, watched groups and recommendation metrics live where the product runs too.
        "mlgov-endpoint-lineage": both,
        "mlgov-model-approval": both,
        "mlgov-protected-roles": both,
        "mlgov-product-guard": list(g.governance_target_ids),
    }


def guardrail_policies(settings: Settings) -> list[NamedPolicy]:
    """The SCPs, checked against Organizations' limits (a clear error names the policy or the target)."""
    _refuse_stackset_deployers(settings)
    policies = [
        endpoint_lineage_policy(settings),
        model_approval_policy(settings),
        protected_roles_policy(settings),
        product_guard_policy(settings),
    ]
    for policy in policies:
        if policy.size > SCP_MAX_CHARS:
            raise GuardrailLimitError(
                f"SCP {policy.name} is {policy.size} characters; Organizations allows {SCP_MAX_CHARS}. " + _WAY_OUT
            )
    existing = settings.guardrails.existing_scps_per_target
    where = attachments(settings)
    # Without targets (attached by hand) a policy still counts: a guarded OU carries all but the product guard,
    # where the product runs carries all four.
    per_target: dict[str, list[str]] = {
        "(each guarded OU)": [p.name for p in policies if p.name != "mlgov-product-guard"],
        "(where the product runs)": [p.name for p in policies],
    }
    if settings.guardrails.target_ou_ids:
        del per_target["(each guarded OU)"]
    if settings.guardrails.governance_target_ids:
        del per_target["(where the product runs)"]
    for name, targets in where.items():
        for target in targets:
            per_target.setdefault(target, []).append(name)
    for target, names in per_target.items():
        attached = len(set(names)) + existing
        if attached > SCPS_PER_TARGET:
            raise GuardrailLimitError(
                f"SCP {names[-1]} would be SCP number {attached} on {target}; Organizations allows "
                f"{SCPS_PER_TARGET} per target (mlgov.guardrails.existing_scps_per_target={existing}, "
                f"{len(set(names))} from mlgov). Attach your other SCPs to a parent OU or the root (they apply "
                "below without counting here) and lower existing_scps_per_target; FullAWSAccess counts as one."
            )
    return policies


def _iam_size(document: dict[str, Any]) -> int:
    # IAM counts a managed policy's characters without whitespace.
    return len("".join(minified(document).split()))


# What a permissions boundary must carry so a role that creates roles cannot escape: who makes or changes the exempt
# roles, who approves, and who makes what an endpoint serves (endpoint configs, models, inference components); and,
# compact and for the boundary only (BOUNDARY_ONLY_SID), the endpoints' governance tags. A boundary is one managed
# policy of 6,144 characters, so the rest are separate managed policies for the same human roles (ACCOUNT_POLICIES).
# Left out: the package tag on CreateEndpoint, a claim the audit checks anyway (a bounded role can only point a new
# endpoint at a config the pipeline made), and the product's machinery, which lives where the product runs.
BOUNDARY_SIDS = (
    "DenyProtectedRoleChanges",
    "DenyApprovalOutsideApprovers",
    "DenyPackageChangeOutsideApprovers",
    "DenyLineageChangeOutsidePipeline",
    "DenyServingChangeOutsidePipeline",
)
BOUNDARY_ONLY_SID = "DenyGovernanceTagChange"
# Single-account managed policy -> the statements it carries (base Sid, without Named/OutsideExperiments), each
# policy under IAM's 6,144 characters in the heavy configuration the tests check. A statement not listed lands in
# mlgov-guardrails-evidence (and the size check names the policy if that overflows).
ACCOUNT_POLICIES: dict[str, tuple[str, ...]] = {
    "mlgov-guardrails": BOUNDARY_SIDS,
    "mlgov-guardrails-evidence": (
        "DenyEndpointWithoutPackageTag",
        "DenyGovernanceTagChange",
        "DenyRegistryWriteOutsidePipeline",
        "DenyRecommendationMetricsOutsideWriters",
        "DenyProductEventsOutsideProduct",
    ),
    "mlgov-guardrails-product": (
        "DenyProductFunctionInvoke",
        "DenyProductFunctionChanges",
        "DenyProductFunctionTriggers",
        "DenyProductStateMachineStart",
        "DenyProductStateMachineChanges",
        "DenyTaskAnswersOutsideProduct",
        "DenyProductStackChanges",
        "DenyGovernanceBusPolicyChanges",
        "DenyProductAlarmAndLogChanges",
        "DenyCatalogWrites",
    ),
    "mlgov-guardrails-machinery": (
        "DenyMemberRoleChanges",
        "DenyProductRuleChanges",
        "DenyProductRuleChangesByStackSets",
        "DenyProductKeyAdministration",
        "DenyProductKeyTagOutsideDeploy",
        "DenyChannelDrainOutsideProduct",
        "DenyChannelReadOutsideProduct",
        "DenyServingImageTagMutabilityChange",
    ),
}
_WAY_OUT = (
    "Shorten the role patterns or exemption lists in mlgov.guardrails/experiment_exemptions (a pattern such as "
    "arn:aws:iam::*:role/mlgov-protected/MlGovDeploymentPipeline* covers several roles), or list fewer experiment "
    "accounts (an experiment OU covers them all)."
)


def base_sid(sid: str) -> str:
    """DenyXNamed / DenyXOutsideExperiments -> DenyX (an endpoint deny split for experiment exemptions)."""
    return re.sub(r"(Named|OutsideExperiments)$", "", sid)


def account_policies(settings: Settings) -> dict[str, dict[str, Any]]:
    """Without Organizations: the SCPs' denies as IAM managed policies for human roles, each under IAM's limit."""
    where = {sid: name for name, sids in ACCOUNT_POLICIES.items() for sid in sids}
    documents: dict[str, list[dict[str, Any]]] = {name: [] for name in ACCOUNT_POLICIES}
    for policy in guardrail_policies(settings):
        for statement in policy.document["Statement"]:
            documents[where.get(base_sid(statement["Sid"]), "mlgov-guardrails-evidence")].append(statement)
    out = {name: {"Version": "2012-10-17", "Statement": statements} for name, statements in documents.items()}
    for name, document in out.items():
        if _iam_size(document) > IAM_POLICY_MAX_CHARS:
            raise GuardrailLimitError(
                f"managed policy {name} is {_iam_size(document)} characters; IAM allows {IAM_POLICY_MAX_CHARS}. "
                + _WAY_OUT
            )
    return out


def permissions_boundary(settings: Settings) -> dict[str, Any]:
    """For a single account: allow everything else, deny what mlgov-guardrails denies (see BOUNDARY_SIDS) and the
    governance tag changes."""
    statements: list[dict[str, Any]] = [
        {"Sid": "AllowWithinBoundary", "Effect": "Allow", "Action": "*", "Resource": "*"}
    ]
    statements.extend(account_policies(settings)["mlgov-guardrails"]["Statement"])
    # Boundary only, and one statement even with experiment exemptions (two do not fit): a bounded role changes no
    # governance tag on any endpoint, experiment ones included.
    statements.append(
        {
            "Sid": BOUNDARY_ONLY_SID,
            "Effect": "Deny",
            "Action": GOVERNANCE_TAG_ACTIONS,
            "Resource": f"{SM}:endpoint/*",
            "Condition": _governance_tag_condition(settings),
        }
    )
    document = {"Version": "2012-10-17", "Statement": statements}
    if _iam_size(document) > IAM_POLICY_MAX_CHARS:
        raise GuardrailLimitError(
            f"permissions boundary mlgov-guardrails-boundary is {_iam_size(document)} characters; IAM allows "
            f"{IAM_POLICY_MAX_CHARS}. " + _WAY_OUT
        )
    return document
