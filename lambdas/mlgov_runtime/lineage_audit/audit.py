"""Run endpoint audits and turn verdicts into findings. Shared by the audit Lambda and `mlgov audit`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlgov_runtime.core.exemptions import ExemptionPolicy
from mlgov_runtime.core.findings import Finding, FindingSink, store_and_publish
from mlgov_runtime.lineage_audit.findings import (
    KIND_ENDPOINT_AUDIT_ERROR,
    KIND_UNREGISTERED_ENDPOINT,
    finding_from_audit,
    kinds_to_close,
    resolution,
)
from mlgov_runtime.lineage_audit.logic import (
    ChallengerRuns,
    EndpointAudit,
    LineageReader,
    PackageCache,
    PackagePolicy,
    ReadFailure,
    ResourceNotFound,
    Verdict,
    audit_endpoint,
)
from mlgov_runtime.lineage_audit.pins import PinProblem, PinReader

OuResolver = Callable[[str], Sequence[str]]


@dataclass
class EndpointOutcome:
    endpoint_name: str
    outcome: str  # audited | endpoint_not_found | endpoint_unreadable
    audit: EndpointAudit | None = None
    published: list[Finding] = field(default_factory=list)
    message: str = ""


def _gone(endpoint_name: str, account_id: str, region: str, why: str) -> EndpointAudit:
    return EndpointAudit(endpoint_name, None, account_id, region, Verdict.ERROR, [why])


class SharedPackageCache(PackageCache):
    """A PackageCache that endpoints audited on several threads share: one describe and one read of
    its pins (S3 HeadObject / ECR DescribeImages) per package."""

    def __init__(self, reader: LineageReader, account_id: str, region: str, pins: PinReader | None = None) -> None:
        super().__init__(reader, account_id, region, pins)
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def lookup(self, declared: str) -> Mapping[str, Any] | Exception:
        with self._lock(declared):
            return super().lookup(declared)

    def pin_problems(self, arn: str, package: Mapping[str, Any]) -> list[PinProblem]:
        with self._lock(f"pins:{arn}"):
            return super().pin_problems(arn, package)


class EndpointAuditor:
    """Audits endpoints of one account/region; describes each model package once per run."""

    def __init__(
        self,
        reader: LineageReader,
        account_id: str,
        region: str,
        exemptions: ExemptionPolicy,
        ou_resolver: OuResolver | None = None,
        policy: PackagePolicy | None = None,
        pins: PinReader | None = None,
        registry: tuple[str, LineageReader] | None = None,
        challenger_runs: ChallengerRuns | None = None,
    ) -> None:
        self.reader = reader
        # endpoint name -> its deployment record (the real-time audit's serving index), None: not kept here.
        self.deployments: Callable[[str], Mapping[str, Any] | None] | None = None
        # Where the product's challenger runs: only a RUNNING execution makes a candidate UNDER_EVALUATION.
        self.challenger_runs = challenger_runs
        self.policy = policy
        self.account_id = account_id
        self.region = region
        self.exemptions = exemptions
        self.packages: PackageCache = SharedPackageCache(reader, account_id, region, pins)
        if registry is not None:
            self.packages.registry = registry
        self._ou_resolver = ou_resolver
        self._ous: Sequence[str] | None = None
        self._ous_lock = threading.Lock()

    def _account_ous(self) -> Sequence[str]:
        with self._ous_lock:
            return self._read_ous()

    def _read_ous(self) -> Sequence[str]:
        if self._ous is None:
            self._ous = (
                self._ou_resolver(self.account_id) if self._ou_resolver and self.exemptions.needs_ou_lookup else ()
            )
        return self._ous

    def audit(self, endpoint_name: str) -> EndpointAudit:
        """Raises ResourceNotFound when the endpoint does not exist, ReadFailure when unreadable."""
        return audit_endpoint(
            self.reader,
            endpoint_name,
            self.account_id,
            self.region,
            self.exemptions,
            self.packages,
            self._account_ous() if endpoint_name.startswith(self.exemptions.endpoint_name_prefix) else (),
            self.policy,
            self.challenger_runs,
            self.deployments(endpoint_name) if self.deployments else None,
        )


def report_endpoint(auditor: EndpointAuditor, endpoint_name: str, sink: FindingSink, source: str) -> EndpointOutcome:
    """Audit one endpoint and store/publish what changed: a new finding, or the end of one."""
    try:
        audit = auditor.audit(endpoint_name)
    except ResourceNotFound:
        gone = _gone(endpoint_name, auditor.account_id, auditor.region, "The endpoint no longer exists.")
        outcome = EndpointOutcome(
            endpoint_name,
            "endpoint_not_found",
            message=f"Endpoint {endpoint_name} no longer exists in {auditor.account_id}/{auditor.region}; "
            "nothing to audit.",
        )
        for kind in kinds_to_close(Verdict.COMPLIANT):
            closing = resolution(gone, kind, source, "endpoint deleted")
            if store_and_publish(sink, closing):
                outcome.published.append(closing)
        return outcome
    except ReadFailure as exc:
        audit = _gone(endpoint_name, auditor.account_id, auditor.region, f"Endpoint could not be read: {exc}.")

    outcome = EndpointOutcome(endpoint_name, "audited", audit=audit)
    finding = finding_from_audit(audit, source)
    if finding is not None and store_and_publish(sink, finding):
        outcome.published.append(finding)
    # Evidence deleted or replaced under the live endpoint closes nothing, whatever the verdict.
    for kind in [] if audit.evidence_missing else kinds_to_close(audit.verdict):
        closing = resolution(audit, kind, source, audit.verdict.value.lower())
        if store_and_publish(sink, closing):
            outcome.published.append(closing)
    return outcome


class OpenFindings(Protocol):
    def open_findings(self, kinds: Iterable[str]) -> Iterable[dict[str, Any]]: ...


def close_vanished(
    ledger: OpenFindings, sink: FindingSink, present: Iterable[str], account_id: str, region: str, source: str
) -> list[Finding]:
    """After listing every endpoint of an account/region: resolve (once) the open findings of endpoints
    that no longer exist there, e.g. deleted while no DeleteEndpoint event reached the audit."""
    here = {name.lower() for name in present}
    closed: list[Finding] = []
    for item in ledger.open_findings((KIND_UNREGISTERED_ENDPOINT, KIND_ENDPOINT_AUDIT_ERROR)):
        if item.get("account_id") != account_id or item.get("region") != region:
            continue
        arn = str(item.get("resource_arn") or "")
        name = arn.rsplit(":endpoint/", 1)[-1] if ":endpoint/" in arn else ""
        if not name or name in here:
            continue
        gone = _gone(name, account_id, region, "The endpoint no longer exists.")
        closing = resolution(gone, str(item["kind"]), source, "endpoint deleted")
        if store_and_publish(sink, closing):
            closed.append(closing)
    return closed
