"""Service limits on the resource policies the last stop added, in a heavy but plausible configuration.

The deny-only policies name the product's roles by ARN and the settings' role lists by pattern, so they grow with
the configuration. Each is measured as the service counts it, with every CloudFormation reference made as long
as it can be once deployed (a role ARN in aws-us-gov with a 64-character name; any other ARN 200 characters):
Secrets Manager 20,480 characters; DynamoDB 20 KB, whitespace counted (measured indented, larger than what
CloudFormation sends); S3 20 KB; KMS 32 KB; SNS 30 KB; SQS 8,192 bytes, 20 statements, 7 actions a statement.
One synth for the module.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from mlgov.guardrails import SCP_MAX_CHARS, guardrail_policies
from mlgov.settings import parse_settings
from tests.infrastructure.templates import concrete

GOV = "999988887777"
EXPERIMENT, STAGING, EXPERIMENT_OU = "111122223333", "345678901234", "ou-ab12-exprmnts"
ROLES = 2  # per allow-list, as the heavy SCP configuration (test_guardrail_matrix): the SCPs' 5,120 cap them


def _roles(name: str) -> list[str]:
    return [f"arn:aws:iam::*:role/mlgov-protected/{name}-{i}*" for i in range(ROLES)]


HEAVY: dict[str, Any] = {
    "watched_model_package_groups": [f"manga-recommender-{i:02d}" for i in range(10)],
    "retraining": {"model_package_group": "manga-recommender-00"},
    "challenger": {"endpoints": {"manga-recommender-00": "manga-recommender-prod"}},
    "alert_routing": {"redrive_role_arns": _roles("MlGovRedrive")},
    "approvals": {
        "slack_buttons": True,
        "approvers": {
            "retirement": [f"arn:aws:iam::{GOV}:role/mlgov-protected/Approver-{i}" for i in range(5)],
            "challenger": [f"arn:aws:iam::{GOV}:role/mlgov-protected/ChallengerApprover-{i}" for i in range(5)],
        },
        "slack_approvers": {
            f"U0APPROVER{i}": f"arn:aws:iam::{GOV}:role/mlgov-protected/Approver-{i}" for i in range(5)
        },
    },
    "guardrails": {
        "target_ou_ids": ["ou-ab12-prodwork", "ou-ab12-stagingx"],
        "governance_target_ids": [GOV],
        "pipeline_role_arns": _roles("MlGovDeploymentPipeline"),
        "approver_role_arns": _roles("MlGovModelApprover"),
        "break_glass_role_arns": _roles("MlGovBreakGlass"),
        "operator_role_arns": _roles("MlGovOperator"),
        "metric_writer_role_arns": _roles("MlGovRecommenderMetrics"),
        "serving_repository_names": [f"serving/manga-recommender-{i}" for i in range(5)],
    },
}

# The SCP matrix's heavy configuration (test_a_heavy_but_plausible_configuration_fits_every_scp): experiment
# exemptions double the endpoint-lineage statements. The synth above leaves them out (see the last tests).
EXEMPTIONS = {"account_ids": [EXPERIMENT, STAGING], "organizational_unit_ids": [EXPERIMENT_OU]}
MATRIX_HEAVY = {
    **{k: v for k, v in HEAVY.items() if k not in ("alert_routing", "approvals")},
    "experiment_exemptions": EXEMPTIONS,
}

# What each service allows a resource policy (bytes unless said).
SECRET_MAX_CHARS = 20_480
DYNAMODB_MAX = 20 * 1024
S3_MAX = 20 * 1024
KMS_MAX = 32 * 1024
SNS_MAX = 30 * 1024
SQS_MAX, SQS_STATEMENTS, SQS_ACTIONS = 8_192, 20, 7

LONGEST_ROLE = "arn:aws-us-gov:iam::123456789012:role/" + "R" * 64
LONGEST_ARN = "arn:aws-us-gov:" + "x" * 185


@pytest.fixture(scope="module")
def heavy() -> dict[str, Any]:
    from aws_cdk.assertions import Template

    from app import build_app
    from stacks.constants import AUDIT_STACK_NAME

    stack: Any = build_app(context={"mlgov": HEAVY}).node.find_child(AUDIT_STACK_NAME)
    return dict(Template.from_stack(stack).to_json()["Resources"])


def deployed(fragment: Any) -> Any:
    """The fragment with each reference as long as it can be deployed."""
    text = json.dumps(concrete(fragment))
    text = re.sub(r"arn:aws:iam::123456789012:role/\w+", LONGEST_ROLE, text)
    text = re.sub(r"arn:aws:\w+:\w+(?=\")", LONGEST_ARN, text)  # a GetAtt (concrete: arn:aws:<logical>:<attr>)
    text = re.sub(r"ref-\w+", LONGEST_ARN, text)
    return json.loads(text)


def _policies(resources: dict[str, Any], kind: str, path: tuple[str, ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for logical, resource in resources.items():
        if resource["Type"] != kind:
            continue
        value: Any = resource["Properties"]
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        if value is not None:
            found[logical] = deployed(value)
    return found


def _compact(document: Any) -> int:
    return len(json.dumps(document, separators=(",", ":")).encode("utf-8"))


def _indented(document: Any) -> int:
    return len(json.dumps(document, indent=2).encode("utf-8"))


CASES = [
    ("AWS::SecretsManager::ResourcePolicy", ("ResourcePolicy",), SECRET_MAX_CHARS, _compact),
    ("AWS::DynamoDB::Table", ("ResourcePolicy", "PolicyDocument"), DYNAMODB_MAX, _indented),
    ("AWS::S3::BucketPolicy", ("PolicyDocument",), S3_MAX, _compact),
    ("AWS::KMS::Key", ("KeyPolicy",), KMS_MAX, _compact),
    ("AWS::SNS::TopicPolicy", ("PolicyDocument",), SNS_MAX, _compact),
    ("AWS::SQS::QueuePolicy", ("PolicyDocument",), SQS_MAX, _compact),
]


@pytest.mark.parametrize(("kind", "path", "limit", "size"), CASES, ids=[c[0] for c in CASES])
def test_every_resource_policy_fits_its_service_in_a_heavy_configuration(
    heavy: dict[str, Any], kind: str, path: tuple[str, ...], limit: int, size: Any
) -> None:
    policies = _policies(heavy, kind, path)
    assert policies, kind
    sizes = {logical: size(document) for logical, document in policies.items()}
    largest = max(sizes, key=lambda k: sizes[k])
    print(f"\n  {kind}: largest {largest} {sizes[largest]:,} of {limit:,}")
    assert sizes[largest] <= limit, (largest, sizes[largest])


def test_every_queue_policy_keeps_sqs_statement_and_action_counts(heavy: dict[str, Any]) -> None:
    for logical, document in _policies(heavy, "AWS::SQS::QueuePolicy", ("PolicyDocument",)).items():
        statements = document["Statement"]
        assert len(statements) <= SQS_STATEMENTS, logical
        for statement in statements:
            actions = statement["Action"]
            assert len([actions] if isinstance(actions, str) else actions) <= SQS_ACTIONS, (logical, statement)


def test_the_heavy_configuration_names_its_role_lists_in_the_seals(heavy: dict[str, Any]) -> None:
    """The measurement is of the heavy lists, not the defaults: the patterns reach the policies they grow."""
    text = json.dumps(heavy)
    for pattern in (
        *HEAVY["guardrails"]["operator_role_arns"],
        "arn:*:iam::*:role/cdk-hnb659fds-cfn-exec-role-*",
        *HEAVY["alert_routing"]["redrive_role_arns"],
    ):
        assert pattern in text, pattern


def test_the_heavy_configuration_with_a_second_deployer_still_fits_every_scp() -> None:
    second = "arn:aws:iam::*:role/cdk-mlgov0002-cfn-exec-role-*"
    deployers = ["arn:*:iam::*:role/cdk-hnb659fds-cfn-exec-role-*", second]
    settings = parse_settings({**HEAVY, "guardrails": {**HEAVY["guardrails"], "deployer_role_arns": deployers}})
    for policy in guardrail_policies(settings):
        assert policy.size <= SCP_MAX_CHARS, policy.name


def test_the_heavy_configuration_leaves_every_scp_room_for_new_statements() -> None:
    """What the heavy synth above stands on: each SCP keeps a tenth of Organizations' 5,120 free."""
    sizes = {p.name: p.size for p in guardrail_policies(parse_settings(HEAVY))}
    print(f"\n  {sizes}")
    assert max(sizes.values()) <= 0.9 * SCP_MAX_CHARS, sizes


def test_the_scp_matrixs_heavy_configuration_also_synthesizes_the_single_account_policies() -> None:
    from mlgov.guardrails import account_policies, permissions_boundary

    settings = parse_settings(MATRIX_HEAVY)
    assert all(p.size <= SCP_MAX_CHARS for p in guardrail_policies(settings))  # what the matrix test checks
    account_policies(settings)
    permissions_boundary(settings)
