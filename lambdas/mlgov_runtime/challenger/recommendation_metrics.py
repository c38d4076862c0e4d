"""CloudWatch reads for the challenger gate: per-variant sums since the challenger was deployed.

One GetMetricData call per look, every query a plain MetricStat (no metric math). The period is the
whole window (a multiple of 60 s), so each query returns one sum; when CloudWatch splits it anyway,
the values are added. Times are whole minutes: the caller rounds the start up, the end down.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from mlgov_runtime.challenger.config import MetricNames, RetentionMetric
from mlgov_runtime.challenger.inputs import VariantCounts

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
# (field of VariantCounts, metric, statistic) read from AWS/SageMaker per endpoint and variant.
_SAGEMAKER = (
    ("invocations", "Invocations", "Sum"),
    ("errors_4xx", "Invocation4XXErrors", "Sum"),
    ("errors_5xx", "Invocation5XXErrors", "Sum"),
    ("latency_sum", "ModelLatency", "Sum"),
    ("latency_count", "ModelLatency", "SampleCount"),
)


def _period(start: datetime, end: datetime) -> int:
    return max(60, math.ceil((end - start).total_seconds() / 60) * 60)


class RecommendationMetrics:
    def __init__(self, cloudwatch: Any, names: MetricNames) -> None:
        self._cw = cloudwatch
        self._names = names

    def _queries(self, endpoint: str, variant: str, index: int, period: int) -> list[dict[str, Any]]:
        n = self._names
        custom = [
            ("impressions", n.impressions),
            ("clicks", n.clicks),
            ("json_failures", n.json_failures),
            ("language_mismatches", n.language_mismatches),
        ]
        if n.cart_adds:
            custom.append(("cart_adds", n.cart_adds))
        if n.distinct_titles:
            custom.append(("distinct_titles", n.distinct_titles))
        dims = [
            {"Name": n.endpoint_dimension, "Value": endpoint},
            {"Name": n.variant_dimension, "Value": variant},
        ]
        # AWS/SageMaker always names its dimensions EndpointName and VariantName.
        sm_dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
        out = [_stat(f"v{index}_{key}", n.namespace, metric, dims, "Sum", period) for key, metric in custom]
        out += [
            _stat(f"v{index}_{key}", SAGEMAKER_NAMESPACE, metric, sm_dims, stat, period)
            for key, metric, stat in _SAGEMAKER
        ]
        return out

    def variant_counts(
        self, endpoint: str, variants: Iterable[str], start: datetime, end: datetime
    ) -> dict[str, VariantCounts]:
        """Cumulative counts per variant over [start, end); zeros when the window is empty."""
        names = list(variants)
        if end <= start:
            return {v: VariantCounts(0, 0) for v in names}
        period = _period(start, end)
        queries = [q for i, v in enumerate(names) for q in self._queries(endpoint, v, i, period)]
        sums = self._get(queries, start, end)
        out = {}
        for i, variant in enumerate(names):

            def total(key: str, index: int = i) -> float:
                return sum(sums.get(f"v{index}_{key}", []))

            def present(key: str, index: int = i) -> float | None:
                values = sums.get(f"v{index}_{key}", [])
                return sum(values) if values else None

            count = present("latency_count")
            out[variant] = VariantCounts(
                impressions=total("impressions"),
                clicks=total("clicks"),
                invocations=total("invocations"),
                errors_4xx=total("errors_4xx"),
                errors_5xx=total("errors_5xx"),
                latency_sum=present("latency_sum") if count else None,
                latency_count=count or None,
                json_failures=total("json_failures"),
                language_mismatches=total("language_mismatches"),
                cart_adds=present("cart_adds"),
            )
        return out

    def variant_series(
        self, endpoint: str, variants: Iterable[str], start: datetime, end: datetime
    ) -> dict[str, dict[str, list[float | None]]]:
        """Per-minute values over [start, end) per variant and metric (keys as VariantCounts' fields), None for a
        minute CloudWatch has no datapoint for: missing stays missing, never 0. A later call over the same window
        sees revised (late) values, since each look reads the whole window again."""
        names = list(variants)
        minutes = max(0, int((end - start).total_seconds() // 60))
        if minutes == 0:
            return {v: {} for v in names}
        queries = [q for i, v in enumerate(names) for q in self._queries(endpoint, v, i, 60)]
        points = self._get_points(queries, start, end)
        out: dict[str, dict[str, list[float | None]]] = {}
        for i, variant in enumerate(names):
            series: dict[str, list[float | None]] = {}
            for q in queries:
                prefix = f"v{i}_"
                if not q["Id"].startswith(prefix):
                    continue
                values: list[float | None] = [None] * minutes
                for at, value in points.get(q["Id"], []):
                    index = int((at - start).total_seconds() // 60)
                    if 0 <= index < minutes:
                        values[index] = (values[index] or 0.0) + value
                series[q["Id"][len(prefix) :]] = values
            out[variant] = series
        return out

    def _get_points(
        self, queries: list[dict[str, Any]], start: datetime, end: datetime
    ) -> dict[str, list[tuple[datetime, float]]]:
        points: dict[str, list[tuple[datetime, float]]] = {}
        for result in self._results(queries, start, end):
            stamps = result.get("Timestamps", [])
            values = result.get("Values", [])
            points.setdefault(result["Id"], []).extend(
                (_utc(t), float(v)) for t, v in zip(stamps, values, strict=False)
            )
        return points

    def endpoint_statistic(
        self, metric: RetentionMetric, endpoint: str, start: datetime, end: datetime
    ) -> float | None:
        """One statistic of a per-endpoint metric over [start, end); None without data."""
        if end <= start:
            return None
        dims = [{"Name": metric.endpoint_dimension, "Value": endpoint}]
        query = _stat("m0", metric.namespace, metric.metric_name, dims, metric.statistic, _period(start, end))
        values = self._get([query], start, end).get("m0", [])
        if not values:
            return None
        if metric.statistic == "Sum":
            return sum(values)
        if metric.statistic == "Minimum":
            return min(values)
        if metric.statistic == "Maximum":
            return max(values)
        return sum(values) / len(values)

    def _get(self, queries: list[dict[str, Any]], start: datetime, end: datetime) -> dict[str, list[float]]:
        values: dict[str, list[float]] = {}
        for result in self._results(queries, start, end):
            values.setdefault(result["Id"], []).extend(float(v) for v in result.get("Values", []))
        return values

    def _results(self, queries: list[dict[str, Any]], start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Every MetricDataResults entry of one GetMetricData request, across its pages."""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
            if token:
                kwargs["NextToken"] = token
            answer = self._cw.get_metric_data(**kwargs)
            yield from answer.get("MetricDataResults", [])
            token = answer.get("NextToken")
            if not token:
                return


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _stat(
    query_id: str,
    namespace: str,
    metric: str,
    dimensions: list[dict[str, str]],
    stat: str,
    period: int,
) -> dict[str, Any]:
    # No Unit: a query with one matches only data published with exactly that unit.
    metric_stat: dict[str, Any] = {
        "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions},
        "Period": period,
        "Stat": stat,
    }
    return {"Id": query_id, "MetricStat": metric_stat, "ReturnData": True}
