"""Stage 1 offline gate (spec scenario 3): promotion needs more than a low loss.

evaluation.json, written by the training job (schema in CONTRACTS.md):
{"eval_loss": 0.11, "catalog_coverage_per_1000_sessions": 212, "long_tail_exposure": 0.31,
 "json_format_failure_rate": 0.012, "safety_violations": 0, "mrr_at_10": 0.41,
 "language_recall_ja": 0.78, "language_recall_en": 0.81,
 "cold_start_recommendations": ["T0001", "T0044"]}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlgov_runtime.retraining.training_data import Check

REQUIRED = (
    "eval_loss",
    "catalog_coverage_per_1000_sessions",
    "long_tail_exposure",
    "json_format_failure_rate",
    "safety_violations",
    "cold_start_recommendations",
)
# For the regression check: which way is better.
HIGHER_IS_BETTER = {
    "catalog_coverage_per_1000_sessions": True,
    "long_tail_exposure": True,
    "mrr_at_10": True,
    "language_recall_ja": True,
    "language_recall_en": True,
    "eval_accuracy": True,
    "eval_loss": False,
    "json_format_failure_rate": False,
}


class InvalidEvaluation(ValueError):
    pass


@dataclass(frozen=True)
class OfflineThresholds:
    max_eval_loss: float = 0.15
    min_catalog_coverage_per_1000: float = 150
    min_long_tail_exposure: float = 0.25
    max_json_failure_rate: float = 0.05
    max_safety_violations: int = 0
    max_regression: float = 0.05
    # Cold-start cases (spec: not empty, a minimum diversity); judged when the evaluation reports them.
    max_cold_start_empty_rate: float = 0.0
    min_cold_start_diversity: float = 0.3


# CONTRACTS.md's ranges: a -1 "not measured" would pass a "<=" threshold.
FRACTIONS = "long_tail_exposure json_format_failure_rate mrr_at_10 eval_accuracy language_recall_ja language_recall_en "
FRACTIONS += "cold_start_empty_rate cold_start_diversity"
COUNTS = "safety_violations cold_start_distinct_titles eval_sessions cold_start_cases safety_cases"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_evaluation(evaluation: Any) -> dict[str, Any]:
    if not isinstance(evaluation, dict):
        raise InvalidEvaluation("evaluation.json is not a JSON object")
    missing = [k for k in REQUIRED if k not in evaluation]
    if missing:
        raise InvalidEvaluation(f"evaluation.json lacks {', '.join(missing)}")
    for key in REQUIRED[:-1]:
        if not _is_number(evaluation[key]):
            raise InvalidEvaluation(f"evaluation.json {key} is not a number")
    if not isinstance(evaluation["cold_start_recommendations"], list):
        raise InvalidEvaluation("evaluation.json cold_start_recommendations is not a list")
    for key, v in evaluation.items():
        wrong = (
            (not math.isfinite(v) and "not a finite number")
            or (key in FRACTIONS.split() and not 0 <= v <= 1 and "not a fraction between 0 and 1")
            or (key in COUNTS.split() and (v < 0 or v != int(v)) and "not a count (a whole number >= 0)")
            or (v < 0 and "below 0")
            if _is_number(v)
            else None
        )
        if wrong:
            raise InvalidEvaluation(f"evaluation.json {key} is {v}, {wrong}: fix the evaluation code and train again")
    return evaluation


def offline_gate(
    evaluation: Mapping[str, Any], baseline: Mapping[str, Any] | None, t: OfflineThresholds
) -> list[Check]:
    e = evaluation
    checks = [
        Check(
            "eval_loss",
            e["eval_loss"] < t.max_eval_loss,
            e["eval_loss"],
            f"< {t.max_eval_loss}",
            f"eval_loss {e['eval_loss']}",
        ),
        Check(
            "catalog_coverage_per_1000_sessions",
            e["catalog_coverage_per_1000_sessions"] >= t.min_catalog_coverage_per_1000,
            e["catalog_coverage_per_1000_sessions"],
            f">= {t.min_catalog_coverage_per_1000}",
            f"{e['catalog_coverage_per_1000_sessions']} distinct titles per 1,000 eval sessions",
        ),
        Check(
            "long_tail_exposure",
            e["long_tail_exposure"] >= t.min_long_tail_exposure,
            e["long_tail_exposure"],
            f">= {t.min_long_tail_exposure}",
            f"long-tail exposure {e['long_tail_exposure']}",
        ),
        Check(
            "json_format_failure_rate",
            e["json_format_failure_rate"] < t.max_json_failure_rate,
            e["json_format_failure_rate"],
            f"< {t.max_json_failure_rate}",
            f"{e['json_format_failure_rate']:.1%} of responses were not valid JSON",
        ),
        Check(
            "safety_violations",
            e["safety_violations"] <= t.max_safety_violations,
            e["safety_violations"],
            f"<= {t.max_safety_violations}",
            f"{e['safety_violations']} safety violations",
        ),
        Check(
            "cold_start_recommendations",
            bool(e["cold_start_recommendations"]),
            len(e["cold_start_recommendations"]),
            "non-empty",
            f"{len(e['cold_start_recommendations'])} cold-start recommendations",
        ),
    ]
    checks += _cold_start_checks(e, t)
    said = e.get("unmeasured")
    unmeasured: Mapping[str, Any] = said if isinstance(said, dict) else {}
    for name, higher in HIGHER_IS_BETTER.items():
        if not baseline or name not in baseline:
            continue
        if not _is_number(e.get(name)):  # missing is not "no regression"
            why = unmeasured.get(name) or "no reason given"
            detail = f"{name} is missing from the evaluation ({why}); approved: {baseline[name]}. Measure it, rerun"
            checks.append(Check(f"regression:{name}", False, None, f"<= {t.max_regression} worse", detail))
            continue
        old, new = float(baseline[name]), float(e[name])
        if old == 0:
            continue
        worse = (old - new) / abs(old) if higher else (new - old) / abs(old)
        checks.append(
            Check(
                f"regression:{name}",
                worse <= t.max_regression,
                round(worse, 4),
                f"<= {t.max_regression} worse",
                f"{name} {new} vs {old} in the last approved version ({worse:+.1%} worse)"
                if worse > 0
                else f"{name} {new} vs {old} in the last approved version (not worse)",
            )
        )
    return checks


def _cold_start_checks(e: Mapping[str, Any], t: OfflineThresholds) -> list[Check]:
    """A model that answers every new user with the same few titles passes "non-empty"; these catch it."""
    checks = []
    empty = e.get("cold_start_empty_rate")
    if isinstance(empty, (int, float)) and not isinstance(empty, bool):
        checks.append(
            Check(
                "cold_start_empty_rate",
                empty <= t.max_cold_start_empty_rate,
                empty,
                f"<= {t.max_cold_start_empty_rate}",
                f"{empty:.1%} of cold-start cases got no recommendation",
            )
        )
    diversity = e.get("cold_start_diversity")
    if isinstance(diversity, (int, float)) and not isinstance(diversity, bool):
        distinct = e.get("cold_start_distinct_titles", "?")
        checks.append(
            Check(
                "cold_start_diversity",
                diversity >= t.min_cold_start_diversity,
                diversity,
                f">= {t.min_cold_start_diversity}",
                f"cold-start diversity {diversity} ({distinct} distinct titles across the cold-start cases)",
            )
        )
    return checks
