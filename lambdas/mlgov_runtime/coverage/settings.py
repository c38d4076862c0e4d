"""The weekly coverage check's settings: its knobs of `thresholds` are declared here; the catalog, group
and schedule are the `retraining` section's (mlgov_runtime.retraining.settings)."""

from __future__ import annotations

from dataclasses import dataclass

from mlgov_runtime.core.env import Env, FindingsChannelEnv, Lazy, optional
from mlgov_runtime.core.model import KeyProblem, received, setting, settings_model
from mlgov_runtime.retraining.settings import Retraining, serving_group


@settings_model
class Thresholds:
    """The coverage check's knobs under `thresholds` (spec scenario 2: > 5 % alert, > 15 % retrain and page)."""

    coverage_gap_alert_pct: float = setting(default=5.0, gt=0, le=100)
    coverage_gap_page_pct: float = setting(default=15.0, gt=0, le=100)

    def check(self) -> None:
        if self.coverage_gap_page_pct < self.coverage_gap_alert_pct:
            raise KeyProblem(
                "coverage_gap_page_pct",
                f"must be >= coverage_gap_alert_pct ({self.coverage_gap_alert_pct}) (got {self.coverage_gap_page_pct})",
            )


@settings_model
class Received:
    """What the coverage check receives from the settings."""

    retraining: Retraining = setting(factory=Retraining)
    thresholds: Thresholds = setting(factory=Thresholds)
    watched_model_package_groups: list[str] = setting(min_length=1)


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
    got = received(env, Received)
    r, t = got.retraining, got.thresholds
    return CoverageSettings(
        **FindingsChannelEnv.read(env),
        catalog_table=r.catalog_table_name,
        watched_group=serving_group(r, got.watched_model_package_groups),
        retraining_state_machine_arn=optional(
            env,
            "RETRAINING_STATE_MACHINE_ARN",
            r"arn:aws[a-z-]*:states:[\w-]+:\d{12}:stateMachine:[\w-]+",
            "a state machine ARN",
        ),
        snapshot_fallback_uri=r.snapshot_fallback_uri,
        alert_pct=t.coverage_gap_alert_pct,
        page_pct=t.coverage_gap_page_pct,
        start_on_alert=r.start_on_coverage_alert,
    )


settings = Lazy(load_coverage_settings)
