"""The weekly coverage check's environment."""

from __future__ import annotations

from dataclasses import dataclass

from mlgov_runtime.core.env import (
    GROUP,
    TABLE,
    Env,
    FindingsChannelEnv,
    Lazy,
    SettingsError,
    number,
    optional,
    required,
)
from mlgov_runtime.core.model import KeyProblem, setting, settings_model


@settings_model
class Thresholds:
    """The coverage check's knobs under `thresholds` (spec scenario 2: > 5 % alert, > 15 % retrain and page)."""

    coverage_gap_alert_pct: float = setting(5.0, gt=0, le=100)
    coverage_gap_page_pct: float = setting(15.0, gt=0, le=100)

    def check(self) -> None:
        if self.coverage_gap_page_pct < self.coverage_gap_alert_pct:
            raise KeyProblem(
                "coverage_gap_page_pct",
                f"must be >= coverage_gap_alert_pct ({self.coverage_gap_alert_pct}) (got {self.coverage_gap_page_pct})",
            )


@dataclass(frozen=True, kw_only=True)
class CoverageSettings(FindingsChannelEnv):
    catalog_table: str
    watched_group: str
    retraining_state_machine_arn: str | None
    snapshot_fallback_uri: str | None = None
    alert_pct: float = 5.0
    page_pct: float = 15.0
    start_on_alert: bool = False  # retraining starts above the alert threshold too (the finding says so)


def load_coverage_settings(env: Env) -> CoverageSettings:
    fallback = env.get("SNAPSHOT_FALLBACK_URI") or None
    if fallback is not None and not fallback.startswith("s3://"):
        raise SettingsError(f"environment variable SNAPSHOT_FALLBACK_URI: {fallback!r} is not an s3:// URI")
    return CoverageSettings(
        **FindingsChannelEnv.read(env),
        catalog_table=required(env, "CATALOG_TABLE_NAME", TABLE, "a DynamoDB table name"),
        watched_group=required(env, "WATCHED_GROUP", GROUP, "a model package group"),
        retraining_state_machine_arn=optional(
            env,
            "RETRAINING_STATE_MACHINE_ARN",
            r"arn:aws[a-z-]*:states:[\w-]+:\d{12}:stateMachine:[\w-]+",
            "a state machine ARN",
        ),
        snapshot_fallback_uri=fallback,
        alert_pct=number(env, "COVERAGE_ALERT_PCT", "5", 0, 100),
        page_pct=number(env, "COVERAGE_PAGE_PCT", "15", 0, 100),
        start_on_alert=_flag(env, "COVERAGE_START_ON_ALERT"),
    )


def _flag(env: Env, name: str) -> bool:
    value = (env.get(name) or "false").strip().lower()
    if value not in ("true", "false"):
        raise SettingsError(f"environment variable {name}: {value!r} is not true or false")
    return value == "true"


settings = Lazy(load_coverage_settings)
