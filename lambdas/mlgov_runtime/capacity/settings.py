"""The capacity check's settings: the `capacity` section and its `thresholds` knob, declared once; the
function receives what `Received` declares as one JSON variable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mlgov_runtime.capacity.logic import CapacityPolicy
from mlgov_runtime.capacity.schedule import ScheduleError, Window, zone
from mlgov_runtime.core.env import Env, FindingsChannelEnv, IdempotencyEnv, Lazy, SettingsError
from mlgov_runtime.core.exemptions import ExemptionPolicy
from mlgov_runtime.core.model import all_match, received, setting, settings_model, variable
from mlgov_runtime.core.shared_settings import shared
from mlgov_runtime.lineage_audit.settings import ExperimentExemptions


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
    """Checked: each an endpoint name."""
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
    """Checked: an IANA time zone (e.g. Asia/Tokyo)."""
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


@settings_model
class Received:
    """What the capacity check receives from the settings."""

    capacity: Capacity = setting(factory=Capacity)
    experiment_exemptions: ExperimentExemptions = setting(factory=ExperimentExemptions)
    thresholds: Thresholds = setting(factory=Thresholds)
    member_audit_role_name: str | None = shared("member_audit_role_name")
    idempotency_ttl_seconds: int = shared("idempotency_ttl_seconds")


@dataclass(frozen=True, kw_only=True)
class CapacitySettings(FindingsChannelEnv, IdempotencyEnv):
    policy: CapacityPolicy
    exemptions: ExemptionPolicy
    member_audit_role_name: str | None = None


def load_capacity_settings(env: Env) -> CapacitySettings:
    channel = FindingsChannelEnv.read(env)
    got = received(env, Received)
    cap, hours = got.capacity, got.capacity.business_hours
    try:
        window = Window.parse(hours.days, hours.start, hours.end)
    except ScheduleError as exc:
        raise SettingsError(
            f"environment variable {variable(Received)}: 'mlgov.capacity.business_hours': {exc}"
        ) from None
    policy = CapacityPolicy(
        floor=got.thresholds.min_endpoint_capacity,
        business_min=cap.business_hours_min_capacity,
        business_hours=window,
        time_zone=cap.time_zone,
        environment_tag_key=cap.environment_tag_key,
        non_production=frozenset(v.lower() for v in cap.non_production_environments),
        serverless_is_violation=cap.serverless_cold_start_is_violation,
    )
    return CapacitySettings(
        **channel,
        **IdempotencyEnv.with_ttl(env, got.idempotency_ttl_seconds),
        policy=policy,
        exemptions=got.experiment_exemptions.policy(),
        member_audit_role_name=got.member_audit_role_name,
    )


settings = Lazy(load_capacity_settings)
