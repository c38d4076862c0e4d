"""challenger.metrics.source "table": the recommender's counts read from the product's mlgov-recommendation-counts
table (which only the metric writers may write), AWS/SageMaker from CloudWatch. Same shapes and semantics as the
CloudWatch read; missing is never zero; a failed read fails the look; clicks put into the CloudWatch namespace
(an Embedded Metric Format log event, which no policy sees) are not read."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from mlgov.challenger_estate import DEFAULT_COUNTS_WRITERS, DEFAULT_DEPLOYERS, counts_table_policy, create_counts_table
from mlgov.ops.challenger_whatif import variant_counts
from mlgov_runtime.challenger import logic
from mlgov_runtime.challenger.config import (
    COUNTS_TABLE,
    MINUTE_KEY,
    SERIES_KEY,
    ChallengerConfig,
    MetricNames,
)
from mlgov_runtime.challenger.decision import CONTINUE, INSUFFICIENT_DATA, PROMOTE, REJECT
from mlgov_runtime.challenger.gate import PAUSED, decide_minutes
from mlgov_runtime.challenger.inputs import DecisionConfig
from mlgov_runtime.challenger.ports import Throttled
from mlgov_runtime.challenger.recommendation_metrics import RecommendationMetrics
from tests.unit.test_challenger_gate import CHAL, ENDPOINT, NS, PROD, T0, _honest, traffic

REGION = "us-east-1"
WRITERS = DEFAULT_COUNTS_WRITERS  # the default settings' metric writers, no break-glass
DEPLOYERS = DEFAULT_DEPLOYERS  # and who deploys
LEAN = MetricNames(cart_adds=None, distinct_titles=None)
# Series key -> metric name (the recommender's counts) as MetricNames() names them.
CUSTOM = {
    "impressions": "RecommendationImpressions",
    "clicks": "RecommendationClicks",
    "json_failures": "RecommendationJsonFailures",
    "language_mismatches": "RecommendationLanguageMismatches",
    "cart_adds": "RecommendationCartAdds",
    "distinct_titles": "RecommendationDistinctTitles",
}
SAGEMAKER = {"invocations": "Invocations", "errors_4xx": "Invocation4XXErrors", "errors_5xx": "Invocation5XXErrors"}


def create_table(ddb: Any) -> None:
    create_counts_table(ddb, WRITERS)  # sealed with the product's policy: the watch believes no table without it


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_table(ddb)
        yield boto3.client("cloudwatch", region_name=REGION), ddb


def add(ddb: Any, variant: str, minute_start: int, counts: Mapping[str, float], endpoint: str = ENDPOINT) -> None:
    """What the recommender does each minute for a variant: UpdateItem ... ADD each count (0 included)."""
    names = {f"#c{i}": metric for i, metric in enumerate(counts)}
    values = {f":c{i}": {"N": repr(value)} for i, value in enumerate(counts.values())}
    ddb.update_item(
        TableName=COUNTS_TABLE,
        Key={SERIES_KEY: {"S": f"{endpoint}/{variant}"}, MINUTE_KEY: {"N": str(minute_start)}},
        UpdateExpression="ADD " + ", ".join(f"{n} {v}" for n, v in zip(names, values, strict=True)),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def epoch(minute: int) -> int:
    return int((T0 + timedelta(minutes=minute)).timestamp())


class Twin:
    """A stand-in for the CloudWatch client the tests' publishers call: AWS/SageMaker datapoints go to CloudWatch;
    the recommender's go to the table (ADDed to the minute's item, as the recommender writes them), to CloudWatch
    too when `also_cloudwatch` (an identical copy, or the attacker's namespace)."""

    def __init__(self, cw: Any, ddb: Any, also_cloudwatch: bool = False, to_table: bool = True) -> None:
        self.cw, self.ddb, self.also_cloudwatch, self.to_table = cw, ddb, also_cloudwatch, to_table

    def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> None:
        if Namespace != NS or self.also_cloudwatch:
            self.cw.put_metric_data(Namespace=Namespace, MetricData=MetricData)
        if Namespace != NS or not self.to_table:
            return
        for datum in MetricData:
            dims = {d["Name"]: d["Value"] for d in datum["Dimensions"]}
            minute = int(datum["Timestamp"].timestamp()) // 60 * 60
            add(self.ddb, dims["VariantName"], minute, {datum["MetricName"]: datum["Value"]}, dims["EndpointName"])


def publish(
    cw: Any, ddb: Any, variant: str, minute: int, values: Mapping[str, float | None], table: bool = True
) -> None:
    """One minute of every metric (None: not published) to CloudWatch, and the recommender's to the table."""
    dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": variant}]
    at = T0 + timedelta(minutes=minute, seconds=30)
    data: dict[str, list[dict[str, Any]]] = {NS: [], "AWS/SageMaker": []}
    for key, value in values.items():
        if value is None or key == "latency_sum":
            continue
        if key == "latency_count":
            if value:
                stat = {"SampleCount": value, "Sum": values["latency_sum"] or 0.0, "Minimum": 1.0, "Maximum": 9e4}
                data["AWS/SageMaker"].append(
                    {"MetricName": "ModelLatency", "Dimensions": dims, "Timestamp": at, "StatisticValues": stat}
                )
            continue
        namespace, metric = (NS, CUSTOM[key]) if key in CUSTOM else ("AWS/SageMaker", SAGEMAKER[key])
        data[namespace].append({"MetricName": metric, "Dimensions": dims, "Timestamp": at, "Value": float(value)})
    for namespace, datums in data.items():
        if datums:
            cw.put_metric_data(Namespace=namespace, MetricData=datums)
    custom = {CUSTOM[k]: v for k, v in values.items() if k in CUSTOM and v is not None}
    if table and custom:
        add(ddb, variant, epoch(minute), custom)


def minutes_of(seed: int, minutes: int) -> Iterator[tuple[str, int, dict[str, float | None]]]:
    prod, chal = _honest(minutes, seed=seed)
    for variant, s in ((PROD, prod), (CHAL, chal)):
        for i in range(minutes):
            row = {k: v[i] for k, v in s.items()}
            row["cart_adds"] = float(int((row["clicks"] or 0) * 0.1))
            row["distinct_titles"] = float(int((row["impressions"] or 0) * 0.7))
            yield variant, i, row


def both(cw: Any, ddb: Any, names: MetricNames, minutes: int) -> tuple[RecommendationMetrics, RecommendationMetrics]:
    table = RecommendationMetrics(
        cw, MetricNames(**{**vars(names), "source": "table", "writers": WRITERS, "deployers": DEPLOYERS}), ddb
    )
    return RecommendationMetrics(cw, names), table


# -- the same data, both sources


@pytest.mark.parametrize(
    "names",
    [
        MetricNames(),
        MetricNames(cart_adds=None),
        MetricNames(distinct_titles=None),
        LEAN,
    ],
    ids=["every-metric", "no-cart-adds", "no-distinct-titles", "neither"],
)
def test_the_same_minutes_read_from_cloudwatch_and_from_the_table_are_the_same(
    aws: tuple[Any, Any], names: MetricNames
) -> None:
    # Given 12 minutes of both variants in CloudWatch and the same counts in the table, with gaps: minute 3 of the
    # challenger not published at all, minute 5 without its clicks, minute 7 all zeros
    cw, ddb = aws
    for variant, minute, row in minutes_of(5, 12):
        if variant == CHAL and minute == 3:
            continue
        if variant == CHAL and minute == 5:
            row["clicks"] = None
        if minute == 7:
            row = {k: 0.0 for k in row}
        publish(cw, ddb, variant, minute, row)
    from_cw, from_table = both(cw, ddb, names, 12)
    end = T0 + timedelta(minutes=12)
    # Then both reads return the same series and the same cumulative counts
    series = from_cw.variant_series(ENDPOINT, [PROD, CHAL], T0, end)
    assert from_table.variant_series(ENDPOINT, [PROD, CHAL], T0, end) == series
    assert variant_counts(from_table, ENDPOINT, [PROD, CHAL], T0, end) == variant_counts(
        from_cw, ENDPOINT, [PROD, CHAL], T0, end
    )
    assert series[CHAL]["clicks"][3] is None and series[CHAL]["clicks"][5] is None
    assert series[CHAL]["impressions"][5] is not None and series[CHAL]["clicks"][7] == 0.0
    assert ("cart_adds" in series[PROD]) == bool(names.cart_adds)
    assert ("distinct_titles" in series[PROD]) == bool(names.distinct_titles)
    # And over a sub-window (a look that starts later) too
    later = T0 + timedelta(minutes=4)
    assert from_table.variant_series(ENDPOINT, [PROD, CHAL], later, end) == from_cw.variant_series(
        ENDPOINT, [PROD, CHAL], later, end
    )
    assert from_table.problems == []


# -- the data rules, through the adapter


def test_a_minute_without_an_item_is_missing_for_every_count_never_zero(aws: tuple[Any, Any]) -> None:
    cw, ddb = aws
    add(ddb, CHAL, epoch(0), {"RecommendationImpressions": 350, "RecommendationClicks": 28})
    add(ddb, CHAL, epoch(2), {"RecommendationImpressions": 340, "RecommendationClicks": 0})
    got = RecommendationMetrics(
        cw, MetricNames(source="table", writers=WRITERS, deployers=DEPLOYERS), ddb
    ).variant_series(ENDPOINT, [PROD, CHAL], T0, T0 + timedelta(minutes=3))
    assert got[CHAL]["impressions"] == [350.0, None, 340.0] and got[CHAL]["clicks"] == [28.0, None, 0.0]
    assert got[CHAL]["cart_adds"] == [None, None, None] and got[PROD]["clicks"] == [None, None, None]


def test_an_item_without_an_attribute_is_missing_for_that_count_only(aws: tuple[Any, Any]) -> None:
    cw, ddb = aws
    add(ddb, CHAL, epoch(0), {"RecommendationImpressions": 350, "RecommendationJsonFailures": 0})
    metrics = RecommendationMetrics(cw, MetricNames(source="table", writers=WRITERS, deployers=DEPLOYERS), ddb)
    got = metrics.variant_series(ENDPOINT, [CHAL], T0, T0 + timedelta(minutes=1))[CHAL]
    assert (got["impressions"], got["json_failures"], got["clicks"]) == ([350.0], [0.0], [None])
    counts = variant_counts(metrics, ENDPOINT, [CHAL], T0, T0 + timedelta(minutes=1))[CHAL]
    # The cumulative read keeps the CloudWatch read's meaning: the sum of what there is, cart_adds None when absent
    assert (counts.impressions, counts.clicks, counts.cart_adds) == (350.0, 0.0, None)


@pytest.mark.parametrize(
    ("value", "shown"),
    [({"S": "12"}, "'S': '12'"), ({"N": "-3"}, "'N': '-3'"), ({"BOOL": True}, "'BOOL': True")],
    ids=["string", "negative", "boolean"],
)
def test_a_value_that_is_not_a_count_reads_as_missing_and_is_reported(
    aws: tuple[Any, Any], value: dict[str, Any], shown: str
) -> None:
    cw, ddb = aws
    add(ddb, CHAL, epoch(0), {"RecommendationImpressions": 350})
    ddb.update_item(
        TableName=COUNTS_TABLE,
        Key={SERIES_KEY: {"S": f"{ENDPOINT}/{CHAL}"}, MINUTE_KEY: {"N": str(epoch(0))}},
        UpdateExpression="SET #c = :v",
        ExpressionAttributeNames={"#c": "RecommendationClicks"},
        ExpressionAttributeValues={":v": value},
    )
    metrics = RecommendationMetrics(cw, MetricNames(source="table", writers=WRITERS, deployers=DEPLOYERS), ddb)
    got = metrics.variant_series(ENDPOINT, [CHAL], T0, T0 + timedelta(minutes=1))[CHAL]
    # Then the clicks of that minute are missing (never 0), the impressions stay
    assert got["clicks"] == [None] and got["impressions"] == [350.0]
    [problem] = metrics.problems
    assert problem["table"] == COUNTS_TABLE and problem["attribute"] == "RecommendationClicks"
    assert problem["series"] == f"{ENDPOINT}/{CHAL}" and problem["minute"] == epoch(0) and shown in problem["value"]
    # And the cumulative read does not add it either
    assert variant_counts(metrics, ENDPOINT, [CHAL], T0, T0 + timedelta(minutes=1))[CHAL].clicks == 0.0
    assert len(metrics.problems) == 1


def test_a_look_reports_the_values_that_are_not_counts(aws: tuple[Any, Any]) -> None:
    # Given 12 minutes whose challenger clicks were written as strings (a recommender bug)
    cw, ddb = aws
    traffic(Twin(cw, ddb), range(14))
    for minute in range(14):
        ddb.update_item(
            TableName=COUNTS_TABLE,
            Key={SERIES_KEY: {"S": f"{ENDPOINT}/{CHAL}"}, MINUTE_KEY: {"N": str(epoch(minute))}},
            UpdateExpression="SET #c = :v",
            ExpressionAttributeNames={"#c": "RecommendationClicks"},
            ExpressionAttributeValues={":v": {"S": "28"}},
        )
    cfg = ChallengerConfig(
        metrics=MetricNames(cart_adds=None, distinct_titles=None, source="table", writers=WRITERS, deployers=DEPLOYERS)
    )
    metrics = RecommendationMetrics(cw, cfg.metrics, ddb)
    look = logic.look(metrics, cfg, _ch(), T0, T0 + timedelta(minutes=14, seconds=5))
    # Then the look pauses on missing clicks (never 0 clicks, never REJECT) and says why they are missing
    assert look["decision"] == PAUSED and look["result"]["statistics"]["data_problem"]["metric"] == "clicks"
    reasons = " ".join(look["result"]["reasons"])
    assert f"in table {COUNTS_TABLE} are not counts" in reasons and "RecommendationClicks" in reasons
    assert "ADD 0" in reasons
    assert len(look["result"]["statistics"]["counts_table_problems"]) == 12
    from mlgov_runtime.challenger import findings as f

    ch = {**_ch(), "model_package_arn": "arn:aws:sagemaker:us-east-1:1:model-package/g/5", "group": "g", "version": 5}
    finding = f.data_missing_finding(ch, look["result"], "123456789012", REGION)
    assert finding.kind == "CHALLENGER_DATA_MISSING" and "are not counts" in finding.detail


def test_a_later_look_sees_the_revised_counts(aws: tuple[Any, Any]) -> None:
    cw, ddb = aws
    add(ddb, CHAL, epoch(0), {"RecommendationImpressions": 10, "RecommendationClicks": 0})
    metrics = RecommendationMetrics(cw, MetricNames(source="table", writers=WRITERS, deployers=DEPLOYERS), ddb)
    window = (ENDPOINT, [CHAL], T0, T0 + timedelta(minutes=1))
    assert metrics.variant_series(*window)[CHAL]["impressions"] == [10.0]
    add(ddb, CHAL, epoch(0), {"RecommendationImpressions": 340, "RecommendationClicks": 27})
    assert metrics.variant_series(*window)[CHAL]["impressions"] == [350.0]
    assert variant_counts(metrics, *window)[CHAL].clicks == 27.0


class PagedTable:
    """A DynamoDB client whose Query answers in pages of one item."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items, self.calls = items, []  # type: ignore[var-annotated]

    def query(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        at = int(kwargs["ExclusiveStartKey"]["i"]["N"]) + 1 if "ExclusiveStartKey" in kwargs else 0
        page: dict[str, Any] = {"Items": self.items[at : at + 1]}
        if at + 1 < len(self.items):
            page["LastEvaluatedKey"] = {"i": {"N": str(at)}}
        return page

    def get_resource_policy(self, **_: Any) -> dict[str, Any]:
        return {"Policy": json.dumps(counts_table_policy(WRITERS))}


def test_every_page_of_the_query_is_read_with_a_consistent_read_of_the_needed_attributes_only(
    aws: tuple[Any, Any],
) -> None:
    cw, _ = aws
    names = MetricNames(
        clicks="Recommendation.Clicks-v2",
        cart_adds=None,
        distinct_titles=None,
        source="table",
        writers=WRITERS,
        deployers=DEPLOYERS,
    )
    items = [
        {MINUTE_KEY: {"N": str(epoch(m))}, "RecommendationImpressions": {"N": "100"}, names.clicks: {"N": str(m)}}
        for m in range(3)
    ]
    table = PagedTable(items)
    got = RecommendationMetrics(cw, names, table).variant_series(ENDPOINT, [CHAL], T0, T0 + timedelta(minutes=3))
    assert got[CHAL]["clicks"] == [0.0, 1.0, 2.0] and got[CHAL]["impressions"] == [100.0] * 3
    assert len(table.calls) == 3 and table.calls[1]["ExclusiveStartKey"] == {"i": {"N": "0"}}
    first = table.calls[0]
    assert first["TableName"] == COUNTS_TABLE and first["ConsistentRead"] is True
    assert first["ExpressionAttributeValues"] == {
        ":s": {"S": f"{ENDPOINT}/{CHAL}"},
        ":a": {"N": str(epoch(0))},
        ":b": {"N": str(epoch(3) - 1)},
    }
    # Every name through a placeholder (the clicks' name holds characters an expression refuses), nothing else read
    projected = {first["ExpressionAttributeNames"][p.strip()] for p in first["ProjectionExpression"].split(",")}
    assert projected == {
        MINUTE_KEY,
        "RecommendationImpressions",
        "Recommendation.Clicks-v2",
        "RecommendationJsonFailures",
        "RecommendationLanguageMismatches",
    }
    assert "." not in first["ProjectionExpression"] and MINUTE_KEY not in first["KeyConditionExpression"]


def test_a_metric_name_expressions_refuse_reads_through_the_real_query(aws: tuple[Any, Any]) -> None:
    cw, ddb = aws
    add(ddb, CHAL, epoch(0), {"Recommendation.Clicks-v2": 7, "RecommendationImpressions": 70})
    names = MetricNames(clicks="Recommendation.Clicks-v2", source="table", writers=WRITERS, deployers=DEPLOYERS)
    got = RecommendationMetrics(cw, names, ddb).variant_series(ENDPOINT, [CHAL], T0, T0 + timedelta(minutes=1))
    assert got[CHAL]["clicks"] == [7.0] and got[CHAL]["impressions"] == [70.0]


# -- a failed read fails the look, as a CloudWatch failure does


class Failing:
    def __init__(self, code: str) -> None:
        self.code = code

    def _raise(self, operation: str) -> None:
        raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, operation)

    def query(self, **_: Any) -> dict[str, Any]:
        self._raise("Query")
        return {}

    def get_resource_policy(self, **_: Any) -> dict[str, Any]:
        self._raise("GetResourcePolicy")
        return {}

    def get_metric_data(self, **_: Any) -> dict[str, Any]:
        self._raise("GetMetricData")
        return {}


def test_no_table_fails_the_look_naming_the_table_and_the_fix(aws: tuple[Any, Any]) -> None:
    cw, ddb = aws
    ddb.delete_table(TableName=COUNTS_TABLE)
    cfg = ChallengerConfig(metrics=MetricNames(source="table", writers=WRITERS, deployers=DEPLOYERS))
    metrics = RecommendationMetrics(cw, cfg.metrics, ddb)
    with pytest.raises(ClientError) as raised:
        logic.look(metrics, cfg, _ch(), T0, T0 + timedelta(minutes=30))
    # A plain ClientError, as CloudWatch's: the state machine retries it, then the step fails (CHALLENGER_FAILED)
    assert type(raised.value) is ClientError
    text = str(raised.value)
    assert COUNTS_TABLE in text and "does not exist" in text and "ResourceNotFoundException" in text
    assert "challenger.metrics.source" in text and "deploy the stack" in text


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("AccessDeniedException", "may not read it (GetResourcePolicy refused)"),
        ("ResourceNotFoundException", "does not exist"),
        ("ThrottlingException", "throttled"),
        ("ProvisionedThroughputExceededException", "throttled"),
    ],
)
def test_a_refused_or_throttled_read_fails_the_look_as_a_cloudwatch_error_does(
    aws: tuple[Any, Any], code: str, why: str
) -> None:
    cw, _ = aws
    cfg = ChallengerConfig(metrics=MetricNames(source="table", writers=WRITERS, deployers=DEPLOYERS))
    with pytest.raises(ClientError) as from_table:
        logic.look(RecommendationMetrics(cw, cfg.metrics, Failing(code)), cfg, _ch(), T0, T0 + timedelta(minutes=30))
    with pytest.raises(ClientError) as from_cloudwatch:
        logic.look(
            RecommendationMetrics(Failing(code), MetricNames()),
            ChallengerConfig(),
            _ch(),
            T0,
            T0 + timedelta(minutes=30),
        )
    # The same error either way: a ClientError, and for a throttle one the watch pauses on (logic.watch)
    assert type(from_table.value) is type(from_cloudwatch.value) and isinstance(from_table.value, ClientError)
    assert isinstance(from_table.value, Throttled) is (why == "throttled")
    assert from_table.value.response["Error"]["Code"] == code and why in str(from_table.value)
    assert COUNTS_TABLE in str(from_table.value)


def test_the_table_source_needs_a_dynamodb_client_and_the_cloudwatch_source_never_uses_one(
    aws: tuple[Any, Any],
) -> None:
    cw, _ = aws
    with pytest.raises(ValueError, match=COUNTS_TABLE):
        RecommendationMetrics(cw, MetricNames(source="table", writers=WRITERS, deployers=DEPLOYERS))
    with pytest.raises(ValueError, match="cloudwatch or table"):
        RecommendationMetrics(cw, MetricNames(source="dynamodb"))
    # A client handed to the CloudWatch source is never called
    got = RecommendationMetrics(cw, LEAN, Failing("AccessDeniedException")).variant_series(
        ENDPOINT, [CHAL], T0, T0 + timedelta(minutes=2)
    )
    assert got[CHAL]["clicks"] == [None, None]


# -- the four data cases of the gate, in table mode (issue 24 items 3 and 4)


def _ch() -> dict[str, Any]:
    return {"endpoint_name": ENDPOINT, "production_variant": PROD, "challenger_variant": CHAL, "traffic_fraction": 0.1}


def table_series(cw: Any, ddb: Any, minutes: int) -> dict[str, dict[str, list[float | None]]]:
    metrics = RecommendationMetrics(
        cw, MetricNames(cart_adds=None, distinct_titles=None, source="table", writers=WRITERS, deployers=DEPLOYERS), ddb
    )
    return metrics.variant_series(ENDPOINT, [PROD, CHAL], T0, T0 + timedelta(minutes=minutes))


def test_a_click_attribute_that_never_arrives_pauses_the_run_as_data_missing_never_reject(
    aws: tuple[Any, Any],
) -> None:
    # Given the challenger's items never get a clicks attribute (the recommender writes them under another name)
    cw, ddb = aws
    traffic(Twin(cw, ddb), range(20), skip={CHAL: set(range(20))})
    twin = Twin(cw, ddb)
    for minute in range(20):
        dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": CHAL}]
        at = T0 + timedelta(minutes=minute, seconds=30)
        twin.put_metric_data(
            NS, [{"MetricName": "RecommendationImpressions", "Dimensions": dims, "Timestamp": at, "Value": 350.0}]
        )
        twin.put_metric_data(
            "AWS/SageMaker", [{"MetricName": "Invocations", "Dimensions": dims, "Timestamp": at, "Value": 350.0}]
        )
    got = table_series(cw, ddb, 20)
    assert got[CHAL]["clicks"] == [None] * 20 and got[CHAL]["impressions"] == [350.0] * 20
    result = decide_minutes(got[PROD], got[CHAL], 20)
    # Then no verdict: the run is paused on the data problem, the metric named
    assert result.decision == PAUSED
    problem = result.statistics["data_problem"]
    assert (problem["variant"], problem["metric"], problem["minutes_without_data"]) == ("challenger", "clicks", 20)
    ended = decide_minutes(got[PROD], got[CHAL], 20, DecisionConfig(min_minutes=20, max_minutes=20))
    assert ended.decision == INSUFFICIENT_DATA
    # And the look says where the counts come from and what the recommender must write
    cfg = ChallengerConfig(
        metrics=MetricNames(cart_adds=None, distinct_titles=None, source="table", writers=WRITERS, deployers=DEPLOYERS)
    )
    metrics = RecommendationMetrics(cw, cfg.metrics, ddb)
    look = logic.look(metrics, cfg, _ch(), T0, T0 + timedelta(minutes=22, seconds=5))
    assert look["decision"] == PAUSED
    assert f'{SERIES_KEY}="{ENDPOINT}/<variant>"' in " ".join(look["result"]["reasons"])
    # And the paused finding's next step queries the table for that variant, not CloudWatch's dimensions
    from mlgov_runtime.challenger import findings as f

    ch = {**_ch(), "model_package_arn": "arn:aws:sagemaker:us-east-1:1:model-package/g/5", "group": "g", "version": 5}
    detail = f.data_missing_finding(ch, look["result"], "123456789012", REGION).detail
    assert f"aws dynamodb query --region {REGION} --table-name {COUNTS_TABLE}" in detail
    assert f'{{":s":{{"S":"{ENDPOINT}/{CHAL}"}}}}' in detail and "list-metrics" not in detail


def test_minutes_missing_for_one_variant_in_the_table_are_left_out_for_both(aws: tuple[Any, Any]) -> None:
    cw, ddb = aws
    traffic(Twin(cw, ddb), range(30), skip={CHAL: {7, 19}})
    got = table_series(cw, ddb, 30)
    result = decide_minutes(got[PROD], got[CHAL], 30)
    assert result.statistics["aligned_minutes"] == 28 and result.statistics["missing_minutes"] == 2
    kept = [i for i in range(30) if i not in (7, 19)]
    assert result.production.impressions == sum(got[PROD]["impressions"][i] or 0 for i in kept)
    assert result.decision == CONTINUE


def test_counts_missing_only_in_the_first_minutes_wait_instead_of_stopping(aws: tuple[Any, Any]) -> None:
    cw, ddb = aws
    traffic(Twin(cw, ddb), range(8), skip={CHAL: set(range(8))})
    got = table_series(cw, ddb, 8)
    assert decide_minutes(got[PROD], got[CHAL], 8).decision == CONTINUE


def test_a_look_reads_settled_minutes_of_the_table_and_a_later_look_the_late_counts(aws: tuple[Any, Any]) -> None:
    # Given 20 full minutes, and minute 20 only partly counted in the table
    cw, ddb = aws
    twin = Twin(cw, ddb)
    traffic(twin, range(20))
    add(ddb, PROD, epoch(20), {"RecommendationImpressions": 1000, "RecommendationClicks": 80})
    add(ddb, CHAL, epoch(20), {"RecommendationImpressions": 10, "RecommendationClicks": 0})
    cfg = ChallengerConfig(
        metrics=MetricNames(cart_adds=None, distinct_titles=None, source="table", writers=WRITERS, deployers=DEPLOYERS)
    )
    metrics = RecommendationMetrics(cw, cfg.metrics, ddb)
    first = logic.look(metrics, cfg, _ch(), T0, T0 + timedelta(minutes=22, seconds=5))
    assert first["window"]["end"] == "2026-11-28T12:20:00Z" and first["elapsed_minutes"] == 20
    # When the rest of minute 20 is ADDed and later minutes arrive
    add(ddb, PROD, epoch(20), {"RecommendationImpressions": 2150, "RecommendationClicks": 170})
    add(ddb, CHAL, epoch(20), {"RecommendationImpressions": 340, "RecommendationClicks": 27})
    traffic(twin, range(21, 25), seed=1)
    for variant, n in ((PROD, 3150.0), (CHAL, 350.0)):
        dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": variant}]
        at = T0 + timedelta(minutes=20, seconds=30)
        cw.put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[{"MetricName": "Invocations", "Dimensions": dims, "Timestamp": at, "Value": n}],
        )
    second = logic.look(metrics, cfg, _ch(), T0, T0 + timedelta(minutes=27, seconds=5))
    # Then it reads minute 20 as revised
    got = table_series(cw, ddb, 25)
    assert got[CHAL]["impressions"][20] == 350 and got[PROD]["impressions"][20] == 3150
    v1, v2 = first["result"]["variants"]["challenger"], second["result"]["variants"]["challenger"]
    assert v2["impressions"] == v1["impressions"] + sum(v or 0.0 for v in got[CHAL]["impressions"][20:25])


# -- forged clicks through the CloudWatch namespace


def test_clicks_forged_into_the_cloudwatch_namespace_are_not_read_from_the_table(aws: tuple[Any, Any]) -> None:
    # Given 180 minutes of a challenger 20 % worse, the same counts in CloudWatch and in the table
    cw, ddb = aws
    prod, chal = _honest(180, ratio=0.8)
    for variant, s in ((PROD, prod), (CHAL, chal)):
        for i in range(180):
            publish(cw, ddb, variant, i, {k: v[i] for k, v in s.items()})
    # And 30 % more challenger clicks put into the recommendation namespace (an EMF log event, which no policy sees)
    dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": CHAL}]
    forged = [
        {
            "MetricName": "RecommendationClicks",
            "Dimensions": dims,
            "Timestamp": T0 + timedelta(minutes=i, seconds=40),
            "Value": float(round((x or 0) * 0.3)),
        }
        for i, x in enumerate(chal["clicks"])
    ]
    for i in range(0, len(forged), 500):
        cw.put_metric_data(Namespace=NS, MetricData=forged[i : i + 500])
    from_cw, from_table = both(cw, ddb, LEAN, 180)
    end = T0 + timedelta(minutes=180)
    # Then through CloudWatch the forgery promotes the worse challenger
    steered = from_cw.variant_series(ENDPOINT, [PROD, CHAL], T0, end)
    assert decide_minutes(steered[PROD], steered[CHAL], 180).decision == PROMOTE
    # And from the table the decision rests on the table's counts only: the worse challenger is rejected
    honest = from_table.variant_series(ENDPOINT, [PROD, CHAL], T0, end)
    assert honest[CHAL]["clicks"] == chal["clicks"]
    assert decide_minutes(honest[PROD], honest[CHAL], 180).decision == REJECT
    # And the table read asked CloudWatch for AWS/SageMaker metrics only
    queried = [q["MetricStat"]["Metric"]["Namespace"] for q in from_table._queries(ENDPOINT, CHAL, 0, 60)]
    assert set(queried) == {"AWS/SageMaker"}


# -- the runtime's wiring: the Steps function and `mlgov challenger status`


def test_the_watch_step_reads_the_table_when_the_source_is_table(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgov.challenger_estate import VariantTraffic, put_traffic
    from mlgov_runtime.adapters import aws as aws_adapter
    from mlgov_runtime.core import env
    from tests.integration.test_challenger_handler import ACCOUNT, lab_context, settings_env
    from tests.integration.test_challenger_handler import T0 as LAB_T0

    with lab_context(monkeypatch) as lab:
        # The CloudWatch source: no DynamoDB client handed to the metrics
        made: list[Any] = []
        real = lab.handler.RecommendationMetrics

        def spy(*args: Any) -> Any:
            made.append(args)
            return real(*args)

        monkeypatch.setattr(lab.handler, "RecommendationMetrics", spy)
        lab.handler.ports(ACCOUNT)
        assert made[-1][2] is None
        create_table(boto3.client("dynamodb", region_name=REGION))
        monkeypatch.setenv("MLGOV_CHALLENGER_SETTINGS", settings_env(metrics={"source": "table"}))
        env.reset_all()
        aws_adapter.context_for.cache_clear()
        assert lab.handler.ports(ACCOUNT).metrics._table is not None and made[-1][2] is not None
        # Given a challenger 30 % worse whose counts reach the table only (none in the CloudWatch namespace)
        arn = lab.register()
        state = lab.start(arn)
        ch = state["challenger"]
        sink = Twin(lab.cw, boto3.client("dynamodb", region_name=REGION))
        start = LAB_T0 + timedelta(minutes=2)  # as the handler's tests: the steps' clock, not moto's
        variants = {
            ch["production_variant"]: VariantTraffic(0.9),
            ch["challenger_variant"]: VariantTraffic(0.1, ctr=0.056),
        }
        put_traffic(sink, ENDPOINT, variants, start, 60, 3500, seed=7)
        # Then the watch step rejects it from the table's counts
        state = lab.watch_until_verdict(state)
        assert state["watch"]["decision"] == "REJECT"
        # And the Steps function checks the table's seal with the writers it received: without it, no look
        from mlgov_runtime.challenger.counts_policy import UnsealedCountsTable

        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.delete_resource_policy(ResourceArn=ddb.describe_table(TableName=COUNTS_TABLE)["Table"]["TableArn"])
        with pytest.raises(UnsealedCountsTable, match=f"{COUNTS_TABLE}.*MlGovRecommenderMetrics"):
            lab.handler.ports(ACCOUNT).metrics.variant_series(
                ENDPOINT, [PROD, CHAL], start, start + timedelta(minutes=5)
            )


def test_status_reads_the_table_when_the_source_is_table(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlgov.challenger_estate import VariantTraffic, put_traffic
    from mlgov.cli import main
    from mlgov.commands import challenger as command
    from tests.integration.test_challenger_handler import lab_context

    config = tmp_path / "cdk.json"
    config.write_text(json.dumps({"context": {"mlgov": {"challenger": {"metrics": {"source": "table"}}}}}))
    with lab_context(monkeypatch) as lab:
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_table(ddb)
        arn = lab.register()
        ch = lab.start(arn)["challenger"]
        live = lab.sm.describe_endpoint(EndpointName=ENDPOINT)["LastModifiedTime"]
        start = live.replace(second=0, microsecond=0) + timedelta(minutes=1)
        variants = {
            ch["production_variant"]: VariantTraffic(0.9),
            ch["challenger_variant"]: VariantTraffic(0.1, ctr=0.056),
        }
        # Given the recommender's counts in the table only
        put_traffic(Twin(lab.cw, ddb), ENDPOINT, variants, start, 30, 3500, seed=3)
        monkeypatch.setattr(command, "_now", lambda: start + timedelta(minutes=30, seconds=20))
        argv = ["challenger", "status", "--endpoint", ENDPOINT, "--format", "json", "--config", str(config)]
        # The lab's steps ran the Lambda handler, whose Powertools logger writes to the sys.stdout of the test
        # that first made it (this one when run alone): drop that output, so only the command's is judged
        capsys.readouterr()
        code = main(argv)
        report = json.loads(capsys.readouterr().out)
        # Then status judges from the table: the worse challenger is rejected over the 28 settled minutes
        assert code == 3 and report["decision"] == "REJECT" and report["elapsed_minutes"] == 28
        assert report["variants"]["challenger"]["impressions"] > 0
        # And a table of that name without the product's policy: an error naming it, never a verdict
        arn = ddb.describe_table(TableName=COUNTS_TABLE)["Table"]["TableArn"]
        ddb.delete_resource_policy(ResourceArn=arn)
        code = main(argv)
        out = capsys.readouterr()
        assert code == 1 and out.out == "" and out.err.startswith("mlgov: error: ")
        assert f"{COUNTS_TABLE} ({arn}) is not sealed by the product: it has no resource policy" in out.err
        # And without the table the command fails naming it, never a verdict on zeros
        ddb.delete_table(TableName=COUNTS_TABLE)
        code = main(argv)
        out = capsys.readouterr()
        assert code == 1 and out.out == "" and COUNTS_TABLE in out.err and "AWS call failed" in out.err
        # And with the CloudWatch source the same endpoint has no recommender counts at all: paused, not zeros
        cloudwatch = tmp_path / "cloudwatch.json"
        cloudwatch.write_text(json.dumps({"context": {"mlgov": {}}}))
        main([*argv[:-1], str(cloudwatch)])
        assert json.loads(capsys.readouterr().out)["decision"] == PAUSED


def test_a_number_beyond_a_float_is_not_a_count() -> None:
    from mlgov_runtime.challenger.recommendation_metrics import _number

    assert (
        _number({"N": "1e400"}) is None and _number({"N": "NaN"}) is None and not math.isnan(_number({"N": "0"}) or 0)
    )
