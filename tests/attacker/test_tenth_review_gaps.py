"""Tenth review (issue 20): `challenger.metrics.source: table` attacked as a developer or administrator of the
governance account (not root, not who deploys, not the product's roles), as a member account, and as a metric
writer trying to do more than write its counts.

What held (no test here; tests/attacker/test_counts_table_policy.py pins most of it): every item write (PutItem,
UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems, PartiQL alone, batched and in a transaction) and every
control that changes the items or takes the seal off (policy, UpdateTable, TTL, DeleteTable, replicas, PITR,
streaming, tags) is refused to everyone but the writers or who deploys; IAM users, federated users and roles of
other accounts are refused (no Allow for another account; the governance key); a role matching the writers'
wildcard cannot be created, re-trusted or passed outside the role admins (mlgov-protected-roles, judged per
attachment); series keys cannot collide ('/' is no character of an endpoint or variant name); items outside the
window are not read (the Query's key condition); NaN and infinities read as missing, a number beyond a float too,
and a huge number ends the run STOP_INVALID (clicks above impressions), never a verdict; a member account cannot
attach a multi-account replica (the table's policy allows replication.dynamodb.amazonaws.com nothing).

Holes, ranked (each test asserts the SAFE outcome, strict xfail until fixed):
 0. (high) whoever may change the code that runs as a metric writer (the recommender's Lambda function:
    lambda:UpdateFunctionCode needs no iam:PassRole) writes any count as the writer: the table's policy and the
    protected path both see the writer's role. No guardrail statement names the recommender's compute.
 1. (medium) the 7-day review still believes `UserRetention7d` from the CloudWatch namespace, where an Embedded Metric
    Format log event forges it, while README and docs/guardrails.md say the EMF gap closes with the table source.
 2. (low) the watch believes any table named mlgov-recommendation-counts: one without the product's policy (pre-created
    by a developer before the first table deploy and adopted, or after the root user deleted its policy) is read.
 3. (low) a deploy mid-run switches a run that started on the table to the forgeable CloudWatch source.
 4. (low) the table's policy leaves dynamodb:WriteDataForReplication and dynamodb:ReplicateSettings out.
 5. (low) in table mode the dashboard still graphs the namespace's impressions and clicks as the variants' counts.
 6. (low) in table mode the look's messages send whoever investigates to CloudWatch: STOP_INVALID names
    PutMetricData, and a refused read advises setting the source back to cloudwatch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlgov_runtime.challenger.config import COUNTS_TABLE, ChallengerConfig, MetricNames
from mlgov_runtime.challenger.counts_policy import UnsealedCountsTable
from tests.attacker.resource_policies import decide, table_policy
from tests.infrastructure.templates import ACCOUNT, REGION

ROOT = Path(__file__).resolve().parents[2]
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{COUNTS_TABLE}"


@pytest.fixture(scope="module")
def table_template() -> dict[str, Any]:
    """The governance stack with the table source (the heavy configuration of the guardrail matrix)."""
    from aws_cdk.assertions import Template

    from app import build_app
    from stacks.constants import AUDIT_STACK_NAME
    from tests.unit.test_guardrail_matrix import heavy_context

    context = heavy_context()
    context["challenger"] = {**context["challenger"], "metrics": {"source": "table"}}
    app = build_app(context={"mlgov": context})
    stack: Any = app.node.find_child(AUDIT_STACK_NAME)
    return dict(Template.from_stack(stack).to_json())


def _paragraphs(path: Path) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", path.read_text()) if p.strip()]


# HOLE 0 (high): the writer's role is protected, the code that runs as it is not.
def test_a_developer_cannot_change_the_code_that_runs_as_a_metric_writer() -> None:
    """Attack: a developer of the governance account (PowerUserAccess: lambda:*, no iam) calls
    `lambda:UpdateFunctionCode` (or `UpdateFunctionConfiguration` with a layer of theirs) on the recommender's function,
    whose execution role is `mlgov-protected/MlGovRecommenderMetrics...`. Changing a function's code keeps its role,
    so no iam:PassRole is asked, and the protected path (mlgov-protected-roles) never sees the call. The new code
    runs as the metric writer: `aws:PrincipalArn` is the writer's role ARN, OnlyMetricWritersWrite lets its
    `UpdateItem ... ADD` through, and it adds clicks to the challenger (or the production variant) inside the plausible
    band; the gate PROMOTEs a worse challenger or REJECTs a better one, exactly what the table source was meant to
    close. The same holds for `ecs:ExecuteCommand` into a task, or `ssm:SendCommand` to an instance, whose role is a
    writer. DenyProductFunctionChanges covers `guardrails.product_function_arns` only, and naming the recommender
    there would also deny roles' direct invocations of it (DenyProductFunctionInvoke). The docs say only "what a
    metric writer writes is believed".
    Impact: high (forged clicks the gate believes, by a developer, with the table source on).
    Fix: a setting naming the writers' compute (here `guardrails.metric_writer_function_arns`) whose functions the
    product guard keeps to who deploys them (FUNCTION_CHANGES and the event-source mappings, like the product's own),
    and docs that tell the recommender's owners to keep ECS Exec and SSM off the writers' hosts; until then, README and
    docs/trust-model.md name the writers' compute as out of the guardrails' reach."""
    from mlgov.guardrails import attachments, guardrail_policies
    from mlgov.policy_eval import evaluate
    from mlgov.settings import parse_settings
    from tests.attacker.conftest import GOV
    from tests.attacker.scp_judge import WORKLOAD_OU, WRITER, judge

    recommender = f"arn:aws:lambda:{REGION}:{GOV}:function:manga-recommender-api"
    changes = ("lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration")
    # What the hole rests on: today a developer changes the code, and the writer's role cannot be re-passed
    for action in changes:
        assert judge(GOV, GOV, "Developer", action, recommender) == "Allow"
    assert judge(GOV, GOV, "Developer", "iam:PassRole", f"arn:aws:iam::{GOV}:role/{WRITER}") == "Deny"
    settings = parse_settings(
        {
            "challenger": {"metrics": {"source": "table"}},
            "guardrails": {
                "target_ou_ids": [WORKLOAD_OU],
                "governance_target_ids": [GOV],
                "metric_writer_role_arns": [f"arn:aws:iam::*:role/{WRITER}"],
                "metric_writer_function_arns": [recommender],
            },
        }
    )
    scps = {p.name: p.document for p in guardrail_policies(settings)}
    on_gov = {name: scps[name] for name, targets in attachments(settings).items() if GOV in targets}

    def decision(role: str, action: str) -> str:
        context = {"aws:PrincipalArn": f"arn:aws:iam::{GOV}:role/{role}", "aws:PrincipalAccount": GOV}
        return evaluate(on_gov, action, recommender, context).decision

    # Then only who deploys changes the code that runs as the writer
    for action in changes:
        assert decision("Developer", action) == "Deny", action
    # And the recommender still answers its callers
    assert decision("Developer", "lambda:InvokeFunction") == "Allow"


# HOLE 1 (medium): the 7-day review is still steered by an Embedded Metric Format log event.
def test_the_docs_do_not_say_the_emf_gap_closes_while_the_review_still_reads_cloudwatch() -> None:
    """Attack: with `challenger.metrics.source: table`, a developer of the governance account writes a log event in
    Embedded Metric Format whose `_aws` block names `challenger.retention_metric` (`MangaAssist/Recommendations`
    `UserRetention7d`, per `EndpointName`) during the days after a promotion. `logic.review` still reads it through
    `endpoint_statistic` (CloudWatch) and writes the forged delta into the package's `production_7day_retention_delta`
    (an automated write) and raises, or stays silent on, the HIGH `CHALLENGER_RETENTION_REGRESSION` that carries the
    `mlgov rollback` command: a real regression hidden, or a good model rolled back by a person believing the finding.
    README ("the gate no longer reads the CloudWatch namespace") and docs/guardrails.md ("this gap closes") say the
    Embedded Metric Format residual is the default source's only.
    Impact: medium (an automated record and a HIGH finding steered; no PROMOTE or REJECT).
    Fix: read the retention from the table too (a per-endpoint daily item the writers alone write), or keep the docs
    true: name the 7-day review as still forgeable under the table source in README's trust section, in
    docs/guardrails.md's gap paragraph and in the review's finding and metadata ("from CloudWatch, forgeable")."""
    readme = [p for p in _paragraphs(ROOT / "README.md") if "Embedded" in p and "metrics.source: table" in p]
    guardrails = [p for p in _paragraphs(ROOT / "docs" / "guardrails.md") if "this gap closes" in p]
    assert readme, "README's trust paragraph on the table source"
    for paragraph in readme + guardrails:
        assert re.search(r"UserRetention7d|7-day review|retention_metric", paragraph), paragraph[:200]


# HOLE 2 (low, fixed): the watch believes a table of that name only under the product's policy.
def test_the_watch_refuses_a_counts_table_without_the_products_policy(table_template: dict[str, Any]) -> None:
    """Attack: the table's name is fixed and no guardrail statement keeps `dynamodb:CreateTable` on it
    (docs/guardrails.md: no SCP bytes to spare). While the product runs with the default source, a developer creates
    `mlgov-recommendation-counts` with no policy and writes the coming minutes' counts (future `minute` keys). The first
    deploy with `source: table` then fails on the existing name, unless the deployer adopts it (`cdk deploy
    --import-existing-resources`, `cdk import`): CloudFormation does not repair a table policy changed out of band, so
    the developer's table, items and write access stay, and the watch believes them. The same read also goes on
    unchanged after the account's root user deletes the product's policy (the residual README names), so nothing
    even notices that the seal is gone.
    Impact: low (needs the deployer to adopt the table, or the root user).
    Fix: before believing a count, the watch (and `mlgov challenger status`) checks the table's policy
    (`dynamodb:GetResourcePolicy`, compared with the deployed statements, e.g. a hash passed in the function's
    settings) and fails the step naming the table when it differs or is missing; docs/deploy.md says to delete a
    pre-existing table of that name, never import it."""
    from mlgov_runtime.challenger import logic
    from mlgov_runtime.challenger.recommendation_metrics import RecommendationMetrics
    from tests.unit.test_challenger_gate import T0
    from tests.unit.test_challenger_table_source import _ch, create_table, minutes_of, publish

    policy = table_policy(table_template, "ChallengerRecommendationCounts")
    cfg = ChallengerConfig(
        metrics=MetricNames(source="table", writers=_writers(table_template), deployers=_deployers(table_template))
    )
    assert any("MlGovBreakGlass" in w for w in cfg.metrics.writers)  # break-glass writes too, as the policy says
    with mock_aws():
        cw, ddb = boto3.client("cloudwatch", region_name=REGION), boto3.client("dynamodb", region_name=REGION)
        create_table(ddb)
        for variant, minute, row in minutes_of(3, 20):
            publish(cw, ddb, variant, minute, row)
        # The product's table: the counts are read
        ddb.put_resource_policy(ResourceArn=TABLE_ARN, Policy=json.dumps(policy))
        logic.look(RecommendationMetrics(cw, cfg.metrics, ddb), cfg, _ch(), T0, T0 + timedelta(minutes=20))
        # As DynamoDB may give it back (one-element lists as strings, "*" as {"AWS": "*"}): the same seal
        respelled = json.loads(json.dumps(policy))
        for statement in respelled["Statement"]:
            statement["Principal"] = {"AWS": "*"}
            statement["Resource"] = TABLE_ARN
        ddb.put_resource_policy(ResourceArn=TABLE_ARN, Policy=json.dumps(respelled, indent=2))
        logic.look(RecommendationMetrics(cw, cfg.metrics, ddb), cfg, _ch(), T0, T0 + timedelta(minutes=20))
        # A policy whose writers are not the configured ones (a developer's role added to them): no verdict
        widened = json.loads(json.dumps(policy))
        [seal] = [st for st in widened["Statement"] if st["Sid"] == "OnlyMetricWritersWrite"]
        seal["Condition"]["ArnNotLike"]["aws:PrincipalArn"].append(f"arn:aws:iam::{ACCOUNT}:role/Developer")
        ddb.put_resource_policy(ResourceArn=TABLE_ARN, Policy=json.dumps(widened))
        with pytest.raises(UnsealedCountsTable, match=rf"{COUNTS_TABLE}.*writers differ.*role/Developer"):
            logic.look(RecommendationMetrics(cw, cfg.metrics, ddb), cfg, _ch(), T0, T0 + timedelta(minutes=20))
        # A policy whose controls' deny exempts anyone beyond who deploys (any role may then replace it): no verdict
        loosened = json.loads(json.dumps(policy))
        [controls] = [st for st in loosened["Statement"] if st["Sid"] == "ControlsOnlyByDeploy"]
        controls["Condition"]["ArnNotLike"]["aws:PrincipalArn"].append(f"arn:aws:iam::{ACCOUNT}:role/*")
        ddb.put_resource_policy(ResourceArn=TABLE_ARN, Policy=json.dumps(loosened))
        with pytest.raises(UnsealedCountsTable, match=rf"ControlsOnlyByDeploy.*deployers differ.*{ACCOUNT}:role/\*"):
            logic.look(RecommendationMetrics(cw, cfg.metrics, ddb), cfg, _ch(), T0, T0 + timedelta(minutes=20))
        # A policy without ControlsOnlyByDeploy (anyone may then replace it): no verdict
        unguarded = {**policy, "Statement": [st for st in policy["Statement"] if st["Sid"] != "ControlsOnlyByDeploy"]}
        ddb.put_resource_policy(ResourceArn=TABLE_ARN, Policy=json.dumps(unguarded))
        with pytest.raises(UnsealedCountsTable, match=rf"{COUNTS_TABLE}.*ControlsOnlyByDeploy"):
            logic.look(RecommendationMetrics(cw, cfg.metrics, ddb), cfg, _ch(), T0, T0 + timedelta(minutes=20))
        # A table of that name without the product's policy: no verdict from it
        ddb.delete_resource_policy(ResourceArn=TABLE_ARN)
        with pytest.raises(UnsealedCountsTable, match=rf"{COUNTS_TABLE}.*no resource policy") as refused:
            logic.look(RecommendationMetrics(cw, cfg.metrics, ddb), cfg, _ch(), T0, T0 + timedelta(minutes=20))
        assert "never import it" in str(refused.value)


def _writers(template: dict[str, Any]) -> tuple[str, ...]:
    """The writers the synthesized Steps function loads at cold start (metric writers and break-glass)."""
    return _received(template).writers


def _deployers(template: dict[str, Any]) -> tuple[str, ...]:
    """Who the synthesized Steps function loads as the table's deployers (deployer roles, role admins, break-glass)."""
    return _received(template).deployers


def _received(template: dict[str, Any]) -> MetricNames:
    from mlgov_runtime.challenger.settings import load_challenger_settings

    [env] = [
        r["Properties"]["Environment"]["Variables"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("Handler", "").endswith("challenger.handler.step")
    ]
    # What CloudFormation resolves at deploy (references to the stack's own resources), as the function sees it
    resolved = {
        "FINDINGS_TABLE_NAME": "mlgov-findings",
        "FINDINGS_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:mlgov-findings",
        "IDEMPOTENCY_TABLE_NAME": "mlgov-idempotency",
        "CHALLENGER_STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:mlgov-challenger",
    }
    sent = {k: v for k, v in env.items() if isinstance(v, str)}
    return load_challenger_settings({**sent, **resolved}).config.metrics


# HOLE 3 (low, fixed): a deploy mid-run no longer moves a run from the table to the forgeable namespace.
def test_a_deploy_during_a_run_does_not_switch_its_counts_source() -> None:
    """Attack: a run starts with `challenger.metrics.source: table`; a deploy mid-run (a rollback of cdk.json, or a
    change made to get a failing table read going, which the read's own error message advises: "set
    challenger.metrics.source back to cloudwatch") sets it to `cloudwatch`. The run's later looks then read the whole
    window from the CloudWatch namespace, where an Embedded Metric Format log event adds clicks, and may PROMOTE or
    REJECT from them. `watch.ctr_split` (the eighth review's fix) records the run's split, not its source.
    Impact: low (a deploy, the deployer's own act, opens it).
    Fix: the first look records the source in the run's state (with the split) and a later look whose function
    reads another source fails the step naming it (weight 0, `CHALLENGER_FAILED`), never a verdict; a new source
    applies to new runs."""
    from mlgov_runtime.challenger import logic
    from mlgov_runtime.challenger.inputs import VariantCounts
    from tests.unit.fakes import package_arn
    from tests.unit.test_challenger_logic import NOW, FakeMetrics, FakeSageMaker, ports, variant

    sm = FakeSageMaker()
    sm.package(2, "Approved", catalog_snapshot_date="2026-10-28")
    sm.model("rec-v2", package_arn(2))
    sm.endpoint("prod", variant("AllTraffic", "rec-v2"))
    endpoints = {"manga-recommender": "prod"}
    started = ChallengerConfig(endpoints=endpoints, metrics=MetricNames(source="table"))
    redeployed = ChallengerConfig(endpoints=endpoints, metrics=MetricNames(source="cloudwatch"))
    arn = sm.package(5, "PendingManualApproval", shadow_ctr_eligible="true")
    state: dict[str, Any] = {"challenger": logic.start(ports(sm), started, {"model_package_arn": arn}, NOW)}
    state["deployed_at"] = logic.iso(NOW)
    ch = state["challenger"]

    def look(cfg: ChallengerConfig, wall: int) -> dict[str, Any]:
        minutes = wall - 3
        counts = {
            "AllTraffic": VariantCounts(3150.0 * minutes, 252.0 * minutes),
            ch["challenger_variant"]: VariantCounts(350.0 * minutes, 28.0 * minutes),
        }
        return logic.watch(ports(sm, FakeMetrics(counts)), cfg, state, NOW + timedelta(minutes=wall, seconds=5))

    state = {**state, "watch": look(started, 15)}
    assert state["watch"]["decision"] == "CONTINUE"
    assert state["watch"][logic.RUN_SOURCE_KEY] == "table"
    # The look after the deploy reads another source than the run started with: the step fails, no look is taken
    with pytest.raises(logic.StepError, match=r"counts source is 'table'.*'cloudwatch'"):
        look(redeployed, 25)
    # A run recorded before the source was (no key) read CloudWatch: it goes on there, and never onto the table
    legacy = {k: v for k, v in state["watch"].items() if k != logic.RUN_SOURCE_KEY}
    state = {**state, "watch": legacy}
    assert look(redeployed, 25)["decision"] == "CONTINUE"
    with pytest.raises(logic.StepError, match="source"):
        look(started, 25)


# HOLE 4 (low): the replication write and settings actions are not in the table's policy.
def test_the_counts_table_policy_denies_the_replication_actions(table_template: dict[str, Any]) -> None:
    """Attack: `dynamodb:WriteDataForReplication` (Write: the global-table replication's item writes) and
    `dynamodb:ReplicateSettings` are actions whose resource is the table (Service Authorization Reference), and DynamoDB
    accepts them in a table's policy (its multi-account global-table examples grant them). Neither list names them,
    while stacks/building_blocks.py says EVERY_TABLE_CONTROL is "every other change a table's own policy can see".
    Today a replica needs UpdateTable or CreateTableReplica, both denied, so this is defence in depth: the day a
    replica exists (added by who deploys, or by a path not yet listed: the legacy CreateGlobalTable, UpdateGlobalTable,
    UpdateGlobalTableSettings, UpdateGlobalTableVersion are not listed either), what is written in the replica's Region,
    under no policy, comes back through the replication role, and nothing in this table's policy refuses it.
    Impact: low.
    Fix: add `dynamodb:WriteDataForReplication` to OnlyMetricWritersWrite and `dynamodb:ReplicateSettings` (and the
    legacy global-table actions, once a dry-run put-resource-policy shows DynamoDB accepts them) to
    ControlsOnlyByDeploy; correct the comment."""
    policy = table_policy(table_template, "ChallengerRecommendationCounts")
    replication = (
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/replication.dynamodb.amazonaws.com/"
        "AWSServiceRoleForDynamoDBReplication"
    )
    developer = f"arn:aws:iam::{ACCOUNT}:role/Developer"
    for principal in (replication, developer):
        for action in ("dynamodb:WriteDataForReplication", "dynamodb:ReplicateSettings"):
            assert decide(policy, principal, action, TABLE_ARN) == "Deny", (principal, action)


# HOLE 5 (low): the dashboard the findings link to graphs the forgeable namespace.
def test_the_dashboard_under_the_table_source_does_not_graph_the_namespace_as_the_counts(
    table_template: dict[str, Any],
) -> None:
    """Attack: with the table source, the gate REJECTs a challenger from the table's genuine counts, and the
    REJECTED and INVALID findings say "compare the variants on the dashboard". That dashboard still graphs
    "Impressions, clicks, cart adds per variant" from the CloudWatch namespace, which an Embedded Metric Format log
    event writes: a developer shows the challenger winning there, and the person reading the finding re-approves the
    package or restarts the run believing the forged graph (or sees empty graphs when the recommender writes only the
    table).
    Impact: low (a person misled; the automated verdict stands).
    Fix: in table mode, graph no recommendation count from the namespace: a text widget naming the table and
    `mlgov challenger status --endpoint ...` (what the gate reads) instead, or a custom widget that reads the table."""
    dashboards = [
        json.dumps(r["Properties"])
        for r in table_template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    assert dashboards
    for body in dashboards:
        assert COUNTS_TABLE in body
        assert "RecommendationClicks" not in body


@pytest.fixture
def seeded(table_template: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    from tests.unit.test_challenger_table_source import create_table, minutes_of, publish

    with mock_aws():
        cw, ddb = boto3.client("cloudwatch", region_name=REGION), boto3.client("dynamodb", region_name=REGION)
        create_table(ddb)
        # The product's policy, as synthesized
        policy = table_policy(table_template, "ChallengerRecommendationCounts")
        ddb.put_resource_policy(ResourceArn=TABLE_ARN, Policy=json.dumps(policy))
        for variant, minute, row in minutes_of(3, 20):
            publish(cw, ddb, variant, minute, row)
        yield cw, ddb


# HOLE 6 (low, fixed): the table source's messages point at the table.
def test_an_invalid_run_from_the_table_points_at_the_table(
    seeded: tuple[Any, Any], table_template: dict[str, Any]
) -> None:
    """Attack: a metric writer (or break-glass) writes more clicks than impressions into the challenger's item. The
    run ends STOP_INVALID (right), but its reason, which becomes the HIGH CHALLENGER_INVALID finding, says the metrics
    were "forged with cloudwatch:PutMetricData" and to "Find who wrote the metric (CloudTrail PutMetricData on the
    recommendation namespace)": whoever investigates looks where nothing was written, and the writer stays unknown.
    Impact: low (investigation misdirected).
    Fix: with the table source, the gate's data reasons name the table and its writers (`UpdateItem` on
    mlgov-recommendation-counts by `guardrails.metric_writer_role_arns`) and say CloudTrail data events for the table
    must be on to tell who (docs/deploy.md: enable them when the source is table)."""
    from mlgov_runtime.challenger import logic
    from mlgov_runtime.challenger.recommendation_metrics import RecommendationMetrics
    from tests.unit.test_challenger_gate import CHAL, ENDPOINT, T0
    from tests.unit.test_challenger_table_source import epoch

    cw, ddb = seeded
    ddb.update_item(
        TableName=COUNTS_TABLE,
        Key={"series": {"S": f"{ENDPOINT}/{CHAL}"}, "minute": {"N": str(epoch(5))}},
        UpdateExpression="SET #c = :v",
        ExpressionAttributeNames={"#c": "RecommendationClicks"},
        ExpressionAttributeValues={":v": {"N": "1E+20"}},
    )
    writers = _writers(table_template)
    cfg = ChallengerConfig(metrics=MetricNames(source="table", writers=writers, deployers=_deployers(table_template)))
    out = logic.look(RecommendationMetrics(cw, cfg.metrics, ddb), cfg, _ch_of(ENDPOINT), T0, T0 + timedelta(minutes=20))
    assert out["decision"] == "STOP_INVALID"
    [reason] = [r for r in out["result"]["reasons"] if "exceed" in r]
    assert COUNTS_TABLE in reason and "PutMetricData" not in reason
    assert "CloudTrail's data events" in reason and all(w in reason for w in writers)
    # And the finding says so too, and sends whoever investigates to the table, not the dashboard's namespace
    from mlgov_runtime.challenger import findings

    ch = {**_ch_of(ENDPOINT), "model_package_arn": "arn:aws:sagemaker:us-east-1:1:model-package/g/5", "version": 5}
    finding = findings.invalid_finding(ch, out["result"], ACCOUNT, REGION)
    text = json.dumps(finding.to_dict() if hasattr(finding, "to_dict") else vars(finding), default=str)
    assert COUNTS_TABLE in text and "PutMetricData" not in text
    assert f"Next: check the counts in table {COUNTS_TABLE} (`mlgov challenger status --endpoint {ENDPOINT}`" in text


def test_a_refused_read_names_the_missing_permission_not_the_forgeable_source(seeded: tuple[Any, Any]) -> None:
    """Attack: an operator runs `mlgov challenger status` in table mode with a role that lacks `dynamodb:Query` on the
    table (the stack grants it to the watch alone; no operator policy ships it). The error says "deploy the stack with
    this setting (or set challenger.metrics.source back to cloudwatch)": deploying changes nothing for the operator's
    role, and the alternative offered is the source an Embedded Metric Format log event forges. A watch whose read is
    refused gets the same advice in its CHALLENGER_FAILED finding.
    Impact: low (a person steered toward the forgeable source).
    Fix: for AccessDenied, name what the caller lacks (`dynamodb:Query` on the table and `kms:Decrypt` on the
    governance key) and never offer the CloudWatch source as the way out; docs/challenger.md lists the operators'
    permissions for `status` in table mode."""
    from botocore.exceptions import ClientError

    from mlgov_runtime.challenger import logic
    from mlgov_runtime.challenger.recommendation_metrics import RecommendationMetrics
    from tests.unit.test_challenger_gate import ENDPOINT, T0
    from tests.unit.test_challenger_table_source import Failing

    cw, _ = seeded
    cfg = ChallengerConfig(metrics=MetricNames(source="table", writers=("arn:aws:iam::*:role/w",)))
    with pytest.raises(ClientError) as refused:
        logic.look(
            RecommendationMetrics(cw, cfg.metrics, Failing("AccessDeniedException")),
            cfg,
            _ch_of(ENDPOINT),
            T0,
            T0 + timedelta(minutes=20),
        )
    text = str(refused.value)
    assert "dynamodb:Query" in text and "back to cloudwatch" not in text
    assert "dynamodb:GetResourcePolicy" in text and "kms:Decrypt" in text and f":table/{COUNTS_TABLE}" in text
    assert "cloudwatch" not in text.lower()


def _ch_of(endpoint: str) -> dict[str, Any]:
    from tests.unit.test_challenger_gate import CHAL, PROD

    return {"endpoint_name": endpoint, "production_variant": PROD, "challenger_variant": CHAL, "traffic_fraction": 0.1}
