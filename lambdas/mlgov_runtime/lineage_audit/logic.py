"""Endpoint lineage verdicts: endpoint -> config -> variants -> models -> containers -> registry.

Pure logic. The reader that fetches SageMaker descriptions is injected (see LineageReader);
its failures arrive as the domain exceptions defined here, never as boto3 errors.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from mlgov_runtime.core.arns import sagemaker_arn
from mlgov_runtime.core.endpoint_reads import EndpointReads
from mlgov_runtime.core.exemptions import ExemptionPolicy
from mlgov_runtime.core.findings import endpoint_identity
from mlgov_runtime.lineage_audit.pins import PinProblem, PinReader, check_container_pins, provenance, redirects

GOVERNANCE_TAG = "ModelPackageName"


class Verdict(enum.StrEnum):
    COMPLIANT = "COMPLIANT"
    UNREGISTERED = "UNREGISTERED"
    UNAPPROVED = "UNAPPROVED"
    PACKAGE_NOT_FOUND = "PACKAGE_NOT_FOUND"
    EXEMPT = "EXEMPT"
    ERROR = "ERROR"
    # Extensions of the contract's verdicts:
    FOREIGN_PACKAGE = "FOREIGN_PACKAGE"  # an Approved package from a group or account that may not serve here
    ARTIFACT_MISMATCH = "ARTIFACT_MISMATCH"  # what serves is not the package's artifact
    NO_MODEL = "NO_MODEL"  # the endpoint serves nothing: no variant model and no inference component
    UNDER_EVALUATION = "UNDER_EVALUATION"  # a gated candidate on a challenger share beside Approved production
    UNPINNED_IMAGE = "UNPINNED_IMAGE"  # an Approved package names its image by a mutable tag, no digest
    UNPINNED_MODEL_DATA = "UNPINNED_MODEL_DATA"  # an Approved package loads model data no pin covers


# The worst verdict among containers decides. A definite violation outranks "could not read":
# an endpoint with one unregistered container is reported as UNREGISTERED even if another
# container could not be read.
_RANK = {
    Verdict.COMPLIANT: 0,
    Verdict.NO_MODEL: 0,
    Verdict.UNDER_EVALUATION: 1,
    Verdict.ERROR: 2,
    Verdict.UNPINNED_IMAGE: 3,
    Verdict.UNPINNED_MODEL_DATA: 4,
    Verdict.UNAPPROVED: 5,
    Verdict.FOREIGN_PACKAGE: 6,
    Verdict.PACKAGE_NOT_FOUND: 7,
    Verdict.ARTIFACT_MISMATCH: 8,
    Verdict.UNREGISTERED: 9,
}

VIOLATIONS = frozenset(
    {
        Verdict.UNREGISTERED,
        Verdict.UNAPPROVED,
        Verdict.PACKAGE_NOT_FOUND,
        Verdict.FOREIGN_PACKAGE,
        Verdict.ARTIFACT_MISMATCH,
        Verdict.UNPINNED_IMAGE,
        Verdict.UNPINNED_MODEL_DATA,
    }
)


class ResourceNotFound(Exception):
    """The resource does not exist (deleted, or never existed)."""


class ReadFailure(Exception):
    """The resource could not be read: access denied, throttled after retries, service error."""


class LineageReader(EndpointReads, Protocol):
    """What the audit needs from SageMaker; adapters implement it, tests fake it."""

    def describe_model(self, name: str) -> Mapping[str, Any]: ...
    def describe_model_package(self, name_or_arn: str) -> Mapping[str, Any]: ...
    def list_inference_component_names(self, endpoint_name: str) -> Iterable[str]: ...
    def describe_inference_component(self, name: str) -> Mapping[str, Any]: ...


class ChallengerRuns(Protocol):
    """Whether a RUNNING execution of the product's challenger state machine (`machine_arn`) was started for this
    package on this endpoint, its challenger variant this one. Raises ReadFailure when Step Functions cannot be
    read (access denied, throttled): never an answer."""

    machine_arn: str

    def running(self, endpoint_name: str, package_arn: str, variant_name: str) -> bool: ...


@dataclass(frozen=True)
class PackagePolicy:
    """Which Approved packages may serve: packages of these groups, registered in these accounts.
    Empty groups means any group. Empty accounts means the endpoint's own account; accounts named (a
    central registry) are the only ones, in every account: a group and version created and self-approved
    in an account outside the guardrails' OUs does not count there."""

    groups: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()
    # A package still PendingManualApproval that passed the offline gate may take at most this share of
    # an endpoint's traffic beside an Approved production variant: the challenger CTR test (0 disables).
    evaluation_share: float = 0.0

    def refusal(self, package_arn: str, endpoint_account: str) -> str | None:
        # arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>
        parts = package_arn.split(":", 5)
        resource = parts[5] if len(parts) == 6 else ""
        account = parts[4] if len(parts) == 6 else ""
        group = resource.split("/")[1].lower() if resource.count("/") >= 2 else ""
        if account and account not in (self.accounts or {endpoint_account}):
            if self.accounts:
                return (
                    f"Model package {package_arn} is registered in account {account}, not in the central registry "
                    f"({', '.join(sorted(self.accounts))}): only packages registered there count. Fix: register "
                    "the version in the central registry and deploy that package."
                )
            return (
                f"Model package {package_arn} is registered in account {account}, which is not allowed to supply "
                "models here (allowed: this account)."
            )
        if self.groups and group not in {g.lower() for g in self.groups}:
            return (
                f"Model package {package_arn} belongs to group {group or '<none>'}, not a watched group "
                f"({', '.join(sorted(self.groups))})."
            )
        return None


@dataclass
class ContainerResult:
    model_package_arn: str | None
    approval_status: str | None
    verdict: Verdict
    reason: str | None = None
    # What the container named, when it differs from the resolved ARN (a name, or unresolved).
    declared_package: str | None = None
    eligible_candidate: bool = False  # PendingManualApproval (or Rejected) and passed the offline gate
    training: dict[str, str] = field(default_factory=dict)  # the training job and data the package records
    unpinned: str | None = None  # why the model data has no pin to compare (evidence; the verdict stands)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model_package_arn": self.model_package_arn, "approval_status": self.approval_status}
        if self.training:
            body["training"] = dict(self.training)
        if self.unpinned:
            body["pins"] = "unpinned"
            body["pins_reason"] = self.unpinned
        return body


@dataclass
class VariantResult:
    variant_name: str
    kind: str  # production | shadow
    model_name: str | None
    containers: list[ContainerResult] = field(default_factory=list)
    verdict: Verdict = Verdict.COMPLIANT
    reasons: list[str] = field(default_factory=list)
    evidence_missing: bool = False  # a model it serves was deleted under it
    deployment: str = "current"  # current | pending (a blue/green update in flight)
    component_name: str | None = None  # set for an inference component

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "variant_name": self.variant_name,
            "kind": self.kind,
            "model_name": self.model_name,
            "containers": [c.to_dict() for c in self.containers],
        }
        if self.deployment != "current":
            body["deployment"] = self.deployment
        if self.component_name:
            body["inference_component_name"] = self.component_name
        return body


@dataclass
class EndpointAudit:
    endpoint_name: str
    endpoint_arn: str | None
    account_id: str
    region: str
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    variants: list[VariantResult] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    inference_components: list[VariantResult] = field(default_factory=list)
    evidence_missing: bool = False  # a model or configuration was deleted under the live endpoint
    config_replaced: bool = False
    # CreationTimes, recorded at the audit of a deploy call ("": re-created or gone by then).
    endpoint_created: str | None = None
    configs_read: dict[str, str] = field(default_factory=dict)

    @property
    def is_violation(self) -> bool:
        return self.verdict in VIOLATIONS

    def to_dict(self) -> dict[str, Any]:
        return {
            **endpoint_identity(self),
            "reasons": list(self.reasons),
            "variants": [v.to_dict() for v in self.variants],
            "inference_components": [c.to_dict() for c in self.inference_components],
        }


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    result = Verdict.COMPLIANT
    for verdict in verdicts:
        if _RANK[verdict] > _RANK[result]:
            result = verdict
    return result


def container_specs(model: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every container of a model: Containers (multi-container) or PrimaryContainer.

    describe_model returns an empty PrimaryContainer next to Containers on some back ends,
    so an empty mapping is not a container.
    """
    containers = [c for c in model.get("Containers") or [] if c]
    if containers:
        return containers
    primary = model.get("PrimaryContainer") or {}
    return [primary] if primary else []


class PackageCache:
    """Describes each model package once per run, whichever form (ARN or name) names it."""

    def __init__(self, reader: LineageReader, account_id: str, region: str, pins: PinReader | None = None) -> None:
        self._reader = reader
        self._account_id = account_id
        self._region = region
        self._by_key: dict[str, Mapping[str, Any] | Exception] = {}
        self.describe_calls = 0
        self.pins = pins  # None: pins are not compared with the stores (only their presence is judged)
        self._pin_problems: dict[str, list[PinProblem]] = {}
        # (account, reader): packages registered in that account (the central registry, where the audit runs)
        # are described there with its own role, not through the member role.
        self.registry: tuple[str, LineageReader] | None = None

    def _reader_for(self, candidate: str) -> LineageReader:
        parts = candidate.split(":")
        if self.registry and len(parts) > 4 and parts[4] == self.registry[0]:
            return self.registry[1]
        return self._reader

    def pin_problems(self, arn: str, package: Mapping[str, Any]) -> list[PinProblem]:
        """What is wrong with the package's pins, read once per run per package."""
        if arn not in self._pin_problems:
            metadata = package.get("CustomerMetadataProperties") or {}
            found: list[PinProblem] = []
            for container in _spec_containers(package, None) or []:
                found += check_container_pins(container, metadata, self.pins, arn)
            self._pin_problems[arn] = found
        return self._pin_problems[arn]

    def _arn_for_name(self, name: str) -> str:
        # Versioned packages are named "group/version"; the ARN is the only form describe accepts.
        return sagemaker_arn(self._region, self._account_id, f"model-package/{name.lower()}")

    def lookup(self, declared: str) -> Mapping[str, Any] | Exception:
        if declared in self._by_key:
            return self._by_key[declared]
        candidates = [declared] if declared.startswith("arn:") else [declared, self._arn_for_name(declared)]
        result: Mapping[str, Any] | Exception = ResourceNotFound(declared)
        for candidate in candidates:
            if candidate in self._by_key and not isinstance(self._by_key[candidate], ResourceNotFound):
                result = self._by_key[candidate]
                break
            self.describe_calls += 1
            try:
                result = self._reader_for(candidate).describe_model_package(candidate)
                break
            except ResourceNotFound as exc:
                result = exc
            except ReadFailure as exc:
                result = exc
                break
        self._by_key[declared] = result
        if not isinstance(result, Exception) and result.get("ModelPackageArn"):
            self._by_key[str(result["ModelPackageArn"])] = result
        return result


def _spec_containers(package: Mapping[str, Any], name: str | None) -> list[Mapping[str, Any]] | None:
    """The containers a model runs: the package's inference specification, or the additional one it
    names (InferenceSpecificationName); None when that name is not in the package."""
    if not name:
        return list((package.get("InferenceSpecification") or {}).get("Containers") or [])
    for extra in package.get("AdditionalInferenceSpecifications") or []:
        if extra.get("Name") == name:
            return list(extra.get("Containers") or [])
    return None


def _package_artifacts(
    package: Mapping[str, Any], containers: list[Mapping[str, Any]] | None = None
) -> tuple[set[str], set[str], set[str]]:
    """(images, digests, model data URIs) of the package's inference specification."""
    images: set[str] = set()
    digests: set[str] = set()
    data: set[str] = set()
    for c in containers if containers is not None else _spec_containers(package, None) or []:
        if c.get("Image"):
            images.add(str(c["Image"]))
        if c.get("ImageDigest"):
            digests.add(str(c["ImageDigest"]))
        if c.get("ModelDataUrl"):
            data.add(str(c["ModelDataUrl"]))
        source = ((c.get("ModelDataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
        if source:
            data.add(str(source))
    return images, digests, data


def _image_matches(image: str, images: set[str], digests: set[str]) -> bool:
    if image in images:
        return True
    repo, _, digest = image.partition("@")
    return bool(digest) and digest in digests and any(i.split("@")[0].rsplit(":", 1)[0] == repo for i in images)


def _own_data(spec: Mapping[str, Any]) -> list[str]:
    """Every model-data location a container loads: its URL, its data source, its additional sources."""
    found = [spec.get("ModelDataUrl"), ((spec.get("ModelDataSource") or {}).get("S3DataSource") or {}).get("S3Uri")]
    for extra in spec.get("AdditionalModelDataSources") or []:
        found.append(((extra or {}).get("S3DataSource") or {}).get("S3Uri"))
    return [str(x) for x in found if x]


def artifact_mismatch(spec: Mapping[str, Any], package: Mapping[str, Any]) -> str | None:
    """Why what this container serves is not the package's artifact, or None. A name is a claim:
    a container may name a package and carry its own image, model data or redirecting environment."""
    if str(spec.get("Mode") or "") == "MultiModel":
        return (
            "Container runs in MultiModel mode over an S3 prefix: any artifact under it can be invoked, "
            "so naming a package proves nothing."
        )
    spec_name = spec.get("InferenceSpecificationName")
    containers = _spec_containers(package, str(spec_name) if spec_name else None)
    if containers is None:
        return f"Container names inference specification {spec_name!r}, which the package does not have."
    images, digests, data = _package_artifacts(package, containers)
    for own in _own_data(spec):
        if own not in data:
            return f"Container serves model data {own}, not the package's ({', '.join(sorted(data)) or 'none'})."
    image = spec.get("Image")
    if image and images and not _image_matches(str(image), images, digests):
        return f"Container runs image {image}, not the package's ({', '.join(sorted(images))})."
    package_env: dict[str, str] = {}
    for c in containers:
        package_env.update({str(k): str(v) for k, v in (c.get("Environment") or {}).items()})
    for key, value in (spec.get("Environment") or {}).items():
        if redirects(str(key), str(value)) and package_env.get(str(key)) != str(value):
            return f"Container environment {key}={value} points it at something the package does not name."
    return None


def evaluate_container(
    spec: Mapping[str, Any], packages: PackageCache, policy: PackagePolicy | None = None, account_id: str = ""
) -> ContainerResult:
    declared = spec.get("ModelPackageName")
    if not declared:
        source = spec.get("ModelDataUrl") or spec.get("Image") or "an unregistered image"
        return ContainerResult(
            None, None, Verdict.UNREGISTERED, f"Container serves {source} without a ModelPackageName."
        )
    if policy and str(declared).startswith("arn:"):
        # Judge the ARN's account and group before describing it: a package the audit role may not read
        # (another account) is refused for where it comes from, not reported as unreadable.
        refused = policy.refusal(str(declared), account_id)
        if refused:
            return ContainerResult(
                str(declared), None, Verdict.FOREIGN_PACKAGE, refused, declared_package=str(declared)
            )
    found = packages.lookup(str(declared))
    if isinstance(found, ResourceNotFound):
        return ContainerResult(
            None,
            None,
            Verdict.PACKAGE_NOT_FOUND,
            f"ModelPackageName '{declared}' does not resolve to a model package in the registry.",
            declared_package=str(declared),
        )
    if isinstance(found, Exception):
        return ContainerResult(
            None,
            None,
            Verdict.ERROR,
            f"Model package '{declared}' could not be read: {found}.",
            declared_package=str(declared),
        )
    arn = str(found.get("ModelPackageArn") or declared)
    status = found.get("ModelApprovalStatus")
    if status == "Approved":
        refused = policy.refusal(arn, account_id) if policy else None
        if refused:
            return ContainerResult(arn, status, Verdict.FOREIGN_PACKAGE, refused, declared_package=str(declared))
        training = provenance(found.get("CustomerMetadataProperties") or {})
        mismatch = artifact_mismatch(spec, found)
        if mismatch:
            return ContainerResult(
                arn, status, Verdict.ARTIFACT_MISMATCH, mismatch, declared_package=str(declared), training=training
            )
        problems = packages.pin_problems(arn, found)
        for kind, verdict in (
            ("mismatch", Verdict.ARTIFACT_MISMATCH),
            ("unverified", Verdict.ERROR),
            ("unpinned_image", Verdict.UNPINNED_IMAGE),
            ("unpinned_model_data", Verdict.UNPINNED_MODEL_DATA),
        ):
            reasons = [p.reason for p in problems if p.kind == kind]
            if reasons:
                return ContainerResult(
                    arn, status, verdict, " ".join(reasons), declared_package=str(declared), training=training
                )
        unpinned = " ".join(p.reason for p in problems if p.kind == "unpinned_artifact") or None
        return ContainerResult(
            arn, status, Verdict.COMPLIANT, declared_package=str(declared), training=training, unpinned=unpinned
        )
    eligible = (
        status in ("PendingManualApproval", "Rejected")
        and str((found.get("CustomerMetadataProperties") or {}).get("shadow_ctr_eligible", "")).lower() == "true"
        and (policy is None or policy.refusal(arn, account_id) is None)
        and artifact_mismatch(spec, found) is None
    )
    return ContainerResult(
        arn,
        status,
        Verdict.UNAPPROVED,
        f"Model package {arn} has approval status {status or 'unknown'}, not Approved.",
        declared_package=str(declared),
        eligible_candidate=eligible,
    )


def _variants_of(config: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    production = [("production", v) for v in config.get("ProductionVariants") or []]
    shadow = [("shadow", v) for v in config.get("ShadowProductionVariants") or []]
    return production + shadow


@dataclass
class AuditContext:
    """What every container of one endpoint is judged against."""

    packages: PackageCache
    policy: PackagePolicy | None = None
    account_id: str = ""
    deployed_at: Any = None  # the config's (or component's) creation: a model newer than this is not what serves
    deployed_images: Mapping[str, list[str]] = field(default_factory=dict)  # variant -> resolved images


def _model_result(
    result: VariantResult, model_name: str, reader: LineageReader, ctx: AuditContext, what: str
) -> VariantResult:
    try:
        model = reader.describe_model(model_name)
    except ResourceNotFound:
        result.verdict = Verdict.ERROR
        result.evidence_missing = True
        result.reasons.append(
            f"{what} serves model {model_name}, which no longer exists; its lineage cannot be verified."
        )
        return result
    except ReadFailure as exc:
        result.verdict = Verdict.ERROR
        result.reasons.append(f"Model {model_name} of {what} could not be read: {exc}.")
        return result
    specs = container_specs(model)
    if not specs:
        result.verdict = Verdict.ERROR
        result.reasons.append(f"Model {model_name} of {what} describes no container.")
        return result
    for spec in specs:
        container = evaluate_container(spec, ctx.packages, ctx.policy, ctx.account_id)
        result.containers.append(container)
        if container.reason:
            result.reasons.append(f"{what} (model {model_name}): {container.reason}")
    result.verdict = worst(c.verdict for c in result.containers)
    created = model.get("CreationTime")
    if ctx.deployed_at is not None and created is not None and _later(created, ctx.deployed_at):
        result.verdict = worst([result.verdict, Verdict.ARTIFACT_MISMATCH])
        result.reasons.append(
            f"{what}: model {model_name} was created after what serves it was deployed, so it is not what "
            "serves; the deployed model was deleted and re-created under a live endpoint."
        )
    _check_deployed_images(result, ctx, what)
    return result


def _later(a: Any, b: Any) -> bool:
    try:
        return bool(a > b)
    except TypeError:
        return False


def _check_deployed_images(result: VariantResult, ctx: AuditContext, what: str) -> None:
    """DescribeEndpoint's resolved image digests must be the packages' digests, where packages pin them."""
    resolved = ctx.deployed_images.get(result.variant_name) or []
    digests: set[str] = set()
    for container in result.containers:
        if container.model_package_arn:
            found = ctx.packages.lookup(container.model_package_arn)
            if not isinstance(found, Exception):
                digests |= _package_artifacts(found)[1]
    if not digests:
        return
    foreign = [image for image in resolved if image.partition("@")[2] not in digests]
    if foreign:
        result.verdict = worst([result.verdict, Verdict.ARTIFACT_MISMATCH])
        result.reasons.append(
            f"{what}: the deployed image {foreign[0]} is not an image of its package ({', '.join(sorted(digests))})."
        )


def evaluate_variant(
    kind: str, variant: Mapping[str, Any], reader: LineageReader, ctx: AuditContext, deployment: str = "current"
) -> VariantResult:
    name = str(variant.get("VariantName") or "<unnamed>")
    model_name = variant.get("ModelName")
    result = VariantResult(variant_name=name, kind=kind, model_name=model_name, deployment=deployment)
    if not model_name:
        return result  # hosts inference components (judged on their own) or nothing at all
    label = f"{'Pending ' if deployment == 'pending' else ''}{kind} variant {name}"
    return _model_result(result, str(model_name), reader, ctx, label[0].upper() + label[1:])


def evaluate_component(name: str, reader: LineageReader, ctx: AuditContext) -> VariantResult:
    """An inference component is judged like a variant: its model, or the raw container it names."""
    result = VariantResult(variant_name="", kind="production", model_name=None, component_name=name)
    what = f"Inference component {name}"
    try:
        component = reader.describe_inference_component(name)
    except ResourceNotFound:
        result.reasons.append(f"{what} was deleted while the endpoint was audited.")
        return result
    except ReadFailure as exc:
        result.verdict = Verdict.ERROR
        result.reasons.append(f"{what} could not be read: {exc}.")
        return result
    result.variant_name = str(component.get("VariantName") or "")
    specs = [component.get("Specification") or {}, *(component.get("Specifications") or [])]
    # Its resolved digest, as DescribeEndpoint's DeployedImages for a variant: a re-pushed tag is other bytes.
    images = [(sp.get("Container") or {}).get("DeployedImage") or {} for sp in specs]
    judged = AuditContext(
        ctx.packages,
        ctx.policy,
        ctx.account_id,
        component.get("LastModifiedTime") or component.get("CreationTime"),
        {result.variant_name: [str(i["ResolvedImage"]) for i in images if i.get("ResolvedImage")]},
    )
    named = [sp for sp in specs if sp.get("ModelName")]
    raw = [sp for sp in specs if not sp.get("ModelName") and sp.get("Container")]
    if named and not raw:
        result.model_name = str(named[0]["ModelName"])
        for extra in named[1:]:
            if extra["ModelName"] != result.model_name:
                sub = _model_result(
                    VariantResult(result.variant_name, "production", str(extra["ModelName"])),
                    str(extra["ModelName"]),
                    reader,
                    judged,
                    what,
                )
                result.containers += sub.containers
                result.reasons += sub.reasons
        result = _model_result(result, result.model_name, reader, judged, what)
        for sp in named:
            override = {
                k: v for k, v in (sp.get("Container") or {}).items() if k in ("ArtifactUrl", "Image", "Environment")
            }
            if override:
                result.verdict = worst([result.verdict, Verdict.ARTIFACT_MISMATCH])
                result.reasons.append(
                    f"{what} names model {sp['ModelName']} but overrides it with its own "
                    f"{', '.join(sorted(override))}: what serves is not the model's artifact."
                )
        return result
    spec = raw[0] if raw else specs[0]
    container = spec.get("Container") or {}
    source = container.get("ArtifactUrl") or container.get("Image") or "a container"
    base = spec.get("BaseInferenceComponentName")
    on_base = f" on top of base component {base}" if base else ""
    unregistered = ContainerResult(None, None, Verdict.UNREGISTERED, f"serves {source}{on_base} without a model.")
    result.containers.append(unregistered)
    result.verdict = Verdict.UNREGISTERED
    result.reasons.append(
        f"{what} serves {source}{on_base} directly, with no model and so no ModelPackageName: not a registry version."
    )
    return result


def _tag_mismatch_reason(tags: Mapping[str, str], variants: list[VariantResult], complete: bool) -> str | None:
    """`complete`: every configuration and model was read. Otherwise what serves is unknown (the verdict is
    ERROR), so a tag cannot be said to disagree with it."""
    # Tag keys are read case-insensitively, as IAM's condition keys compare them.
    claimed = next((v for k, v in tags.items() if k.lower() == GOVERNANCE_TAG.lower()), None)
    if claimed is None or not complete:
        return None
    real: set[str] = set()
    for variant in variants:
        for container in variant.containers:
            real.update(x for x in (container.model_package_arn, container.declared_package) if x)
    if claimed in real:
        return None
    lineage = ", ".join(sorted(real)) if real else "no registered package"
    return (
        f"Endpoint tag {GOVERNANCE_TAG}={claimed} disagrees with the deployed lineage ({lineage}); "
        "the tag is a claim, not proof, and is ignored for the verdict."
    )


def _deployed_images(endpoint: Mapping[str, Any], key: str = "ProductionVariants") -> dict[str, list[str]]:
    return {
        str(v.get("VariantName")): [
            str(i["ResolvedImage"]) for i in v.get("DeployedImages") or [] if i.get("ResolvedImage")
        ]
        for v in endpoint.get(key) or []
    }


def _names(variants: Any) -> set[str]:
    return {str(v.get("VariantName")) for v in variants or []}


def stamp(value: Any) -> str | None:
    return None if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)


def _replaced_config(config: Mapping[str, Any], endpoint: Mapping[str, Any], recorded: str | None) -> str | None:
    """Why the configuration now bearing the endpoint's configuration name is not the one deployed (it can be
    deleted and made again under a live endpoint), or None. `recorded`: its CreationTime when deployed, or None."""
    name = endpoint.get("EndpointConfigName")
    created, changed = config.get("CreationTime"), endpoint.get("LastModifiedTime")
    why = f"was created at {created}, after the endpoint last changed ({changed})"
    if created is None or changed is None or not _later(created, changed):
        why = ""
        # Listed once in service (not while Creating); moto leaves shadows out.
        for key in ("ProductionVariants", "ShadowProductionVariants"):
            served, named = _names(endpoint.get(key)), _names(config.get(key))
            if served and served != named:
                why = f"names {key} {', '.join(sorted(named)) or 'none'}, the endpoint {', '.join(sorted(served))}"
    # A weight call moves LastModifiedTime, not what serves: the deploy-time record still tells.
    unread = recorded[1:] if recorded and recorded[0] == "<" else None
    if not why and recorded == "":
        why = "had already been re-created or deleted when the audit of its deployment read it"
    elif not why and unread and created is not None and _later(created, datetime.fromisoformat(unread)):
        why = f"was created at {stamp(created)}, after the audit of its deployment ({unread}) could not read it"
    elif not why and recorded and not unread and created is not None and stamp(created) != recorded:
        why = f"was created at {stamp(created)}, not at {recorded} as when the audit of its deployment read it"
    if not why:
        return None
    return (
        f"Endpoint configuration {name} {why}: it was re-created under the live endpoint's configuration name, so "
        "it is not what serves and what serves cannot be read."
    )


def _config_variants(
    audit: EndpointAudit,
    reader: LineageReader,
    config_name: Any,
    ctx: AuditContext,
    deployment: str,
    endpoint: Mapping[str, Any] | None = None,
    recorded: Mapping[str, str] | None = None,
) -> bool:
    """Judge every variant of one configuration; False when it cannot be read. `endpoint`: the one it serves;
    `recorded`: configuration name -> CreationTime when deployed."""
    label = "Pending endpoint configuration" if deployment == "pending" else "Endpoint configuration"
    try:
        if not config_name:
            raise ResourceNotFound("endpoint names no endpoint configuration")
        config = reader.describe_endpoint_config(str(config_name))
    except (ResourceNotFound, ReadFailure) as exc:
        audit.evidence_missing = audit.evidence_missing or isinstance(exc, ResourceNotFound)
        if config_name:
            # For a deploy call's record: gone is "", unreadable "<" and now (one created later is not what deployed).
            gone = isinstance(exc, ResourceNotFound)
            audit.configs_read[str(config_name)] = "" if gone else f"<{datetime.now(UTC).isoformat()}"
        audit.reasons.append(
            f"{label} {config_name or '<none>'} could not be read ({exc}); lineage cannot be verified."
        )
        return False
    variants = _variants_of(config)
    if not variants:
        audit.reasons.append(f"{label} {config_name} lists no variants.")
        return False
    known = (recorded or {}).get(str(config_name))
    replaced = _replaced_config(config, endpoint, known) if endpoint is not None else None
    if replaced:
        audit.config_replaced = audit.evidence_missing = True
        audit.configs_read[str(config_name)] = ""
        audit.reasons.append(
            f"{replaced} Next: `aws sagemaker describe-endpoint --endpoint-name {audit.endpoint_name}` shows what "
            "serves; redeploy an Approved package through the deployment pipeline."
        )
        return True
    created = stamp(config.get("CreationTime"))
    if created:
        audit.configs_read[str(config_name)] = created
    # A configuration cannot change and must name existing models: a model created after it was
    # deleted and re-created since, so it is not what serves.
    judged = AuditContext(ctx.packages, ctx.policy, ctx.account_id, config.get("CreationTime"), ctx.deployed_images)
    for kind, variant in variants:
        audit.variants.append(evaluate_variant(kind, variant, reader, judged, deployment))
    return True


def _mark_under_evaluation(
    audit: EndpointAudit, endpoint: Mapping[str, Any], policy: PackagePolicy | None, runs: ChallengerRuns | None
) -> None:
    """The challenger stage's deliberate exception, exactly as docs/lineage-audit.md's UNDER_EVALUATION row states
    it: the shape, and a RUNNING challenger execution started for it (`runs`), since the shape alone is anyone's to
    build. No verifier: UNAPPROVED; one that cannot answer: ERROR."""
    if not policy or policy.evaluation_share <= 0:
        return
    current = [v for v in audit.variants if v.kind == "production" and v.deployment == "current"]
    live = {str(v.get("VariantName")): v for v in endpoint.get("ProductionVariants") or []}
    weights = {k: float(v.get("CurrentWeight") or 0) for k, v in live.items()}
    total = sum(weights.get(v.variant_name, 0.0) for v in current)
    if len(current) != 2 or total <= 0 or not any(v.verdict is Verdict.COMPLIANT for v in current):
        return
    updating = endpoint.get("EndpointStatus") == "Updating"
    for variant in current:
        share = weights.get(variant.variant_name, 0.0) / total
        desired = live.get(variant.variant_name, {}).get("DesiredWeight")
        desired = share if desired is None else float(desired)
        # Rejected: weight 0, or set to 0 by the weight call still applying (reject sets the weight first).
        rejected = any(c.approval_status == "Rejected" for c in variant.containers)
        if (
            variant.verdict is Verdict.UNAPPROVED
            and variant.containers
            and all(c.eligible_candidate for c in variant.containers)
            and (desired <= 0 and (share <= 0 or updating) if rejected else share <= policy.evaluation_share + 1e-9)
        ):
            _judge_candidate(audit, variant, share, runs, "Rejected" if rejected else "PendingManualApproval")


def _judge_candidate(
    audit: EndpointAudit, variant: VariantResult, share: float, runs: ChallengerRuns | None, status: str
) -> None:
    """A variant shaped like the challenger: UNDER_EVALUATION only for a RUNNING execution started for it."""
    packages = sorted({str(c.model_package_arn) for c in variant.containers})
    served = (
        f"Production variant {variant.variant_name} serves {status} {', '.join(packages)} on {share:.0%} of traffic"
    )
    if runs is None:
        variant.reasons.append(
            f"{served}, shaped like a challenger, but no challenger experiment can be verified from here (the "
            "product's challenger runs in the governance account's own region only): not under evaluation."
        )
        return
    command = f"`mlgov challenger status --endpoint {audit.endpoint_name} --region {audit.region}`"
    listing = (
        f"`aws stepfunctions list-executions --state-machine-arn {runs.machine_arn} --status-filter RUNNING "
        f"--region {audit.region}`"
    )
    try:
        running = all(runs.running(audit.endpoint_name, arn, variant.variant_name) for arn in packages)
    except ReadFailure as exc:
        variant.verdict = Verdict.ERROR
        variant.reasons.append(
            f"{served}; whether a challenger experiment is running for it could not be verified ({exc}), so it is "
            f"not counted as under evaluation. Check: {listing} lists a RUNNING execution started for the package "
            f"and {command} shows the experiment; the audit role needs states:ListExecutions and "
            f"states:DescribeExecution on {runs.machine_arn}."
        )
        return
    if not running:
        variant.reasons.append(
            f"{served}, but no RUNNING execution of {runs.machine_arn} was started for it on this endpoint: the "
            f"experiment was stopped, aborted or timed out (or never ran), and the unapproved model keeps its share "
            f"of live traffic. Check with {listing}."
        )
        return
    variant.verdict = Verdict.UNDER_EVALUATION
    then = "its run is removing it" if status == "Rejected" else "the challenger CTR test approves or rejects it"
    variant.reasons = [
        f"Production variant {variant.variant_name} is a challenger under evaluation: its package passed the "
        f"offline gate and is {status}, on {share:.0%} of traffic, and a RUNNING execution of "
        f"{runs.machine_arn} was started for it; {then} ({command})."
    ]


def audit_endpoint(
    reader: LineageReader,
    endpoint_name: str,
    account_id: str,
    region: str,
    exemptions: ExemptionPolicy,
    packages: PackageCache,
    account_ous: Iterable[str] = (),
    policy: PackagePolicy | None = None,
    challenger_runs: ChallengerRuns | None = None,
    recorded: Mapping[str, Any] | None = None,
) -> EndpointAudit:
    """Audit one endpoint: its variants, an update in flight, and its inference components. `recorded`: its
    deployment record (serving index). Raises ResourceNotFound only if the endpoint itself is gone."""
    endpoint = reader.describe_endpoint(endpoint_name)
    audit = EndpointAudit(
        endpoint_name=endpoint_name,
        endpoint_arn=endpoint.get("EndpointArn"),
        account_id=account_id,
        region=region,
        verdict=Verdict.COMPLIANT,
        endpoint_created=stamp(endpoint.get("CreationTime")),
    )
    # A record of an earlier endpoint of this name says nothing.
    same = recorded and audit.endpoint_created and recorded.get("endpoint_created") == audit.endpoint_created
    configs = recorded.get("configs") if recorded and same else None
    if audit.endpoint_arn:
        try:
            audit.tags = reader.list_endpoint_tags(str(audit.endpoint_arn))
        except (ReadFailure, ResourceNotFound) as exc:
            audit.reasons.append(f"Endpoint tags could not be read ({exc}); tag checks skipped.")

    deployed = {**_deployed_images(endpoint), **_deployed_images(endpoint, "ShadowProductionVariants")}
    ctx = AuditContext(packages, policy, account_id, None, deployed)
    readable = _config_variants(audit, reader, endpoint.get("EndpointConfigName"), ctx, "current", endpoint, configs)
    pending = endpoint.get("PendingDeploymentSummary") or {}
    if pending.get("EndpointConfigName"):
        # A blue/green update in flight: the new fleet takes (canary) traffic before the update completes.
        pending_ctx = AuditContext(packages, policy, account_id, None, _deployed_images(pending))
        readable = _config_variants(audit, reader, pending["EndpointConfigName"], pending_ctx, "pending") and readable

    # Inference components sit on variants without a model; an endpoint whose every variant names one
    # cannot host any, so its list call is skipped (an unreadable configuration still lists).
    may_host = not readable or audit.config_replaced or any(not v.model_name for v in audit.variants)
    try:
        names = list(reader.list_inference_component_names(endpoint_name)) if may_host else []
    except ReadFailure as exc:
        readable = False
        names = []
        audit.reasons.append(f"Inference components of the endpoint could not be listed ({exc}).")
    except ResourceNotFound:
        names = []
    audit.inference_components = [evaluate_component(name, reader, ctx) for name in names]

    _mark_under_evaluation(audit, endpoint, policy, challenger_runs)
    for result in [*audit.variants, *audit.inference_components]:
        audit.reasons.extend(result.reasons)
        audit.evidence_missing = audit.evidence_missing or result.evidence_missing
    judged = [*audit.variants, *audit.inference_components]
    audit.verdict = worst(
        [
            *(r.verdict for r in judged),
            *([] if readable else [Verdict.ERROR]),
            *([Verdict.ARTIFACT_MISMATCH] if audit.config_replaced else []),
        ]
    )
    serves = any(v.model_name for v in audit.variants) or bool(audit.inference_components)
    if readable and audit.variants and not serves:
        audit.verdict = Verdict.NO_MODEL
        audit.reasons.append(
            "The endpoint serves nothing: its variants name no model and it hosts no inference component."
        )

    # A variant or component that is ERROR with no container read (its model unreadable or deleted) names nothing.
    complete = (
        readable
        and not audit.config_replaced
        and not any(r.verdict is Verdict.ERROR and not r.containers for r in judged)
    )
    mismatch = _tag_mismatch_reason(audit.tags, judged, complete)
    if mismatch:
        audit.reasons.append(mismatch)

    exempt, exemption_reason = exemptions.decide(endpoint_name, account_id, account_ous)
    if exemption_reason:
        audit.reasons.insert(0, exemption_reason)
    if exempt:
        audit.verdict = Verdict.EXEMPT
    return audit


@dataclass
class AuditSummary:
    total: int = 0
    compliant: int = 0
    violations: int = 0
    exempt: int = 0
    errors: int = 0
    no_model: int = 0
    under_evaluation: int = 0

    @classmethod
    def of(cls, audits: Iterable[EndpointAudit]) -> AuditSummary:
        summary = cls()
        for audit in audits:
            summary.total += 1
            if audit.verdict is Verdict.COMPLIANT:
                summary.compliant += 1
            elif audit.verdict is Verdict.EXEMPT:
                summary.exempt += 1
            elif audit.verdict is Verdict.ERROR:
                summary.errors += 1
            elif audit.verdict is Verdict.NO_MODEL:
                summary.no_model += 1
            elif audit.verdict is Verdict.UNDER_EVALUATION:
                summary.under_evaluation += 1
            else:
                summary.violations += 1
        return summary

    def to_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "compliant": self.compliant,
            "violations": self.violations,
            "exempt": self.exempt,
            "errors": self.errors,
            "no_model": self.no_model,
            "under_evaluation": self.under_evaluation,
        }
