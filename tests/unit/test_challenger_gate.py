"""The runtime gate over per-minute series: the four data cases through the CloudWatch adapter (moto), and the
minute-level statistics against the failures of the cumulative test."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws

from mlgov.ops.challenger_whatif import decide, variant_counts
from mlgov_runtime.challenger import logic
from mlgov_runtime.challenger.config import ChallengerConfig, MetricNames
from mlgov_runtime.challenger.decision import CONTINUE, INSUFFICIENT_DATA, PROMOTE, REJECT, STOP_INVALID
from mlgov_runtime.challenger.gate import PAUSED, decide_minutes
from mlgov_runtime.challenger.inputs import DecisionConfig, VariantCounts
from mlgov_runtime.challenger.recommendation_metrics import RecommendationMetrics

ENDPOINT = "manga-recommender-prod"
PROD, CHAL = "AllTraffic", "challenger-v5"
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
NS = "MangaAssist/Recommendations"


@pytest.fixture
def cw() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def put(cw: Any, variant: str, minute: int, values: Mapping[str, float], second: int = 30) -> None:
    """One minute of a variant as the recommender and SageMaker publish it (None values are not published)."""
    dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": variant}]
    at = T0 + timedelta(minutes=minute, seconds=second)
    names = {
        "impressions": (NS, "RecommendationImpressions"),
        "clicks": (NS, "RecommendationClicks"),
        "json_failures": (NS, "RecommendationJsonFailures"),
        "language_mismatches": (NS, "RecommendationLanguageMismatches"),
        "invocations": ("AWS/SageMaker", "Invocations"),
        "errors_4xx": ("AWS/SageMaker", "Invocation4XXErrors"),
        "errors_5xx": ("AWS/SageMaker", "Invocation5XXErrors"),
    }
    by_ns: dict[str, list[dict[str, Any]]] = {}
    for key, value in values.items():
        if key == "latency":
            # ModelLatency as SageMaker publishes it: one statistic set per minute (Sum and SampleCount are read).
            n = max(float(value), 1.0)
            stat = {"SampleCount": n, "Sum": 50_000.0 * n, "Minimum": 40_000.0, "Maximum": 60_000.0}
            by_ns.setdefault("AWS/SageMaker", []).append(
                {"MetricName": "ModelLatency", "Dimensions": dims, "Timestamp": at, "StatisticValues": stat}
            )
            continue
        namespace, metric = names[key]
        by_ns.setdefault(namespace, []).append(
            {"MetricName": metric, "Dimensions": dims, "Timestamp": at, "Value": float(value)}
        )
    for namespace, data in by_ns.items():
        cw.put_metric_data(Namespace=namespace, MetricData=data)


def traffic(
    cw: Any,
    minutes: range,
    per_minute: int = 3500,
    ctr: tuple[float, float] = (0.08, 0.08),
    seed: int = 0,
    skip: dict[str, set[int]] | None = None,
    forged: Mapping[str, Mapping[str, float]] | None = None,
) -> None:
    """Honest per-minute traffic (one impression per invocation, 10 % to the challenger). `skip` leaves a
    variant's minutes unpublished; `forged` adds the challenger's impressions/clicks an attacker writes."""
    rng = np.random.default_rng(seed)
    for minute in minutes:
        n = rng.poisson(per_minute)
        n_c = int(rng.binomial(n, 0.1))
        for variant, impressions, rate in ((PROD, n - n_c, ctr[0]), (CHAL, n_c, ctr[1])):
            if minute in (skip or {}).get(variant, set()):
                continue
            clicks = int(rng.binomial(impressions, rate))
            values: dict[str, float] = {
                "impressions": impressions,
                "clicks": clicks,
                "invocations": impressions,
                "errors_4xx": 0,
                "errors_5xx": 0,
                "json_failures": 0,
                "language_mismatches": 0,
                "latency": impressions,
            }
            for key, extra in (forged or {}).get(variant, {}).items():
                values[key] += extra
            put(cw, variant, minute, values)


def series(cw: Any, minutes: int, names: MetricNames | None = None) -> dict[str, dict[str, list[float | None]]]:
    adapter = RecommendationMetrics(cw, names or MetricNames(cart_adds=None, distinct_titles=None))
    return adapter.variant_series(ENDPOINT, [PROD, CHAL], T0, T0 + timedelta(minutes=minutes))


def counts(cw: Any, minutes: int) -> dict[str, VariantCounts]:
    """What the cumulative read of the old look returned for the same window."""
    adapter = RecommendationMetrics(cw, MetricNames(cart_adds=None, distinct_titles=None))
    return variant_counts(adapter, ENDPOINT, [PROD, CHAL], T0, T0 + timedelta(minutes=minutes))


# -- the four data cases, through the adapter


def test_forged_impressions_against_real_invocations_make_the_experiment_invalid_never_promote(cw: Any) -> None:
    # Given a challenger whose real traffic is 2,400 invocations at CTR 2.4 %, and 222,000 impressions (clicks at
    # 9 %) written for it into the recommendation namespace by someone with cloudwatch:PutMetricData, with
    # production's impressions inflated too so the impression split stays at 10 %
    cfg = DecisionConfig(min_minutes=30, recent_minutes=0)
    forged = {CHAL: {"impressions": 5550, "clicks": 500}, PROD: {"impressions": 49_950, "clicks": 4000}}
    traffic(cw, range(40), per_minute=600, ctr=(0.08, 0.024), forged=forged)
    got = series(cw, 40)
    real = sum(v or 0 for v in got[CHAL]["invocations"])
    written = sum(v or 0 for v in got[CHAL]["impressions"])
    assert 2000 < real < 2800 and written > 222_000
    # The cumulative test of the old look promotes the forgery
    old = counts(cw, 40)
    assert decide(old[PROD], old[CHAL], 40, cfg).decision == PROMOTE
    # When the gate decides over the same minutes
    result = decide_minutes(got[PROD], got[CHAL], 40, cfg)
    # Then the experiment is INVALID: impressions disagree with SageMaker's own count, no verdict on the model
    assert result.decision == STOP_INVALID
    assert result.statistics["impressions_crosscheck"]["disagrees"] is True
    assert "Impressions disagree with SageMaker" in result.reasons[0] and "CloudTrail" in result.reasons[0]


def test_a_click_metric_that_never_arrives_is_a_data_problem_not_zero_clicks(cw: Any) -> None:
    # Given the challenger's clicks never reach CloudWatch (published under a wrong VariantName upstream)
    traffic(cw, range(20), skip={CHAL: set(range(20))})
    for minute in range(20):
        put(cw, CHAL, minute, {"impressions": 350, "invocations": 350})
    # The old cumulative read made that 0 clicks, and the challenger was rejected for good
    old = counts(cw, 20)
    assert old[CHAL].clicks == 0 and decide(old[PROD], old[CHAL], 20).decision == REJECT
    # When the gate decides over the per-minute series
    got = series(cw, 20)
    assert got[CHAL]["clicks"] == [None] * 20
    result = decide_minutes(got[PROD], got[CHAL], 20)
    # Then it is a data problem, never evidence: no verdict, the experiment paused, the metric named
    assert result.decision == PAUSED
    problem = result.statistics["data_problem"]
    assert (problem["variant"], problem["metric"], problem["minutes_without_data"]) == ("challenger", "clicks", 20)
    assert "Missing data is not zero" in result.reasons[0] and "VariantName" in result.reasons[0]
    # Said once: the reasons are read together (mlgov challenger status, the finding)
    said = " ".join(result.reasons)
    assert said.count("no verdict") == 1 and said.count("usual cause") <= 1, said
    # And once the window is over with the data still missing: inconclusive, never a rejection
    ended = decide_minutes(got[PROD], got[CHAL], 20, DecisionConfig(min_minutes=20, max_minutes=20))
    assert ended.decision == INSUFFICIENT_DATA and ended.statistics["data_problem"]["metric"] == "clicks"


def test_a_metric_that_stops_arriving_pauses_and_the_minutes_before_stay_evidence() -> None:
    # Given 30 honest minutes, then the challenger's clicks stop arriving for the last 12
    prod, chal = _honest(42, ratio=1.0)
    chal["clicks"] = [x if i < 30 else None for i, x in enumerate(chal["clicks"])]
    result = decide_minutes(prod, chal, 42)
    # Then the look pauses on the gap rather than judging around it
    assert result.decision == PAUSED
    assert result.statistics["data_problem"]["minutes_without_data"] == 12
    # And a gap shorter than missing_metric_minutes is only left out
    cut = {k: v[:39] for k, v in prod.items()}, {k: v[:39] for k, v in chal.items()}
    assert decide_minutes(*cut, 39).decision == CONTINUE


def test_a_metric_missing_only_in_the_first_minutes_waits_instead_of_stopping(cw: Any) -> None:
    traffic(cw, range(8), skip={CHAL: set(range(8))})
    got = series(cw, 8)
    assert decide_minutes(got[PROD], got[CHAL], 8).decision == CONTINUE


def test_minutes_missing_for_one_variant_are_left_out_for_both(cw: Any) -> None:
    # Given 2 of 30 minutes missing for the challenger only (an outage of its metric publishing)
    traffic(cw, range(30), skip={CHAL: {7, 19}})
    got = series(cw, 30)
    result = decide_minutes(got[PROD], got[CHAL], 30)
    # Then those minutes are missing for the comparison: production's counts leave them out too
    assert result.statistics["aligned_minutes"] == 28 and result.statistics["missing_minutes"] == 2
    kept = [i for i in range(30) if i not in (7, 19)]
    assert result.production.impressions == sum(got[PROD]["impressions"][i] or 0 for i in kept)
    # And the experiment goes on, neither void nor decided by the gap
    assert result.decision == CONTINUE
    assert "2 of 30 minutes lack a metric" in " ".join(result.reasons)


def test_a_look_reads_only_settled_minutes_and_a_later_look_sees_the_late_counts(cw: Any) -> None:
    # Given 20 full minutes, and minutes 20-21 (the newest at 12:22:05) only partly in CloudWatch
    traffic(cw, range(20))
    put(cw, PROD, 20, {"impressions": 1000, "clicks": 80, "invocations": 1000})
    put(cw, CHAL, 20, {"impressions": 10, "clicks": 0, "invocations": 10})
    cfg = ChallengerConfig()
    ch = {"endpoint_name": ENDPOINT, "production_variant": PROD, "challenger_variant": CHAL, "traffic_fraction": 0.1}
    metrics = RecommendationMetrics(cw, MetricNames(cart_adds=None, distinct_titles=None))
    first = logic.look(metrics, cfg, ch, T0, T0 + timedelta(minutes=22, seconds=5))
    # Then the look stops settle_minutes before the last closed minute: minute 20 is not read yet
    assert first["window"]["end"] == "2026-11-28T12:20:00Z" and first["elapsed_minutes"] == 20
    # When the rest of minute 20 arrives and the next look runs
    put(cw, PROD, 20, {"impressions": 2150, "clicks": 170, "invocations": 2150}, second=50)
    put(cw, CHAL, 20, {"impressions": 340, "clicks": 27, "invocations": 340}, second=50)
    traffic(cw, range(21, 25), seed=1)
    second = logic.look(metrics, cfg, ch, T0, T0 + timedelta(minutes=27, seconds=5))
    # Then it reads minute 20 with both datapoints: the revised count, not the partial one
    got = series(cw, 25)
    assert got[CHAL]["impressions"][20] == 350 and got[PROD]["impressions"][20] == 3150
    v1, v2 = first["result"]["variants"]["challenger"], second["result"]["variants"]["challenger"]
    assert v2["impressions"] == v1["impressions"] + sum(v or 0.0 for v in got[CHAL]["impressions"][20:25])


def _slates(cw: Any, minutes: range, share: float, seed: int) -> None:
    """Per-request routing as SageMaker does it: `share` of ~350 requests a minute to the challenger, each response
    a slate of 1-20 recommendations (one recommender for both variants), every metric published."""
    rng = np.random.default_rng(seed)
    for minute in minutes:
        requests = int(rng.poisson(350))
        routed = {CHAL: int(rng.binomial(requests, share))}
        routed[PROD] = requests - routed[CHAL]
        for variant, req in routed.items():
            shown = int(rng.integers(1, 21, req).sum())
            put(
                cw,
                variant,
                minute,
                {
                    "impressions": shown,
                    "clicks": int(rng.binomial(shown, 0.08)),
                    "invocations": req,
                    "errors_4xx": 0,
                    "errors_5xx": 0,
                    "json_failures": 0,
                    "language_mismatches": 0,
                    "latency": req,
                },
            )


def _share(got: dict[str, dict[str, list[float | None]]], metric: str) -> float:
    c, p = (sum(v or 0.0 for v in got[side][metric]) for side in (CHAL, PROD))
    return c / (c + p)


def test_the_split_is_tested_on_the_invocations_read_through_the_adapter(cw: Any) -> None:
    # Given honest routing of 10 % of requests, each response carrying 1-20 impressions (so the impression split
    # swings with the slates, far more than a binomial split of impressions would)
    _slates(cw, range(30), 0.1, seed=11)
    got = series(cw, 30)
    assert _share(got, "impressions") != pytest.approx(_share(got, "invocations"), abs=1e-4)
    result = decide_minutes(got[PROD], got[CHAL], 30)
    # Then the sample-ratio test judges SageMaker's own count of what it routed, and finds the configured split
    srm = result.statistics["srm"]
    assert srm["unit"] == "invocations" and srm["mismatch"] is False
    assert srm["observed_share"] == pytest.approx(_share(got, "invocations"), abs=1e-9)
    assert result.decision != STOP_INVALID


def test_a_drifted_request_split_read_through_the_adapter_voids_the_experiment(cw: Any) -> None:
    # Given the endpoint routes 7 % of requests to the challenger instead of the configured 10 %
    _slates(cw, range(30), 0.07, seed=12)
    got = series(cw, 30)
    result = decide_minutes(got[PROD], got[CHAL], 30)
    # Then the invocation split is a mismatch: STOP_INVALID, naming SageMaker's count, before any CTR verdict
    assert result.decision == STOP_INVALID and result.statistics["srm"]["mismatch"] is True
    assert "of AWS/SageMaker Invocations" in result.reasons[0]


# -- the statistics


def _minutes(rows: list[tuple[float, float, float, float]]) -> tuple[dict[str, list[float | None]], ...]:
    prod: dict[str, list[float | None]] = {"impressions": [], "clicks": [], "invocations": []}
    chal: dict[str, list[float | None]] = {"impressions": [], "clicks": [], "invocations": []}
    for n_p, x_p, n_c, x_c in rows:
        prod["impressions"].append(n_p)
        prod["clicks"].append(x_p)
        prod["invocations"].append(n_p)
        chal["impressions"].append(n_c)
        chal["clicks"].append(x_c)
        chal["invocations"].append(n_c)
    return prod, chal


def test_overdispersed_minutes_widen_the_test_where_the_cumulative_one_rejects() -> None:
    # Given a challenger whose per-minute CTR swings far more than binomial (bursts), 14 % lower overall
    rows = [(3150.0, 252.0, 350.0, 36.0 if i % 2 else 12.0) for i in range(30)]
    prod, chal = _minutes(rows)
    total_c = sum(r[3] for r in rows)
    # The cumulative test, which assumes independent impressions, rejects it
    old = decide(VariantCounts(3150 * 30, 252 * 30), VariantCounts(350 * 30, total_c), 30)
    assert old.decision == REJECT
    # When the gate tests at the minute level with the variance the series shows
    result = decide_minutes(prod, chal, 30)
    # Then the evidence is not enough: no rejection
    assert result.decision == CONTINUE
    assert result.statistics["ctr_test"]["variance_source"] == "per-minute series"


def test_a_clear_drop_is_rejected_by_the_minute_level_test() -> None:
    rng = np.random.default_rng(3)
    rows = [(3150, rng.binomial(3150, 0.08), 350, rng.binomial(350, 0.056)) for _ in range(20)]
    prod, chal = _minutes([tuple(float(x) for x in r) for r in rows])  # type: ignore[misc]
    result = decide_minutes(prod, chal, 20)
    assert result.decision == REJECT
    assert result.statistics["ctr_test"]["ratio_upper"] < 1


def test_novelty_a_challenger_worse_in_the_recent_window_is_not_promoted() -> None:
    # Given 180 minutes: 20 % better for the first 120, 10 % worse in the last 60
    rng = np.random.default_rng(4)
    rows = []
    for i in range(180):
        ratio = 1.2 if i < 120 else 0.9
        rows.append((3150.0, float(rng.binomial(3150, 0.08)), 350.0, float(rng.binomial(350, 0.08 * ratio))))
    prod, chal = _minutes(rows)
    result = decide_minutes(prod, chal, 180)
    # Then non-inferior overall, but the recent window does not hold: no promotion
    assert result.statistics["promote_test"]["non_inferior"] is True
    assert result.statistics["promote_test"]["recent_holds"] is False
    assert result.decision == CONTINUE and "may be fading" in " ".join(result.reasons)
    # And without the recent-window check the same data would have been promoted
    assert decide_minutes(prod, chal, 180, DecisionConfig(recent_minutes=0)).decision == PROMOTE


def test_the_reject_budget_is_split_between_the_ctr_test_and_six_guardrails() -> None:
    cfg = DecisionConfig()
    assert cfg.ctr_reject_alpha + 6 * cfg.guardrail_alpha_each == pytest.approx(cfg.reject_budget) == 0.01
    with pytest.raises(ValueError, match="reject_budget"):
        DecisionConfig(reject_budget=1.5)


def _with(prod: dict[str, list[float | None]], chal: dict[str, list[float | None]], key: str, p: float, c: float):
    prod[key] = [p] * len(prod["impressions"])
    chal[key] = [c] * len(chal["impressions"])


def test_latency_is_judged_by_a_test_not_a_ratio() -> None:
    rng = np.random.default_rng(5)
    rows = [(3150.0, float(rng.binomial(3150, 0.08)), 350.0, float(rng.binomial(350, 0.08))) for _ in range(20)]
    prod, chal = _minutes(rows)
    prod["latency_count"] = [3150.0] * 20
    chal["latency_count"] = [350.0] * 20
    prod["latency_sum"] = [3150.0 * 100] * 20
    # A challenger averaging 1.6x production over noisy minutes: above the ratio, not proven above it
    chal["latency_sum"] = [350.0 * 160 * (1 + 0.6 * (-1) ** i) for i in range(20)]
    noisy = decide_minutes(prod, chal, 20)
    latency = next(g for g in noisy.guardrails if g.name == "model_latency")
    assert (latency.challenger_value or 0) / (latency.production_value or 1) > 1.5 and latency.breached is False
    # A challenger steadily at 2x production is rejected by the latency guardrail
    chal["latency_sum"] = [350.0 * 200 * (1 + 0.02 * (-1) ** i) for i in range(20)]
    slow = decide_minutes(prod, chal, 20)
    assert slow.decision == REJECT and [g.name for g in slow.guardrails if g.breached] == ["model_latency"]


def test_fewer_distinct_titles_per_impression_is_a_diversity_guardrail() -> None:
    rng = np.random.default_rng(6)
    rows = [(3150.0, float(rng.binomial(3150, 0.08)), 350.0, float(rng.binomial(350, 0.08))) for _ in range(20)]
    prod, chal = _minutes(rows)
    prod["distinct_titles"] = [float(rng.binomial(3150, 0.8)) for _ in range(20)]
    chal["distinct_titles"] = [float(rng.binomial(350, 0.5)) for _ in range(20)]
    result = decide_minutes(prod, chal, 20)
    assert result.decision == REJECT
    assert [g.name for g in result.guardrails if g.breached] == ["recommendation_diversity"]
    # Never reported: not evaluated, and no verdict from it
    del prod["distinct_titles"], chal["distinct_titles"]
    quiet = decide_minutes(prod, chal, 20)
    diversity = next(g for g in quiet.guardrails if g.name == "recommendation_diversity")
    assert diversity.breached is False and diversity.statistics["evaluated"] is False


def test_the_bench_computes_the_gates_own_ctr_test() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import gate_bench

    rng = np.random.default_rng(7)
    t = gate_bench.Traffic(ctr=0.04, noise=0.11, minutes=60)
    data = gate_bench.simulate(t, 0.85, 40, rng)
    looks = np.tile(np.arange(5, 61, 5), (40, 1))
    first = gate_bench.run_gate(data, looks)["reject"]
    cfg = DecisionConfig()
    for run in range(40):
        expected = -1
        for j, minutes in enumerate(looks[run]):
            prod = {
                "impressions": [float(x) for x in data["n_p"][run, :minutes]],
                "clicks": [float(x) for x in data["x_p"][run, :minutes]],
                "invocations": [float(x) for x in data["inv_p"][run, :minutes]],
            }
            chal = {
                "impressions": [float(x) for x in data["n_c"][run, :minutes]],
                "clicks": [float(x) for x in data["x_c"][run, :minutes]],
                "invocations": [float(x) for x in data["inv_c"][run, :minutes]],
            }
            if (
                decide_minutes(prod, chal, int(minutes), cfg).statistics["ctr_test"]["rejects"]
                and (decide_minutes(prod, chal, int(minutes), cfg).statistics["minimum_sample_met"])
            ):
                expected = j
                break
        assert first[run] == expected, run


def test_the_findings_name_the_data_problem_and_the_forged_metric() -> None:
    from mlgov_runtime.challenger import findings as f

    ch = {
        "endpoint_name": ENDPOINT,
        "model_package_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/manga-recommender/5",
        "group": "manga-recommender",
        "version": 5,
        "traffic_fraction": 0.1,
    }
    prod, chal = _minutes([(3150.0, 252.0, 350.0, 28.0)] * 12)
    del chal["clicks"]
    missing = decide_minutes(prod, chal, 12).to_dict()
    finding = f.data_missing_finding(ch, missing, "123456789012", "us-east-1")
    assert finding.kind == "CHALLENGER_DATA_MISSING" and "paused: challenger clicks missing" in finding.title
    assert "aws cloudwatch list-metrics" in finding.detail
    ended = f.data_missing_finding(ch, missing, "123456789012", "us-east-1", ended=True)
    assert "ended inconclusive" in ended.title and "mlgov challenger start --package" in ended.detail
    prod, chal = _minutes([(3150.0, 252.0, 350.0, 28.0)] * 12)
    chal["impressions"] = [350.0 * 90] * 12
    forged = decide_minutes(prod, chal, 12).to_dict()
    finding = f.invalid_finding(ch, forged, "123456789012", "us-east-1")
    assert finding.kind == "CHALLENGER_INVALID" and "disagree with SageMaker Invocations" in finding.title
    assert "CloudTrail" in finding.detail and f.ratio_text(forged).startswith("CTR ratio not computed")


def test_a_ramped_split_is_tested_against_each_minutes_weight() -> None:
    # Given invocations split 10 % for 10 minutes, then 25 % (a ramp step at minute 10)
    rows = [(3150.0, 252.0, 350.0, 28.0)] * 10 + [(2625.0, 210.0, 875.0, 70.0)] * 20
    prod, chal = _minutes(rows)
    weights: list[float | None] = [0.1] * 10 + [None] + [0.25] * 19
    # Then with the ramp's weights the split is as configured
    assert decide_minutes(prod, chal, 30, DecisionConfig(), weights).statistics["srm"]["mismatch"] is False
    # And against the constant 10 % the same traffic is a mismatch
    assert decide_minutes(prod, chal, 30).decision == STOP_INVALID


def test_the_ramp_steps_only_on_a_look_without_verdict_or_breach() -> None:
    cfg = ChallengerConfig(decision=DecisionConfig(ramp=((10, 0.25), (20, 0.5))))
    ch = {"endpoint_name": ENDPOINT, "production_variant": PROD, "challenger_variant": CHAL, "traffic_fraction": 0.1}

    class Endpoints:
        def __init__(self) -> None:
            self.weights: list[dict[str, float]] = []

        def set_weights(self, endpoint: str, weights: dict[str, float]) -> None:
            self.weights.append(weights)

    endpoints = Endpoints()
    ports: Any = type("P", (), {"endpoints": endpoints})()
    live = T0 + timedelta(seconds=20)
    history: list[list[float]] = [[0, 0.1]]
    quiet = {"decision": CONTINUE, "result": {"guardrails": [{"name": "model_latency", "breached": False}]}}
    # Before minute 10 nothing moves
    assert "ramped_to" not in logic.ramp_step(ports, cfg, ch, live, T0 + timedelta(minutes=9), history, quiet)
    # At minute 12 the challenger goes to 25 %, recorded with the minute it changed in
    out = logic.ramp_step(ports, cfg, ch, live, T0 + timedelta(minutes=12, seconds=5), history, quiet)
    assert out["ramped_to"] == 0.25 and endpoints.weights == [{PROD: 0.75, CHAL: 0.25}]
    assert out["ramp_history"] == [[0, 0.1], [11, 0.25]]
    assert logic.minute_weights(out["ramp_history"], 13)[9:] == [0.1, 0.1, None, 0.25]
    # A breached guardrail or a verdict holds the ramp where it is
    breached = {"decision": CONTINUE, "result": {"guardrails": [{"name": "model_latency", "breached": True}]}}
    assert "ramped_to" not in logic.ramp_step(ports, cfg, ch, live, T0 + timedelta(minutes=25), history, breached)
    verdict = {"decision": REJECT, "result": {"guardrails": []}}
    assert "ramped_to" not in logic.ramp_step(ports, cfg, ch, live, T0 + timedelta(minutes=25), history, verdict)
    assert len(endpoints.weights) == 1
    with pytest.raises(ValueError, match="ramp"):
        DecisionConfig(ramp=((10, 0.5), (20, 0.25)))


# -- attacks on the gate's inputs (an attacker review's reproductions, as tests)

FULL: tuple[str, ...] = ("impressions", "clicks", "invocations", "errors_4xx", "errors_5xx", "latency_sum")
FULL += ("latency_count", "json_failures", "language_mismatches")


def _honest(
    minutes: int, ratio: float = 1.0, seed: int = 7, ctr: float = 0.08, slate: tuple[int, int] = (1, 1)
) -> tuple[dict[str, list[float | None]], dict[str, list[float | None]]]:
    """Both variants with every metric the look reads, 3,500 requests a minute, 10 % to the challenger; each request
    renders a slate of `slate` impressions (uniform), as one recommender does for both variants."""
    rng = np.random.default_rng(seed)
    prod: dict[str, list[float | None]] = {k: [] for k in FULL}
    chal: dict[str, list[float | None]] = {k: [] for k in FULL}
    for _ in range(minutes):
        req_c = int(rng.binomial(3500, 0.1))
        for s, req, q in ((prod, 3500 - req_c, 1.0), (chal, req_c, ratio)):
            shown = int(rng.integers(slate[0], slate[1] + 1, req).sum())
            s["invocations"].append(float(req))
            s["impressions"].append(float(shown))
            s["clicks"].append(float(rng.binomial(shown, ctr * q)))
            s["errors_4xx"].append(float(rng.binomial(req, 0.001)))
            s["errors_5xx"].append(0.0)
            s["latency_count"].append(float(req))
            s["latency_sum"].append(req * 50_000.0 * float(rng.lognormal(0, 0.05)))
            s["json_failures"].append(float(rng.binomial(shown, 0.001)))
            s["language_mismatches"].append(float(rng.binomial(shown, 0.001)))
    return prod, chal


def _head(s: Mapping[str, list[float | None]], m: int) -> dict[str, list[float | None]]:
    return {k: list(v[:m]) for k, v in s.items()}


@pytest.mark.parametrize(("per_minute", "minutes"), [(5, 10), (5, 40), (20, 10), (20, 40)])
def test_malformed_requests_aimed_at_the_challenger_never_reject_it(per_minute: int, minutes: int) -> None:
    # Given an A/A experiment, and anyone with sagemaker:InvokeEndpoint sending `per_minute` malformed requests a
    # minute with TargetVariant=<challenger>: real AWS/SageMaker Invocations and Invocation4XXErrors rise
    prod, chal = _honest(minutes)
    chal["invocations"] = [(x or 0) + per_minute for x in chal["invocations"]]
    chal["errors_4xx"] = [(x or 0) + per_minute for x in chal["errors_4xx"]]
    result = decide_minutes(prod, chal, minutes)
    # Then a client error is not model evidence: no guardrail breach, never REJECT
    assert result.decision in (CONTINUE, STOP_INVALID), result.reasons
    errors = next(g for g in result.guardrails if g.name == "invocation_error_rate") if result.guardrails else None
    assert errors is None or errors.breached is False


def test_an_off_split_is_invalid_before_any_breach_is_read() -> None:
    # Given requests aimed at the challenger (TargetVariant) that also make its container fail with 5XX: 40 a minute
    prod, chal = _honest(30)
    chal["invocations"] = [(x or 0) + 40 for x in chal["invocations"]]
    chal["errors_5xx"] = [(x or 0) + 40 for x in chal["errors_5xx"]]
    # Then they render no impressions, so the variants' impressions per invocation already disagree: INVALID
    assert decide_minutes(prod, chal, 30).decision == STOP_INVALID
    # And with that check loosened, the split is checked before any breach: void, never a rejection on that traffic
    result = decide_minutes(prod, chal, 30, DecisionConfig(impressions_ratio_tolerance=0.5))
    assert result.statistics["srm"]["mismatch"] is True
    assert result.decision == STOP_INVALID and "Sample-ratio mismatch" in result.reasons[0]
    # While the same 5XX rate on a healthy split is a real breach
    prod, chal = _honest(30)
    chal["errors_5xx"] = [(x or 0) * 0 + 40 for x in chal["errors_5xx"]]
    assert decide_minutes(prod, chal, 30).decision == REJECT


@pytest.mark.parametrize("minutes", [15, 30, 60])
def test_forged_challenger_impressions_inside_the_band_void_the_experiment(minutes: int) -> None:
    # Given an A/A experiment, and the challenger's impressions doubled by a forger (2 per invocation: inside the
    # 0.5-20 band of the SageMaker cross-check)
    prod, chal = _honest(minutes)
    chal["impressions"] = [(x or 0) * 2 for x in chal["impressions"]]
    result = decide_minutes(prod, chal, minutes)
    # Then impressions per invocation disagree between the variants: INVALID, never REJECT
    assert result.statistics["impressions_crosscheck"]["disagrees"] is False
    assert result.statistics["impressions_agreement"]["disagrees"] is True
    assert result.decision == STOP_INVALID and "per invocation differ" in result.reasons[0]


def test_forged_production_impressions_void_the_experiment() -> None:
    prod, chal = _honest(180, ratio=0.8)
    prod["impressions"] = [(x or 0) * 1.5 for x in prod["impressions"]]
    result = decide_minutes(prod, chal, 180)
    assert result.decision == STOP_INVALID and result.statistics["impressions_agreement"]["disagrees"] is True


def test_impressions_forged_only_in_the_recent_minutes_are_caught_by_the_recent_segment() -> None:
    # Given 180 honest minutes, then the challenger's impressions inflated by 15 % over the last 30
    prod, chal = _honest(180)
    chal["impressions"] = [(x or 0) * (1.15 if i >= 150 else 1) for i, x in enumerate(chal["impressions"])]
    result = decide_minutes(prod, chal, 180)
    agreement = result.statistics["impressions_agreement"]
    assert result.decision == STOP_INVALID and "(recent," in result.reasons[0]
    assert abs(agreement["segments"]["window"]["log_gap"]) < agreement["segments"]["window"]["limit"]


@pytest.mark.parametrize("seed", range(6))
def test_honest_slates_of_varying_size_agree_between_variants(seed: int) -> None:
    # Given one recommender rendering 1-20 items a request for both variants (the per-request count varies)
    prod, chal = _honest(360, seed=seed, slate=(1, 20))
    # Then every look of the run finds their impressions per invocation in agreement
    for m in range(15, 361, 15):
        agreement = decide_minutes(_head(prod, m), _head(chal, m), m).statistics["impressions_agreement"]
        assert agreement["disagrees"] is False, (m, agreement)


def test_clicks_above_impressions_are_invalid_not_a_better_model() -> None:
    # Given a forger adding 400 clicks a minute to the challenger (more clicks than it has impressions)
    prod, chal = _honest(30)
    chal["clicks"] = [(x or 0) + 400 for x in chal["clicks"]]
    result = decide_minutes(prod, chal, 30)
    assert result.decision == STOP_INVALID and "Clicks exceed impressions" in result.reasons[0]
    assert result.statistics["clicks_check"]["variant"] == "challenger"


def test_an_implausibly_better_challenger_is_invalid_not_promoted() -> None:
    # Given clicks on the challenger tripled (still fewer than its impressions) over a full window
    prod, chal = _honest(180)
    chal["clicks"] = [(x or 0) * 3 for x in chal["clicks"]]
    result = decide_minutes(prod, chal, 180)
    assert result.decision == STOP_INVALID and "Implausible CTR" in result.reasons[0]


def test_forged_clicks_inside_the_plausible_band_still_steer_the_verdict() -> None:
    # What the gate cannot see (README, trust model): no AWS metric counts clicks, so clicks added to a 20 % worse
    # challenger within the plausible band still promote it. The control is the SCP that keeps
    # cloudwatch:PutMetricData on the recommendation namespace to the recommender's roles.
    prod, chal = _honest(180, ratio=0.8)
    assert decide_minutes(prod, chal, 180).decision == REJECT
    chal["clicks"] = [float(round((x or 0) * 1.3)) for x in chal["clicks"]]
    assert decide_minutes(prod, chal, 180).decision == PROMOTE


def test_guardrail_metrics_that_never_arrive_are_a_data_problem_not_a_pass() -> None:
    # Given a better challenger whose latency, JSON-failure and error metrics never arrive
    prod, chal = _honest(180, ratio=1.08)
    assert decide_minutes(prod, chal, 180).decision == PROMOTE
    for key in ("json_failures", "latency_sum", "latency_count", "errors_4xx", "errors_5xx"):
        chal[key] = [None] * 180
    result = decide_minutes(prod, chal, 180)
    # Then no promotion: the guardrails were never evaluated, a data problem (CHALLENGER_DATA_MISSING)
    assert result.decision == PAUSED
    assert result.statistics["data_problem"]["variant"] == "challenger"
    assert result.statistics["data_problem"]["metric"] in ("errors_5xx", "latency_sum", "json_failures")
    from mlgov_runtime.challenger import findings as f

    package = "arn:aws:sagemaker:us-east-1:1:model-package/g/5"
    ch: dict[str, Any] = {"endpoint_name": ENDPOINT, "model_package_arn": package}
    ch |= {"group": "g", "version": 5, "traffic_fraction": 0.1}
    finding = f.data_missing_finding(ch, result.to_dict(), "123456789012", "us-east-1")
    assert finding.kind == "CHALLENGER_DATA_MISSING" and finding.evidence["outcome"] == "paused"


def test_a_guardrail_metric_missing_for_most_of_the_window_holds_promotion() -> None:
    # Given a better challenger whose JSON-failure metric arrived only in the first 40 minutes of 180
    prod, chal = _honest(180, ratio=1.08)
    chal["json_failures"] = [x if i < 40 else None for i, x in enumerate(chal["json_failures"])]
    result = decide_minutes(prod, chal, 180)
    # Then the gate does not read the missing minutes as zero failures and does not promote
    json_rate = next(g for g in result.guardrails if g.name == "json_failure_rate")
    assert json_rate.statistics["minutes"] == 40
    assert result.decision == CONTINUE and result.statistics["guardrails_unevaluated"] == ["json_failure_rate"]
    assert "not yet evaluated" in " ".join(result.reasons)


def test_a_guardrail_metric_that_never_arrives_through_the_adapter_is_a_data_problem(cw: Any) -> None:
    # Given the recommender never publishing RecommendationJsonFailures for the challenger
    rng = np.random.default_rng(11)
    for minute in range(20):
        for variant, n in ((PROD, 3150), (CHAL, 350)):
            values = {"impressions": n, "clicks": int(rng.binomial(n, 0.08)), "invocations": n, "errors_4xx": 0}
            values |= {"errors_5xx": 0, "language_mismatches": 0, "latency": n}
            if variant == PROD:
                values["json_failures"] = 0
            put(cw, variant, minute, values)
    got = series(cw, 20)
    result = decide_minutes(got[PROD], got[CHAL], 20)
    assert result.decision == PAUSED
    problem = result.statistics["data_problem"]
    assert (problem["variant"], problem["metric"], problem["minutes_without_data"]) == (
        "challenger",
        "json_failures",
        20,
    )


def test_the_bench_computes_the_gates_own_impressions_agreement() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import gate_bench

    from mlgov_runtime.challenger.gate import CLOUDWATCH_WORDS, _ratio_agreement

    rng = np.random.default_rng(9)
    data = gate_bench.slate_traffic(30, rng, (1, 20), 700, minutes=120)
    data["n_c"] = data["n_c"].copy()
    data["n_c"][:15, 60:] = np.rint(data["n_c"][:15, 60:] * 1.12)  # half the runs forged from minute 60
    looks = np.tile(np.arange(10, 121, 10), (30, 1))
    first = gate_bench.agreement_stop(data, looks)
    cfg = DecisionConfig()
    assert (first[:15] >= 0).any() and (first[15:] < 0).all()
    for run in range(30):
        prod = {"impressions": list(map(float, data["n_p"][run])), "invocations": list(map(float, data["inv_p"][run]))}
        chal = {"impressions": list(map(float, data["n_c"][run])), "invocations": list(map(float, data["inv_c"][run]))}
        expected = -1
        for j, m in enumerate(looks[run]):
            seen = list(range(int(m)))
            if _ratio_agreement(prod, chal, seen, int(m) - cfg.recent_minutes, cfg, CLOUDWATCH_WORDS)["disagrees"]:
                expected = j
                break
        assert first[run] == expected, run


def test_each_forged_metric_check_gives_a_finding_that_names_it() -> None:
    from mlgov_runtime.challenger import findings as f

    package = "arn:aws:sagemaker:us-east-1:1:model-package/g/5"
    ch: dict[str, Any] = {"endpoint_name": ENDPOINT, "model_package_arn": package}
    ch |= {"group": "g", "version": 5, "traffic_fraction": 0.1}
    cases = []
    prod, chal = _honest(60)
    chal["impressions"] = [(x or 0) * 2 for x in chal["impressions"]]
    cases.append((decide_minutes(prod, chal, 60), "differ between the variants", "impressions_agreement"))
    prod, chal = _honest(30)
    chal["clicks"] = [(x or 0) + 400 for x in chal["clicks"]]
    cases.append((decide_minutes(prod, chal, 30), "clicks exceed impressions", "clicks_check"))
    prod, chal = _honest(180)
    chal["clicks"] = [(x or 0) * 3 for x in chal["clicks"]]
    cases.append((decide_minutes(prod, chal, 180), "implausible CTR ratio", "ctr_plausibility"))
    for result, title, evidence in cases:
        finding = f.invalid_finding(ch, result.to_dict(), "123456789012", "us-east-1")
        assert finding.kind == "CHALLENGER_INVALID" and title in finding.title and evidence in finding.evidence
        assert "CloudTrail PutMetricData" in finding.detail and "mlgov challenger start --package" in finding.detail
