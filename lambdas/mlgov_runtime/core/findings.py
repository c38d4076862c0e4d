"""The finding: one shape for every detector (CONTRACTS.md), consumed by the notifier."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO")
SOURCES = ("realtime", "scheduled", "pipeline", "cli")

STATUS_OPEN = "OPEN"
STATUS_RESOLVED = "RESOLVED"


def finding_id(kind: str, account_id: str, region: str, resource_arn: str) -> str:
    """Stable across re-detections of the same problem on the same resource."""
    key = "|".join((kind, account_id, region, resource_arn))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def utc_now_iso() -> str:
    return iso(datetime.now(UTC))


@dataclass
class Finding:
    kind: str
    severity: str
    account_id: str
    region: str
    resource_arn: str
    title: str
    detail: str
    source: str
    evidence: dict[str, Any] = field(default_factory=dict)
    detected_at: str = field(default_factory=utc_now_iso)
    # Extension of the contract: OPEN while the problem stands, RESOLVED once it is gone.
    status: str = STATUS_OPEN

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")

    @property
    def finding_id(self) -> str:
        return finding_id(self.kind, self.account_id, self.region, self.resource_arn)

    def fingerprint(self) -> str:
        """Changes when what is wrong changes (not when it is merely seen again)."""
        material = json.dumps(
            {"severity": self.severity, "status": self.status, "evidence": self.evidence},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        return {"finding_id": self.finding_id, **body}


class FindingSink(Protocol):
    """Stores findings and publishes them on the governance channel."""

    def record(self, finding: Finding) -> bool:
        """Store the finding; True when this version of it has not been published yet.

        An OPEN finding is stored as it is; a RESOLVED one only closes an open finding of the
        same id (False when there was nothing open to close).
        """
        ...

    def publish(self, finding: Finding) -> None:
        """Publish on the governance channel and remember that this version went out."""
        ...


class BatchFindingSink(FindingSink, Protocol):
    """A sink that publishes many findings in few calls (the org scan's aggregate)."""

    def publish_batch(self, findings: Sequence[Finding]) -> list[Finding]:
        """Publish and remember each version that went out; those (the rest stay stored-but-unpublished)."""
        ...

    def mark_published(self, findings: Sequence[Finding], rolled_up_in: str | None = None) -> None:
        """Remember these versions as told (`rolled_up_in`: through that run's summary, not one by one)."""
        ...


def store_and_publish(sink: FindingSink, finding: Finding) -> bool:
    """Store the finding and publish it if this version has not gone out yet; True when published."""
    if not sink.record(finding):
        return False
    sink.publish(finding)
    return True


class EndpointVerdict(Protocol):
    """Which endpoint a check judged and its verdict, as every endpoint check records them."""

    @property
    def endpoint_name(self) -> str: ...
    @property
    def endpoint_arn(self) -> str | None: ...
    @property
    def account_id(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def verdict(self) -> Enum: ...


def endpoint_identity(record: EndpointVerdict) -> dict[str, Any]:
    """The keys every endpoint check's JSON row starts with (CONTRACTS.md: `mlgov audit` and its siblings)."""
    return {
        "endpoint_name": record.endpoint_name,
        "endpoint_arn": record.endpoint_arn,
        "account_id": record.account_id,
        "region": record.region,
        "verdict": record.verdict.value,
    }


class AuditedEndpoint(EndpointVerdict, Protocol):
    """An endpoint check's verdict with its reasons (lineage audit, capacity)."""

    @property
    def reasons(self) -> list[str]: ...


def endpoint_resolution(
    audit: AuditedEndpoint, resource_arn: str, kind: str, source: str, why: str, **evidence: Any
) -> Finding:
    """The finding that closes an open problem of this kind on the audited endpoint; `evidence` is added
    before the verdict and why."""
    return Finding(
        kind=kind,
        severity="INFO",
        account_id=audit.account_id,
        region=audit.region,
        resource_arn=resource_arn,
        title=f"Endpoint {audit.endpoint_name}: resolved ({why})",
        detail=" ".join(audit.reasons) or why,
        source=source,
        evidence={**evidence, "verdict": audit.verdict.value, "why": why},
        status=STATUS_RESOLVED,
    )
