"""The app's settings: the `mlgov` key of cdk.json context. Validated at synth; one clear line on error.

Pure pydantic (no CDK import) so the CLI reads the same file with the same rules.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from mlgov_runtime.core.cron import schedule, schedule_problem
from mlgov_runtime.core.model import RULES, KeyProblem, hints
from mlgov_runtime.core.routing import RoutingPolicy, routing_from_json
from mlgov_runtime.registry import CAPABILITIES, Capability

CONTEXT_KEY = "mlgov"
SEVERITY = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]


class SettingsError(ValueError):
    """A bad setting: the message names the key and what is allowed."""


def _all_match(values: list[str], pattern: str, what: str) -> list[str]:
    for value in values:
        if not re.fullmatch(pattern, value):
            raise ValueError(f"{value!r} is not {what}")
    return values


class _Strict(BaseModel):
    # strict: `true` is not a number and "5" is not 5; a typo'd key is refused.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


Schedule = Annotated[str, AfterValidator(schedule)]
__all__ = ["schedule_problem"]

# Each capability declares its settings once, as a dataclass in mlgov_runtime/<name>/settings.py
# (mlgov_runtime.core.model); what validates cdk.json here is a pydantic model derived from it, so the
# CLI and `cdk synth` give pydantic's messages and the function reads the same dataclass back.

M = TypeVar("M")
_MODELS: dict[type, type[BaseModel]] = {}


def _derived_type(kind: Any) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return pydantic_model(kind)
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_derived_type(a) for a in args)]  # noqa: UP007
    if origin in (list, tuple, dict, frozenset) and args:
        return origin[tuple(_derived_type(a) for a in args)]
    return kind


def _as_model(value: Any) -> Any:
    """A dataclass default as the derived model's instance (lists and maps of them too)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: _as_model(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return pydantic_model(type(value)).model_validate(data)
    if isinstance(value, list):
        return [_as_model(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_model(v) for k, v in value.items()}
    return value


def _factory(make: Callable[[], Any]) -> Callable[[], Any]:
    return lambda: _as_model(make())


def pydantic_model(cls: type[M]) -> type[M]:
    """The strict pydantic model that validates the settings dataclass `cls` in cdk.json: same fields,
    defaults and rules; the dataclass's methods and properties come along (typed as the dataclass)."""
    if cls in _MODELS:
        return typing.cast(type[M], _MODELS[cls])
    kinds = hints(cls)
    definitions: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
        extras: list[Any] = []
        rules = {k: spec.metadata[k] for k in RULES if k in spec.metadata}
        if rules:
            extras.append(Field(**rules))
        if "check" in spec.metadata:
            extras.append(AfterValidator(spec.metadata["check"]))
        kind = _derived_type(kinds[spec.name])
        annotated = Annotated[(kind, *extras)] if extras else kind  # type: ignore[valid-type]
        if spec.default_factory is not dataclasses.MISSING:
            default = Field(default_factory=_factory(spec.default_factory))
        elif spec.default is not dataclasses.MISSING:
            default = Field(default=_as_model(spec.default))
        else:
            default = Field()
        definitions[spec.name] = (annotated, default)
    validators: dict[str, Any] = {}
    if "check" in vars(cls):
        check = vars(cls)["check"]

        def _after(self: Any) -> Any:
            check(self)
            return self

        validators["_check"] = model_validator(mode="after")(_after)
    if "prepare" in vars(cls):
        prepare = vars(cls)["prepare"].__func__

        def _before(model: Any, data: Any) -> Any:
            return prepare(cls, data) if isinstance(data, dict) else data

        validators["_prepare"] = model_validator(mode="before")(classmethod(_before))  # type: ignore[arg-type]
    model = create_model(  # type: ignore[call-overload]
        cls.__name__, __base__=_Strict, __doc__=cls.__doc__, __validators__=validators, **definitions
    )
    model.__module__ = cls.__module__
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for name, attribute in vars(cls).items():
        if name.startswith("__") or name in names or name in ("check", "prepare"):
            continue
        if isinstance(attribute, (types.FunctionType, property, staticmethod, classmethod)):
            setattr(model, name, attribute)
    _MODELS[cls] = model
    return typing.cast(type[M], model)


def _section_module(capability: Capability) -> Any:
    return importlib.import_module(f"mlgov_runtime.{capability.name}.settings")


def section_model(capability: Capability) -> type | None:
    """The dataclass of a capability's cdk.json section (`mlgov.<capability.section>`), if it has one."""
    return getattr(_section_module(capability), "Section", None) if capability.section else None


def received_model(capability: Capability) -> type:
    """The dataclass of what a capability's functions receive (`Received`): its environment variable's shape."""
    model: type = _section_module(capability).Received
    return model


def thresholds_model(capability: Capability) -> type | None:
    """The dataclass of the knobs a capability adds under `mlgov.thresholds`, if any."""
    return getattr(_section_module(capability), "Thresholds", None)


def _thresholds_model(capabilities: tuple[Capability, ...]) -> type[BaseModel]:
    """`thresholds`: one section in cdk.json (a contract), its knobs declared by the capabilities using them."""
    parts = [part for c in capabilities if (part := thresholds_model(c)) is not None]
    fields = [
        (
            f.name,
            hints(part)[f.name],
            dataclasses.field(default=f.default, default_factory=f.default_factory, metadata=f.metadata),
        )
        for part in parts
        for f in dataclasses.fields(part)
    ]

    def check(self: Any) -> None:
        for part in parts:
            if "check" in vars(part):
                vars(part)["check"](self)

    @classmethod  # type: ignore[misc]
    def prepare(cls: Any, data: dict[str, Any]) -> dict[str, Any]:
        for part in parts:
            if "prepare" in vars(part):
                data = vars(part)["prepare"].__func__(part, data)
        return data

    merged = dataclasses.make_dataclass(
        "Thresholds",
        fields,
        namespace={"__doc__": "Defaults are the spec's numbers.", "check": check, "prepare": prepare},
        frozen=True,
        kw_only=True,
    )
    return pydantic_model(merged)  # type: ignore[return-value]


class ExperimentExemptions(_Strict):
    """Experiment endpoints skip the registry gate, but only in the accounts/OUs listed here."""

    endpoint_name_prefix: str = Field(default="experiment-", pattern=r"^[a-zA-Z0-9-]{1,40}$")
    account_ids: list[str] = Field(default_factory=list)
    organizational_unit_ids: list[str] = Field(default_factory=list)

    @field_validator("account_ids")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        return _all_match(value, r"\d{12}", "a 12-digit AWS account id")

    @field_validator("organizational_unit_ids")
    @classmethod
    def _ous(cls, value: list[str]) -> list[str]:
        return _all_match(value, r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}", "an OU id (ou-xxxx-xxxxxxxx)")


def _page_critical_only() -> list[SEVERITY]:
    return ["CRITICAL"]


SLACK_CHANNEL = r"^#[a-z0-9_-]{1,80}$"
DEFAULT_SECURITY_CHANNEL = "#ml-governance-security"


def finding_kinds() -> tuple[str, ...]:
    """Every kind a registered capability emits (the registry's Capability.kinds)."""
    from mlgov_runtime.registry import CAPABILITIES

    return tuple(dict.fromkeys(kind for capability in CAPABILITIES for kind in capability.kinds))


class RouteSetting(_Strict):
    """Findings of these kinds at or above this severity go to this Slack channel and/or Jira."""

    kinds: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    min_severity: SEVERITY = "MEDIUM"
    slack_channel: str | None = Field(default=None, pattern=SLACK_CHANNEL)
    jira: bool = False

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        known = finding_kinds()
        for kind in value:
            if kind != "*" and kind not in known:
                raise ValueError(f"{kind!r} is not a finding kind; known: {', '.join(known)}, or * for all")
        return value

    @model_validator(mode="after")
    def _sends_somewhere(self) -> RouteSetting:
        if not self.slack_channel and not self.jira:
            raise ValueError("a route needs slack_channel, jira: true, or both (this one sends nowhere)")
        return self


class AlertRouting(_Strict):
    # The Slack channel of the default route (used when `routes` is not given).
    security_slack_channel: str = Field(default=DEFAULT_SECURITY_CHANNEL, pattern=SLACK_CHANNEL)
    jira_project_key: str = Field(default="MLGOV", pattern=r"^[A-Z][A-Z0-9]{1,9}$")
    # Besides the findings topic, only these principals may put messages on the notifier queue
    # (`mlgov notify redrive`): a message from anyone else could close or drown real findings.
    redrive_role_arns: list[str] = Field(default_factory=lambda: ["arn:*:iam::*:role/mlgov-protected/*"])
    jira_issue_type: str = Field(default="Task", min_length=1, max_length=255)
    jira_resolve_transition_id: str | None = Field(default=None, pattern=r"^\d{1,6}$")
    page_severities: list[SEVERITY] = Field(default_factory=_page_critical_only)
    routes: list[RouteSetting]
    dedupe_window_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60)
    # Every finding also as an ASFF record in Security Hub of the governance account (README "Security Hub").
    security_hub: bool = False

    @model_validator(mode="before")
    @classmethod
    def _default_route(cls, data: Any) -> Any:
        """Without `routes`: every kind at MEDIUM or above to security_slack_channel and Jira."""
        if isinstance(data, dict) and "routes" not in data:
            channel = data.get("security_slack_channel", DEFAULT_SECURITY_CHANNEL)
            route = {"kinds": ["*"], "min_severity": "MEDIUM", "slack_channel": channel, "jira": True}
            summary = {"kinds": ["SCAN_SUMMARY"], "min_severity": "INFO", "slack_channel": channel, "jira": False}
            return {**data, "routes": [route, summary]}
        return data

    @field_validator("routes")
    @classmethod
    def _some_route(cls, value: list[RouteSetting]) -> list[RouteSetting]:
        if not value:
            raise ValueError(
                "is empty: findings would reach no Slack channel and no Jira project (leave the key out "
                "for the default route, or add a route)"
            )
        return value

    @field_validator("jira_issue_type")
    @classmethod
    def _issue_type(cls, value: str) -> str:
        if not value.strip() or value != value.strip():
            raise ValueError("must name a Jira issue type (e.g. Task), without leading or trailing spaces")
        return value


if TYPE_CHECKING:
    from mlgov_runtime.capacity.settings import Thresholds as _CapacityKnobs
    from mlgov_runtime.challenger.settings import Thresholds as _ChallengerKnobs
    from mlgov_runtime.coverage.settings import Thresholds as _CoverageKnobs
    from mlgov_runtime.org_scan.settings import Thresholds as _OrgScanKnobs
    from mlgov_runtime.retirement.settings import Retirement
    from mlgov_runtime.retirement.settings import Thresholds as _RetirementKnobs
    from mlgov_runtime.retraining.settings import Retraining
    from mlgov_runtime.retraining.settings import Thresholds as _RetrainingKnobs

    class _Thresholds(  # type: ignore[misc]
        _RetrainingKnobs, _CoverageKnobs, _ChallengerKnobs, _CapacityKnobs, _RetirementKnobs, _OrgScanKnobs
    ):
        """Every knob of `thresholds`, for the type checker (each declared by its capability)."""

    Thresholds = _Thresholds


ROLE_ARN_PATTERN = r"arn:(aws[a-z-]*|\*):iam::(\d{12}|\*):role/[\w+=,.@/*-]{1,512}"


class Guardrails(_Strict):
    """Preventive policies (SCPs, or an IAM policy and boundary without Organizations).

    Exempt principals live on a protected IAM path: a name prefix alone would exempt anyone who may
    create a role with that name, so the `mlgov-protected-roles` SCP keeps every principal but
    `role_admin_arns` (and break-glass) from creating, changing or passing roles on the path."""

    target_ou_ids: list[str] = Field(default_factory=list)
    protected_role_path: str = Field(default="/mlgov-protected/", pattern=r"^/([\w+=,.@-]+/)+$")
    pipeline_role_arns: list[str] = Field(
        default_factory=lambda: ["arn:*:iam::*:role/mlgov-protected/MlGovDeploymentPipeline*"]
    )
    approver_role_arns: list[str] = Field(
        default_factory=lambda: ["arn:*:iam::*:role/mlgov-protected/MlGovModelApprover*"]
    )
    role_admin_arns: list[str] = Field(default_factory=lambda: ["arn:*:iam::*:role/mlgov-protected/MlGovRoleAdmin"])
    break_glass_role_arns: list[str] = Field(default_factory=list)
    governance_tag_keys: list[str] = Field(default_factory=lambda: ["ModelPackageName", "endpoint_purpose"])
    existing_scps_per_target: int = Field(default=1, ge=0, le=4)
    # The product's own roles: CDK names them after the stack (MlGovEndpointAudit-...), the challenger's roles
    # sit on the protected path. Not on the path: the mlgov-protected-roles SCP protects them by name instead.
    product_role_arns: list[str] = Field(
        default_factory=lambda: [
            "arn:*:iam::*:role/MlGovEndpointAudit-*",
            "arn:*:iam::*:role/mlgov-protected/*Challenger",
        ]
    )
    # Who deploys the product (CloudFormation's execution role from `cdk bootstrap`); protected by name too.
    deployer_role_arns: list[str] = Field(default_factory=lambda: ["arn:*:iam::*:role/cdk-hnb659fds-cfn-exec-role-*"])
    # CLI roles that start the product's state machines and answer its approvals (task tokens).
    operator_role_arns: list[str] = Field(default_factory=lambda: ["arn:*:iam::*:role/mlgov-protected/MlGovOperator*"])
    # The recommender's roles that write the recommendation metrics the challenger gate decides on.
    metric_writer_role_arns: list[str] = Field(
        default_factory=lambda: ["arn:*:iam::*:role/mlgov-protected/MlGovRecommenderMetrics*"]
    )
    # Where the product runs (the governance account, or its OU): the mlgov-product-guard SCP and the
    # mlgov-protected-roles SCP attach here.
    governance_target_ids: list[str] = Field(default_factory=list)
    product_function_arns: list[str] = Field(default_factory=lambda: ["arn:*:lambda:*:*:function:MlGovEndpointAudit-*"])
    # CloudFormation names state machines after their logical id, not the stack: every state machine of the
    # governance account, unless narrowed.
    product_state_machine_arns: list[str] = Field(default_factory=lambda: ["arn:*:states:*:*:stateMachine:*"])
    # ECR repositories that hold serving images: only the pipeline may change their tag mutability.
    serving_repository_names: list[str] = Field(default_factory=list)

    @field_validator("target_ou_ids", "governance_target_ids")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        return _all_match(
            value, r"(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32}|\d{12})", "an OU, root or account id"
        )

    @field_validator(
        "pipeline_role_arns",
        "approver_role_arns",
        "role_admin_arns",
        "break_glass_role_arns",
        "product_role_arns",
        "deployer_role_arns",
        "operator_role_arns",
        "metric_writer_role_arns",
    )
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        return _all_match(value, ROLE_ARN_PATTERN, "an IAM role ARN (wildcards allowed)")

    @field_validator("product_function_arns")
    @classmethod
    def _functions(cls, value: list[str]) -> list[str]:
        return _all_match(
            value, r"arn:(aws[a-z-]*|\*):lambda:[a-z0-9*-]+:(\d{12}|\*):function:[\w*:-]{1,140}", "a Lambda ARN"
        )

    @field_validator("product_state_machine_arns")
    @classmethod
    def _machines(cls, value: list[str]) -> list[str]:
        return _all_match(
            value,
            r"arn:(aws[a-z-]*|\*):states:[a-z0-9*-]+:(\d{12}|\*):stateMachine:[\w*-]{1,80}",
            "a state machine ARN",
        )

    @field_validator("serving_repository_names")
    @classmethod
    def _repositories(cls, value: list[str]) -> list[str]:
        return _all_match(
            value, r"(?:[a-z0-9*]+(?:[._-][a-z0-9*]+)*/)*[a-z0-9*]+(?:[._-][a-z0-9*]+)*", "an ECR repository name"
        )

    @field_validator("governance_tag_keys")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return _all_match(value, r"[\w.:/=+@-]{1,128}", "a tag key")

    @model_validator(mode="after")
    def _exempt_roles_on_the_protected_path(self) -> Guardrails:
        # product_role_arns and deployer_role_arns may sit elsewhere: that SCP protects them by name.
        for key in (
            "pipeline_role_arns",
            "approver_role_arns",
            "role_admin_arns",
            "break_glass_role_arns",
            "operator_role_arns",
            "metric_writer_role_arns",
        ):
            for arn in getattr(self, key):
                if f":role{self.protected_role_path}" not in arn:
                    raise ValueError(
                        f"{key}: {arn!r} is not on the protected path {self.protected_role_path} "
                        "(a role name alone can be copied by anyone who may create roles)"
                    )
        return self


WEEKDAY = Literal["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
ENDPOINT_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
APPCONFIG_ID = r"^[a-z0-9]{4,7}$"


class CapacityWindow(_Strict):
    """Days of the week, start to end in capacity.time_zone ('24:00' is midnight; split windows across it)."""

    days: list[WEEKDAY] = Field(min_length=1)
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")

    @model_validator(mode="after")
    def _ordered(self) -> CapacityWindow:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")
        return self


class Campaign(CapacityWindow):
    name: str = Field(pattern=r"^[a-zA-Z0-9-]{1,40}$")
    min_capacity: int = Field(ge=1)


def _manga_monday() -> list[Campaign]:
    return [Campaign(name="manga-monday", days=["MON"], start="08:00", end="22:00", min_capacity=5)]


class FallbackRoute(_Strict):
    """The AppConfig route `mlgov capacity restore` switches to the fallback while a cold endpoint warms up."""

    application_id: str = Field(pattern=APPCONFIG_ID)
    environment_id: str = Field(pattern=APPCONFIG_ID)
    configuration_profile_id: str = Field(pattern=APPCONFIG_ID)
    deployment_strategy_id: str = Field(default="AppConfig.AllAtOnce", pattern=r"^([a-z0-9]{4,7}|AppConfig\.\w+)$")
    route_key: str = Field(default="recommendation_backend", min_length=1, max_length=128)
    fallback_value: str = Field(default="bedrock-fallback", min_length=1, max_length=256)
    # The key holding the share (0-100 %) of recommendations the recommender sends to the fallback:
    # `mlgov rollback --fallback-percent` steps it up when there is no previous version.
    share_key: str = Field(default="fallback_percent", min_length=1, max_length=128)
    endpoints: list[str] = Field(min_length=1)  # the endpoints this route steers traffic to
    smoke_test_body: str | None = Field(default=None, max_length=6_000_000)
    smoke_test_content_type: str = "application/json"

    @field_validator("endpoints")
    @classmethod
    def _endpoints(cls, value: list[str]) -> list[str]:
        return _all_match(value, ENDPOINT_NAME, "an endpoint name")


class ScaledEndpoint(_Strict):
    endpoint_name: str = Field(pattern=ENDPOINT_NAME)
    variant_name: str = Field(default="AllTraffic", pattern=ENDPOINT_NAME)


class Capacity(_Strict):
    """Spec scenario 4: minimums in and out of business hours, campaigns, the incident fallback."""

    time_zone: str = "UTC"
    business_hours: CapacityWindow = Field(
        default_factory=lambda: CapacityWindow(
            days=["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"], start="06:00", end="24:00"
        )
    )
    business_hours_min_capacity: int = Field(default=2, ge=1)
    overnight_min_capacity: int = Field(default=1, ge=1)
    max_capacity: int = Field(default=10, ge=1, le=1000)
    target_invocations_per_instance: float = Field(default=70.0, gt=0)
    scale_out_cooldown_seconds: int = Field(default=60, ge=0, le=3600)
    scale_in_cooldown_seconds: int = Field(default=300, ge=0, le=3600)
    campaigns: list[Campaign] = Field(default_factory=_manga_monday)
    scaled_endpoints: list[ScaledEndpoint] = Field(default_factory=list)
    environment_tag_key: str = Field(default="environment", pattern=r"^[\w.:/=+@-]{1,128}$")
    non_production_environments: list[str] = Field(
        default_factory=lambda: ["dev", "development", "test", "staging", "sandbox"]
    )
    serverless_cold_start_is_violation: bool = False
    fallback_route: FallbackRoute | None = None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from mlgov_runtime.capacity.schedule import zone

        zone(value)
        return value

    @model_validator(mode="after")
    def _levels(self) -> Capacity:
        if self.overnight_min_capacity > self.business_hours_min_capacity:
            raise ValueError("overnight_min_capacity is above business_hours_min_capacity")
        for level, what in [(self.business_hours_min_capacity, "business_hours_min_capacity")] + [
            (c.min_capacity, f"campaign {c.name} min_capacity") for c in self.campaigns
        ]:
            if level > self.max_capacity:
                raise ValueError(f"{what} {level} is above max_capacity {self.max_capacity}")
        return self


ACCOUNT_ID = r"\d{12}"
REGION_NAME = r"[a-z]{2}(-[a-z]+)+-\d"
DEFAULT_MEMBER_ROLE_NAME = "MlGovMemberAudit"


class OrgScan(_Strict):
    """The weekly org-wide scan (weekly_scan_schedule): every registered per-endpoint check in every ACTIVE
    account of the organization x these regions, on a Step Functions Distributed Map. Filters combine (AND)."""

    regions: list[str] = Field(default_factory=list)  # empty: the region the stack is deployed to
    account_ids: list[str] = Field(default_factory=list)  # only these accounts (empty: all)
    organizational_unit_ids: list[str] = Field(default_factory=list)  # only accounts under these OUs
    account_tags: dict[str, str] = Field(default_factory=dict)  # only accounts carrying all these tags
    exclude_account_ids: list[str] = Field(default_factory=list)
    max_concurrency: int = Field(default=20, ge=1, le=1000)  # Map batches in flight
    tolerated_failure_percentage: float = Field(default=10, ge=0, le=100)  # failed workers before the Map fails
    targets_per_batch: int = Field(default=5, ge=1, le=100)  # account/regions per worker invocation
    endpoint_concurrency: int = Field(default=16, ge=1, le=64)  # endpoints checked at once per account/region
    report_retention_days: int = Field(default=400, ge=1, le=3650)
    # The member role stack: which account's scan/audit roles it trusts, and where the StackSet deploys it.
    governance_account_id: str | None = Field(default=None, pattern=r"^\d{12}$")
    member_role_target_ou_ids: list[str] = Field(default_factory=list)
    # The region the governance stack runs in: its scan and audit roles are named for it, and member
    # accounts forward SageMaker events to its bus (null: the region the StackSet stack is deployed to).
    governance_region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")

    @field_validator("account_ids", "exclude_account_ids")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        return _all_match(value, ACCOUNT_ID, "a 12-digit AWS account id")

    @field_validator("organizational_unit_ids")
    @classmethod
    def _ous(cls, value: list[str]) -> list[str]:
        return _all_match(value, r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}", "an OU id (ou-xxxx-xxxxxxxx)")

    @field_validator("member_role_target_ou_ids")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        return _all_match(value, r"(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})", "an OU or root id")

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        return _all_match(value, REGION_NAME, "an AWS region name (e.g. eu-west-1)")

    @field_validator("account_tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        _all_match(list(value), r"[\w.:/=+@ -]{1,128}", "a tag key")
        return value

    def scope(self, default_region: str) -> dict[str, object]:
        """What the planner reads (mlgov_runtime.org_scan.logic.Scope)."""
        return {
            "regions": self.regions or [default_region],
            "account_ids": self.account_ids,
            "organizational_unit_ids": self.organizational_unit_ids,
            "account_tags": self.account_tags,
            "exclude_account_ids": self.exclude_account_ids,
        }


def decision_tag_keys(settings: Settings) -> dict[str, str]:
    """Endpoint tags a decision rests on, and which: each is a governance tag (README "Trust model")."""
    return {
        "ModelPackageName": "the audit compares it with the real lineage",
        settings.capacity.environment_tag_key: "capacity: a non-production value makes a scale-to-zero page a ticket",
        settings.retirement.purpose_tag_key: "retirement: only a retiring endpoint may be deleted",
        settings.retirement.managed_by_tag_key: "retirement: which endpoints the stale-endpoint audit watches",
    }


def member_role_name(settings: Settings) -> str:
    """The read-only role in every member account, assumed by the org scan and the audit."""
    return settings.member_audit_role_name or DEFAULT_MEMBER_ROLE_NAME


def check_options(settings: Settings) -> dict[str, object]:
    """What the per-endpoint checks read (mlgov_runtime.core.checks.CheckContext.options): the sections
    they judge by. It travels in the scan worker's environment (4 KB in all), so only these."""
    options: dict[str, object] = {
        "thresholds": settings.thresholds.model_dump(mode="json"),
        "experiment_exemptions": settings.experiment_exemptions.model_dump(mode="json"),
        "watched_model_package_groups": list(settings.watched_model_package_groups),
        "package_account_ids": list(getattr(settings, "package_account_ids", [])),
        "catalog_table_name": settings.retraining.catalog_table_name,
    }
    for section in ("capacity", "retirement"):
        value = getattr(settings, section, None)
        if isinstance(value, BaseModel):
            options[section] = value.model_dump(mode="json", exclude_none=True)
    return options


class Approvals(_Strict):
    """Human decisions (retirement deletion; challenger promotion when challenger.human_approval): who may
    decide, and the Slack buttons. An approver is an IAM principal ARN, or a role's sessions written
    arn:aws:sts::ACCOUNT:assumed-role/ROLE/*; the requester never approves their own request."""

    approvers: dict[Literal["retirement", "challenger"], list[str]] = Field(default_factory=dict)
    # Slack user id (U...) -> that person's IAM principal ARN (or the list of every role/user they use; the
    # first is recorded), so the requester check sees the same person whichever role they requested with.
    slack_approvers: dict[str, str | list[str]] = Field(default_factory=dict)
    # The Slack interactivity endpoint (function URL) and its signing secret in Secrets Manager.
    slack_buttons: bool = False
    # Reserved concurrency of the unauthenticated Slack function (needs the account's Lambda concurrency
    # quota above 10 + this: new accounts start at 10).
    slack_reserved_concurrency: int = Field(default=5, ge=1, le=100)

    @field_validator("approvers")
    @classmethod
    def _approvers(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from mlgov_runtime.approvals.settings import PRINCIPAL

        for principals in value.values():
            _all_match(principals, PRINCIPAL, "an IAM principal ARN (arn:aws:iam::ACCOUNT:... or assumed-role/ROLE/*)")
        return value

    @field_validator("slack_approvers")
    @classmethod
    def _slack(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        from mlgov_runtime.approvals.settings import PRINCIPAL, SLACK_USER

        _all_match(list(value), SLACK_USER, "a Slack user id (U...)")
        ids = [p for v in value.values() for p in ([v] if isinstance(v, str) else v)]
        if any(not isinstance(v, str) and not v for v in value.values()):
            raise ValueError("a Slack user maps to at least one IAM principal ARN")
        _all_match(ids, PRINCIPAL, "an IAM principal ARN")
        if any("*" in p for p in ids):
            raise ValueError("a Slack user maps to that person's own IAM principal ARNs, not a pattern with *")
        return value

    def environment(self) -> dict[str, str]:
        """The approval service's environment (mlgov_runtime.approvals.settings reads it back)."""
        from mlgov_runtime.approvals import settings as e

        return {
            e.APPROVERS_JSON: json.dumps(self.approvers, sort_keys=True),
            e.SLACK_APPROVERS_JSON: json.dumps(self.slack_approvers, sort_keys=True),
        }


CW_NAME = r"^[A-Za-z0-9_./#:-][A-Za-z0-9_./#: -]{0,254}$"
CHALLENGER_ENDPOINT = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"


class RecommendationMetricNames(_Strict):
    """What the recommender emits (CONTRACTS.md, "Recommendation metrics"): Count metrics per minute
    with exactly the two dimensions below. `cart_adds` null: not emitted (the guardrail is skipped)."""

    namespace: str = Field(default="MangaAssist/Recommendations", pattern=CW_NAME)
    impressions: str = Field(default="RecommendationImpressions", pattern=CW_NAME)
    clicks: str = Field(default="RecommendationClicks", pattern=CW_NAME)
    cart_adds: str | None = Field(default="RecommendationCartAdds", pattern=CW_NAME)
    json_failures: str = Field(default="RecommendationJsonFailures", pattern=CW_NAME)
    language_mismatches: str = Field(default="RecommendationLanguageMismatches", pattern=CW_NAME)
    distinct_titles: str | None = Field(default="RecommendationDistinctTitles", pattern=CW_NAME)
    endpoint_dimension: str = Field(default="EndpointName", pattern=CW_NAME)
    variant_dimension: str = Field(default="VariantName", pattern=CW_NAME)


class RetentionMetric(_Strict):
    """The 7-day review's metric, per endpoint: e.g. the share of recommended users still active 7 days on."""

    namespace: str = Field(default="MangaAssist/Recommendations", pattern=CW_NAME)
    metric_name: str = Field(default="UserRetention7d", pattern=CW_NAME)
    statistic: Literal["Average", "Sum", "Minimum", "Maximum"] = "Average"
    endpoint_dimension: str = Field(default="EndpointName", pattern=CW_NAME)


class Challenger(_Strict):
    """Spec scenario 3, stage 2: the challenger CTR gate (thresholds.ctr_* and challenger_traffic_fraction
    are in `thresholds`), the 7-day review after a promotion, and `mlgov rollback`."""

    # Which endpoint a group's new package is tried on.
    endpoints: dict[str, str] = Field(default_factory=lambda: {"manga-recommender": "manga-recommender-prod"})
    watch_interval_minutes: int = Field(default=5, ge=1, le=60)
    # PROMOTE waits this long so a novelty effect can fade; the effect must also hold over the last recent_minutes.
    min_minutes: int = Field(default=120, ge=0, le=10_080)
    max_minutes: int = Field(default=360, ge=5, le=10_080)
    min_impressions_per_variant: int = Field(default=1000, ge=0)
    min_clicks_total: int = Field(default=100, ge=0)
    srm_alpha: float = Field(default=0.001, gt=0, lt=0.5)
    guardrail_alpha: float = Field(default=0.001, gt=0, lt=0.5)
    latency_ratio_max: float = Field(default=1.5, gt=1, le=100)
    # Every way to REJECT shares this budget under A/A (the CTR test ctr_reject_share of it, six guardrails the rest).
    reject_budget: float = Field(default=0.01, gt=0, lt=0.5)
    ctr_reject_share: float = Field(default=0.7, gt=0, lt=1)
    recent_minutes: int = Field(default=60, ge=0, le=10_080)
    # The recent window must clear the margin by this many standard errors (recent_minutes 0: no check).
    recent_z: float = Field(default=1.0, ge=0, le=10)
    # Looks read minutes at least this old (CloudWatch may still fill newer ones).
    settle_minutes: int = Field(default=2, ge=0, le=60)
    missing_metric_minutes: int = Field(default=10, ge=1, le=10_080)
    # RecommendationImpressions per AWS/SageMaker Invocation each variant must stay within (forged metrics: INVALID).
    impressions_per_invocation_min: float = Field(default=0.5, ge=0)
    impressions_per_invocation_max: float = Field(default=20.0, gt=0)
    diversity_ratio_min: float = Field(default=0.9, gt=0, le=1)
    # Impressions per invocation must agree between the variants (one recommender renders both): a relative gap
    # beyond the tolerance plus z standard errors is INVALID.
    impressions_ratio_tolerance: float = Field(default=0.02, ge=0, le=1)
    impressions_ratio_z: float = Field(default=5.0, gt=0, le=20)
    # A challenger CTR ratio proven above this is forged clicks: INVALID, never PROMOTE.
    ctr_ratio_plausible_max: float = Field(default=2.0, gt=1, le=100)
    # PROMOTE needs every configured guardrail evaluated on at least this share of the aligned minutes.
    guardrail_min_coverage: float = Field(default=0.5, gt=0, le=1)
    # Optional traffic ramp: [[minutes since live, challenger weight], ...], e.g. [[10, 0.25], [20, 0.5]]; a look
    # with no verdict and no guardrail breached takes the next step. Empty: the split stays at the fraction.
    ramp: list[tuple[int, float]] = Field(default_factory=list, max_length=10)
    challenger_instance_count: int = Field(default=1, ge=1, le=100)
    # Roles the challenger's model may run as (it reuses the production model's role); PassRole is granted on these.
    model_execution_role_arns: list[str] = Field(
        default_factory=lambda: ["arn:*:iam::*:role/SageMakerExecution*"], min_length=1
    )
    metrics: RecommendationMetricNames = Field(default_factory=RecommendationMetricNames)
    review_after_days: int = Field(default=7, ge=1, le=90)
    retention_metric: RetentionMetric = Field(default_factory=RetentionMetric)
    # Relative: a review finding when retention after promotion is lower than before by more than this.
    max_retention_drop: float = Field(default=0.02, gt=0, lt=1)
    rollback_snapshot_warning_days: int = Field(default=30, ge=1, le=3650)
    # A candidate trained on an older catalog snapshot than production is refused unless this is true.
    allow_older_catalog_snapshot: bool = False

    @field_validator("endpoints")
    @classmethod
    def _endpoints(cls, value: dict[str, str]) -> dict[str, str]:
        _all_match(list(value), r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", "a model package group name")
        return dict(zip(value, _all_match(list(value.values()), CHALLENGER_ENDPOINT, "an endpoint name"), strict=True))

    @field_validator("model_execution_role_arns")
    @classmethod
    def _model_roles(cls, value: list[str]) -> list[str]:
        return _all_match(value, ROLE_ARN_PATTERN, "an IAM role ARN (wildcards allowed)")

    @model_validator(mode="after")
    def _window(self) -> Challenger:
        if self.min_minutes > self.max_minutes:
            raise ValueError(f"min_minutes {self.min_minutes} is above max_minutes {self.max_minutes}")
        minutes = [m for m, _ in self.ramp]
        weights = [w for _, w in self.ramp]
        if minutes != sorted(set(minutes)) or weights != sorted(set(weights)) or any(not 0 < w < 1 for w in weights):
            raise ValueError(f"ramp {self.ramp}: minutes and weights must both rise, weights between 0 and 1")
        return self

    def runtime_config(self, thresholds: Thresholds) -> dict[str, Any]:
        """What the challenger Lambda reads (CHALLENGER_CONFIG_JSON) and the CLI decides with."""
        return {
            "decision": {
                "alpha": thresholds.ctr_test_alpha,
                "traffic_fraction": thresholds.challenger_traffic_fraction,
                "non_inferiority_margin": thresholds.ctr_noninferiority_margin,
                "ctr_floor": thresholds.ctr_promotion_floor,
                "json_failure_rate_max": thresholds.max_json_failure_rate,
                "srm_alpha": self.srm_alpha,
                "guardrail_alpha": self.guardrail_alpha,
                "latency_ratio_max": self.latency_ratio_max,
                "min_minutes": self.min_minutes,
                "max_minutes": self.max_minutes,
                "min_impressions_per_variant": self.min_impressions_per_variant,
                "min_clicks_total": self.min_clicks_total,
                "reject_budget": self.reject_budget,
                "ctr_reject_share": self.ctr_reject_share,
                "recent_minutes": self.recent_minutes,
                "recent_z": self.recent_z,
                "settle_minutes": self.settle_minutes,
                "missing_metric_minutes": self.missing_metric_minutes,
                "impressions_per_invocation_min": self.impressions_per_invocation_min,
                "impressions_per_invocation_max": self.impressions_per_invocation_max,
                "diversity_ratio_min": self.diversity_ratio_min,
                "impressions_ratio_tolerance": self.impressions_ratio_tolerance,
                "impressions_ratio_z": self.impressions_ratio_z,
                "ctr_ratio_plausible_max": self.ctr_ratio_plausible_max,
                "guardrail_min_coverage": self.guardrail_min_coverage,
                "ramp": [list(step) for step in self.ramp],
            },
            "endpoints": dict(self.endpoints),
            "metrics": self.metrics.model_dump(),
            "retention_metric": self.retention_metric.model_dump(),
            "challenger_instance_count": self.challenger_instance_count,
            "review_after_days": self.review_after_days,
            "max_retention_drop": self.max_retention_drop,
            "rollback_snapshot_warning_days": self.rollback_snapshot_warning_days,
            "allow_older_catalog_snapshot": self.allow_older_catalog_snapshot,
        }


class _Settings(_Strict):
    """The shared top-level settings; each registered capability's section joins them (`_compose`)."""

    watched_model_package_groups: list[str] = Field(default_factory=lambda: ["manga-recommender"])
    experiment_exemptions: ExperimentExemptions = Field(default_factory=ExperimentExemptions)
    guardrails: Guardrails = Field(default_factory=Guardrails)
    alert_routing: AlertRouting = Field(default_factory=lambda: AlertRouting.model_validate({}))
    challenger: Challenger = Field(default_factory=Challenger)
    org_scan: OrgScan = Field(default_factory=OrgScan)
    capacity: Capacity = Field(default_factory=Capacity)
    approvals: Approvals = Field(default_factory=Approvals)
    # Central account: events forwarded from member accounts are audited through this role.
    # The central registry account(s): when set, only packages registered there count, in every account
    # (an endpoint's own account only if listed); unset, only the endpoint's own account.
    package_account_ids: list[str] = Field(default_factory=list)
    member_audit_role_name: str | None = Field(default=None, pattern=r"^[\w+=,.@-]{1,64}$")
    # When set, accounts of this organization may put events on this account's default bus.
    organization_id: str | None = Field(default=None, pattern=r"^o-[a-z0-9]{10,32}$")
    log_retention_days: Literal[7, 14, 30, 60, 90, 180, 365, 731, 1827, 3653] = 90
    idempotency_ttl_seconds: int = Field(default=3600, ge=60, le=604_800)
    weekly_scan_schedule: Schedule = "cron(0 6 ? * MON *)"

    if TYPE_CHECKING:  # the sections `_compose` adds, for the type checker
        thresholds: _Thresholds
        retirement: Retirement
        retraining: Retraining

    @field_validator("package_account_ids")
    @classmethod
    def _package_accounts(cls, value: list[str]) -> list[str]:
        return _all_match(value, r"\d{12}", "a 12-digit AWS account id")

    @model_validator(mode="after")
    def _decision_tags_are_governed(self) -> Settings:
        """Tags that change a verdict or a severity join guardrails.governance_tag_keys, so the SCP keeps
        their changes to the pipeline whatever they are renamed to."""
        keys = list(self.guardrails.governance_tag_keys)
        known = {k.lower() for k in keys}  # the SCP compares keys case-insensitively
        for key in decision_tag_keys(self):
            if key.lower() not in known:
                keys.append(key)
                known.add(key.lower())
        if keys != self.guardrails.governance_tag_keys:
            # Frozen models: set once, here, while the settings are being validated.
            object.__setattr__(self, "guardrails", self.guardrails.model_copy(update={"governance_tag_keys": keys}))
        return self

    @property
    def retraining_group(self) -> str:
        """The group the coverage check and the retraining pipeline serve (parse_settings made it unambiguous)."""
        return self.retraining.model_package_group or self.watched_model_package_groups[0]

    @field_validator("watched_model_package_groups")
    @classmethod
    def _groups(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError('lists no group: name the model package groups to govern, e.g. ["manga-recommender"]')
        return _all_match(value, r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", "a model package group name")


def _compose(capabilities: tuple[Capability, ...]) -> type[_Settings]:
    """The product's settings: the shared keys, `thresholds`, and each registered capability's section."""
    sections: dict[str, Any] = {}
    for capability in capabilities:
        model = section_model(capability)
        if model is not None and capability.section:
            derived = pydantic_model(model)
            sections[capability.section] = (derived, Field(default_factory=_validated(derived)))
    thresholds = _thresholds_model(capabilities)
    sections["thresholds"] = (thresholds, Field(default_factory=_validated(thresholds)))
    composed = create_model(  # type: ignore[call-overload]
        "Settings", __base__=_Settings, __doc__=_Settings.__doc__, **sections
    )
    composed.__module__ = __name__
    return typing.cast(type[_Settings], composed)


def _validated(model: Any) -> Callable[[], Any]:
    return lambda: model.model_validate({})


def settings_model(capabilities: tuple[Capability, ...]) -> type[_Settings]:
    """The settings of these capabilities (the product's are `Settings`, of the registered ones)."""
    return _compose(capabilities)


if TYPE_CHECKING:
    Settings = _Settings
else:
    Settings = _compose(CAPABILITIES)
    Thresholds = Settings.model_fields["thresholds"].annotation


def _describe(exc: ValidationError) -> str:
    err = exc.errors()[0]
    problem = err.get("ctx", {}).get("error")
    loc = (*err["loc"], problem.key) if isinstance(problem, KeyProblem) else err["loc"]
    key = ".".join(str(p) for p in (CONTEXT_KEY, *loc))
    key = re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], key)  # one line, whatever the key
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"cdk.json context '{key}': unknown setting (check the spelling; see README 'Settings')"
    got = err.get("input")
    text = repr(got)
    shown = "" if isinstance(got, (dict, list)) else f" (got {text if len(text) <= 80 else text[:77] + '...'})"
    return f"cdk.json context '{key}': {msg}{shown}"


def parse_settings(raw: Any) -> Settings:
    if raw is None:
        raw = {}
    if isinstance(raw, str):  # `cdk synth -c mlgov='{...}'` passes a string
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"cdk.json context '{CONTEXT_KEY}': not valid JSON ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise SettingsError(f"cdk.json context '{CONTEXT_KEY}': must be an object (got {type(raw).__name__})")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    r = settings.retraining
    groups = settings.watched_model_package_groups
    if r.model_package_group is None and len(groups) > 1:
        raise SettingsError(
            f"cdk.json context '{CONTEXT_KEY}.retraining.model_package_group': watched_model_package_groups lists "
            f"{len(groups)} groups ({', '.join(groups)}); name the one the coverage check and the retraining "
            "pipeline serve"
        )
    if r.model_package_group is not None and r.model_package_group not in groups:
        raise SettingsError(
            f"cdk.json context '{CONTEXT_KEY}.retraining.model_package_group': {r.model_package_group!r} is not "
            f"one of watched_model_package_groups ({', '.join(groups)})"
        )
    check_challenger(settings)
    return settings


def check_challenger(settings: Settings) -> None:
    """Cross-section rules of `challenger`, here so `cdk synth` and the CLI refuse the same settings."""
    from mlgov_runtime.challenger.config import config_from_dict

    c = settings.challenger
    try:
        config_from_dict(c.runtime_config(settings.thresholds))
    except ValueError as exc:
        where = f"'{CONTEXT_KEY}.challenger' / '{CONTEXT_KEY}.thresholds'"
        raise SettingsError(f"cdk.json context {where}: {exc}") from None
    unknown = sorted(set(c.endpoints) - set(settings.watched_model_package_groups))
    if unknown:
        default = "" if "endpoints" in c.model_fields_set else " (the default; set challenger.endpoints)"
        raise SettingsError(
            f"cdk.json context '{CONTEXT_KEY}.challenger.endpoints': group {unknown[0]}{default} is not in "
            f"watched_model_package_groups ({', '.join(settings.watched_model_package_groups)})"
        )


def _edits(a: str, b: str) -> int:
    """Optimal-string-alignment distance: a swap of two neighbours ("mlgvo") counts as one edit."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def check_context_keys(context: dict[str, Any]) -> None:
    """A top-level context key that looks like a misspelt `mlgov` would leave every setting on its default
    without a word: refuse it (synth and CLI alike)."""
    for key in context:
        if not isinstance(key, str) or key == CONTEXT_KEY:
            continue
        folded = re.sub(r"[\s_.:-]", "", key.lower())
        if folded == CONTEXT_KEY or (4 <= len(folded) <= 7 and _edits(folded, CONTEXT_KEY) <= 2):
            shown = re.sub(r"[\x00-\x1f\x7f]", "?", key)[:40]
            raise SettingsError(
                f"cdk.json context {shown!r}: looks like a misspelt '{CONTEXT_KEY}'; its settings would be ignored "
                f"(rename it '{CONTEXT_KEY}')"
            )


def read_cdk_context(path: Path, whole: bool = False) -> dict[str, Any]:
    """The `context` object of a cdk.json (`whole`: the file is itself a context, as cdk.context.json
    is); a missing file has none."""
    if not path.exists():
        return {}
    if path.is_dir():
        raise SettingsError(f"{path}: is a directory, not a cdk.json file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise SettingsError(f"{path}: JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: a cdk.json is a JSON object with a 'context' key, not a JSON {_json_type(data)}")
    context = data if whole else data.get("context", {})
    if not isinstance(context, dict):
        raise SettingsError(f"{path}: 'context' must be a JSON object, not a JSON {_json_type(context)}")
    return context


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def load_settings_file(path: Path, explicit: bool = False) -> Settings:
    """Read settings from a cdk.json (CLI); a missing file means defaults, unless the caller named it."""
    if explicit and not path.exists():
        raise SettingsError(f"{path}: no such file (--config names a cdk.json with the 'mlgov' settings)")
    context = read_cdk_context(path)
    check_context_keys(context)
    return parse_settings(context.get(CONTEXT_KEY))


def routing_policy(settings: Settings) -> RoutingPolicy:
    """The notifier's routing, from the settings (the CLI; the Lambda gets the same as JSON)."""
    return routing_from_json(routing_json(settings))


def routing_json(settings: Settings) -> str:
    r = settings.alert_routing
    return json.dumps(
        {
            "routes": [route.model_dump() for route in r.routes],
            "jira_project_key": r.jira_project_key,
            "page_severities": list(r.page_severities),
            "dedupe_window_minutes": r.dedupe_window_minutes,
            "security_hub": r.security_hub,
        },
        sort_keys=True,
    )


def gate_thresholds_json(settings: Settings) -> str:
    """The offline gate's thresholds as the pipeline step reads them (the CLI's gate)."""
    from mlgov_runtime.retraining.settings import gate_thresholds

    return json.dumps(gate_thresholds(settings.thresholds), sort_keys=True)
