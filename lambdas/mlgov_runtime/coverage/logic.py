"""Catalog coverage gap (spec scenario 2): titles in the live catalog that the training snapshot
never shows the model. Streams the snapshot; never holds more than the set of its title ids."""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# The snapshot is JSON Lines; a title id is a plain string. The fast path checks whole chunks at C speed:
# one regex matches a line only if it is, in full, one flat JSON object (string, number, true/false/null
# or flat-array values) whose one "title_id" is a plain non-empty string; a chunk where any non-blank
# line does not match, or with a control character or invalid UTF-8 anywhere, falls back to json.loads
# per line. So the fast path never accepts a line json.loads would refuse.
_W = rb"[ \t\r]*+"
_STR = rb'"[^"\\\t\n\r]*+(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\t\n\r]*+)*+"'
# An integer part over 4,300 digits is refused by int(), so json.loads refuses it: bounded here.
_NUM = rb"-?(?:0|[1-9][0-9]{0,99})(?:\.[0-9]++)?(?:[eE][-+]?[0-9]++)?"
_SCALAR = rb"(?>" + _STR + rb"|" + _NUM + rb"|true|false|null)"
_VALUE = rb"(?>" + _SCALAR + rb"|\[" + _W + rb"(?:" + _SCALAR + _W + rb"(?:," + _W + _SCALAR + _W + rb")*+)?\])"
# Another key is a plain string; one spelt "title_id" is caught by the count in title_id_batches.
_MEMBER = rb'"[^"\\\t\n\r]*+"' + _W + rb":" + _W + _VALUE
_TITLE_ID = re.compile(
    rb"^"
    + _W
    + rb"\{"
    + _W
    + rb"(?:"
    + _MEMBER
    + _W
    + rb","
    + _W
    + rb')*+"title_id"'
    + _W
    + rb":"
    + _W
    + rb'"([^"\\\t\n\r]++)"'
    + _W
    + rb"(?:,"
    + _W
    + _MEMBER
    + _W
    + rb")*+\}"
    + _W
    + rb"\n",
    re.MULTILINE,
)
# Control characters but JSON's whitespace (kept out of strings by the regex): none may appear raw in a string.
_CONTROL = bytes(c for c in range(32) if c not in b"\t\n\r")
CHUNK_BYTES = 4 * 1024 * 1024
# One regex call holds the GIL (~40 ms a chunk), stalling the reader thread's socket reads: sliced, they overlap.
SLICE_BYTES = 256 * 1024


class SnapshotFormatError(ValueError):
    """A snapshot line is not a training pair; the message names the line."""


def title_id_batches(chunks: Iterable[bytes]) -> Iterator[list[str]]:
    """Title ids chunk by chunk: one list per chunk, so callers can consume them at C speed."""
    carry = b""
    line_no = 0
    for chunk in chunks:
        data = carry + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        block, carry = data[: cut + 1], data[cut + 1 :]
        lines = block.count(b"\n")
        found = _findall(block)
        # Each match is one whole line (the regex cannot cross a newline), so as many matches as non-blank lines
        # means every line matched; the blank-line count below never undercounts non-blank lines. One
        # "title_id" per match: no other key (or value) spelt so. No control character (json.loads refuses one
        # in a string; a NUL would make it read the line as UTF-16/32) and valid UTF-8 throughout.
        flat = (
            block.count(b'"title_id"') == len(found)
            and len(block.translate(None, _CONTROL)) == len(block)
            and (block.isascii() or _utf8(block))
        )
        if (
            found
            and flat
            and (
                len(found) == lines
                or len(found) == lines - block.count(b"\n\n") - (1 if block.startswith(b"\n") else 0)
            )
        ):
            try:
                # One decode for the whole chunk's ids instead of one per id.
                yield b"\n".join(found).decode("utf-8").split("\n")
            except UnicodeDecodeError:
                yield list(_slow(block, line_no))
        else:
            yield list(_slow(block, line_no))
        line_no += lines
    if carry.strip():
        yield list(_slow(carry, line_no))


def _findall(block: bytes) -> list[bytes]:
    """_TITLE_ID.findall(block), a line-aligned slice at a time (block ends with a newline)."""
    found: list[bytes] = []
    start = 0
    while start < len(block):
        stop = block.find(b"\n", start + SLICE_BYTES) + 1 or len(block)
        found += _TITLE_ID.findall(block, start, stop)
        start = stop
    return found


def _utf8(block: bytes) -> bool:
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _slow(block: bytes, first_line: int) -> Iterator[str]:
    for offset, line in enumerate(block.split(b"\n")):
        if not line.strip():
            continue
        try:
            pair = json.loads(line)
            title_id = pair["title_id"]
        except (ValueError, KeyError, TypeError, IndexError, RecursionError):
            raise SnapshotFormatError(
                f"snapshot line {first_line + offset + 1}: not a training pair with a title_id"
            ) from None
        if not isinstance(title_id, str) or not title_id:
            raise SnapshotFormatError(f"snapshot line {first_line + offset + 1}: title_id is not a string")
        yield title_id


@dataclass(frozen=True)
class CoverageThresholds:
    alert_pct: float = 5.0
    page_pct: float = 15.0


@dataclass
class CoverageReport:
    catalog_titles: int
    snapshot_titles: int
    gap_titles: int
    coverage_gap_pct: float
    action: str  # none | alert | retrain_and_page
    gap_title_sample: list[str] = field(default_factory=list)
    orphan_titles: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "catalog_titles": self.catalog_titles,
            "snapshot_titles": self.snapshot_titles,
            "gap_titles": self.gap_titles,
            "coverage_gap_pct": self.coverage_gap_pct,
            "action": self.action,
            "gap_title_sample": self.gap_title_sample,
        }


def action_for(gap_pct: float, thresholds: CoverageThresholds) -> str:
    if gap_pct > thresholds.page_pct:
        return "retrain_and_page"
    if gap_pct > thresholds.alert_pct:
        return "alert"
    return "none"


def coverage_gap(
    catalog: set[str],
    snapshot_batches: Iterable[Iterable[str]],
    thresholds: CoverageThresholds,
    sample_size: int = 20,
) -> CoverageReport:
    """gap = catalog titles absent from the snapshot / catalog titles x 100. Snapshot titles no
    longer in the catalog (orphans) are counted separately and never count as covered."""
    seen: set[str] = set()
    for batch in snapshot_batches:
        seen.update(batch)
    if not seen:
        # An empty file is a broken export, not a model that knows no title: never a 100 % gap.
        raise SnapshotFormatError(
            "the snapshot has no training pairs (empty file): nothing to compare the catalog with"
        )
    missing = catalog.difference(seen)  # one pass over the catalog gives the gap, the sample and the count
    gap = len(missing)
    covered = len(catalog) - gap
    pct = round(gap / len(catalog) * 100, 2) if catalog else 0.0
    sample = heapq.nsmallest(sample_size, missing)
    return CoverageReport(
        catalog_titles=len(catalog),
        snapshot_titles=len(seen),
        gap_titles=gap,
        coverage_gap_pct=pct,
        action=action_for(pct, thresholds),
        gap_title_sample=sample,
        orphan_titles=len(seen) - covered,
    )
