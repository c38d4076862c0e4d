"""Endpoint lineage verdicts: endpoint -> config -> variants -> models -> containers -> registry.

Pure logic. The reader that fetches SageMaker descriptions is injected (see LineageReader);
its failures arrive as the domain exceptions defined here, never as boto3 errors.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

GOVERNANCE_TAG = "ModelPackageName"


class Verdict(enum.StrEnum):
    COMPLIANT = "COMPLIANT"
    UNREGISTERED = "UNREGISTERED"
    UNAPPROVED = "UNAPPROVED"
    PACKAGE_NOT_FOUND = "PACKAGE_NOT_FOUND"
    EXEMPT = "EXEMPT"
    ERROR = "ERROR"


# The worst verdict among containers decides. A definite violation outranks "could not read":
# an endpoint with one unregistered container is reported as UNREGISTERED even if another
# container could not be read.
_RANK = {
    Verdict.COMPLIANT: 0,
    Verdict.ERROR: 1,
    Verdict.UNAPPROVED: 2,
    Verdict.PACKAGE_NOT_FOUND: 3,
    Verdict.UNREGISTERED: 4,
}

VIOLATIONS = frozenset({Verdict.UNREGISTERED, Verdict.UNAPPROVED, Verdict.PACKAGE_NOT_FOUND})


class ResourceNotFound(Exception):
    """The resource does not exist (deleted, or never existed)."""


class ReadFailure(Exception):
    """The resource could not be read: access denied, throttled after retries, service error."""


class LineageReader(Protocol):
    """What the audit needs from SageMaker; adapters implement it, tests fake it."""

    def describe_endpoint(self, name: str) -> Mapping[str, Any]: ...
    def describe_endpoint_config(self, name: str) -> Mapping[str, Any]: ...
    def describe_model(self, name: str) -> Mapping[str, Any]: ...
    def describe_model_package(self, name_or_arn: str) -> Mapping[str, Any]: ...
    def list_endpoint_tags(self, endpoint_arn: str) -> dict[str, str]: ...
    def list_endpoint_names(self) -> Iterable[str]: ...


@dataclass(frozen=True)
class ExemptionPolicy:
    """Experiment exemptions: a name prefix that only counts in the listed accounts/OUs."""

    endpoint_name_prefix: str = "experiment-"
    account_ids: frozenset[str] = frozenset()
    organizational_unit_ids: frozenset[str] = frozenset()

    def decide(self, endpoint_name: str, account_id: str, account_ous: Iterable[str]) -> tuple[bool, str | None]:
        """Return (exempt, reason). The reason explains a refused exemption, too."""
        if not self.endpoint_name_prefix or not endpoint_name.startswith(self.endpoint_name_prefix):
            return False, None
        if account_id in self.account_ids:
            return True, f"Name prefix '{self.endpoint_name_prefix}' is exempt in experiment account {account_id}."
        matched = sorted(set(account_ous) & self.organizational_unit_ids)
        if matched:
            return True, (
                f"Name prefix '{self.endpoint_name_prefix}' is exempt in experiment OU {matched[0]} "
                f"(account {account_id})."
            )
        return False, (
            f"Name prefix '{self.endpoint_name_prefix}' is not exempt in account {account_id}: "
            "it is not an experiment account or in an experiment OU."
        )

    @property
    def needs_ou_lookup(self) -> bool:
        return bool(self.organizational_unit_ids)


@dataclass
class ContainerResult:
    model_package_arn: str | None
    approval_status: str | None
    verdict: Verdict
    reason: str | None = None
    # What the container named, when it differs from the resolved ARN (a name, or unresolved).
    declared_package: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"model_package_arn": self.model_package_arn, "approval_status": self.approval_status}


@dataclass
class VariantResult:
    variant_name: str
    kind: str  # production | shadow
    model_name: str | None
    containers: list[ContainerResult] = field(default_factory=list)
    verdict: Verdict = Verdict.COMPLIANT
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant_name": self.variant_name,
            "kind": self.kind,
            "model_name": self.model_name,
            "containers": [c.to_dict() for c in self.containers],
        }


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

    @property
    def is_violation(self) -> bool:
        return self.verdict in VIOLATIONS

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint_name": self.endpoint_name,
            "endpoint_arn": self.endpoint_arn,
            "account_id": self.account_id,
            "region": self.region,
            "verdict": self.verdict.value,
            "reasons": list(self.reasons),
            "variants": [v.to_dict() for v in self.variants],
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

    def __init__(self, reader: LineageReader, account_id: str, region: str) -> None:
        self._reader = reader
        self._account_id = account_id
        self._region = region
        self._by_key: dict[str, Mapping[str, Any] | Exception] = {}
        self.describe_calls = 0

    def _arn_for_name(self, name: str) -> str:
        # Versioned packages are named "group/version"; the ARN is the only form describe accepts.
        return f"arn:aws:sagemaker:{self._region}:{self._account_id}:model-package/{name.lower()}"

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
                result = self._reader.describe_model_package(candidate)
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


def evaluate_container(spec: Mapping[str, Any], packages: PackageCache) -> ContainerResult:
    declared = spec.get("ModelPackageName")
    if not declared:
        source = spec.get("ModelDataUrl") or spec.get("Image") or "an unregistered image"
        return ContainerResult(
            None, None, Verdict.UNREGISTERED, f"Container serves {source} without a ModelPackageName."
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
        return ContainerResult(arn, status, Verdict.COMPLIANT, declared_package=str(declared))
    return ContainerResult(
        arn,
        status,
        Verdict.UNAPPROVED,
        f"Model package {arn} has approval status {status or 'unknown'}, not Approved.",
        declared_package=str(declared),
    )


def _variants_of(config: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    production = [("production", v) for v in config.get("ProductionVariants") or []]
    shadow = [("shadow", v) for v in config.get("ShadowProductionVariants") or []]
    return production + shadow


def evaluate_variant(
    kind: str, variant: Mapping[str, Any], reader: LineageReader, packages: PackageCache
) -> VariantResult:
    name = str(variant.get("VariantName") or "<unnamed>")
    model_name = variant.get("ModelName")
    result = VariantResult(variant_name=name, kind=kind, model_name=model_name)
    if not model_name:
        result.verdict = Verdict.ERROR
        result.reasons.append(
            f"Variant {name} names no model (inference components are not audited yet); lineage unknown."
        )
        return result
    try:
        model = reader.describe_model(str(model_name))
    except ResourceNotFound:
        result.verdict = Verdict.ERROR
        result.reasons.append(
            f"Variant {name} serves model {model_name}, which no longer exists; its lineage cannot be verified."
        )
        return result
    except ReadFailure as exc:
        result.verdict = Verdict.ERROR
        result.reasons.append(f"Model {model_name} of variant {name} could not be read: {exc}.")
        return result
    specs = container_specs(model)
    if not specs:
        result.verdict = Verdict.ERROR
        result.reasons.append(f"Model {model_name} of variant {name} describes no container.")
        return result
    for spec in specs:
        container = evaluate_container(spec, packages)
        result.containers.append(container)
        if container.reason:
            result.reasons.append(f"{kind.capitalize()} variant {name} (model {model_name}): {container.reason}")
    result.verdict = worst(c.verdict for c in result.containers)
    return result


def _tag_mismatch_reason(tags: Mapping[str, str], variants: list[VariantResult]) -> str | None:
    claimed = tags.get(GOVERNANCE_TAG)
    if claimed is None:
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


def audit_endpoint(
    reader: LineageReader,
    endpoint_name: str,
    account_id: str,
    region: str,
    exemptions: ExemptionPolicy,
    packages: PackageCache,
    account_ous: Iterable[str] = (),
) -> EndpointAudit:
    """Audit one endpoint. Raises ResourceNotFound only if the endpoint itself is gone."""
    endpoint = reader.describe_endpoint(endpoint_name)
    audit = EndpointAudit(
        endpoint_name=endpoint_name,
        endpoint_arn=endpoint.get("EndpointArn"),
        account_id=account_id,
        region=region,
        verdict=Verdict.COMPLIANT,
    )
    if audit.endpoint_arn:
        try:
            audit.tags = reader.list_endpoint_tags(str(audit.endpoint_arn))
        except (ReadFailure, ResourceNotFound) as exc:
            audit.reasons.append(f"Endpoint tags could not be read ({exc}); tag checks skipped.")

    config_name = endpoint.get("EndpointConfigName")
    try:
        if not config_name:
            raise ResourceNotFound("endpoint names no endpoint configuration")
        config = reader.describe_endpoint_config(str(config_name))
    except (ResourceNotFound, ReadFailure) as exc:
        audit.verdict = Verdict.ERROR
        audit.reasons.append(
            f"Endpoint configuration {config_name or '<none>'} could not be read ({exc}); lineage cannot be verified."
        )
        config = None

    if config is not None:
        variants = _variants_of(config)
        if not variants:
            audit.verdict = Verdict.ERROR
            audit.reasons.append(f"Endpoint configuration {config_name} lists no variants.")
        for kind, variant in variants:
            audit.variants.append(evaluate_variant(kind, variant, reader, packages))
        for result in audit.variants:
            audit.reasons.extend(result.reasons)
        if audit.variants:
            audit.verdict = worst(v.verdict for v in audit.variants)

    mismatch = _tag_mismatch_reason(audit.tags, audit.variants)
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
        }
