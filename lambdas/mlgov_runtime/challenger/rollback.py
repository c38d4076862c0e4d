"""`mlgov rollback` (spec scenario 1, follow-up 2 and grill 2): back to the previous Approved version of the
group, blue/green, and the failed version Rejected with the reason. With no previous version, nothing changes
and the fallbacks are named."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from mlgov_runtime.challenger.findings import APPROVAL_DESCRIPTION_MAX
from mlgov_runtime.challenger.logic import (
    MANAGED_BY,
    container_packages,
    iso,
    package_group_and_version,
    resource_name,
    retag_endpoint,
    stamp,
)
from mlgov_runtime.challenger.ports import Endpoints, NotFound, Registry


class RollbackRefused(Exception):
    """The endpoint or group cannot be rolled back as asked (usage: exit 2)."""


@dataclass
class RollbackPlan:
    endpoint_name: str
    group: str
    reason: str
    production_variant: str
    serving_model: str
    serving_package: str | None  # the failing version, marked Rejected after the switch
    serving_version: int | None
    serving_status: str | None
    target: dict[str, Any] | None  # the previous Approved version, or None: nothing to roll back to
    warnings: list[str] = field(default_factory=list)
    model_name: str | None = None
    config_name: str | None = None
    status: str = "planned"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _production_variant(endpoint: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    weights = {v["VariantName"]: v.get("CurrentWeight", 0) for v in endpoint.get("ProductionVariants", [])}
    variants = [dict(v) for v in config.get("ProductionVariants", []) if v.get("ModelName")]
    if not variants:
        raise RollbackRefused(f"endpoint {endpoint['EndpointName']} has no production variant with a model")
    return max(variants, key=lambda v: weights.get(v["VariantName"], v.get("InitialVariantWeight", 0)) or 0)


def plan_rollback(
    endpoints: Endpoints,
    registry: Registry,
    endpoint_name: str,
    group: str,
    reason: str,
    now: datetime,
    warning_days: int = 30,
) -> RollbackPlan:
    try:
        endpoint = endpoints.describe_endpoint(endpoint_name)
    except NotFound:
        raise RollbackRefused(f"endpoint {endpoint_name} does not exist (or this role may not read it)") from None
    config = endpoints.describe_endpoint_config(str(endpoint["EndpointConfigName"]))
    production = _production_variant(endpoint, config)
    model = endpoints.describe_model(str(production["ModelName"]))
    serving_all = {
        pkg
        for v in config.get("ProductionVariants", [])
        if v.get("ModelName")
        for pkg in container_packages(
            model if v["ModelName"] == production["ModelName"] else endpoints.describe_model(str(v["ModelName"]))
        )
    }
    plan = RollbackPlan(
        endpoint_name,
        group,
        reason,
        str(production["VariantName"]),
        str(production["ModelName"]),
        None,
        None,
        None,
        None,
    )
    served_arns: set[str] = set()
    for name in serving_all:
        try:
            package = registry.describe_package(name)
        except NotFound:
            continue
        served_arns.add(str(package["ModelPackageArn"]))
        pkg_group, version = package_group_and_version(package)
        if pkg_group.lower() == group.lower() and name in container_packages(model) and plan.serving_package is None:
            plan.serving_package = str(package["ModelPackageArn"])
            plan.serving_version = version
            plan.serving_status = str(package.get("ModelApprovalStatus"))
    if plan.serving_package is None:
        plan.warnings.append(
            f"endpoint {endpoint_name}'s production variant {plan.production_variant} serves no version of group "
            f"{group} (model {plan.serving_model}); nothing will be marked Rejected."
        )
    try:
        approved = registry.approved_packages(group)
    except NotFound:
        raise RollbackRefused(f"model package group {group} does not exist") from None
    candidates = [
        p
        for p in approved
        if str(p["ModelPackageArn"]) not in served_arns
        and (plan.serving_version is None or package_group_and_version(p)[1] < plan.serving_version)
    ]
    if not candidates:
        plan.status = "no_previous_version"
        return plan
    target = registry.describe_package(str(candidates[0]["ModelPackageArn"]))
    _, version = package_group_and_version(target)
    snapshot = (target.get("CustomerMetadataProperties") or {}).get("catalog_snapshot_date")
    plan.target = {
        "model_package_arn": str(target["ModelPackageArn"]),
        "version": version,
        "catalog_snapshot_date": snapshot,
        "approval_status": target.get("ModelApprovalStatus"),
    }
    plan.warnings += snapshot_warnings(version, snapshot, now.date(), warning_days)
    plan.model_name = resource_name(group, f"v{version}", "rollback", stamp(now))
    plan.config_name = resource_name(endpoint_name, f"rollback-v{version}", stamp(now))
    return plan


def snapshot_warnings(version: int, snapshot: str | None, today: date, warning_days: int) -> list[str]:
    if not snapshot:
        return [f"v{version} has no catalog_snapshot_date: how stale its catalog is cannot be told."]
    try:
        age = (today - date.fromisoformat(snapshot)).days
    except ValueError:
        return [f"v{version} has catalog_snapshot_date {snapshot!r}, not a date (YYYY-MM-DD)."]
    if age > warning_days:
        return [
            f"v{version} was trained on the catalog of {snapshot}, {age} days ago (more than {warning_days}): titles "
            "added since are missing from its recommendations; plan a retraining once the incident is over."
        ]
    return []


def rejection_text(plan: RollbackPlan, now: datetime) -> str:
    target = plan.target or {}
    text = (
        f"Rejected by mlgov rollback on {plan.endpoint_name} at {iso(now)}, replaced by v{target.get('version')}: "
        f"{plan.reason}"
    )
    return text if len(text) <= APPROVAL_DESCRIPTION_MAX else text[: APPROVAL_DESCRIPTION_MAX - 1] + "…"


def apply_rollback(endpoints: Endpoints, registry: Registry, plan: RollbackPlan, now: datetime) -> RollbackPlan:
    """Blue/green to the previous version (UpdateEndpoint keeps serving the old fleet until the new one is
    healthy), then the failing version Rejected with the reason."""
    if plan.target is None or plan.model_name is None or plan.config_name is None:
        raise ValueError("apply_rollback needs a plan with a target")
    endpoint = endpoints.describe_endpoint(plan.endpoint_name)
    config = endpoints.describe_endpoint_config(str(endpoint["EndpointConfigName"]))
    role = endpoints.describe_model(plan.serving_model).get("ExecutionRoleArn")
    if not role:
        raise RollbackRefused(
            f"model {plan.serving_model} has no ExecutionRoleArn to run v{plan.target['version']} with"
        )
    arn = plan.target["model_package_arn"]
    endpoints.create_model(plan.model_name, arn, str(role), {**MANAGED_BY, "mlgov:rollback-from": plan.serving_model})
    variant = next(dict(v) for v in config["ProductionVariants"] if v["VariantName"] == plan.production_variant)
    variant.update(ModelName=plan.model_name, InitialVariantWeight=1.0)
    endpoints.create_endpoint_config(plan.config_name, config, [variant], MANAGED_BY)
    endpoints.update_endpoint(plan.endpoint_name, plan.config_name)
    retag_endpoint(endpoints, endpoint, arn)
    if plan.serving_package and plan.serving_status != "Rejected":
        registry.reject_package(plan.serving_package, rejection_text(plan, now))
    plan.status = "rolled_back"
    return plan


def fallbacks(group: str, endpoint: str, route: Mapping[str, Any] | None = None) -> list[str]:
    """What to do when there is no previous Approved version (spec scenario 1, grill 2)."""
    if route:
        switch = (
            f"set {route.get('route_key')}={route.get('fallback_value')} in AppConfig application "
            f"{route.get('application_id')}, environment {route.get('environment_id')}, profile "
            f"{route.get('configuration_profile_id')} (mlgov.capacity.fallback_route)"
        )
    else:
        switch = (
            "switch the recommendation route in AppConfig to the foundation model (configure "
            "mlgov.capacity.fallback_route to have this command name the exact setting)"
        )
    return [
        f"Serve the base model: {switch}. The pre-fine-tuning foundation model is the known-good baseline; "
        "shift a share of traffic first and raise it while engagement recovers.",
        "Recover an earlier artifact: find an earlier training job's model.tar.gz in S3 and register it as an "
        f"emergency recovery: mlgov register --group {group} --metadata-file meta.json (approved_by "
        '"emergency recovery") --model-data-url s3://.../model.tar.gz --image <inference image>; once an '
        f"approver approves it, run mlgov rollback --endpoint {endpoint} --group {group} again.",
    ]
