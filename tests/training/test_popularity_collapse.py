"""Spec scenario 3's incident: a model that recommends the same popular titles to everyone has a fine
loss and must still be rejected by the offline gate, on diversity and long-tail exposure.

Both models here are constructed (their beam-search answers are given), then go through the job's
real evaluation code and the project's gate; no torch needed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from mlgov_training import data
from mlgov_training.evaluation import COLD_START_QUERIES, EvaluationSuite, build_suite, evaluate
from mlgov_training.prompts import build_response

from tests.training.gate import OfflineThresholds, offline_gate, validate_evaluation

TITLES = 1800


def _world(eval_sessions: int = 1000) -> EvaluationSuite:
    catalog = [
        data.CatalogTitle(
            f"MNG-{i:05d}", f"Title {i}", "ja" if i % 2 else "en", restricted=i % 97 == 0, popularity=1e6 / i
        )
        for i in range(1, TITLES + 1)
    ]
    pairs = [
        data.Pair(template.format(t=title.title), lang, title.title_id)
        for title in catalog
        for lang, template in (("en", "manga like {t}"), ("ja", "{t}みたいな漫画を教えて"))
    ]
    train, held = data.split_pairs(pairs, 0.35, seed=42)
    return build_suite(
        train, held, catalog, data.popularity_ranking(pairs, catalog), data.catalog_ids(pairs, catalog), eval_sessions
    )


def _gate(evaluation: dict[str, Any]) -> dict[str, bool]:
    return {c.name: c.passed for c in offline_gate(validate_evaluation(evaluation), None, OfflineThresholds())}


def collapsed_model(suite: EvaluationSuite) -> Any:
    """Whatever is asked, the ten most popular titles, best first."""
    top10 = [f"MNG-{i:05d}" for i in range(1, 11)]  # popularity falls with the id here

    def generate(prompts: Sequence[str]) -> list[list[str]]:
        return [[build_response([t]) for t in top10] for _ in prompts]

    return generate


def neighbours(anchor: int) -> list[str]:
    return [f"MNG-{(anchor + step * 37) % TITLES + 1:05d}" for step in range(10)]


def healthy_model(suite: EvaluationSuite, honours_age_restriction: bool = True) -> Any:
    """The title asked about first, then nine catalog neighbours; a restricted title asked for by an
    age-restricted profile gets nothing; a cold start gets titles spread by its wording."""
    asked = {s.prompt: s for s in (*suite.heldout, *suite.safety)}

    def answer(prompt: str) -> list[str]:
        session = asked.get(prompt)
        if session is None:
            anchor = int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % TITLES
            ids = neighbours(anchor)
        elif honours_age_restriction and session.profile == "age_restricted" and session.expected in suite.restricted:
            return [build_response([])]
        else:
            ids = [str(session.expected), *neighbours(int(str(session.expected)[4:]))[1:]]
        if honours_age_restriction and session is not None and session.profile == "age_restricted":
            ids = [t for t in ids if t not in suite.restricted]
        return [build_response([t]) for t in ids]

    return lambda prompts: [answer(p) for p in prompts]


def test_the_gate_rejects_a_popularity_collapse_whose_loss_passes() -> None:
    # Given a model that learned the popular titles so well its loss is low
    suite = _world()
    assert len(suite.heldout) == 1000 and len(suite.cold_start) == len(COLD_START_QUERIES) == 50

    # When the job evaluates it
    evaluation = evaluate(suite, collapsed_model(suite), eval_loss=0.08)

    # Then the loss passes and the gate still rejects: ten titles per 1,000 sessions, no long tail
    assert evaluation["catalog_coverage_per_1000_sessions"] == 10.0
    assert evaluation["long_tail_exposure"] == 0.0
    assert evaluation["json_format_failure_rate"] == 0.0
    assert evaluation["safety_violations"] == 0
    verdict = _gate(evaluation)
    assert verdict["eval_loss"] is True
    assert verdict["catalog_coverage_per_1000_sessions"] is False
    assert verdict["long_tail_exposure"] is False
    assert not all(verdict.values())
    # And every one of the 50 new users got the same ten titles
    assert evaluation["cold_start_distinct_titles"] == 10
    assert evaluation["cold_start_diversity"] == 10 / 500
    assert evaluation["cold_start_empty_rate"] == 0.0
    # so the gate's cold-start diversity check fails too, though "non-empty" passes
    assert verdict["cold_start_recommendations"] is True
    assert verdict["cold_start_diversity"] is False


def _answered_titles(suite: EvaluationSuite) -> set[str]:
    return {t for s in suite.heldout for t in [str(s.expected), *neighbours(int(str(s.expected)[4:]))[1:]]}


def test_a_model_that_answers_each_user_passes_the_same_gate() -> None:
    suite = _world()
    evaluation = evaluate(suite, healthy_model(suite), eval_loss=0.08)
    assert evaluation["catalog_coverage_per_1000_sessions"] == len(_answered_titles(suite)) >= 150
    assert evaluation["long_tail_exposure"] >= 0.25
    assert evaluation["mrr_at_10"] == 1.0 and evaluation["eval_accuracy"] == 1.0
    assert evaluation["safety_cases"] > 0 and evaluation["safety_violations"] == 0
    assert evaluation["cold_start_distinct_titles"] > 100
    assert all(_gate(evaluation).values()), _gate(evaluation)


def test_coverage_counts_held_out_sessions_only_not_the_cold_start_or_safety_probes() -> None:
    suite = _world(eval_sessions=200)
    evaluation = evaluate(suite, healthy_model(suite), eval_loss=0.08)
    assert evaluation["eval_sessions"] == 200
    assert evaluation["catalog_coverage_per_1000_sessions"] == len(_answered_titles(suite))


def test_a_model_that_ignores_the_age_restriction_is_rejected_on_safety() -> None:
    # Given 18 restricted titles (every 97th), each asked for in Japanese and in English by an
    # age-restricted profile, beside 50 ordinary requests from such profiles
    suite = _world()
    assert len(suite.restricted) == 18 and evaluation_cases(suite) == (36, 50)

    # When a model that is otherwise healthy answers them as if the profile were general
    evaluation = evaluate(suite, healthy_model(suite, honours_age_restriction=False), eval_loss=0.08)

    # Then every restricted title asked for is a violation, plus any that ride along as neighbours
    assert evaluation["safety_violations"] >= 36
    verdict = _gate(evaluation)
    assert verdict["safety_violations"] is False
    assert verdict["catalog_coverage_per_1000_sessions"] and verdict["long_tail_exposure"]


def evaluation_cases(suite: EvaluationSuite) -> tuple[int, int]:
    asking_restricted = [s for s in suite.safety if s.expected in suite.restricted]
    return len(asking_restricted), len(suite.safety) - len(asking_restricted)


def test_a_held_out_split_without_a_language_says_so_and_the_gate_fails_its_recall() -> None:
    # Given a held-out split of English sessions only (no Japanese session to measure language_recall_ja on)
    suite = _world()
    english = EvaluationSuite(
        [s for s in suite.heldout if s.language == "en"],
        suite.cold_start,
        suite.safety,
        suite.head,
        suite.restricted,
        suite.known_titles,
    )
    evaluation = evaluate(english, healthy_model(english), eval_loss=0.08)
    # Then the evaluation says why the metric is absent, rather than leaving it out silently
    assert "language_recall_ja" not in evaluation and "language_recall_en" in evaluation
    assert evaluation["unmeasured"] == {"language_recall_ja": "the held-out split has no ja session"}
    # And against an approved version that recorded it, the gate fails that regression check, naming the reason
    checks = offline_gate(validate_evaluation(evaluation), {"language_recall_ja": 0.78}, OfflineThresholds())
    [failed] = [c for c in checks if not c.passed]
    assert failed.name == "regression:language_recall_ja" and "no ja session" in failed.detail
