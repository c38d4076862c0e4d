"""Fuzz: snapshots and catalogs of any content either give the right title ids or a named error
(SnapshotFormatError, CatalogUnavailable) the coverage check reports as COVERAGE_CHECK_FAILED. Where every
line is JSON, the fast path's answer is the line-by-line parser's answer: nothing nested, empty or
non-string is ever counted as covered; a line json.loads refuses is always a SnapshotFormatError."""

from __future__ import annotations

import itertools
import json
from typing import Any
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mlgov_runtime.adapters.catalog import CatalogUnavailable, catalog_title_ids
from mlgov_runtime.coverage import logic
from mlgov_runtime.coverage.logic import CoverageThresholds, SnapshotFormatError, coverage_gap, title_id_batches
from tests.strategies import FUZZ, Tally, json_values, nasty_text

pair = st.fixed_dictionaries(
    {"query": nasty_text, "query_language": st.sampled_from(["ja", "en"]), "title_id": st.from_regex(r"MNG-\d{5}")}
)
odd_pair = st.one_of(
    pair.map(lambda p: {**p, "title_id": {"title_id": p["title_id"]}}),
    pair.map(lambda p: {"meta": p}),
    pair.map(lambda p: {**p, "title_id": [p["title_id"]]}),
    st.builds(lambda p, v: {**p, "title_id": v}, pair, json_values),
    json_values,
)
json_line = st.one_of(pair, pair, pair, odd_pair).map(
    lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")
)
# Near-JSON: a good pair with a few bytes changed, put in or cut (junk after the "}", a brace or quote missing)
near_line = st.builds(
    lambda line, at, junk, cut: line[: at % (len(line) + 1)] + junk + line[at % (len(line) + 1) + cut :],
    pair.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    st.integers(0, 200),
    st.one_of(
        st.sampled_from([b"", b" junk", b",", b"}", b"{", b'"', b"\\", b"\t", b"\x00", b"\xff", b"]"]),
        st.binary(max_size=3),
    ),
    st.integers(0, 2),
)
raw_line = st.one_of(
    json_line, near_line, near_line, st.binary(max_size=60), st.sampled_from([b"", b"   ", b"{", b'"title_id": "X"'])
)


def expected(lines: list[bytes]) -> list[str] | None:
    """What a line-by-line JSON parser says: every non-blank line's string title_id, or None (an error,
    including a line json.loads refuses)."""
    ids = []
    for line in lines:
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(value, dict) or not isinstance(value.get("title_id"), str) or not value["title_id"]:
            return None
        ids.append(value["title_id"])
    return ids


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)] or [b""]


def test_fuzz_snapshots_give_the_parsers_answer_or_a_format_error(capsys: pytest.CaptureFixture[str]) -> None:
    tally = Tally("coverage snapshots (JSON Lines bytes, any chunking)")

    @settings(FUZZ, max_examples=300)
    @given(
        st.one_of(st.lists(json_line, max_size=8), st.lists(raw_line, max_size=8)),
        st.lists(st.integers(0, 10**4)),
        # The regex runs a line-aligned slice at a time: small slices cut every chunk in many places.
        st.one_of(st.integers(1, 64), st.just(logic.SLICE_BYTES)),
    )
    # Not JSON, yet one flat-looking object with a plain title_id: the fast path counted each as covered
    @example([b'{"title_id":"MNG-00001"} junk'], [], 1)
    @example([b'{"title_id":"MNG-00001"', b'{"title_id":"MNG-00002"}'], [], 1)
    @example([b'{"a": tru, "title_id":"MNG-00001"}'], [], 1)
    @example([b'{"title_id":"MNG-00001",}'], [], 1)
    @example([b'{"q": "\xff", "title_id":"MNG-00001"}'], [], 1)
    @example([b'{"q": "a\tb", "title_id":"MNG-00001"}'], [], 1)
    @example([b'{"n": ' + b"1" * 5000 + b', "title_id":"MNG-00001"}'], [], 1)
    # json.loads keeps the last title_id, spelt with an escape here
    @example([b'{"title_id":"MNG-00001", "title\\u005fid": 7}'], [], 1)
    # Found by this test (a nested title_id's extra "{" made up for by another line's match); the fast path
    # counted it as covered
    @example(
        [b'{"query": "", "query_language": "ja", "title_id": {"title_id": "MNG-00000"}}', b'"title_id":"\x00"'], [], 1
    )
    def check(lines: list[bytes], cuts: list[int], slice_bytes: int) -> None:
        tally.generated += 1
        data = b"\n".join(lines) + (b"\n" if lines else b"")
        got: list[str] | None
        try:
            with tally.recording(SnapshotFormatError), mock.patch.object(logic, "SLICE_BYTES", slice_bytes):
                got = [i for batch in title_id_batches(chunked(data, cuts)) for i in batch]
                report = coverage_gap({"MNG-00001"}, [got or []], CoverageThresholds())
                assert report.catalog_titles == 1
        except SnapshotFormatError:
            got = None
        oracle = expected(data.split(b"\n"))  # a generated line may hold a newline: the file's lines count
        if oracle is not None and not oracle:
            oracle = None  # no pairs at all: the check refuses an empty snapshot
        assert got == oracle, (lines, got, oracle)

    check()
    tally.finish(capsys, at_least=200)


class Pages:
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def get_paginator(self, name: str) -> Pages:
        return self

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        return [{"Items": self.items if kwargs["Segment"] == 0 else []}]


attribute_values = st.one_of(
    st.fixed_dictionaries({"S": nasty_text}),
    st.fixed_dictionaries({"N": st.integers().map(str)}),
    st.fixed_dictionaries({"B": st.binary(max_size=4)}),
    st.dictionaries(st.sampled_from(["S", "N", "BOOL", "L", "M"]), json_values, max_size=2),
    json_values,
)
items = st.lists(
    st.one_of(
        st.dictionaries(st.sampled_from(["title_id", "id", "titleId"]), attribute_values, max_size=2), json_values
    ),
    max_size=5,
)


def test_fuzz_catalog_items_give_ids_or_name_the_problem(capsys: pytest.CaptureFixture[str]) -> None:
    tally = Tally("coverage catalogs (DynamoDB items of any shape)")

    @settings(FUZZ, max_examples=200)
    @given(items)
    def check(catalog: list[Any]) -> None:
        tally.generated += 1
        try:
            with tally.recording(CatalogUnavailable):
                ids = catalog_title_ids(Pages(catalog), "manga-catalog")
        except CatalogUnavailable as exc:
            assert "manga-catalog" in str(exc)
            return
        assert ids == {item["title_id"]["S"] for item in catalog}

    check()
    tally.finish(capsys, at_least=150)


@pytest.mark.parametrize("ci", ["", "true"])
def test_fuzz_failures_print_their_replay_and_ci_stays_derandomized(ci: str) -> None:
    # A local run draws new inputs each time, so its failure must print what replays it (the
    # @reproduce_failure blob); CI, which Hypothesis detects by its CI variable, draws the same inputs every run
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci else {})
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(root / "lambdas")])
    probe = "from tests.strategies import FUZZ; print(FUZZ.print_blob, FUZZ.derandomize)"
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True" if ci else "False"]


def test_well_formed_chunks_stay_on_the_fast_path_when_sliced() -> None:
    """Slicing for the reader thread's sake must keep every line whole: a cut inside a line would send each
    chunk to the line-by-line parser, several times slower."""
    lines = [
        json.dumps({"query": "q" * (i % 7), "query_language": "ja", "title_id": f"MNG-{i:05d}"}) for i in range(50)
    ]
    data = ("\n".join(lines) + "\n").encode()

    def slow(block: bytes, first_line: int) -> Any:
        raise AssertionError(f"line-by-line parse of {len(block)} bytes from line {first_line + 1}")

    for size in (1, 10, 100, len(data)):
        with mock.patch.object(logic, "SLICE_BYTES", size), mock.patch.object(logic, "_slow", slow):
            got = [i for batch in title_id_batches(chunked(data, [333, 1000, 2500])) for i in batch]
        assert got == [f"MNG-{i:05d}" for i in range(50)], size
