"""The optional human step before a promotion (docs/challenger.md, "Human approval before promotion"): request,
a configured approver decides, verify the record's KMS MAC, then the state machine approves."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from mlgov_runtime.approvals.identity import person
from mlgov_runtime.approvals.logic import (
    APPROVED,
    PRODUCT_REQUESTER,
    ApprovalRequest,
    Macs,
    MalformedRecord,
    is_approver,
    iso,
    request_id_for,
    verified_decision,
)
from mlgov_runtime.challenger import findings as f
from mlgov_runtime.challenger.ports import Ports
from mlgov_runtime.core.findings import STATUS_RESOLVED, store_and_publish

RECORD_DAYS = 90


class Store(Protocol):
    def open_with_token(self, request: ApprovalRequest, token: str, expires_epoch: int) -> ApprovalRequest: ...

    def get(self, request_id: str) -> ApprovalRequest | None: ...


@dataclass(frozen=True)
class ApprovalGate:
    store: Store | None
    macs: Macs | None
    approvers: Mapping[str, Sequence[str]]
    expiry_hours: int


def bound(ch: Mapping[str, Any]) -> str:
    """What the approver was asked about: the package, the model that serves it and the experiment's config."""
    return json.dumps([ch["model_package_arn"], ch["challenger_model"], ch["experiment_config"]])


def request_approval(
    ports: Ports, gate: ApprovalGate, state: Mapping[str, Any], token: str, execution: str, now: datetime
) -> dict[str, Any]:
    """The token goes into the approvals store only; the finding carries the request id, never the token."""
    if gate.store is None:
        raise RuntimeError("require_human_approval is on but no approvals table is configured for this function")
    ch = state["challenger"]
    expires = now + timedelta(hours=gate.expiry_hours)
    request = ApprovalRequest(
        request_id=request_id_for(execution),
        decision="challenger",
        subject=ch["model_package_arn"],
        execution_arn=execution,
        requested_by=PRODUCT_REQUESTER,
        requested_at=iso(now),
        expires_at=iso(expires),
        bound=bound(ch),
    )
    stored = gate.store.open_with_token(request, token, int((expires + timedelta(days=RECORD_DAYS)).timestamp()))
    finding = f.approval_requested_finding(
        dict(ch), state["watch"]["result"], stored.request_id, stored.expires_at, ports.account_id, ports.region
    )
    store_and_publish(ports.findings, finding)
    return {"request_id": stored.request_id, "expires_at": stored.expires_at, "finding_id": finding.finding_id}


def approval_problem(gate: ApprovalGate, ch: Mapping[str, Any], execution: str) -> tuple[ApprovalRequest | None, str]:
    """The record this execution's request got, verified, or why it may not approve anything."""
    if gate.store is None or gate.macs is None:
        return None, "this function has no approvals table or MAC key configured to verify against"
    try:
        record = gate.store.get(request_id_for(execution))
    except MalformedRecord as exc:  # a refusal naming record and field, as any other bad record, not a step error
        return None, str(exc)
    if record is None:
        return None, f"no approval request was recorded for execution {execution}"
    if (record.decision, record.subject, record.execution_arn) != ("challenger", ch["model_package_arn"], execution):
        return None, f"approval {record.request_id} is for {record.decision} of {record.subject}, not this promotion"
    if record.requested_by != PRODUCT_REQUESTER or record.bound != bound(ch):
        return None, f"approval {record.request_id} was asked about something else than this experiment"
    if record.status != APPROVED or not record.decided_by:
        return None, f"approval {record.request_id} is {record.status}, not APPROVED"
    if not verified_decision(record, gate.macs):
        return None, f"approval {record.request_id} does not carry the approval service's valid MAC (forged?)"
    if not person(record.decided_by) or not is_approver(record.decided_by, gate.approvers.get("challenger", ())):
        return None, f"approval {record.request_id} was decided by {record.decided_by}, not a configured approver"
    return record, ""


def unapproved_promotion(gate: ApprovalGate, state: Mapping[str, Any], execution: str) -> str:
    """With require_human_approval on, CheckPromotion and Promote go on only for this execution's verified record
    (re-read, never the state's word): a run started before a deploy turned the step on has no human step."""
    record, why = approval_problem(gate, state["challenger"], execution)
    if record is not None:
        return ""
    arn = state["challenger"]["model_package_arn"]
    return (
        f"challenger.require_human_approval is on and this run has no verified human approval ({why}); a run "
        f"started before a deploy turned the human step on never asks. {arn} is not approved. Next: put production "
        f"back (below), then `mlgov challenger start --package {arn}`: the new run's promotion waits for an approver."
    )


def verify_approval(ports: Ports, gate: ApprovalGate, state: Mapping[str, Any], execution: str) -> dict[str, Any]:
    """Right before ApprovePackage: only a verified record lets the state machine approve."""
    ch = state["challenger"]
    record, why = approval_problem(gate, ch, execution)
    if record is None:
        return {"approved": False, "reason": why}
    gate_text = str(state["watch"].get("approval_description") or "")
    head = f"Approved by {record.decided_by} via {record.channel} at {record.decided_at} (request {record.request_id})"
    comment = f": {record.comment}" if record.comment else ""
    description = f"{head}{comment}. {gate_text}"
    if len(description) > f.APPROVAL_DESCRIPTION_MAX:
        description = description[: f.APPROVAL_DESCRIPTION_MAX - 1] + "…"
    resolved = f.approval_requested_finding(
        dict(ch), state["watch"]["result"], record.request_id, record.expires_at, ports.account_id, ports.region
    )
    resolved.status, resolved.severity = STATUS_RESOLVED, "INFO"
    store_and_publish(ports.findings, resolved)
    return {
        "approved": True,
        "request_id": record.request_id,
        "approved_by": record.decided_by,
        "approved_at": record.decided_at,
        "channel": record.channel,
        "approval_description": description,
    }


def not_approved(ports: Ports, state: Mapping[str, Any]) -> dict[str, Any]:
    """A denial, an expiry or an unverified record: the package stays as it is, the challenger loses its
    traffic (then the production-only config), and the finding says why and what to do."""
    ch = state["challenger"]
    why = _why(state)
    endpoint = ports.endpoints.describe_endpoint(ch["endpoint_name"])
    live = {str(v["VariantName"]) for v in endpoint.get("ProductionVariants", [])}
    if ch["challenger_variant"] in live:
        ports.endpoints.set_weights(ch["endpoint_name"], {ch["production_variant"]: 1.0, ch["challenger_variant"]: 0.0})
    status = ports.registry.describe_package(ch["model_package_arn"]).get("ModelApprovalStatus")
    finding = f.not_approved_finding(dict(ch), why, str(status), ports.account_id, ports.region)
    store_and_publish(ports.findings, finding)
    return {"outcome": "not_approved", "reason": why, "finding_id": finding.finding_id}


def _why(state: Mapping[str, Any]) -> str:
    verified = state.get("human_approval") or {}
    if verified.get("reason"):
        return f"the approval did not verify: {verified['reason']}"
    error = state.get("error") or {}
    name, cause = str(error.get("Error", "")), str(error.get("Cause", ""))
    if name == "States.Timeout":
        return "nobody decided before the approval request expired"
    if name == "ApprovalDenied":
        try:
            denied = json.loads(cause)
            return f"denied by {denied.get('denied_by')} via {denied.get('channel')}: {denied.get('reason')}"
        except ValueError:
            return "denied"
    return f"the approval step failed ({name}: {cause[:300]})"
