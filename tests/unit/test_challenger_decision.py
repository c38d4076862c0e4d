"""Challenger CTR gate: the decision rule, its guardrails, and the vectorized copy the simulation uses."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import numpy as np
import pytest

from mlgov.challenger_simulation import CODE, decide_counts, naive_counts, simulate
from mlgov.ops.challenger_whatif import decide, naive_rule
from mlgov_runtime.challenger.decision import (
    CONTINUE,
    DECISIONS,
    INSUFFICIENT_DATA,
    PROMOTE,
    REJECT,
    STOP_INVALID,
)
from mlgov_runtime.challenger.inputs import DecisionConfig, VariantCounts
from mlgov_runtime.challenger.statistics import log_mixture_lr

# A uniform Beta(1, 1) prior on the click share, from the moment formula: mean 1/2, sd of the share
# 0.25 x log_sd = 1/sqrt(12), so concentration 0.25 / (1/12) - 1 = 2, i.e. a = b = 1.
UNIFORM_HALF = DecisionConfig(
    traffic_fraction=0.5,
    reject_prior_ratio=1.0,
    reject_prior_log_sd=2 / math.sqrt(3),
    min_impressions_per_variant=0,
    min_clicks_total=0,
)


def counts(impressions: float, clicks: float, **extra: Any) -> VariantCounts:
    return VariantCounts(impressions=impressions, clicks=clicks, **extra)


def traffic(
    per_min: float, minutes: float, ctr_p: float = 0.08, ctr_c: float = 0.08, w: float = 0.1
) -> tuple[VariantCounts, VariantCounts]:
    """Expected cumulative counts (production, challenger) after `minutes` at `per_min` impressions."""
    n_p, n_c = per_min * minutes * (1 - w), per_min * minutes * w
    return counts(n_p, round(n_p * ctr_p)), counts(n_c, round(n_c * ctr_c))


# --- the statistic, by hand -----------------------------------------------------------------------------------


def test_the_mixture_likelihood_ratio_matches_a_hand_computation() -> None:
    # Given Beta(1,1) on the challenger's click share, a null share of 0.5, and 0 challenger / 6 production clicks:
    #   mixture = integral of t^0 (1-t)^6 dt = B(1, 7) = 0!6!/7! = 1/7
    #   null    = 0.5^0 x 0.5^6 = 1/64
    #   LR      = (1/7) / (1/64) = 64/7 = 9.142857..., log LR = 2.21297...
    assert UNIFORM_HALF.reject_prior() == pytest.approx((1.0, 1.0))
    assert log_mixture_lr(0, 6, 0.5, 1.0, 1.0) == pytest.approx(math.log(64 / 7))
    # When decide() sees the same counts on a 50/50 split (100 impressions each: null share 100/200 = 0.5)
    result = decide(counts(100, 6), counts(100, 0), 10, UNIFORM_HALF)
    # Then it reports that statistic against log(1/alpha) = log(100) = 4.605 and does not reject on it
    assert result.statistics["ctr_test"]["log_mixture_lr"] == pytest.approx(math.log(64 / 7))
    assert result.statistics["ctr_test"]["threshold"] == pytest.approx(math.log(100))
    assert result.decision == CONTINUE


@pytest.mark.parametrize(("production_clicks", "decision"), [(10, CONTINUE), (11, REJECT)])
def test_rejection_starts_exactly_where_the_hand_computed_ratio_crosses_one_over_alpha(
    production_clicks: int, decision: str
) -> None:
    # Given the uniform prior and 0 challenger clicks, LR = 2^k / (k + 1) for k production clicks:
    #   k = 10: 1024 / 11 = 93.1 < 100;  k = 11: 2048 / 12 = 170.7 >= 100
    result = decide(counts(100, production_clicks), counts(100, 0), 10, UNIFORM_HALF)
    assert result.decision == decision
    assert math.exp(result.statistics["ctr_test"]["log_mixture_lr"]) == pytest.approx(
        2**production_clicks / (production_clicks + 1)
    )


# --- verdicts ---------------------------------------------------------------------------------------------------


def test_a_clear_30_percent_drop_with_lots_of_traffic_is_rejected_before_the_minimum_window() -> None:
    # Given 10 minutes at 3,500 impressions/min, challenger CTR 5.6% vs production 8%
    production, challenger = traffic(3500, 10, ctr_c=0.056)
    # When the monitor looks
    result = decide(production, challenger, 10)
    # Then it rejects now (fast fail needs no minimum window) and says what to do
    assert result.decision == REJECT
    assert result.statistics["ctr_test"]["ratio_upper"] < 1
    assert "reject the model package" in result.reasons[0]


def test_identical_ctr_with_lots_of_traffic_is_promoted_after_the_minimum_window_only() -> None:
    # Given 1,000,000 challenger impressions with the same 8% CTR as production
    production, challenger = counts(9_000_000, 720_000), counts(1_000_000, 80_000)
    # When the monitor looks after 120 minutes, the ratio's lower bound clears the 0.95 margin: PROMOTE
    result = decide(production, challenger, 120)
    assert result.decision == PROMOTE
    assert result.statistics["ctr_ratio"]["lower"] >= 0.95
    # When it looks before the 30-minute minimum window on the same counts: CONTINUE, and it says why
    early = decide(production, challenger, 20)
    assert early.decision == CONTINUE
    assert "minimum window" in early.reasons[0]


def test_tiny_traffic_continues_and_then_ends_insufficient_with_an_estimate() -> None:
    # Given the spec's traffic: ~70 impressions/min, 10% to the challenger
    config = DecisionConfig(max_minutes=30, min_minutes=30)
    # When the monitor looks at 10 minutes: too little for any verdict
    early = decide(*traffic(70, 10, ctr_c=0.07), 10, config)
    assert early.decision == CONTINUE
    assert "minimum sample" in early.reasons[0]
    # When the 30-minute window ends with ~210 challenger impressions
    late = decide(*traffic(70, 30, ctr_c=0.07), 30, config)
    # Then the result is INSUFFICIENT_DATA with how many more impressions a verdict would need
    assert late.decision == INSUFFICIENT_DATA
    needed = late.statistics["needed"]
    assert needed["additional_impressions"] > 10_000 and needed["additional_minutes"] > 30
    assert "more impressions" in " ".join(late.reasons)


def test_below_the_minimum_sample_even_a_lopsided_ctr_is_no_verdict() -> None:
    # Given 900 challenger impressions with 1 click against production's 8%: clear, but under 1,000 impressions
    production, challenger = counts(8100, 648), counts(900, 1)
    assert decide(production, challenger, 10, DecisionConfig(min_impressions_per_variant=0)).decision == REJECT
    # When the default minimum sample applies, the gate waits
    result = decide(production, challenger, 10)
    assert result.decision == CONTINUE and "minimum sample" in result.reasons[0]


def test_a_50_50_split_when_10_percent_was_configured_stops_the_comparison() -> None:
    # Given equal CTRs but the challenger serving half of the impressions
    result = decide(counts(5000, 400), counts(5000, 400), 15)
    # Then the comparison is void, whatever the CTRs say
    assert result.decision == STOP_INVALID
    assert result.statistics["srm"]["observed_share"] == 0.5
    assert "Sample-ratio mismatch" in result.reasons[0]


def test_a_split_close_to_the_configured_fraction_is_not_a_mismatch() -> None:
    production, challenger = traffic(3500, 30)
    assert decide(production, challenger, 30).statistics["srm"]["mismatch"] is False


def test_a_5xx_breach_rejects_and_names_the_guardrail_even_before_the_minimum_sample() -> None:
    # Given a challenger failing 5% of 900 invocations with 5xx while production fails 0.1%, CTRs equal
    production = counts(8100, 648, invocations=8100, errors_5xx=8)
    challenger = counts(900, 72, invocations=900, errors_5xx=45)
    result = decide(production, challenger, 5)
    # Then it rejects on the guardrail, which it names
    assert result.decision == REJECT
    breached = [g.name for g in result.guardrails if g.breached]
    assert breached == ["invocation_error_rate"]
    assert result.reasons[0].startswith("Guardrail invocation_error_rate breached")


def test_a_few_errors_on_a_small_sample_do_not_reject() -> None:
    # Given 2 challenger errors against 9 production errors on a 10% split: no clear evidence
    production = counts(8100, 648, invocations=8100, errors_5xx=9)
    challenger = counts(900, 72, invocations=900, errors_5xx=2)
    assert decide(production, challenger, 5).decision == CONTINUE


def test_a_slow_challenger_is_rejected_on_latency_once_enough_requests_are_timed() -> None:
    production = counts(90_000, 7200, latency_sum=90_000 * 200.0, latency_count=90_000)
    slow = counts(10_000, 800, latency_sum=10_000 * 320.0, latency_count=10_000)
    result = decide(production, slow, 10)
    assert result.decision == REJECT and "model_latency" in result.reasons[0]
    # A 1.4x slower challenger stays under the default 1.5x factor
    ok = counts(10_000, 800, latency_avg=280.0, invocations=10_000)
    assert decide(production, ok, 10).decision == CONTINUE
    # And too few timed requests decide nothing
    few = counts(50, 4, latency_sum=50 * 900.0, latency_count=50)
    assert decide(counts(450, 36, latency_avg=200.0, invocations=450), few, 1).decision == CONTINUE


def test_json_failures_reject_only_above_the_absolute_maximum_and_worse_than_production() -> None:
    production = counts(45_000, 3600, json_failures=45)
    # 6% of impressions fail vs 0.1%: breach
    bad = decide(production, counts(5000, 400, json_failures=300), 10)
    assert bad.decision == REJECT and bad.reasons[0].startswith("Guardrail json_failure_rate")
    # 3% fail: clearly worse than production but under the 5% maximum: no breach
    assert decide(production, counts(5000, 400, json_failures=150), 10).decision == CONTINUE


def test_language_fidelity_uses_japanese_queries_when_present_and_impressions_otherwise() -> None:
    production = counts(45_000, 3600, language_mismatches=20, ja_queries=9000)
    challenger = counts(5000, 400, language_mismatches=60, ja_queries=1000)
    result = decide(production, challenger, 10)
    assert result.decision == REJECT and "Japanese queries" in result.reasons[0]
    without_ja = decide(counts(45_000, 3600, language_mismatches=20), counts(5000, 400, language_mismatches=60), 10)
    assert without_ja.decision == REJECT and "of impressions" in without_ja.reasons[0]


def test_a_lower_cart_add_rate_rejects_like_a_lower_ctr() -> None:
    # Given equal CTRs but half the cart adds per impression
    production = counts(90_000, 7200, cart_adds=1800)
    challenger = counts(10_000, 800, cart_adds=100)
    result = decide(production, challenger, 10)
    assert result.decision == REJECT and "cart_add_rate" in result.reasons[0]


def test_a_challenger_below_the_ctr_floor_is_not_promoted() -> None:
    # Given a challenger as good as production, but both at 7% CTR, below the 7.5% floor
    production, challenger = counts(9_000_000, 630_000), counts(1_000_000, 70_000)
    result = decide(production, challenger, 120)
    assert result.statistics["ctr_ratio"]["lower"] >= 0.95
    assert result.decision == CONTINUE and "floor" in result.reasons[0]
    assert decide(production, challenger, 360).decision == INSUFFICIENT_DATA


def test_zero_impressions_continue_without_crashing_and_serialize_as_strict_json() -> None:
    result = decide(counts(0, 0), counts(0, 0), 5)
    assert result.decision == CONTINUE
    assert "No impressions recorded yet" in result.reasons[0]
    assert result.production.ctr is None and result.challenger.ctr_lower is None
    json.dumps(result.to_dict(), allow_nan=False)


def test_to_dict_carries_the_contract_fields() -> None:
    out = decide(*traffic(3500, 10, ctr_c=0.056), 10).to_dict()
    assert out["decision"] in DECISIONS
    for role in ("production", "challenger"):
        assert set(out["variants"][role]) == {"impressions", "clicks", "ctr", "ctr_lower", "ctr_upper"}
        v = out["variants"][role]
        assert v["ctr_lower"] < v["ctr"] < v["ctr_upper"]
    assert {"ctr_test", "ctr_ratio", "promote_test", "srm"} <= set(out["statistics"])
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize(
    ("production", "challenger", "message"),
    [
        (counts(100, 5), counts(-1, 0), "challenger.impressions must not be negative"),
        (counts(100, 5), counts(10, 11), r"challenger.clicks \(11\) exceeds challenger.impressions \(10\)"),
        (counts(100, 5, invocations=3, errors_4xx=2, errors_5xx=2), counts(10, 1), "production.errors_4xx"),
        (counts(100, float("nan")), counts(10, 1), "production.clicks must be a finite number"),
        (counts(100, 5), counts(10, 1, language_mismatches=3, ja_queries=2), "language_mismatches"),
    ],
)
def test_bad_counts_raise_a_clear_value_error(
    production: VariantCounts, challenger: VariantCounts, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        decide(production, challenger, 5)


def test_numpy_and_decimal_counts_are_plain_numbers_in_the_output() -> None:
    from decimal import Decimal

    production = VariantCounts(impressions=np.int64(9000), clicks=Decimal("720"))  # type: ignore[arg-type]
    out = decide(production, counts(1000, np.float64(80.0)), 10).to_dict()
    assert out["variants"]["production"]["impressions"] == 9000
    json.dumps(out, allow_nan=False)
    with pytest.raises(ValueError, match=r"production\.clicks must be a finite number"):
        decide(counts(100, "5"), counts(10, 1), 5)  # type: ignore[arg-type]


def test_bad_elapsed_minutes_and_bad_config_raise_value_errors() -> None:
    with pytest.raises(ValueError, match="elapsed_minutes"):
        decide(counts(1, 0), counts(1, 0), -1)
    with pytest.raises(ValueError, match="traffic_fraction"):
        DecisionConfig(traffic_fraction=1.5)
    with pytest.raises(ValueError, match="max_minutes"):
        DecisionConfig(min_minutes=60, max_minutes=30)
    with pytest.raises(ValueError, match="too wide"):
        DecisionConfig(reject_prior_log_sd=50)


@pytest.mark.parametrize(("challenger_clicks", "decision"), [(89, REJECT), (90, CONTINUE), (100, CONTINUE)])
def test_the_naive_rule_rejects_below_90_percent_of_production_ctr(challenger_clicks: int, decision: str) -> None:
    assert naive_rule(counts(1000, 100), counts(1000, challenger_clicks)) == decision
    assert naive_rule(counts(0, 0), counts(10, 0)) == CONTINUE


# --- the simulation's vectorized copy ---------------------------------------------------------------------------


def test_the_vectorized_gate_agrees_with_decide_on_random_inputs() -> None:
    rng = random.Random(7)
    config = DecisionConfig(max_minutes=120)
    rows = []
    for _ in range(400):
        per_min = 10 ** rng.uniform(0.5, 4.5)
        minutes = rng.choice([0, 5, 10, 30, 60, 120, 150])
        share = rng.choice([0.1, 0.1, 0.1, 0.105, 0.13, 0.5])
        n_c = round(per_min * minutes * share * rng.uniform(0.8, 1.2))
        n_p = round(per_min * minutes * (1 - share))
        ctr_p = rng.uniform(0.06, 0.1)
        x_p = round(n_p * ctr_p)
        x_c = min(n_c, round(n_c * ctr_p * rng.choice([0.6, 0.85, 0.95, 1.0, 1.05, 1.2])))
        rows.append((n_p, x_p, n_c, x_c, minutes))
    # Exact edges: the naive rule's 0.9 boundary, and variants with no impressions yet
    rows += [(1000, 100, 1000, 90, 30), (1000, 100, 1000, 89, 30), (0, 0, 0, 0, 5), (900, 70, 0, 0, 5)]
    expected = [decide(counts(n_p, x_p), counts(n_c, x_c), m, config).decision for n_p, x_p, n_c, x_c, m in rows]
    arr = np.array(rows, dtype=np.float64)
    codes = decide_counts(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4], config)
    assert [DECISIONS[c] for c in codes] == expected
    # Every decision kind appears, so the comparison covers every branch
    assert set(expected) == set(DECISIONS)
    naive = naive_counts(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])
    assert [DECISIONS[c] for c in naive] == [naive_rule(counts(r[0], r[1]), counts(r[2], r[3])) for r in rows]


def test_the_naive_rule_rejects_most_identical_challengers_at_the_spec_traffic() -> None:
    # Given 70 impressions/min, 10% to a challenger identical to production, 30 minutes, 5-minute looks
    result = simulate(70, 0.0, runs=2000, config=DecisionConfig(max_minutes=30, min_minutes=30), seed=3)
    # Then the naive rule rejects well over half of them, while the gate ends every run without a verdict
    assert result.naive_reject_rate > 0.55
    assert result.rates[INSUFFICIENT_DATA] > 0.99 and result.rates[REJECT] == 0
    assert sum(result.rates.values()) == pytest.approx(1.0)


def test_a_simulated_large_drop_is_rejected_at_the_first_looks() -> None:
    result = simulate(3500, 0.3, runs=500, seed=5)
    assert result.rates[REJECT] == 1.0 and result.median_minutes_to_reject == 5
    assert CODE[REJECT] == DECISIONS.index(REJECT)


def test_the_bench_rows_have_the_table_fields() -> None:
    from bench.challenger_bench import rows

    table = rows(200)
    assert {(r["traffic_per_min"], r["drop"]) for r in table} >= {(70, 0.0), (3500, 0.15), (3500, 0.3)}
    assert {"reject_pct", "median_min_to_reject", "promote_pct", "insufficient_pct", "naive_reject_pct", "goal"} <= set(
        table[0]
    )
    # Each rate with its Wilson 95 % interval, which holds it
    for row in table:
        for rate, (low, high) in (
            (row["reject_pct"], row["reject_ci_pct"]),
            (row["promote_pct"], row["promote_ci_pct"]),
        ):
            assert 0 <= low <= rate <= high <= 100 and high - low > 0
