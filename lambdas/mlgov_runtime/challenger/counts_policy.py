"""The counts table's seal, checked before a count read from it is believed (challenger.metrics.source table).

The table's name is fixed, so a table of that name is not proof of the product's: one created before the first deploy
(and adopted), or one whose policy the account's root user deleted, lets anyone write counts. Each read first asks
DynamoDB for the table's resource policy (one GetResourcePolicy) and compares its meaning, not its bytes (DynamoDB
re-serializes a policy: a one-element list may come back as a string, `"*"` as `{"AWS": "*"}`):
- OnlyMetricWritersWrite: Deny, to every principal, every item write below, on the table, unless the caller's
  `aws:PrincipalArn` is like one of exactly the configured writers (metric writers and break-glass), nothing else;
- ControlsOnlyByDeploy: Deny, to every principal, the changes that take the seal off, unless the caller is like
  one of the deploying roles.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from typing import Any

from mlgov_runtime.challenger.config import COUNTS_TABLE

WRITERS_SID = "OnlyMetricWritersWrite"
CONTROLS_SID = "ControlsOnlyByDeploy"
# The item writes the seal must refuse (stacks/building_blocks.py TABLE_WRITES denies at least these).
SEALED_WRITES = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
)
# What takes the seal off (stacks/building_blocks.py TABLE_CONTROLS; EVERY_TABLE_CONTROL holds them).
SEAL_CONTROLS = (
    "dynamodb:PutResourcePolicy",
    "dynamodb:DeleteResourcePolicy",
    "dynamodb:UpdateTable",
    "dynamodb:UpdateTimeToLive",
    "dynamodb:DeleteTable",
)


class UnsealedCountsTable(RuntimeError):
    """The counts table's policy is missing or not the product's: no count from it is believed (the step fails)."""


def table_arn(partition: str, region: str, account: str) -> str:
    return f"arn:{partition}:dynamodb:{region}:{account}:table/{COUNTS_TABLE}"


def unsealed(arn: str, why: str, writers: Sequence[str]) -> UnsealedCountsTable:
    expected = ", ".join(writers) or "none configured"
    return UnsealedCountsTable(
        f"DynamoDB table {COUNTS_TABLE} ({arn}) is not sealed by the product: {why}. Its counts are not believed, "
        f"no verdict from them. The product's policy lets only the metric writers and break-glass ({expected}) "
        f"write items ({WRITERS_SID}) and only who deploys change the table ({CONTROLS_SID}). A table of that name "
        "the product did not create must be deleted (never imported into the stack) and the stack deployed again; "
        "a policy deleted or changed out of band is restored by deploying (find who changed it: CloudTrail "
        "PutResourcePolicy / DeleteResourcePolicy on the table)."
    )


def policy_problem(document: str | None, writers: Sequence[str], arn: str) -> str | None:
    """Why `document` (the table's policy as GetResourcePolicy returns it; None: no policy) is not the product's seal
    for these writers, or None."""
    if not writers:
        return "no metric writer is configured to compare its policy with (guardrails.metric_writer_role_arns)"
    if document is None:
        return "it has no resource policy"
    try:
        policy = json.loads(document)
    except (TypeError, ValueError):
        return "its resource policy is not JSON"
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list):
        return "its resource policy has no statements"
    by_sid: dict[str, list[dict[str, Any]]] = {}
    for statement in statements:
        if isinstance(statement, dict):
            by_sid.setdefault(str(statement.get("Sid", "")), []).append(statement)
    problem = _deny_problem(by_sid, WRITERS_SID, SEALED_WRITES, arn)
    if problem:
        return problem
    listed = _principal_patterns(by_sid[WRITERS_SID][0])
    if listed != set(writers):
        missing, extra = sorted(set(writers) - listed), sorted(listed - set(writers))
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"also exempting {', '.join(extra)}"] if extra else []
        )
        return f"its {WRITERS_SID} statement's writers differ from the configured ones ({'; '.join(parts)})"
    return _deny_problem(by_sid, CONTROLS_SID, SEAL_CONTROLS, arn)


def _deny_problem(by_sid: dict[str, list[dict[str, Any]]], sid: str, actions: Sequence[str], arn: str) -> str | None:
    found = by_sid.get(sid) or []
    if len(found) != 1:
        return f"its resource policy has {len(found)} statements with Sid {sid}, not 1"
    s = found[0]
    if s.get("Effect") != "Deny":
        return f"its {sid} statement's Effect is {s.get('Effect')!r}, not Deny"
    if any(k in s for k in ("NotPrincipal", "NotAction", "NotResource")):
        return f"its {sid} statement uses NotPrincipal, NotAction or NotResource"
    principal = s.get("Principal")
    if principal != "*" and not (
        isinstance(principal, dict) and set(principal) == {"AWS"} and _strings(principal["AWS"]) == ["*"]
    ):
        return f"its {sid} statement does not apply to every principal (Principal {json.dumps(principal)})"
    granted = _strings(s.get("Action"))
    uncovered = [a for a in actions if not any(fnmatchcase(a.lower(), g.lower()) for g in granted)]
    if uncovered:
        return f"its {sid} statement does not deny {', '.join(uncovered)}"
    if not any(fnmatchcase(arn, r) for r in _strings(s.get("Resource"))):
        return f"its {sid} statement's Resource does not cover the table"
    condition = s.get("Condition")
    if (
        not isinstance(condition, dict)
        or list(condition) != ["ArnNotLike"]
        or not isinstance(condition["ArnNotLike"], dict)
        or [k.lower() for k in condition["ArnNotLike"]] != ["aws:principalarn"]
        or not _strings(next(iter(condition["ArnNotLike"].values())))
    ):
        return f"its {sid} statement's Condition is not one ArnNotLike on aws:PrincipalArn ({json.dumps(condition)})"
    return None


def _principal_patterns(statement: dict[str, Any]) -> set[str]:
    return set(_strings(next(iter(statement["Condition"]["ArnNotLike"].values()))))


def _strings(value: Any) -> list[str]:
    """A policy element that may be one string or a list of them; anything else: nothing."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, (dict, bytes)):
        items = list(value)
        return [v for v in items if isinstance(v, str)] if all(isinstance(v, str) for v in items) else []
    return []
