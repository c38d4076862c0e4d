"""The capacity check's environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
from mlgov_runtime.core.model import all_match, setting, settings_model

BUSINESS_HOURS = "BUSINESS_HOURS"


@settings_model
class Thresholds:
    """The capacity check's knob under `thresholds` (spec scenario 4)."""

    min_endpoint_capacity: int = setting(default=1, ge=1)


WEEKDAY = Literal["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
ENDPOINT_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
APPCONFIG_ID = r"^[a-z0-9]{4,7}$"


@settings_model
class CapacityWindow:
    """Days of the week, start to end in capacity.time_zone ('24:00' is midnight; split windows across it)."""

    days: list[WEEKDAY] = setting(min_length=1)
    start: str = setting(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = setting(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")

    def check(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")


@settings_model
class Campaign(CapacityWindow):
    name: str = setting(pattern=r"^[a-zA-Z0-9-]{1,40}$")
    min_capacity: int = setting(ge=1)


def _manga_monday() -> list[Campaign]:
    return [Campaign(name="manga-monday", days=["MON"], start="08:00", end="22:00", min_capacity=5)]


def _endpoints(value: list[str]) -> list[str]:
    return all_match(value, ENDPOINT_NAME, "an endpoint name")


@settings_model
class FallbackRoute:
    """The AppConfig route `mlgov capacity restore` switches to the fallback while a cold endpoint warms up."""

    application_id: str = setting(pattern=APPCONFIG_ID)
    environment_id: str = setting(pattern=APPCONFIG_ID)
    configuration_profile_id: str = setting(pattern=APPCONFIG_ID)
    deployment_strategy_id: str = setting(default="AppConfig.AllAtOnce", pattern=r"^([a-z0-9]{4,7}|AppConfig\.\w+)$")
    route_key: str = setting(default="recommendation_backend", min_length=1, max_length=128)
    fallback_value: str = setting(default="bedrock-fallback", min_length=1, max_length=256)
    # The key holding the share (0-100 %) of recommendations the recommender sends to the fallback:
    # `mlgov rollback --fallback-percent` steps it up when there is no previous version.
    share_key: str = setting(default="fallback_percent", min_length=1, max_length=128)
    endpoints: list[str] = setting(min_length=1, check=_endpoints)  # the endpoints this route steers traffic to
    smoke_test_body: str | None = setting(default=None, max_length=6_000_000)
    smoke_test_content_type: str = "application/json"


@settings_model
class ScaledEndpoint:
    endpoint_name: str = setting(pattern=ENDPOINT_NAME)
    variant_name: str = setting(default="AllTraffic", pattern=ENDPOINT_NAME)


def _zone(value: str) -> str:
    zone(value)
    return value


@settings_model
class Capacity:
    """Spec scenario 4: minimums in and out of business hours, campaigns, the incident fallback."""

    time_zone: str = setting(default="UTC", check=_zone)
    business_hours: CapacityWindow = setting(
        factory=lambda: CapacityWindow(
            days=["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"], start="06:00", end="24:00"
        )
    )
    business_hours_min_capacity: int = setting(default=2, ge=1)
    overnight_min_capacity: int = setting(default=1, ge=1)
    max_capacity: int = setting(default=10, ge=1, le=1000)
    target_invocations_per_instance: float = setting(default=70.0, gt=0)
    scale_out_cooldown_seconds: int = setting(default=60, ge=0, le=3600)
    scale_in_cooldown_seconds: int = setting(default=300, ge=0, le=3600)
    campaigns: list[Campaign] = setting(factory=_manga_monday)
    scaled_endpoints: list[ScaledEndpoint] = setting(factory=list)
    environment_tag_key: str = setting(default="environment", pattern=r"^[\w.:/=+@-]{1,128}$")
    non_production_environments: list[str] = setting(
        factory=lambda: ["dev", "development", "test", "staging", "sandbox"]
    )
    serverless_cold_start_is_violation: bool = False
    fallback_route: FallbackRoute | None = None

    def check(self) -> None:
        if self.overnight_min_capacity > self.business_hours_min_capacity:
            raise ValueError("overnight_min_capacity is above business_hours_min_capacity")
        for level, what in [(self.business_hours_min_capacity, "business_hours_min_capacity")] + [
            (c.min_capacity, f"campaign {c.name} min_capacity") for c in self.campaigns
        ]:
            if level > self.max_capacity:
                raise ValueError(f"{what} {level} is above max_capacity {self.max_capacity}")


Section = Capacity


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
