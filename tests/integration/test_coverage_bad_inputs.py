"""A catalog or snapshot of the wrong shape is a coverage check that could not run
(COVERAGE_CHECK_FAILED; `mlgov coverage` exits 2 naming the problem): never a KeyError, never a
100 % gap that pages on-call and starts a GPU training run, never a malformed line counted as covered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mlgov.catalog_estate import CATALOG_TABLE, SNAPSHOT_BUCKET
from mlgov.cli import main
from mlgov.sandbox import FakeContext
from tests.integration.test_coverage_and_retraining import World, fresh_handler, world
from tests.settings_files import NO_SETTINGS

__all__ = ["world"]


def recreate_catalog(ddb: Any, key: str, key_type: str, value: Callable[[int], dict[str, str]]) -> None:
    ddb.delete_table(TableName=CATALOG_TABLE)
    ddb.create_table(
        TableName=CATALOG_TABLE,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": key_type}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(30):
        ddb.put_item(TableName=CATALOG_TABLE, Item={key: value(i), "title": {"S": f"Manga Title {i}"}})


def numeric_title_ids(world: World) -> None:
    recreate_catalog(world.ddb, "title_id", "N", lambda i: {"N": str(i)})


def key_named_id(world: World) -> None:
    recreate_catalog(world.ddb, "id", "S", lambda i: {"S": f"MNG-{i:05d}"})


def empty_snapshot(world: World) -> None:
    world.s3.put_object(Bucket=SNAPSHOT_BUCKET, Key=world.snapshot_uri.split("/", 3)[3], Body=b"")


def blank_snapshot(world: World) -> None:
    world.s3.put_object(Bucket=SNAPSHOT_BUCKET, Key=world.snapshot_uri.split("/", 3)[3], Body=b"\n  \n\n")


BROKEN: list[tuple[Callable[[World], None], str]] = [
    (numeric_title_ids, "title_id is of DynamoDB type N, not a string"),
    (key_named_id, "no title_id attribute; the catalog's partition key must be named title_id"),
    (empty_snapshot, "has no training pairs"),
    (blank_snapshot, "has no training pairs"),
]


@pytest.mark.parametrize(("breakage", "reason"), BROKEN, ids=[b.__name__ for b, _ in BROKEN])
def test_the_weekly_check_reports_it_could_not_run_and_neither_pages_nor_trains(
    world: World, breakage: Callable[[World], None], reason: str
) -> None:
    breakage(world)
    result = fresh_handler("mlgov_runtime.coverage.handler").handler({"id": "weekly"}, FakeContext())
    assert result["status"] == "error" and reason in result["reason"]
    [finding] = world.published()
    assert (finding["kind"], finding["severity"]) == ("COVERAGE_CHECK_FAILED", "HIGH")
    assert reason in finding["detail"] and "mlgov coverage" in finding["detail"]
    assert world.sfn.list_executions(stateMachineArn=world.machine_arn)["executions"] == []


@pytest.mark.parametrize(("breakage", "reason"), BROKEN, ids=[b.__name__ for b, _ in BROKEN])
def test_mlgov_coverage_exits_2_naming_the_problem(
    world: World, capsys: pytest.CaptureFixture[str], breakage: Callable[[World], None], reason: str
) -> None:
    breakage(world)
    args = ["coverage", "--catalog-table", CATALOG_TABLE, "--snapshot-uri", world.snapshot_uri, "--format", "json"]
    code = main([*args, "--region", "us-east-1", "--config", NO_SETTINGS])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert reason in captured.err and captured.err.count("\n") == 1 and "Traceback" not in captured.err


@pytest.mark.parametrize(
    "line",
    [
        b'{"query": "q", "query_language": "ja", "title_id": {"title_id": "MNG-00001"}}',
        b'{"query": "q", "meta": {"title_id": "MNG-00001"}}',
        b'{"query": "q", "title_id": ["MNG-00001"]}',
        b'{"query": "q", "title_id": ""}',
        b'{"query": "q", "title_id": 17}',
        b'["title_id", "MNG-00001"]',
        b'{"query": "q", "title_id": "MNG-00001", "title_id": {"nested": true}}',
    ],
)
def test_a_snapshot_line_that_is_not_a_flat_training_pair_is_a_format_error_not_covered(
    world: World, line: bytes
) -> None:
    key = world.snapshot_uri.split("/", 3)[3]
    good = world.s3.get_object(Bucket=SNAPSHOT_BUCKET, Key=key)["Body"].read()
    world.s3.put_object(Bucket=SNAPSHOT_BUCKET, Key=key, Body=good + line + b"\n")
    result = fresh_handler("mlgov_runtime.coverage.handler").handler({"id": "weekly"}, FakeContext())
    assert result["status"] == "error", result
    assert "snapshot line" in result["reason"]
    assert [f["kind"] for f in world.published()] == ["COVERAGE_CHECK_FAILED"]
