"""Approval requests and the rules every decision passes, whatever the channel (CLI over IAM, Slack button).

Who may request and decide, and why the record is MACed before the task token is answered: docs/approvals.md.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from mlgov_runtime.approvals.identity import mapped_identities, person, same_person

PENDING, APPROVED, DENIED = "PENDING", "APPROVED", "DENIED"
CHANNELS = ("cli", "slack")
DECISIONS = ("retirement", "challenger")
REQUEST_ID = r"rq-[0-9a-f]{20}"
COMMENT_MAX = 1000
# The requester of a challenger promotion: the gate's PROMOTE verdict, not a person (no person may approve as it).
PRODUCT_REQUESTER = "product:mlgov-challenger"


def request_id_for(execution_arn: str) -> str:
    """Derived from the waiting execution, so a step can find its own execution's record (and only it)."""
    return "rq-" + hashlib.sha256(execution_arn.encode()).hexdigest()[:20]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ApprovalRequest:
    """What anyone may see of a request: never its task token."""

    request_id: str
    decision: str  # retirement | challenger
    subject: str  # the endpoint name, or the package ARN
    execution_arn: str
    requested_by: str
    requested_at: str
    expires_at: str
    status: str = PENDING
    decided_by: str | None = None
    decided_at: str | None = None
    channel: str | None = None
    comment: str | None = None
    requester_mac: str | None = None
    decision_mac: str | None = None
    bound: str | None = None  # what was asked about, as seen when the step asked (endpoint ARN, creation, config)
    decided_via: str | None = None  # who pressed, for a Slack decision: slack:<team id>:<user id> (under the MAC)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def requester_message(r: ApprovalRequest) -> bytes:
    """What the requester MAC covers: who asked for what, for which execution."""
    return json.dumps(["requester", r.request_id, r.decision, r.subject, r.execution_arn, r.requested_by]).encode()


def decision_message(r: ApprovalRequest) -> bytes:
    """What the decision MAC covers: the request and who decided it how (the Slack user who pressed, when one
    did: appended only then, so a decision recorded before that field existed still verifies)."""
    fields = [r.request_id, r.decision, r.subject, r.execution_arn, r.requested_by]
    via = [r.decided_via] if r.decided_via else []
    return json.dumps(["decision", *fields, r.bound, r.status, r.decided_by, r.decided_at, r.channel, *via]).encode()


class Macs(Protocol):
    """KMS HMAC (GenerateMac only for the approval service's role; VerifyMac for the steps)."""

    def generate(self, message: bytes) -> str: ...

    def verify(self, message: bytes, mac: str) -> bool: ...


def verified_requester(request: ApprovalRequest, macs: Macs) -> bool:
    return bool(person(request.requested_by)) and bool(
        request.requester_mac and macs.verify(requester_message(request), request.requester_mac)
    )


def verified_decision(request: ApprovalRequest, macs: Macs) -> bool:
    return bool(request.decision_mac and macs.verify(decision_message(request), request.decision_mac))


class Store(Protocol):
    def create(self, request: ApprovalRequest, token: str, expires_epoch: int) -> None: ...

    def get(self, request_id: str) -> ApprovalRequest | None: ...

    def settle(
        self,
        request_id: str,
        status: str,
        decided_by: str,
        decided_at: str,
        channel: str,
        comment: str,
        mac: str,
        via: str = "",
    ) -> str | None:
        """PENDING -> status, once (conditional write), with `via` (decided_via) when given. The task token on
        success; None if already decided."""
        ...

    def reclaim(self, request_id: str, status: str, decided_by: str, channel: str, mac: str = "") -> str | None:
        """The token again, only for the decision recorded as (status, decided_by, channel), with this decision MAC
        when given, and not yet marked answered (conditional write); None otherwise."""
        ...

    def answered(self, request_id: str, how: str) -> None:
        """Marks the decision's answer delivered (`answered`) or refused as closed (`gone:<code>`); never raising."""
        ...


class TaskAnswers(Protocol):
    def succeed(self, token: str, output: dict[str, Any]) -> None: ...

    def fail(self, token: str, error: str, cause: str) -> None: ...


class TaskGone(Exception):
    """Step Functions no longer waits on the token (expired, or the execution ended)."""


class AnswerFailed(Exception):
    """Step Functions could not be answered (after retries): the decision stands, the step still waits."""


class Refused(Exception):
    """A decision that changes nothing; `status` is the HTTP status the service answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class MalformedRecord(Refused):
    """An approval record with a field missing or of another type (written out of band, or damaged): nothing is
    decided, answered or deleted on it."""

    def __init__(self, request_id: str, field: str, why: str) -> None:
        super().__init__(409, f"approval record {request_id} is malformed: field {field} {why}; nothing changed")
        self.request_id, self.field = request_id, field


def same_principal(a: str, b: str) -> bool:
    """The same person (identity.same_person: an assumed role is its role, whatever the session name; an Identity
    Center user is one person under every permission set)."""
    return same_person(a, b)


def is_approver(caller: str, patterns: Sequence[str]) -> bool:
    """Exact principal ARNs, or patterns with `*` for a role's sessions (arn:...:assumed-role/Approvers/*)."""
    return any(fnmatch.fnmatchcase(caller, p) if "*" in p else caller == p for p in patterns)


def product_request_problem(request: ApprovalRequest, described: Mapping[str, Any] | None, machine_arn: str) -> str:
    """Why a product-requested (challenger) request is not believed, or "": its execution (DescribeExecution)
    must be a RUNNING execution of the challenger state machine, started for the request's package, with the
    request id derived from it."""
    if request.decision != "challenger" or request.requested_by != PRODUCT_REQUESTER:
        return f"request {request.request_id} was not opened by the challenger gate"
    if request.request_id != request_id_for(request.execution_arn):
        return f"request {request.request_id} does not belong to execution {request.execution_arn}"
    if not machine_arn:  # unwired by the deploy that turned the human step off; the run still waits
        r = request.request_id
        return (
            f"challenger.require_human_approval is off in the deployed settings (turned off after {r} opened): no "
            f"challenger run is answered here. {r} expires at {request.expires_at}; then NotApproved takes the "
            "challenger's weight to 0. To decide now: turn it on, `npx cdk deploy MlGovEndpointAudit`, then "
            f"`mlgov challenger approve --request {r}` (or deny)"
        )
    if not described or described.get("stateMachineArn") != machine_arn:
        return f"{request.execution_arn} is not an execution of {machine_arn}"
    if described.get("status") != "RUNNING":
        return f"execution {request.execution_arn} is {described.get('status')}, not waiting for approval"
    try:
        started_for = json.loads(str(described.get("input") or "{}")).get("model_package_arn")
    except (ValueError, AttributeError):
        started_for = None
    if started_for != request.subject:
        return f"execution {request.execution_arn} was started for {started_for}, not {request.subject}"
    return ""


@dataclass(frozen=True)
class Decision:
    request: ApprovalRequest
    answered: bool  # False: recorded, but Step Functions no longer waited (expired meanwhile)
    problem: str = ""  # set when answering failed after retries: the waiting step was not told
    again: bool = False  # a decision recorded earlier (by this caller, this way), answered again now
    gone: str = ""  # Step Functions' code when it no longer waited on the token (TaskTimedOut, InvalidToken, ...)


def deliver(store: Store, answers: TaskAnswers, r: ApprovalRequest, token: str, again: bool = False) -> Decision:
    """Answers the token with the recorded decision and marks the record. SendTaskSuccess/Failure for the same
    token is repeatable until the task closes, so answering a recorded decision again is safe; a closed task
    answers TaskTimedOut or InvalidToken (TaskGone)."""
    who: dict[str, Any] = {"request_id": r.request_id, "channel": r.channel}
    if r.decided_via:
        who["decided_via"] = r.decided_via
    try:
        if r.status == APPROVED:
            answers.succeed(
                token, {**who, "approved_by": r.decided_by, "approved_at": r.decided_at, "comment": r.comment or ""}
            )
        else:
            cause = json.dumps({**who, "denied_by": r.decided_by, "denied_at": r.decided_at, "reason": r.comment or ""})
            answers.fail(token, "DeletionDenied" if r.decision == "retirement" else "ApprovalDenied", cause)
    except TaskGone as exc:
        store.answered(r.request_id, f"gone:{exc}")
        return Decision(r, answered=False, again=again, gone=str(exc))
    except AnswerFailed as exc:  # not marked: a retry of the same decision answers again
        return Decision(r, answered=False, problem=str(exc), again=again)
    store.answered(r.request_id, "answered")
    return Decision(r, answered=True, again=again)


def decide(
    store: Store,
    answers: TaskAnswers,
    approvers: Mapping[str, Sequence[str]],
    macs: Macs,
    *,
    caller: str,
    channel: str,
    request_id: str,
    approve: bool,
    comment: str,
    now: datetime,
    also: Sequence[str] = (),
    people: Sequence[Sequence[str]] = (),
    product_check: Callable[[ApprovalRequest], str] | None = None,
    shown_check: Callable[[ApprovalRequest], str] | None = None,
    via: str = "",
    again: bool = False,
) -> Decision:
    """`also`/`people`: the caller's other identities, and every person's from settings (one person on every
    channel). `product_check`/`shown_check`: why a product request, or what a Slack press showed, is not believed
    ("" when it is). `via`: who pressed, under the decision MAC. `again`: a retry that finds its own decision
    recorded (same caller, channel, outcome; MAC verified) but unanswered answers it again."""
    if channel not in CHANNELS:
        raise Refused(400, f"unknown channel {channel!r}")
    if not re.fullmatch(REQUEST_ID, request_id):
        raise Refused(400, f"{request_id!r} is not a request id (rq- and 20 hex digits)")
    if len(comment) > COMMENT_MAX:
        raise Refused(400, f"the comment is {len(comment)} characters; at most {COMMENT_MAX}")
    if not approve and not comment.strip():
        raise Refused(400, "a denial needs a reason")
    request = store.get(request_id)
    if request is None:
        raise Refused(404, f"no approval request {request_id}")
    if request.status != PENDING:
        own = (request.decided_by, request.channel, request.status, request.decided_via or "") == (
            caller,
            channel,
            APPROVED if approve else DENIED,
            via,
        )
        if again and own and not verified_decision(request, macs):
            # Not written by the approval service (its MAC does not verify): believed by no step, answered by none.
            raise Refused(
                409,
                f"request {request_id}'s recorded decision carries no valid MAC (it was not written by the approval "
                "service); nothing answered, and no step acts on it: report it to the platform team (the approvals "
                "table was written from outside the service)",
            )
        # The reclaim's condition includes the MAC just verified: the record answered is the record verified.
        token = (
            store.reclaim(request_id, request.status, caller, channel, request.decision_mac or "")
            if again and own
            else None
        )
        if token is not None:
            return deliver(store, answers, request, token, again=True)
        raise Refused(
            409,
            f"request {request_id} was already {request.status.lower()} by {request.decided_by} "
            f"at {request.decided_at} via {request.channel}; nothing changed",
        )
    if iso(now) >= request.expires_at:
        ask = (
            f"`mlgov retire request --endpoint {request.subject}` asks again"
            if request.decision == "retirement"
            else "the next challenger run asks again"
        )
        raise Refused(409, f"request {request_id} expired at {request.expires_at}; nothing changed: {ask}")
    if not person(caller):
        raise Refused(403, f"{caller} is no person (federated users name themselves); nothing changed")
    unseen = shown_check(request) if shown_check else ""
    if unseen:
        raise Refused(403, f"{unseen}; nothing changed")
    if request.decision == "challenger":
        why = product_check(request) if product_check else "challenger requests are not verifiable here"
        if why:
            raise Refused(403, f"request {request_id} is not a live challenger request: {why}; nothing changed")
    elif not verified_requester(request, macs):
        raise Refused(
            403,
            f"request {request_id} has no verified requester (it was not opened through the approval service); "
            "it can never be approved: `mlgov retire request` again; nothing changed",
        )
    allowed = approvers.get(request.decision, ())
    if not is_approver(caller, allowed):
        raise Refused(
            403,
            f"{caller} is not an approver for {request.decision} decisions "
            f"(settings: approvals.approvers.{request.decision}); nothing changed",
        )
    if any(same_principal(who, request.requested_by) for who in mapped_identities((caller, *also), people)):
        raise Refused(
            403,
            f"{caller} is the same person as the requester {request.requested_by} (same role or user, the same "
            "IAM Identity Center user under another permission set, or both one person's in "
            "approvals.slack_approvers); another approver must decide; nothing changed",
        )
    status = APPROVED if approve else DENIED
    settled = ApprovalRequest(
        **{
            **request.to_dict(),
            "status": status,
            "decided_by": caller,
            "decided_at": iso(now),
            "channel": channel,
            "comment": comment,
            "decided_via": via or None,
        }
    )
    mac = macs.generate(decision_message(settled))
    settled = ApprovalRequest(**{**settled.to_dict(), "decision_mac": mac})
    token = store.settle(request_id, status, caller, iso(now), channel, comment, mac, via)
    if token is None:
        # The write may have landed with its reply lost (the client sent it again, and that failed the condition):
        # a record carrying this very decision's MAC is this call's own, answered as if the write had replied.
        token = store.reclaim(request_id, status, caller, channel, mac)
    if token is None:  # a concurrent or replayed decision got there first
        raise Refused(409, f"request {request_id} was decided meanwhile; nothing changed")
    return deliver(store, answers, settled, token)
