"""The org scan's aggregate at scale, on fakes: PublishBatch groups, a publishing deadline (injected, never the
wall clock) after which nothing is lost, and the per-kind limit that rolls the rest up into the summary."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator

from mlgov_runtime.adapters.findings_store import BATCH_BYTES, BATCH_ENTRIES, batches, message_bytes
from mlgov_runtime.core.findings import STATUS_RESOLVED, Finding
from mlgov_runtime.org_scan.logic import OK, TargetResult
from mlgov_runtime.org_scan.report import (
    KIND_SUMMARY,
    aggregate,
    mark_rolled_up,
    summary_finding,
    to_markdown,
)
from tests.unit.fakes import ACCOUNT, REGION
from tests.unit.test_org_scan import CHECK_KINDS, RUN, Ledger

REPORT_URI = "s3://mlgov-org-scan-reports/org-scan/runs/scan-1/report.json"


def arn(i: int) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/ep-{i:05d}"


def violation(i: int, severity: str = "HIGH", kind: str = "UNREGISTERED_ENDPOINT") -> Finding:
    return Finding(kind, severity, ACCOUNT, REGION, arn(i), f"ep-{i} serves an unregistered model", "d", "scheduled")


def week(endpoints: int, violating: range | list[int], severity: str = "HIGH") -> list[TargetResult]:
    """One reached account/region of `endpoints` endpoints; those in `violating` are UNREGISTERED."""
    bad = set(violating)
    rows = [
        {"endpoint_name": f"ep-{i}", "endpoint_arn": arn(i), "verdict": "UNREGISTERED" if i in bad else "COMPLIANT"}
        for i in range(endpoints)
    ]
    return [TargetResult(ACCOUNT, REGION, OK, endpoints=rows, findings=[violation(i, severity) for i in sorted(bad)])]


def budget(calls: int) -> Callable[[], float]:
    """A deadline that passes after `calls` looks at the clock (the aggregate looks once per store or batch)."""
    left = iter(range(calls, 0, -1))
    return lambda: float(next(left, 0))


def test_findings_go_out_in_publish_batches_of_ten_and_each_is_marked_once() -> None:
    ledger = Ledger()
    done = aggregate(RUN, week(100, range(95)), ledger, CHECK_KINDS, previous=None)
    assert len(done.published) == 95 and sorted(ledger.batches) == [5] + [10] * 9
    assert all(item["published"] == item["stored"].fingerprint() for item in ledger.items.values())
    assert done.report["published"]["sent"] == 95 and done.report["published"]["unpublished"] == 0
    # The same week again: each conditional write says nothing changed, so nothing is published.
    again = aggregate(RUN, week(100, range(95)), ledger, CHECK_KINDS, previous=done.report)
    assert again.published == [] and len(ledger.batches) == 10


def test_a_run_out_of_time_loses_nothing_the_next_run_publishes_the_rest_once() -> None:
    ledger = Ledger()
    # 40 findings; the clock allows the 40 conditional writes, the four groups of claims and two PublishBatch
    # calls, then it has passed.
    first = aggregate(RUN, week(50, range(40)), ledger, CHECK_KINDS, previous=None, concurrency=1, time_left=budget(46))
    published = first.report["published"]
    assert (published["sent"], published["unpublished"], published["not_stored"]) == (20, 20, 0)
    assert len(first.report["findings"]) == 40  # every finding is in the report whatever was published
    stored = [i for i in ledger.items.values() if i["published"] != i["stored"].fingerprint()]
    assert len(stored) == 20  # stored-but-unpublished: the fingerprint columns disagree
    # Next week, with time: each of the other 20 goes out exactly once, and nothing twice.
    second = aggregate(RUN, week(50, range(40)), ledger, CHECK_KINDS, previous=first.report)
    assert (second.report["published"]["sent"], second.report["published"]["unpublished"]) == (20, 0)
    ids = Counter(f.finding_id for f in ledger.sent)
    assert len(ids) == 40 and set(ids.values()) == {1}


def test_findings_the_deadline_left_unstored_are_stored_and_published_by_the_next_run() -> None:
    ledger = Ledger()
    first = aggregate(RUN, week(50, range(40)), ledger, CHECK_KINDS, previous=None, concurrency=1, time_left=budget(30))
    published = first.report["published"]
    assert (published["sent"], published["unpublished"], published["not_stored"]) == (0, 30, 10)
    assert len(ledger.items) == 30 and len(first.report["findings"]) == 40
    aggregate(RUN, week(50, range(40)), ledger, CHECK_KINDS, previous=first.report)
    ids = Counter(f.finding_id for f in ledger.sent)
    assert len(ids) == 40 and set(ids.values()) == {1}


def test_a_closing_stored_but_not_published_goes_out_with_the_next_run() -> None:
    ledger = Ledger()
    aggregate(RUN, week(3, [0, 1]), ledger, CHECK_KINDS, previous=None)
    # ep-0 fixed: its closing is stored, then the run dies before publishing (no time for any batch).
    aggregate(RUN, week(3, [1]), ledger, CHECK_KINDS, previous=None, concurrency=1, time_left=budget(2))
    assert ledger.items[violation(0).finding_id]["status"] == STATUS_RESOLVED
    before = len(ledger.sent)
    # The next run sees nothing open for ep-0, yet the stored closing is still due: it is published then.
    third = aggregate(RUN, week(3, [1]), ledger, CHECK_KINDS, previous=None)
    went = ledger.sent[before:]
    assert [(f.finding_id, f.status) for f in went] == [(violation(0).finding_id, STATUS_RESOLVED)]
    assert third.report["published"]["published_from_earlier_runs"] == 1


def test_beyond_the_limit_per_kind_findings_roll_up_into_one_summary_and_stay_stored() -> None:
    ledger = Ledger()
    results = week(300, range(250))
    results[0].findings[0] = violation(0, "CRITICAL")
    done = aggregate(RUN, results, ledger, CHECK_KINDS, previous=None, max_per_kind=25)
    # The most severe go out one by one, the rest are rolled up; all 250 are stored and in the report.
    assert len(done.published) == 25 and done.published[0].severity == "CRITICAL"
    assert len(done.rolled_up) == 225 and len(ledger.items) == 250 and len(done.report["findings"]) == 250
    rolled = done.report["rolled_up"]
    assert rolled["by_kind"] == {"UNREGISTERED_ENDPOINT": {"OPEN": 225}} and len(rolled["findings"]) == 225
    summary = summary_finding(done.report, RUN, REPORT_URI, ACCOUNT, REGION)
    # As severe as the worst rolled-up finding, so the default route files it in Jira once.
    assert summary.kind == KIND_SUMMARY and summary.severity == "HIGH"
    assert "225 findings were not sent one by one" in summary.detail and REPORT_URI in summary.detail
    assert f"mlgov scan --accounts {ACCOUNT} --regions {REGION}`" in summary.detail
    assert "## Not sent one by one (225" in to_markdown(done.report)
    mark_rolled_up(ledger, done.rolled_up, RUN.run_id)
    assert sum(1 for i in ledger.items.values() if i.get("rolled_up_in") == RUN.run_id) == 225
    # Next week the backlog is told: nothing again; a rolled-up finding that worsens is sent on its own.
    later = week(300, range(250))
    later[0].findings[0] = violation(0, "CRITICAL")
    later[0].findings[100] = violation(100, "CRITICAL")
    again = aggregate(RUN, later, ledger, CHECK_KINDS, previous=done.report, max_per_kind=25)
    assert [f.finding_id for f in again.published] == [violation(100).finding_id] and again.rolled_up == []
    assert summary_finding(again.report, RUN, REPORT_URI, ACCOUNT, REGION).severity == "INFO"


def test_rolled_up_findings_not_marked_because_the_summary_never_went_out_roll_up_again() -> None:
    ledger = Ledger()
    first = aggregate(RUN, week(60, range(50)), ledger, CHECK_KINDS, previous=None, max_per_kind=10)
    assert len(first.rolled_up) == 40  # the run dies before its summary: nothing marks them
    second = aggregate(RUN, week(60, range(50)), ledger, CHECK_KINDS, previous=first.report, max_per_kind=10)
    # Still due: the limit applies again, and what was sent before is not sent twice.
    assert len(second.published) == 10 and len(second.rolled_up) == 30
    assert not {f.finding_id for f in second.published} & {f.finding_id for f in first.published}


def _sizes(findings: list[Finding]) -> Iterator[tuple[int, int]]:
    for group in batches(findings):
        yield len(group), sum(message_bytes(message) for _, message in group)


def test_publish_batches_keep_to_ten_entries_and_256_kib_in_all() -> None:
    small = [violation(i) for i in range(23)]
    assert [n for n, _ in _sizes(small)] == [10, 10, 3]
    big = [
        Finding("UNREGISTERED_ENDPOINT", "HIGH", ACCOUNT, REGION, arn(i), "t", "x" * 100_000, "cli") for i in range(5)
    ]
    sizes = list(_sizes(big))
    assert [n for n, _ in sizes] == [2, 2, 1] and all(size <= BATCH_BYTES for _, size in sizes)
    # The size SNS counts includes the attributes, not only the body.
    [(finding, message)] = next(iter(batches([violation(1)])))
    assert message_bytes(message) > len(json.dumps(finding.to_dict()))
    # The same finding twice never shares a batch (the two would race for the same mark).
    assert [n for n, _ in _sizes([violation(1), violation(1)])] == [1, 1]
    assert BATCH_ENTRIES == 10


def test_a_finding_too_large_for_sns_goes_out_cut_to_fit_and_stays_whole_in_the_store() -> None:
    # SNS refuses a message over 256 KiB for the whole call: such a finding would fail every run's publishing.
    huge_evidence = violation(1)
    huge_evidence.evidence["rows"] = ["x" * 1000] * 400
    huge_detail = violation(2)
    huge_detail.detail = "漫画" * 200_000  # 6 bytes a character once JSON-escaped
    for finding in (huge_evidence, huge_detail, violation(3)):
        [[(_, message)]] = list(batches([finding]))
        assert message_bytes(message) <= BATCH_BYTES
        body = json.loads(message["Message"])
        assert body["finding_id"] == finding.finding_id and body["kind"] == finding.kind
    cut = json.loads(next(iter(batches([huge_evidence])))[0][1]["Message"])
    assert "findings table" in cut["evidence"]["truncated"] and len(huge_evidence.evidence["rows"]) == 400
    assert json.loads(next(iter(batches([violation(3)])))[0][1]["Message"]) == violation(3).to_dict()


# -- a roll-up's resolutions are told the way its openings were


def test_resolutions_of_rolled_up_findings_are_rolled_up_not_sent_one_by_one() -> None:
    ledger = Ledger()
    first = aggregate(RUN, week(60, range(30)), ledger, CHECK_KINDS, previous=None, max_per_kind=10)
    mark_rolled_up(ledger, first.rolled_up, RUN.run_id)
    told = {f.finding_id for f in first.published}
    rolled = [f.finding_id for f in first.rolled_up]
    assert len(told) == 10 and len(rolled) == 20
    # Fifteen of the rolled-up violations are fixed: none of them ever had a message or an issue of its own.
    fixed = {f.finding_id for f in week(60, range(30))[0].findings if f.finding_id in set(rolled[:15])}
    still = [i for i in range(30) if violation(i).finding_id not in fixed]
    second = aggregate(RUN, week(60, still), ledger, CHECK_KINDS, previous=first.report, max_per_kind=10)
    assert second.published == []
    assert {f.finding_id for f in second.rolled_up} == fixed
    assert {f.status for f in second.rolled_up} == {STATUS_RESOLVED}
    # Each stays stored RESOLVED and counted in the summary, which stays open: 5 rolled-up findings remain.
    assert all(ledger.items[fid]["status"] == STATUS_RESOLVED for fid in fixed)
    summary = summary_finding(second.report, RUN, REPORT_URI, ACCOUNT, REGION)
    assert summary.status == "OPEN" and second.report["rolled_up"]["open"] == 5


def test_the_summary_resolves_once_the_last_rolled_up_finding_is_gone() -> None:
    ledger = Ledger()
    first = aggregate(RUN, week(40, range(30)), ledger, CHECK_KINDS, previous=None, max_per_kind=10)
    mark_rolled_up(ledger, first.rolled_up, RUN.run_id)
    assert summary_finding(first.report, RUN, REPORT_URI, ACCOUNT, REGION).severity == "HIGH"
    # Every violation fixed: the ten told one by one close their own issues, the twenty rolled up close with
    # the summary's, which resolves.
    fixed = aggregate(RUN, week(40, []), ledger, CHECK_KINDS, previous=first.report, max_per_kind=10)
    assert {f.finding_id for f in fixed.published} == {f.finding_id for f in first.published}
    assert {f.status for f in fixed.published} == {STATUS_RESOLVED}
    assert len(fixed.rolled_up) == 20 and fixed.report["rolled_up"]["open"] == 0
    summary = summary_finding(fixed.report, RUN, REPORT_URI, ACCOUNT, REGION)
    assert (summary.status, summary.severity) == (STATUS_RESOLVED, "INFO")
    assert "20 rolled-up findings resolved" in summary.detail
    mark_rolled_up(ledger, fixed.rolled_up, RUN.run_id)
    # The week after, nothing rolled up is left to resolve: the summary is an ordinary open INFO one again.
    quiet = aggregate(RUN, week(40, []), ledger, CHECK_KINDS, previous=fixed.report, max_per_kind=10)
    assert quiet.published == [] and quiet.rolled_up == []
    assert summary_finding(quiet.report, RUN, REPORT_URI, ACCOUNT, REGION).status == "OPEN"


def test_resolutions_of_findings_told_one_by_one_are_each_sent_whatever_the_limit() -> None:
    # Each of the 50 has its own issue: a resolution rolled up would leave that issue open for good.
    ledger = Ledger()
    aggregate(RUN, week(60, range(50)), ledger, CHECK_KINDS, previous=None)
    fixed = aggregate(RUN, week(60, []), ledger, CHECK_KINDS, previous=None, max_per_kind=20)
    assert Counter(f.status for f in fixed.published) == {STATUS_RESOLVED: 50}
    assert fixed.rolled_up == []
    assert summary_finding(fixed.report, RUN, REPORT_URI, ACCOUNT, REGION).severity == "INFO"
