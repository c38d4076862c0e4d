"""`mlgov rollback` (spec scenario 1, follow-up 2 and grill 2): back to the previous Approved version of the
group, blue/green, and the failed version Rejected with the reason. With no previous version, nothing changes
and the fallbacks are named.

Order of a rollback: the endpoint must be InService and the target is checked first (still Approved, artifact and
image present, their pins holding), the update is watched until the endpoint is InService on the new config, and
only then is the endpoint retagged and the old version Rejected. An update SageMaker rolled back, one still running
at the deadline, or a write refused on the way changes nothing else. A rerun that finds the endpoint serving the
model an earlier rollback made (its name, never its tags), with the version it replaced still Approved,
finishes that rollback."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, cast

from botocore.exceptions import ClientError

from mlgov.ops.refusal import is_refused
from mlgov_runtime.adapters.errors import error_text
from mlgov_runtime.challenger.endpoint_rollout import ECR_IMAGE, SageMakerRollout
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
from mlgov_runtime.lineage_audit.pins import PinProblem, PinReader, check_container_pins


class RollbackRefused(Exception):
    """The endpoint or group cannot be rolled back as asked (usage: exit 2)."""


PRESENT, ABSENT, UNKNOWN, MISMATCH = "present", "absent", "unknown", "mismatch"
ROLLBACK_FROM = "mlgov:rollback-from"  # the model a rollback replaced, on the model it made


class Artifacts(Protocol):
    """Does what a package names still exist: (PRESENT | ABSENT | UNKNOWN, detail)."""

    def artifact(self, url: str) -> tuple[str, str]: ...
    def image(self, uri: str) -> tuple[str, str]: ...


class Groups(Protocol):
    def describe_group(self, name: str) -> Mapping[str, Any]:
        """Raises NotFound when the model package group does not exist."""
        ...


class RollbackRegistry(Registry, Protocol):
    def approved_packages(self, group: str) -> Sequence[Mapping[str, Any]]:
        """Approved package summaries of the group, newest first."""
        ...


class RollbackRollout(SageMakerRollout):
    """The challenger's SageMaker adapter with the one read only a rollback makes (the Lambda never lists them)."""

    def approved_packages(self, group: str) -> list[dict[str, Any]]:
        found = self.items(
            f"model package group {group}",
            "list_model_packages",
            "ModelPackageSummaryList",
            ModelPackageGroupName=group,
            ModelApprovalStatus="Approved",
            SortBy="CreationTime",
            SortOrder="Descending",
        )
        return [dict(p) for p in found]


class RolloutGroups:
    """Groups through the challenger's SageMaker adapter (its call maps a missing group to NotFound)."""

    def __init__(self, rollout: Any) -> None:
        self.rollout = rollout

    def describe_group(self, name: str) -> Mapping[str, Any]:
        what = f"model package group {name}"
        found = self.rollout.call(what, "describe_model_package_group", ModelPackageGroupName=name)
        return cast(Mapping[str, Any], found)


@dataclass
class Waiting:
    """How long to watch the blue/green update; clock and sleep are injected so tests never wait."""

    timeout_seconds: float = 1800.0
    poll_seconds: float = 30.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    progress: Callable[[str], None] = lambda message: None


# Outcomes of the update (plan.status after apply_rollback).
ROLLED_BACK = "rolled_back"
UPDATE_ROLLED_BACK = "update_rolled_back"  # SageMaker kept (or went back to) the old config
UPDATE_FAILED = "update_failed"  # the endpoint is Failed
UPDATE_PENDING = "update_pending"  # still updating at the deadline
NOT_REJECTED = "rolled_back_not_rejected"  # the target serves; retagging or rejecting the old version failed
STOPPED = "stopped"  # a write was refused before the update was taken: the old config serves, nothing Rejected


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
    execution_role_arn: str | None = None
    target_checks: list[dict[str, str]] = field(default_factory=list)
    end_state: dict[str, Any] | None = None  # what DescribeEndpoint said when the command stopped watching
    next_steps: list[str] = field(default_factory=list)
    # With no previous Approved version: what an emergency recovery package can be built from (`recovery_sources`).
    recovery: dict[str, Any] | None = None
    # The target already serves through the model an earlier rollback made: only the retag and rejection are left.
    finishing: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _production_variant(endpoint: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    weights = {v["VariantName"]: v.get("CurrentWeight", 0) for v in endpoint.get("ProductionVariants", [])}
    variants = [dict(v) for v in config.get("ProductionVariants", []) if v.get("ModelName")]
    if not variants:
        raise RollbackRefused(f"endpoint {endpoint['EndpointName']} has no production variant with a model")
    return max(variants, key=lambda v: weights.get(v["VariantName"], v.get("InitialVariantWeight", 0)) or 0)


def _models(endpoints: Endpoints, config: Mapping[str, Any]) -> dict[str, Mapping[str, Any] | None]:
    """Every production variant's model; None for one deleted under the endpoint (it serves on regardless)."""
    out: dict[str, Mapping[str, Any] | None] = {}
    for v in config.get("ProductionVariants", []):
        if v.get("ModelName") and v["ModelName"] not in out:
            try:
                out[v["ModelName"]] = endpoints.describe_model(str(v["ModelName"]))
            except NotFound:
                out[v["ModelName"]] = None
    return out


def plan_rollback(
    endpoints: Endpoints,
    registry: RollbackRegistry,
    endpoint_name: str,
    group: str,
    reason: str,
    now: datetime,
    warning_days: int = 30,
    *,
    groups: Groups | None = None,
    artifacts: Artifacts | None = None,
    execution_role_arn: str | None = None,
    pins: PinReader | None = None,
) -> RollbackPlan:
    """The plan; with `artifacts`, a target whose package is no longer Approved or whose artifact or image is
    gone is refused here, before anything changes; with `pins` too, one whose stored bytes are no longer the
    pinned ones. `pins` also tells the serving version by its bytes when the serving model names no package."""
    if groups is not None:
        try:
            groups.describe_group(group)
        except NotFound:
            raise RollbackRefused(
                f"no such model package group {group!r} (or this role may not read it): "
                "aws sagemaker list-model-package-groups lists them"
            ) from None
    try:
        endpoint = endpoints.describe_endpoint(endpoint_name)
    except NotFound:
        raise RollbackRefused(f"endpoint {endpoint_name} does not exist (or this role may not read it)") from None
    try:
        config = endpoints.describe_endpoint_config(str(endpoint["EndpointConfigName"]))
    except NotFound:
        raise RollbackRefused(
            f"endpoint config {endpoint['EndpointConfigName']} of {endpoint_name} was deleted: the variant's "
            "instance type and settings cannot be copied; deploy the previous version through the pipeline"
        ) from None
    production = _production_variant(endpoint, config)
    models = _models(endpoints, config)
    model = models[str(production["ModelName"])]
    serving_all = {pkg for m in models.values() if m is not None for pkg in container_packages(m)}
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
    roles = [execution_role_arn, (model or {}).get("ExecutionRoleArn")]
    roles += [m.get("ExecutionRoleArn") for m in models.values() if m is not None]
    plan.execution_role_arn = next((str(r) for r in roles if r), None)
    served_arns: set[str] = set()
    for name in serving_all:
        try:
            package = registry.describe_package(name)
        except NotFound:
            continue
        served_arns.add(str(package["ModelPackageArn"]))
        pkg_group, version = package_group_and_version(package)
        if (
            pkg_group.lower() == group.lower()
            and model is not None
            and name in container_packages(model)
            and plan.serving_package is None
        ):
            plan.serving_package = str(package["ModelPackageArn"])
            plan.serving_version = version
            plan.serving_status = str(package.get("ModelApprovalStatus"))
    claimed_version: int | None = None
    if model is None:
        # The model was deleted under the endpoint: which version serves cannot be proven. The endpoint's
        # ModelPackageName tag (a claim) only narrows the target to versions older than it; nothing is Rejected.
        claimed_version = _claimed_version(endpoints, endpoint, registry, group)
        if claimed_version is None:
            raise RollbackRefused(
                f"model {plan.serving_model} of {endpoint_name} was deleted and the endpoint has no "
                f"ModelPackageName tag of group {group}: which version serves cannot be told, so neither can the "
                "previous one; register the version to restore as a recovery package (mlgov register) if needed"
            )
        plan.warnings.append(
            f"model {plan.serving_model} of variant {plan.production_variant} was deleted under the endpoint "
            "(the endpoint serves on): which version it served cannot be proven, so nothing will be marked "
            "Rejected"
            + f"; the endpoint's ModelPackageName tag claims v{claimed_version}, so the target is older than that."
        )
    try:
        approved = registry.approved_packages(group)
    except NotFound:
        raise RollbackRefused(f"model package group {group} does not exist") from None
    if model is not None and plan.serving_package is None:
        # Without a version to be "below", the newest Approved one could be the very bytes that serve.
        matched, unread = _serving_by_pins(registry, model, approved, pins)
        if not matched:
            raise RollbackRefused(_untold(plan, model, group, unread))
        newest = matched[0]
        plan.serving_package = str(newest["ModelPackageArn"])
        plan.serving_version = package_group_and_version(newest)[1]
        plan.serving_status = str(newest.get("ModelApprovalStatus"))
        served_arns |= {str(p["ModelPackageArn"]) for p in matched}
        plan.warnings.append(
            f"model {plan.serving_model} names no package; its container holds the pinned bytes of "
            + ", ".join(f"v{package_group_and_version(p)[1]}" for p in matched)
            + f" of {group} (the serving version, told by its pins)."
        )
    if model is not None and plan.serving_package is not None:
        finished = _unfinished_rollback(registry, plan, approved, endpoint, group)
        if finished is not None:
            return finished
    below = plan.serving_version if plan.serving_version is not None else claimed_version
    candidates = [
        p
        for p in approved
        if str(p["ModelPackageArn"]) not in served_arns and (below is None or package_group_and_version(p)[1] < below)
    ]
    if not candidates:
        plan.status = "no_previous_version"
        serving = registry.describe_package(plan.serving_package) if plan.serving_package else None
        plan.recovery = recovery_sources(registry, serving, model)
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
    plan.model_name, plan.config_name = rollback_names(group, endpoint_name, version, plan.serving_version, now)
    _in_service(endpoint)
    if artifacts is not None:
        check_target(plan, target, artifacts, pins)
    if plan.execution_role_arn is None:
        raise RollbackRefused(
            f"no model on {endpoint_name} names an execution role to run v{version} with (model "
            f"{plan.serving_model} was deleted?): pass --execution-role-arn"
        )
    return plan


def _in_service(endpoint: Mapping[str, Any]) -> None:
    """The dry run and the real run refuse alike: SageMaker takes no update unless the endpoint is InService."""
    if endpoint.get("EndpointStatus") != "InService":
        raise RollbackRefused(
            f"endpoint {endpoint['EndpointName']} is {endpoint.get('EndpointStatus')}, not InService: SageMaker "
            "takes no update until it is; nothing was changed; run the command again then"
        )


def _model_containers(model: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [model["PrimaryContainer"]] if model.get("PrimaryContainer") else list(model.get("Containers") or [])


def _same_image(served: str, container: Mapping[str, Any]) -> bool:
    image = str(container.get("Image") or "")
    digest = str(container.get("ImageDigest") or "")
    return bool(served) and (served == image or (bool(digest) and served.endswith("@" + digest)))


def _serving_by_pins(
    registry: Registry, model: Mapping[str, Any], approved: list[Mapping[str, Any]] | Any, pins: PinReader | None
) -> tuple[list[Mapping[str, Any]], list[str]]:
    """The group's Approved packages (newest first) whose containers are the model's: the same model data URL
    and image, and every pin of the package holding on what is stored there now (a name alone proves nothing);
    and why the pins of a version named like the model could not be read (no match either: unverified)."""
    served = _model_containers(model)
    if pins is None or not served:
        return [], []
    matched: list[Mapping[str, Any]] = []
    unread: list[str] = []
    for summary in approved:
        package = registry.describe_package(str(summary["ModelPackageArn"]))
        containers = _containers(package)
        if len(containers) != len(served):
            continue
        metadata = package.get("CustomerMetadataProperties") or {}
        arn = str(package["ModelPackageArn"])
        pairs = list(zip(served, containers, strict=True))
        named = all(
            str(s.get("ModelDataUrl") or "") == str(c.get("ModelDataUrl") or "")
            and _same_image(str(s.get("Image") or ""), c)
            for s, c in pairs
        )
        if not named:
            continue
        problems = [p for _, c in pairs for p in check_container_pins(c, metadata, pins, arn)]
        if not problems:
            matched.append(package)
        unread += [f"v{package_group_and_version(package)[1]}: {p.reason}" for p in problems if p.kind == "unverified"]
    return matched, unread


def _untold(plan: RollbackPlan, model: Mapping[str, Any], group: str, unread: list[str]) -> str:
    names = container_packages(model)
    named = f"names package {names[0]}, not one of group {group} (check --group)" if names else "names no package"
    unverified = (
        f" (pins that could not be read, so prove nothing: {'; '.join(unread)}; give this role s3:GetObject and "
        "ecr:DescribeImages on them)"
        if unread
        else ""
    )
    return (
        f"model {plan.serving_model} of {plan.endpoint_name}'s production variant {plan.production_variant} "
        f"{named}, and its container matches no Approved version of {group} by its pins (model data URL with its "
        f"ETag/version/checksum, image digest){unverified}: which version serves cannot be told, so neither can "
        "the previous one; nothing was changed. Deploy the version to restore through the pipeline, or register it "
        "as a recovery package (mlgov register) and have it approved"
    )


def rollback_names(
    group: str, endpoint_name: str, version: int, replaced: int | None, now: datetime
) -> tuple[str, str]:
    """The model and config a rollback to `version` makes. The model's name carries the version it replaces: a
    rerun believes a rollback happened only from these names (set at creation; serving them takes UpdateEndpoint),
    never from tags, which anyone with sagemaker:AddTags may write."""
    source = f"from-v{replaced}" if replaced is not None else ""
    return (
        resource_name(group, f"v{version}", "rollback", source, stamp(now)),
        resource_name(endpoint_name, f"rollback-v{version}", stamp(now)),
    )


_MADE = re.compile(r"-v(\d+)-rollback-from-v(\d+)-(\d{14})$")


def _unfinished_rollback(
    registry: Registry,
    plan: RollbackPlan,
    approved: Sequence[Mapping[str, Any]],
    endpoint: Mapping[str, Any],
    group: str,
) -> RollbackPlan | None:
    """The plan that finishes an earlier rollback, or None. The endpoint serves a model and config an earlier
    rollback made (their names: `<group>-v<N>-rollback-from-v<M>-<time>` on `<endpoint>-rollback-v<N>-<time>`,
    N the serving version), M above N, and v<M> is still Approved: the update went through (its answer lost, or
    the wait ended first) and the retag and rejection are left. The `mlgov:rollback-from` tag is a label only."""
    made = _MADE.search(plan.serving_model)
    if made is None or plan.serving_version is None:
        return None
    version, replaced, when = int(made.group(1)), int(made.group(2)), made.group(3)
    config = resource_name(plan.endpoint_name, f"rollback-v{version}", when)
    if version != plan.serving_version or replaced <= version or endpoint.get("EndpointConfigName") != config:
        return None
    package = next(
        (p for p in approved if _same(p, group, replaced)),
        None,
    )
    if package is None:
        return None  # that rollback was finished (v<M> Rejected) or v<M> is gone: this is a new one
    _in_service(endpoint)
    serving = registry.describe_package(str(plan.serving_package))
    target = {
        "model_package_arn": plan.serving_package,
        "version": plan.serving_version,
        "catalog_snapshot_date": (serving.get("CustomerMetadataProperties") or {}).get("catalog_snapshot_date"),
        "approval_status": plan.serving_status,
    }
    plan.target, plan.finishing = target, True
    plan.model_name, plan.config_name = plan.serving_model, str(endpoint["EndpointConfigName"])
    plan.serving_package, plan.serving_version = str(package["ModelPackageArn"]), replaced
    plan.serving_status = str(package.get("ModelApprovalStatus") or "Approved")
    plan.warnings.append(
        f"{plan.endpoint_name} already serves v{target['version']} through model {plan.serving_model} on config "
        f"{config}, made by an earlier rollback from v{replaced} (still Approved): this run finishes it (the "
        f"endpoint's tag, v{replaced} Rejected), with no new update."
    )
    return plan


def _same(package: Mapping[str, Any], group: str, version: int) -> bool:
    found_group, found_version = package_group_and_version(package)
    return found_group.lower() == group.lower() and found_version == version


def _claimed_version(endpoints: Endpoints, endpoint: Mapping[str, Any], registry: Registry, group: str) -> int | None:
    arn = endpoint.get("EndpointArn")
    claim = endpoints.endpoint_tags(str(arn)).get("ModelPackageName") if arn else None
    if not claim:
        return None
    try:
        pkg_group, version = package_group_and_version(registry.describe_package(claim))
    except (NotFound, KeyError, ValueError):
        return None
    return version if pkg_group.lower() == group.lower() else None


def _containers(package: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((package.get("InferenceSpecification") or {}).get("Containers") or [])


def _pin_problems(
    kind: str, container: Mapping[str, Any], package: Mapping[str, Any], pins: PinReader
) -> list[PinProblem]:
    """The lineage audit's pin check of one part of a container (its image, or its model data)."""
    artifact = ("ModelDataUrl", "ModelDataETag", "ModelDataSource", "AdditionalModelDataSources")
    keys = ("Image", "ImageDigest") if kind == "image" else artifact
    part = {k: container[k] for k in keys if container.get(k)}
    metadata = (package.get("CustomerMetadataProperties") or {}) if kind == "artifact" else {}
    return check_container_pins(part, metadata, pins, str(package.get("ModelPackageArn")))


def check_target(
    plan: RollbackPlan, package: Mapping[str, Any], artifacts: Artifacts, pins: PinReader | None = None
) -> None:
    """Refuse a target that could not serve: not Approved any more, no container, an artifact or image gone, or
    (with `pins`) stored bytes that are not the ones the package pins, which the approver never saw. What cannot
    be checked (no permission, an image outside ECR) and what has no pin are warnings."""
    version = (plan.target or {}).get("version")
    problems: list[str] = []
    mismatched = False
    if package.get("ModelApprovalStatus") != "Approved":
        problems.append(f"v{version} is {package.get('ModelApprovalStatus')}, not Approved")
    containers = _containers(package)
    if not containers:
        problems.append(f"v{version} has no inference container")
    for container in containers:
        sources = [container.get("ModelDataSource"), *(container.get("AdditionalModelDataSources") or [])]
        source = next((u for s in sources if (u := ((s or {}).get("S3DataSource") or {}).get("S3Uri"))), None)
        for kind, value, look in (
            ("artifact", container.get("ModelDataUrl") or source, artifacts.artifact),
            ("image", container.get("Image"), artifacts.image),
        ):
            if not value:
                continue
            state, detail = look(str(value))
            check = {"kind": kind, "uri": str(value), "state": state, "detail": detail}
            plan.target_checks.append(check)
            if state == ABSENT:
                problems.append(f"its {kind} {value} is gone ({detail})")
            elif state == UNKNOWN:
                plan.warnings.append(f"v{version}'s {kind} {value} could not be checked ({detail})")
            elif pins is not None:
                for pin in _pin_problems(kind, container, package, pins):
                    if pin.kind == "mismatch":
                        # The lineage audit's own words, without its fix: the refusal says what to do here.
                        reason = pin.reason.split(" Fix: ", 1)[0].rstrip(".")
                        check.update(state=MISMATCH, detail=reason)
                        problems.append(f"its {kind} is not the pinned one: {reason}")
                        mismatched = True
                    else:  # unverified, or no pin to compare (the lineage audit reports it with its fix)
                        plan.warnings.append(f"v{version}'s {kind} pin: {pin.reason}")
    if problems:
        restore = (
            "Put the pinned bytes back under the same name (the pinned object version: aws s3api "
            "list-object-versions, then copy it over the key; the pinned image digest: tag it again with aws ecr "
            "put-image) and run the command again, or register the approved bytes as a recovery package (mlgov "
            "register --write-once-bucket naming the stack's SnapshotBucket) and have it approved"
            if mismatched
            else "Restore it (a versioned bucket keeps the earlier object: aws s3api list-object-versions), or "
            "register a recovery package (mlgov register) and have it approved"
        )
        raise RollbackRefused(
            f"v{version} cannot be rolled back to, nothing was changed: {'; '.join(problems)}. {restore}"
        )


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


def wait_for_update(endpoints: Endpoints, plan: RollbackPlan, old_config: str, waiting: Waiting) -> str:
    """Watch DescribeEndpoint until the update ends; the outcome, with plan.end_state set to the last answer."""
    deadline = waiting.clock() + waiting.timeout_seconds
    started = waiting.clock()
    while True:
        try:
            endpoint = endpoints.describe_endpoint(plan.endpoint_name)
        except Exception as exc:  # the update runs on; an unreadable status is not an outcome
            if waiting.clock() >= deadline:
                plan.end_state = {"endpoint_status": None, "endpoint_config_name": None, "failure_reason": None,
                                  "serving": "unknown", "read_error": str(exc)}  # fmt: skip
                return UPDATE_PENDING
            waiting.progress(f"{plan.endpoint_name} could not be read ({exc}); trying again")
            waiting.sleep(waiting.poll_seconds)
            continue
        status, config = endpoint.get("EndpointStatus"), endpoint.get("EndpointConfigName")
        plan.end_state = {
            "endpoint_status": status,
            "endpoint_config_name": config,
            "failure_reason": endpoint.get("FailureReason"),
            "serving": "target" if config == plan.config_name else "previous" if config == old_config else "other",
        }
        if status == "Failed":
            return UPDATE_FAILED
        if status == "InService":
            return ROLLED_BACK if config == plan.config_name else UPDATE_ROLLED_BACK
        if waiting.clock() >= deadline:
            return UPDATE_PENDING
        waiting.progress(
            f"{plan.endpoint_name} is {status} on {config} ({waiting.clock() - started:.0f} s of "
            f"{waiting.timeout_seconds:.0f} s): the old fleet serves until the new one is healthy"
        )
        waiting.sleep(waiting.poll_seconds)


def apply_rollback(
    endpoints: Endpoints, registry: Registry, plan: RollbackPlan, now: datetime, waiting: Waiting | None = None
) -> RollbackPlan:
    """Blue/green to the previous version (UpdateEndpoint keeps serving the old fleet until the new one is
    healthy); once it serves, the endpoint retagged and the failing version Rejected with the reason."""
    if plan.target is None or plan.model_name is None or plan.config_name is None:
        raise ValueError("apply_rollback needs a plan with a target")
    waiting = waiting or Waiting()
    endpoint = endpoints.describe_endpoint(plan.endpoint_name)
    _in_service(endpoint)  # again: the plan may be older than this moment
    arn = plan.target["model_package_arn"]
    if plan.finishing:  # the update of an earlier run went through: only the retag and the rejection are left
        plan.status = ROLLED_BACK
        return _finish(endpoints, registry, plan, endpoint, arn, now)
    old_config = str(endpoint["EndpointConfigName"])
    config = endpoints.describe_endpoint_config(old_config)
    if not plan.execution_role_arn:
        raise RollbackRefused(f"no execution role to run v{plan.target['version']} with: pass --execution-role-arn")
    created: list[str] = []
    step = "CreateModel"
    try:
        endpoints.create_model(
            plan.model_name, arn, plan.execution_role_arn, {**MANAGED_BY, ROLLBACK_FROM: plan.serving_model}
        )
        created.append(f"model {plan.model_name}")
        variant = next(dict(v) for v in config["ProductionVariants"] if v["VariantName"] == plan.production_variant)
        variant.update(ModelName=plan.model_name, InitialVariantWeight=1.0)
        step = "CreateEndpointConfig"
        endpoints.create_endpoint_config(plan.config_name, config, [variant], MANAGED_BY)
        created.append(f"config {plan.config_name}")
        step = "UpdateEndpoint"
        endpoints.update_endpoint(plan.endpoint_name, plan.config_name)
    except Exception as exc:
        if step != "UpdateEndpoint" or is_refused(exc) or not _update_taken(endpoints, plan, old_config):
            return _stopped(plan, step, exc, created, old_config)
        # The answer was lost but SageMaker took the update: watch it as after a clean call.
        plan.warnings.append(
            f"UpdateEndpoint's answer was lost ({error_text(exc)}), but {plan.endpoint_name} shows the update; "
            "watching it"
        )
        waiting.progress(plan.warnings[-1])
    plan.status = wait_for_update(endpoints, plan, old_config, waiting)
    if plan.status != ROLLED_BACK:
        plan.next_steps = _next_steps(plan, old_config)
        return plan
    return _finish(endpoints, registry, plan, endpoint, arn, now)


def _update_taken(endpoints: Endpoints, plan: RollbackPlan, old_config: str) -> bool:
    """After a lost UpdateEndpoint answer: does the endpoint show the update (Updating, or on the new config)?"""
    try:
        endpoint = endpoints.describe_endpoint(plan.endpoint_name)
    except Exception:  # unreadable: believe it may have been taken, the watch reads again
        return True
    return endpoint.get("EndpointStatus") != "InService" or endpoint.get("EndpointConfigName") != old_config


def _stopped(plan: RollbackPlan, step: str, exc: Exception, created: list[str], old_config: str) -> RollbackPlan:
    """A write refused (or lost) before the update was taken: one line saying what exists, what serves and what
    to do next."""
    text = error_text(exc)
    code = str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""
    deletes = {
        "model": f"aws sagemaker delete-model --model-name {plan.model_name}",
        "config": f"aws sagemaker delete-endpoint-config --endpoint-config-name {plan.config_name}",
    }
    describes = {
        "model": f"aws sagemaker describe-model --model-name {plan.model_name}",
        "config": f"aws sagemaker describe-endpoint-config --endpoint-config-name {plan.config_name}",
    }
    lost = not is_refused(exc)  # no refusal from AWS: the call may have gone through
    left = []
    if created:
        removes = "; ".join(deletes[c.split(" ", 1)[0]] for c in created)
        left.append(f"created {' and '.join(created)} (unused; the next run makes its own: {removes} removes them)")
    maybe = {"CreateModel": f"model {plan.model_name}", "CreateEndpointConfig": f"config {plan.config_name}"}.get(step)
    if lost and maybe:
        kind = maybe.split(" ", 1)[0]
        left.append(
            f"{maybe} may have been created (unused if so: {describes[kind]} shows it; {deletes[kind]} removes it)"
        )
    if "AccessDenied" in code or "Unauthorized" in code:
        then = (
            f"this role may not call sagemaker:{step}: run as the pipeline or break-glass role (the guardrails deny "
            "it to everyone else) or add the permission, then run the same command again"
        )
    elif isinstance(exc, ClientError) and is_refused(exc):
        then = "run the same command again" + (" in a minute" if "Throttl" in code or "Limit" in code else "")
    elif maybe:
        then = (
            f"AWS did not refuse the {step}, so it may have gone through: run the same command again (it makes its own)"
        )
    else:
        then = (
            f"the answer was lost, so the {step} may still land: check aws sagemaker describe-endpoint "
            f"--endpoint-name {plan.endpoint_name}, then run the same command again (it finishes a rollback whose "
            "update went through)"
        )
    plan.status = STOPPED
    plan.next_steps = [
        f"rollback of {plan.endpoint_name} to v{(plan.target or {}).get('version')} stopped at {step} ({text}): "
        f"{'; '.join(left) or 'created nothing'}; {plan.endpoint_name} still serves {old_config} and nothing was "
        f"marked Rejected; {then}"
    ]
    return plan


def _finish(
    endpoints: Endpoints,
    registry: Registry,
    plan: RollbackPlan,
    endpoint: Mapping[str, Any],
    arn: str,
    now: datetime,
) -> RollbackPlan:
    assert plan.target is not None
    try:
        retag_endpoint(endpoints, endpoint, arn)
        if plan.serving_package and plan.serving_status != "Rejected":
            registry.reject_package(plan.serving_package, rejection_text(plan, now))
    except Exception as exc:  # the target serves: say what is left to do rather than fail without a word
        plan.status = NOT_REJECTED
        plan.next_steps = [
            f"v{plan.target['version']} serves, but retagging or rejecting failed ({exc}). Finish by hand: aws "
            f"sagemaker add-tags --resource-arn {endpoint.get('EndpointArn')} --tags Key=ModelPackageName,Value={arn}"
            + (
                f"; aws sagemaker update-model-package --model-package-arn {plan.serving_package} "
                "--model-approval-status Rejected"
                if plan.serving_package
                else ""
            )
        ]
    return plan


def _next_steps(plan: RollbackPlan, old_config: str) -> list[str]:
    describe = f"aws sagemaker describe-endpoint --endpoint-name {plan.endpoint_name}"
    untouched = "nothing was marked Rejected and the endpoint's tags are unchanged"
    if plan.status == UPDATE_PENDING:
        return (
            [
                f"The update is still running: watch it with `{describe}`; {untouched}.",
                f"Once it is InService on {plan.config_name}, run the same command again (it finishes this "
                f"rollback: the endpoint's tag, the old version Rejected), or mark it Rejected by hand: aws sagemaker "
                f"update-model-package --model-package-arn {plan.serving_package} --model-approval-status Rejected",
            ]
            if plan.serving_package
            else [f"The update is still running: watch it with `{describe}`; {untouched}."]
        )
    reason = (plan.end_state or {}).get("failure_reason") or "no FailureReason given"
    where = "is Failed" if plan.status == UPDATE_FAILED else f"serves {old_config} again (SageMaker rolled it back)"
    return [
        f"The update to v{(plan.target or {}).get('version')} failed and the endpoint {where}: {reason}; {untouched}.",
        f"Read the new model's logs: CloudWatch log group /aws/sagemaker/Endpoints/{plan.endpoint_name}; "
        f"then `{describe}`.",
    ]


EARLIER_VERSIONS = 3  # how many versions below the serving one a recovery step names


def _container_image(containers: list[Mapping[str, Any]]) -> str | None:
    return next((str(c["Image"]) for c in containers if c.get("Image")), None)


def _model_data(containers: list[Mapping[str, Any]]) -> str | None:
    for c in containers:
        source = ((c.get("ModelDataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
        if c.get("ModelDataUrl") or source:
            return str(c.get("ModelDataUrl") or source)
    return None


def recovery_sources(
    registry: Registry, serving: Mapping[str, Any] | None, model: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What the registry and the serving model hold for an emergency recovery package: the inference image the
    group serves with (the serving package's container, else the serving model's), the model data of the versions
    just below the serving one (any status: a Rejected challenger's artifact still loads), and the serving
    version's training job (earlier jobs' artifacts are listed relative to it)."""
    model = model or {}
    model_containers = [c for c in [model.get("PrimaryContainer"), *(model.get("Containers") or [])] if c]
    image = _container_image(_containers(serving or {})) or _container_image(model_containers)
    earlier: list[dict[str, Any]] = []
    metadata: Mapping[str, Any] = {}
    if serving is not None:
        metadata = serving.get("CustomerMetadataProperties") or {}
        arn = str(serving["ModelPackageArn"])
        _, version = package_group_and_version(serving)
        for v in range(version - 1, max(0, version - 1 - EARLIER_VERSIONS), -1):
            try:
                package = registry.describe_package(f"{arn.rsplit('/', 1)[0]}/{v}")
            except NotFound:
                continue
            url = _model_data(_containers(package))
            if url:
                status = package.get("ModelApprovalStatus")
                earlier.append({"version": v, "approval_status": status, "model_data_url": url})
    return {
        "image": image,
        "earlier": earlier,
        "training_job_arn": metadata.get("training_job_arn"),
        "trained_at_utc": metadata.get("trained_at_utc"),
    }


def _recover_step(group: str, endpoint: str, recovery: Mapping[str, Any]) -> str:
    image = recovery.get("image")
    image_arg = (
        f"--image {image}"
        if image
        else '--image "$(aws sagemaker describe-model-package --model-package-name '
        f"$(aws sagemaker list-model-packages --model-package-group-name {group} --sort-by CreationTime "
        "--sort-order Descending --max-results 1 --query 'ModelPackageSummaryList[0].ModelPackageArn' --output text) "
        "--query 'InferenceSpecification.Containers[0].Image' --output text)\""
    )
    register = (
        f"mlgov register --group {group} --metadata-file meta.json (the registration metadata of the artifact's "
        'training job, approved_by "emergency recovery")'
    )
    again = f"once an approver approves it, run mlgov rollback --endpoint {endpoint} --group {group} again."
    earlier = list(recovery.get("earlier") or [])
    if earlier:
        found = "; ".join(f"v{e['version']} ({e['approval_status']}): {e['model_data_url']}" for e in earlier)
        first = earlier[0]
        return (
            f"Recover an earlier artifact: the registry still names the model data of earlier versions of {group} "
            f"({found}). Check the one you trust, then register it as an emergency recovery: {register} "
            f"--model-data-url {first['model_data_url']} {image_arg}; {again}"
        )
    since = recovery.get("trained_at_utc")
    before = f" --creation-time-before {since}" if since else ""
    jobs = (
        "for job in $(aws sagemaker list-training-jobs --status-equals Completed"
        f"{before} --sort-by CreationTime --sort-order Descending --max-results 5 "
        "--query 'TrainingJobSummaries[].TrainingJobName' --output text); do aws sagemaker describe-training-job "
        "--training-job-name \"$job\" --query '[TrainingJobName,ModelArtifacts.S3ModelArtifacts]' --output text; done"
    )
    return (
        f"Recover an earlier artifact: the registry holds no earlier version of {group}; `{jobs}` prints the "
        "latest completed training jobs"
        + (f" before the serving version's ({recovery.get('training_job_arn')})" if since else "")
        + " with their model.tar.gz. Register the one you trust as an emergency recovery: "
        f"{register} --model-data-url with the S3 URI it printed, {image_arg}; {again}"
    )


def fallbacks(
    group: str, endpoint: str, route: Mapping[str, Any] | None = None, recovery: Mapping[str, Any] | None = None
) -> list[str]:
    """What to do when there is no previous Approved version (spec scenario 1, grill 2); `recovery`: the plan's
    `recovery_sources`, so the recovery step names real artifacts and the image."""
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
        _recover_step(group, endpoint, recovery or {}),
    ]


class ShareRoute(Protocol):
    """The AppConfig route document (mlgov/ops/appconfig.AppConfigRoute)."""

    def value(self, key: str) -> Any: ...
    def set_value(self, key: str, value: Any, why: str) -> str: ...


@dataclass
class FallbackShift:
    """A stepped shift of recommendations to the foundation-model route (no previous version to roll back to)."""

    share_key: str
    percents: list[int]
    share_before: Any = None
    share_now: Any = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    status: str = "planned"  # planned | shifted | stopped

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shift_to_fallback(
    route: ShareRoute, share_key: str, percents: list[int], step_seconds: float, waiting: Waiting, why: str
) -> FallbackShift:
    """Each share deployed, waited for until delivered and read back as clients read it, before the next step
    `step_seconds` later; a deployment that fails or reads back otherwise stops the shift where it is."""
    shift = FallbackShift(share_key, percents)
    try:
        shift.share_before = shift.share_now = route.value(share_key)
    except Exception as exc:  # RouteError, or AppConfig's own
        raise RollbackRefused(
            f"{exc}: the recommender must read the fallback's share from it (mlgov.capacity.fallback_route.share_key)"
        ) from None
    for i, percent in enumerate(percents):
        if i:
            waiting.progress(f"{shift.share_now}% on the fallback; next step {percent}% in {step_seconds:.0f} s")
            waiting.sleep(step_seconds)
        try:
            detail = route.set_value(share_key, percent, f"{why}: {percent}% to the fallback")
            shift.share_now = route.value(share_key)
        except Exception as exc:  # a deployment rolled back, or AppConfig refused: stop where it is
            shift.steps.append({"percent": percent, "status": "failed", "detail": str(exc)})
            shift.share_now = _read_back(route, share_key)
            shift.status = "stopped"
            return shift
        ok = shift.share_now == percent
        shift.steps.append({"percent": percent, "status": "delivered" if ok else "failed", "detail": detail})
        if not ok:
            shift.status = "stopped"
            return shift
    shift.status = "shifted"
    return shift


def _read_back(route: ShareRoute, key: str) -> Any:
    try:
        return route.value(key)
    except Exception:  # unknown is reported as unknown, never as 0
        return None


_GONE = ("404", "NoSuchKey", "NoSuchBucket", "NotFound", "ImageNotFoundException", "RepositoryNotFoundException")


class ArtifactCheck:
    """Is a package's artifact (S3 HeadObject, or a prefix listing for uncompressed model data) and image (ECR
    DescribeImages, in the image's own registry and region) still there? (present | absent | unknown, detail)."""

    def __init__(self, s3: Any, ecr_for_region: Callable[[str], Any]) -> None:
        self._s3, self._ecr = s3, ecr_for_region

    @staticmethod
    def _answer(exc: ClientError) -> tuple[str, str]:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return ("absent" if code in _GONE else "unknown"), f"{code}: {exc.response.get('Error', {}).get('Message')}"

    def artifact(self, url: str) -> tuple[str, str]:
        if not url.startswith("s3://") or "/" not in url[5:]:
            return "unknown", "not an s3:// object URL"
        bucket, key = url[5:].split("/", 1)
        try:
            if key.endswith("/"):
                listed = self._s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
                return ("present", "prefix has objects") if listed.get("KeyCount") else ("absent", "empty prefix")
            head = self._s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            return self._answer(exc)
        return "present", f"ETag {head.get('ETag')}"

    def image(self, uri: str) -> tuple[str, str]:
        match = ECR_IMAGE.match(uri)
        if not match:
            return "unknown", "not an ECR image URI"
        image_id = {"imageDigest": match["digest"]} if match["digest"] else {"imageTag": match["tag"] or "latest"}
        try:
            found = self._ecr(match["region"]).describe_images(
                registryId=match["registry"], repositoryName=match["repository"], imageIds=[image_id]
            )
        except ClientError as exc:
            return self._answer(exc)
        details = found.get("imageDetails") or []
        return ("present", str(details[0].get("imageDigest"))) if details else ("absent", "no such image")
