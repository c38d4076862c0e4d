"""The catalog scan: every segment read, ids only, errors that name the table."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from adapters.catalog import CatalogUnavailable, catalog_title_ids, scan_catalog
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
