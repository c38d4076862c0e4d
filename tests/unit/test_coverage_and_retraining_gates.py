"""Coverage gap, data-quality gate, offline gate and registration metadata (pure logic)."""

from __future__ import annotations

import json

import pytest

from mlgov_runtime.coverage.logic import (
    CoverageThresholds,
    SnapshotFormatError,
    action_for,
    coverage_gap,
    title_id_batches,
)
from mlgov_runtime.retraining.offline_gate import (
    InvalidEvaluation,
    OfflineThresholds,
    offline_gate,
    validate_evaluation,
)
from mlgov_runtime.retraining.registration import InvalidRegistration, RegistrationMetadata, evaluation_metrics_of
from mlgov_runtime.retraining.training_data import (
    PAIRS_PER_TITLE,
    DataQualityThresholds,
    SnapshotStats,
    build_training_pairs,
    quality_gate,
    scan_snapshot,
)
from tests.conftest import PASSING_EVALUATION

LINES = [
    {"query": "manga like X", "query_language": "en", "title_id": "T1"},
    {"query": "「X」みたいな漫画", "query_language": "ja", "title_id": "T2"},
    {"query": 'quote " inside', "query_language": "en", "title_id": "T3"},
    {"query": "escaped id", "query_language": "en", "title_id": "T\u00e94"},
]
BLOB = "".join(json.dumps(line) + "\n" for line in LINES).encode() + b"\n"


@pytest.mark.parametrize("size", [1, 2, 7, 31, 1000])
def test_title_ids_survive_any_chunk_boundary_and_escapes(size: int) -> None:
    chunks = [BLOB[i : i + size] for i in range(0, len(BLOB), size)]
    assert [t for batch in title_id_batches(chunks) for t in batch] == ["T1", "T2", "T3", "Té4"]


def test_a_line_that_is_not_a_pair_is_named() -> None:
    with pytest.raises(SnapshotFormatError, match="line 2"):
        list(title_id_batches([b'{"title_id": "T1"}\n{"oops": 1}\n']))


def test_gap_is_catalog_titles_missing_from_the_snapshot_and_orphans_do_not_count() -> None:
    catalog = {f"T{i}" for i in range(100)}
    snapshot = [[f"T{i}" for i in range(80)] + ["GONE-1", "GONE-2"]]
    report = coverage_gap(catalog, snapshot, CoverageThresholds())
    assert (report.catalog_titles, report.snapshot_titles, report.gap_titles) == (100, 82, 20)
    assert report.coverage_gap_pct == 20.0
    assert report.orphan_titles == 2
    assert report.action == "retrain_and_page"
    assert report.gap_title_sample[:3] == ["T80", "T81", "T82"]
    assert set(report.to_dict()) == {
        "catalog_titles",
        "snapshot_titles",
        "gap_titles",
        "coverage_gap_pct",
        "action",
        "gap_title_sample",
    }


def test_the_spec_example_400_of_1800_is_22_percent_and_pages() -> None:
    catalog = {f"T{i:04d}" for i in range(1800)}
    report = coverage_gap(catalog, [[f"T{i:04d}" for i in range(1400)]], CoverageThresholds())
    assert report.coverage_gap_pct == 22.22 and report.action == "retrain_and_page"


@pytest.mark.parametrize(
    ("pct", "action"), [(0, "none"), (5.0, "none"), (5.01, "alert"), (15.0, "alert"), (15.01, "retrain_and_page")]
)
def test_thresholds_are_strictly_greater_than(pct: float, action: str) -> None:
    assert action_for(pct, CoverageThresholds(5, 15)) == action


def test_batches_are_lists_per_chunk() -> None:
    batches = list(title_id_batches([BLOB]))
    assert sum(len(b) for b in batches) == 4


def test_pairs_cover_both_languages_and_a_full_catalog_reaches_50000() -> None:
    catalog = [{"title_id": f"T{i}", "title": f"Title {i}"} for i in range(1800)]
    pairs = list(build_training_pairs(catalog))
    assert len(pairs) == 1800 * PAIRS_PER_TITLE >= 50_000
    assert sum(p["query_language"] == "ja" for p in pairs) / len(pairs) == 0.5
    assert {p["title_id"] for p in pairs} == {f"T{i}" for i in range(1800)}


def _stats(n_ja: int, n_en: int, titles: int = 10, orphans: int = 0) -> SnapshotStats:
    lines = [
        json.dumps({"query": "q", "query_language": "ja", "title_id": f"T{i % titles}"}).encode() for i in range(n_ja)
    ]
    lines += [
        json.dumps({"query": "q", "query_language": "en", "title_id": f"T{i % titles}"}).encode() for i in range(n_en)
    ]
    lines += [json.dumps({"query": "q", "query_language": "en", "title_id": f"X{i}"}).encode() for i in range(orphans)]
    return scan_snapshot(lines, {f"T{i}" for i in range(titles)})


def test_gate_passes_a_good_snapshot_and_removes_orphans() -> None:
    stats = _stats(300, 300, orphans=7)
    checks = {c.name: c for c in quality_gate(stats, {"T1", "T2"}, DataQualityThresholds(min_rows=500))}
    assert all(c.passed for c in checks.values())
    assert stats.orphan_rows == 7 and len(stats.kept_lines) == 600
    assert checks["orphan_title_ids"].observed == 7


def test_gate_says_which_check_failed_and_by_how_much() -> None:
    stats = _stats(100, 900)
    checks = {c.name: c for c in quality_gate(stats, {"T1", "NEW-1", "NEW-2"}, DataQualityThresholds(min_rows=5000))}
    assert not checks["row_count"].passed and "4000 short" in checks["row_count"].detail
    assert not checks["ja_query_fraction"].passed and "15.0% below" in checks["ja_query_fraction"].detail
    assert not checks["new_title_coverage"].passed and "2 missing" in checks["new_title_coverage"].detail


EVAL = {**PASSING_EVALUATION, "cold_start_recommendations": ["T1", "T2"]}


def test_offline_gate_passes_a_good_model_against_its_baseline() -> None:
    checks = offline_gate(EVAL, {"mrr_at_10": 0.42, "eval_loss": 0.108}, OfflineThresholds())
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        ({"eval_loss": 0.15}, "eval_loss"),
        ({"catalog_coverage_per_1000_sessions": 149}, "catalog_coverage_per_1000_sessions"),
        ({"long_tail_exposure": 0.2}, "long_tail_exposure"),
        ({"json_format_failure_rate": 0.05}, "json_format_failure_rate"),
        ({"safety_violations": 1}, "safety_violations"),
        ({"cold_start_recommendations": []}, "cold_start_recommendations"),
        ({"mrr_at_10": 0.38}, "regression:mrr_at_10"),
    ],
)
def test_offline_gate_names_each_failed_check(change: dict[str, object], failed: str) -> None:
    checks = offline_gate({**EVAL, **change}, {"mrr_at_10": 0.41}, OfflineThresholds())
    assert [c.name for c in checks if not c.passed] == [failed]


def test_an_evaluation_without_a_required_metric_is_refused_by_name() -> None:
    with pytest.raises(InvalidEvaluation, match="safety_violations"):
        validate_evaluation({k: v for k, v in EVAL.items() if k != "safety_violations"})


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"eval_loss": float("nan")}, "eval_loss is nan, not a finite number"),
        ({"eval_loss": float("-inf")}, "eval_loss is -inf, not a finite number"),
        ({"eval_loss": -0.1}, "eval_loss is -0.1, below 0"),
        ({"catalog_coverage_per_1000_sessions": -5}, "catalog_coverage_per_1000_sessions is -5, below 0"),
        ({"json_format_failure_rate": -0.5}, "json_format_failure_rate is -0.5, not a fraction"),
        ({"long_tail_exposure": 1.5}, "long_tail_exposure is 1.5, not a fraction"),
        ({"mrr_at_10": 2}, "mrr_at_10 is 2, not a fraction"),
        ({"cold_start_empty_rate": -0.1}, "cold_start_empty_rate is -0.1, not a fraction"),
        ({"safety_violations": -1}, "safety_violations is -1, not a count"),
        ({"safety_violations": 0.5}, "safety_violations is 0.5, not a count"),
    ],
)
def test_an_evaluation_with_an_impossible_number_is_refused_by_name(change: dict[str, object], named: str) -> None:
    """Fifteenth review, hole 6: a sentinel (-1), a negative rate or a non-finite loss passes a threshold."""
    with pytest.raises(InvalidEvaluation, match=named.replace(".", r"\.")) as refused:
        validate_evaluation({**EVAL, **change})
    assert "train again" in str(refused.value)


def test_the_bounds_of_each_range_are_accepted() -> None:
    edges = {"json_format_failure_rate": 0, "long_tail_exposure": 1, "safety_violations": 0, "eval_loss": 0.0}
    assert validate_evaluation({**EVAL, **edges})["long_tail_exposure"] == 1


META = {
    "training_job_arn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/lora-abc",
    "git_commit_sha": "3f2a9c1",
    "training_data_s3_uri": "s3://b/catalog-snapshots/2026-11-27/training.jsonl",
    "training_data_version": "v1",
    "trained_at_utc": "2026-11-27T06:00:00Z",
    "catalog_snapshot_date": "2026-11-27",
    "evaluation_metrics": {"eval_loss": 0.11},
    "shadow_ctr_eligible": True,
    "intended_use_case": "recommendation",
    "team": "recsys",
    "approved_by": "pending-manual-approval",
}


def test_registration_metadata_becomes_customer_metadata_strings() -> None:
    meta = RegistrationMetadata.from_mapping(dict(META)).customer_metadata()
    assert meta["shadow_ctr_eligible"] == "true"
    assert meta["eval:eval_loss"] == "0.11" and meta["evaluation_metrics"].startswith("sha256:")
    assert evaluation_metrics_of(meta) == {"eval_loss": 0.11}
    assert meta["catalog_snapshot_date"] == "2026-11-27"


@pytest.mark.parametrize("missing", ["catalog_snapshot_date", "git_commit_sha", "approved_by"])
def test_a_missing_field_is_refused_by_name(missing: str) -> None:
    with pytest.raises(InvalidRegistration, match=missing):
        RegistrationMetadata.from_mapping({k: v for k, v in META.items() if k != missing})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("intended_use_case", "ranking", "intended_use_case"),
        ("catalog_snapshot_date", "27/11/2026", "YYYY-MM-DD"),
        ("training_job_arn", "lora-abc", "training job ARN"),
        ("shadow_ctr_eligible", "maybe", "true or false"),
    ],
)
def test_bad_values_are_refused_with_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(InvalidRegistration, match=message):
        RegistrationMetadata.from_mapping({**META, field: value})


def test_cold_start_checks_judge_empty_rate_and_diversity_when_the_evaluation_reports_them() -> None:
    from mlgov_runtime.retraining.offline_gate import OfflineThresholds, offline_gate

    base = {
        "eval_loss": 0.1,
        "catalog_coverage_per_1000_sessions": 200,
        "long_tail_exposure": 0.3,
        "json_format_failure_rate": 0.0,
        "safety_violations": 0,
        "cold_start_recommendations": ["MNG-00001"],
    }
    # Given an evaluation without the cold-start statistics, only "non-empty" is judged
    names = {c.name for c in offline_gate(base, None, OfflineThresholds())}
    assert "cold_start_diversity" not in names and "cold_start_empty_rate" not in names
    # When every new user gets the same ten titles (10 distinct of 500 shown) and some get nothing
    collapsed = {**base, "cold_start_diversity": 0.02, "cold_start_distinct_titles": 10, "cold_start_empty_rate": 0.1}
    verdict = {c.name: c.passed for c in offline_gate(collapsed, None, OfflineThresholds())}
    # Then both cold-start checks fail while "non-empty" passes
    assert verdict == {**verdict, "cold_start_recommendations": True}
    assert verdict["cold_start_diversity"] is False and verdict["cold_start_empty_rate"] is False
    spread = {**base, "cold_start_diversity": 0.6, "cold_start_empty_rate": 0.0}
    assert all(c.passed for c in offline_gate(spread, None, OfflineThresholds()))
