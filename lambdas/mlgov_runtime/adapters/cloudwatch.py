"""CloudWatch metric reads: a sum over a window and the values a dimension takes. General on purpose
(any namespace, metric and dimensions): the retirement checks and the challenger gate both read here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

MAX_DATAPOINTS = 1440  # GetMetricStatistics' limit per call


class MetricsUnavailable(Exception):
    """A metric could not be read; the message names it and why."""


def _dimensions(dimensions: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in sorted(dimensions.items())]


@dataclass(frozen=True)
class MetricSeries:
    """A metric and the dimensions it is read with. CloudWatch matches the dimension set exactly, so name every
    dimension the metric is published with."""

    namespace: str
    metric_name: str
    dimensions: Mapping[str, str]

    @property
    def name(self) -> str:
        return f"{self.namespace}/{self.metric_name}"


class CloudWatchMetrics:
    def __init__(self, client: Any) -> None:
        self._cw = client

    def sum(self, series: MetricSeries, start: datetime, end: datetime, period: int = 3600) -> float:
        """Sum of every datapoint in [start, end). No data is 0, and so is a window shorter than a minute
        (CloudWatch's smallest period; it would reject the request)."""
        if (end - start).total_seconds() < 60:
            return 0.0
        span = max((end - start).total_seconds(), period)
        if span / period > MAX_DATAPOINTS:
            raise MetricsUnavailable(f"{series.name}: {span / period:.0f} periods exceed {MAX_DATAPOINTS}")
        datapoints = self._sums(series, start, end, period)
        return float(sum(point.get("Sum", 0.0) for point in datapoints))

    def datapoints(
        self, series: MetricSeries, start: datetime, end: datetime, period: int
    ) -> list[tuple[datetime, float]]:
        """(timestamp, Sum) of each period that has data, oldest first. A period without a datapoint is
        absent, never 0: the caller decides what missing means."""
        if (end - start).total_seconds() / period > MAX_DATAPOINTS:
            raise MetricsUnavailable(f"{series.name}: more than {MAX_DATAPOINTS} periods of {period} s")
        datapoints = self._sums(series, start, end, period)
        points = [(p["Timestamp"], float(p.get("Sum", 0.0))) for p in datapoints if "Sum" in p]
        return sorted(points, key=lambda p: p[0])

    def _sums(self, series: MetricSeries, start: datetime, end: datetime, period: int) -> list[dict[str, Any]]:
        try:
            answer = self._cw.get_metric_statistics(
                Namespace=series.namespace,
                MetricName=series.metric_name,
                Dimensions=_dimensions(series.dimensions),
                StartTime=start,
                EndTime=end,
                Period=period,
                Statistics=["Sum"],
            )
        except (ClientError, BotoCoreError) as exc:
            raise MetricsUnavailable(f"{series.name} {dict(series.dimensions)}: {exc}") from exc
        return list(answer.get("Datapoints", []))

    def dimension_values(self, series: MetricSeries, key: str) -> set[str]:
        """Values of dimension `key` among the metric's series that carry `series.dimensions` (last two weeks)."""
        values: set[str] = set()
        try:
            pages = self._cw.get_paginator("list_metrics").paginate(
                Namespace=series.namespace, MetricName=series.metric_name, Dimensions=_dimensions(series.dimensions)
            )
            for page in pages:
                for metric in page.get("Metrics", []):
                    values.update(d["Value"] for d in metric.get("Dimensions", []) if d.get("Name") == key)
        except (ClientError, BotoCoreError) as exc:
            raise MetricsUnavailable(f"{series.name} series {dict(series.dimensions)}: {exc}") from exc
        return values
