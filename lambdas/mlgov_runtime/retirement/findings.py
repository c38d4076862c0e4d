"""Retirement verdicts and lifecycle events as findings. Each one names the next command to run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from mlgov_runtime.core.findings import STATUS_OPEN, STATUS_RESOLVED, Finding
from mlgov_runtime.retirement.logic import RetirementCheck, Verdict, iso, parse_iso

KIND_STALE = "STALE_ENDPOINT_ACTIVE"
KIND_CANDIDATE = "ENDPOINT_RETIREMENT_CANDIDATE"
KIND_CHECK_FAILED = "ENDPOINT_RETIREMENT_CHECK_FAILED"
KIND_PURPOSE_TAG = "ENDPOINT_PURPOSE_TAG_INVALID"
KIND_RETIRING = "ENDPOINT_RETIRING"
KIND_TAG_CHANGED = "RETIRING_TAG_CHANGED"
KIND_SAFETY_ABORT = "SAFETY_ABORT_ENDPOINT_DELETION"
KIND_STILL_CALLED = "RETIRED_ENDPOINT_STILL_CALLED"
KIND_NOT_QUIET = "ENDPOINT_STILL_CALLED_AFTER_CUTOVER"
KIND_QUIET_UNVERIFIED = "ENDPOINT_QUIET_UNVERIFIED"
_CUTOVER_KINDS = (KIND_NOT_QUIET, KIND_QUIET_UNVERIFIED)
KINDS = (
    KIND_STALE,
    KIND_CANDIDATE,
    KIND_CHECK_FAILED,
    KIND_PURPOSE_TAG,
    KIND_RETIRING,
    KIND_TAG_CHANGED,
    KIND_SAFETY_ABORT,
    KIND_STILL_CALLED,
    *_CUTOVER_KINDS,
)
_VERDICT_KINDS = (KIND_STALE, KIND_CANDIDATE, KIND_CHECK_FAILED)


def _finding(
    subject: Any,
    kind: str,
    severity: str,
    title: str,
    detail: str,
    source: str,
    evidence: dict[str, Any],
    status: str = STATUS_OPEN,
) -> Finding:
    """A finding about the endpoint `subject` names (its account, region and ARN)."""
    return Finding(
        kind=kind,
        severity=severity,
        account_id=subject.account_id,
        region=subject.region,
        resource_arn=subject.endpoint_arn,
        title=title,
        detail=detail,
        source=source,
        evidence=evidence,
        status=status,
    )


def closing(subject: Any, kind: str, source: str, why: str, detail: str | None = None) -> Finding:
    """Closes an open finding of this kind on the endpoint (a no-op in the store when none is open)."""
    return _finding(
        subject,
        kind=kind,
        severity="INFO",
        title=f"Endpoint {subject.endpoint_name}: resolved ({why})",
        detail=detail or why,
        source=source,
        evidence={"why": why},
        status=STATUS_RESOLVED,
    )


def check_findings(check: RetirementCheck, source: str, purpose_key: str = "endpoint_purpose") -> list[Finding]:
    """What one check opens, and the endpoint's verdict findings it closes."""
    evidence = check.to_dict()
    name = check.endpoint_name
    out: list[Finding] = []
    opened: str | None = None
    severity = title = ""
    if check.verdict is Verdict.STALE_ENDPOINT_ACTIVE:
        opened, severity = KIND_STALE, "HIGH"
        title = (
            f"Endpoint {name} is stale but still takes traffic: {check.invocations_24h:,} invocations "
            f"in {check.window_hours} h"
        )
    elif check.verdict is Verdict.RETIREMENT_CANDIDATE:
        opened, severity = KIND_CANDIDATE, "MEDIUM"
        title = f"Endpoint {name} is a retirement candidate: stale and unused for {check.window_hours} h"
    elif check.verdict is Verdict.ERROR:
        opened, severity = KIND_CHECK_FAILED, "MEDIUM"
        title = f"Endpoint {name}: retirement check could not run"
        evidence = {"endpoint_name": name, "reasons": check.reasons}
    if opened is not None:
        out.append(
            _finding(check, opened, severity, title, " ".join([*check.reasons, check.next_step]), source, evidence)
        )
    if check.verdict is not Verdict.ERROR:
        out += [closing(check, k, source, check.verdict.value.lower()) for k in _VERDICT_KINDS if k != opened]
        if check.purpose_problem:
            out.append(purpose_finding(check, source, purpose_key))
        else:
            out.append(closing(check, KIND_PURPOSE_TAG, source, "purpose tag valid"))
    return out


def cutover_findings(check: RetirementCheck, source: str) -> list[Finding]:
    """After a cut-over: still called N hours later (HIGH), or no data to tell (MEDIUM); quiet closes both."""
    quiet = check.cutover
    status = (quiet or {}).get("status")
    if check.verdict is Verdict.ERROR or status in ("PENDING", "ERROR"):
        return []  # nothing known now: open findings stay as they are
    name = check.endpoint_name
    opened: Finding | None = None
    if quiet and status == "STILL_CALLED":
        opened = _finding(
            check,
            KIND_NOT_QUIET,
            "HIGH",
            f"Endpoint {name} still takes traffic {quiet['grace_hours']:g} h after its cut-over: "
            f"{quiet['invocations']:,} invocations since {quiet['window']['start'][:16]}",
            f"{quiet['reason']} Next: {quiet['fix']}",
            source,
            {"endpoint_name": name, "verdict": check.verdict.value, "cutover": quiet},
        )
    elif quiet and status == "NO_DATA":
        opened = _finding(
            check,
            KIND_QUIET_UNVERIFIED,
            "MEDIUM",
            f"Endpoint {name}: no invocation data since its cut-over, so it cannot be called quiet",
            f"{quiet['reason']} Next: {quiet['fix']}",
            source,
            {"endpoint_name": name, "verdict": check.verdict.value, "cutover": quiet},
        )
    why = "went quiet after its cut-over" if status == "QUIET" else "no cut-over to check"
    out = [closing(check, k, source, why) for k in _CUTOVER_KINDS if not opened or k != opened.kind]
    return [opened, *out] if opened else out


def purpose_finding(check: RetirementCheck, source: str, purpose_key: str) -> Finding:
    return _finding(
        check,
        KIND_PURPOSE_TAG,
        "MEDIUM",
        f"Endpoint {check.endpoint_name} {check.purpose_problem}",
        f"Every endpoint carries a purpose for cost reports and retirement (active, testing, retiring, retired). "
        f"Have the deployment pipeline tag it: `aws sagemaker add-tags --resource-arn {check.endpoint_arn} "
        f"--tags Key={purpose_key},Value=active` (or retiring, then `mlgov retire request --endpoint "
        f"{check.endpoint_name}`). Verdict: {check.verdict.value}.",
        source,
        {"endpoint_name": check.endpoint_name, "purpose": check.purpose, "problem": check.purpose_problem},
    )


@dataclass
class Retiring:
    """An endpoint tagged retiring, kept in its ENDPOINT_RETIRING finding's evidence (updates start from it)."""

    endpoint_name: str
    endpoint_arn: str
    account_id: str
    region: str
    tagged_at: str
    deadline: str
    owner: str | None = None
    monthly_cost_usd: float | None = None
    overdue: bool = False
    request: dict[str, Any] | None = None  # a deletion waiting for approval
    last_outcome: str | None = None
    recreate: dict[str, Any] | None = None  # config, models and tags recorded just before deletion

    @classmethod
    def start(
        cls,
        name: str,
        arn: str,
        account_id: str,
        region: str,
        tagged_at: datetime,
        deadline_days: int,
        owner: str | None,
        monthly_cost_usd: float | None,
    ) -> Retiring:
        return cls(
            name,
            arn,
            account_id,
            region,
            iso(tagged_at),
            iso(tagged_at + timedelta(days=deadline_days)),
            owner,
            monthly_cost_usd,
        )

    @classmethod
    def from_evidence(cls, evidence: dict[str, Any]) -> Retiring | None:
        data = evidence.get("retiring")
        return cls(**data) if isinstance(data, dict) else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def past_deadline(self, now: datetime) -> bool:
        return now >= parse_iso(self.deadline)


def retiring_finding(r: Retiring, source: str) -> Finding:
    name, owner = r.endpoint_name, r.owner or "no owner tag"
    due = r.deadline[:10]
    if r.overdue:
        title = f"Endpoint {name} is past its retirement deadline {due} (owner {owner})"
    else:
        title = f"Endpoint {name} is retiring: delete by {due} (owner {owner})"
    cost = f" It costs about ${r.monthly_cost_usd:,.0f}/month while it runs." if r.monthly_cost_usd else ""
    parts = [f"Tagged retiring at {r.tagged_at}; deadline {r.deadline}.{cost}"]
    rid = (r.request or {}).get("request_id")
    if r.last_outcome:
        parts.append(r.last_outcome)
    if r.request:
        # The request id, never the task token: the token stays in the approvals store.
        parts.append(
            f"Deletion requested by {r.request.get('requested_by') or 'unknown'} "
            f"({r.request.get('reason') or 'no reason given'}); a last live invocation check runs right before "
            f"deleting. An approver other than the requester decides: `mlgov retire approve --request {rid}` or "
            f"`mlgov retire deny --request {rid} --reason TEXT` (or the Slack buttons). The request expires at "
            f"{r.request.get('expires_at')}."
        )
    else:
        parts.append(
            f"Once it has had no invocations for 24 h, request deletion: `mlgov retire request --endpoint {name}`. "
            f"To keep it instead: `mlgov retire cancel --endpoint {name} --reason TEXT`."
        )
    return _finding(
        r,
        kind=KIND_RETIRING,
        severity="HIGH" if r.overdue else "MEDIUM",
        title=title,
        detail=" ".join(parts),
        source=source,
        # The shape every pending human decision carries: the notifier turns it into Slack buttons.
        evidence={"retiring": r.to_dict(), **({"approval_request": {"request_id": rid}} if r.request else {})},
    )


def recreate_command(name: str, config_name: str) -> str:
    return f"mlgov retire recreate --endpoint {name} --endpoint-config {config_name}"


def retired_finding(r: Retiring, deleted_at: datetime, wasted: float | None, approved_by: str, source: str) -> Finding:
    config = (r.recreate or {}).get("endpoint_config_name", "")
    money = f"${wasted:,.2f}" if wasted is not None else "unknown (no price for its instances)"
    return _finding(
        r,
        kind=KIND_RETIRING,
        severity="INFO",
        title=f"Endpoint {r.endpoint_name} deleted after approval by {approved_by}",
        detail=(
            f"Deleted {r.endpoint_arn} at {iso(deleted_at)} after approval by {approved_by} and a live check that "
            f"saw no invocations. Money spent on "
            f"it since it stopped being needed: {money}. Its endpoint config and models are kept; re-create it "
            f"with `{recreate_command(r.endpoint_name, config)}`. Clients are watched for errors naming it."
        ),
        source=source,
        evidence={"retiring": r.to_dict(), "deleted_at": iso(deleted_at), "wasted_usd": wasted},
        status=STATUS_RESOLVED,
    )


def tag_changed_finding(
    r: Retiring,
    changed_by: str,
    new_value: str | None,
    action: str,
    event_id: str,
    event_time: str,
    source: str,
    old_key: str = "",
) -> Finding:
    now_value = "removed it" if new_value is None else f"set it to {new_value!r}"
    done = (
        "The tag was put back to retiring."
        if action == "reverted"
        else "The tag was left as it is (settings: flag only); the retirement stays open."
    )
    if old_key:
        done = f"Kept: retirement.purpose_tag_key changed since {old_key}=retiring. Or: cancel, `mlgov retire request`."
    return _finding(
        r,
        kind=KIND_TAG_CHANGED,
        severity="MEDIUM" if old_key else "HIGH",
        title=f"Endpoint {r.endpoint_name}: retiring tag changed while its retirement is open",
        detail=(
            f"{changed_by} {now_value} at {event_time} while the retirement of {r.endpoint_name} (deadline "
            f"{r.deadline}, owner {r.owner or 'unknown'}) is open. {done} To keep the endpoint, close the "
            f"retirement first: `mlgov retire cancel --endpoint {r.endpoint_name} --reason TEXT`."
        ),
        source=source,
        evidence={
            "endpoint_name": r.endpoint_name,
            "changed_by": changed_by,
            "new_value": new_value,
            "action": action,
            "event_id": event_id,
            "event_time": event_time,
        },
    )


def safety_abort_finding(
    r: Retiring, invocations: int | None, window_hours: int, approved_by: str, checked_at: datetime, why: str
) -> Finding:
    seen = (
        f"{invocations:,} invocations in the last {window_hours} h"
        if invocations is not None
        else f"invocations could not be read ({why})"
    )
    return _finding(
        r,
        kind=KIND_SAFETY_ABORT,
        severity="HIGH",
        title=f"Deletion of endpoint {r.endpoint_name} aborted: {seen}",
        detail=(
            f"Approved by {approved_by}, but the live check right before deleting saw {seen}. Nothing was "
            f"deleted, whatever its tags say. Find the caller still using it (cached client URLs, old app "
            f"versions), move it, wait for 24 h without invocations, then `mlgov retire request --endpoint "
            f"{r.endpoint_name}`."
        ),
        source="pipeline",
        evidence={
            "endpoint_name": r.endpoint_name,
            "invocations": invocations,
            "window_hours": window_hours,
            "approved_by": approved_by,
            "checked_at": iso(checked_at),
        },
    )


def still_called_finding(
    subject: Any, config_name: str, deleted_at: str, errors: dict[str, int], source: str
) -> Finding:
    total = sum(errors.values())
    counts = (
        ", ".join(f"{metric} {count:,}" for metric, count in sorted(errors.items())) + ". Some client still resolves"
    )
    title = f"Clients still call deleted endpoint {subject.endpoint_name}: {total:,} errors since {deleted_at[:16]}"
    if not errors:
        counts = "nothing read, retirement.client_error_metrics is empty (set it, deploy). A client may still resolve"
        title = f"Deleted endpoint {subject.endpoint_name}: late callers unwatched"
    return _finding(
        subject,
        kind=KIND_STILL_CALLED,
        severity="HIGH" if errors else "MEDIUM",
        title=title,
        detail=(
            f"Since {subject.endpoint_name} was deleted at {deleted_at}: {counts} it "
            f"(an old app version or a cached URL). Bridge them now by re-creating it from its kept config: "
            f"`{recreate_command(subject.endpoint_name, config_name)}`, then move the client and retire it again."
        ),
        source=source,
        evidence={
            "endpoint_name": subject.endpoint_name,
            "endpoint_config_name": config_name,
            "deleted_at": deleted_at,
            "metrics": sorted(errors),
        },
    )
