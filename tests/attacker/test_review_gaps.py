"""An independent review of what the last stop sealed: who may take the seals off.

The deny-only resource policies on the findings and delivery-state tables, the approvals table, the MAC keys,
the scan's report bucket and the findings topic keep a developer (an admin-like role of the governance account,
not the deployer, not break-glass) from writing what the product believes. Each seal holds only while nobody
may replace, delete or go around the policy that carries it. Here a developer's call is judged by both layers AWS
applies: the guardrail SCPs attached to the governance account and the synthesized resource policy (each by the
independent evaluator). A deny in either is a refusal; anything else is allowed (the developer's IAM allows it).

Strict xfails assert the SAFE outcome (a fix turns them into XPASS: remove the marker); the other tests pin seals
that hold, and fail if they stop holding.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlgov.commands.notifier import sample_finding
from mlgov.guardrails import attachments, guardrail_policies
from mlgov.policy_eval import evaluate
from mlgov.settings import DEFAULT_MEMBER_ROLE_NAME, parse_settings
from mlgov.sinks import start_sink
from mlgov_runtime.adapters.http import HttpClient
from mlgov_runtime.adapters.notification_state import DynamoDeliveryState
from mlgov_runtime.adapters.notifiers import FOREIGN_ISSUE, JiraProject
from mlgov_runtime.core.findings import finding_id
from tests.attacker.conftest import GOV
from tests.attacker.resource_policies import (
    DEPLOYER,
    DEVELOPER,
    OPERATOR,
    bucket_policy,
    decide,
    role_arn,
    table_policy,
)
from tests.infrastructure.templates import ACCOUNT, concrete

PROD = "210987654321"
SETTINGS = parse_settings({"guardrails": {"target_ou_ids": ["ou-ab12-prodwork"], "governance_target_ids": [GOV]}})
SCPS = {p.name: p.document for p in guardrail_policies(SETTINGS)}
REGION = "us-east-1"


def _scps_on(target: str) -> dict[str, Any]:
    return {name: SCPS[name] for name, targets in attachments(SETTINGS).items() if target in targets}


def _scp(
    target: str, account: str, principal: str, action: str, resource: str, tags: dict[str, str] | None = None
) -> str:
    context: dict[str, Any] = {
        "aws:PrincipalArn": principal,
        "aws:PrincipalAccount": account,
        "aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/r-ab12/"],
        **{f"aws:ResourceTag/{k}": v for k, v in (tags or {}).items()},
    }
    return evaluate(_scps_on(target), action, resource, context).decision


def both(
    policy: dict[str, Any] | None, principal: str, action: str, resource: str, tags: dict[str, str] | None = None
) -> str:
    """The governance account's SCPs (with the resource's tags), then the resource's own policy (None: none)."""
    if _scp(GOV, ACCOUNT, principal, action, resource, tags) == "Deny":
        return "Deny"
    return decide(policy, principal, action, resource) if policy else "Allow"


# Physical names as CloudFormation makes them (stack name, logical id, suffix): what an SCP can name.
def _table(logical: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/MlGovEndpointAudit-{logical}-1A2B3C4D5E6F"


FINDINGS_TABLE = ("FindingsFindingsTable", _table("FindingsFindingsTable0D40E67E"))
DELIVERY_STATE = ("NotifierDeliveryState", _table("NotifierDeliveryState9112844C"))
APPROVALS_TABLE = ("ApprovalsApprovalsTable", _table("ApprovalsApprovalsTable96933211"))
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
REPORT_BUCKET = "mlgovendpointaudit-orgscanreportbucket0e39a1cc-1a2b3c4d5e6f"
SNAPSHOT_BUCKET = "mlgovendpointaudit-retrainingsnapshotbucket88b5d4c8-1a2b3c4d5e6f"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:MlGovEndpointAudit-FindingsFindingsTopic76FAC834-AbCdEf123456"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:MlGovEndpointAudit-NotifierNotifierQueue46E3B7B7-AbCdEf123456"


def _resource(template: dict[str, Any], prefix: str) -> dict[str, Any]:
    [found] = [v for k, v in template["Resources"].items() if k.startswith(prefix)]
    return dict(found)


def _key_policy(template: dict[str, Any], prefix: str) -> dict[str, Any]:
    return dict(concrete(_resource(template, prefix)["Properties"]["KeyPolicy"]))


def _key_tags(template: dict[str, Any], prefix: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in _resource(template, prefix)["Properties"].get("Tags", [])}


def _topic_policy(template: dict[str, Any]) -> dict[str, Any]:
    return dict(concrete(_resource(template, "FindingsFindingsTopicPolicy")["Properties"]["PolicyDocument"]))


def _queue_policy(template: dict[str, Any]) -> dict[str, Any]:
    return dict(concrete(_resource(template, "NotifierNotifierQueuePolicy")["Properties"]["PolicyDocument"]))


# 1. The tables' seals are their own resource policies. With the policy gone, a developer would write
#    `status: RESOLVED` on a real violation's finding (the notifier then closes its Jira issue on the next
#    resolution it is handed), a delivery record ("sent") that makes the notifier skip a page, a Jira issue record
#    pointing at another finding's issue (8.), or an approvals record. Each table's policy keeps its own
#    replacement and deletion to the deployer (ControlsOnlyByDeploy), whom `cdk deploy` updates it through.
#    DynamoDB still lets the account's root user replace or delete it (lockout recovery).
TABLES = [FINDINGS_TABLE, DELIVERY_STATE, APPROVALS_TABLE]


@pytest.mark.parametrize("table", TABLES, ids=[t[0] for t in TABLES])
@pytest.mark.parametrize("action", ["dynamodb:PutResourcePolicy", "dynamodb:DeleteResourcePolicy"])
def test_a_developer_cannot_take_a_tables_seal_off(
    governance_template: dict[str, Any], table: tuple[str, str], action: str
) -> None:
    prefix, arn = table
    policy = table_policy(governance_template, prefix)
    assert both(policy, DEVELOPER, action, arn) == "Deny"
    assert both(policy, role_arn(governance_template, "NotifierNotifyRole"), action, arn) == "Deny"
    assert both(policy, DEPLOYER, action, arn) == "Allow"


# 2. Around the seal without touching it: UpdateTable would turn deletion protection off (then DeleteTable takes
#    every finding, and the stored status a resolution is checked against, with it); UpdateTimeToLive on a
#    timestamp attribute would make DynamoDB delete items for the attacker; a deleted delivery state would take
#    its Jira issue keys with it (a second issue follows). The same statement keeps these to the deployer, and the
#    delivery state now has deletion protection and is retained on destroy like the findings table. A replica in
#    another region does not get around the write seal: it denies the replication role too.
AROUND = [
    ("dynamodb:UpdateTable", FINDINGS_TABLE),
    ("dynamodb:UpdateTimeToLive", FINDINGS_TABLE),
    ("dynamodb:UpdateTable", DELIVERY_STATE),
    ("dynamodb:DeleteTable", DELIVERY_STATE),
    ("dynamodb:UpdateTable", APPROVALS_TABLE),
]


@pytest.mark.parametrize(("action", "table"), AROUND, ids=[f"{a}-{t[0]}" for a, t in AROUND])
def test_a_developer_cannot_go_around_a_tables_seal(
    governance_template: dict[str, Any], action: str, table: tuple[str, str]
) -> None:
    prefix, arn = table
    policy = table_policy(governance_template, prefix)
    assert both(policy, DEVELOPER, action, arn) == "Deny"
    assert both(policy, DEPLOYER, action, arn) == "Allow"  # `cdk deploy` still changes the table


@pytest.mark.parametrize("table", TABLES, ids=[t[0] for t in TABLES])
def test_each_believed_table_is_kept_on_destroy(governance_template: dict[str, Any], table: tuple[str, str]) -> None:
    """`cdk destroy` leaves the tables (and their Jira issue keys, stored statuses, approvals) behind."""
    [resource] = [
        r
        for k, r in governance_template["Resources"].items()
        if r["Type"] == "AWS::DynamoDB::Table" and k.startswith(table[0])
    ]
    assert resource["DeletionPolicy"] == "Retain" and resource["Properties"]["DeletionProtectionEnabled"] is True


def test_the_table_seals_already_cover_every_item_write_path(governance_template: dict[str, Any]) -> None:
    """What holds: BatchWriteItem and PartiQL are in the deny lists; TransactWriteItems is authorized as the
    PutItem/UpdateItem/DeleteItem of each item (IAM has no action of its own for it), so the same deny applies."""
    writes = ["dynamodb:BatchWriteItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"]
    for prefix, arn in TABLES:
        policy = table_policy(governance_template, prefix)
        for action in [*writes, "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]:
            assert both(policy, DEVELOPER, action, arn) == "Deny", (prefix, action)


# 3. The MAC keys: their deny statements keep GenerateMac to the product's roles only while their key policy
#    stands. Both keys give the account kms:Put* (KMS's lockout rule); DenyProductKeyAdministration (by the keys'
#    mlgov:guarded tag) keeps rewriting them to the deployer. Without it a developer rewrites the result key's
#    policy, signs a forged `results/*.json` and the aggregate resolves real violations: issue 20's item 3 again.
MAC_KEYS = ["ApprovalsApprovalMacKey", "OrgScanResultMacKey"]


@pytest.mark.parametrize("key", MAC_KEYS)
def test_a_developer_cannot_rewrite_a_mac_keys_policy(governance_template: dict[str, Any], key: str) -> None:
    tags = _key_tags(governance_template, key)
    assert both(_key_policy(governance_template, key), DEVELOPER, "kms:PutKeyPolicy", KEY, tags) == "Deny"
    assert both(_key_policy(governance_template, key), DEPLOYER, "kms:PutKeyPolicy", KEY, tags) == "Allow"


@pytest.mark.parametrize("key", MAC_KEYS)
def test_the_mac_keys_deny_a_developer_their_macs_while_their_policy_stands(
    governance_template: dict[str, Any], key: str
) -> None:
    """What holds: without a policy change, neither an IAM policy nor a grant makes a developer a MAC-maker."""
    assert both(_key_policy(governance_template, key), DEVELOPER, "kms:GenerateMac", KEY) == "Deny"


# The governance key encrypts the findings topic, the notifier's queues and tables, and the ops alarm topic: a
# developer who disables it (or schedules its deletion, or rewrites its policy) would silence every finding and,
# with the alarm topic unable to encrypt, every alarm that would say so: the same SCP statement refuses it.
@pytest.mark.parametrize("action", ["kms:DisableKey", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy"])
def test_a_developer_cannot_switch_off_the_governance_key(governance_template: dict[str, Any], action: str) -> None:
    policy, tags = (
        _key_policy(governance_template, "FindingsGovernanceKey"),
        _key_tags(governance_template, "FindingsGovernanceKey"),
    )
    assert both(policy, DEVELOPER, action, KEY, tags) == "Deny"
    assert both(policy, DEPLOYER, action, KEY, tags) == "Allow"


# 4. Buckets. Each bucket's policy denies its own replacement, versioning and lifecycle changes (and Object Lock's)
#    to all but the deployer: otherwise the write seals come off, versioning (which keeps the genuine object) is
#    suspended, or a lifecycle rule expires this week's results before the aggregate reads them. The report
#    bucket's was missing (fixed: ReportControlsOnlyByDeploy in stacks/org_scan.py).
BUCKET_CONTROLS = [
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketObjectLockConfiguration",
]


@pytest.mark.parametrize(
    ("prefix", "name"), [("RetrainingSnapshotBucket", SNAPSHOT_BUCKET), ("OrgScanReportBucket", REPORT_BUCKET)]
)
@pytest.mark.parametrize("action", BUCKET_CONTROLS)
def test_a_buckets_controls_stay_with_the_deployer(
    governance_template: dict[str, Any], prefix: str, name: str, action: str
) -> None:
    policy = bucket_policy(governance_template, prefix, name)
    arn = f"arn:aws:s3:::{name}"
    assert both(policy, DEVELOPER, action, arn) == "Deny"
    assert both(policy, role_arn(governance_template, "OrgScanCoordinatorRole"), action, arn) == "Deny"
    assert both(policy, DEPLOYER, action, arn) == "Allow"


# 5. The channel. SetTopicAttributes/SetQueueAttributes are in the SCP's CHANNEL_DRAIN. So are RemovePermission,
#    which removes a policy statement by its Sid (Label: "OnlyProducersPublish", "OnlyTheFindingsTopicSends"), and
#    a data protection policy (PutDataProtectionPolicy), which can deny publishing or mask what reaches the
#    notifier's queue for any finding matching a custom identifier.
@pytest.mark.parametrize(("action", "resource"), [("sns:SetTopicAttributes", TOPIC), ("sqs:SetQueueAttributes", QUEUE)])
def test_the_channel_policies_cannot_be_set_by_a_developer(action: str, resource: str) -> None:
    assert both(None, DEVELOPER, action, resource) == "Deny"


@pytest.mark.parametrize(
    ("action", "resource"),
    [("sns:RemovePermission", TOPIC), ("sqs:RemovePermission", QUEUE), ("sns:PutDataProtectionPolicy", TOPIC)],
)
def test_a_developer_cannot_take_the_channels_seals_off(
    governance_template: dict[str, Any], action: str, resource: str
) -> None:
    policy = _topic_policy(governance_template) if resource == TOPIC else _queue_policy(governance_template)
    assert both(policy, DEVELOPER, action, resource) == "Deny"


# The page topic (what the notifier pages on-call through) and the ops alarm topic: a developer publishing a page or
# an alarm that looks like the product's would bypass the findings topic's seal and the notifier's checks (noise or
# a lure; nothing is promoted, resolved or deleted by it). The page topic takes only the notifier and the operators'
# CLI (`mlgov notify send --channel page`); the alarm topic only AWS services acting for this account.
def _sns_topic_policy(template: dict[str, Any], prefix: str) -> tuple[dict[str, Any], str]:
    """The topic's policy and its ARN (as CloudFormation names it), the policy's Ref to the topic made that ARN."""
    [policy] = [v for k, v in template["Resources"].items() if k.startswith(prefix)]
    [ref] = policy["Properties"]["Topics"]
    logical = ref["Ref"]
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:MlGovEndpointAudit-{logical}-AbCdEf123456"
    text = json.dumps(concrete(policy["Properties"]["PolicyDocument"])).replace(f"ref-{logical}", topic)
    return dict(json.loads(text)), topic


def _as_service(
    policy: dict[str, Any], service: str, topic: str, account: str = ACCOUNT, source_arn: str | None = None
) -> str:
    context = {
        "aws:PrincipalIsAWSService": "true",
        "aws:PrincipalServiceName": service,
        "aws:SourceAccount": account,
        "aws:SecureTransport": "true",
        **({"aws:SourceArn": source_arn} if source_arn else {}),
    }
    return evaluate({"resource": policy}, "sns:Publish", topic, context).decision


@pytest.mark.parametrize("prefix", ["NotifierPageTopicPolicy", "FindingsOpsAlarmTopicPolicy"])
def test_a_developer_cannot_page_as_the_product(governance_template: dict[str, Any], prefix: str) -> None:
    policy, topic = _sns_topic_policy(governance_template, prefix)
    assert both(policy, DEVELOPER, "sns:Publish", topic) == "Deny"
    assert both(policy, DEPLOYER, "sns:Publish", topic) == "Deny"
    # Another account's alarm (the confused deputy) is refused too.
    alarm = f"arn:aws:cloudwatch:{REGION}:{PROD}:alarm:Lure"
    assert _as_service(policy, "cloudwatch.amazonaws.com", topic, PROD, alarm) == "Deny"
    assert _as_service(policy, "costalerts.amazonaws.com", topic, PROD) == "Deny"


def test_every_publisher_of_the_page_and_alarm_topics_still_gets_through(governance_template: dict[str, Any]) -> None:
    page, page_topic = _sns_topic_policy(governance_template, "NotifierPageTopicPolicy")
    assert both(page, role_arn(governance_template, "NotifierNotifyRole"), "sns:Publish", page_topic) == "Allow"
    assert both(page, OPERATOR, "sns:Publish", page_topic) == "Allow"  # `mlgov notify send --channel page`
    alarms, alarm_topic = _sns_topic_policy(governance_template, "FindingsOpsAlarmTopicPolicy")
    # Every alarm of the stack that acts on the alarm topic, as CloudWatch publishes for it.
    acting = [
        logical
        for logical, r in governance_template["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm" and "FindingsOpsAlarmTopic" in json.dumps(r["Properties"])
    ]
    assert acting
    for logical in acting:
        alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:MlGovEndpointAudit-{logical}-ABC123"
        assert _as_service(alarms, "cloudwatch.amazonaws.com", alarm_topic, source_arn=alarm) == "Allow", logical
    # Cost Anomaly Detection's subscription (the retirement capability's) names the account only.
    assert _as_service(alarms, "costalerts.amazonaws.com", alarm_topic) == "Allow"


# 6. Wildcards in the seals' exemptions (ArnNotLike): a role a developer could name into them would pass every seal.
#    They hold because the SCP keeps creating (and passing, and re-trusting) such roles to role admins.
WILDCARD_NAMES = [
    "cdk-hnb659fds-cfn-exec-role-attacker",  # the secrets' and snapshot bucket's deployer pattern
    "mlgov-protected/MlGovOperatorAttacker",  # the secrets' and findings table's operator pattern
    "mlgov-protected/AttackerChallenger",  # product_role_arns' protected-path pattern
    "MlGovEndpointAudit-Attacker",  # product_role_arns' stack-name pattern
]


@pytest.mark.parametrize("name", WILDCARD_NAMES)
@pytest.mark.parametrize("action", ["iam:CreateRole", "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy"])
def test_a_developer_cannot_make_a_role_an_exemption_matches(name: str, action: str) -> None:
    # Where the product runs, every such name is refused (a role is made in the caller's own account).
    assert _scp(GOV, GOV, f"arn:aws:iam::{GOV}:role/Developer", action, f"arn:aws:iam::{GOV}:role/{name}") == "Deny"
    # In a guarded account the deployer pattern's exemptions hold nowhere that matters (pinned to the governance
    # accounts), so a team's CDK role of that name stays the team's; every other pattern is refused there too.
    workload = _scp(
        "ou-ab12-prodwork", PROD, f"arn:aws:iam::{PROD}:role/Developer", action, f"arn:aws:iam::{PROD}:role/{name}"
    )
    assert workload == ("Allow" if name.startswith("cdk-hnb659fds-") else "Deny")


# 7. A member account. The forwarding rule is guarded (DenyProductRuleChanges) and the scan checks its pattern and
#    target; the role the rule uses to put events on the governance bus is protected by name (DenyMemberRoleChanges):
#    otherwise a member admin deletes its inline policy and the account forwards nothing while the scan says OK.
def _forwarding_role() -> str:
    from stacks.member_role_stack import forwarding_template

    resources = forwarding_template(SETTINGS)["Resources"]
    [role] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    return f"arn:aws:iam::{PROD}:role{role['Path']}{role['RoleName']['Fn::Join'][1][0]}{REGION}"


FORWARDING_ROLE = _forwarding_role()


@pytest.mark.parametrize("action", ["iam:DeleteRolePolicy", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy"])
def test_a_member_developer_cannot_disarm_the_forwarding_role(action: str) -> None:
    assert _scp("ou-ab12-prodwork", PROD, f"arn:aws:iam::{PROD}:role/Developer", action, FORWARDING_ROLE) == "Deny"


# The member audit role (root path, named by mlgov.member_audit_role_name) is named in DenyMemberRoleChanges:
# otherwise a member admin adds a deny for DescribeEndpointConfig/DescribeModel on the endpoints to hide, and the
# scan's HIGH UNREGISTERED_ENDPOINT becomes a MEDIUM ENDPOINT_AUDIT_ERROR ("access denied": a ticket, not a page).
MEMBER_ROLE = f"arn:aws:iam::{PROD}:role/{DEFAULT_MEMBER_ROLE_NAME}"


@pytest.mark.parametrize("action", ["iam:PutRolePolicy", "iam:DetachRolePolicy", "iam:DeleteRole"])
def test_a_member_developer_cannot_narrow_the_member_audit_role(action: str) -> None:
    assert _scp("ou-ab12-prodwork", PROD, f"arn:aws:iam::{PROD}:role/Developer", action, MEMBER_ROLE) == "Deny"


def test_the_tables_writers_are_the_product_roles_by_exact_arn(governance_template: dict[str, Any]) -> None:
    """No wildcard among the tables' producers: only the operators' pattern, which 6. keeps to role admins."""
    for prefix, _ in TABLES:
        writes = [
            s for s in table_policy(governance_template, prefix)["Statement"] if "dynamodb:PutItem" in s["Action"]
        ]
        assert writes, prefix
        for statement in writes:
            exact = statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
            assert all("*" not in arn for arn in exact), prefix
    assert role_arn(governance_template, "NotifierNotifyRole").startswith(f"arn:aws:iam::{ACCOUNT}:role/")


# 8. A handler's input: the Jira issue key the notifier stored for a finding (`jira#<project>#<finding_id>` in the
#    delivery state). Whoever writes that record (the table's seal off, 1.; or the notifier's role) could point
#    finding A's record at finding B's issue, so A's genuine resolution would close B's issue while B's violation
#    is still open. The notifier reads the recorded issue first (GET issue?fields=labels) and believes it only if
#    it carries A's label; otherwise it leaves it alone, finds A's own issue by its label, and says so (counted as
#    JiraIssueRecordMismatch by the Lambda). Driven with moto and the local Jira.
def test_a_repointed_issue_record_closes_only_its_own_findings_issue() -> None:
    with mock_aws(), start_sink("jira") as sink:
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName="state",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        a = sample_finding()
        arn_b = a["resource_arn"].replace("mlgov-notification-test", "still-unregistered")
        b = {**a, "resource_arn": arn_b, "finding_id": finding_id(a["kind"], a["account_id"], a["region"], arn_b)}
        stored = {a["finding_id"]: "OPEN", b["finding_id"]: "OPEN"}
        state = DynamoDeliveryState(ddb, "state")
        jira = JiraProject(
            sink.url, "bot", "token", "MLGOV", HttpClient(timeout=2.0, attempts=1), "Task", "31",
            stored_status=stored.get, issue_keys=state,
        )  # fmt: skip
        jira.send(a)
        jira.send(b)
        issue_of = {f["finding_id"]: state.open_issue("MLGOV", f["finding_id"]) for f in (a, b)}
        # The forged record: A's entry names B's issue
        state.remember_issue("MLGOV", a["finding_id"], issue_of[b["finding_id"]])
        # A is genuinely resolved (the producers stored it so) and its resolution arrives
        stored[a["finding_id"]] = "RESOLVED"
        outcome = jira.send({**a, "status": "RESOLVED", "severity": "INFO"})
        issue_a, issue_b = str(issue_of[a["finding_id"]]), str(issue_of[b["finding_id"]])
        assert sink.issues[issue_b]["status"] != "Done"
        assert not sink.comments.get(issue_b)  # not even a comment in A's words
        # A's own issue, found by its label, is the one closed; the answer names the record set aside.
        assert sink.issues[issue_a]["status"] == "Done"
        assert FOREIGN_ISSUE in outcome and issue_b in outcome
        assert state.open_issue("MLGOV", a["finding_id"]) is None  # closed: the forged record is gone too
