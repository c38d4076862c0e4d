"""The capacity check's environment."""

from __future__ import annotations

from dataclasses import dataclass

from mlgov_runtime.capacity.logic import CapacityPolicy
from mlgov_runtime.capacity.schedule import ScheduleError, Window, zone
from mlgov_runtime.core.env import (
    Env,
    FindingsChannelEnv,
    IdempotencyEnv,
    Lazy,
    SettingsError,
    csv,
    number,
    optional,
)
from mlgov_runtime.core.model import setting, settings_model

BUSINESS_HOURS = "BUSINESS_HOURS"


@settings_model
class Thresholds:
    """The capacity check's knob under `thresholds` (spec scenario 4)."""

    min_endpoint_capacity: int = setting(1, ge=1)


@dataclass(frozen=True, kw_only=True)
class CapacitySettings(FindingsChannelEnv, IdempotencyEnv):
    policy: CapacityPolicy
    exempt_prefix: str = "experiment-"
    exempt_account_ids: frozenset[str] = frozenset()
    exempt_ou_ids: frozenset[str] = frozenset()
    member_audit_role_name: str | None = None


def load_capacity_settings(env: Env) -> CapacitySettings:
    try:
        hours = Window.parse_text(env.get(BUSINESS_HOURS, "MON-SUN 06:00-24:00"))
        time_zone = env.get("CAPACITY_TIME_ZONE", "UTC")
        zone(time_zone)
    except ScheduleError as exc:
        raise SettingsError(f"environment variable {BUSINESS_HOURS}/CAPACITY_TIME_ZONE: {exc}") from None
    violation = env.get("SERVERLESS_COLD_START_IS_VIOLATION", "false")
    if violation not in ("true", "false"):
        raise SettingsError(f"environment variable SERVERLESS_COLD_START_IS_VIOLATION: {violation!r} is not true|false")
    policy = CapacityPolicy(
        floor=int(number(env, "MIN_ENDPOINT_CAPACITY", "1", 0, 1000)),
        business_min=int(number(env, "BUSINESS_HOURS_MIN_CAPACITY", "2", 0, 1000)),
        business_hours=hours,
        time_zone=time_zone,
        environment_tag_key=env.get("ENVIRONMENT_TAG_KEY") or "environment",
        non_production=frozenset(
            v.lower() for v in csv(env, "NON_PRODUCTION_ENVIRONMENTS", r"[\w.:/=+@ -]{1,256}", "a tag value")
        )
        if "NON_PRODUCTION_ENVIRONMENTS" in env
        else CapacityPolicy.non_production,
        serverless_is_violation=violation == "true",
    )
    return CapacitySettings(
        **FindingsChannelEnv.read(env),
        **IdempotencyEnv.read(env),
        policy=policy,
        exempt_prefix=env.get("EXEMPT_ENDPOINT_PREFIX", "experiment-"),
        exempt_account_ids=csv(env, "EXEMPT_ACCOUNT_IDS", r"\d{12}", "a 12-digit account id"),
        exempt_ou_ids=csv(env, "EXEMPT_OU_IDS", r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}", "an OU id"),
        member_audit_role_name=optional(env, "MEMBER_AUDIT_ROLE_NAME", r"[\w+=,.@-]{1,64}", "an IAM role name"),
    )


settings = Lazy(load_capacity_settings)
