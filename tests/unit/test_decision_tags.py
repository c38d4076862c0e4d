"""Tags a decision rests on are governance tags: the guardrail SCPs keep their changes to the pipeline.

Given the settings (defaults, or the tag keys renamed), when someone outside the pipeline adds or removes
such a tag on an endpoint, then the synthesized SCPs deny it (evaluated by the independent evaluator)."""

from __future__ import annotations

import pytest

from mlgov.policy_eval import evaluate
from mlgov.settings import decision_tag_keys, parse_settings
from stacks.guardrail_policies import guardrail_policies

PROD = "210987654321"
ENDPOINT = f"arn:aws:sagemaker:us-east-1:{PROD}:endpoint/manga-recommender-prod"
HUMAN = f"arn:aws:iam::{PROD}:role/DataScientist"
PIPELINE = f"arn:aws:iam::{PROD}:role/mlgov-protected/MlGovDeploymentPipeline-prod"
GUARDRAILS = {"target_ou_ids": ["ou-ab12-prodwork"]}


def _decision(settings_raw: dict, action: str, principal: str, keys: list[str], tags: dict[str, str]) -> str:
    policies = {p.name: p.document for p in guardrail_policies(parse_settings(settings_raw))}
    context = {
        "aws:PrincipalArn": principal,
        "aws:PrincipalAccount": PROD,
        "aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/r-ab12/ou-ab12-prodwork/"],
        "aws:TagKeys": keys,
        **{f"aws:RequestTag/{k}": v for k, v in tags.items()},
    }
    return evaluate(policies, action, ENDPOINT, context).decision


@pytest.mark.parametrize(
    ("name", "settings_raw", "action", "tags"),
    [
        # The reproduced attack: a production endpoint tagged dev turns a scale-to-zero page into a ticket.
        ("environment=dev on a production endpoint", {}, "sagemaker:AddTags", {"environment": "dev"}),
        ("environment tag removed", {}, "sagemaker:DeleteTags", {"environment": ""}),
        ("Environment, other case", {}, "sagemaker:AddTags", {"Environment": "test"}),
        ("managed_by removed to leave the retirement audit", {}, "sagemaker:DeleteTags", {"managed_by": ""}),
        ("endpoint_purpose=active to dodge retirement", {}, "sagemaker:AddTags", {"endpoint_purpose": "active"}),
        (
            "renamed environment key",
            {"capacity": {"environment_tag_key": "stage"}},
            "sagemaker:AddTags",
            {"stage": "sandbox"},
        ),
        (
            "renamed purpose and watch keys",
            {"retirement": {"purpose_tag_key": "lifecycle", "managed_by_tag_key": "owner-pipeline"}},
            "sagemaker:DeleteTags",
            {"lifecycle": "", "owner-pipeline": ""},
        ),
        (
            "operator narrowed governance_tag_keys: decision tags are still added",
            {"guardrails": {"governance_tag_keys": ["ModelPackageName"]}},
            "sagemaker:AddTags",
            {"environment": "dev"},
        ),
    ],
)
def test_a_decision_tag_changed_outside_the_pipeline_is_denied(
    name: str, settings_raw: dict, action: str, tags: dict[str, str]
) -> None:
    raw = {**settings_raw, "guardrails": {**GUARDRAILS, **settings_raw.get("guardrails", {})}}
    assert _decision(raw, action, HUMAN, list(tags), tags) == "Deny", name
    assert _decision(raw, action, PIPELINE, list(tags), tags) == "Allow", name


def test_tags_no_decision_rests_on_stay_free() -> None:
    # Owner and team only name who to ask; cost tags decide nothing.
    for tags in ({"owner": "alice"}, {"team": "recsys"}, {"cost-center": "42"}):
        assert _decision({"guardrails": GUARDRAILS}, "sagemaker:AddTags", HUMAN, list(tags), tags) == "Allow"


def test_every_decision_tag_is_a_governance_tag() -> None:
    settings = parse_settings({"capacity": {"environment_tag_key": "Stage"}})
    governed = {k.lower() for k in settings.guardrails.governance_tag_keys}
    assert {k.lower() for k in decision_tag_keys(settings)} <= governed
    # Added once, whatever the case: the SCP compares keys case-insensitively.
    again = parse_settings({"guardrails": {"governance_tag_keys": ["ModelPackageName", "ENVIRONMENT"]}})
    assert [k.lower() for k in again.guardrails.governance_tag_keys].count("environment") == 1
