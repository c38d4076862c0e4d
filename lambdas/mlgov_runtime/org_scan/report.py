"""The org-wide scan's aggregation: report, findings, resolutions, summary (docs/org-scan.md). Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlgov_runtime.core.arns import role_arn
from mlgov_runtime.core.findings import (
    SEVERITIES,
    STATUS_OPEN,
    STATUS_RESOLVED,
    BatchFindingSink,
    Finding,
    FindingSink,
    utc_now_iso,
)
from mlgov_runtime.lineage_audit.logic import VIOLATIONS, AuditSummary, EndpointAudit, Verdict
from mlgov_runtime.org_scan import forwarding, regions
from mlgov_runtime.org_scan.logic import ERROR, OK, Target, TargetResult

KIND_UNREACHABLE = "SCAN_ACCOUNT_UNREACHABLE"
KIND_SUMMARY = "SCAN_SUMMARY"
KIND_FAILED = "SCAN_FAILED"
KIND_FORWARDING = forwarding.KIND
KIND_OUTSIDE = regions.KIND
KINDS = (KIND_UNREACHABLE, KIND_SUMMARY, KIND_FAILED, KIND_FORWARDING, KIND_OUTSIDE)
VIOLATION_VERDICTS = frozenset(v.value for v in VIOLATIONS)


@dataclass(frozen=True)
class Run:
    run_id: str
    started_at: str
    source: str  # scheduled | cli
    role_name: str
    regions: tuple[str, ...]
    resource_arn: str = ""  # the state machine: what the summary finding is about
    skipped: Mapping[str, str] = field(default_factory=dict)
    scope: Mapping[str, Any] = field(default_factory=dict)  # logic.Scope as a dict: why a place is out of it


def complete_results(
    targets: Sequence[Target], found: Mapping[Target, TargetResult], failures: Mapping[Target, str]
) -> list[TargetResult]:
    """One result per planned target: a worker that failed or never ran leaves an ERROR row."""
    results = []
    for target in targets:
        if target in found:
            results.append(found[target])
        elif target in failures:
            results.append(TargetResult.unreachable(target, failures[target], "WORKER_FAILED"))
        else:
            results.append(
                TargetResult.unreachable(
                    target,
                    "No result: the scan stopped before this account/region was scanned. Next: `mlgov scan "
                    f"--accounts {target.account_id} --regions {target.region}`, and see the execution's map run.",
                    "NO_RESULT",
                )
            )
    return results


# -- findings


def unreachable_finding(result: TargetResult, role_name: str, source: str) -> Finding:
    target = f"account {result.account_id} in {result.region}"
    return Finding(
        kind=KIND_UNREACHABLE,
        severity="MEDIUM",
        account_id=result.account_id,
        region=result.region,
        resource_arn=role_arn(result.region, result.account_id, role_name),
        title=f"Weekly scan could not read {target}: its endpoints were not audited",
        detail=(
            f"{result.reason} Until this is fixed, endpoints there are not audited by the weekly scan. Next: see "
            f"why with `aws sts assume-role --region {result.region} --role-arn "
            f"{role_arn(result.region, result.account_id, role_name)} --role-session-name mlgov-check`, fix the "
            f"role or the region, then `mlgov scan --accounts {result.account_id} --regions {result.region} "
            f"--role-name {role_name}`."
        ),
        source=source,
        # Stable while the same cause stands (the message may carry request ids).
        evidence={"account_id": result.account_id, "region": result.region, "reason_code": result.reason_code},
    )


def failure_finding(stage: str, error: str, cause: str, resource_arn: str, account_id: str, region: str) -> Finding:
    return Finding(
        kind=KIND_FAILED,
        severity="HIGH",
        account_id=account_id,
        region=region,
        resource_arn=resource_arn,
        title=f"The weekly org-wide scan failed at {stage}: no account was audited",
        detail=(
            f"{error}: {cause[:1500]}. Next: open the execution in the Step Functions console; when listing the "
            "organization failed, make sure this account is the management account or a delegated administrator "
            "(organizations:ListAccounts), then run `mlgov scan --organization` to scan by hand."
        ),
        source="scheduled",
        evidence={"stage": stage, "error": error},
    )


def rolled_up_text(report: Mapping[str, Any], report_uri: str) -> str:
    """Where the rolled-up findings are, and how to list them."""
    rolled = report.get("rolled_up") or {}
    by_kind = rolled.get("by_kind") or {}
    if not by_kind:
        return ""
    parts = ", ".join(
        f"{kind} {' and '.join(f'{n:,} {status.lower()}' for status, n in counts.items())}"
        for kind, counts in by_kind.items()
    )
    total = sum(n for counts in by_kind.values() for n in counts.values())
    # The account/region with the most of them: the one to look at live first.
    places = Counter((f.get("account_id"), f.get("region")) for f in rolled.get("findings") or [])
    live = ""
    if places:
        (account, region), _ = places.most_common(1)[0]
        live = (
            f", and look at the busiest account/region live with `mlgov scan --accounts {account} --regions {region}`"
        )
    return (
        f" {total:,} findings were not sent one by one (more than {rolled.get('max_per_kind')} of one kind in this "
        f"run, org_scan.max_notifications_per_kind): {parts}. Each is stored and in the report; list them with "
        f"`aws s3 cp {report_uri} - | jq -r '.rolled_up.findings[] | [.kind, .status, .account_id, .region, "
        f".resource_arn] | @tsv'`{live}."
    )


def summary_finding(report: Mapping[str, Any], run: Run, report_uri: str, account_id: str, region: str) -> Finding:
    """INFO; as severe as the worst rolled-up finding, so Jira files it once (docs/org-scan.md)."""
    s = report["summary"]
    reached, total = s["account_regions_reached"], s["account_regions"]
    change = report.get("change", {})
    rolled = report.get("rolled_up") or {}
    rolled_text = rolled_up_text(report, report_uri)
    detail = (
        f"{reached} of {total} account/regions reached; {s['total']} endpoints: {s['compliant']} compliant, "
        f"{s['violations']} violations, {s['errors']} unverifiable, {s['exempt']} exempt; "
        f"{s['findings_open']} open findings ({len(change.get('new', []))} new, "
        f"{len(change.get('resolved', []))} resolved since the last run). Report: {report_uri} (and report.md "
        f"beside it: `aws s3 cp {report_uri.rsplit('/', 1)[0]}/report.md -`). Violations are filed in Jira one per "
        "finding" + (", up to the limit below." if rolled_text else ".") + rolled_text
    )
    if reached < total:
        where = ", ".join(f"{u['account_id']}/{u['region']}" for u in report["unreachable"][:10])
        detail += f" Unreachable: {where}."
    unseen = report.get(NOT_LOOKED_AT) or []
    resolves = bool(rolled.get("resolves_summary"))
    if resolves:
        gone = sum(1 for f in rolled.get("findings", []) if f.get("status") == STATUS_RESOLVED)
        detail += f" {gone:,} rolled-up findings resolved and none is left open: the summary's issue is resolved."
    elif rolled.get("open"):
        there = sum(1 for u in unseen for f in u["findings"] if f.get("rolled_up_in"))
        where = f", {there:,} of them where this run did not look" if there else ""
        detail += f" {rolled['open']:,} rolled-up findings are still open (told in earlier summaries){where}."
    if unseen:
        places = "; ".join(
            f"{u['account_id']}/{u['region']}, {u['count']:,} ({', '.join(u['kinds'])}): {u['reason']}"
            for u in unseen[:3]
        )
        more = f"; {len(unseen) - 3} more" if len(unseen) > 3 else ""
        detail += (
            f" {sum(u['count'] for u in unseen):,} open findings in {len(unseen)} account/regions this run did not "
            f"look at stay open (not scanned is not resolved): {places}{more} (`{NOT_LOOKED_AT}` in the report). "
            f"{unseen[0]['next']}"
        )
    opened = [f["severity"] for f in rolled.get("findings", []) if f.get("status") == STATUS_OPEN]
    severity = min(opened, key=SEVERITIES.index) if opened else "INFO"
    title = f"Weekly org scan: {s['violations']} violations, {reached}/{total} account-regions reached"
    if rolled_text:
        title += f"; {len(rolled.get('findings', [])):,} findings rolled up"
    return Finding(
        kind=KIND_SUMMARY,
        severity=severity,
        account_id=account_id,
        region=region,
        resource_arn=run.resource_arn or f"mlgov:org-scan:{account_id}",
        title=title,
        detail=detail,
        source=run.source,
        evidence={
            "run_id": run.run_id,
            "report": report_uri,
            "summary": dict(s),
            **({"rolled_up": rolled.get("by_kind")} if rolled_text else {}),
        },
        # The state machine's id: RESOLVED closes an earlier summary's issue.
        status=STATUS_RESOLVED if resolves else STATUS_OPEN,
    )


@dataclass
class OpenRecord:
    finding_id: str
    kind: str
    account_id: str
    region: str
    resource_arn: str
    title: str = ""
    severity: str = ""
    # How its opening was told: rolled up in a run's summary, one by one, or never.
    rolled_up_in: str = ""
    told: bool = False

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> OpenRecord:
        return cls(
            str(item["finding_id"]),
            str(item["kind"]),
            str(item.get("account_id", "")),
            str(item.get("region", "")),
            str(item.get("resource_arn", "")),
            str(item.get("title", "")),
            str(item.get("severity", "")),
            str(item.get("rolled_up_in") or ""),
            bool(item.get("published_fingerprint")),
        )

    @property
    def quiet(self) -> bool:
        """No message nor issue of its own: its resolution is rolled up too."""
        return bool(self.rolled_up_in) or not self.told


# In a closing's evidence: it closes a finding only rolled up (or never told), so it is rolled up too.
TOLD = "told"
TOLD_IN_SUMMARY = "in a summary"


def resolutions(
    open_records: Iterable[OpenRecord],
    results: Sequence[TargetResult],
    check_kinds: Mapping[str, tuple[str, ...]],
    reported: set[str],
    source: str,
) -> list[Finding]:
    """Closings of what was open and is no longer reported, only where the scan could look."""
    reached = {r.target for r in results if r.status == OK}
    forwarding_ok = {r.target for r in results if r.status == OK and r.forwarding == forwarding.OK}
    swept = {r.account_id: r.outside for r in results if r.status == OK and r.swept and not r.outside_reason}
    rows = {row.get("endpoint_arn"): row for r in results for row in r.endpoints if row.get("endpoint_arn")}
    # Rows a failed check left without an ARN: the endpoint was listed, so it is not gone.
    listed = {(r.account_id, r.region, str(row["endpoint_name"]).lower()) for r in results for row in r.endpoints}
    # Regions outside org_scan.regions the sweep listed in full: an endpoint it does not list there is gone.
    outside = {
        (r.account_id, g): {n.lower() for n in r.outside.get(g, ())}
        for r in results
        if r.status == OK
        for g in r.listed
    }
    kind_to_check = {kind: name for name, kinds in check_kinds.items() for kind in kinds}
    closing: list[Finding] = []
    for record in open_records:
        if record.finding_id in reported:
            continue
        target = Target(record.account_id, record.region)
        if record.kind == KIND_UNREACHABLE:
            if target not in reached:
                continue
            why = "the account/region was reached"
        elif record.kind == KIND_FORWARDING:
            if target not in forwarding_ok:  # still missing, or unknown: it stays open
                continue
            why = "the forwarding rule is enabled, with the stack's pattern and a target on the governance bus"
        elif record.kind == KIND_OUTSIDE:
            if record.account_id not in swept or record.region in swept[record.account_id]:
                continue
            why = "no endpoint outside the scanned regions there any more (or the region is scanned now)"
        elif record.kind in kind_to_check:
            if target not in reached:
                name, names = _endpoint_name(record), outside.get((record.account_id, record.region))
                if not name or names is None or name in names:
                    continue
                why = "the endpoint no longer exists"
            elif (row := rows.get(record.resource_arn)) is None:
                if (record.account_id, record.region, record.resource_arn.rsplit("/", 1)[-1].lower()) in listed:
                    continue
                why = "the endpoint no longer exists"
            elif kind_to_check[record.kind] in row.get("inconclusive_checks", ()):
                continue
            else:
                why = f"no longer reported (verdict {row.get('verdict', '?')})"
        else:
            continue
        evidence = {"why": why, **({TOLD: TOLD_IN_SUMMARY} if record.quiet else {})}
        closing.append(
            Finding(
                kind=record.kind,
                severity="INFO",
                account_id=record.account_id,
                region=record.region,
                resource_arn=record.resource_arn,
                title=f"Resolved: {record.title or record.kind} ({why})",
                detail=f"The weekly scan no longer sees this problem: {why}.",
                source=source,
                evidence=evidence,
                status=STATUS_RESOLVED,
            )
        )
    return closing


def _endpoint_name(record: OpenRecord) -> str:
    """The endpoint a finding is about, "" when its ARN is not an endpoint's of its own account/region."""
    arn = record.resource_arn.split(":", 5)
    ok = len(arn) == 6 and arn[3:5] == [record.region, record.account_id] and arn[5].startswith("endpoint/")
    return arn[5][9:].lower() if ok else ""


NOT_LOOKED_AT = "open_findings_not_looked_at"
NOT_IN_SCOPE, NOT_REACHED = "NOT_IN_SCOPE", "NOT_REACHED"
GROUP = ("account_id", "region", "why", "reason", "next", "count", "kinds", "findings")
EXCLUDED = "excluded by org_scan.exclude_account_ids"
OUT_OF_SCOPE = "no longer in the scope (org_scan.account_ids, organizational_unit_ids, account_tags, or not ACTIVE)"
SWEPT = "the sweep lists its endpoints: one no longer listed is resolved"
BY_HAND = "No command closes them by hand: they stay open and listed here."


def not_looked_at(records: Iterable[OpenRecord], results: Sequence[TargetResult], run: Run) -> list[dict[str, Any]]:
    """Open findings (not reported, not closed) where this run did not look, per account/region: why, what to do."""
    rows = {r.target: r for r in results}
    planned = {r.account_id for r in results}
    sweeps = {r.account_id: r for r in results if r.status == OK and r.swept}
    places: dict[Target, list[OpenRecord]] = {}
    for rec in records:
        target = Target(rec.account_id, rec.region)
        if rec.kind == KIND_OUTSIDE:
            seen = rec.account_id in sweeps and not sweeps[rec.account_id].outside_reason
        else:
            seen = target in rows and rows[target].status == OK
        if not seen:
            places.setdefault(target, []).append(rec)
    out = []
    for target, found in sorted(places.items()):
        a, g, row = target.account_id, target.region, rows.get(target)
        look = f"look now with `mlgov scan --accounts {a} --regions {g} --role-name {run.role_name}`"
        if row is not None:
            why, reason = NOT_REACHED, f"not reached this run ({row.reason_code}: see `unreachable`)"
            nxt = f"Fix what its row says, or {look}; the next run that reaches it resolves what is gone."
        else:
            why, parts = NOT_IN_SCOPE, []
            if a not in planned:
                excluded = a in run.scope.get("exclude_account_ids", ())
                parts.append(f"account {a}: {EXCLUDED if excluded else run.skipped.get(a) or OUT_OF_SCOPE}")
            if g not in run.regions:
                swept = a in sweeps and g in sweeps[a].listed
                parts.append(f"{g} is not in org_scan.regions ({SWEPT if swept else 'not swept in full'})")
            reason = "; ".join(parts) or "no result for it"
            again = "the account to the scope" if a not in planned else f"{g} to org_scan.regions"
            nxt = f"Re-add {again} and deploy (the next run resolves what is gone), or {look}. {BY_HAND}"
        kinds = dict(sorted(Counter(r.kind for r in found).items()))
        told = [{**_compact(vars(r)), **({"rolled_up_in": r.rolled_up_in} if r.rolled_up_in else {})} for r in found]
        out.append(dict(zip(GROUP, (a, g, why, reason, nxt, len(found), kinds, told), strict=True)))
    return out


PUBLISH_BATCH = 10  # SNS PublishBatch entries per call
TimeLeft = Callable[[], float]  # seconds the aggregate may still spend publishing (<= 0: stop)


@dataclass
class Published:
    """The report's `published`: nothing is dropped (docs/org-scan.md, 'A first run')."""

    sent: list[Finding] = field(default_factory=list)
    rolled_up: list[Finding] = field(default_factory=list)
    unpublished: list[Finding] = field(default_factory=list)
    not_stored: list[Finding] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "sent": len(self.sent),
            "rolled_up": len(self.rolled_up),
            "unpublished": len(self.unpublished),
            "not_stored": len(self.not_stored),
        }


def _out_of_time(time_left: TimeLeft | None) -> bool:
    return time_left is not None and time_left() <= 0


def store_all(
    sink: FindingSink, findings: Sequence[Finding], concurrency: int = 8, time_left: TimeLeft | None = None
) -> tuple[list[Finding], list[Finding]]:
    """The store's conditional write for each: (due: new or changed versions, not stored: out of time)."""
    if not findings:
        return [], []

    def one(finding: Finding) -> bool | None:
        return None if _out_of_time(time_left) else sink.record(finding)

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(findings)))) as pool:
        stored = list(pool.map(one, findings))
    due = [f for f, s in zip(findings, stored, strict=True) if s]
    return due, [f for f, s in zip(findings, stored, strict=True) if s is None]


def _order(finding: Finding) -> tuple[int, int, str, str]:
    """Opened before resolved, the most severe first: what goes out first when time or the limit runs out."""
    return (finding.status != STATUS_OPEN, SEVERITIES.index(finding.severity), finding.kind, finding.finding_id)


def rolled_closing(finding: Finding) -> bool:
    return finding.status == STATUS_RESOLVED and finding.evidence.get(TOLD) == TOLD_IN_SUMMARY


SINGLE, ROLLED = "single", "rolled"


@dataclass
class RollUpDecision:
    """How each due finding of a run is told, decided once: a retry reuses it (docs/org-scan.md)."""

    run_id: str
    how: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # finding_id -> (kind, status, SINGLE|ROLLED)

    def told(self, finding: Finding) -> str | None:
        kind, status, how = self.how.get(finding.finding_id, ("", "", ""))
        return how if (kind, status) == (finding.kind, finding.status) else None

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "findings": {fid: list(v) for fid, v in sorted(self.how.items())}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RollUpDecision:
        how = {str(fid): (str(v[0]), str(v[1]), str(v[2])) for fid, v in (data.get("findings") or {}).items()}
        return cls(str(data.get("run_id") or ""), how)


def split_by_kind(
    due: Sequence[Finding], max_per_kind: int | None, decided: RollUpDecision | None = None
) -> tuple[list[Finding], list[Finding]]:
    """(one by one, rolled up): a resolution as its opening was told, openings up to `max_per_kind`."""
    seen: Counter[str] = Counter()
    for kind, status, how in decided.how.values() if decided else ():
        seen[kind] += how == SINGLE and status == STATUS_OPEN
    single: list[Finding] = []
    rolled: list[Finding] = []
    for finding in sorted(due, key=_order):
        told = decided.told(finding) if decided else None
        if told is not None:
            (single if told == SINGLE else rolled).append(finding)
        elif finding.status == STATUS_RESOLVED:
            (rolled if rolled_closing(finding) else single).append(finding)
        else:
            seen[finding.kind] += 1
            (single if max_per_kind is None or seen[finding.kind] <= max_per_kind else rolled).append(finding)
    return single, rolled


def _in_groups(
    findings: Sequence[Finding], work: Callable[[list[Finding]], list[Finding]], concurrency: int
) -> list[Finding]:
    groups = [list(findings[i : i + PUBLISH_BATCH]) for i in range(0, len(findings), PUBLISH_BATCH)]
    if not groups:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(groups)))) as pool:
        return [f for done in pool.map(work, groups) for f in done]


def publish_due(
    sink: BatchFindingSink, due: Sequence[Finding], concurrency: int = 8, time_left: TimeLeft | None = None
) -> tuple[list[Finding], list[Finding]]:
    """PublishBatch groups, each marked as it goes out: (sent, left unpublished: refused or out of time)."""
    sent = _in_groups(due, lambda group: [] if _out_of_time(time_left) else sink.publish_batch(group), concurrency)
    went = {id(f) for f in sent}
    return sent, [f for f in due if id(f) not in went]


def claim_due(
    ledger: FindingsLedger,
    due: Sequence[Finding],
    run_id: str,
    concurrency: int = 8,
    time_left: TimeLeft | None = None,
) -> tuple[list[Finding], list[Finding], list[Finding]]:
    """(claimed by this run, held by another run, not tried: the time ran out)."""
    tried: list[Finding] = []

    def claim(group: list[Finding]) -> list[Finding]:
        if _out_of_time(time_left):
            return []
        tried.extend(group)
        return ledger.claim(group, run_id)

    claimed = {id(f) for f in _in_groups(due, claim, concurrency)}
    attempted = {id(f) for f in tried}
    return (
        [f for f in due if id(f) in claimed],
        [f for f in due if id(f) in attempted and id(f) not in claimed],
        [f for f in due if id(f) not in attempted],
    )


def mark_rolled_up(sink: BatchFindingSink, rolled: Sequence[Finding], run_id: str, concurrency: int = 8) -> None:
    """Remember the rolled-up findings as told by the run's summary (call once the summary is out)."""

    def mark(group: list[Finding]) -> list[Finding]:
        sink.mark_published(group, rolled_up_in=run_id)
        return group

    _in_groups(rolled, mark, concurrency)


# -- the report


def _compact(finding: Finding | Mapping[str, Any]) -> dict[str, Any]:
    body = finding.to_dict() if isinstance(finding, Finding) else dict(finding)
    keys = ("finding_id", "kind", "severity", "account_id", "region", "resource_arn", "title")
    return {k: body.get(k) for k in keys}


def lineage_summary(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The `summary` of `mlgov audit`, over report rows."""
    audits = []
    for row in rows:
        try:
            verdict = Verdict(str(row.get("verdict")))
        except ValueError:
            verdict = Verdict.ERROR
        audits.append(EndpointAudit(str(row.get("endpoint_name")), None, "", "", verdict))
    return AuditSummary.of(audits).to_dict()


def change_since(
    previous: Mapping[str, Any] | None, current: Sequence[Finding], results: Sequence[TargetResult]
) -> dict[str, Any]:
    """New and resolved since the previous report; where this run could not reach, neither (state unknown)."""
    reached = {(r.account_id, r.region) for r in results if r.status == OK}
    now = {f.finding_id: _compact(f) for f in current}
    before = {f["finding_id"]: f for f in (previous or {}).get("findings", [])}
    return {
        "previous_run_id": (previous or {}).get("run", {}).get("run_id"),
        "new": [f for fid, f in now.items() if fid not in before],
        "resolved": [
            f for fid, f in before.items() if fid not in now and (f.get("account_id"), f.get("region")) in reached
        ],
    }


def build_report(
    run: Run,
    results: Sequence[TargetResult],
    open_findings: Sequence[Finding],
    previous: Mapping[str, Any] | None = None,
    published: Mapping[str, int] | None = None,
    finished_at: str | None = None,
    costs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    rows = [row for r in results for row in r.endpoints]
    reached = sum(1 for r in results if r.status == OK)
    summary = {
        **lineage_summary(rows),
        "account_regions": len(results),
        "account_regions_reached": reached,
        "account_regions_unreachable": len(results) - reached,
        "findings_open": len(open_findings),
    }
    by_account: dict[str, Counter[str]] = {}
    for row in rows:
        by_account.setdefault(str(row.get("account_id")), Counter())[str(row.get("verdict"))] += 1
    accounts = [
        {
            "account_id": r.account_id,
            "region": r.region,
            "status": r.status,
            "reason": r.reason,
            "reason_code": r.reason_code,
            "endpoints": len(r.endpoints),
            "violations": sum(1 for row in r.endpoints if row.get("verdict") in VIOLATION_VERDICTS),
            "findings": len(r.findings),
            "seconds": round(r.seconds, 2),
            **({"forwarding": r.forwarding} if r.forwarding else {}),
            **({"forwarding_reason": r.forwarding_reason} if r.forwarding_reason else {}),
            **({"outside_regions": dict(r.outside)} if r.outside else {}),
            **({"outside_reason": r.outside_reason} if r.outside_reason else {}),
        }
        for r in results
    ]
    snapshot_rows = [
        {
            "account_id": row.get("account_id"),
            "region": row.get("region"),
            "endpoint_name": row.get("endpoint_name"),
            **{k: v for k, v in (row.get("snapshot") or {}).items() if k != "max_age_days"},
        }
        for row in rows
        if row.get("verdict") != Verdict.EXEMPT.value
    ]
    status = "COMPLETE" if reached == len(results) else ("PARTIAL" if reached else "FAILED")
    extra = {"costs_by_purpose": dict(costs)} if costs is not None else {}
    return {
        "run": {
            "run_id": run.run_id,
            "started_at": run.started_at,
            "finished_at": finished_at or utc_now_iso(),
            "source": run.source,
            "regions": list(run.regions),
            "role_name": run.role_name,
        },
        "status": status,
        "status_line": f"{reached} of {len(results)} account/regions reached",
        "accounts": accounts,
        "endpoints": rows,
        "summary": summary,
        "totals_by_verdict": dict(sorted(Counter(str(row.get("verdict")) for row in rows).items())),
        "totals_by_account": {a: dict(sorted(c.items())) for a, c in sorted(by_account.items())},
        "violations": [
            {
                "account_id": row.get("account_id"),
                "region": row.get("region"),
                "endpoint_name": row.get("endpoint_name"),
                "verdict": row.get("verdict"),
                "reason": (row.get("reasons") or [""])[0],
            }
            for row in rows
            if row.get("verdict") in VIOLATION_VERDICTS
        ],
        "unreachable": [a for a in accounts if a["status"] == ERROR],
        "outside_scanned_regions": [
            {"account_id": r.account_id, "region": region, "endpoints": names}
            for r in results
            for region, names in sorted(r.outside.items())
        ],
        "regions_not_looked_at": {r.account_id: r.outside_reason for r in results if r.outside_reason},
        "skipped_accounts": dict(run.skipped),
        "snapshot_ages": snapshot_rows,
        "findings": [_compact(f) for f in open_findings],
        "change": change_since(previous, open_findings, results),
        "published": dict(published or {}),
        **extra,
    }


class FindingsLedger(BatchFindingSink, Protocol):
    def open_findings(self, kinds: Iterable[str]) -> Iterable[Mapping[str, Any]]: ...

    def unpublished(self, kinds: Iterable[str], detected_before: str) -> Iterable[Finding]:
        """Stored versions never published (a run out of time, a crash), last detected before that time."""
        ...

    def claim(self, findings: Sequence[Finding], run_id: str) -> list[Finding]:
        """Those this run may publish (a conditional write each): a concurrent run's claim keeps the rest."""
        ...


@dataclass
class Aggregated:
    report: dict[str, Any]
    published: list[Finding]
    # Told through the summary: the caller marks them once it is out (a crash before: rolled up again).
    rolled_up: list[Finding] = field(default_factory=list)


def aggregate(
    run: Run,
    results: Sequence[TargetResult],
    ledger: FindingsLedger,
    check_kinds: Mapping[str, tuple[str, ...]],
    previous: Mapping[str, Any] | None,
    concurrency: int = 8,
    costs: Mapping[str, Any] | None = None,
    *,
    time_left: TimeLeft | None = None,
    max_per_kind: int | None = None,
    decided: RollUpDecision | None = None,
    keep: Callable[[RollUpDecision], object] | None = None,
) -> Aggregated:
    """Store, publish, close, report (the summary is the caller's); `keep` persists the roll-up first."""
    began = utc_now_iso()
    opened = [f for r in results for f in r.findings]
    opened += [unreachable_finding(r, run.role_name, run.source) for r in results if r.status == ERROR]
    reported = {f.finding_id for f in opened}
    owned = [KIND_UNREACHABLE, KIND_FORWARDING, KIND_OUTSIDE, *(k for kinds in check_kinds.values() for k in kinds)]
    records = [OpenRecord.of(item) for item in ledger.open_findings(owned)]
    closing = resolutions(records, results, check_kinds, reported, run.source)
    due, not_stored = store_all(ledger, [*opened, *closing], concurrency, time_left)
    handled = reported | {f.finding_id for f in closing}
    earlier = [f for f in ledger.unpublished(owned, began) if f.finding_id not in handled]
    single, rolled = split_by_kind([*due, *earlier], max_per_kind, decided)
    if keep is not None:
        decision = RollUpDecision(run.run_id, dict(decided.how) if decided else {})
        for how, findings in ((SINGLE, single), (ROLLED, rolled)):
            decision.how.update({f.finding_id: (f.kind, f.status, how) for f in findings})
        if decided is None or decision.how != decided.how:
            keep(decision)
    claimed, elsewhere, unclaimed = claim_due(ledger, single, run.run_id, concurrency, time_left)
    sent, unpublished = publish_due(ledger, claimed, concurrency, time_left)
    done = Published(sent, rolled, unpublished + unclaimed, not_stored)
    counts = {
        "findings_open": len(opened),
        "published_open": sum(1 for f in sent if f.status != STATUS_RESOLVED),
        "resolved": sum(1 for f in sent if f.status == STATUS_RESOLVED),
        "published_from_earlier_runs": len({id(f) for f in earlier} & {id(f) for f in sent}),
        # Another run (or a change meanwhile) tells them.
        "claimed_by_another_run": len(elsewhere),
        **done.counts(),
    }
    report = build_report(run, results, opened, previous, counts, costs=costs)
    # Rolled-up findings still open once this run's summary is out.
    gone = {f.finding_id for f in closing} | {f.finding_id for f in sent}
    still = {r.finding_id for r in records if r.rolled_up_in and r.finding_id not in gone}
    still |= {f.finding_id for f in rolled if f.status == STATUS_OPEN}
    report["rolled_up"] = rolled_up_section(rolled, max_per_kind, len(still))
    closed = {f.finding_id for f in closing}
    report[NOT_LOOKED_AT] = not_looked_at([r for r in records if r.finding_id not in reported | closed], results, run)
    return Aggregated(report, sent, rolled)


def rolled_up_section(rolled: Sequence[Finding], max_per_kind: int | None, still_open: int = 0) -> dict[str, Any]:
    by_kind: dict[str, Counter[str]] = {}
    for f in rolled:
        by_kind.setdefault(f.kind, Counter())[f.status] += 1
    resolved = sum(1 for f in rolled if f.status == STATUS_RESOLVED)
    return {
        "max_per_kind": max_per_kind,
        "by_kind": {kind: dict(sorted(c.items())) for kind, c in sorted(by_kind.items())},
        "findings": [{**_compact(f), "status": f.status} for f in sorted(rolled, key=_order)],
        # The summary's issue resolves with the last rolled-up finding.
        "open": still_open,
        "resolves_summary": bool(resolved) and not still_open,
    }


# -- Markdown


def _cell(value: Any) -> str:
    return str(value if value is not None else "-").replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def to_markdown(report: Mapping[str, Any]) -> str:
    s, run = report["summary"], report["run"]
    out = [
        f"# Org-wide endpoint scan {run['run_id']}",
        "",
        f"{run['started_at']} to {run['finished_at']}; status **{report['status']}**: {report['status_line']}.",
        "",
        f"**{s['total']} endpoints**: {s['compliant']} compliant, {s['violations']} violations, "
        f"{s['errors']} unverifiable, {s['exempt']} exempt. **{s['findings_open']} open findings.**",
        "",
        "## Totals by account",
        "",
    ]
    verdicts = sorted({v for c in report["totals_by_account"].values() for v in c})
    out += _table(
        ["account", *verdicts],
        ([a, *(c.get(v, 0) for v in verdicts)] for a, c in report["totals_by_account"].items()),
    )
    out += ["", "## Account/regions", ""]
    out += _table(
        ["account", "region", "status", "endpoints", "violations", "reason"],
        (
            [a["account_id"], a["region"], a["status"], a["endpoints"], a["violations"], a["reason"]]
            for a in report["accounts"]
        ),
    )
    out += ["", f"## Violations ({len(report['violations'])})", ""]
    out += _table(
        ["account", "region", "endpoint", "verdict", "first reason"],
        (
            [v["account_id"], v["region"], v["endpoint_name"], v["verdict"], v["reason"][:200]]
            for v in report["violations"]
        ),
    )
    if report["unreachable"]:
        out += ["", f"## Unreachable ({len(report['unreachable'])})", ""]
        out += [f"- {u['account_id']}/{u['region']}: {u['reason']}" for u in report["unreachable"]]
    if unseen := report.get(NOT_LOOKED_AT):
        out += ["", f"## Open findings where this run did not look ({sum(u['count'] for u in unseen)})", ""]
        out += _table(
            ["account", "region", "why", "findings", "reason", "next"],
            ([u["account_id"], u["region"], u["why"], u["count"], u["reason"], u["next"]] for u in unseen),
        )
    out += ["", "## Catalog snapshot age per endpoint", ""]
    out += _table(
        ["account", "region", "endpoint", "status", "snapshot date", "age (days)"],
        (
            [
                r["account_id"],
                r["region"],
                r["endpoint_name"],
                r.get("status"),
                r.get("catalog_snapshot_date"),
                r.get("age_days"),
            ]
            for r in report["snapshot_ages"]
        ),
    )
    if report.get("costs_by_purpose"):
        from mlgov_runtime.retirement.costs import render_lines

        out += [
            "",
            "## SageMaker hosting cost by purpose (last week)",
            "",
            "```",
            *render_lines(report["costs_by_purpose"]),
        ]
        out += ["```"]
    rolled = report.get("rolled_up") or {}
    if rolled.get("by_kind"):
        out += ["", f"## Not sent one by one ({len(rolled['findings'])}: over {rolled['max_per_kind']} of a kind)", ""]
        out += _table(
            ["kind", *sorted({st for c in rolled["by_kind"].values() for st in c})],
            (
                [k, *(c.get(st, 0) for st in sorted({st for c in rolled["by_kind"].values() for st in c}))]
                for k, c in rolled["by_kind"].items()
            ),
        )
        out += ["", "Every one is stored in the findings table and listed under `rolled_up.findings` in report.json."]
    change = report["change"]
    out += ["", f"## Since the last run ({change.get('previous_run_id') or 'none'})", ""]
    out += [f"- new: [{f['severity']}] {f['title']}" for f in change["new"]] or ["- nothing new"]
    out += [f"- resolved: {f['title']}" for f in change["resolved"]]
    return "\n".join(out) + "\n"
