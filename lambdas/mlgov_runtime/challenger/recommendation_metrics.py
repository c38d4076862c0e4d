"""The gate's reads: per-variant, per-minute CloudWatch sums in one GetMetricData call a look (plain MetricStats,
whole minutes), or with `metrics.source: table` the recommender's counts from COUNTS_TABLE (docs/challenger.md)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from mlgov_runtime.challenger.config import COUNTS_TABLE, MINUTE_KEY, SERIES_KEY, MetricNames, RetentionMetric
from mlgov_runtime.challenger.counts_policy import policy_problem, table_arn, unsealed
from mlgov_runtime.challenger.ports import Throttled

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
# (field of VariantCounts, metric, statistic) read from AWS/SageMaker per endpoint and variant.
_SAGEMAKER = (
    ("invocations", "Invocations", "Sum"),
    ("errors_4xx", "Invocation4XXErrors", "Sum"),
    ("errors_5xx", "Invocation5XXErrors", "Sum"),
    ("latency_sum", "ModelLatency", "Sum"),
    ("latency_count", "ModelLatency", "SampleCount"),
)


# A read DynamoDB or CloudWatch throttles (botocore has retried it by then).
_THROTTLED = ("ProvisionedThroughputExceededException", "RequestLimitExceeded")


def _is_throttle(code: str) -> bool:
    return "Throttl" in code or code in _THROTTLED


class ThrottledRead(ClientError, Throttled):
    """Still a ClientError (the CLI and the other steps see one)."""

    def __init__(self, response: Any, operation: str, source: str) -> None:
        super().__init__(response, operation)
        self.source = source


def _period(start: datetime, end: datetime) -> int:
    return max(60, math.ceil((end - start).total_seconds() / 60) * 60)


class RecommendationMetrics:
    """`dynamodb`: a DynamoDB client, needed (and only used) when names.source is "table"; `account`: the table's
    (else STS's). `problems`: what the last read found wrong in the table's values (each read as missing)."""

    def __init__(self, cloudwatch: Any, names: MetricNames, dynamodb: Any = None, account: str | None = None) -> None:
        if names.source not in ("cloudwatch", "table"):
            raise ValueError(f"metrics.source must be cloudwatch or table, got {names.source!r}")
        if names.source == "table" and dynamodb is None:
            raise ValueError(f"metrics.source table reads {COUNTS_TABLE}: pass a DynamoDB client")
        self._cw = cloudwatch
        self._names = names
        self._table: Any = dynamodb if names.source == "table" else None
        self._account = account
        self.problems: list[dict[str, Any]] = []

    def _table_arn(self) -> str:
        meta = getattr(self._table, "meta", None)
        partition = getattr(meta, "partition", None) or "aws"
        region = getattr(meta, "region_name", None) or ""
        if self._account is None:
            import boto3

            self._account = str(boto3.client("sts", region_name=region or None).get_caller_identity()["Account"])
        return table_arn(partition, region, self._account)

    def _check_seal(self) -> None:
        """Before a count of the table is believed: its policy is the product's (one GetResourcePolicy a read)."""
        arn = self._table_arn()
        try:
            document: str | None = self._table.get_resource_policy(ResourceArn=arn).get("Policy")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "PolicyNotFoundException":
                raise _table_error(exc, arn) from exc
            document = None
        names = self._names
        problem = policy_problem(document, names.writers, arn, names.deployers)
        if problem:
            raise unsealed(arn, problem, names.writers, names.deployers)

    def _custom(self) -> list[tuple[str, str]]:
        """(key of VariantCounts, metric name) of the recommender's counts."""
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
        return custom

    def _queries(self, endpoint: str, variant: str, index: int, period: int) -> list[dict[str, Any]]:
        n = self._names
        # From the table, the recommender's counts are not asked of CloudWatch at all.
        custom = [] if self._table is not None else self._custom()
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

    def variant_series(
        self, endpoint: str, variants: Iterable[str], start: datetime, end: datetime
    ) -> dict[str, dict[str, list[float | None]]]:
        """Per-minute values over [start, end) per variant and metric (VariantCounts' fields); None where
        there is no datapoint (or item, or count): missing stays missing, never 0."""
        names = list(variants)
        minutes = max(0, int((end - start).total_seconds() // 60))
        if minutes == 0:
            return {v: {} for v in names}
        queries = [q for i, v in enumerate(names) for q in self._queries(endpoint, v, i, 60)]
        if self._table is not None:
            self._check_seal()
        points = self._get_points(queries, start, end)
        out: dict[str, dict[str, list[float | None]]] = {}
        if self._table is not None:
            self.problems = []
        for i, variant in enumerate(names):
            series: dict[str, list[float | None]] = {}
            if self._table is not None:
                rows = self._table_minutes(endpoint, variant, start, end)
                for key, _ in self._custom():
                    # No item for a minute, or no attribute in it: None (missing), never 0.
                    series[key] = [rows.get(m, {}).get(key) for m in range(minutes)]
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

    def _table_minutes(
        self, endpoint: str, variant: str, start: datetime, end: datetime
    ) -> dict[int, dict[str, float | None]]:
        """{minute index since start: {key: count or None}} for the minutes in [start, end) that have an item.
        A value that is not a finite number >= 0 reads as None and is added to `problems`."""
        custom = self._custom()
        attributes = [MINUTE_KEY, *dict.fromkeys(metric for _, metric in custom)]
        # Placeholders for every name: a metric name may hold characters (or be a word) expressions refuse.
        placeholder = {name: f"#a{i}" for i, name in enumerate(attributes)}
        first = math.ceil(start.timestamp())
        last = math.ceil(end.timestamp()) - 1
        series = f"{endpoint}/{variant}"
        request: dict[str, Any] = {
            "TableName": COUNTS_TABLE,
            "KeyConditionExpression": f"#s = :s AND {placeholder[MINUTE_KEY]} BETWEEN :a AND :b",
            "ProjectionExpression": ", ".join(placeholder.values()),
            "ExpressionAttributeNames": {"#s": SERIES_KEY, **{v: k for k, v in placeholder.items()}},
            "ExpressionAttributeValues": {":s": {"S": series}, ":a": {"N": str(first)}, ":b": {"N": str(last)}},
            "ConsistentRead": True,
        }
        out: dict[int, dict[str, float | None]] = {}
        for item in self._items(request):
            minute = _number(item.get(MINUTE_KEY))
            if minute is None or minute % 60:
                self._problem(
                    series,
                    MINUTE_KEY,
                    item.get(MINUTE_KEY),
                    None,
                    "is not a minute's start (epoch seconds, a multiple of 60)",
                )
                continue
            index = int((minute - first) // 60)
            row = out.setdefault(index, {})
            for key, metric in custom:
                raw = item.get(metric)
                value = _number(raw)
                if raw is not None and value is None:
                    self._problem(series, metric, raw, int(minute), "is not a finite number >= 0")
                # One item a minute (the key).
                row[key] = value
        return out

    def _problem(self, series: str, attribute: str, raw: Any, minute: int | None, why: str) -> None:
        self.problems.append(
            {
                "table": COUNTS_TABLE,
                "series": series,
                "minute": minute,
                "attribute": attribute,
                "value": _shown(raw),
                "problem": why,
            }
        )

    def _items(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of one Query, across its pages. A failure is raised as a ClientError (as CloudWatch's are),
        naming the table and what to do: the look fails, it never reads the counts as zeros."""
        start_key: dict[str, Any] | None = None
        while True:
            kwargs = {**request, "ExclusiveStartKey": start_key} if start_key else request
            try:
                answer = self._table.query(**kwargs)
            except ClientError as exc:
                raise _table_error(exc, self._table_arn()) from exc
            yield from answer.get("Items", [])
            start_key = answer.get("LastEvaluatedKey")
            if not start_key:
                return

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
            try:
                answer = self._cw.get_metric_data(**kwargs)
            except ClientError as exc:
                if not _is_throttle(str(exc.response.get("Error", {}).get("Code", ""))):
                    raise
                raise ThrottledRead(exc.response, exc.operation_name, "CloudWatch GetMetricData") from exc
            yield from answer.get("MetricDataResults", [])
            token = answer.get("NextToken")
            if not token:
                return


def _number(attribute: Any) -> float | None:
    """A DynamoDB attribute value ({"N": "12"}) as a count: None unless a finite number >= 0."""
    if not isinstance(attribute, dict) or set(attribute) != {"N"}:
        return None
    try:
        value = float(attribute["N"])
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _shown(attribute: Any) -> str:
    text = repr(attribute)
    return text if len(text) <= 80 else text[:77] + "..."


def _table_error(exc: ClientError, arn: str) -> ClientError:
    """What to do about it; never the CloudWatch source (an Embedded Metric Format log event forges it)."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "Error")
    permissions = f"dynamodb:Query and dynamodb:GetResourcePolicy on {arn}, kms:Decrypt on the governance key"
    if code == "ResourceNotFoundException":
        why = "it does not exist in this account and region"
        fix = "with challenger.metrics.source table the product stack creates it: deploy the stack here"
    elif "AccessDenied" in code:
        why = f"this role may not read it ({exc.operation_name} refused)"
        fix = f"the role needs {permissions} (the stack grants them to the watch; operators: docs/challenger.md)"
    elif _is_throttle(code):
        why = "the read was throttled"
        fix = f"read again later; if it keeps failing, check {COUNTS_TABLE}'s ThrottledRequests in CloudWatch"
    else:
        why = "the read failed"
        fix = f"the reader needs {permissions}"
    message = (
        f"reading the recommendation counts from DynamoDB table {COUNTS_TABLE} failed: {why} ({code}: "
        f"{error.get('Message', '')}). No verdict without them: {fix}"
    )
    # A ClientError, as a CloudWatch failure raises: the state machine retries it, then reports the step failed;
    # a throttle pauses the watch instead (logic.watch).
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": exc.response.get("ResponseMetadata", {}),
    }
    if _is_throttle(code):
        return ThrottledRead(response, exc.operation_name, f"DynamoDB {exc.operation_name} on table {COUNTS_TABLE}")
    return ClientError(response, exc.operation_name)


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
