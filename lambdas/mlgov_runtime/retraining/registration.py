"""The Model Registry metadata every package carries (spec scenario 1, follow-up 3), as one typed
model: the pipeline and `mlgov register` both build it, so a missing field is refused by name."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

USE_CASES = ("recommendation", "classification", "embedding")
CUSTOMER_METADATA_VALUE_MAX = 1024  # SageMaker's limit per value
# Beside the fields below, the pipeline records its execution (challenger/provenance.py reads it back).
RETRAINING_EXECUTION_KEY = "retraining_execution_arn"


class InvalidRegistration(ValueError):
    pass


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
                text = "true" if value else "false"
            elif isinstance(value, dict):
                text = json.dumps(value, sort_keys=True, separators=(",", ":"))
            else:
                text = str(value)
            if len(text) > CUSTOMER_METADATA_VALUE_MAX:
                raise InvalidRegistration(
                    f"{f.name} is {len(text)} characters; SageMaker allows {CUSTOMER_METADATA_VALUE_MAX}"
                )
            out[f.name] = text
        return out
