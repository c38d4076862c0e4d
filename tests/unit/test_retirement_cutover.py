"""Issue 27 item 4: after a cut-over the old endpoint must go quiet. Rules on in-memory fakes: the cut-over
signal, invocations by hour per variant and per inference component, and missing data that is never quiet."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from mlgov_runtime.retirement.audit import run_stale_audit
from mlgov_runtime.retirement.findings import KIND_NOT_QUIET, KIND_QUIET_UNVERIFIED
from mlgov_runtime.retirement.logic import RetirementPolicy, Variant, iso
from tests.unit.fakes import FindingBook
from tests.unit.test_retirement import ACCOUNT, NOW, REGION, V2_APPROVED, FakeEndpoints, FakeMetrics, package

OLD, NEW = "manga-recommender-v1", "manga-recommender-v2"
CUT = NOW - timedelta(hours=30)  # v2's endpoint finished its update 30 h ago


class FakeHourly(FakeMetrics):
    """Invocations by hour as CloudWatch holds them: only hours with a datapoint."""

    def __init__(self) -> None:
        super().__init__()
        self.variants: dict[str, dict[str, dict[str, float]]] = {}
        self.components: dict[str, dict[str, dict[str, float]]] = {}
        self.reads: list[str] = []

    def hourly_invocations(
        self, endpoint_name: str, variant_names: Any, components: Any, start: datetime, end: datetime
    ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
        self.reads.append(endpoint_name)
        return self.variants.get(endpoint_name, {}), self.components.get(endpoint_name, {})


def hours_ago(*offsets: int, count: float = 40) -> dict[str, float]:
    return {iso((NOW - timedelta(hours=h)).replace(minute=0, second=0, microsecond=0)): count for h in offsets}


def estate() -> tuple[FakeEndpoints, FakeHourly]:
    sm, cw = FakeEndpoints(), FakeHourly()
    sm.add(OLD, package(1), tags={"endpoint_purpose": "active"})
    sm.add(NEW, package(2), tags={"endpoint_purpose": "active"})
    sm.views[NEW] = replace(sm.views[NEW], modified_at=CUT)
    cw.counts = {OLD: 120, NEW: 9000}
    cw.variants[NEW] = {"AllTraffic": hours_ago(*range(24), count=375)}
    return sm, cw


def audit(sm: FakeEndpoints, cw: FakeHourly, book: FindingBook | None = None, **kwargs: Any) -> dict[str, Any]:
    run = run_stale_audit(sm, cw, book, RetirementPolicy(), NOW, ACCOUNT, REGION, quiet=cw, **kwargs)
    return {c.endpoint_name: c.cutover for c in run.checks}


def test_an_old_endpoint_still_called_after_the_cutover_is_a_finding_with_its_hours_and_the_fix() -> None:
    sm, cw = estate()
    cw.variants[OLD] = {"AllTraffic": hours_ago(3, 2, 1), "Canary": {}}
    book = FindingBook()
    quiet = audit(sm, cw, book)
    assert quiet[NEW] is None  # the successor itself was not cut over
    old = quiet[OLD]
    assert (old["status"], old["successor"], old["cutover_at"]) == ("STILL_CALLED", NEW, iso(CUT))
    assert old["invocations"] == 120
    assert old["window"] == {"start": iso(CUT + timedelta(hours=24)), "end": iso(NOW)}
    # Every hour of the window is there; hours without a datapoint say so (None), never 0.
    assert [h["invocations"] for h in old["hours"]] == [None, None, None, 40, 40, 40]
    assert old["by_variant"]["Canary"] == [None] * 6
    [finding] = [f for f in book.published if f.kind == KIND_NOT_QUIET]
    assert finding.severity == "HIGH" and "still takes traffic 24 h after its cut-over" in finding.title
    assert f"move them to {NEW}" in finding.detail
    assert f"`mlgov retire audit --went-quiet --endpoint {OLD}`" in finding.detail
    assert "#/endpoints/manga-recommender-v1" in finding.detail  # where to watch the series
    assert finding.evidence["cutover"]["hours"] == old["hours"]


def test_inference_component_traffic_counts_and_is_shown_per_component() -> None:
    sm, cw = estate()
    sm.views[OLD] = replace(
        sm.views[OLD],
        variants=(Variant("AllTraffic", "ml.g5.2xlarge", 1, (package(1),)),),
        components=("recommender-v1-ic",),
    )
    cw.components[OLD] = {"recommender-v1-ic": hours_ago(1, count=7)}
    old = audit(sm, cw)[OLD]
    assert old["status"] == "STILL_CALLED" and old["by_inference_component"]["recommender-v1-ic"][-1] == 7
    assert "inference component recommender-v1-ic 7" in old["reason"]


def test_no_datapoint_is_quiet_only_when_the_successor_shows_cloudwatch_was_recording() -> None:
    sm, cw = estate()
    book = FindingBook()
    assert audit(sm, cw, book)[OLD]["status"] == "QUIET"  # v2 recorded 9,000 in the same window
    assert all(h["invocations"] is None for h in audit(sm, cw)[OLD]["hours"])
    cw.variants[NEW] = {}  # nothing recorded anywhere: silence proves nothing
    book = FindingBook()
    old = audit(sm, cw, book)[OLD]
    assert (old["status"], old["invocations"]) == ("NO_DATA", None)
    assert "no data, not quiet" in old["reason"]
    [finding] = [f for f in book.published if f.kind == KIND_QUIET_UNVERIFIED]
    assert finding.severity == "MEDIUM"


def test_recorded_zeros_are_quiet() -> None:
    sm, cw = estate()
    cw.variants[NEW] = {}
    cw.variants[OLD] = {"AllTraffic": hours_ago(2, 1, count=0)}
    assert audit(sm, cw)[OLD]["status"] == "QUIET"


def test_before_the_grace_period_ends_the_check_is_pending_and_reads_no_metric() -> None:
    sm, cw = estate()
    sm.views[NEW] = replace(sm.views[NEW], modified_at=NOW - timedelta(hours=2))
    old = audit(sm, cw)[OLD]
    assert old["status"] == "PENDING" and old["due_at"] == iso(NOW + timedelta(hours=22))
    assert cw.reads == []
    assert audit(sm, cw, grace_hours=1)[OLD]["status"] == "QUIET"  # the pipeline's own, shorter grace


def test_without_a_successor_only_the_retiring_tag_starts_the_check() -> None:
    sm, cw = estate()
    del sm.views[NEW]
    assert audit(sm, cw)[OLD] is None  # nothing serves v2 and nobody said retiring: no cut-over
    sm.views[OLD] = replace(sm.views[OLD], tags={**sm.views[OLD].tags, "endpoint_purpose": "retiring"})
    old = audit(sm, cw)[OLD]
    assert old["cutover_at"] == iso(V2_APPROVED) and "retiring" in old["signal"]
    assert old["status"] == "NO_DATA"  # and no successor to show CloudWatch was recording


def test_a_named_endpoint_finds_its_successor_among_the_watched_ones_and_a_stated_cutover_wins() -> None:
    sm, cw = estate()
    cw.variants[OLD] = {"AllTraffic": hours_ago(1)}
    old = audit(sm, cw, names=[OLD])[OLD]
    assert (old["successor"], old["status"]) == (NEW, "STILL_CALLED")
    stated = NOW - timedelta(hours=3)
    old = audit(sm, cw, names=[OLD], cutover_at=stated, grace_hours=0.5)[OLD]
    assert old["cutover_at"] == iso(stated) and old["signal"].endswith("(--cutover-at)")
    assert old["window"]["start"] == iso(stated + timedelta(minutes=30))


def test_quiet_closes_an_open_still_called_finding() -> None:
    sm, cw = estate()
    cw.variants[OLD] = {"AllTraffic": hours_ago(1)}
    book = FindingBook()
    audit(sm, cw, book)
    cw.variants[OLD] = {}
    audit(sm, cw, book)
    closed = [f for f in book.published if f.kind == KIND_NOT_QUIET and f.status == "RESOLVED"]
    assert len(closed) == 1 and "went quiet" in closed[0].title
