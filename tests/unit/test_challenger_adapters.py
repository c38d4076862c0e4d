"""The challenger gate's adapters on fake clients: what they ask AWS for and how they read the answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mlgov.ops.challenger_whatif import variant_counts
from mlgov_runtime.challenger.config import MetricNames, RetentionMetric
from mlgov_runtime.challenger.recommendation_metrics import RecommendationMetrics

START = datetime(2026, 11, 28, 12, 4, tzinfo=UTC)


class FakeCloudWatch:
    """Answers GetMetricData from {query id: values}, split over two pages."""

    def __init__(self, values: dict[str, list[float]]) -> None:
        self.values = values
        self.calls: list[dict[str, Any]] = []

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        ids = [q["Id"] for q in kwargs["MetricDataQueries"]]
        half = len(ids) // 2
        page = ids[half:] if kwargs.get("NextToken") else ids[:half]
        results = [{"Id": i, "Values": self.values.get(i, [])} for i in page]
        return {"MetricDataResults": results, **({} if kwargs.get("NextToken") else {"NextToken": "2"})}


def test_one_call_per_look_sums_every_page_and_keeps_absent_metrics_absent() -> None:
    # Given per-variant answers where only production reports cart adds and latency
    cw = FakeCloudWatch(
        {
            "v0_impressions": [9000, 1000],
            "v0_clicks": [800],
            "v0_cart_adds": [150],
            "v0_latency_sum": [360_000],
            "v0_latency_count": [2000],
            "v0_invocations": [2000],
            "v1_impressions": [1100],
            "v1_clicks": [70],
            "v1_errors_5xx": [3],
        }
    )
    counts = variant_counts(
        RecommendationMetrics(cw, MetricNames()),
        "prod",
        ["AllTraffic", "challenger-v5"],
        START,
        START + timedelta(minutes=25),
    )
    # Then one GetMetricData (two pages) asked for the whole window as one period
    assert len(cw.calls) == 2 and cw.calls[1]["NextToken"] == "2"
    queries = cw.calls[0]["MetricDataQueries"]
    assert {q["MetricStat"]["Period"] for q in queries} == {1500}
    assert len(queries) == 22  # 11 per variant, plain MetricStat (no metric math)
    clicks = next(q for q in queries if q["Id"] == "v1_clicks")["MetricStat"]["Metric"]
    assert clicks == {
        "Namespace": "MangaAssist/Recommendations",
        "MetricName": "RecommendationClicks",
        "Dimensions": [{"Name": "EndpointName", "Value": "prod"}, {"Name": "VariantName", "Value": "challenger-v5"}],
    }
    production, challenger = counts["AllTraffic"], counts["challenger-v5"]
    assert (production.impressions, production.clicks, production.cart_adds) == (10_000, 800, 150)
    assert production.average_latency == 180
    assert (challenger.impressions, challenger.errors_5xx) == (1100, 3)
    assert challenger.cart_adds is None and challenger.latency_sum is None  # not reported, not zero


def test_an_empty_window_asks_nothing() -> None:
    cw = FakeCloudWatch({})
    counts = variant_counts(RecommendationMetrics(cw, MetricNames()), "prod", ["a", "b"], START, START)
    assert cw.calls == [] and counts["a"].impressions == 0


def test_without_a_cart_metric_no_cart_query_is_made() -> None:
    cw = FakeCloudWatch({})
    variant_counts(
        RecommendationMetrics(cw, MetricNames(cart_adds=None)), "prod", ["a"], START, START + timedelta(minutes=1)
    )
    assert not any(q["Id"].endswith("cart_adds") for q in cw.calls[0]["MetricDataQueries"])


def test_the_retention_statistic_of_a_week() -> None:
    cw = FakeCloudWatch({"m0": [0.40, 0.38]})
    metrics = RecommendationMetrics(cw, MetricNames())
    value = metrics.endpoint_statistic(RetentionMetric(), "prod", START, START + timedelta(days=7))
    assert value == 0.39
    [query] = cw.calls[0]["MetricDataQueries"]
    assert query["MetricStat"]["Stat"] == "Average" and query["MetricStat"]["Period"] == 7 * 24 * 3600


class RecordingSageMaker:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def describe_endpoint(self, **kwargs: Any) -> dict[str, Any]:
        return {"EndpointName": kwargs["EndpointName"], "EndpointConfigName": "current"}

    def update_endpoint(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("update_endpoint", kwargs))
        return {}


def test_an_update_keeps_what_autoscaling_set_and_takes_the_configs_weights() -> None:
    from mlgov_runtime.challenger.endpoint_rollout import SageMakerRollout

    sm = RecordingSageMaker()
    rollout = SageMakerRollout(sm)
    rollout.update_endpoint("prod", "current")  # already there: nothing to do
    rollout.update_endpoint("prod", "next")
    assert sm.calls == [
        (
            "update_endpoint",
            {
                "EndpointName": "prod",
                "EndpointConfigName": "next",
                "RetainAllVariantProperties": True,
                "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DesiredWeight"}],
            },
        )
    ]
