"""Training pairs from the catalog, and the data-quality gate that runs before any training.

How pairs are made: docs/coverage-retraining.md. The ja fraction is 0.5 by construction, so a catalog export
that lost Japanese titles or rows shows up in the gate, not in the model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

JA_TEMPLATES = (
    "「{t}」みたいな漫画を教えて",
    "{t}が好きな人におすすめの漫画",
    "{t}の次に読むべき漫画は？",
    "{t}に似た作品を探しています",
    "{t}のような雰囲気の漫画",
    "{t}を読み終えたので次のおすすめを",
    "{t}っぽいストーリーの漫画ある？",
    "{t}と同じジャンルの人気作",
    "{t}のファンが好きそうな新作",
    "{t}に近い作風の漫画を教えて",
    "{t}みたいに泣ける漫画",
    "{t}が面白かった、似たのある？",
    "{t}に似たキャラクターが出る漫画",
    "{t}系の漫画でおすすめは",
)
EN_TEMPLATES = (
    "manga like {t}",
    "what should I read after {t}",
    "recommend something similar to {t}",
    "I loved {t}, what next",
    "series with the same vibe as {t}",
    "best manga for fans of {t}",
    "more manga like {t} please",
    "similar art style to {t}",
    "stories like {t}",
    "if you liked {t} you will like",
    "manga in the same genre as {t}",
    "new releases similar to {t}",
    "something like {t} but shorter",
    "characters like the ones in {t}",
)
PAIRS_PER_TITLE = len(JA_TEMPLATES) + len(EN_TEMPLATES)


def build_training_pairs(catalog: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, str]]:
    for item in catalog:
        title, title_id = str(item["title"]), str(item["title_id"])
        for template in JA_TEMPLATES:
            yield {"query": template.format(t=title), "query_language": "ja", "title_id": title_id}
        for template in EN_TEMPLATES:
            yield {"query": template.format(t=title), "query_language": "en", "title_id": title_id}


@dataclass
class SnapshotStats:
    rows: int = 0
    ja_rows: int = 0
    orphan_rows: int = 0
    orphan_title_ids: set[str] = field(default_factory=set)
    title_ids: set[str] = field(default_factory=set)
    kept_lines: list[bytes] = field(default_factory=list)

    @property
    def ja_fraction(self) -> float:
        return self.ja_rows / self.rows if self.rows else 0.0


def scan_snapshot(lines: Iterable[bytes], catalog_ids: set[str]) -> SnapshotStats:
    """Parse every pair; drop (and count) pairs whose title is no longer in the catalog."""
    stats = SnapshotStats()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            pair = json.loads(line)
            title_id, language = pair["title_id"], pair["query_language"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"snapshot line {number}: not a training pair (query, query_language, title_id)") from None
        if title_id not in catalog_ids:
            stats.orphan_rows += 1
            stats.orphan_title_ids.add(title_id)
            continue
        stats.rows += 1
        stats.ja_rows += language == "ja"
        stats.title_ids.add(title_id)
        stats.kept_lines.append(line if line.endswith(b"\n") else line + b"\n")
    return stats


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    observed: float | None  # None: not measured (missing is never zero)
    required: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DataQualityThresholds:
    min_rows: int = 50_000
    min_ja_fraction: float = 0.25
    min_new_title_coverage: float = 0.95


def quality_gate(stats: SnapshotStats, new_title_ids: set[str], thresholds: DataQualityThresholds) -> list[Check]:
    """The four checks of spec scenario 2 follow-up 3; each says by how much it failed."""
    checks = [
        Check(
            "row_count",
            stats.rows >= thresholds.min_rows,
            stats.rows,
            f">= {thresholds.min_rows}",
            f"{stats.rows} training pairs"
            + (
                ""
                if stats.rows >= thresholds.min_rows
                else f", {thresholds.min_rows - stats.rows} short; the catalog read may have been partial"
            ),
        ),
        Check(
            "ja_query_fraction",
            stats.ja_fraction >= thresholds.min_ja_fraction,
            round(stats.ja_fraction, 4),
            f">= {thresholds.min_ja_fraction}",
            f"{stats.ja_fraction:.1%} of queries are Japanese"
            + (
                ""
                if stats.ja_fraction >= thresholds.min_ja_fraction
                else f", {thresholds.min_ja_fraction - stats.ja_fraction:.1%} below the floor"
            ),
        ),
        Check(
            "orphan_title_ids",
            True,
            len(stats.orphan_title_ids),
            "removed before training",
            f"{stats.orphan_rows} pairs for {len(stats.orphan_title_ids)} titles no longer in the catalog were removed",
        ),
    ]
    if new_title_ids:
        present = len(new_title_ids & stats.title_ids)
        coverage = present / len(new_title_ids)
        checks.append(
            Check(
                "new_title_coverage",
                coverage >= thresholds.min_new_title_coverage,
                round(coverage, 4),
                f">= {thresholds.min_new_title_coverage}",
                f"{present} of {len(new_title_ids)} titles added since the last snapshot are present"
                + (
                    ""
                    if coverage >= thresholds.min_new_title_coverage
                    else f" ({len(new_title_ids) - present} missing)"
                ),
            )
        )
    else:
        checks.append(
            Check(
                "new_title_coverage",
                True,
                1.0,
                f">= {thresholds.min_new_title_coverage}",
                "no titles were added since the last snapshot",
            )
        )
    return checks
