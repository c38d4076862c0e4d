"""The retirement functions' settings: the `retirement` section of cdk.json and the retirement knobs of
`thresholds`, declared once here (mlgov_runtime.core.model). The construct passes what `Received` declares
as one JSON variable; the functions and `mlgov retire` read the same policy from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mlgov_runtime.core.cron import schedule
from mlgov_runtime.core.env import Env, FindingsChannelEnv, IdempotencyEnv, Lazy, optional
from mlgov_runtime.core.model import all_match, received, setting, settings_model
from mlgov_runtime.core.shared_settings import shared
from mlgov_runtime.retirement import prices
from mlgov_runtime.retirement.logic import ErrorMetric, RetirementPolicy

# The deletion steps: where approval records are, and the one state machine whose executions they serve.
APPROVALS_TABLE_NAME = "APPROVALS_TABLE_NAME"
STATE_MACHINE_NAME = "RETIREMENT_STATE_MACHINE_NAME"
COST_ANOMALY_MONITOR_ARN = "COST_ANOMALY_MONITOR_ARN"
ANOMALY_MONITOR = r"^arn:aws[a-z-]*:ce::\d{12}:anomalymonitor/[\w-]+$"

_METRIC_NAME = r"^[A-Za-z0-9_./#:-][A-Za-z0-9_./#: -]{0,254}$"  # CloudWatch namespace, metric or dimension


@settings_model
class Thresholds:
    """The retirement audit's knobs under `thresholds` (spec scenario 5)."""

    stale_invocation_window_hours: int = setting(default=24, ge=1, le=24 * 14)
    deletion_safety_window_hours: int = setting(default=1, ge=1, le=24)
    retiring_deadline_days: int = setting(default=7, ge=1, le=365)
    cost_anomaly_usd: float = setting(default=200, gt=0)


@settings_model
class ClientErrorMetric:
    """A metric the callers' side publishes per endpoint it tried (dimension `dimension_name` = endpoint name)."""

    namespace: str = setting(default="MangaAssist/Recommendations", pattern=_METRIC_NAME)
    metric_name: str = setting(pattern=_METRIC_NAME)
    dimension_name: str = setting(default="EndpointName", pattern=_METRIC_NAME)


def _client_error_metrics() -> list[ClientErrorMetric]:
    return [
        ClientErrorMetric(metric_name="EndpointInvocationErrors"),
        ClientErrorMetric(metric_name="ModelNotReadyExceptions"),
    ]


def _prefixes(value: list[str]) -> list[str]:
    """Checked: each an endpoint name prefix."""
    return all_match(value, r"[a-zA-Z0-9-]{1,63}", "an endpoint name prefix")


def _prices(value: dict[str, float]) -> dict[str, float]:
    """Checked: ml.* instance type -> USD per hour, never negative."""
    all_match(list(value), r"ml\.[a-z0-9.-]+", "a SageMaker instance type (ml.*)")
    if any(v < 0 for v in value.values()):
        raise ValueError("prices are USD per hour, never negative")
    return value


@settings_model
class Retirement:
    """Spec scenario 5: the stale-endpoint audit, the endpoint_purpose tag lifecycle and approved deletion
    (windows and the deadline are thresholds.stale_invocation_window_hours, deletion_safety_window_hours,
    retiring_deadline_days; the cost anomaly alert thresholds.cost_anomaly_usd)."""

    audit_schedule: str = setting(default="cron(0 7 1 * ? *)", check=schedule)  # monthly
    deadline_check_schedule: str = setting(default="cron(0 8 * * ? *)", check=schedule)  # daily
    # Watched endpoints: InService, and tagged managed_by (one of the values) or named with a prefix.
    managed_by_tag_key: str = setting(default="managed_by", pattern=r"^[\w.:/=+@-]{1,128}$")
    managed_by_values: list[str] = setting(factory=lambda: ["manga-recommender-pipeline"])
    endpoint_name_prefixes: list[str] = setting(factory=lambda: ["manga-recommender"], check=_prefixes)
    purpose_tag_key: str = setting(default="endpoint_purpose", pattern=r"^[\w.:/=+@-]{1,128}$")
    owner_tag_keys: list[str] = setting(factory=lambda: ["owner", "team"], min_length=1)
    # A changed or removed retiring tag while its retirement is open: put back, or only report.
    on_retiring_tag_change: Literal["revert", "flag"] = "revert"
    approval_expiry_hours: int = setting(default=72, ge=1, le=720)
    post_retirement_watch_hours: int = setting(default=72, ge=0, le=720)
    client_error_metrics: list[ClientErrorMetric] = setting(factory=_client_error_metrics)
    # USD per hour by instance type, over the built-in us-east-1 list (mlgov_runtime/retirement/prices.py).
    hourly_price_usd: dict[str, float] = setting(factory=dict, check=_prices)
    cost_anomaly_pct: float = setting(default=20, gt=0, le=1000)
    # Cost Anomaly Detection allows one SERVICE monitor per account: name yours here to subscribe to it.
    cost_anomaly_monitor_arn: str | None = setting(default=None, pattern=ANOMALY_MONITOR)
    # After a cut-over, the old endpoint must be quiet this many hours later (`mlgov retire audit --went-quiet`).
    quiet_after_cutover_hours: float = setting(default=24, ge=0, le=336)


Section = Retirement


@settings_model
class Received:
    """What the retirement functions receive from the settings."""

    retirement: Retirement = setting(factory=Retirement)
    thresholds: Thresholds = setting(factory=Thresholds)
    watched_model_package_groups: list[str] = setting(factory=list)
    idempotency_ttl_seconds: int = shared("idempotency_ttl_seconds")


def policy_from(got: Received) -> RetirementPolicy:
    r, t = got.retirement, got.thresholds
    return RetirementPolicy(
        watch_tag_key=r.managed_by_tag_key,
        watch_tag_values=frozenset(r.managed_by_values),
        name_prefixes=tuple(sorted(r.endpoint_name_prefixes)),
        watched_groups=tuple(sorted(got.watched_model_package_groups)),
        purpose_tag_key=r.purpose_tag_key,
        owner_tag_keys=tuple(r.owner_tag_keys),
        stale_window_hours=t.stale_invocation_window_hours,
        safety_window_hours=t.deletion_safety_window_hours,
        retiring_deadline_days=t.retiring_deadline_days,
        quiet_after_cutover_hours=r.quiet_after_cutover_hours,
        hourly_prices={**prices.HOURLY_USD, **r.hourly_price_usd},
    )


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


def _common(env: Env, got: Received) -> dict[str, Any]:
    r = got.retirement
    return {
        **FindingsChannelEnv.read(env),
        "policy": policy_from(got),
        "tag_change_response": r.on_retiring_tag_change,
        "approval_expiry_hours": r.approval_expiry_hours,
        "watch_hours": r.post_retirement_watch_hours,
        "error_metrics": tuple(
            ErrorMetric(m.namespace, m.metric_name, m.dimension_name) for m in r.client_error_metrics
        ),
        "cost_anomaly_monitor_arn": optional(
            env, COST_ANOMALY_MONITOR_ARN, ANOMALY_MONITOR.strip("^$"), "an anomaly monitor ARN"
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
        **_common(env, received(env, Received)),
        approvals_table=optional(env, APPROVALS_TABLE_NAME, r"[a-zA-Z0-9_.-]{3,255}", "a DynamoDB table name"),
        state_machine_name=optional(env, STATE_MACHINE_NAME, r"[\w-]{1,80}", "a state machine name"),
        approvals_mac_key_id=optional(env, a.MAC_KEY_ID, a.KEY_ID, "a KMS key ARN or id"),
        approvers=a.approvers_received(env),
    )


def load_event_settings(env: Env) -> RetirementEventSettings:
    got = received(env, Received)
    return RetirementEventSettings(**_common(env, got), **IdempotencyEnv.with_ttl(env, got.idempotency_ttl_seconds))


step_settings = Lazy(load_step_settings)
event_settings = Lazy(load_event_settings)
