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
from mlgov_runtime.challenger import logic
from mlgov_runtime.challenger.config import COUNTS_TABLE
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


# -- every reason a look gives in table mode speaks of the table, never of the recommender's CloudWatch metrics

# What only the CloudWatch source says: its writers' action, its namespace, how the recommender publishes there.
CLOUDWATCH_ONLY = re.compile(
    r"PutMetricData|cloudwatch:|namespace|recommender publishes|custom metrics|recommender's \w+ metric", re.I
)
# A reason that blames the counts or their writer, or says what the recommender must write.
ABOUT_THE_COUNTS = re.compile(r"forged|who wrote|recommender's|recommender writes|recommender must", re.I)
Change = Callable[[dict[str, list[float | None]], dict[str, list[float | None]]], None]


def _scenarios() -> list[tuple[str, int, Change, dict[str, Any], str]]:
    """(name, minutes, what is done to the honest series, DecisionConfig changes, the decision it gives): one per
    way the gate ends a look."""

    def scale(key: str, by: float) -> Change:
        def change(prod: dict[str, list[float | None]], chal: dict[str, list[float | None]]) -> None:
            chal[key] = [(x or 0) * by for x in chal[key]]

        return change

    def add(**extra: float) -> Change:
        def change(prod: dict[str, list[float | None]], chal: dict[str, list[float | None]]) -> None:
            for key, n in extra.items():
                chal[key] = [(x or 0) + n for x in chal[key]]

        return change

    def drop(*keys: str) -> Change:
        def change(prod: dict[str, list[float | None]], chal: dict[str, list[float | None]]) -> None:
            for key in keys:
                chal[key] = [None] * len(chal[key])

        return change

    loose = {"impressions_ratio_tolerance": 0.5}
    ends = {"min_minutes": 20, "max_minutes": 20}
    return [
        ("clicks over impressions", 30, add(clicks=400), {}, "STOP_INVALID"),
        ("impressions outside SageMaker's band", 30, scale("impressions", 30), {}, "STOP_INVALID"),
        ("impressions without invocations", 30, scale("invocations", 0), {}, "STOP_INVALID"),
        ("impressions per invocation differ", 60, scale("impressions", 2), {}, "STOP_INVALID"),
        ("implausible CTR", 180, scale("clicks", 3), {}, "STOP_INVALID"),
        ("clicks missing", 20, drop("clicks"), {}, "PAUSED"),
        ("clicks missing to the end", 20, drop("clicks"), ends, "INSUFFICIENT_DATA"),
        ("invocations missing", 20, drop("invocations"), {}, "PAUSED"),
        ("a guardrail count missing", 180, drop("json_failures"), {}, "PAUSED"),
        ("a SageMaker guardrail metric missing", 180, drop("latency_sum", "latency_count"), {}, "PAUSED"),
        ("split off", 30, add(invocations=40, errors_5xx=40), loose, "STOP_INVALID"),
        ("a worse challenger", 180, scale("clicks", 0.8), {}, "REJECT"),
        ("a breached guardrail", 30, add(errors_5xx=40), {}, "REJECT"),
        ("a better challenger", 180, scale("clicks", 1.1), {}, "PROMOTE"),
        ("too early", 15, add(), {}, "CONTINUE"),
    ]


class Served:
    """The look's metrics port: the given series of both variants, no value that is not a count."""

    problems: tuple[dict[str, Any], ...] = ()

    def __init__(self, prod: dict[str, list[float | None]], chal: dict[str, list[float | None]]) -> None:
        self.series = {"AllTraffic": prod, "challenger-v5": chal}

    def variant_series(self, endpoint: str, variants: list[str], start: Any, end: Any) -> Any:
        return self.series


def looks(source: str) -> list[tuple[str, dict[str, Any]]]:
    """Each scenario's look through logic.look, the counts read from `source`."""
    from datetime import UTC, datetime, timedelta

    from mlgov_runtime.challenger.config import ChallengerConfig, MetricNames
    from mlgov_runtime.challenger.inputs import DecisionConfig
    from tests.unit.test_challenger_gate import _honest

    out = []
    t0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    ch: dict[str, Any] = {"endpoint_name": "manga-recommender-prod", "production_variant": "AllTraffic"}
    ch |= {"challenger_variant": "challenger-v5", "traffic_fraction": 0.1}
    for name, minutes, change, decision, expected in _scenarios():
        prod, chal = _honest(minutes)
        change(prod, chal)
        metrics = MetricNames(cart_adds=None, distinct_titles=None, source=source, writers=WRITERS, deployers=DEPLOYERS)
        cfg = ChallengerConfig(decision=DecisionConfig(**decision), metrics=metrics)
        now = t0 + timedelta(minutes=minutes + cfg.decision.settle_minutes)
        look = logic.look(Served(prod, chal), cfg, ch, t0, now)  # type: ignore[arg-type]
        assert look["decision"] == expected, (name, look["result"]["reasons"])
        out.append((name, look))
    return out


def _reasons(look: dict[str, Any]) -> list[str]:
    """Every reason of a look: the result's, and the cross-checks' kept in the finding's evidence."""
    stats = look["result"]["statistics"]
    checks = [stats.get(c) for c in ("impressions_crosscheck", "impressions_agreement")]
    return list(look["result"]["reasons"]) + [c["reason"] for c in checks if isinstance(c, dict) and "reason" in c]


NOT_THE_TABLES = ("split off", "invocations missing")


def test_every_reason_a_look_gives_in_table_mode_names_the_table_never_cloudwatch() -> None:
    for name, look in looks("table"):
        for reason in _reasons(look):
            assert not CLOUDWATCH_ONLY.search(reason), (name, reason)
            assert not ABOUT_THE_COUNTS.search(reason) or COUNTS_TABLE in reason, (name, reason)
        # Split off and SageMaker's own Invocations missing are not the table's to fix
        if look["decision"] in ("STOP_INVALID", "PAUSED", "INSUFFICIENT_DATA") and name not in NOT_THE_TABLES:
            assert any(COUNTS_TABLE in r for r in _reasons(look)), (name, _reasons(look))


def test_the_cloudwatch_source_keeps_its_words() -> None:
    # The same looks with the CloudWatch source name CloudTrail PutMetricData and never the table
    said = {name: " ".join(_reasons(look)) for name, look in looks("cloudwatch")}
    for name in ("clicks over impressions", "impressions outside SageMaker's band", "implausible CTR"):
        assert "Find who wrote the metric (CloudTrail PutMetricData on the recommendation namespace)" in said[name]
    assert "Check CloudTrail PutMetricData on the recommendation namespace" in said["impressions per invocation differ"]
    assert "EndpointName and VariantName dimensions (a wrong VariantName" in said["clicks missing"]
    assert not any(COUNTS_TABLE in text for text in said.values())


@pytest.mark.parametrize("source", ["cloudwatch", "table"])
def test_missing_invocations_point_at_sagemaker_not_at_what_the_recommender_writes(source: str) -> None:
    # SageMaker writes Invocations in both modes: a missing one is a wrong variant/endpoint name, a variant
    # without traffic or SageMaker's delay, never the recommender's metrics or table
    from mlgov_runtime.challenger import findings
    from mlgov_runtime.challenger.gate import INVOCATIONS_HINT

    look = dict(looks(source))["invocations missing"]
    reason = " ".join(look["result"]["reasons"])
    assert "AWS/SageMaker Invocations has no datapoint for the challenger variant" in reason
    assert INVOCATIONS_HINT in reason
    assert not re.search(r"recommender (publishes|writes)", reason), reason
    ch = {"endpoint_name": "manga-recommender-prod", "production_variant": "AllTraffic"}
    ch |= {
        "challenger_variant": "challenger-v5",
        "model_package_arn": "arn:aws:sagemaker:us-east-1:1:model-package/m/5",
    }
    detail = findings.data_missing_finding(ch, look["result"], "123456789012", "us-east-1").detail
    next_step = detail.split("Next: ", 1)[1]
    assert (
        "aws cloudwatch list-metrics --region us-east-1 --namespace AWS/SageMaker --metric-name Invocations "
        "--dimensions Name=EndpointName,Value=manga-recommender-prod" in next_step
    )
    assert "aws sagemaker describe-endpoint --region us-east-1 --endpoint-name manga-recommender-prod" in next_step
    assert "if challenger-v5 is not listed" in next_step
    assert "dynamodb" not in next_step and not re.search(r"recommender(s'|'s| publishes| writes)", next_step)
