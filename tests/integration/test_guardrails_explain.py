"""`mlgov guardrails explain` for the statements that keep the product's inputs and machinery to the product."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgov.cli import main
from tests.strategies import FUZZ, nasty_text

GOV = "999988887777"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "cdk.json"
    settings = {"guardrails": {"governance_target_ids": [GOV], "serving_repository_names": ["manga-serving"]}}
    path.write_text(json.dumps({"context": {"mlgov": settings}}))
    return path


def explain(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, dict]:
    code = main(["guardrails", "explain", "--format", "json", "--config", str(config), *args])
    return code, json.loads(capsys.readouterr().out)


def test_a_forged_retraining_announcement_is_denied_with_what_to_do(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    principal = f"arn:aws:iam::{GOV}:role/DataScientist"
    code, report = explain(
        capsys, config, "--action", "events:PutEvents", "--event-source", "mlgov.retraining", "--principal", principal
    )
    assert (code, report["statement"]) == (3, "DenyProductEventsOutsideProduct")
    assert "start-execution" in report["what_to_do"]
    code, report = explain(
        capsys, config, "--action", "events:PutEvents", "--event-source", "com.manga.app", "--principal", principal
    )
    assert (code, report["decision"]) == (0, "Allow")


def test_forged_recommendation_metrics_are_denied(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, report = explain(
        capsys, config, "--action", "cloudwatch:PutMetricData", "--namespace", "MangaAssist/Recommendations"
    )
    assert (code, report["statement"]) == (3, "DenyRecommendationMetricsOutsideWriters")


def test_a_direct_invocation_of_a_product_function_is_denied(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    function = f"arn:aws:lambda:us-east-1:{GOV}:function:MlGovEndpointAudit-ChallengerSteps-AB12"
    code, report = explain(
        capsys,
        config,
        "--action",
        "lambda:InvokeFunction",
        "--resource",
        function,
        "--principal",
        f"arn:aws:iam::{GOV}:role/DataScientist",
    )
    assert (code, report["statement"]) == (3, "DenyProductFunctionInvoke")
    assert "governance_target_ids" in report["why"]


def test_only_the_approval_service_answers_a_task(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    operator = f"arn:aws:iam::{GOV}:role/mlgov-protected/MlGovOperator"
    code, report = explain(capsys, config, "--action", "states:SendTaskSuccess", "--principal", operator)
    assert (code, report["statement"]) == (3, "DenyTaskAnswersOutsideProduct")
    assert "mlgov retire approve --request" in report["what_to_do"]
    service = f"arn:aws:iam::{GOV}:role/MlGovEndpointAudit-ApprovalsServiceRole12AB-Yy7"
    code, report = explain(capsys, config, "--action", "states:SendTaskSuccess", "--principal", service)
    assert (code, report["decision"]) == (0, "Allow")


def test_serving_tag_mutability_is_kept_and_recommended_when_unconfigured(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    code, report = explain(capsys, config, "--action", "ecr:PutImageTagMutability", "--repository", "manga-serving")
    assert (code, report["statement"]) == (3, "DenyServingImageTagMutabilityChange")
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"context": {"mlgov": {}}}))
    code, report = explain(capsys, bare, "--action", "ecr:PutImageTagMutability", "--repository", "manga-serving")
    assert (code, report["decision"]) == (0, "Allow")
    assert "serving_repository_names" in report["what_to_do"] and "IMMUTABLE" in report["what_to_do"]


def test_a_group_policy_change_is_denied(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, report = explain(
        capsys, config, "--action", "sagemaker:PutModelPackageGroupPolicy", "--endpoint-name", "manga-recommender"
    )
    assert (code, report["statement"]) == (3, "DenyRegistryWriteOutsidePipeline")
    assert report["resource"].endswith(":model-package-group/manga-recommender")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--action", "lambda:InvokeFunction"], "--resource"),
        (["--action", "lambda:InvokeFunction", "--resource", "not-an-arn"], "not an ARN"),
    ],
)
def test_explain_without_a_resource_it_can_build_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], config: Path, args: list[str], fragment: str
) -> None:
    assert main(["guardrails", "explain", "--config", str(config), *args]) == 2
    assert fragment in capsys.readouterr().err


@settings(FUZZ, max_examples=150)
@given(
    option=st.sampled_from(
        [
            "--event-source",
            "--namespace",
            "--resource",
            "--repository",
            "--action",
            "--principal",
            "--endpoint-name",
            "--tag",
            "--tag-key",
            "--org-path",
            "--approval-status",
            "--account",
        ]
    ),
    value=nasty_text,
)
def test_explain_answers_any_option_value_with_a_decision_or_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory, option: str, value: str
) -> None:
    config = tmp_path_factory.mktemp("fuzz") / "cdk.json"
    config.write_text(json.dumps({"context": {"mlgov": {}}}))
    action = "ecr:PutImageTagMutability" if option != "--action" else value
    args = ["guardrails", "explain", "--config", str(config), "--action", action]
    if option != "--action":
        args += [option, value]
    code = main(args)
    captured = capsys.readouterr()
    assert code in (0, 2, 3), captured.err
    assert "unexpected failure" not in captured.err and "Traceback" not in captured.err


def test_every_deny_statement_says_why_and_what_to_do() -> None:
    from mlgov.commands.guardrails import ADVICE, _base_sid
    from mlgov.guardrails import guardrail_policies
    from mlgov.settings import parse_settings

    # Given every statement the builder can emit (experiments split the endpoint denies in two)
    settings = parse_settings(
        {
            "experiment_exemptions": {"account_ids": ["111122223333"]},
            "guardrails": {"governance_target_ids": [GOV], "serving_repository_names": ["manga-serving"]},
        }
    )
    sids = {_base_sid(s["Sid"]) for p in guardrail_policies(settings) for s in p.document["Statement"]}
    # Then explain has a reason and a way forward for each, never "no statement denies" on a Deny
    assert sids - set(ADVICE) == set()
    assert all(why and todo for why, todo in ADVICE.values())


@pytest.mark.parametrize(
    ("action", "resource", "statement"),
    [
        (
            "cloudformation:UpdateStack",
            f"arn:aws:cloudformation:us-east-1:{GOV}:stack/MlGovEndpointAudit/5e7c9a10",
            "DenyProductStackChanges",
        ),
        (
            "sts:AssumeRole",
            f"arn:aws:iam::{GOV}:role/cdk-hnb659fds-deploy-role-{GOV}-us-east-1",
            "DenyProductStackChanges",
        ),
        (
            "events:DisableRule",
            f"arn:aws:events:us-east-1:{GOV}:rule/MlGovEndpointAudit-WeeklyScan1-AB",
            "DenyProductRuleChanges",
        ),
        (
            "sqs:PurgeQueue",
            f"arn:aws:sqs:us-east-1:{GOV}:MlGovEndpointAudit-NotifierQueue-AB",
            "DenyChannelDrainOutsideProduct",
        ),
    ],
)
def test_the_deploy_and_channel_denies_explain_themselves(
    capsys: pytest.CaptureFixture[str], config: Path, action: str, resource: str, statement: str
) -> None:
    principal = f"arn:aws:iam::{GOV}:role/DataScientist"
    code, report = explain(capsys, config, "--action", action, "--resource", resource, "--principal", principal)
    assert (code, report["statement"]) == (3, statement)
    assert "No guardrail statement" not in report["why"] and report["what_to_do"]


def test_a_write_to_the_catalog_the_retraining_trains_on_explains_who_may(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    catalog = f"arn:aws:dynamodb:us-east-1:{GOV}:table/manga-catalog"
    developer = f"arn:aws:iam::{GOV}:role/DataScientist"
    for action in ("dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:PartiQLUpdate"):
        code, report = explain(capsys, config, "--action", action, "--resource", catalog, "--principal", developer)
        assert (code, report["policy"], report["statement"]) == (3, "mlgov-product-guard", "DenyCatalogWrites")
        assert "catalog_writer_role_arns" in report["what_to_do"] and "only where the product runs" in report["why"]
    # The ingest role on the protected path writes it, and anyone reads it
    ingest = f"arn:aws:iam::{GOV}:role/mlgov-protected/MlGovCatalogWriterIngest"
    code, report = explain(capsys, config, "--action", "dynamodb:PutItem", "--resource", catalog, "--principal", ingest)
    assert (code, report["decision"]) == (0, "Allow")
    code, report = explain(capsys, config, "--action", "dynamodb:Scan", "--resource", catalog, "--principal", developer)
    assert (code, report["decision"]) == (0, "Allow")


STACKSET = "stacksets-exec-7f3e9a1b2c4d5e6f7a8b9c0d1e2f3a4b"


@pytest.mark.parametrize(
    ("account", "action", "resource", "decision", "statement"),
    [
        # A StackSet's execution role where the product runs: the governance stack's rules and the bus policy are
        # the deployer's
        (
            GOV,
            "events:DisableRule",
            f"arn:aws:events:us-east-1:{GOV}:rule/MlGovEndpointAudit-WeeklyScan1-AB",
            "Deny",
            "DenyProductRuleChangesByStackSets",
        ),
        (
            GOV,
            "events:PutTargets",
            f"arn:aws:events:us-east-1:{GOV}:rule/MlGovEndpointAudit-Audit-CD",
            "Deny",
            "DenyProductRuleChangesByStackSets",
        ),
        (GOV, "events:PutPermission", "*", "Deny", "DenyGovernanceBusPolicyChanges"),
        (GOV, "events:RemovePermission", "*", "Deny", "DenyGovernanceBusPolicyChanges"),
        # In a member account the member StackSet keeps the forwarding rule
        (
            "210987654321",
            "events:PutRule",
            "arn:aws:events:us-east-1:210987654321:rule/mlgov-forward-sagemaker-events",
            "Allow",
            None,
        ),
        (
            "210987654321",
            "events:PutTargets",
            "arn:aws:events:us-east-1:210987654321:rule/mlgov-forward-sagemaker-events",
            "Allow",
            None,
        ),
    ],
)
def test_explain_judges_the_stacksets_execution_role(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    account: str,
    action: str,
    resource: str,
    decision: str,
    statement: str | None,
) -> None:
    principal = f"arn:aws:iam::{account}:role/{STACKSET}"
    code, report = explain(capsys, config, "--action", action, "--resource", resource, "--principal", principal)
    assert (code, report["decision"], report["statement"]) == (3 if decision == "Deny" else 0, decision, statement)
    if decision == "Deny":
        assert "StackSet" in report["why"] and "npx cdk deploy MlGovEndpointAudit" in report["what_to_do"]
        # The bus deny is on the product guard; the rule deny rides on mlgov-protected-roles (it names only the
        # governance stack's rules): the note says so only where it is true
        on_product_guard = report["policy"] == "mlgov-product-guard"
        assert ("This SCP attaches only where the product runs" in report["why"]) == on_product_guard
        assert on_product_guard == (statement == "DenyGovernanceBusPolicyChanges")
    # The deployer is still allowed where the product runs
    deployer = f"arn:aws:iam::{GOV}:role/cdk-hnb659fds-cfn-exec-role-{GOV}-us-east-1"
    if account == GOV:
        code, report = explain(capsys, config, "--action", action, "--resource", resource, "--principal", deployer)
        assert (code, report["decision"]) == (0, "Allow")


def test_explain_refuses_a_deployer_pattern_every_stackset_matches(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "cdk.json"
    settings = {"guardrails": {"governance_target_ids": [GOV], "deployer_role_arns": ["arn:aws:iam::*:role/*"]}}
    path.write_text(json.dumps({"context": {"mlgov": settings}}))
    code = main(["guardrails", "explain", "--config", str(path), "--action", "events:PutPermission"])
    assert code == 2
    err = capsys.readouterr().err
    assert "deployer_role_arns" in err and "stacksets-exec-*" in err
