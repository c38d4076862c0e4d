"""Stage-1 metrics (spec scenario 3), pure functions over what the model recommended.

`ranked` is a session's ranked title list (best first); `shown` is what a user would see.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from .prompts import parse_response

SESSIONS_WINDOW = 1000


def mrr_at_k(ranked: Sequence[Sequence[str]], expected: Sequence[str], k: int = 10) -> float:
    """Mean reciprocal rank of the expected title within the first k; 0 for a miss."""
    if len(ranked) != len(expected):
        raise ValueError("one expected title per session")
    if not ranked:
        return 0.0
    total = 0.0
    for titles, want in zip(ranked, expected, strict=True):
        top = list(titles[:k])
        if want in top:
            total += 1.0 / (top.index(want) + 1)
    return total / len(ranked)


def hit_rate_at_k(ranked: Sequence[Sequence[str]], expected: Sequence[str], k: int) -> float:
    """Share of sessions whose expected title is in the first k (k=1: accuracy)."""
    if len(ranked) != len(expected):
        raise ValueError("one expected title per session")
    if not ranked:
        return 0.0
    return sum(want in list(titles[:k]) for titles, want in zip(ranked, expected, strict=True)) / len(ranked)


def recall_by_language(
    ranked: Sequence[Sequence[str]], expected: Sequence[str], languages: Sequence[str], k: int = 10
) -> dict[str, float]:
    """Hit rate at k per query language; a language with no session has no entry (nothing measured)."""
    if not len(ranked) == len(expected) == len(languages):
        raise ValueError("one expected title and one language per session")
    result = {}
    for language in sorted(set(languages)):
        idx = [i for i, lang in enumerate(languages) if lang == language]
        result[language] = hit_rate_at_k([ranked[i] for i in idx], [expected[i] for i in idx], k)
    return result


def catalog_coverage_per_1000_sessions(shown: Sequence[Sequence[str]], window: int = SESSIONS_WINDOW) -> float:
    """Distinct titles shown per `window` sessions: the mean over consecutive full windows. With
    fewer sessions than a window, the distinct count of those sessions, not scaled up: distinct
    titles grow slower than sessions, so extrapolating would flatter the model."""
    if not shown:
        return 0.0
    if len(shown) < window:
        return float(len({t for titles in shown for t in titles}))
    windows = [shown[i : i + window] for i in range(0, len(shown) - window + 1, window)]
    return sum(len({t for titles in w for t in titles}) for w in windows) / len(windows)


def long_tail_exposure(shown: Sequence[Sequence[str]], head: Collection[str]) -> float:
    """Share of all shown recommendations that are not among the most popular titles (`head`)."""
    slots = [t for titles in shown for t in titles]
    if not slots:
        return 0.0
    return sum(t not in head for t in slots) / len(slots)


def json_format_failure_rate(responses: Sequence[str]) -> float:
    """Share of responses that do not parse as the recommendation schema."""
    if not responses:
        return 0.0
    return sum(parse_response(r) is None for r in responses) / len(responses)


def safety_violations(shown_to_restricted_profiles: Sequence[Sequence[str]], restricted: Collection[str]) -> int:
    """Restricted titles shown to age-restricted profiles, counted per recommendation (zero tolerance)."""
    return sum(t in restricted for titles in shown_to_restricted_profiles for t in titles)


@dataclass(frozen=True)
class ColdStart:
    recommendations: list[str]
    empty_rate: float
    distinct_titles: int
    diversity: float


def cold_start(shown: Sequence[Sequence[str]]) -> ColdStart:
    """Cold-start cases (no history): the distinct titles recommended (most often first), the share
    of cases with nothing to show, and diversity = distinct titles / recommendation slots."""
    counts = Counter(t for titles in shown for t in titles)
    slots = sum(counts.values())
    return ColdStart(
        recommendations=[t for t, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))],
        empty_rate=sum(not titles for titles in shown) / len(shown) if shown else 1.0,
        distinct_titles=len(counts),
        diversity=len(counts) / slots if slots else 0.0,
    )


def shown_titles(beams: Sequence[str], known: Collection[str], k: int) -> list[str]:
    """A session's ranked recommendations from its beam-search responses (best first): the catalog
    titles they name, first mention wins, up to k. A response that recommends nothing ends the list,
    since everything ranked below it the model preferred not to show."""
    titles: list[str] = []
    for text in beams:
        ids = parse_response(text)
        if ids is None:
            continue
        if not ids:
            break
        for title_id in ids:
            if title_id in known and title_id not in titles:
                titles.append(title_id)
        if len(titles) >= k:
            break
    return titles[:k]
