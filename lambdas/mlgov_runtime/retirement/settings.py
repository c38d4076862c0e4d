"""The retirement functions' environment. Variable names are constants: the construct sets exactly
these (mlgov.settings.retirement_environment builds them from cdk.json), and `mlgov retire` reads the
same policy from the same variables."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mlgov_runtime.core.env import Env, FindingsChannelEnv, IdempotencyEnv, Lazy, SettingsError, csv, optional
from mlgov_runtime.core.model import setting, settings_model
from mlgov_runtime.retirement import prices
from mlgov_runtime.retirement.logic import ErrorMetric, RetirementPolicy

WATCH_TAG_KEY = "WATCH_TAG_KEY"
WATCH_TAG_VALUES = "WATCH_TAG_VALUES"
WATCH_NAME_PREFIXES = "WATCH_NAME_PREFIXES"
WATCHED_GROUPS = "WATCHED_GROUPS"
PURPOSE_TAG_KEY = "PURPOSE_TAG_KEY"
OWNER_TAG_KEYS = "OWNER_TAG_KEYS"
STALE_WINDOW_HOURS = "STALE_WINDOW_HOURS"
SAFETY_WINDOW_HOURS = "SAFETY_WINDOW_HOURS"
RETIRING_DEADLINE_DAYS = "RETIRING_DEADLINE_DAYS"
TAG_CHANGE_RESPONSE = "TAG_CHANGE_RESPONSE"
APPROVAL_EXPIRY_HOURS = "APPROVAL_EXPIRY_HOURS"
POST_RETIREMENT_WATCH_HOURS = "POST_RETIREMENT_WATCH_HOURS"
CLIENT_ERROR_METRICS_JSON = "CLIENT_ERROR_METRICS_JSON"
HOURLY_PRICES_JSON = "HOURLY_PRICES_JSON"
COST_ANOMALY_MONITOR_ARN = "COST_ANOMALY_MONITOR_ARN"
QUIET_AFTER_CUTOVER_HOURS = "QUIET_AFTER_CUTOVER_HOURS"
# The deletion steps: where approval records are, and the one state machine whose executions they serve.
APPROVALS_TABLE_NAME = "APPROVALS_TABLE_NAME"
STATE_MACHINE_NAME = "RETIREMENT_STATE_MACHINE_NAME"

TAG = r"[\w.:/=+@ -]{1,128}"
GROUP = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"


def _int(env: Env, key: str, default: int, low: int, high: int) -> int:
    text = env.get(key) or str(default)
    if not text.isdigit() or not low <= int(text) <= high:
        raise SettingsError(f"environment variable {key}: {text!r} is not a whole number in {low}..{high}")
    return int(text)


def _hours(env: Env, key: str, default: float) -> float:
    text = env.get(key) or str(default)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 24 * 14:
        raise SettingsError(f"environment variable {key}: {text!r} is not a number of hours in 0..336")
    return value


def _json(env: Env, key: str, default: str) -> object:
    try:
        return json.loads(env.get(key) or default)
    except ValueError:
        raise SettingsError(f"environment variable {key}: not valid JSON") from None


def _prices(env: Env) -> dict[str, float]:
    raw = _json(env, HOURLY_PRICES_JSON, "{}")
    if not isinstance(raw, dict) or not all(
        isinstance(v, (int, float)) and v >= 0 and re.fullmatch(r"ml\.[a-z0-9.-]+", k) for k, v in raw.items()
    ):
        raise SettingsError(f"environment variable {HOURLY_PRICES_JSON}: not an object of ml.* instance -> USD/hour")
    return {**prices.HOURLY_USD, **{k: float(v) for k, v in raw.items()}}


def _error_metrics(env: Env) -> tuple[ErrorMetric, ...]:
    raw = _json(env, CLIENT_ERROR_METRICS_JSON, "[]")
    try:
        assert isinstance(raw, list)
        return tuple(ErrorMetric(**item) for item in raw)
    except (AssertionError, TypeError):
        raise SettingsError(
            f"environment variable {CLIENT_ERROR_METRICS_JSON}: not a list of "
            '{"namespace", "metric_name", "dimension_name"} objects'
        ) from None


def policy_from_env(env: Env) -> RetirementPolicy:
    return RetirementPolicy(
        watch_tag_key=env.get(WATCH_TAG_KEY) or "managed_by",
        watch_tag_values=csv(env, WATCH_TAG_VALUES, TAG, "a tag value"),
        name_prefixes=tuple(sorted(csv(env, WATCH_NAME_PREFIXES, r"[a-zA-Z0-9-]{1,63}", "an endpoint name prefix"))),
        watched_groups=tuple(sorted(csv(env, WATCHED_GROUPS, GROUP, "a model package group"))),
        purpose_tag_key=env.get(PURPOSE_TAG_KEY) or "endpoint_purpose",
        owner_tag_keys=tuple(k for k in (env.get(OWNER_TAG_KEYS) or "owner,team").split(",") if k),
        stale_window_hours=_int(env, STALE_WINDOW_HOURS, 24, 1, 24 * 14),
        safety_window_hours=_int(env, SAFETY_WINDOW_HOURS, 1, 1, 24),
        retiring_deadline_days=_int(env, RETIRING_DEADLINE_DAYS, 7, 1, 365),
        quiet_after_cutover_hours=_hours(env, QUIET_AFTER_CUTOVER_HOURS, 24.0),
        hourly_prices=_prices(env),
    )


@settings_model
class Thresholds:
    """The retirement audit's knobs under `thresholds` (spec scenario 5)."""

    stale_invocation_window_hours: int = setting(24, ge=1)
    deletion_safety_window_hours: int = setting(1, ge=1)
    retiring_deadline_days: int = setting(7, ge=1)
    cost_anomaly_usd: float = setting(200, gt=0)


@dataclass(frozen=True, kw_only=True)
class RetirementSettings(FindingsChannelEnv):
    policy: RetirementPolicy
    tag_change_response: str = "revert"  # revert | flag
    approval_expiry_hours: int = 72
    watch_hours: int = 72
    error_metrics: tuple[ErrorMetric, ...] = ()
    cost_anomaly_monitor_arn: str | None = None


@dataclass(frozen=True, kw_only=True)
class RetirementEventSettings(RetirementSettings, IdempotencyEnv):
    """The scheduled audit and the tag-change handler: event-driven, so idempotent."""


def _common(env: Env) -> dict[str, Any]:
    response = env.get(TAG_CHANGE_RESPONSE) or "revert"
    if response not in ("revert", "flag"):
        raise SettingsError(f"environment variable {TAG_CHANGE_RESPONSE}: {response!r} is not revert or flag")
    return {
        **FindingsChannelEnv.read(env),
        "policy": policy_from_env(env),
        "tag_change_response": response,
        "approval_expiry_hours": _int(env, APPROVAL_EXPIRY_HOURS, 72, 1, 24 * 30),
        "watch_hours": _int(env, POST_RETIREMENT_WATCH_HOURS, 72, 0, 24 * 30),
        "error_metrics": _error_metrics(env),
        "cost_anomaly_monitor_arn": optional(
            env, COST_ANOMALY_MONITOR_ARN, r"arn:aws[a-z-]*:ce::\d{12}:anomalymonitor/[\w-]+", "an anomaly monitor ARN"
        ),
    }


@dataclass(frozen=True, kw_only=True)
class RetirementStepSettings(RetirementSettings):
    """The deletion steps. Without both, a request or deletion step refuses (nothing to verify against)."""

    approvals_table: str | None = None
    state_machine_name: str | None = None
    approvals_mac_key_id: str | None = None
    approvers: dict[str, tuple[str, ...]] | None = None


def load_step_settings(env: Env) -> RetirementStepSettings:
    from mlgov_runtime.approvals import settings as a

    return RetirementStepSettings(
        **_common(env),
        approvals_table=optional(env, APPROVALS_TABLE_NAME, r"[a-zA-Z0-9_.-]{3,255}", "a DynamoDB table name"),
        state_machine_name=optional(env, STATE_MACHINE_NAME, r"[\w-]{1,80}", "a state machine name"),
        approvals_mac_key_id=optional(env, a.MAC_KEY_ID, a.KEY_ID, "a KMS key ARN or id"),
        approvers=a.approvers_from(env.get(a.APPROVERS_JSON, "")) if env.get(a.APPROVERS_JSON) else None,
    )


def load_event_settings(env: Env) -> RetirementEventSettings:
    return RetirementEventSettings(**_common(env), **IdempotencyEnv.read(env))


step_settings = Lazy(load_step_settings)
event_settings = Lazy(load_event_settings)
