"""The coverage check's readers refuse what is not the CONTRACTS.md shape, with an error the check
turns into COVERAGE_CHECK_FAILED: never a crash, never a line counted as covered by accident."""

from __future__ import annotations

from typing import Any

import pytest

from mlgov_runtime.adapters.catalog import CatalogUnavailable, catalog_title_ids
from mlgov_runtime.coverage.logic import CoverageThresholds, SnapshotFormatError, coverage_gap, title_id_batches

GOOD = b'{"query": "q", "query_language": "ja", "title_id": "MNG-00001"}\n'


def ids(data: bytes, chunk: int = 7) -> list[str]:
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    return [title_id for batch in title_id_batches(chunks) for title_id in batch]


@pytest.mark.parametrize(
    "line",
    [
        b'{"query": "q", "title_id": {"title_id": "MNG-00002"}}',  # nested: the regex alone would count it
        b'{"query": "q", "meta": {"title_id": "MNG-00002"}}',
        b'{"query": "q", "title_id": "MNG-\xff"}',  # not UTF-8
        b"[" * 5000 + b"]" * 5000,  # nested beyond the parser's depth
        b'{"query": "q", "title_id": ""}',
        # Found by the snapshot fuzz test: a pair inside a list, or a nested title_id whose extra "{" another
        # line's match made up for, was counted as covered by the fast path
        b'[{"query": "q", "title_id": "MNG-00002"}]',
        b'{"query": "q", "title_id": {"title_id": "MNG-00002"}}\n"title_id": "MNG-00003"',
        b'5\n{"meta": {"title_id": "MNG-00002"}, "title_id": "MNG-00003"}',
        b'{"query": "q", "title_id": "MNG-00002", "title_id": 7}',  # json.loads keeps the last one
        # UTF-16 to json.loads (a NUL second byte), whose UTF-8 reading matches the regex
        '{"'.encode("utf-16-le") + b'"title_id":"MNG-00002"' + '": 1}'.encode("utf-16-le"),
        # Not JSON, though one flat object with a plain title_id to a pattern: the fast path counted them
        b'{"query": "q", "title_id": "MNG-00002"} junk',
        b'{"query": "q", "title_id": "MNG-00002"',
        b'{"query": tru, "title_id": "MNG-00002"}',
        b'{"query": "q", "title_id": "MNG-00002",}',
        b'{"query": "\xff", "title_id": "MNG-00002"}',  # not UTF-8 outside the id
        b'{"query": "a\tb", "title_id": "MNG-00002"}',  # a raw tab inside a string
        b'{"n": ' + b"1" * 5000 + b', "title_id": "MNG-00002"}',  # past int()'s digit limit
        b'{"query": "q", "title_id": "MNG-00002", "title\\u005fid": 7}',  # json.loads keeps the last one
    ],
)
def test_a_malformed_line_is_a_format_error_naming_the_line(line: bytes) -> None:
    for chunk in (7, 1 << 20):  # the fast path sees whole chunks, the slow one single lines
        with pytest.raises(SnapshotFormatError, match="snapshot line 2"):
            ids(GOOD + line + b"\n" + GOOD, chunk)


def test_a_line_naming_title_id_twice_is_read_as_json_loads_reads_it() -> None:
    # Two matches on one line made up for a line with none ("{}"); json.loads keeps the last title_id
    data = GOOD + b'{"query": "q", "title_id": "MNG-00002", "title_id": "MNG-00003"}\n' + b"{}\n" + GOOD
    for chunk in (7, 1 << 20):
        with pytest.raises(SnapshotFormatError, match="snapshot line 3"):
            ids(data, chunk)
    assert ids(GOOD + b'{"query": "q", "title_id": "MNG-00002", "title_id": "MNG-00003"}\n', 1 << 20)[1] == "MNG-00003"


def test_flat_lines_still_take_the_fast_path_and_give_every_id(monkeypatch: pytest.MonkeyPatch) -> None:
    # Brackets and braces inside strings elsewhere than the line start, CRLF and blank lines keep the fast path
    from mlgov_runtime.coverage import logic

    def slow(block: bytes, first_line: int) -> Any:
        raise AssertionError(f"slow path taken at line {first_line + 1}")

    monkeypatch.setattr(logic, "_slow", slow)
    lines = [b'{"query": "q %d [vol. 2] a}b", "title_id": "MNG-%05d"}' % (i, i) for i in range(1000)]
    data = b"\r\n".join(lines[:500]) + b"\r\n\n" + b"\n".join(lines[500:]) + b"\n"
    assert ids(data, 1 << 20) == [f"MNG-{i:05d}" for i in range(1000)]


@pytest.mark.parametrize("data", [b"", b"\n\n  \n"])
def test_an_empty_snapshot_is_an_error_not_a_100_percent_gap(data: bytes) -> None:
    with pytest.raises(SnapshotFormatError, match="no training pairs"):
        coverage_gap({"MNG-00001", "MNG-00002"}, title_id_batches([data]), CoverageThresholds())


class Pages:
    """A DynamoDB client whose scan pages hold these items."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def get_paginator(self, name: str) -> Pages:
        return self

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        return [{"Items": self.items if kwargs["Segment"] == 0 else []}]


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        ([{"title_id": {"N": "17"}}], "title_id is of DynamoDB type N, not a string"),
        ([{}], "no title_id attribute"),  # the key has another name: the projection finds nothing
        ([{"title_id": {"S": "MNG-1"}}, {"title_id": {"B": b"x"}}], "type B"),
    ],
)
def test_a_catalog_whose_title_id_is_not_a_string_is_named(items: list[dict[str, Any]], reason: str) -> None:
    with pytest.raises(CatalogUnavailable, match=reason):
        catalog_title_ids(Pages(items), "manga-catalog")
