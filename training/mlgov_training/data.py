"""Training pairs and catalog from the job's channels; the held-out split; popularity; examples.

train channel (the dated snapshot prefix): training.jsonl, one pair per line,
  {"query": "...", "query_language": "ja|en", "title_id": "..."}
catalog (optional): catalog.jsonl in the `catalog` channel or beside training.jsonl, one title per
  line with the catalog table's fields: {"title_id": "...", "title": "...", "language": "ja|en",
  "added_at": "YYYY-MM-DD", "adult_content_restricted": true|false (optional),
  "popularity": <number, higher = more popular> (optional)}
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .prompts import PROFILE_AGE_RESTRICTED, PROFILE_GENERAL

T = TypeVar("T")

TRAINING_FILE = "training.jsonl"
CATALOG_FILE = "catalog.jsonl"


class DataError(ValueError):
    """Input data the job cannot train on; the message names the file and line."""


@dataclass(frozen=True)
class Pair:
    query: str
    query_language: str
    title_id: str


@dataclass(frozen=True)
class Example:
    """One prompt/response to learn: a pair, or an age-restricted variant of one."""

    profile: str
    query_language: str
    query: str
    title_ids: tuple[str, ...]


@dataclass(frozen=True)
class CatalogTitle:
    title_id: str
    title: str = ""
    language: str = ""
    restricted: bool = False
    popularity: float | None = None


def _json_lines(path: Path) -> Iterable[tuple[int, Any]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except ValueError:
                raise DataError(f"{path.name} line {number}: not JSON") from None


def parse_pair(value: Any) -> Pair | None:
    if not isinstance(value, dict):
        return None
    query, language, title_id = value.get("query"), value.get("query_language"), value.get("title_id")
    if not all(isinstance(v, str) and v.strip() for v in (query, language, title_id)):
        return None
    return Pair(str(query), str(language), str(title_id))


def _parsed_lines(path: Path, parse: Callable[[Any], T | None], what: str) -> list[T]:
    """Every JSON line of the file, parsed; the first line that does not parse stops the job, named."""
    parsed = []
    for number, value in _json_lines(path):
        item = parse(value)
        if item is None:
            raise DataError(f"{path.name} line {number}: not {what}")
        parsed.append(item)
    return parsed


def read_pairs(channel: Path) -> list[Pair]:
    """training.jsonl from the train channel (a directory, or the file itself)."""
    path = channel / TRAINING_FILE if channel.is_dir() else channel
    if not path.is_file():
        raise DataError(f"no {TRAINING_FILE} in the train channel {channel}")
    pairs = _parsed_lines(path, parse_pair, "a training pair (query, query_language, title_id)")
    if not pairs:
        raise DataError(f"{path} holds no training pair")
    return pairs


def parse_catalog_title(value: Any) -> CatalogTitle | None:
    if not isinstance(value, dict) or not isinstance(value.get("title_id"), str) or not value["title_id"]:
        return None
    popularity = value.get("popularity")
    if isinstance(popularity, bool) or not isinstance(popularity, (int, float)):
        popularity = None
    return CatalogTitle(
        title_id=value["title_id"],
        title=str(value.get("title") or ""),
        language=str(value.get("language") or ""),
        restricted=value.get("adult_content_restricted") is True,
        popularity=None if popularity is None else float(popularity),
    )


def find_catalog(catalog_channel: Path | None, train_channel: Path) -> Path | None:
    for folder in (catalog_channel, train_channel if train_channel.is_dir() else train_channel.parent):
        if folder is not None and (folder / CATALOG_FILE).is_file():
            return folder / CATALOG_FILE
    return None


def read_catalog(path: Path | None) -> list[CatalogTitle]:
    if path is None:
        return []
    return _parsed_lines(path, parse_catalog_title, "a catalog title (title_id missing)")


def _unit_hash(seed: int, *parts: str) -> float:
    digest = hashlib.sha256("\x1f".join((str(seed), *parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_pairs(pairs: Sequence[Pair], eval_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(train, held-out) by a hash of each pair: the same split on every run, so a resumed spot job
    never trains on what the first attempt held out. Held-out pairs come back in hash order."""
    scored = sorted(((_unit_hash(seed, p.query, p.title_id), p) for p in pairs), key=lambda item: item[0])
    held = [p for score, p in scored if score < eval_fraction]
    if not held:
        raise DataError(f"eval_fraction {eval_fraction} holds out no pair of {len(pairs)}; raise it")
    held_set = set(held)
    train = [p for p in pairs if p not in held_set]
    if not train:
        raise DataError("every pair was held out; lower eval_fraction")
    return train, held


def popularity_ranking(pairs: Sequence[Pair], catalog: Sequence[CatalogTitle]) -> list[str]:
    """Title ids, most popular first: the catalog's `popularity` when it has one, else how often a
    title appears in the training pairs; ties by title id so the ranking is stable."""
    counts = Counter(p.title_id for p in pairs)
    popularity: dict[str, float] = {t: float(n) for t, n in counts.items()}
    if any(t.popularity is not None for t in catalog):
        popularity = {t.title_id: t.popularity if t.popularity is not None else 0.0 for t in catalog}
    for title in catalog:
        popularity.setdefault(title.title_id, 0.0)
    return sorted(popularity, key=lambda t: (-popularity[t], t))


def training_examples(pairs: Sequence[Pair], restricted: frozenset[str], seed: int) -> list[Example]:
    """Every pair as a general-profile example, plus what teaches the profile flag: a restricted
    title asked for by an age-restricted profile gets an empty recommendation, and as many other
    pairs (chosen by hash) are repeated for that profile unchanged, so the flag alone means nothing."""
    examples = [Example(PROFILE_GENERAL, p.query_language, p.query, (p.title_id,)) for p in pairs]
    restricted_pairs = [p for p in pairs if p.title_id in restricted]
    if not restricted_pairs:
        return examples
    examples += [Example(PROFILE_AGE_RESTRICTED, p.query_language, p.query, ()) for p in restricted_pairs]
    others = sorted(
        (p for p in pairs if p.title_id not in restricted), key=lambda p: _unit_hash(seed, "profile", p.query)
    )
    examples += [
        Example(PROFILE_AGE_RESTRICTED, p.query_language, p.query, (p.title_id,))
        for p in others[: len(restricted_pairs)]
    ]
    return examples


def catalog_ids(pairs: Iterable[Pair], catalog: Sequence[CatalogTitle]) -> frozenset[str]:
    """What counts as a real title: the catalog when given, else every title the pairs name."""
    return frozenset(t.title_id for t in catalog) if catalog else frozenset(p.title_id for p in pairs)


def restricted_ids(catalog: Sequence[CatalogTitle]) -> frozenset[str]:
    return frozenset(t.title_id for t in catalog if t.restricted)


def pairs_by_title(pairs: Iterable[Pair]) -> Mapping[str, list[Pair]]:
    grouped: dict[str, list[Pair]] = {}
    for pair in pairs:
        grouped.setdefault(pair.title_id, []).append(pair)
    return grouped
