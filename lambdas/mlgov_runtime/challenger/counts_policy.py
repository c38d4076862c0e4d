"""The counts table's seal, checked before a count from it is believed (a table of that name may not be the
product's). Compared by meaning: DynamoDB re-spells a policy (a one-element list as a string, "*" as {"AWS": "*"})."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from mlgov_runtime.challenger.config import COUNTS_TABLE
from mlgov_runtime.core.permissions import TABLE_CONTROLS, TABLE_WRITES

WRITERS_SID = "OnlyMetricWritersWrite"
CONTROLS_SID = "ControlsOnlyByDeploy"
SEALED_WRITES, SEAL_CONTROLS = TABLE_WRITES, TABLE_CONTROLS


class UnsealedCountsTable(RuntimeError):
    """No count is believed from this table: the step fails (CHALLENGER_FAILED), `status` exits with the error."""


def table_arn(partition: str, region: str, account: str) -> str:
    return f"arn:{partition}:dynamodb:{region}:{account}:table/{COUNTS_TABLE}"


def unsealed(arn: str, why: str, writers: Sequence[str], deployers: Sequence[str] = ()) -> UnsealedCountsTable:
    who = f"writers: {', '.join(writers)}" + (f"; deployers: {', '.join(deployers)}" if deployers else "")
    return UnsealedCountsTable(
        f"DynamoDB table {COUNTS_TABLE} ({arn}) is not sealed by the product: {why}. No verdict from its counts "
        f"({who}). Delete a table the product did not create (never import it), then deploy; "
        "a policy changed out of band is restored by deploying (who: CloudTrail PutResourcePolicy on the table)."
    )


def policy_problem(document: str | None, writers: Sequence[str], arn: str, deployers: Sequence[str]) -> str | None:
    """Why `document` (GetResourcePolicy's Policy; None: none) is not the seal for exactly these writers and
    deployers (who may change the table and its policy: stacks/challenger.py's deploying roles), or None."""
    if not writers:
        return "no metric writer is configured to compare its policy with (guardrails.metric_writer_role_arns)"
    if not deployers:
        return (
            "no deployer is configured to compare its policy with (guardrails.deployer_role_arns, role_admin_arns, "
            "break_glass_role_arns)"
        )
    if document is None:
        return "it has no resource policy"
    try:
        statements = json.loads(document).get("Statement")
    except (TypeError, ValueError, AttributeError):
        return "its resource policy is not JSON"
    statements = [statements] if isinstance(statements, dict) else statements
    by_sid: dict[str, list[dict[str, Any]]] = {}
    for s in statements if isinstance(statements, list) else []:
        if isinstance(s, dict):
            by_sid.setdefault(str(s.get("Sid", "")), []).append(s)
    return _deny_problem(by_sid, WRITERS_SID, SEALED_WRITES, arn, writers, "writers") or _deny_problem(
        by_sid, CONTROLS_SID, SEAL_CONTROLS, arn, deployers, "deployers"
    )


def _deny_problem(
    by_sid: dict[str, list[dict[str, Any]]],
    sid: str,
    actions: Sequence[str],
    arn: str,
    exempt: Sequence[str],
    exempt_are: str,
) -> str | None:
    """Whether statement `sid` denies every principal but exactly `exempt` each of `actions` on the table."""
    found = by_sid.get(sid) or []
    if len(found) != 1:
        return f"its resource policy has {len(found)} statements with Sid {sid}, not 1"
    s, what = found[0], f"its {sid} statement"
    if s.get("Effect") != "Deny":
        return f"{what}'s Effect is {s.get('Effect')!r}, not Deny"
    if {"NotPrincipal", "NotAction", "NotResource"} & set(s):
        return f"{what} uses NotPrincipal, NotAction or NotResource"
    who = s.get("Principal")
    if who != "*" and not (isinstance(who, dict) and set(who) == {"AWS"} and _strings(who["AWS"]) == ["*"]):
        return f"{what} does not apply to every principal (Principal {json.dumps(who)})"
    granted = _strings(s.get("Action"))
    uncovered = [a for a in actions if not any(iam_like(g, a, fold=True) for g in granted)]
    if uncovered:
        return f"{what} does not deny {', '.join(uncovered)}"
    if not any(iam_like(r, arn) for r in _strings(s.get("Resource"))):
        return f"{what}'s Resource does not cover the table"
    c = s.get("Condition")
    like: Any = c.get("ArnNotLike") if isinstance(c, dict) and list(c) == ["ArnNotLike"] else None
    if not isinstance(like, dict) or [k.lower() for k in like] != ["aws:principalarn"] or not _strings(*like.values()):
        return f"{what}'s Condition is not one ArnNotLike on aws:PrincipalArn ({json.dumps(c)})"
    listed = set(_strings(*like.values()))
    if listed != set(exempt):
        missing, extra = sorted(set(exempt) - listed), sorted(listed - set(exempt))
        parts = [f"missing {', '.join(missing)}"] * bool(missing) + [f"also exempting {', '.join(extra)}"] * bool(extra)
        return f"{what}'s {exempt_are} differ from the configured ones ({'; '.join(parts)})"
    return None


def iam_like(pattern: str, value: str, fold: bool = False) -> bool:
    """IAM's wildcard match: only * and ? are wildcards, the rest (brackets too) literal; `fold`: ignoring case
    (action names). fnmatch would read [..] as a character class, which IAM does not."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if fold else re.DOTALL) is not None


def _strings(value: Any) -> list[str]:
    """A policy element that may be one string or a list of them; anything else: nothing."""
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return items if all(isinstance(v, str) for v in items) else []
