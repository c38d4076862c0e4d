"""The counts table's seal as the watch checks it (challenger/counts_policy.py): the product's policy, however DynamoDB
spells it back, passes; any policy that lets someone else write, or lets someone else take the seal off, fails,
naming what is wrong. And the table source's messages never send anyone to CloudWatch."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlgov.challenger_estate import DEFAULT_DEPLOYERS, counts_table_policy
from mlgov_runtime.challenger import gate, logic
from mlgov_runtime.challenger.counts_policy import (
    CONTROLS_SID,
    SEAL_CONTROLS,
    SEALED_WRITES,
    WRITERS_SID,
    policy_problem,
    table_arn,
)

ARN = table_arn("aws", "us-east-1", "123456789012")
WRITERS = ("arn:*:iam::*:role/mlgov-protected/MlGovRecommenderMetrics*", "arn:aws:iam::123456789012:role/BreakGlass")
DEPLOYERS = DEFAULT_DEPLOYERS
ROOT = Path(__file__).resolve().parents[2]


def _policy() -> dict[str, Any]:
    return counts_table_policy(WRITERS)


def _statement(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    [found] = [s for s in policy["Statement"] if s["Sid"] == sid]
    return found


def test_the_products_seal_passes_however_dynamodb_spells_it() -> None:
    assert policy_problem(json.dumps(_policy()), WRITERS, ARN, DEPLOYERS) is None
    # One-element lists as strings, "*" as a string, the table's ARN for "*", another order, whitespace
    respelled = _policy()
    for statement in respelled["Statement"]:
        statement["Principal"] = "*"
        statement["Resource"] = [ARN]
    respelled["Statement"].reverse()
    _statement(respelled, WRITERS_SID)["Condition"]["ArnNotLike"]["aws:PrincipalArn"] = list(reversed(WRITERS))
    assert policy_problem(json.dumps(respelled, indent=4), WRITERS, ARN, DEPLOYERS) is None
    one = counts_table_policy(WRITERS[:1])
    _statement(one, WRITERS_SID)["Condition"]["ArnNotLike"]["aws:PrincipalArn"] = WRITERS[0]
    assert policy_problem(json.dumps(one), WRITERS[:1], ARN, DEPLOYERS) is None


def _edit(change: Callable[[dict[str, Any]], None]) -> str:
    policy = copy.deepcopy(_policy())
    change(policy)
    return json.dumps(policy)


def _deployers_of(policy: dict[str, Any]) -> list[str]:
    names: list[str] = _statement(policy, CONTROLS_SID)["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    return names


def _writers_of(policy: dict[str, Any]) -> list[str]:
    names: list[str] = _statement(policy, WRITERS_SID)["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    return names


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda p: _writers_of(p).append("arn:aws:iam::123456789012:role/Developer"), "also exempting .*Developer"),
        (lambda p: _writers_of(p).remove(WRITERS[1]), "missing .*BreakGlass"),
        (lambda p: _statement(p, WRITERS_SID).update(Effect="Allow"), "Effect is 'Allow'"),
        (lambda p: _statement(p, WRITERS_SID).update(Principal={"AWS": ARN}), "every principal"),
        (lambda p: _statement(p, WRITERS_SID)["Action"].remove("dynamodb:UpdateItem"), "does not deny .*UpdateItem"),
        (lambda p: _statement(p, WRITERS_SID).update(Resource=ARN + "-other"), "Resource does not cover"),
        (lambda p: _statement(p, WRITERS_SID).update(NotResource=ARN), "NotResource"),
        (
            lambda p: _statement(p, WRITERS_SID)["Condition"].update(Bool={"aws:ViaAWSService": "true"}),
            "Condition is not one ArnNotLike",
        ),
        (lambda p: p["Statement"].append(_statement(p, WRITERS_SID)), f"2 statements with Sid {WRITERS_SID}"),
        (lambda p: p["Statement"].remove(_statement(p, CONTROLS_SID)), f"0 statements with Sid {CONTROLS_SID}"),
        (
            lambda p: _statement(p, CONTROLS_SID)["Action"].remove("dynamodb:DeleteResourcePolicy"),
            "does not deny dynamodb:DeleteResourcePolicy",
        ),
        (lambda p: _statement(p, CONTROLS_SID).update(Condition={}), "Condition is not one ArnNotLike"),
        (
            lambda p: _deployers_of(p).append("arn:aws:iam::*:*"),
            rf"{CONTROLS_SID} statement's deployers differ .*also exempting arn:aws:iam::\*:\*",
        ),
        (lambda p: _deployers_of(p).pop(), f"{CONTROLS_SID} statement's deployers differ .*missing .*MlGovRoleAdmin"),
        (lambda p: _statement(p, WRITERS_SID).update(Action="dynamodb:[A-Z]*"), "does not deny dynamodb:PutItem"),
        (lambda p: _statement(p, CONTROLS_SID).update(Resource="[a]*"), "Resource does not cover"),
    ],
)
def test_a_policy_that_is_not_the_products_seal_fails_naming_what_is_wrong(
    change: Callable[[dict[str, Any]], None], why: str
) -> None:
    problem = policy_problem(_edit(change), WRITERS, ARN, DEPLOYERS)
    assert problem is not None and re.search(why, problem), problem


def test_no_policy_or_no_writers_is_no_seal() -> None:
    assert policy_problem(None, WRITERS, ARN, DEPLOYERS) == "it has no resource policy"
    assert "not JSON" in str(policy_problem("{", WRITERS, ARN, DEPLOYERS))
    assert "no metric writer" in str(policy_problem(json.dumps(_policy()), (), ARN, DEPLOYERS))
    assert "no deployer" in str(policy_problem(json.dumps(_policy()), WRITERS, ARN, ()))


def test_what_the_seal_must_deny_is_what_the_stack_denies() -> None:
    from stacks.building_blocks import EVERY_TABLE_CONTROL, TABLE_WRITES

    # The function's list may lag the stack's (a new action the stack denies too), never lead it: a seal the
    # stack never puts would fail every look.
    assert set(SEALED_WRITES) <= set(TABLE_WRITES)
    assert set(SEAL_CONTROLS) <= set(EVERY_TABLE_CONTROL)


def test_the_gates_cloudwatch_words_are_all_rewritten_in_table_mode() -> None:
    """Every CloudWatch-only word of gate.py's reasons sits in a constant table_words rewrites."""
    constants = {"FORGED_BY", "FORGED_SHORT", "FIND_WRITER", "CHECK_WRITER"}
    source = (ROOT / "lambdas" / "mlgov_runtime" / "challenger" / "gate.py").read_text().splitlines()
    hits = [line.split("=")[0].strip() for line in source if "PutMetricData" in line]
    assert set(hits) == constants and len(hits) == len(constants)
    for name in constants:
        text = f"before {getattr(gate, name)} after"
        rewritten = logic.table_words(text, WRITERS)
        assert "PutMetricData" not in rewritten and "mlgov-recommendation-counts" in rewritten
