"""The evaluation sets and evaluation.json (keys in CONTRACTS.md), given any response generator.

Sets: held-out sessions (pairs the model never trained on, up to eval_sessions, general profile);
50 fixed cold-start queries with no title in them; a safety set of age-restricted profiles asking
for restricted titles and for ordinary ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import metrics
from .data import CatalogTitle, Pair, pairs_by_title
from .prompts import PROFILE_AGE_RESTRICTED, PROFILE_GENERAL, build_prompt

TOP_K = 10
HEAD_TITLES = 100
SAFETY_TITLES_MAX = 100
SAFETY_ORDINARY_SESSIONS = 50

# Fixed so that versions compare; a new user says only what they like, never a title.
COLD_START_QUERIES: tuple[tuple[str, str], ...] = tuple(
    [
        ("ja", q)
        for q in (
            "おすすめの漫画を教えて",
            "初めて読むのにおすすめの漫画は？",
            "人気の少年漫画を教えて",
            "面白い少女漫画を探しています",
            "泣ける漫画が読みたい",
            "笑える漫画を教えて",
            "短くて読みやすい漫画は？",
            "完結している名作漫画を教えて",
            "最近話題の新作漫画は？",
            "スポーツ漫画のおすすめ",
            "ファンタジー漫画を読みたい",
            "ミステリー漫画でおすすめは？",
            "ホラー漫画を教えて",
            "恋愛漫画のおすすめを教えて",
            "SF漫画で面白いものは？",
            "歴史ものの漫画を探しています",
            "料理が出てくる漫画ある？",
            "日常系のほのぼのした漫画",
            "バトル漫画のおすすめ",
            "大人向けの落ち着いた漫画",
            "異世界ものの漫画を教えて",
            "学園ものの漫画が読みたい",
            "音楽がテーマの漫画は？",
            "動物が出てくる漫画を教えて",
            "一気読みできる漫画を教えて",
        )
    ]
    + [
        ("en", q)
        for q in (
            "recommend me a manga",
            "what manga should I start with",
            "popular shonen manga",
            "a good shojo manga to read",
            "manga that will make me cry",
            "funny manga recommendations",
            "short manga I can finish quickly",
            "completed classic manga",
            "new manga everyone is talking about",
            "best sports manga",
            "fantasy manga to read",
            "mystery manga recommendations",
            "horror manga please",
            "romance manga recommendations",
            "good science fiction manga",
            "historical manga",
            "manga about cooking",
            "relaxing slice of life manga",
            "action battle manga",
            "calm manga for adults",
            "isekai manga recommendations",
            "school life manga",
            "manga about music",
            "manga with animals",
            "manga to binge read",
        )
    ]
)


@dataclass(frozen=True)
class Session:
    profile: str
    language: str
    query: str
    expected: str | None = None

    @property
    def prompt(self) -> str:
        return build_prompt(self.profile, self.language, self.query)


@dataclass(frozen=True)
class EvaluationSuite:
    heldout: list[Session]
    cold_start: list[Session]
    safety: list[Session]
    head: frozenset[str]
    restricted: frozenset[str]
    known_titles: frozenset[str]


# prompts -> each prompt's responses, best first (beam search: the first is what serving returns).
Generate = Callable[[Sequence[str]], list[list[str]]]


def build_suite(
    train: Sequence[Pair],
    heldout: Sequence[Pair],
    catalog: Sequence[CatalogTitle],
    ranking: Sequence[str],
    known_titles: frozenset[str],
    eval_sessions: int,
) -> EvaluationSuite:
    restricted = frozenset(t.title_id for t in catalog if t.restricted)
    sessions = [Session(PROFILE_GENERAL, p.query_language, p.query, p.title_id) for p in heldout[:eval_sessions]]
    cold = [Session(PROFILE_GENERAL, lang, q) for lang, q in COLD_START_QUERIES]
    # Per restricted title, its held-out queries first (unseen), then trained ones; one per language.
    asking = pairs_by_title([*heldout, *train])
    safety: list[Session] = []
    for title_id in sorted(restricted)[:SAFETY_TITLES_MAX]:
        seen_languages: set[str] = set()
        for pair in asking.get(title_id, []):
            if pair.query_language not in seen_languages:
                seen_languages.add(pair.query_language)
                safety.append(Session(PROFILE_AGE_RESTRICTED, pair.query_language, pair.query, title_id))
    if restricted:
        ordinary = [p for p in heldout if p.title_id not in restricted][:SAFETY_ORDINARY_SESSIONS]
        safety += [Session(PROFILE_AGE_RESTRICTED, p.query_language, p.query, p.title_id) for p in ordinary]
    return EvaluationSuite(
        heldout=sessions,
        cold_start=cold,
        safety=safety,
        head=frozenset(ranking[:HEAD_TITLES]),
        restricted=restricted,
        known_titles=known_titles,
    )


def evaluate(suite: EvaluationSuite, generate: Generate, eval_loss: float) -> dict[str, Any]:
    """evaluation.json: the keys the offline gate requires, the optional ones it compares against
    the last approved version, and the counts behind them."""
    groups = (suite.heldout, suite.cold_start, suite.safety)
    responses = generate([s.prompt for group in groups for s in group])
    if len(responses) != sum(len(g) for g in groups):
        raise RuntimeError("the generator returned a different number of answers than prompts")
    shown = [metrics.shown_titles(beams, suite.known_titles, TOP_K) for beams in responses]
    n_held, n_cold = len(suite.heldout), len(suite.cold_start)
    held_shown, cold_shown, safety_shown = shown[:n_held], shown[n_held : n_held + n_cold], shown[n_held + n_cold :]
    expected = [s.expected or "" for s in suite.heldout]
    cold = metrics.cold_start(cold_shown)
    evaluation: dict[str, Any] = {
        "eval_loss": round(float(eval_loss), 6),
        "catalog_coverage_per_1000_sessions": metrics.catalog_coverage_per_1000_sessions(held_shown),
        "long_tail_exposure": round(metrics.long_tail_exposure(held_shown, suite.head), 6),
        "json_format_failure_rate": round(
            metrics.json_format_failure_rate([beams[0] if beams else "" for beams in responses]), 6
        ),
        "safety_violations": metrics.safety_violations(safety_shown, suite.restricted),
        "cold_start_recommendations": cold.recommendations,
        "mrr_at_10": round(metrics.mrr_at_k(held_shown, expected, TOP_K), 6),
        "eval_accuracy": round(metrics.hit_rate_at_k(held_shown, expected, 1), 6),
    }
    recalls = metrics.recall_by_language(held_shown, expected, [s.language for s in suite.heldout], TOP_K)
    unmeasured: dict[str, str] = {}
    for language in ("ja", "en"):
        if language in recalls:
            evaluation[f"language_recall_{language}"] = round(recalls[language], 6)
        else:
            # Said, not left out: the offline gate fails a metric the approved version has and this run lacks.
            unmeasured[f"language_recall_{language}"] = f"the held-out split has no {language} session"
    if unmeasured:
        evaluation["unmeasured"] = unmeasured
    evaluation.update(
        {
            "cold_start_empty_rate": round(cold.empty_rate, 6),
            "cold_start_distinct_titles": cold.distinct_titles,
            "cold_start_diversity": round(cold.diversity, 6),
            "eval_sessions": n_held,
            "cold_start_cases": n_cold,
            "safety_cases": len(suite.safety),
        }
    )
    return evaluation
