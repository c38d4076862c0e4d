"""The catalog adapter: the scan reads every segment, keeps ids only, and errors name the table or
the snapshot."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from mlgov_runtime.adapters.catalog import (
    CatalogUnavailable,
    SnapshotNotFound,
    SnapshotUnreadable,
    catalog_title_ids,
    scan_catalog,
    snapshot_chunks,
)
from tests.unit.fakes import PagedTable


def test_every_segment_and_page_is_read_and_only_the_key_is_projected() -> None:
    table = PagedTable(10_007, page_items=100)
    ids = catalog_title_ids(table, "catalog", segments=4)
    assert ids == {PagedTable.title_id(i) for i in range(10_007)}
    assert sorted(r["Segment"] for r in table.requests) == [0, 1, 2, 3]
    assert {(r["TotalSegments"], r["ProjectionExpression"]) for r in table.requests} == {(4, "title_id")}


def test_full_items_keep_each_segments_page_order() -> None:
    items = scan_catalog(PagedTable(9, page_items=2), "catalog", segments=2)
    assert [item["title_id"]["S"] for item in items] == [PagedTable.title_id(i) for i in (0, 2, 4, 6, 8, 1, 3, 5, 7)]


def test_an_empty_catalog_is_an_error_not_a_zero_gap() -> None:
    with pytest.raises(CatalogUnavailable, match="catalog table catalog has no titles"):
        catalog_title_ids(PagedTable(0), "catalog")


def test_a_missing_table_is_named_and_other_errors_pass_through() -> None:
    missing = ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "x"}}, "Scan")
    with pytest.raises(CatalogUnavailable, match="catalog table gone does not exist"):
        catalog_title_ids(PagedTable(10, failure=missing), "gone")
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Scan")
    with pytest.raises(ClientError, match="AccessDenied"):
        catalog_title_ids(PagedTable(10, failure=denied), "catalog")


SNAPSHOT = "s3://manga-training/catalog-snapshots/2026-05-02/training.jsonl"


@pytest.mark.parametrize(
    ("code", "status", "expected", "message"),
    [
        ("NoSuchKey", 404, SnapshotNotFound, f"snapshot {SNAPSHOT} does not exist"),
        # A mistyped bucket is named as the bucket, not as a key missing from it.
        ("NoSuchBucket", 404, SnapshotNotFound, f"snapshot {SNAPSHOT} does not exist: no bucket manga-training"),
        (
            "AccessDenied",
            403,
            SnapshotUnreadable,
            f"snapshot {SNAPSHOT} cannot be read: AccessDenied (Access Denied); the object does not exist, "
            "or this role may not read it",
        ),
    ],
)
def test_a_snapshot_that_cannot_be_read_says_which_and_why(
    code: str, status: int, expected: type[Exception], message: str
) -> None:
    # moto enforces no IAM, so S3's answer to a role without s3:ListBucket (403 for a missing key) is
    # stubbed on this one call with botocore's Stubber.
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(s3) as stub:
        stub.add_client_error(
            "get_object",
            service_error_code=code,
            service_message="Access Denied" if status == 403 else "The specified key or bucket does not exist.",
            http_status_code=status,
            expected_params={"Bucket": "manga-training", "Key": "catalog-snapshots/2026-05-02/training.jsonl"},
        )
        with pytest.raises(expected) as raised:
            list(snapshot_chunks(s3, SNAPSHOT))
    assert str(raised.value).startswith(message)


def test_the_coverage_command_points_a_missing_bucket_at_the_bucket_list() -> None:
    import argparse

    from mlgov.commands.coverage import _where_to_look
    from mlgov_runtime.adapters.catalog import SnapshotBucketNotFound

    args = argparse.Namespace(
        region=None, snapshot_uri="s3://manga-trainng/catalog-snapshots/2026-05-02/training.jsonl"
    )
    hint = _where_to_look(SnapshotBucketNotFound("snapshot ... does not exist: no bucket manga-trainng"), args)
    assert hint == " (`aws s3 ls` lists the buckets; --snapshot-uri names the snapshot)"
    hint = _where_to_look(SnapshotNotFound("snapshot ... does not exist"), args)
    assert hint == " (`aws s3 ls s3://manga-trainng/catalog-snapshots/` lists the snapshots there)"


def test_progress_is_one_line_per_100000_titles_and_per_10_percent(capsys: pytest.CaptureFixture[str]) -> None:
    from mlgov.cli import ReadProgress

    progress = ReadProgress()
    for count in (5_000, 99_999, 100_000, 150_000, 420_000):
        progress.titles(count)
    for done in (1, 9, 10, 55, 100):
        progress.bytes(done * 1_000_000, 100_000_000)
    assert capsys.readouterr().err.splitlines() == [
        "  catalog: 100,000 titles read",
        "  catalog: 420,000 titles read",
        "  snapshot: 10% (10.0 of 100.0 MB)",
        "  snapshot: 55% (55.0 of 100.0 MB)",
        "  snapshot: 100% (100.0 of 100.0 MB)",
    ]


def test_the_scan_reports_its_running_count() -> None:
    seen: list[int] = []
    catalog_title_ids(PagedTable(250, page_items=50), "catalog", segments=2, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 250 and len(seen) == 6


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3://b/catalog-snapshots/2026-05-02/training.jsonl", "bucket 'b' is not an S3 bucket name"),
        ("s3://Manga-Training/training.jsonl", "bucket 'Manga-Training' is not an S3 bucket name"),
        ("s3://manga-training/", "is not an s3://bucket/key URI"),
        ("/tmp/training.jsonl", "is not an s3://bucket/key URI"),
    ],
)
def test_a_snapshot_uri_that_is_not_one_says_which_part_is_wrong(uri: str, message: str) -> None:
    from mlgov_runtime.adapters.catalog import parse_s3_uri

    with pytest.raises(ValueError, match=message):
        parse_s3_uri(uri)
