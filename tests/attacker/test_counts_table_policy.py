"""Hole closed (issue 20): nobody but the recommender's metric writers adds clicks to what the challenger gate reads.

In CloudWatch, an SCP keeps cloudwatch:PutMetricData in the recommendation namespace to the metric writers, but a
CloudWatch Logs event in Embedded Metric Format becomes a metric in any namespace, and no policy sees a log
event's body. With `challenger.metrics.source: table` the gate reads the product's mlgov-recommendation-counts table
instead, whose own resource policy denies every item write to all but guardrails.metric_writer_role_arns (and
break-glass), and every change to the table and to that policy to all but who deploys the product. Here the
synthesized policy (the heavy configuration of the guardrail matrix) judges calls made through boto3 against moto:
a developer (PowerUserAccess), the operators and the product's own roles are refused, whatever their IAM allows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from mlgov.policy_eval import evaluate
from mlgov_runtime.challenger.config import COUNTS_TABLE
from stacks.challenger import TABLE_POLICY_MAX_BYTES
from tests.attacker.resource_policies import DEPLOYER, DEVELOPER, OPERATOR, act_as, decide, role_arn, table_policy
from tests.infrastructure.templates import ACCOUNT, REGION, concrete
from tests.unit.test_guardrail_matrix import heavy_context

WRITER = f"arn:aws:iam::{ACCOUNT}:role/mlgov-protected/MlGovRecommenderMetrics-0-recommender"
BREAK_GLASS = f"arn:aws:iam::{ACCOUNT}:role/mlgov-protected/MlGovBreakGlass-1-oncall"
ROLE_ADMIN = f"arn:aws:iam::{ACCOUNT}:role/mlgov-protected/MlGovRoleAdmin"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{COUNTS_TABLE}"
SERIES = "manga-recommender-prod/challenger"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from aws_cdk.assertions import Template

    from app import build_app
    from stacks.constants import AUDIT_STACK_NAME

    context = heavy_context()
    context["challenger"] = {**context["challenger"], "metrics": {"source": "table"}}
    app = build_app(context={"mlgov": context})
    stack: Any = app.node.find_child(AUDIT_STACK_NAME)
    return dict(Template.from_stack(stack).to_json())


@pytest.fixture(scope="module")
def policy(template: dict[str, Any]) -> dict[str, Any]:
    return table_policy(template, "ChallengerRecommendationCounts")


def _named_role(template: dict[str, Any], prefix: str) -> str:
    """A role the stack names itself (path and name), as AWS would put it in aws:PrincipalArn."""
    [props] = [
        r["Properties"]
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Role" and k.startswith(prefix)
    ]
    return f"arn:aws:iam::{ACCOUNT}:role{props['Path']}{props['RoleName']}"


def _product_roles(template: dict[str, Any]) -> list[str]:
    return [
        _named_role(template, "ChallengerSteps"),  # the watch itself: it reads, never writes
        _named_role(template, "ChallengerStateMachineRole"),
        role_arn(template, "ChallengerEvents"),
        role_arn(template, "NotifierNotifyRole"),
        role_arn(template, "LineageAuditRole"),
    ]


@pytest.fixture
def ddb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName=COUNTS_TABLE,
            KeySchema=[{"AttributeName": "series", "KeyType": "HASH"}, {"AttributeName": "minute", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "series", "AttributeType": "S"},
                {"AttributeName": "minute", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def _as(principal: str, policy: dict[str, Any]) -> Any:
    return act_as(boto3.client("dynamodb", region_name=REGION), principal, policy)


KEY = {"series": {"S": SERIES}, "minute": {"N": "1700000040"}}
FORGED_CLICKS = {**KEY, "RecommendationClicks": {"N": "400"}}
# Every way an item is written: the item calls, the batch, a transaction, PartiQL alone, batched and in a transaction.
WRITES: dict[str, tuple[str, dict[str, Any]]] = {
    "PutItem": ("put_item", {"TableName": COUNTS_TABLE, "Item": FORGED_CLICKS}),
    "UpdateItem": (
        "update_item",
        {
            "TableName": COUNTS_TABLE,
            "Key": KEY,
            "UpdateExpression": "ADD #c :n",
            "ExpressionAttributeNames": {"#c": "RecommendationClicks"},
            "ExpressionAttributeValues": {":n": {"N": "400"}},
        },
    ),
    "DeleteItem": ("delete_item", {"TableName": COUNTS_TABLE, "Key": KEY}),
    "BatchWriteItem": ("batch_write_item", {"RequestItems": {COUNTS_TABLE: [{"PutRequest": {"Item": FORGED_CLICKS}}]}}),
    "TransactWriteItems": (
        "transact_write_items",
        {"TransactItems": [{"Put": {"TableName": COUNTS_TABLE, "Item": FORGED_CLICKS}}]},
    ),
    "PartiQLInsert": (
        "execute_statement",
        {"Statement": f"INSERT INTO \"{COUNTS_TABLE}\" VALUE {{'series': '{SERIES}', 'minute': 1700000100}}"},
    ),
    "PartiQLUpdate": (
        "execute_statement",
        {
            "Statement": f'UPDATE "{COUNTS_TABLE}" SET RecommendationClicks = 400 '
            f"WHERE series = '{SERIES}' AND minute = 1700000040"
        },
    ),
    "PartiQLDelete": (
        "batch_execute_statement",
        {"Statements": [{"Statement": f"DELETE FROM \"{COUNTS_TABLE}\" WHERE series = '{SERIES}' AND minute = 1"}]},
    ),
    "PartiQLTransaction": (
        "execute_transaction",
        {"TransactStatements": [{"Statement": f'UPDATE "{COUNTS_TABLE}" SET RecommendationClicks = 1 WHERE x = 1'}]},
    ),
}


def _refused(client: Any, call: str, params: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as refused:
        getattr(client, call)(**params)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"


@pytest.mark.parametrize("write", list(WRITES))
def test_a_developer_the_operators_and_the_products_own_roles_cannot_write_a_count(
    ddb: Any, template: dict[str, Any], policy: dict[str, Any], write: str
) -> None:
    ddb.put_item(TableName=COUNTS_TABLE, Item={**KEY, "RecommendationClicks": {"N": "12"}})
    call, params = WRITES[write]
    for principal in [DEVELOPER, OPERATOR, DEPLOYER, ROLE_ADMIN, *_product_roles(template)]:
        _refused(_as(principal, policy), call, params)
    # Then the genuine count stands
    assert ddb.get_item(TableName=COUNTS_TABLE, Key=KEY)["Item"]["RecommendationClicks"] == {"N": "12"}


@pytest.mark.parametrize("principal", [WRITER, BREAK_GLASS], ids=["metric-writer", "break-glass"])
def test_a_metric_writer_adds_its_counts(ddb: Any, policy: dict[str, Any], principal: str) -> None:
    call, params = WRITES["UpdateItem"]
    getattr(_as(principal, policy), call)(**params)
    getattr(_as(principal, policy), call)(**params)
    assert ddb.get_item(TableName=COUNTS_TABLE, Key=KEY)["Item"]["RecommendationClicks"] == {"N": "800"}


CONTROLS: dict[str, tuple[str, dict[str, Any]]] = {
    "PutResourcePolicy": (
        "put_resource_policy",
        {"ResourceArn": TABLE_ARN, "Policy": json.dumps({"Version": "2012-10-17", "Statement": []})},
    ),
    "DeleteResourcePolicy": ("delete_resource_policy", {"ResourceArn": TABLE_ARN}),
    "DeleteTable": ("delete_table", {"TableName": COUNTS_TABLE}),
    "UpdateTable": ("update_table", {"TableName": COUNTS_TABLE, "DeletionProtectionEnabled": False}),
    "UpdateTimeToLive": (
        "update_time_to_live",
        {"TableName": COUNTS_TABLE, "TimeToLiveSpecification": {"AttributeName": "minute", "Enabled": True}},
    ),
    "UpdateContinuousBackups": (
        "update_continuous_backups",
        {"TableName": COUNTS_TABLE, "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": False}},
    ),
    "EnableKinesisStreamingDestination": (
        "enable_kinesis_streaming_destination",
        {"TableName": COUNTS_TABLE, "StreamArn": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/copy"},
    ),
    "TagResource": ("tag_resource", {"ResourceArn": TABLE_ARN, "Tags": [{"Key": "k", "Value": "v"}]}),
}


@pytest.mark.parametrize("control", list(CONTROLS))
def test_only_who_deploys_changes_the_table_or_its_policy(
    ddb: Any, template: dict[str, Any], policy: dict[str, Any], control: str
) -> None:
    call, params = CONTROLS[control]
    # The metric writers write items, nothing else; the product's roles and the operators not even that
    for principal in [DEVELOPER, OPERATOR, WRITER, *_product_roles(template)]:
        _refused(_as(principal, policy), call, params)
    # Who deploys (CloudFormation's execution role, the role admins, break-glass) still does, through `cdk deploy`
    for principal in [DEPLOYER, ROLE_ADMIN, BREAK_GLASS]:
        assert decide(policy, principal, f"dynamodb:{control}", TABLE_ARN) == "Allow", principal


def test_the_deployer_replaces_the_policy(ddb: Any, policy: dict[str, Any]) -> None:
    call, params = CONTROLS["PutResourcePolicy"]
    getattr(_as(DEPLOYER, policy), call)(**{**params, "Policy": json.dumps(policy)})
    assert json.loads(ddb.get_resource_policy(ResourceArn=TABLE_ARN)["Policy"]) == policy


def test_a_replica_in_another_region_is_refused_too(policy: dict[str, Any]) -> None:
    """A new replica gets no policy of its own, and what is written there replicates back."""
    for action in ("dynamodb:UpdateTable", "dynamodb:CreateTableReplica", "dynamodb:AssociateTableReplica"):
        assert decide(policy, DEVELOPER, action, TABLE_ARN) == "Deny"
        assert decide(policy, DEPLOYER, action, TABLE_ARN) == "Allow"


def test_the_watch_queries_the_counts_and_may_do_nothing_else_there(
    ddb: Any, template: dict[str, Any], policy: dict[str, Any]
) -> None:
    ddb.put_item(TableName=COUNTS_TABLE, Item={**KEY, "RecommendationClicks": {"N": "12"}})
    watch = _named_role(template, "ChallengerSteps")
    # The table's policy lets it read
    items = _as(watch, policy).query(
        TableName=COUNTS_TABLE,
        KeyConditionExpression="series = :s AND minute BETWEEN :a AND :b",
        ExpressionAttributeValues={":s": {"S": SERIES}, ":a": {"N": "0"}, ":b": {"N": "1700000100"}},
        ConsistentRead=True,
    )["Items"]
    assert items[0]["RecommendationClicks"] == {"N": "12"}
    # And its own role allows Query on this table, and no other call on it
    identity = {
        "Statement": [
            s
            for k, p in template["Resources"].items()
            if p["Type"] == "AWS::IAM::Policy" and k.startswith("ChallengerSteps")
            for s in concrete(p["Properties"]["PolicyDocument"])["Statement"]
        ]
    }
    table = f"arn:aws:{_counts_logical(template)}:Arn"  # the table's GetAtt, as `concrete` makes it

    def allowed(action: str) -> bool:
        context = {"aws:PrincipalArn": watch}
        return evaluate({"identity": identity}, action, table, context, default_allow=False).decision == "Allow"

    assert allowed("dynamodb:Query")
    for action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Scan", "dynamodb:PutResourcePolicy"):
        assert not allowed(action), action


def _counts_logical(template: dict[str, Any]) -> str:
    [logical] = [k for k in template["Resources"] if k.startswith("ChallengerRecommendationCounts")]
    return logical


def test_the_policy_fits_dynamodbs_limit_in_the_heavy_configuration(policy: dict[str, Any]) -> None:
    size = len(json.dumps(policy, separators=(",", ":")).encode())
    print(f"\n  {COUNTS_TABLE} policy: {size} of {TABLE_POLICY_MAX_BYTES} bytes")
    assert size <= TABLE_POLICY_MAX_BYTES * 0.9


def test_a_policy_over_dynamodbs_limit_fails_the_synth() -> None:
    from app import build_app
    from mlgov.settings import SettingsError

    # 400 break-glass roles: each is exempt from both of the table's statements
    many = [f"arn:aws:iam::{ACCOUNT}:role/mlgov-protected/MlGovBreakGlass-{i:03d}-oncall-rotation" for i in range(400)]
    context = {"challenger": {"metrics": {"source": "table"}}, "guardrails": {"break_glass_role_arns": many}}
    with pytest.raises(SettingsError, match=rf"{COUNTS_TABLE} table's policy would be [\d,]+ bytes, over DynamoDB's"):
        build_app(context={"mlgov": context})
