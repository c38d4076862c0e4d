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
