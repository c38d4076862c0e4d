"""The read-only role in every member account that the org-wide scan (and the audit and the capacity check,
for events from member accounts) assume, and the service-managed StackSet that puts it in every account of the target
OUs, new accounts included.

Exactly the actions the registered per-endpoint checks declare (mlgov.member_actions);
trusted only by the scan worker's, the audit's and the capacity check's roles of the governance account (exact
ARNs on the protected path), inside the organization.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import aws_cdk as cdk
from aws_cdk import Aws, CfnOutput, CfnParameter, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from cdk_nag import NagSuppressions
from constructs import Construct

from mlgov.guardrails import FORWARDING_ROLE_PREFIX, MEMBER_ROLE_PATH
from mlgov.member_actions import member_actions
from mlgov.settings import Settings, SettingsError, member_role_name
from mlgov_runtime.org_scan import forwarding
from stacks import constants as c


def member_read_statements(actions: Iterable[str], account: str, partition: str) -> list[iam.PolicyStatement]:
    """The checks' reads, each scoped as far as IAM allows: SageMaker resources of this account, model
    packages of any account (a central registry shares them), and list calls that take no resource."""
    actions = sorted(set(actions))
    packages = [a for a in actions if a == "sagemaker:DescribeModelPackage"]
    rules = [a for a in actions if a.startswith("events:")]
    unscoped = [
        a
        for a in actions
        if a not in rules
        and (not a.startswith("sagemaker:") or (a.startswith("sagemaker:List") and a != "sagemaker:ListTags"))
    ]
    scoped = [a for a in actions if a not in packages and a not in unscoped and a not in rules]
    statements = []
    if scoped:
        statements.append(
            iam.PolicyStatement(
                sid="ReadSageMaker", actions=scoped, resources=[f"arn:{partition}:sagemaker:*:{account}:*"]
            )
        )
    if packages:
        statements.append(
            iam.PolicyStatement(
                sid="ReadModelPackages", actions=packages, resources=[f"arn:{partition}:sagemaker:*:*:model-package/*"]
            )
        )
    if rules:
        statements.append(
            iam.PolicyStatement(
                sid="ReadEventForwarding",
                actions=rules,
                resources=[f"arn:{partition}:events:*:{account}:rule/{forwarding.RULE_NAME}"],
            )
        )
    if unscoped:
        # These take no resource-level permissions.
        statements.append(iam.PolicyStatement(sid="ListWithoutResource", actions=unscoped, resources=["*"]))
    return statements


def trusted_role_arns(governance_account: str, governance_region: str, partition: str, path: str) -> list[str]:
    """Exactly the scan worker's, the audit's and the capacity check's roles: on the protected path (only role
    admins create roles there), so no one else in the governance account can make a role that matches."""
    return [
        f"arn:{partition}:iam::{governance_account}:role{path}{prefix}-{governance_region}"
        for prefix in (c.ORG_SCAN_WORKER_ROLE_PREFIX, c.AUDIT_ROLE_PREFIX, c.CAPACITY_ROLE_PREFIX)
    ]


ACCOUNT_ID = r"^\d{12}$"
ORGANIZATION_ID = r"^o-[a-z0-9]{10,32}$"
REGION = r"^[a-z]{2}(-[a-z]+)+-\d$"


def string_parameter(
    stack: Stack, parameter_id: str, pattern: str, description: str, default: str | None
) -> CfnParameter:
    """A deploy-time parameter; without a default (None) it is asked for at deploy."""
    return CfnParameter(
        stack, parameter_id, type="String", allowed_pattern=pattern, description=description, default=default
    )


class MemberAccountStack(Stack):
    """Self-contained (no assets, no bootstrap): what a StackSet deploys into member accounts, each naming
    the governance account it serves."""

    GOVERNANCE_ACCOUNT = "The governance account"  # the parameter's description: what that account does here

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, synthesizer=cdk.BootstraplessSynthesizer(), **kwargs)
        self.governance = string_parameter(
            self, "GovernanceAccountId", ACCOUNT_ID, self.GOVERNANCE_ACCOUNT, settings.org_scan.governance_account_id
        )

    def governance_region(self, description: str, settings: Settings) -> CfnParameter:
        return string_parameter(self, "GovernanceRegion", REGION, description, settings.org_scan.governance_region)


class MemberRoleStack(MemberAccountStack):
    """The read-only role the scan and the audit assume."""

    GOVERNANCE_ACCOUNT = "The account running the org-wide scan and the audit (its roles are trusted)"

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, settings=settings, **kwargs)
        organization = string_parameter(
            self,
            "OrganizationId",
            ORGANIZATION_ID,
            "Only principals of this organization may assume the role",
            settings.organization_id,
        )
        region = self.governance_region(
            "The region the governance stack runs in (its scan and audit roles carry its name)", settings
        )
        partition = Aws.PARTITION
        trusted = trusted_role_arns(
            self.governance.value_as_string, region.value_as_string, partition, settings.guardrails.protected_role_path
        )
        self.role = iam.Role(
            self,
            "MemberAuditRole",
            role_name=member_role_name(settings),
            description="mlgov: read-only SageMaker lineage for the org-wide scan and the endpoint audit",
            max_session_duration=Duration.hours(1),
            assumed_by=iam.AccountPrincipal(self.governance.value_as_string).with_conditions(
                {
                    "ArnEquals": {"aws:PrincipalArn": trusted},
                    "StringEquals": {"aws:PrincipalOrgID": organization.value_as_string},
                }
            ),
        )
        self.policy = iam.Policy(
            self, "MemberReadPolicy", statements=member_read_statements(member_actions(), Aws.ACCOUNT_ID, partition)
        )
        self.policy.attach_to_role(self.role)
        NagSuppressions.add_resource_suppressions(
            self.policy,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "Read-only, exactly the registered checks' actions: every SageMaker resource of this "
                    "account and model packages of any account (a central registry) are what the scan reads; "
                    "ListEndpoints and ListInferenceComponents accept no resource scope.",
                }
            ],
        )
        CfnOutput(self, "MemberRoleArn", value=self.role.role_arn)


class MemberRoleStackSetStack(Stack):
    """For the management account (or a StackSets delegated administrator): a service-managed StackSet
    with auto-deployment, so every account in the target OUs, new ones included, gets the member role."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        o = settings.org_scan
        if not (o.governance_account_id and settings.organization_id):
            raise SettingsError(
                "cdk.json context 'mlgov.org_scan.member_role_target_ou_ids': needs "
                "'mlgov.org_scan.governance_account_id' and 'mlgov.organization_id' (the member role trusts that "
                "account, inside that organization)"
            )
        governance = {"GovernanceAccountId": o.governance_account_id}
        # Where the product runs only who deploys writes stacks (DenyProductStackChanges): a StackSet instance there
        # fails. The scan reads the governance account with its own role; any other account there it could not read.
        others = [t for t in settings.guardrails.governance_target_ids if t != o.governance_account_id]
        if others:
            raise SettingsError(
                f"mlgov.guardrails.governance_target_ids names {', '.join(others)} besides "
                f"mlgov.org_scan.governance_account_id {o.governance_account_id}: the product guard refuses the member "
                "StackSets' stacks there, so neither the member role nor the forwarding rule could be deployed and "
                "the weekly scan and the real-time audit could not read it. List only the governance account in "
                "governance_target_ids (the product runs in one account)."
            )
        region = {"GovernanceRegion": o.governance_region or Aws.REGION}
        self._stack_set(
            "MemberRoleStackSet",
            "mlgov-member-role",
            "mlgov: read-only member role for the org-wide scan and the endpoint audit",
            "CAPABILITY_NAMED_IAM",
            member_template(settings),
            {**governance, "OrganizationId": settings.organization_id, **region},
            o.member_role_target_ou_ids,
            [Aws.REGION],  # IAM is global: one region per account is enough.
            o.governance_account_id,
        )
        # Rules are regional: one in every region the scan covers, so endpoints there are audited at once.
        self._stack_set(
            "EventForwardingStackSet",
            "mlgov-member-event-forwarding",
            "mlgov: forward SageMaker events from every member account and region to the governance bus",
            "CAPABILITY_NAMED_IAM",  # the forwarding role has a name (one per region)
            forwarding_template(settings),
            {**governance, **region},
            o.member_role_target_ou_ids,
            list(o.regions) or [Aws.REGION],
            o.governance_account_id,
        )

    def _stack_set(
        self,
        construct_id: str,
        name: str,
        description: str,
        capability: str,
        template: dict[str, Any],
        parameters: dict[str, Any],
        ou_ids: list[str],
        regions: list[str],
        governance_account: str,
    ) -> cdk.CfnStackSet:
        """A service-managed StackSet with auto-deployment to every account of the target OUs but the governance
        account."""
        return cdk.CfnStackSet(
            self,
            construct_id,
            stack_set_name=name,
            description=description,
            permission_model="SERVICE_MANAGED",
            auto_deployment=cdk.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            capabilities=[capability],
            managed_execution={"Active": True},
            call_as="SELF",
            template_body=json.dumps(template),
            parameters=[
                cdk.CfnStackSet.ParameterProperty(parameter_key=key, parameter_value=value)
                for key, value in parameters.items()
            ],
            operation_preferences=cdk.CfnStackSet.OperationPreferencesProperty(
                failure_tolerance_percentage=10, max_concurrent_percentage=25, region_concurrency_type="PARALLEL"
            ),
            stack_instances_group=[
                cdk.CfnStackSet.StackInstancesProperty(
                    deployment_targets=cdk.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=ou_ids, accounts=[governance_account], account_filter_type="DIFFERENCE"
                    ),
                    regions=regions,
                )
            ],
        )


class MemberForwardingStack(MemberAccountStack):
    """One per member account and region: SageMaker (and Application Auto Scaling) events to the governance
    account's default bus, so an endpoint created there is audited within a minute."""

    GOVERNANCE_ACCOUNT = "The account whose default bus receives the events"

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, settings=settings, **kwargs)
        region = self.governance_region("The region of the governance account's bus", settings)
        bus = f"arn:{Aws.PARTITION}:events:{region.value_as_string}:{self.governance.value_as_string}:event-bus/default"
        # An organization-wide bus policy needs a role on a cross-account target (EventBridge PutTargets). Named,
        # so only role admins and the StackSets execution role make, change, pass or delete it
        # (DenyMemberRoleChanges); off the protected path, where no StackSet may make roles; one per region, since
        # the StackSet puts one stack in each.
        role = iam.Role(
            self,
            "ForwardingRole",
            role_name=f"{FORWARDING_ROLE_PREFIX}-{Aws.REGION}",
            path=MEMBER_ROLE_PATH,
            description="mlgov: EventBridge puts this account's SageMaker events on the governance bus",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
        )
        role.attach_inline_policy(
            iam.Policy(
                self,
                "PutOnGovernanceBus",
                statements=[iam.PolicyStatement(actions=["events:PutEvents"], resources=[bus])],
            )
        )
        # Not in the governance account itself: its own rules hear its events, and a rule may not target its bus.
        member = cdk.CfnCondition(
            self,
            "IsMemberAccount",
            expression=cdk.Fn.condition_not(cdk.Fn.condition_equals(Aws.ACCOUNT_ID, self.governance.value_as_string)),
        )
        events.CfnRule(
            self,
            "ForwardSageMakerEvents",
            name=forwarding.RULE_NAME,
            description="mlgov: SageMaker events to the governance account (real-time endpoint audit)",
            state="ENABLED",
            event_pattern={"source": list(forwarding.SOURCES), "detail-type": list(forwarding.DETAIL_TYPES)},
            targets=[events.CfnRule.TargetProperty(id="GovernanceBus", arn=bus, role_arn=role.role_arn)],
        )
        for construct in self.node.find_all():
            if isinstance(construct, cdk.CfnResource) and construct is not member:
                construct.cfn_options.condition = member


def member_template(settings: Settings) -> dict[str, Any]:
    """The member role stack's template, synthesized on its own (a StackSet carries it inline)."""
    return _template_alone(MemberRoleStack, c.MEMBER_ROLE_STACK_NAME, settings)


def forwarding_template(settings: Settings) -> dict[str, Any]:
    """The event forwarding stack's template, synthesized on its own (a StackSet carries it inline)."""
    return _template_alone(MemberForwardingStack, c.MEMBER_FORWARDING_STACK_NAME, settings)


def _template_alone(stack_class: Callable[..., Stack], stack_name: str, settings: Settings) -> dict[str, Any]:
    app = cdk.App()
    stack_class(app, stack_name, settings=settings)
    template: dict[str, Any] = app.synth().get_stack_by_name(stack_name).template
    return template
