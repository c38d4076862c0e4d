"""The Model Registry metadata every package carries (spec scenario 1, follow-up 3), as one typed
model: the pipeline and `mlgov register` both build it, so a missing field is refused by name.

SageMaker's CustomerMetadataProperties (botocore's service model, not moto, which checks none of it): at most
50 entries, keys 1..128 and values 1..256 characters of [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@], so no JSON. Each
evaluation metric is its own key (`eval:<name>` -> the number as Python writes it, which reads back exactly) and
`evaluation_metrics` holds the sha256 of the metrics as canonical JSON: a key changed or removed after
registration no longer matches. Packages written before (`evaluation_metrics` a JSON object) are still read.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

USE_CASES = ("recommendation", "classification", "embedding")
# SageMaker's limits (CustomerMetadataKey, CustomerMetadataValue, CustomerMetadataMap).
CUSTOMER_METADATA_KEY_MAX = 128
CUSTOMER_METADATA_VALUE_MAX = 256
CUSTOMER_METADATA_ENTRIES_MAX = 50
_METADATA_PUNCTUATION = frozenset("_.:/=+-@")
METRIC_KEY_PREFIX = "eval:"
METRICS_DIGEST_PREFIX = "sha256:"
# Beside the fields below, the pipeline records its execution (challenger/provenance.py reads it back).
RETRAINING_EXECUTION_KEY = "retraining_execution_arn"
# Entries written beside registration's own: two pins, the execution, the challenger's retention review.
ENTRIES_ADDED_LATER = 4


class InvalidRegistration(ValueError):
    pass


class UnreadableMetrics(ValueError):
    """A package's recorded evaluation metrics cannot be believed (altered, partial or not parseable)."""


def _utf16_length(text: str) -> int:
    # SageMaker counts UTF-16 units: a character outside the BMP counts twice.
    return len(text.encode("utf-16-le")) // 2


def _metadata_text_problem(text: str, maximum: int) -> str | None:
    length = _utf16_length(text)
    if not 1 <= length <= maximum:
        return f"is {length} characters; SageMaker allows 1 to {maximum}"
    bad = sorted({c for c in text if c not in _METADATA_PUNCTUATION and unicodedata.category(c)[0] not in "LZN"})
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        return f"contains {shown}; SageMaker allows letters, digits, spaces and _ . : / = + - @"
    return None


def check_customer_metadata(metadata: Mapping[str, str], room: int = 0) -> None:
    """Refuse what CreateModelPackage/UpdateModelPackage would refuse, naming the key, before the call.
    `room`: entries that will be added to this map later."""
    for key, value in metadata.items():
        problem = _metadata_text_problem(key, CUSTOMER_METADATA_KEY_MAX)
        if problem:
            raise InvalidRegistration(f"metadata key {key[:60]!r} {problem}")
        if not isinstance(value, str):
            raise InvalidRegistration(f"{key} is not a string")
        problem = _metadata_text_problem(value, CUSTOMER_METADATA_VALUE_MAX)
        if problem:
            raise InvalidRegistration(f"{key} {problem}")
    if len(metadata) + room > CUSTOMER_METADATA_ENTRIES_MAX:
        raise InvalidRegistration(
            f"{len(metadata)} metadata entries (and {room} added later); SageMaker allows "
            f"{CUSTOMER_METADATA_ENTRIES_MAX}: report fewer evaluation metrics"
        )


def _metric_text(value: float) -> str:
    return repr(value)  # int -> "212", float -> shortest text that reads back the same float


def metrics_digest(metrics: Mapping[str, float]) -> str:
    canonical = json.dumps(dict(metrics), sort_keys=True, separators=(",", ":"))
    return METRICS_DIGEST_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()


def encode_evaluation_metrics(metrics: Mapping[str, float]) -> dict[str, str]:
    """The metadata entries for `metrics`: one key per metric, and their digest under `evaluation_metrics`."""
    return {
        "evaluation_metrics": metrics_digest(metrics),
        **{METRIC_KEY_PREFIX + name: _metric_text(value) for name, value in sorted(metrics.items())},
    }


def _number(text: str) -> float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def evaluation_metrics_of(metadata: Mapping[str, Any]) -> dict[str, float] | None:
    """The evaluation metrics a package recorded; None when it recorded none. Reads the `eval:` keys (checked
    against their digest) and packages written before them (`evaluation_metrics` a JSON object).
    Raises UnreadableMetrics when what is recorded cannot be believed."""
    recorded = metadata.get("evaluation_metrics")
    prefixed = {str(k): str(v) for k, v in metadata.items() if str(k).startswith(METRIC_KEY_PREFIX)}
    if not prefixed and recorded in (None, ""):
        return None
    text = str(recorded or "")
    if not prefixed and text.lstrip().startswith("{"):
        try:
            legacy = json.loads(text)
        except json.JSONDecodeError:
            raise UnreadableMetrics("evaluation_metrics is neither a digest nor a JSON object") from None
        if not isinstance(legacy, dict):
            raise UnreadableMetrics("evaluation_metrics is neither a digest nor a JSON object")
        return {str(k): v for k, v in legacy.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    try:
        metrics = {k[len(METRIC_KEY_PREFIX) :]: _number(v) for k, v in prefixed.items()}
    except ValueError:
        raise UnreadableMetrics("an eval: metadata value is not a number") from None
    if metrics_digest(metrics) != text:
        raise UnreadableMetrics(
            f"the eval: metadata entries ({len(metrics)}) do not match the digest in evaluation_metrics: "
            "changed or removed after registration"
        )
    return metrics


@dataclass(frozen=True)
class RegistrationMetadata:
    training_job_arn: str
    git_commit_sha: str
    training_data_s3_uri: str
    training_data_version: str
    trained_at_utc: str
    catalog_snapshot_date: str
    evaluation_metrics: dict[str, Any]
    shadow_ctr_eligible: bool
    intended_use_case: str
    team: str
    approved_by: str

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> RegistrationMetadata:
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if data.get(n) in (None, "")]
        if missing:
            raise InvalidRegistration(f"registration metadata lacks {', '.join(missing)}")
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise InvalidRegistration(f"registration metadata has unknown field {unknown[0]}")
        metrics = data["evaluation_metrics"]
        if isinstance(metrics, str):
            try:
                metrics = json.loads(metrics)
            except json.JSONDecodeError:
                raise InvalidRegistration("evaluation_metrics is not a JSON object") from None
        eligible = data["shadow_ctr_eligible"]
        if isinstance(eligible, str) and eligible.lower() in ("true", "false"):
            eligible = eligible.lower() == "true"
        meta = cls(**{**data, "evaluation_metrics": metrics, "shadow_ctr_eligible": eligible})
        meta.validate()
        return meta

    def validate(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "str" and not isinstance(value, str):
                # The registry stores strings: 12345 or {"a": 1} would be kept as their text, not refused.
                kind = {bool: "boolean", int: "number", float: "number", dict: "object", list: "array"}
                got = kind.get(type(value), type(value).__name__)
                raise InvalidRegistration(f"{f.name} is a JSON {got} ({json.dumps(value)[:40]}); it must be a string")
        checks = [
            (
                re.fullmatch(r"arn:aws[a-z-]*:sagemaker:[\w-]+:\d{12}:training-job/[\w-]+", self.training_job_arn),
                "training_job_arn is not a SageMaker training job ARN",
            ),
            (re.fullmatch(r"[0-9a-f]{7,40}", self.git_commit_sha), "git_commit_sha is not a git commit hash"),
            (self.training_data_s3_uri.startswith("s3://"), "training_data_s3_uri is not an s3:// URI"),
            (
                isinstance(self.evaluation_metrics, dict) and self.evaluation_metrics,
                "evaluation_metrics is not a non-empty JSON object",
            ),
            (
                isinstance(self.evaluation_metrics, dict)
                and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in self.evaluation_metrics.values()
                ),
                "evaluation_metrics values must be finite numbers",
            ),
            (isinstance(self.shadow_ctr_eligible, bool), "shadow_ctr_eligible is not true or false"),
            (self.intended_use_case in USE_CASES, f"intended_use_case is not one of {', '.join(USE_CASES)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidRegistration(message)
        try:
            datetime.fromisoformat(self.trained_at_utc.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidRegistration("trained_at_utc is not an ISO-8601 timestamp") from None
        try:
            date.fromisoformat(self.catalog_snapshot_date)
        except ValueError:
            raise InvalidRegistration("catalog_snapshot_date is not a YYYY-MM-DD date") from None

    def customer_metadata(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                out[f.name] = "true" if value else "false"
            elif isinstance(value, dict):
                out.update(encode_evaluation_metrics(value))
            else:
                out[f.name] = str(value)
        check_customer_metadata(out, room=ENTRIES_ADDED_LATER)
        return out
