"""Reproductions: where the product relies on the emulator's leniency rather than the real service's rules.

Each test states the documented rule, then shows the product breaking it. They are strict xfails until the
product is fixed (then they pass, and strict=True makes the run say so); `pytest --runxfail` shows each failure.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from typing import Any

import botocore.session
import pytest

from mlgov_runtime.retraining.registration import RegistrationMetadata


def _sagemaker_shape(name: str) -> Any:
    return botocore.session.get_session().get_service_model("sagemaker").shape_for(name)


def _metadata_value_ok(value: str) -> bool:
    """SageMaker's CustomerMetadataValue: 1..256 characters of [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]
    (Python's re has no \\p{..}: the classes are spelled out with unicodedata)."""
    shape = _sagemaker_shape("CustomerMetadataValue")
    allowed = set("_.:/=+-@")
    chars_ok = all(c in allowed or unicodedata.category(c)[0] in ("L", "Z", "N") for c in value)
    return shape.metadata["min"] <= len(value) <= shape.metadata["max"] and chars_ok


def test_the_rule_is_read_from_the_api_model() -> None:
    # Guard on the guard: the limit the checks below use is SageMaker's own (botocore's service model).
    shape = _sagemaker_shape("CustomerMetadataValue")
    assert shape.metadata["max"] == 256 and "\\p{L}" in shape.metadata["pattern"]
    assert _metadata_value_ok("2026-11-27") and not _metadata_value_ok('{"a":1}') and not _metadata_value_ok("x" * 257)


# A realistic evaluation.json: what the offline gate compares (several metrics, full float precision).
EVALUATION = {
    "eval_loss": 0.11234567891234,
    "ndcg_at_10": 0.4123456789,
    "recall_at_20": 0.5123456789,
    "json_valid_rate": 0.998765,
    "language_match_rate": 0.991234,
    "catalog_hit_rate": 0.87654321,
    "baseline_ndcg_at_10": 0.40123456,
}
META = {
    "training_job_arn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/lora-abc",
    "git_commit_sha": "3f2a9c1",
    "training_data_s3_uri": "s3://b/catalog-snapshots/2026-11-27/training.jsonl",
    "training_data_version": "v1",
    "trained_at_utc": "2026-11-27T06:00:00Z",
    "catalog_snapshot_date": "2026-11-27",
    "evaluation_metrics": EVALUATION,
    "shadow_ctr_eligible": True,
    "intended_use_case": "recommendation",
    "team": "recsys",
    "approved_by": "pending-manual-approval",
}


def test_registration_metadata_is_what_createmodelpackage_accepts() -> None:
    # Given the metadata the Register step (and `mlgov register`) sends as CustomerMetadataProperties
    metadata = RegistrationMetadata.from_mapping(dict(META)).customer_metadata()
    # Then every value meets CreateModelPackage's documented constraint (moto checks none of it)
    refused = {k: v for k, v in metadata.items() if not _metadata_value_ok(v)}
    assert refused == {}


def test_registration_checks_values_against_sagemakers_limit() -> None:
    from mlgov_runtime.retraining.registration import (
        CUSTOMER_METADATA_ENTRIES_MAX,
        CUSTOMER_METADATA_KEY_MAX,
        CUSTOMER_METADATA_VALUE_MAX,
    )

    assert _sagemaker_shape("CustomerMetadataValue").metadata["max"] == CUSTOMER_METADATA_VALUE_MAX
    assert _sagemaker_shape("CustomerMetadataKey").metadata["max"] == CUSTOMER_METADATA_KEY_MAX
    assert _sagemaker_shape("CustomerMetadataMap").metadata["max"] == CUSTOMER_METADATA_ENTRIES_MAX


def test_every_key_registration_writes_is_what_createmodelpackage_accepts() -> None:
    shape = _sagemaker_shape("CustomerMetadataKey")
    metadata = RegistrationMetadata.from_mapping(dict(META)).customer_metadata()
    allowed = set("_.:/=+-@")
    assert all(
        shape.metadata["min"] <= len(k) <= shape.metadata["max"]
        and all(c in allowed or unicodedata.category(c)[0] in ("L", "Z", "N") for c in k)
        for k in metadata
    ), sorted(metadata)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"team": "recsys, platform"}, "team"),  # a comma: outside SageMaker's class
        ({"approved_by": "a" * 257}, "approved_by"),  # over 256
        ({"evaluation_metrics": {"ndcg@10 (full)": 0.4}}, "ndcg@10 (full)"),  # the key it would become
        ({"evaluation_metrics": {"m" * 130: 0.4}}, "metadata key"),  # a key over 128
    ],
)
def test_a_value_sagemaker_would_refuse_is_refused_before_the_call_naming_the_key(
    change: dict[str, Any], named: str
) -> None:
    from mlgov_runtime.retraining.registration import InvalidRegistration

    with pytest.raises(InvalidRegistration, match=re.escape(named)):
        RegistrationMetadata.from_mapping({**META, **change}).customer_metadata()


def test_more_metrics_than_sagemakers_fifty_entries_are_refused_with_room_for_the_later_ones() -> None:
    from mlgov_runtime.retraining.registration import ENTRIES_ADDED_LATER, InvalidRegistration

    entries = _sagemaker_shape("CustomerMetadataMap").metadata["max"]
    fixed = len(META) - 1 + 1  # every field but the metrics, plus their digest
    fits = {f"m{i}": 0.5 for i in range(entries - fixed - ENTRIES_ADDED_LATER)}
    assert len(RegistrationMetadata.from_mapping({**META, "evaluation_metrics": fits}).customer_metadata()) == (
        entries - ENTRIES_ADDED_LATER
    )
    with pytest.raises(InvalidRegistration, match="SageMaker allows 50"):
        RegistrationMetadata.from_mapping({**META, "evaluation_metrics": {**fits, "one_more": 1}}).customer_metadata()


def test_recorded_metrics_read_back_exactly_and_old_json_packages_still_read() -> None:
    from mlgov_runtime.retraining.registration import evaluation_metrics_of

    metadata = RegistrationMetadata.from_mapping(dict(META)).customer_metadata()
    # Full float precision survives the text form (the next run's regression baseline)
    assert evaluation_metrics_of(metadata) == EVALUATION
    # A package registered before one-key-per-metric (JSON in evaluation_metrics) is still a baseline
    assert evaluation_metrics_of({"evaluation_metrics": '{"eval_loss":0.11,"mrr_at_10":0.41}'}) == {
        "eval_loss": 0.11,
        "mrr_at_10": 0.41,
    }
    assert evaluation_metrics_of({"catalog_snapshot_date": "2026-11-27"}) is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda m: {**m, "eval:ndcg_at_10": "0.9"},  # a value changed after registration
        lambda m: {k: v for k, v in m.items() if k != "eval:eval_loss"},  # a key removed
        lambda m: {**m, "eval:extra": "1"},  # a key added
        lambda m: {**m, "evaluation_metrics": "{not json"},
    ],
)
def test_metrics_changed_after_registration_are_not_believed(tamper: Any) -> None:
    from mlgov_runtime.retraining.registration import UnreadableMetrics, evaluation_metrics_of

    metadata = RegistrationMetadata.from_mapping(dict(META)).customer_metadata()
    with pytest.raises(UnreadableMetrics):
        evaluation_metrics_of(tamper(metadata))


def test_the_offline_gate_compares_with_the_recorded_baseline_and_fails_on_an_altered_one() -> None:
    from mlgov_runtime.retraining.logic import PipelineContext, offline_evaluation_gate
    from mlgov_runtime.retraining.offline_gate import OfflineThresholds
    from tests.conftest import PASSING_EVALUATION

    class Store:
        def get_json(self, key: str) -> Any:
            return dict(PASSING_EVALUATION)

    baseline = RegistrationMetadata.from_mapping(
        {**META, "evaluation_metrics": {"mrr_at_10": 0.50, "eval_loss": 0.11}}
    ).customer_metadata()

    def gate(metadata: dict[str, str]) -> dict[str, Any]:
        package = {"ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1"}
        ctx = PipelineContext(
            "b",
            Store(),  # type: ignore[arg-type]  # only get_json is read by this step
            list,
            lambda: {**package, "CustomerMetadataProperties": metadata},
            date.today,
            lambda name, value: None,
        )
        return offline_evaluation_gate(ctx, {"job_name": "j"}, OfflineThresholds())

    # Given the last approved version's mrr_at_10 0.50, a candidate's 0.41 is a regression (read from eval: keys)
    assert [c["name"] for c in gate(baseline)["failed"]] == ["regression:mrr_at_10"]
    # A baseline whose keys no longer match their digest voids the comparison: the gate fails, by name
    altered = {**baseline, "eval:mrr_at_10": "0.1"}
    assert [c["name"] for c in gate(altered)["failed"]] == ["baseline_metrics"]


def test_the_image_pin_reader_uses_the_retry_policy_and_the_emulator_url() -> None:
    from mlgov_runtime.adapters.aws import AwsContext
    from mlgov_runtime.core.checks import CheckContext
    from mlgov_runtime.lineage_audit.endpoint_check import _pins

    home = AwsContext(region="us-east-1", endpoint_url="http://127.0.0.1:5999")
    ctx = CheckContext(
        "123456789012",
        "us-east-1",
        clients=home.client,
        home_clients=home.client,
        options={},
        source="scheduled",
        now=datetime.now(UTC),
    )
    pins: Any = _pins(ctx)
    ecr = pins._ecr_for_region("eu-west-1")
    # Every other client: adaptive retries (throttling under a wide scan) and the --endpoint-url emulator.
    assert ecr.meta.config.retries["mode"] == "adaptive"
    assert ecr.meta.endpoint_url == "http://127.0.0.1:5999"


def test_the_findings_topic_subject_is_what_sns_accepts() -> None:
    from mlgov_runtime.adapters.findings_store import _message
    from mlgov_runtime.core.findings import Finding

    # SNS Subject: ASCII only, no line breaks or control characters, under 100 characters (moto checks none)
    title = "Endpoint «マンガ推薦» serves an unapproved package\nsecond line\t" + "x" * 120
    finding = Finding(
        "K", "HIGH", "123456789012", "us-east-1", "arn:aws:sagemaker:::endpoint/e", title, "d", "scheduled"
    )
    subject = _message(finding)["Subject"]
    assert subject.isascii() and subject.isprintable() and 0 < len(subject) < 100, subject
    assert subject.startswith("Endpoint ")
