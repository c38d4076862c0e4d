"""Ninth review (issue 20): the operator paths replayed under the SCPs the day's guardrail changes made stricter
(DenyProductStackChanges on every stack and s3:* on CDK's assets bucket; the deployer's and deploy role's exemptions
in DenyProtectedRoleChanges and DenyProductRuleChanges pinned to governance_target_ids' accounts; logs:PutMetricFilter
the deployer's where the product runs). Default settings plus target_ou_ids and governance_target_ids [GOV], each call
judged by the independent evaluator on the SCPs `attachments()` puts on its account's target:
1. `cdk bootstrap` by a role admin in the governance account (CDKToolkit has no service role: its resources are
   made as the caller);
2. `cdk deploy MlGovEndpointAudit` by a role admin: the bootstrap roles it becomes, and the execution role making
   every resource the synthesized governance template has (walked from the template, so a new resource type fails
   the coverage test until its calls are replayed here);
3. the member StackSets in a workload account (`cdk deploy MlGovGuardrails` runs in the management account, where
   SCPs never apply: no attachment names it);
4. a team in a guarded workload account: its own `cdk bootstrap` and `cdk deploy` with the default qualifier.
What is allowed is pinned plainly; an operator call that is refused is a regression, pinned as a strict xfail
asserting Allow, its reason naming the statement and the one-line fix."""

from __future__ import annotations

from typing import Any

import pytest

from mlgov.guardrails import attachments, guardrail_policies
from mlgov.policy_eval import evaluate
from mlgov.settings import parse_settings
from tests.attacker.conftest import GOV

PROD, REGION = "210987654321", "us-east-1"
WORKLOAD_OU = "ou-ab12-prodwork"
SETTINGS = parse_settings({"guardrails": {"target_ou_ids": [WORKLOAD_OU], "governance_target_ids": [GOV]}})
SCPS = {p.name: p.document for p in guardrail_policies(SETTINGS)}
TARGET = {GOV: GOV, PROD: WORKLOAD_OU}
STACK_SUFFIX = "5e7c9a10-0000-0000-0000-000000000000"


def _role(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def _cdk(purpose: str, account: str) -> str:
    """A default-qualifier bootstrap role (`cdk-hnb659fds-<purpose>-role-<account>-<region>`)."""
    return _role(account, f"cdk-hnb659fds-{purpose}-role-{account}-{REGION}")


def _stack(account: str, name: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{account}:stack/{name}/{STACK_SUFFIX}"


def _assets(account: str, key: str = "") -> str:
    bucket = f"arn:aws:s3:::cdk-hnb659fds-assets-{account}-{REGION}"
    return f"{bucket}/{key}" if key else bucket


def _decide(principal: str, action: str, resource: str, keys: dict[str, Any] | None = None) -> tuple[str, str | None]:
    account = principal.split(":")[4]
    on = {name: SCPS[name] for name, targets in attachments(SETTINGS).items() if TARGET[account] in targets}
    context = {
        "aws:PrincipalArn": principal,
        "aws:PrincipalAccount": account,
        "aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/r-ab12/"],
        **(keys or {}),
    }
    result = evaluate(on, action, resource, context)
    return result.decision, result.statement


def _allowed(principal: str, action: str, resource: str, keys: dict[str, Any] | None = None) -> None:
    decision, statement = _decide(principal, action, resource, keys)
    assert decision == "Allow", f"{principal} {action} {resource}: denied by {statement}"


ROLE_ADMIN = _role(GOV, "mlgov-protected/MlGovRoleAdmin")
BOOTSTRAP_PURPOSES = ["cfn-exec", "deploy", "file-publishing", "image-publishing", "lookup"]

# 1. `cdk bootstrap` by a role admin in the governance account: CDKToolkit is created with the caller's credentials.
BOOTSTRAP_CALLS = [
    *[
        (action, _stack(GOV, "CDKToolkit"))
        for action in [
            "cloudformation:DescribeStacks",
            "cloudformation:CreateChangeSet",
            "cloudformation:DescribeChangeSet",
            "cloudformation:ExecuteChangeSet",
            "cloudformation:DescribeStackEvents",
        ]
    ],
    *[
        (action, _assets(GOV))
        for action in [
            "s3:CreateBucket",
            "s3:PutBucketPolicy",
            "s3:PutEncryptionConfiguration",
            "s3:PutLifecycleConfiguration",
            "s3:PutBucketVersioning",
            "s3:PutBucketPublicAccessBlock",
        ]
    ],
    *[
        (action, f"arn:aws:ecr:{REGION}:{GOV}:repository/cdk-hnb659fds-container-assets-{GOV}-{REGION}")
        for action in ["ecr:CreateRepository", "ecr:PutLifecyclePolicy", "ecr:SetRepositoryPolicy"]
    ],
    *[
        (action, _cdk(purpose, GOV))
        for purpose in BOOTSTRAP_PURPOSES
        for action in ["iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:TagRole"]
    ],
    ("ssm:PutParameter", f"arn:aws:ssm:{REGION}:{GOV}:parameter/cdk-bootstrap/hnb659fds/version"),
]


@pytest.mark.parametrize(("action", "resource"), BOOTSTRAP_CALLS)
def test_a_role_admin_bootstraps_the_governance_account(action: str, resource: str) -> None:
    _allowed(ROLE_ADMIN, action, resource)


# 2. `cdk deploy MlGovEndpointAudit` by a role admin: the CLI becomes the bootstrap roles; the deploy role drives the
# change set (CloudFormation reads the template object with its credentials) and passes the execution role.
NEXT_RELEASE = "0f33c6f544a71e0d57a66b7cbb1a58de50420ebe86d0e977c15f957500000000.zip"
AUDIT = _stack(GOV, "MlGovEndpointAudit")
DEPLOY_CALLS = [
    *[
        (ROLE_ADMIN, "sts:AssumeRole", _cdk(p, GOV))
        for p in ["deploy", "file-publishing", "image-publishing", "lookup"]
    ],
    *[
        (_cdk("file-publishing", GOV), action, resource)
        for action, resource in [
            ("s3:GetObject", _assets(GOV, NEXT_RELEASE)),  # HeadObject: is the asset there already?
            ("s3:PutObject", _assets(GOV, NEXT_RELEASE)),
            ("s3:GetBucketLocation", _assets(GOV)),
            ("s3:ListBucket", _assets(GOV)),
            ("s3:GetEncryptionConfiguration", _assets(GOV)),
        ]
    ],
    *[
        (_cdk("deploy", GOV), action, AUDIT)
        for action in [
            "cloudformation:DescribeStacks",
            "cloudformation:GetTemplate",
            "cloudformation:CreateChangeSet",
            "cloudformation:DescribeChangeSet",
            "cloudformation:ExecuteChangeSet",
            "cloudformation:DescribeStackEvents",
            "cloudformation:DeleteChangeSet",
            "cloudformation:CreateStack",  # --method=direct
            "cloudformation:UpdateStack",
            "cloudformation:UpdateTerminationProtection",
            "cloudformation:RollbackStack",  # a failed deploy: `cdk rollback`, --no-rollback
            "cloudformation:ContinueUpdateRollback",
            "cloudformation:CancelUpdateStack",
        ]
    ],
    (_cdk("deploy", GOV), "iam:PassRole", _cdk("cfn-exec", GOV)),
    (_cdk("deploy", GOV), "s3:GetObject", _assets(GOV, "a1b2c3d4.json")),  # the template, read by CloudFormation
    (_cdk("deploy", GOV), "ssm:GetParameter", f"arn:aws:ssm:{REGION}:{GOV}:parameter/cdk-bootstrap/hnb659fds/version"),
    (_cdk("lookup", GOV), "ssm:GetParameter", f"arn:aws:ssm:{REGION}:{GOV}:parameter/aws/service/powertools/x"),
]


@pytest.mark.parametrize(("principal", "action", "resource"), DEPLOY_CALLS)
def test_a_role_admins_cdk_deploy_reaches_cloudformation(principal: str, action: str, resource: str) -> None:
    _allowed(principal, action, resource)


# The execution role (the deployer) making each resource of the governance template. Names as CloudFormation
# generates them (`<stack>-<logical id>-<suffix>`) unless the template names the resource.
DEPLOYER = _cdk("cfn-exec", GOV)
KEY_TAG = {"aws:TagKeys": ["mlgov:guarded"], "aws:RequestTag/mlgov:guarded": "product-key"}
ON_PRODUCT_KEY = {"aws:ResourceTag/mlgov:guarded": "product-key"}
PRODUCT_KEY = f"arn:aws:kms:{REGION}:{GOV}:key/0a1b2c3d-0000-0000-0000-000000000000"
Call = tuple[str, str, dict[str, Any]]


def _resolve(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return {"AWS::Region": REGION, "AWS::AccountId": GOV, "AWS::Partition": "aws"}.get(value["Ref"], "x")
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_resolve(part) for part in parts)
    return "x"


def _name(logical_id: str, props: dict[str, Any], key: str) -> str:
    return _resolve(props[key]) if key in props else f"MlGovEndpointAudit-{logical_id[:40]}-AbCdEf123456"


def _function(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{GOV}:function:{name}"


def _calls(kind: str, logical_id: str, props: dict[str, Any]) -> list[Call]:
    """The API calls CloudFormation makes as the deployer to create (and update) one resource."""
    arn = f"arn:aws:{{}}:{REGION}:{GOV}:"
    generated = f"MlGovEndpointAudit-{logical_id[:40]}-AbCdEf123456"
    some_function = _function("MlGovEndpointAudit-NotifierNotifyFunction5D601091-AbCdEf123456")
    if kind == "AWS::IAM::Role":
        role = f"arn:aws:iam::{GOV}:role{props.get('Path', '/')}{_name(logical_id, props, 'RoleName')}"
        changes = ["iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy"]
        return [(a, role, {}) for a in [*changes, "iam:PassRole"]]
    if kind == "AWS::IAM::Policy":
        return [("iam:PutRolePolicy", _role(GOV, generated), {})]
    if kind == "AWS::Lambda::Function":
        function = _function(_name(logical_id, props, "FunctionName"))
        code = props.get("Code", {}).get("S3Key", NEXT_RELEASE)
        return [
            ("lambda:CreateFunction", function, {}),
            ("lambda:UpdateFunctionCode", function, {}),
            ("lambda:UpdateFunctionConfiguration", function, {}),
            ("lambda:PutFunctionConcurrency", function, {}),
            ("s3:GetObject", _assets(GOV, code), {}),  # Lambda copies the code with the caller's credentials
        ]
    if kind == "AWS::Lambda::Permission":
        return [("lambda:AddPermission", some_function, {}), ("lambda:RemovePermission", some_function, {})]
    if kind == "AWS::Lambda::EventInvokeConfig":
        return [("lambda:PutFunctionEventInvokeConfig", some_function, {})]
    if kind == "AWS::Lambda::Url":
        return [("lambda:CreateFunctionUrlConfig", some_function, {"lambda:FunctionUrlAuthType": "AWS_IAM"})]
    if kind == "AWS::Lambda::EventSourceMapping":
        return [("lambda:CreateEventSourceMapping", "*", {"lambda:FunctionArn": some_function})]
    if kind == "AWS::StepFunctions::StateMachine":
        machine = arn.format("states") + f"stateMachine:{_name(logical_id, props, 'StateMachineName')}"
        return [(a, machine, {}) for a in ["states:CreateStateMachine", "states:UpdateStateMachine"]]
    if kind == "AWS::KMS::Key":
        return [
            ("kms:CreateKey", "*", KEY_TAG),
            ("kms:EnableKeyRotation", PRODUCT_KEY, ON_PRODUCT_KEY),
            ("kms:PutKeyPolicy", PRODUCT_KEY, ON_PRODUCT_KEY),
            ("kms:TagResource", PRODUCT_KEY, {**ON_PRODUCT_KEY, **KEY_TAG}),
        ]
    if kind == "AWS::DynamoDB::Table":
        table = arn.format("dynamodb") + f"table/{_name(logical_id, props, 'TableName')}"
        calls: list[Call] = [("dynamodb:CreateTable", table, {}), ("dynamodb:UpdateTimeToLive", table, {})]
        if "ResourcePolicy" in props:
            calls.append(("dynamodb:PutResourcePolicy", table, {}))
        if "SSESpecification" in props:  # DynamoDB makes a grant on the product key as the caller
            calls += [("kms:CreateGrant", PRODUCT_KEY, ON_PRODUCT_KEY), ("kms:DescribeKey", PRODUCT_KEY, {})]
        return calls
    if kind == "AWS::SQS::Queue":
        queue = arn.format("sqs") + _name(logical_id, props, "QueueName")
        return [("sqs:CreateQueue", queue, {}), ("sqs:SetQueueAttributes", queue, {})]
    if kind == "AWS::SQS::QueuePolicy":
        return [("sqs:SetQueueAttributes", arn.format("sqs") + generated, {})]
    if kind == "AWS::SNS::Topic":
        topic = arn.format("sns") + _name(logical_id, props, "TopicName")
        return [("sns:CreateTopic", topic, {}), ("sns:SetTopicAttributes", topic, {})]
    if kind == "AWS::SNS::TopicPolicy":
        return [("sns:SetTopicAttributes", arn.format("sns") + generated, {})]
    if kind == "AWS::SNS::Subscription":
        return [("sns:Subscribe", arn.format("sns") + generated, {})]
    if kind == "AWS::Events::Rule":
        bus = f"{_resolve(props['EventBusName'])}/" if "EventBusName" in props else ""
        rule = arn.format("events") + f"rule/{bus}{_name(logical_id, props, 'Name')}"
        return [(a, rule, {}) for a in ["events:PutRule", "events:PutTargets", "events:RemoveTargets"]]
    if kind == "AWS::Events::EventBus":
        return [("events:CreateEventBus", arn.format("events") + "event-bus/mlgov-governance", {})]
    if kind == "AWS::Events::EventBusPolicy":
        return [("events:PutPermission", "*", {}), ("events:RemovePermission", "*", {})]
    if kind == "AWS::CloudWatch::Alarm":
        return [("cloudwatch:PutMetricAlarm", arn.format("cloudwatch") + f"alarm:{generated}", {})]
    if kind == "AWS::CloudWatch::Dashboard":
        return [("cloudwatch:PutDashboard", f"arn:aws:cloudwatch::{GOV}:dashboard/{generated}", {})]
    if kind == "AWS::Logs::LogGroup":
        group = arn.format("logs") + f"log-group:{_name(logical_id, props, 'LogGroupName')}"
        return [(a, group, {}) for a in ["logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:TagResource"]]
    if kind == "AWS::Logs::MetricFilter":
        return [("logs:PutMetricFilter", arn.format("logs") + f"log-group:{generated}", {})]
    if kind == "AWS::S3::Bucket":
        bucket = f"arn:aws:s3:::mlgovendpointaudit-{logical_id.lower()[:30]}-abcdef123456"
        settings = ["CreateBucket", "PutEncryptionConfiguration", "PutBucketPublicAccessBlock", "PutBucketVersioning"]
        settings += ["PutLifecycleConfiguration", "PutBucketLogging", "PutBucketOwnershipControls"]
        return [(f"s3:{a}", bucket, {}) for a in settings]
    if kind == "AWS::S3::BucketPolicy":
        return [("s3:PutBucketPolicy", f"arn:aws:s3:::mlgovendpointaudit-{logical_id.lower()[:30]}", {})]
    if kind == "AWS::SecretsManager::Secret":
        return [("secretsmanager:CreateSecret", arn.format("secretsmanager") + f"secret:{generated}", {})]
    if kind == "AWS::SecretsManager::ResourcePolicy":
        return [("secretsmanager:PutResourcePolicy", arn.format("secretsmanager") + f"secret:{generated}", {})]
    if kind == "AWS::CE::AnomalyMonitor":
        return [("ce:CreateAnomalyMonitor", "*", {})]
    if kind == "AWS::CE::AnomalySubscription":
        return [("ce:CreateAnomalySubscription", "*", {})]
    raise KeyError(kind)


# Every type the governance template has (tests/attacker/conftest.py's synth), plus the governance bus, its policy
# and a metric filter, which other settings add.
RESOURCE_TYPES = [
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::Lambda::Function",
    "AWS::Lambda::Permission",
    "AWS::Lambda::Url",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Lambda::EventSourceMapping",
    "AWS::StepFunctions::StateMachine",
    "AWS::KMS::Key",
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::Topic",
    "AWS::SNS::TopicPolicy",
    "AWS::SNS::Subscription",
    "AWS::Events::Rule",
    "AWS::Events::EventBus",
    "AWS::Events::EventBusPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::Logs::LogGroup",
    "AWS::Logs::MetricFilter",
    "AWS::S3::Bucket",
    "AWS::S3::BucketPolicy",
    "AWS::SecretsManager::Secret",
    "AWS::SecretsManager::ResourcePolicy",
    "AWS::CE::AnomalyMonitor",
    "AWS::CE::AnomalySubscription",
]


def test_every_resource_type_of_the_governance_template_is_replayed(governance_template: dict[str, Any]) -> None:
    kinds = {r["Type"] for r in governance_template["Resources"].values() if r["Type"] != "AWS::CDK::Metadata"}
    assert kinds <= set(RESOURCE_TYPES), sorted(kinds - set(RESOURCE_TYPES))


@pytest.mark.parametrize("kind", RESOURCE_TYPES)
def test_the_deployer_makes_every_resource_of_the_governance_stack(
    kind: str, governance_template: dict[str, Any]
) -> None:
    resources = [(lid, r.get("Properties", {})) for lid, r in governance_template["Resources"].items()]
    found = [(lid, props) for lid, props in resources if governance_template["Resources"][lid]["Type"] == kind]
    denied = [
        (action, resource, _decide(DEPLOYER, action, resource, keys)[1])
        for lid, props in found or [(kind.split("::")[-1] + "0A1B2C3D", {})]
        for action, resource, keys in _calls(kind, lid, props)
        if _decide(DEPLOYER, action, resource, keys)[0] == "Deny"
    ]
    assert denied == []


def test_the_deployer_passes_the_product_roles_and_is_exempt_only_where_the_product_runs() -> None:
    """What pinning changed, from the deployer's side: the governance account's execution role still makes the product's
    protected roles and rules, while a workload account's execution role of the same name pattern does not."""
    protected = _role(GOV, "mlgov-protected/MlGovModelApproverChallenger")
    rule = f"arn:aws:events:{REGION}:{GOV}:rule/MlGovEndpointAudit-ChallengerPackageRegistered-AbCdEf"
    _allowed(DEPLOYER, "iam:PassRole", protected)
    _allowed(DEPLOYER, "events:PutRule", rule)
    workload_deployer = _cdk("cfn-exec", PROD)
    assert _decide(workload_deployer, "iam:CreateRole", _role(PROD, "mlgov-protected/MlGovModelApprover"))[0] == "Deny"


# 3. The member StackSets in a workload account act as the StackSets execution role (service-managed). The management
# account, where `cdk deploy MlGovGuardrails` and the StackSets' administration run, carries no SCP: Organizations
# never applies SCPs to the management account, and attachments() names only the guarded OUs and GOV.
STACKSETS = _role(PROD, "stacksets-exec-7f3e9a1b2c4d5e6f7a8b9c0d1e2f3a4b")
MEMBER_CALLS = [
    *[
        (action, _stack(PROD, "StackSet-mlgov-member-role-0a1b2c3d"))
        for action in ["cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DescribeStacks"]
    ],
    *[
        (action, _role(PROD, role))
        for role in ["MlGovMemberAudit", f"mlgov-member/mlgov-member-forwarding-{REGION}"]
        for action in ["iam:CreateRole", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:PassRole"]
    ],
    *[
        (action, f"arn:aws:events:{REGION}:{PROD}:rule/mlgov-forward-sagemaker-events")
        for action in ["events:PutRule", "events:PutTargets"]
    ],
]


@pytest.mark.parametrize(("action", "resource"), MEMBER_CALLS)
def test_the_member_stacksets_deploy_in_a_workload_account(action: str, resource: str) -> None:
    _allowed(STACKSETS, action, resource)


def test_no_scp_lands_on_the_management_account() -> None:
    targets = {target for targets in attachments(SETTINGS).values() for target in targets}
    assert targets == {WORKLOAD_OU, GOV}


# 4. A team in a guarded workload account: its own `cdk bootstrap` (as its administrator) and `cdk deploy` (its own
# bootstrap roles, default qualifier), a stack with roles at the root path, a metric filter, its own assets bucket.
TEAM_ADMIN = _role(PROD, "aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef")
TEAM_STACK = _stack(PROD, "TeamEtl")
TEAM_ALLOWED = [
    *[
        (TEAM_ADMIN, action, _stack(PROD, "CDKToolkit"))
        for action in ["cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"]
    ],
    *[
        (TEAM_ADMIN, f"s3:{action}", _assets(PROD))
        for action in ["CreateBucket", "PutBucketPolicy", "PutEncryptionConfiguration", "PutLifecycleConfiguration"]
    ],
    (TEAM_ADMIN, "ecr:CreateRepository", f"arn:aws:ecr:{REGION}:{PROD}:repository/cdk-hnb659fds-container-assets"),
    (TEAM_ADMIN, "ssm:PutParameter", f"arn:aws:ssm:{REGION}:{PROD}:parameter/cdk-bootstrap/hnb659fds/version"),
    *[(TEAM_ADMIN, "sts:AssumeRole", _cdk(p, PROD)) for p in ["deploy", "file-publishing", "lookup"]],
    (_cdk("file-publishing", PROD), "s3:PutObject", _assets(PROD, NEXT_RELEASE)),
    (_cdk("file-publishing", PROD), "s3:GetObject", _assets(PROD, NEXT_RELEASE)),
    *[
        (_cdk("deploy", PROD), action, TEAM_STACK)
        for action in ["cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"]
    ],
    *[
        (_cdk("cfn-exec", PROD), action, _role(PROD, "TeamEtl-HandlerServiceRole-AbCdEf123456"))
        for action in ["iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PassRole"]
    ],
    (_cdk("deploy", PROD), "s3:GetObject", _assets(PROD, "a1b2c3d4.json")),
    (_cdk("deploy", PROD), "cloudformation:UpdateStack", TEAM_STACK),
    (_cdk("cfn-exec", PROD), "logs:PutMetricFilter", f"arn:aws:logs:{REGION}:{PROD}:log-group:/team/etl"),
    (_cdk("cfn-exec", PROD), "lambda:CreateFunction", f"arn:aws:lambda:{REGION}:{PROD}:function:TeamEtl-Handler"),
    (_cdk("cfn-exec", PROD), "s3:GetObject", _assets(PROD, NEXT_RELEASE)),
    (_cdk("cfn-exec", PROD), "kms:CreateKey", "*"),
    (_cdk("cfn-exec", PROD), "events:PutRule", f"arn:aws:events:{REGION}:{PROD}:rule/TeamEtl-Nightly-AbCdEf"),
]


@pytest.mark.parametrize(("principal", "action", "resource"), TEAM_ALLOWED)
def test_a_team_bootstraps_and_deploys_its_own_stack_in_a_workload_account(
    principal: str, action: str, resource: str
) -> None:
    _allowed(principal, action, resource)


# REGRESSIONS. DenyProtectedRoleChanges (mlgov-protected-roles, attached to the guarded OUs too) names every default-
# qualifier bootstrap role in every account (`arn:*:iam::*:role/cdk-hnb659fds-*`, from _bootstrap_roles(settings, "*"))
# and the default deployer pattern (`cdk-hnb659fds-cfn-exec-role-*` in any account), while its exemptions for the
# deployer and CDK's deploy role are now pinned to GOV (seventh review). In a guarded workload account nobody but a
# role admin or break-glass may then make, change or pass a team's own `cdk bootstrap` roles:
# - a team's `cdk bootstrap` fails making its five roles (iam:CreateRole/PutRolePolicy/AttachRolePolicy, broken since
#   the bootstrap roles were protected by name, 1c26a4b);
# - a team's `cdk deploy` fails at its deploy role passing its execution role (iam:PassRole, broken today by pinning
#   the deploy role: before, `arn:*:iam::*:role/cdk-hnb659fds-deploy-role-*` was exempt in every account).
# docs/guardrails.md (deployer_role_arns) says the way out is writing the governance account's id into
# deployer_role_arns; with the defaults, every team in the guarded OUs loses the default CDK bootstrap.
# Fix (one line in protected_roles_policy): protect the bootstrap and deployer roles by name only where the product
# runs, like their exemptions: `*_by_name(settings, g.product_role_arns), *_where_the_product_runs(settings,
# _by_name(settings, g.deployer_role_arns + _bootstrap_roles(settings, "*")), "CDK's bootstrap roles")`. Trade-off
# to weigh with it: a workload account's own execution role is then unguarded, and in guarded OUs it is exempt only
# from statements naming the product's stack resources (none there) and the mlgov:guarded key tag.
# Note: tests/attacker/test_eighth_review_gaps.py::test_nobody_but_who_deploys_passes_the_deployer asserts the opposite
# for the deploy-role PassRole in a workload account; the fix must revisit that assertion.
PROTECTED_ROLES_REASON = (
    "regression: DenyProtectedRoleChanges protects every account's cdk-hnb659fds-* roles (and the default deployer "
    "pattern) while its deployer/deploy-role exemptions are pinned to GOV; fix: protect them by name only where the "
    "product runs (_where_the_product_runs on the by-name bootstrap and deployer resources)"
)
TEAM_REFUSED = [
    *[
        (TEAM_ADMIN, action, _cdk(purpose, PROD))
        for purpose in BOOTSTRAP_PURPOSES
        for action in ["iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy"]
    ],
    (_cdk("deploy", PROD), "iam:PassRole", _cdk("cfn-exec", PROD)),
]


@pytest.mark.parametrize(("principal", "action", "resource"), TEAM_REFUSED)
def test_a_teams_own_cdk_bootstrap_roles_stay_its_own_in_a_workload_account(
    principal: str, action: str, resource: str
) -> None:
    _allowed(principal, action, resource)
