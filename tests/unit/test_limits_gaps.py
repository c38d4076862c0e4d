"""Reproductions: where the product relies on the emulator's leniency rather than the real service's rules.

Each test states the documented rule, then shows the product breaking it. They are strict xfails until the
product is fixed (then they pass, and strict=True makes the run say so); `pytest --runxfail` shows each failure.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
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


@pytest.mark.xfail(strict=True, reason='gap 1: evaluation_metrics is JSON; SageMaker allows no { " , in 256 chars')
def test_registration_metadata_is_what_createmodelpackage_accepts() -> None:
    # Given the metadata the Register step (and `mlgov register`) sends as CustomerMetadataProperties
    metadata = RegistrationMetadata.from_mapping(dict(META)).customer_metadata()
    # Then every value meets CreateModelPackage's documented constraint (moto checks none of it)
    refused = {k: v for k, v in metadata.items() if not _metadata_value_ok(v)}
    assert refused == {}


@pytest.mark.xfail(strict=True, reason="gap 1: the product's own limit is 1,024; SageMaker's is 256")
def test_registration_checks_values_against_sagemakers_limit() -> None:
    from mlgov_runtime.retraining.registration import CUSTOMER_METADATA_VALUE_MAX

    assert _sagemaker_shape("CustomerMetadataValue").metadata["max"] == CUSTOMER_METADATA_VALUE_MAX


@pytest.mark.xfail(strict=True, reason="gap 4: the pin reader's ECR client ignores the retry policy and --endpoint-url")
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
