"""Catalog coverage gap (spec scenario 2): titles in the live catalog that the training snapshot
never shows the model. Streams the snapshot; never holds more than the set of its title ids."""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# The snapshot is JSON Lines; a title id is a plain string. The fast path pulls ids out of whole
# chunks with one regex; a chunk whose lines do not all match falls back to json.loads per line.
# A match stays on one line (no newline or other control character, no escape in the id) and takes
# the rest of that line, so no line gives two ids.
_TITLE_ID = re.compile(rb'"title_id"[ \t\r]*:[ \t\r]*"([^"\\\x00-\x1f]+)"[^\n]*\n')
CHUNK_BYTES = 4 * 1024 * 1024


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
        found = _TITLE_ID.findall(block)
        # Every non-blank line is one flat object with one title_id, and that one matched: each "{" opens a
        # line (nothing nested, nothing before it: a list or a number is no pair), there is one "{" per match
        # and one "title_id" per match (a line naming it twice, or with a non-string one, is left to
        # json.loads), and the blank-line count below never undercounts non-blank lines. No NUL byte, which
        # would make json.loads read the line as UTF-16/32.
        flat = (
            block.count(b"{") == len(found) == block.count(b"\n{") + block.startswith(b"{")
            and block.count(b'"title_id"') == len(found)
            and b"\0" not in block
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
