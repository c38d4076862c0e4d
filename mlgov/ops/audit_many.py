"""`mlgov audit` over many endpoints: the lineage audit of each, some at a time, and the report's summary."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from mlgov_runtime.core.pool import bounded_map
from mlgov_runtime.lineage_audit.audit import EndpointAuditor, _gone
from mlgov_runtime.lineage_audit.logic import AuditSummary, EndpointAudit, ReadFailure, ResourceNotFound


def audit_many(
    auditor: EndpointAuditor,
    names: Iterable[str] | None = None,
    *,
    concurrency: int = 1,
    done: Callable[[str], None] | None = None,
) -> list[EndpointAudit]:
    """The named endpoints, or every endpoint when names is None, `concurrency` at a time (in listing order); one
    gone or unreadable is an ERROR audit, never a stop."""

    def one(name: str) -> EndpointAudit:
        try:
            return auditor.audit(name)
        except ResourceNotFound:
            return _gone(name, auditor.account_id, auditor.region, f"Endpoint {name} does not exist.")
        except ReadFailure as exc:
            return _gone(name, auditor.account_id, auditor.region, f"Endpoint {name} could not be read: {exc}.")

    listed = list(names if names is not None else auditor.reader.list_endpoint_names())
    return bounded_map(one, listed, concurrency, done=done, name="audit")


def summarize(audits: Iterable[EndpointAudit]) -> dict[str, Any]:
    audits = list(audits)
    return {"endpoints": [a.to_dict() for a in audits], "summary": AuditSummary.of(audits).to_dict()}
