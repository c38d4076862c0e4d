"""Small look-ups in a synthesized template, shared by the per-capability stack tests."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template


def _one(template: Template, type_: str, props: dict[str, Any] | None = None, prefix: str = "") -> dict[str, Any]:
    found = {
        k: v
        for k, v in template.find_resources(type_, {"Properties": props} if props else None).items()
        if k.startswith(prefix)
    }
    assert len(found) == 1, f"expected one {type_} under {prefix or 'the stack'}, found {len(found)}"
    return next(iter(found.values()))["Properties"]


def _role_actions(template: Template, prefix: str) -> set[str]:
    actions: set[str] = set()
    for logical_id, policy in template.find_resources("AWS::IAM::Policy").items():
        if not logical_id.startswith(prefix):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            value = statement["Action"]
            actions.update([value] if isinstance(value, str) else value)
    return actions


# What every product function's role holds besides its capability's actions: its log stream, its key, tracing.
FUNCTION_BASE_ACTIONS = frozenset(
    {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
)

ACCOUNT, REGION = "123456789012", "us-east-1"


def concrete(value: Any) -> Any:
    """A template fragment with its intrinsics made plain values (roles' ARNs named after their logical
    ids), so an independent evaluator can judge the policy."""
    if isinstance(value, list):
        return [concrete(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}.get(
            value["Ref"], f"ref-{value['Ref']}"
        )
    if "Fn::GetAtt" in value:
        logical, attribute = value["Fn::GetAtt"]
        if attribute == "Arn" and "Role" in logical:
            return f"arn:aws:iam::{ACCOUNT}:role/{logical}"
        return f"arn:aws:{logical}:{attribute}"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(concrete(p)) for p in parts)
    return {k: concrete(v) for k, v in value.items()}


def role_arn_of(template: Template, prefix: str) -> str:
    [logical] = [k for k in template.find_resources("AWS::IAM::Role") if k.startswith(prefix)]
    return f"arn:aws:iam::{ACCOUNT}:role/{logical}"
