"""The guarded organization the review tests judge calls in: a governance account and one workload OU, the
recommender's metric writers on the protected path, and each call judged by the independent evaluator on the SCPs
`attachments()` puts on its target."""

from __future__ import annotations

from typing import Any

from mlgov.guardrails import attachments, guardrail_policies
from mlgov.policy_eval import evaluate
from mlgov.settings import parse_settings
from tests.attacker.conftest import GOV

PROD, REGION = "210987654321", "us-east-1"
WORKLOAD_OU = "ou-ab12-prodwork"
WRITER = "mlgov-protected/MlGovRecommenderMetrics"
SETTINGS = parse_settings(
    {
        "guardrails": {
            "target_ou_ids": [WORKLOAD_OU],
            "governance_target_ids": [GOV],
            "metric_writer_role_arns": [f"arn:aws:iam::*:role/{WRITER}"],
        }
    }
)
SCPS = {p.name: p.document for p in guardrail_policies(SETTINGS)}
NAMESPACE = SETTINGS.challenger.metrics.namespace


def scps_on(target: str) -> dict[str, Any]:
    return {name: SCPS[name] for name, targets in attachments(SETTINGS).items() if target in targets}


def judge(target: str, account: str, role: str, action: str, resource: str, **keys: Any) -> str:
    """The decision for `role` of `account` (in the OU or account `target`) calling `action` on `resource`."""
    context = {
        "aws:PrincipalArn": f"arn:aws:iam::{account}:role/{role}",
        "aws:PrincipalAccount": account,
        "aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/r-ab12/"],
        **keys,
    }
    return evaluate(scps_on(target), action, resource, context).decision
