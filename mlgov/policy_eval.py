"""Evaluate IAM/SCP policy documents for one request with an independent evaluator
(principalmapper's local policy simulation), and say which statement decides.

Used by `mlgov guardrails explain` and the decision-matrix tests.
"""

from __future__ import annotations

import collections
import collections.abc
from dataclasses import dataclass
from typing import Any

# principalmapper 1.1.5 still imports collections.Mapping/MutableMapping, removed in Python 3.10.
for _name in ("Mapping", "MutableMapping"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

from principalmapper.querying import local_policy_simulation as lps  # noqa: E402
from principalmapper.util.case_insensitive_dict import CaseInsensitiveDict  # noqa: E402

_original_str_match = lps._get_str_match


def _str_match_with_iam_semantics(block: str, policy_key: str, policy_value: Any, context: Any) -> bool:
    # principalmapper 1.1.5 returns False for StringNotLike on a key absent from the request;
    # IAM evaluates every negated operator (without IfExists) as true for an absent key. A request
    # without the ModelPackageName tag must match "StringNotLike aws:RequestTag/ModelPackageName".
    if "StringNotLike" in block and "IfExists" not in block and policy_key not in context:
        return True
    return bool(_original_str_match(block, policy_key, policy_value, context))


lps._get_str_match = _str_match_with_iam_semantics


@dataclass(frozen=True)
class Evaluation:
    decision: str  # Allow | Deny
    statement: str | None  # Sid of the deciding statement (None: allowed by default)
    policy: str | None


def evaluate(
    policies: dict[str, dict[str, Any]],
    action: str,
    resource: str,
    context: dict[str, Any],
    default_allow: bool = True,
) -> Evaluation:
    """An explicit Deny in any policy wins; otherwise Allow when a statement allows it or, for SCPs
    next to FullAWSAccess, by default."""
    ctx = CaseInsensitiveDict(context)
    allowed_by: tuple[str | None, str | None] | None = None
    for name, document in policies.items():
        for statement in document["Statement"]:
            single = {"Statement": [statement]}
            if statement["Effect"] == "Deny" and lps.policy_has_matching_statement(
                single, "Deny", action, resource, ctx
            ):
                return Evaluation("Deny", statement.get("Sid"), name)
            if (
                allowed_by is None
                and statement["Effect"] == "Allow"
                and lps.policy_has_matching_statement(single, "Allow", action, resource, ctx)
            ):
                allowed_by = (statement.get("Sid"), name)
    if allowed_by:
        return Evaluation("Allow", *allowed_by)
    return Evaluation("Allow" if default_allow else "Deny", None, None)
