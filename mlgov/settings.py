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
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from mlgov_runtime.approvals.settings import Approvals as _Approvals
from mlgov_runtime.capacity.settings import Capacity as _Capacity
from mlgov_runtime.challenger.settings import Challenger as _Challenger
from mlgov_runtime.core.cron import schedule, schedule_problem
from mlgov_runtime.core.model import (
    PROTECTED_ROLE_PATH,
    ROLE_PATH,
    RULES,
    KeyProblem,
    all_match,
    hints,
    protected_path_problem,
)
from mlgov_runtime.core.routing import RoutingPolicy
from mlgov_runtime.core.shared_settings import Shared
from mlgov_runtime.lineage_audit.settings import ExperimentExemptions as _ExperimentExemptions
from mlgov_runtime.notifier.settings import (  # noqa: F401 (re-exported)
    DEFAULT_SECURITY_CHANNEL,
    SEVERITY,
    SLACK_CHANNEL,
    finding_kinds,
)
from mlgov_runtime.notifier.settings import AlertRouting as _AlertRouting
from mlgov_runtime.org_scan.settings import OrgScan as _OrgScan
from mlgov_runtime.registry import CAPABILITIES, Capability
from mlgov_runtime.retirement.settings import Retirement as _Retirement
from mlgov_runtime.retraining.settings import Retraining as _Retraining

CONTEXT_KEY = "mlgov"


class SettingsError(ValueError):
    """A bad setting: the message names the key and what is allowed."""


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
    if origin is tuple and args:
        # JSON has no tuples: a list of the right items is the tuple (its items stay strictly typed).
        return typing.Annotated[
            tuple[tuple(_derived_type(a) for a in args)],  # type: ignore[misc]
            BeforeValidator(lambda v: tuple(v) if isinstance(v, list) else v),
        ]
    if origin in (list, dict, frozenset) and args:
        return origin[tuple(_derived_type(a) for a in args)]
    return kind


def _as_model(value: Any) -> Any:
    """A dataclass default as the derived model's instance (lists and maps of them too)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: _as_model(getattr(value, f.name)) for f in dataclasses.fields(value)}
        model: Any = pydantic_model(type(value))
        return model.model_validate(data)
    if isinstance(value, list):
        return [_as_model(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_model(v) for k, v in value.items()}
    return value


def _factory(make: Callable[[], Any]) -> Callable[[], Any]:
    return lambda: _as_model(make())


def _definitions(cls: type) -> dict[str, Any]:
    """The pydantic field definitions of a settings dataclass's fields: same types, defaults and rules."""
    kinds = hints(cls)
    definitions: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):
        extras: list[Any] = []
        rules = {k: spec.metadata[k] for k in RULES if k in spec.metadata}
        if rules:
            extras.append(Field(**rules))
        if "check" in spec.metadata:
            extras.append(AfterValidator(spec.metadata["check"]))
        kind = _derived_type(kinds[spec.name])
        annotated = Annotated[(kind, *extras)] if extras else kind
        if spec.default_factory is not dataclasses.MISSING:
            default = Field(default_factory=_factory(spec.default_factory))
        elif spec.default is not dataclasses.MISSING:
            default = Field(default=_as_model(spec.default))
        else:
            default = Field()
        definitions[spec.name] = (annotated, default)
    return definitions


def pydantic_model(cls: type[M]) -> type[M]:
    """The strict pydantic model that validates the settings dataclass `cls` in cdk.json: same fields,
    defaults and rules; the dataclass's methods and properties come along (typed as the dataclass)."""
    if cls in _MODELS:
        return typing.cast(type[M], _MODELS[cls])
    definitions = _definitions(cls)
    validators: dict[str, Any] = {}
    if getattr(cls, "check", None) is not None:
        check = cls.check  # type: ignore[attr-defined]

        def _after(self: Any) -> Any:
            check(self)
            return self

        validators["_check"] = model_validator(mode="after")(_after)
    if getattr(cls, "prepare", None) is not None:
        prepare = cls.prepare  # type: ignore[attr-defined]

        def _before(model: Any, data: Any) -> Any:
            return prepare(data) if isinstance(data, dict) else data

        validators["_prepare"] = model_validator(mode="before")(classmethod(_before))  # type: ignore[arg-type]
    model = create_model(cls.__name__, __base__=_Strict, __doc__=cls.__doc__, __validators__=validators, **definitions)
    model.__module__ = cls.__module__
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for klass in reversed(cls.__mro__[:-1]):
        for name, attribute in vars(klass).items():
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
    return pydantic_model(merged)


# The sections as cdk.json validates them (pydantic models derived from the capabilities' dataclasses).
ExperimentExemptions = pydantic_model(_ExperimentExemptions)
AlertRouting = pydantic_model(_AlertRouting)
Retraining = pydantic_model(_Retraining)
Challenger = pydantic_model(_Challenger)
Capacity = pydantic_model(_Capacity)
Approvals = pydantic_model(_Approvals)
Retirement = pydantic_model(_Retirement)
OrgScan = pydantic_model(_OrgScan)

if TYPE_CHECKING:
    from mlgov_runtime.capacity.settings import Thresholds as _CapacityKnobs
    from mlgov_runtime.challenger.settings import Thresholds as _ChallengerKnobs
    from mlgov_runtime.coverage.settings import Thresholds as _CoverageKnobs
    from mlgov_runtime.org_scan.settings import Thresholds as _OrgScanKnobs
    from mlgov_runtime.retirement.settings import Thresholds as _RetirementKnobs
    from mlgov_runtime.retraining.settings import Thresholds as _RetrainingKnobs

    class _Thresholds(
        _RetrainingKnobs, _CoverageKnobs, _ChallengerKnobs, _CapacityKnobs, _RetirementKnobs, _OrgScanKnobs
    ):
        """Every knob of `thresholds`, for the type checker (each declared by its capability)."""

    Thresholds = _Thresholds


ROLE_ARN_PATTERN = r"arn:(aws[a-z-]*|\*):iam::(\d{12}|\*):role/[\w+=,.@/*-]{1,512}"

_ROLE_ARN = (ROLE_ARN_PATTERN, "an IAM role ARN (wildcards allowed)")
# Each list setting of mlgov.guardrails -> (the pattern every item must match, what an item is).
GUARDRAIL_LIST_FORMATS = {
    "pipeline_role_arns": _ROLE_ARN,
    "approver_role_arns": _ROLE_ARN,
    "role_admin_arns": _ROLE_ARN,
    "break_glass_role_arns": _ROLE_ARN,
    "product_role_arns": _ROLE_ARN,
    "deployer_role_arns": _ROLE_ARN,
    "operator_role_arns": _ROLE_ARN,
    "metric_writer_role_arns": _ROLE_ARN,
    "catalog_writer_role_arns": _ROLE_ARN,
    "product_function_arns": (
        r"arn:(aws[a-z-]*|\*):lambda:[a-z0-9*-]+:(\d{12}|\*):function:[\w*:-]{1,140}",
        "a Lambda ARN",
    ),
    "metric_writer_function_arns": (
        r"arn:(aws[a-z-]*|\*):lambda:[a-z0-9*-]+:(\d{12}|\*):function:[\w*:-]{1,140}",
        "a Lambda ARN",
    ),
    "product_state_machine_arns": (
        r"arn:(aws[a-z-]*|\*):states:[a-z0-9*-]+:(\d{12}|\*):stateMachine:[\w*-]{1,80}",
        "a state machine ARN",
    ),
    "serving_repository_names": (
        r"(?:[a-z0-9*]+(?:[._-][a-z0-9*]+)*/)*[a-z0-9*]+(?:[._-][a-z0-9*]+)*",
        "an ECR repository name",
    ),
    "governance_tag_keys": (r"[\w.:/=+@-]{1,128}", "a tag key"),
}


class Guardrails(_Strict):
    """Preventive policies (SCPs, or an IAM policy and boundary without Organizations).

    Exempt principals live on a protected IAM path: a name prefix alone would exempt anyone who may
    create a role with that name, so the `mlgov-protected-roles` SCP keeps every principal but
    `role_admin_arns` (and break-glass) from creating, changing or passing roles on the path."""

    target_ou_ids: list[str] = Field(default_factory=list)
    protected_role_path: str = Field(default=PROTECTED_ROLE_PATH, pattern=ROLE_PATH)
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
    # The recommender's functions that run as a metric writer where the product runs: their code, configuration and
    # triggers change only in a deploy (DenyProductFunctionChanges), since whoever changes that code writes the counts.
    metric_writer_function_arns: list[str] = Field(default_factory=list)
    # The roles that ingest the catalog table the retraining snapshots (retraining.catalog_table_name): nobody
    # else writes it (DenyCatalogWrites). Put your ingest role on the protected path under this name.
    catalog_writer_role_arns: list[str] = Field(
        default_factory=lambda: ["arn:*:iam::*:role/mlgov-protected/MlGovCatalogWriter*"]
    )
    # Where the product runs (the governance account, or its OU): all four SCPs attach here (the challenger's
    # endpoint, watched groups and recommendation metrics live there); mlgov-product-guard only here.
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
        return all_match(
            value, r"(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32}|\d{12})", "an OU, root or account id"
        )

    @field_validator(*GUARDRAIL_LIST_FORMATS)
    @classmethod
    def _each_well_formed(cls, value: list[str], info: ValidationInfo) -> list[str]:
        pattern, what = GUARDRAIL_LIST_FORMATS[str(info.field_name)]
        return all_match(value, pattern, what)

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
            "catalog_writer_role_arns",
        ):
            problem = protected_path_problem(getattr(self, key), self.protected_role_path)
            if problem:  # the same rule the challenger function applies at cold start
                raise ValueError(f"{key}: {problem}")
        return self


DEFAULT_MEMBER_ROLE_NAME = "MlGovMemberAudit"


def _as_json(section: Any) -> dict[str, Any]:
    """A validated section (a pydantic model at run time) as JSON data."""
    data: dict[str, Any] = typing.cast(BaseModel, section).model_dump(mode="json")
    return data


def decision_tag_keys(settings: Settings) -> dict[str, str]:
    """Endpoint tags a decision rests on, and which: each is a governance tag (docs/trust-model.md)."""
    return {
        "ModelPackageName": "the audit compares it with the real lineage",
        settings.capacity.environment_tag_key: "capacity: a non-production value makes a scale-to-zero page a ticket",
        settings.retirement.purpose_tag_key: "retirement: only a retiring endpoint may be deleted",
        settings.retirement.managed_by_tag_key: "retirement: which endpoints the stale-endpoint audit watches",
    }


def member_role_name(settings: Settings) -> str:
    """The read-only role in every member account, assumed by the org scan and the audit."""
    return settings.member_audit_role_name or DEFAULT_MEMBER_ROLE_NAME


def check_options(settings: Settings) -> dict[str, Any]:
    """What the per-endpoint checks read (mlgov_runtime.core.checks.CheckContext.options): the sections
    they judge by, as the org scan's functions receive them (mlgov_runtime.org_scan.settings.Received)."""
    from mlgov_runtime.org_scan.settings import check_options as received_options

    return received_options(settings)


class _Settings(_Strict):
    """The shared top-level settings; each registered capability's section joins them (`_compose`)."""

    guardrails: Guardrails = Field(default_factory=Guardrails)

    if TYPE_CHECKING:  # the shared keys (mlgov_runtime.core.shared_settings) `_compose` adds
        watched_model_package_groups: list[str] = Field(default_factory=list)
        package_account_ids: list[str] = Field(default_factory=list)
        member_audit_role_name: str | None = None
        organization_id: str | None = None
        log_retention_days: Literal[7, 14, 30, 60, 90, 180, 365, 731, 1827, 3653] = 90
        idempotency_ttl_seconds: int = 3600
        weekly_scan_schedule: str = ""

    if TYPE_CHECKING:  # the sections `_compose` adds, for the type checker
        thresholds: _Thresholds = Field(default_factory=_Thresholds)
        experiment_exemptions: _ExperimentExemptions = Field(default_factory=_ExperimentExemptions)
        alert_routing: _AlertRouting = Field(default_factory=typing.cast(Any, _AlertRouting))
        retraining: _Retraining = Field(default_factory=_Retraining)
        challenger: _Challenger = Field(default_factory=_Challenger)
        capacity: _Capacity = Field(default_factory=_Capacity)
        approvals: _Approvals = Field(default_factory=_Approvals)
        retirement: _Retirement = Field(default_factory=_Retirement)
        org_scan: _OrgScan = Field(default_factory=_OrgScan)

    @model_validator(mode="after")
    def _redrive_roles_on_the_protected_path(self) -> Settings:
        # The notifier's queue policy trusts these senders: the same rule as the exempt roles, checked again by
        # the notifier at cold start (mlgov_runtime.notifier.settings.Received).
        problem = protected_path_problem(self.alert_routing.redrive_role_arns, self.guardrails.protected_role_path)
        if problem:
            raise ValueError(f"alert_routing.redrive_role_arns: {problem}")
        return self

    @model_validator(mode="after")
    def _member_stackset_role_is_the_audits(self) -> Settings:
        """Where the member StackSet deploys the member role and the forwarding rule, the real-time audit and the
        capacity check assume that role: unset, they would skip every forwarded member event."""
        if self.member_audit_role_name is None and self.org_scan.member_role_target_ou_ids:
            object.__setattr__(self, "member_audit_role_name", DEFAULT_MEMBER_ROLE_NAME)
        return self

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


def _compose(capabilities: tuple[Capability, ...]) -> type[_Settings]:
    """The product's settings: the shared keys, `thresholds`, and each registered capability's section."""
    sections: dict[str, Any] = _definitions(Shared)
    for capability in capabilities:
        model = section_model(capability)
        if model is not None and capability.section:
            derived: Any = pydantic_model(model)
            sections[capability.section] = (derived, Field(default_factory=_validated(derived)))
    thresholds = _thresholds_model(capabilities)
    sections["thresholds"] = (thresholds, Field(default_factory=_validated(thresholds)))
    composed = create_model("Settings", __base__=_Settings, __doc__=_Settings.__doc__, **sections)
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
        return f"cdk.json context '{key}': unknown setting (check the spelling; see docs/configuration.md)"
    got = err.get("input")
    text = repr(got)
    shown = "" if isinstance(got, (dict, list)) else f" (got {text if len(text) <= 80 else text[:77] + '...'})"
    return f"cdk.json context '{key}': {msg}{shown}"


def parse_settings(raw: Any, model: type[Settings] | None = None) -> Settings:
    """The `mlgov` context validated as the product's settings (`model`: those of other capabilities)."""
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
        settings = (model or Settings).model_validate(raw)
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
        default = (
            ""
            if "endpoints" in typing.cast(BaseModel, c).model_fields_set
            else " (the default; set challenger.endpoints)"
        )
        raise SettingsError(
            f"cdk.json context '{CONTEXT_KEY}.challenger.endpoints': group {unknown[0]}{default} is not in "
            f"watched_model_package_groups ({', '.join(settings.watched_model_package_groups)})"
        )
    if c.metrics.source == "table" and not settings.guardrails.metric_writer_role_arns:
        raise SettingsError(
            f"cdk.json context '{CONTEXT_KEY}.challenger.metrics.source' is \"table\" but "
            f"'{CONTEXT_KEY}.guardrails.metric_writer_role_arns' names nobody: no recommender could write the counts "
            'the gate reads (name the recommender\'s roles, or keep source "cloudwatch")'
        )
    g = settings.guardrails
    if c.metrics.source == "table" and not (g.deployer_role_arns or g.role_admin_arns or g.break_glass_role_arns):
        raise SettingsError(
            f"cdk.json context '{CONTEXT_KEY}.challenger.metrics.source' is \"table\" but "
            f"'{CONTEXT_KEY}.guardrails.deployer_role_arns', 'role_admin_arns' and 'break_glass_role_arns' name "
            "nobody: the table's policy could keep its controls to no one, and the watch believes no count from a "
            'table without them (name who deploys, or keep source "cloudwatch")'
        )
    if c.require_human_approval and not settings.approvals.approvers.get("challenger"):
        raise SettingsError(
            f"cdk.json context '{CONTEXT_KEY}.challenger.require_human_approval' is true but "
            f"'{CONTEXT_KEY}.approvals.approvers.challenger' names nobody: no promotion could ever be approved"
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
    """The notifier's routing, from the settings (the CLI; the function reads the same from its settings)."""
    from mlgov_runtime.notifier.settings import routing_from

    return routing_from(settings.alert_routing)


def gate_thresholds_json(settings: Settings) -> str:
    """The offline gate's thresholds as the pipeline step reads them (the CLI's gate)."""
    from mlgov_runtime.retraining.settings import gate_thresholds

    return json.dumps(gate_thresholds(settings.thresholds), sort_keys=True)
