"""The deletion state machine's steps (docs/retirement.md). No step believes its state: each acts only for a
RUNNING execution of its own machine for the endpoint."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from mlgov_runtime.approvals.logic import (
    APPROVED,
    DENIED,
    ApprovalRequest,
    Macs,
    MalformedRecord,
    is_approver,
    request_id_for,
    same_principal,
    verified_decision,
    verified_requester,
)
from mlgov_runtime.core.findings import store_and_publish
from mlgov_runtime.retirement.audit import EndpointRef, Endpoints, FindingBook, open_retiring, start_retiring
from mlgov_runtime.retirement.findings import (
    KIND_CANDIDATE,
    KIND_PURPOSE_TAG,
    KIND_SAFETY_ABORT,
    KIND_STALE,
    KIND_TAG_CHANGED,
    Retiring,
    closing,
    retired_finding,
    retiring_finding,
    safety_abort_finding,
    still_called_finding,
)
from mlgov_runtime.retirement.logic import (
    INVOCATIONS_SETTLE,
    RETIRING,
    EndpointGone,
    ErrorCounter,
    ErrorMetric,
    InvocationCounter,
    ReadFailure,
    RetirementPolicy,
    Verdict,
    check_view,
    iso,
    parse_iso,
    too_young,
    wasted_usd,
)

SAFETY_ABORT_METRIC = "SafetyAbortEndpointDeletion"


class DeletableEndpoints(Endpoints, Protocol):
    def snapshot(self, name: str) -> dict[str, Any]:
        """Endpoint config, models and tags: enough to re-create the endpoint."""
        ...

    def delete(self, name: str) -> None: ...

    def component_names(self, name: str) -> list[str]:
        """Inference components on the endpoint; raises ReadFailure when they cannot be listed."""
        ...


class Metrics(InvocationCounter, ErrorCounter, Protocol):
    def component_invocations(self, component_names: Sequence[str], start: datetime, end: datetime) -> int: ...


class ApprovalRecords(Protocol):
    def create(self, request: ApprovalRequest, token: str, expires_epoch: int) -> None: ...

    def get(self, request_id: str) -> ApprovalRequest | None: ...


class Executions(Protocol):
    def describe(self, execution_arn: str) -> dict[str, Any] | None:
        """status, stateMachineArn and input of an execution; None when it does not exist."""
        ...


EXECUTION_ARN = r"arn:aws[a-z-]*:states:([\w-]+):(\d{12}):execution:([\w-]{1,80}):([\w-]{1,80})"
RECORD_DAYS = 90  # approval records outlive their request for the audit trail, then expire


@dataclass
class Steps:
    endpoints: DeletableEndpoints
    metrics: Metrics
    book: FindingBook
    policy: RetirementPolicy
    account_id: str
    region: str
    now: Callable[[], datetime]
    emit: Callable[[str, float], None]
    approval_expiry_hours: int = 72
    watch_hours: int = 72
    error_metrics: Sequence[ErrorMetric] = ()
    approvals: ApprovalRecords | None = None
    executions: Executions | None = None
    state_machine_name: str | None = None
    macs: Macs | None = None
    approvers: Mapping[str, Sequence[str]] | None = None

    def _ref(self, state: dict[str, Any]) -> EndpointRef:
        return EndpointRef(state["endpoint_name"], self.account_id, self.region)

    def _publish_retiring(self, retiring: Retiring, source: str = "pipeline") -> None:
        store_and_publish(self.book, retiring_finding(retiring, source))

    def _own_execution(self, execution: str, name: str) -> str | None:
        """Why `execution` is not a running execution of this machine for endpoint `name` (None: it is)."""
        if self.executions is None or self.approvals is None or not self.state_machine_name:
            return "this function has no approvals store or state machine configured to verify against"
        match = re.fullmatch(EXECUTION_ARN, execution or "")
        if not match or match.groups()[:3] != (self.region, self.account_id, self.state_machine_name):
            return f"{execution!r} is not an execution of {self.state_machine_name} in {self.account_id}/{self.region}"
        described = self.executions.describe(execution)
        if described is None or described.get("status") != "RUNNING":
            return f"execution {execution} is not running"
        try:
            asked = json.loads(described.get("input") or "{}").get("endpoint_name")
        except (ValueError, AttributeError):
            asked = None
        if asked != name:
            return f"execution {execution} was started for {asked!r}, not {name!r}"
        return None

    def check_own(self, execution: str, name: str) -> None:
        """Every step: refuse to act for anything but a running execution of this machine for `name`."""
        why = self._own_execution(execution, name)
        if why:
            raise ApprovalUnverifiable(why)

    @staticmethod
    def _bound(view: Any) -> str:
        created = iso(view.created_at) if view.created_at else ""
        return json.dumps([view.arn, created, view.config_name])

    def _approval(self, execution: str, name: str) -> tuple[ApprovalRequest | None, str]:
        """The approval record this (own, checked) execution's request got, or why there is none to act on."""
        assert self.approvals is not None
        try:
            record = self.approvals.get(request_id_for(execution))
        except MalformedRecord as exc:
            return None, str(exc)
        if record is None:
            return None, f"no approval request was recorded for execution {execution}"
        if (record.decision, record.subject, record.execution_arn) != ("retirement", name, execution):
            return None, f"approval {record.request_id} is for {record.decision} of {record.subject}, not {name}"
        if record.status != APPROVED or not record.decided_by:
            return None, f"approval {record.request_id} is {record.status}, not APPROVED"
        if self.macs is None or self.approvers is None:
            return None, "this function has no approvals MAC key or approvers configured to verify against"
        if not verified_decision(record, self.macs):
            return None, f"approval {record.request_id} does not carry the approval service's valid MAC (forged?)"
        if not verified_requester(record, self.macs):
            return None, f"approval {record.request_id} has no verified requester"
        if not is_approver(record.decided_by, self.approvers.get("retirement", ())):
            return None, f"approval {record.request_id} was decided by {record.decided_by}, not a configured approver"
        if same_principal(record.decided_by, record.requested_by):
            return None, f"approval {record.request_id} was given by its requester"
        return record, ""

    # -- steps
    def prepare(self, state: dict[str, Any], execution: str = "") -> dict[str, Any]:
        """Only a stale endpoint without invocations in the stale window may be requested; it is tagged
        retiring (the role may delete only retiring endpoints) and its retirement opened."""
        ref, now = self._ref(state), self.now()
        self.check_own(execution, ref.endpoint_name)
        name = ref.endpoint_name
        try:
            view = self.endpoints.describe(name)
        except EndpointGone:
            return {"eligible": False, "reason": f"Endpoint {name} does not exist."}
        except ReadFailure as exc:
            return {"eligible": False, "reason": f"Endpoint {name} could not be read: {exc}"}
        check = check_view(view, self.endpoints, self.metrics, self.policy, now, self.account_id, self.region)
        if check.verdict is not Verdict.RETIREMENT_CANDIDATE:
            why = {
                Verdict.CURRENT: f"it was {too_young(view, now, check.window_hours)}"
                if check.judged_from
                else "it serves the current Approved version; deleting it would take that model offline",
                Verdict.STALE_ENDPOINT_ACTIVE: f"it still took {check.invocations_24h} invocations in the last "
                f"{check.window_hours} h; move its callers first",
                Verdict.ERROR: f"its traffic or lineage could not be read ({' '.join(check.reasons)})",
            }[check.verdict]
            return {"eligible": False, "reason": f"Endpoint {name} is not a retirement candidate: {why}."}
        retiring = open_retiring(self.book, ref)
        if retiring is None:
            retiring = start_retiring(view, ref, self.policy, now)
            self._publish_retiring(retiring)
        if view.tags.get(self.policy.purpose_tag_key) != RETIRING:
            self.endpoints.tag(name, self.policy.purpose_tag_key, RETIRING)
        return {
            "eligible": True,
            "endpoint_arn": ref.endpoint_arn,
            "invocations_24h": check.invocations_24h,
            "served_versions": check.served_versions,
            "current_versions": check.current_versions,
            "hourly_usd": check.cost.hourly_usd if check.cost else None,
            "stale_since": iso(check.stale_since) if check.stale_since else None,
        }

    def request_approval(self, state: dict[str, Any], token: str, execution: str) -> dict[str, Any]:
        """Keep the token in the approvals store and publish the request's id on the endpoint's retirement."""
        ref, now = self._ref(state), self.now()
        why = self._own_execution(execution, ref.endpoint_name)
        if why:
            raise ApprovalUnverifiable(why)
        retiring = open_retiring(self.book, ref)
        if retiring is None:  # cancelled meanwhile: nothing will be approved
            raise RetirementClosed(f"the retirement of {ref.endpoint_name} is no longer open")
        assert self.approvals is not None
        expires = now + timedelta(hours=self.approval_expiry_hours)
        # The requester comes from the record the approval service opened (verified), never from the state.
        request = ApprovalRequest(
            request_id=request_id_for(execution),
            decision="retirement",
            subject=ref.endpoint_name,
            execution_arn=execution,
            requested_by="",
            requested_at=iso(now),
            expires_at=iso(expires),
            bound=self._bound(self.endpoints.describe(ref.endpoint_name)),
        )
        self.approvals.create(request, token, int((expires + timedelta(days=RECORD_DAYS)).timestamp()))
        request = self.approvals.get(request.request_id) or request
        retiring.request = {
            "request_id": request.request_id,
            "execution": execution,
            "requested_by": request.requested_by or "unverified (not requested through the approval service)",
            "reason": state.get("reason"),
            "requested_at": request.requested_at,
            "expires_at": request.expires_at,
        }
        self._publish_retiring(retiring)
        return {"published": True, "request_id": request.request_id}

    def check_idle(self, state: dict[str, Any], execution: str = "") -> dict[str, Any]:
        """The first live check, right after the approval: `delete`'s checks, deleting nothing."""
        return self._checked(state, execution, final=False)

    def delete(self, state: dict[str, Any], execution: str = "") -> dict[str, Any]:
        """Immediately before deleting: `_checked`'s checks, reading from before the first check (`state["idle"]`) up
        to now. The approver named is the record's, never the state's."""
        return self._checked(state, execution, final=True)

    @property
    def _stale_hours(self) -> int:
        return max(self.policy.stale_window_hours, self.policy.safety_window_hours)

    def _first_check(self, state: dict[str, Any], now: datetime) -> datetime:
        """When the first check ran; never later than INVOCATIONS_SETTLE ago, so a missing or forged time only widens
        the final window."""
        idle = state.get("idle")
        try:
            checked = parse_iso(str(idle["checked_at"])) if isinstance(idle, dict) else now
            checked - timedelta(hours=self._stale_hours)  # one near year 1 has no window before it
        except (KeyError, ValueError, OverflowError):
            checked = now
        return min(checked, now - INVOCATIONS_SETTLE)

    def _checked(self, state: dict[str, Any], execution: str, final: bool) -> dict[str, Any]:
        ref = self._ref(state)
        name = ref.endpoint_name
        again = f"`mlgov retire request --endpoint {name}`"
        foreign = self._own_execution(execution, name)
        record, why_not = (None, foreign) if foreign else self._approval(execution, name)
        retiring = None if foreign else open_retiring(self.book, ref)
        if record is None:
            if retiring:  # its own approval refused now (a deploy may have removed the approver): said, not pending
                retiring.request = None
                retiring.last_outcome = f"Deletion refused at {iso(self.now())}: {why_not}; nothing deleted: {again}"
                self._publish_retiring(retiring)
            return {"outcome": "refused", "reason": f"nothing deleted: {why_not}"}
        approved_by = f"{record.decided_by} (via {record.channel})"
        if retiring is None:
            return {"outcome": "aborted", "reason": f"the retirement of {name} is no longer open (cancelled?)"}
        try:
            view = self.endpoints.describe(name)
        except EndpointGone:
            # Deleted by an earlier attempt of this step (this execution's snapshot): finish closing it. A snapshot
            # another execution took (one whose delete failed) says nothing of who deleted it, nor of what.
            if final and retiring.recreate and retiring.recreate.get("execution") == execution:
                return self._close(retiring, state, approved_by, self.now())
            # The retirement stays open: who deleted it, and whether clients still need it, is the operator's call.
            why = gone_next_steps(name)
            retiring.request, retiring.last_outcome = None, f"Deletion aborted at {iso(self.now())}: {why}"
            self._publish_retiring(retiring)
            return {"outcome": "aborted", "reason": why}
        if record.bound != self._bound(view):
            return {
                "outcome": "aborted",
                "reason": f"nothing deleted: {name} is not the endpoint that was approved (ARN, creation time or "
                f"config changed since the request: approved {record.bound}, now {self._bound(view)}); "
                f"request again: {again}",
            }
        now = self.now()
        base = self._first_check(state, now) if final else now
        # Also the stale window the age is judged by (a deploy may have lengthened it since `prepare`).
        invocations, why = self._invocations(name, view, base - timedelta(hours=self._stale_hours), now)
        seen, window = invocations, self._stale_hours
        if invocations and window > self.policy.safety_window_hours:
            window = self.policy.safety_window_hours
            invocations, why = self._invocations(name, view, base - timedelta(hours=window), now)
        if invocations is None or invocations > 0:
            self.emit(SAFETY_ABORT_METRIC, 1)
            abort = safety_abort_finding(retiring, invocations, window, approved_by, now, why)
            store_and_publish(self.book, abort)
            retiring.request = None
            retiring.last_outcome = f"Deletion aborted at {iso(now)}: {abort.title.split(': ', 1)[1]}; nothing deleted."
            self._publish_retiring(retiring)
            return {"outcome": "aborted", "invocations": invocations, "reason": abort.title}
        # Acts: its own look at the endpoint's age (a request prepared by older code never made one).
        young = too_young(view, now, self.policy.stale_window_hours)
        key = self.policy.purpose_tag_key
        if seen or young or view.tags.get(key) != RETIRING:
            why = f"{name} is no longer tagged {key}={RETIRING}; nothing deleted"
            if old := next((k for k, v in sorted(view.tags.items()) if v == RETIRING), ""):
                why = f"{name} is tagged {old}={RETIRING}, but purpose_tag_key is now {key}; nothing deleted: {again}"
            if young:
                why = f"{name} was {young}; nothing deleted: {again} then"
            if seen:  # only outside the safety window: not stale under the deployed window, not live
                why = (
                    f"{name} took {seen:,} invocations in the last {self._stale_hours} h; nothing deleted: "
                    f"{again} once it has had none for that long"
                )
            retiring.request, retiring.last_outcome = None, f"Deletion aborted at {iso(now)}: {why}."
            self._publish_retiring(retiring)
            return {"outcome": "aborted", "reason": why}
        if not final:
            return {"outcome": "idle", "checked_at": iso(now), "invocations": 0}
        # Durable before the delete: what it takes to re-create the endpoint.
        retiring.recreate = {**self.endpoints.snapshot(name), "execution": execution}
        retiring.request = None
        self.book.record(retiring_finding(retiring, "pipeline"))  # stored, not announced: the closing says it
        try:
            self.endpoints.delete(name)
        except EndpointGone:
            # botocore resends a DeleteEndpoint whose answer was lost, and the resend finds nothing: AWS's own
            # description says whether the endpoint went.
            if not self._gone(name):
                raise
        self.emit(SAFETY_ABORT_METRIC, 0)
        return self._close(retiring, state, approved_by, now)

    def _invocations(self, name: str, view: Any, start: datetime, now: datetime) -> tuple[int | None, str]:
        """Invocations of `name` from `start` (None and why when unreadable: never zero)."""
        try:
            invocations = self.metrics.invocations(name, [v.name for v in view.variants], start, now)
            # Traffic through inference components is reported per component, not per variant.
            components = self.endpoints.component_names(name)
            if components:
                invocations += self.metrics.component_invocations(components, start, now)
        except ReadFailure as exc:
            return None, str(exc)
        return invocations, ""

    def _gone(self, name: str) -> bool:
        """Whether DescribeEndpoint shows `name` deleted or being deleted (an unreadable answer is not gone)."""
        try:
            view = self.endpoints.describe(name)
        except EndpointGone:
            return True
        except ReadFailure:
            return False
        return view.status == "Deleting"

    def _close(
        self, retiring: Retiring, state: dict[str, Any], approved_by: str, deleted_at: datetime
    ) -> dict[str, Any]:
        prepared = state.get("prepared") or {}
        since = parse_iso(prepared["stale_since"]) if prepared.get("stale_since") else None
        wasted = wasted_usd(prepared.get("hourly_usd"), since, deleted_at)
        store_and_publish(self.book, retired_finding(retiring, deleted_at, wasted, approved_by, "pipeline"))
        ref = self._ref(state)
        for kind in (KIND_SAFETY_ABORT, KIND_TAG_CHANGED, KIND_STALE, KIND_CANDIDATE, KIND_PURPOSE_TAG):
            store_and_publish(self.book, closing(ref, kind, "pipeline", "endpoint retired"))
        return {
            "outcome": "deleted",
            "endpoint_arn": ref.endpoint_arn,
            "endpoint_config_name": (retiring.recreate or {}).get("endpoint_config_name", ""),
            "deleted_at": iso(deleted_at),
            "wasted_usd": wasted,
            "watch": {"remaining": self.watch_hours, "since": iso(deleted_at)},
        }

    def close_request(self, state: dict[str, Any], execution: str = "") -> dict[str, Any]:
        """The request ended without a deletion: refused, denied, expired or failed. Says so on the retirement."""
        ref, now = self._ref(state), self.now()
        self.check_own(execution, ref.endpoint_name)
        prepared, error = state.get("prepared") or {}, state.get("error") or {}
        code, cause = str(error.get("Error") or ""), str(error.get("Cause") or "")
        if prepared and not prepared.get("eligible", True):
            why = f"Deletion request refused: {prepared.get('reason')}"
        elif code in ("States.Timeout", "States.HeartbeatTimeout"):
            why = f"Deletion request expired after {self.approval_expiry_hours} h without an answer; nothing deleted."
        elif code == "DeletionDenied":
            why = self._denied(execution, cause)
        elif code == "RetirementClosed":
            why = "Deletion request dropped: the retirement was closed meanwhile; nothing deleted."
        else:
            why = f"Deletion request failed ({code}: {cause[:500]}); nothing deleted."
        retiring = open_retiring(self.book, ref)
        if retiring is not None:
            retiring.request = None
            retiring.last_outcome = f"{why} ({iso(now)})"
            self._publish_retiring(retiring)
        return {"closed": why}

    def _denied(self, execution: str, cause: str) -> str:
        """Who denied, from the approval service's MACed record; the failure's cause is only what the caller of
        SendTaskFailure said, so it is quoted as such (a denial deletes nothing either way)."""
        try:
            record = self.approvals.get(request_id_for(execution)) if self.approvals and execution else None
        except MalformedRecord:
            record = None
        if record is not None and record.status == DENIED and self.macs and verified_decision(record, self.macs):
            reason = (record.comment or "no reason given")[:500]
            return (
                f"Deletion denied by {record.decided_by} (via {record.channel}) at {record.decided_at}: {reason}; "
                "nothing deleted."
            )
        return f"Deletion denied (unverified cause: {cause[:500] or 'none given'}); nothing deleted."

    def watch(self, state: dict[str, Any], execution: str = "") -> dict[str, Any]:
        """One look at the client error metrics since the deletion; a finding if any name the endpoint."""
        ref, now = self._ref(state), self.now()
        self.check_own(execution, ref.endpoint_name)
        deletion = state["deletion"]
        since = deletion["watch"]["since"]
        errors = (
            self.metrics.errors(ref.endpoint_name, self.error_metrics, parse_iso(since), now)
            if self.error_metrics
            else {}
        )
        total = sum(errors.values()) if self.error_metrics else None  # none to read: blind, never 0
        if total != 0:
            store_and_publish(
                self.book,
                still_called_finding(ref, deletion.get("endpoint_config_name", ""), since, errors, "pipeline"),
            )
        return {"remaining": max(int(deletion["watch"]["remaining"]) - 1, 0), "since": since, "errors": total}


def gone_next_steps(name: str) -> str:
    """The abort when the endpoint is gone and no snapshot of this execution says it deleted it (docs/retirement.md,
    "Endpoint gone before the final check"): what the operator does next."""
    return (
        f"endpoint {name} no longer exists; nothing deleted by this run. Find who deleted it (CloudTrail: "
        "`aws cloudtrail lookup-events --lookup-attributes AttributeKey=EventName,AttributeValue=DeleteEndpoint`). "
        f"Meant to go (an earlier attempt of this retirement, or its owner): close the retirement with "
        f"`mlgov retire cancel --endpoint {name} --reason TEXT`. Clients still need it: re-create it from the config "
        f"it last served with `mlgov retire recreate --endpoint {name} --endpoint-config CONFIG`, then request again. "
        "See docs/retirement.md, Endpoint gone before the final check."
    )


class RetirementClosed(Exception):
    """The retirement a step works on was closed (cancelled) meanwhile."""


class ApprovalUnverifiable(Exception):
    """A request step invoked for something other than a running execution of its own state machine."""
