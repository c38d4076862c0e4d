"""The retraining pipeline steps' environment."""

from __future__ import annotations

import json
from dataclasses import dataclass

from mlgov_runtime.core.env import GROUP, TABLE, Env, FindingsChannelEnv, Lazy, SettingsError, required
from mlgov_runtime.core.model import setting, settings_model


@settings_model
class Thresholds:
    """The offline gate's knobs under `thresholds` (spec scenario 3, stage 1)."""

    min_training_pairs: int = setting(50_000, ge=1)
    min_ja_query_fraction: float = setting(0.25, ge=0, le=1)
    min_new_title_coverage: float = setting(0.95, ge=0, le=1)
    max_eval_loss: float = setting(0.15, gt=0)
    min_catalog_coverage_per_1000: float = setting(150, ge=0, le=1000)
    min_long_tail_exposure: float = setting(0.25, ge=0, le=1)
    max_json_failure_rate: float = setting(0.05, ge=0, le=1)  # the challenger gate's guardrail too
    max_safety_violations: int = setting(0, ge=0)
    max_offline_regression: float = setting(0.05, ge=0, le=1)
    max_cold_start_empty_rate: float = setting(0.0, ge=0, le=1)
    min_cold_start_diversity: float = setting(0.3, ge=0, le=1)


@dataclass(frozen=True, kw_only=True)
class RetrainingSettings(FindingsChannelEnv):
    catalog_table: str
    snapshot_bucket: str
    watched_group: str
    thresholds: dict[str, float]
    git_commit_sha: str
    team: str
    intended_use_case: str
    inference_image: str


def load_retraining_settings(env: Env) -> RetrainingSettings:
    raw = required(env, "GATE_THRESHOLDS_JSON", r"\{.*\}", "a JSON object")
    try:
        thresholds = {str(k): float(v) for k, v in json.loads(raw).items()}
    except (ValueError, AttributeError, TypeError):
        raise SettingsError("environment variable GATE_THRESHOLDS_JSON: not an object of numbers") from None
    return RetrainingSettings(
        **FindingsChannelEnv.read(env),
        catalog_table=required(env, "CATALOG_TABLE_NAME", TABLE, "a DynamoDB table name"),
        snapshot_bucket=required(env, "SNAPSHOT_BUCKET", r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name"),
        watched_group=required(env, "WATCHED_GROUP", GROUP, "a model package group"),
        thresholds=thresholds,
        git_commit_sha=required(env, "TRAINING_CODE_COMMIT", r"[0-9a-f]{7,40}", "a git commit hash"),
        team=required(env, "TEAM", r".{1,64}", "a team name"),
        intended_use_case=required(
            env,
            "INTENDED_USE_CASE",
            r"recommendation|classification|embedding",
            "recommendation, classification or embedding",
        ),
        inference_image=required(env, "INFERENCE_IMAGE", r"\S{10,512}", "a container image URI"),
    )


settings = Lazy(load_retraining_settings)
