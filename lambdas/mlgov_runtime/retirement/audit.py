"""What the retirement function does on its schedules and on tag changes, over injected ports. Never
deletes: the only write is putting a changed `retiring` tag back (when the settings say revert)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from mlgov_runtime.core.findings import Finding, FindingSink, finding_id, store_and_publish
from mlgov_runtime.retirement.cutover import Cutover, HourlyInvocations, check_quiet, find_cutover
from mlgov_runtime.retirement.events import TagChange
from mlgov_runtime.retirement.findings import (
    KIND_RETIRING,
    Retiring,
    check_findings,
    cutover_findings,
    retiring_finding,
    tag_changed_finding,
)
from mlgov_runtime.retirement.logic import (
    RETIRING,
    EndpointGone,
    EndpointReader,
    EndpointView,
    InvocationCounter,
    ReadFailure,
    RetirementCheck,
    RetirementPolicy,
    Verdict,
    check_view,
    endpoint_arn,
    endpoint_cost,
    parse_iso,
)


class Endpoints(EndpointReader, Protocol):
    def list_in_service(self) -> Iterator[str]: ...

    def tag(self, name: str, key: str, value: str) -> None: ...


class FindingBook(FindingSink, Protocol):
    def get(self, finding_id: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class EndpointRef:
    endpoint_name: str
    account_id: str
    region: str

    @property
    def endpoint_arn(self) -> str:
        return endpoint_arn(self.region, self.account_id, self.endpoint_name)


def open_retiring(book: FindingBook, ref: EndpointRef) -> Retiring | None:
    """The endpoint's open retirement, as last stored."""
    item = book.get(finding_id(KIND_RETIRING, ref.account_id, ref.region, ref.endpoint_arn))
    if not item or item.get("status") != "OPEN" or not item.get("finding"):
        return None
    return Retiring.from_evidence(json.loads(item["finding"]).get("evidence", {}))


def start_retiring(view: EndpointView, ref: EndpointRef, policy: RetirementPolicy, tagged_at: datetime) -> Retiring:
    cost = endpoint_cost((v for v in view.variants if not v.shadow), policy.hourly_prices)
    return Retiring.start(
        view.name,
        ref.endpoint_arn,
        ref.account_id,
        ref.region,
        tagged_at,
        policy.retiring_deadline_days,
        policy.owner(view.tags),
        cost.monthly_usd,
    )


def _publish(book: FindingBook, findings: Iterable[Finding], into: list[Finding]) -> None:
    for f in findings:
        if store_and_publish(book, f):
            into.append(f)


@dataclass
class AuditRun:
    checks: list[RetirementCheck] = field(default_factory=list)
    published: list[Finding] = field(default_factory=list)
    skipped: int = 0  # InService endpoints this product does not watch
    unreadable: list[str] = field(default_factory=list)  # unwatched-looking endpoints that could not be read


def _watched_views(
    endpoints: Endpoints, policy: RetirementPolicy, names: Iterable[str] | None, run: AuditRun
) -> Iterator[tuple[str, EndpointView | ReadFailure]]:
    explicit = names is not None
    for name in names if names is not None else endpoints.list_in_service():
        try:
            view = endpoints.describe(name)
        except EndpointGone:
            if explicit:
                yield name, ReadFailure(f"Endpoint {name} does not exist.")
            continue  # deleted since it was listed
        except ReadFailure as exc:
            if explicit or name.startswith(policy.name_prefixes):
                yield name, exc
            else:
                run.unreadable.append(name)
            continue
        if explicit or policy.watches(name, view.tags):
            yield name, view
        else:
            run.skipped += 1


def _quiet_checks(
    pairs: list[tuple[RetirementCheck, EndpointView | None]],
    endpoints: Endpoints,
    quiet: HourlyInvocations,
    policy: RetirementPolicy,
    now: datetime,
    names: Iterable[str] | None,
    cutover_at: datetime | None,
    grace_hours: float | None,
) -> None:
    """Each checked endpoint that was cut over gets its quiet check (check.cutover)."""
    pool = [view for _, view in pairs if view is not None]
    if names is not None:  # named endpoints: their successors are among the other watched endpoints
        named = {view.name for view in pool}
        others = _watched_views(endpoints, policy, None, AuditRun())
        pool += [v for _, v in others if isinstance(v, EndpointView) and v.name not in named]
    by_name = {view.name: view for view in pool}
    grace = policy.quiet_after_cutover_hours if grace_hours is None else grace_hours
    for check, view in pairs:
        if view is None or check.verdict is Verdict.ERROR:
            continue
        found = find_cutover(check, pool, policy)
        if cutover_at is not None:
            found = Cutover(cutover_at, "stated by the caller (--cutover-at)", found.successor if found else None)
        if found is None:
            continue
        successor = by_name.get(found.successor) if found.successor else None
        result = check_quiet(check, view, found, successor, quiet, now, grace, policy.stale_window_hours)
        check.cutover = result.to_dict()


def run_stale_audit(
    endpoints: Endpoints,
    counter: InvocationCounter,
    book: FindingBook | None,
    policy: RetirementPolicy,
    now: datetime,
    account_id: str,
    region: str,
    source: str = "scheduled",
    names: Iterable[str] | None = None,
    quiet: HourlyInvocations | None = None,
    cutover_at: datetime | None = None,
    grace_hours: float | None = None,
) -> AuditRun:
    """Every watched InService endpoint (or the named ones): verdict, findings, retirements opened, and with
    `quiet` the went-quiet check. Without a book (the CLI) nothing is stored or published."""
    run = AuditRun()
    names = list(names) if names is not None else None
    pairs: list[tuple[RetirementCheck, EndpointView | None]] = []
    for name, seen in _watched_views(endpoints, policy, names, run):
        ref = EndpointRef(name, account_id, region)
        if isinstance(seen, ReadFailure):
            window = policy.stale_window_hours
            check = RetirementCheck(
                name, ref.endpoint_arn, account_id, region, Verdict.ERROR, None, window, reasons=[str(seen)]
            )
            pairs.append((check, None))
        else:
            pairs.append((check_view(seen, endpoints, counter, policy, now, account_id, region), seen))
        run.checks.append(pairs[-1][0])
    if quiet is not None:
        _quiet_checks(pairs, endpoints, quiet, policy, now, names, cutover_at, grace_hours)
    if book is None:
        return run
    for check, view in pairs:
        ref = EndpointRef(check.endpoint_name, account_id, region)
        _publish(book, check_findings(check, source, policy.purpose_tag_key), run.published)
        _publish(book, cutover_findings(check, source), run.published)
        if view is not None and check.purpose == RETIRING and open_retiring(book, ref) is None:
            _publish(book, [retiring_finding(start_retiring(view, ref, policy, now), source)], run.published)
    return run


def run_retiring_deadlines(
    endpoints: Endpoints, book: FindingBook, policy: RetirementPolicy, now: datetime, account_id: str, region: str
) -> list[Finding]:
    """Daily: every endpoint tagged retiring has an open retirement; one past its deadline escalates."""
    published: list[Finding] = []
    run = AuditRun()
    for name, seen in _watched_views(endpoints, policy, None, run):
        if isinstance(seen, ReadFailure) or seen.tags.get(policy.purpose_tag_key) != RETIRING:
            continue
        ref = EndpointRef(name, account_id, region)
        retiring = open_retiring(book, ref) or start_retiring(seen, ref, policy, now)
        if not retiring.overdue and retiring.past_deadline(now):
            retiring.overdue = True
        _publish(book, [retiring_finding(retiring, "scheduled")], published)
    return published


def on_tag_change(
    change: TagChange,
    endpoints: Endpoints,
    book: FindingBook,
    policy: RetirementPolicy,
    response: str,
    now: datetime,
    account_id: str,
    region: str,
    event_id: str,
) -> tuple[str, list[Finding]]:
    """Tagging retiring opens a retirement; changing or removing that tag while it is open is put back
    (response "revert") or only reported ("flag")."""
    key = policy.purpose_tag_key
    ref = EndpointRef(change.endpoint_name, account_id, region)
    published: list[Finding] = []
    retiring = open_retiring(book, ref)
    new_value = change.set_tags.get(key)
    if new_value == RETIRING:
        if retiring is not None:
            return "already retiring", published
        try:
            view = endpoints.describe(change.endpoint_name)
        except EndpointGone:
            return "endpoint no longer exists", published
        if view.tags.get(key) != RETIRING:  # the endpoint's tags now, not the event's (a replay, a late delivery)
            return "not retiring now", published
        tagged_at = parse_iso(change.event_time) if change.event_time else now
        _publish(book, [retiring_finding(start_retiring(view, ref, policy, tagged_at), "realtime")], published)
        return "retirement opened", published
    touched = key in change.removed_keys or key in change.set_tags
    if not touched or retiring is None:
        return "nothing to do", published
    action, old = "flagged", ""
    try:
        tags = endpoints.describe(change.endpoint_name).tags
    except (EndpointGone, ReadFailure):  # unread: put back as before
        tags = {}
    # Its tag under another key (purpose_tag_key changed since): this key is not the retirement's to put back.
    if tags.get(key) != RETIRING:
        old = next((k for k, v in sorted(tags.items()) if v == RETIRING), "")
    if old:
        action = "kept"
    elif response == "revert":
        try:
            endpoints.tag(change.endpoint_name, key, RETIRING)
            action = "reverted"
        except EndpointGone:
            pass
    finding = tag_changed_finding(
        retiring, change.changed_by, new_value, action, event_id, change.event_time, "realtime", old
    )
    _publish(book, [finding], published)
    return f"retiring tag change {action}", published
