"""Endpoint retirement rules on in-memory fakes (no AWS): verdicts, cost, purpose tags, the retiring
lifecycle and the deletion steps' safety checks."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlgov.ops.retirement_check import check_endpoint
from mlgov_runtime.approvals.logic import (
    ApprovalRequest,
    decision_message,
    request_id_for,
    requester_message,
)
from mlgov_runtime.core.findings import STATUS_OPEN, STATUS_RESOLVED
from mlgov_runtime.retirement.audit import (
    EndpointRef,
    on_tag_change,
    open_retiring,
    run_retiring_deadlines,
    run_stale_audit,
)
from mlgov_runtime.retirement.deletion import SAFETY_ABORT_METRIC, Steps
from mlgov_runtime.retirement.events import InvalidEvent, TagChange, parse_event
from mlgov_runtime.retirement.findings import (
    KIND_CANDIDATE,
    KIND_PURPOSE_TAG,
    KIND_RETIRING,
    KIND_SAFETY_ABORT,
    KIND_STALE,
    KIND_STILL_CALLED,
    KIND_TAG_CHANGED,
    check_findings,
)
from mlgov_runtime.retirement.logic import (
    INVOCATIONS_SETTLE,
    ApprovedVersion,
    EndpointGone,
    EndpointView,
    ErrorMetric,
    ReadFailure,
    RetirementPolicy,
    Variant,
    Verdict,
    endpoint_cost,
    iso,
    wasted_usd,
)
from tests.unit.fakes import FindingBook

ACCOUNT, REGION, GROUP = "111122223333", "eu-west-1", "manga-recommender"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
V2_APPROVED = NOW - timedelta(days=30)


def package(version: int) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/{version}"


class FakeEndpoints:
    def __init__(self) -> None:
        self.views: dict[str, EndpointView] = {}
        self.approved: dict[str, ApprovedVersion | None] = {GROUP: ApprovedVersion(GROUP, 2, package(2), V2_APPROVED)}
        self.unreadable: set[str] = set()
        self.calls: list[tuple[str, ...]] = []
        self.components: dict[str, list[str]] = {}
        self.components_unreadable: set[str] = set()

    def add(
        self,
        name: str,
        *refs: str,
        tags: dict[str, str] | None = None,
        instance_type: str | None = "ml.g4dn.2xlarge",
        count: int = 1,
        variants: tuple[Variant, ...] | None = None,
    ) -> None:
        self.views[name] = EndpointView(
            name=name,
            arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}",
            status="InService",
            config_name=f"{name}-config",
            created_at=NOW - timedelta(days=200),
            variants=variants
            or (Variant("AllTraffic", instance_type, count, refs or (package(1),), serverless=instance_type is None),),
            tags={"managed_by": "manga-recommender-pipeline", **(tags or {})},
        )

    def list_in_service(self) -> Any:
        return iter(list(self.views))

    def describe(self, name: str) -> EndpointView:
        if name in self.unreadable:
            raise ReadFailure(f"endpoint {name}: AccessDeniedException")
        if name not in self.views:
            raise EndpointGone(name)
        return self.views[name]

    def current_approved(self, group: str) -> ApprovedVersion | None:
        return self.approved.get(group)

    def tag(self, name: str, key: str, value: str) -> None:
        self.calls.append(("tag", name, key, value))
        view = self.describe(name)
        self.views[name] = replace(view, tags={**view.tags, key: value})

    def snapshot(self, name: str) -> dict[str, Any]:
        self.calls.append(("snapshot", name))
        return {"endpoint_config_name": f"{name}-config", "models": [{"ModelName": "m"}], "tags": {}}

    def delete(self, name: str) -> None:
        self.calls.append(("delete", name))
        del self.views[name]

    def component_names(self, name: str) -> list[str]:
        if name in self.components_unreadable:
            raise ReadFailure(f"inference components of {name}: AccessDeniedException")
        return list(self.components.get(name, []))


class FakeMetrics:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.error_counts: dict[str, dict[str, int]] = {}
        self.broken = False
        self.windows: list[tuple[str, datetime, datetime]] = []

    def invocations(self, endpoint_name: str, variant_names: Any, start: datetime, end: datetime) -> int:
        self.windows.append((endpoint_name, start, end))
        if self.broken:
            raise ReadFailure(f"invocations of {endpoint_name}: ThrottlingException")
        return self.counts.get(endpoint_name, 0)

    def errors(self, endpoint_name: str, metrics: Any, start: datetime, end: datetime) -> dict[str, int]:
        return dict(self.error_counts.get(endpoint_name, {}))

    def component_invocations(self, component_names: Any, start: datetime, end: datetime) -> int:
        return sum(self.counts.get(name, 0) for name in component_names)


@pytest.fixture
def sm() -> FakeEndpoints:
    return FakeEndpoints()


@pytest.fixture
def cw() -> FakeMetrics:
    return FakeMetrics()


POLICY = RetirementPolicy()


def check(sm: FakeEndpoints, cw: FakeMetrics, name: str, policy: RetirementPolicy = POLICY) -> Any:
    return check_endpoint(name, sm, cw, policy, NOW, ACCOUNT, REGION)


# -- verdicts


def test_given_old_version_with_traffic_then_stale_active_naming_traffic_and_cost(
    sm: FakeEndpoints, cw: FakeMetrics
) -> None:
    sm.add("manga-recommender-v1", tags={"endpoint_purpose": "active"})
    cw.counts["manga-recommender-v1"] = 4920
    result = check(sm, cw, "manga-recommender-v1")
    assert result.verdict is Verdict.STALE_ENDPOINT_ACTIVE
    assert (result.invocations_24h, result.served_versions, result.current_versions) == (
        4920,
        [f"{GROUP}/1"],
        [f"{GROUP}/2"],
    )
    assert result.cost.monthly_usd == pytest.approx(0.94 * 730)
    assert "4,920 invocations in the last 24 h" in " ".join(result.reasons)
    assert "$686/month" in " ".join(result.reasons)
    [(_, start, end)] = cw.windows
    assert end - start == timedelta(hours=24)


def test_given_old_version_without_traffic_then_a_retirement_candidate_with_the_request_command(
    sm: FakeEndpoints, cw: FakeMetrics
) -> None:
    sm.add("manga-recommender-v1-ab")
    result = check(sm, cw, "manga-recommender-v1-ab")
    assert result.verdict is Verdict.RETIREMENT_CANDIDATE
    assert result.invocations_24h == 0
    assert "mlgov retire request --endpoint manga-recommender-v1-ab" in result.next_step
    assert result.stale_since == V2_APPROVED  # redundant since v2 was approved (it existed before)


def test_given_the_current_version_then_current_even_without_traffic(sm: FakeEndpoints, cw: FakeMetrics) -> None:
    sm.add("manga-recommender-v2", package(2))
    assert check(sm, cw, "manga-recommender-v2").verdict is Verdict.CURRENT


def test_an_ab_endpoint_whose_champion_serves_the_current_version_is_current(
    sm: FakeEndpoints, cw: FakeMetrics
) -> None:
    sm.add(
        "manga-recommender-ab",
        variants=(
            Variant("champion", "ml.g5.xlarge", 2, (package(2),)),
            Variant("challenger", "ml.g5.xlarge", 1, (package(1),)),
        ),
    )
    cw.counts["manga-recommender-ab"] = 100
    result = check(sm, cw, "manga-recommender-ab")
    assert result.verdict is Verdict.CURRENT
    assert result.cost.monthly_usd == pytest.approx(3 * 1.408 * 730)


def test_a_shadow_variant_on_the_current_version_does_not_make_an_endpoint_current(
    sm: FakeEndpoints, cw: FakeMetrics
) -> None:
    sm.add(
        "manga-recommender-v1",
        variants=(
            Variant("AllTraffic", "ml.g4dn.2xlarge", 1, (package(1),)),
            Variant("shadow", "ml.g4dn.2xlarge", 1, (package(2),), shadow=True),
        ),
    )
    cw.counts["manga-recommender-v1"] = 10
    assert check(sm, cw, "manga-recommender-v1").verdict is Verdict.STALE_ENDPOINT_ACTIVE


def test_unreadable_invocations_are_an_error_never_a_candidate(sm: FakeEndpoints, cw: FakeMetrics) -> None:
    sm.add("manga-recommender-v1")
    cw.broken = True
    result = check(sm, cw, "manga-recommender-v1")
    assert result.verdict is Verdict.ERROR
    assert result.invocations_24h is None
    assert "ThrottlingException" in result.reasons[0]


def test_an_unregistered_model_is_not_the_current_version(sm: FakeEndpoints, cw: FakeMetrics) -> None:
    sm.add("manga-recommender-raw", "")
    result = check(sm, cw, "manga-recommender-raw")
    assert result.verdict is Verdict.RETIREMENT_CANDIDATE
    assert result.served_versions == ["unregistered"]


def test_a_group_without_an_approved_version_says_so(sm: FakeEndpoints, cw: FakeMetrics) -> None:
    sm.approved[GROUP] = None
    sm.add("manga-recommender-v1")
    result = check(sm, cw, "manga-recommender-v1")
    assert result.verdict is Verdict.RETIREMENT_CANDIDATE
    assert "has no Approved version" in result.reasons[0]


def test_cost_is_instance_count_times_list_price_and_names_a_missing_price() -> None:
    assert endpoint_cost([Variant("a", "ml.g4dn.2xlarge", 2, ())], {"ml.g4dn.2xlarge": 0.94}).monthly_usd == 1372.4
    unknown = endpoint_cost([Variant("a", "ml.p5.48xlarge", 1, ())], {"ml.g4dn.2xlarge": 0.94})
    assert unknown.monthly_usd is None and "ml.p5.48xlarge" in unknown.basis
    assert endpoint_cost([Variant("a", None, 1, (), serverless=True)], {}).monthly_usd == 0


def test_wasted_money_runs_from_when_the_endpoint_stopped_being_needed() -> None:
    assert wasted_usd(0.94, NOW - timedelta(days=30), NOW) == pytest.approx(0.94 * 720)
    assert wasted_usd(None, NOW - timedelta(days=30), NOW) is None


@pytest.mark.parametrize(
    ("tags", "problem"),
    [
        ({}, "has no endpoint_purpose tag"),
        ({"endpoint_purpose": "prod"}, "'prod', which is not one of active|testing|retiring|retired"),
        ({"endpoint_purpose": "retired"}, "tagged endpoint_purpose=retired but still exists and bills (about $686"),
        ({"endpoint_purpose": "testing"}, None),
    ],
)
def test_purpose_tag_problems(sm: FakeEndpoints, cw: FakeMetrics, tags: dict[str, str], problem: str | None) -> None:
    sm.add("manga-recommender-v2", package(2), tags=tags)
    found = check(sm, cw, "manga-recommender-v2").purpose_problem
    assert (found is None) if problem is None else (problem in str(found))


def test_watched_by_managed_by_tag_or_name_prefix() -> None:
    assert POLICY.watches("anything", {"managed_by": "manga-recommender-pipeline"})
    assert POLICY.watches("manga-recommender-x", {})
    assert not POLICY.watches("fraud-model", {"managed_by": "someone-else"})


# -- the audit and its findings


def test_audit_opens_stale_and_candidate_findings_and_skips_unwatched(sm: FakeEndpoints, cw: FakeMetrics) -> None:
    sm.add("manga-recommender-v1", tags={"endpoint_purpose": "active"})
    sm.add("manga-recommender-v1-ab", tags={"endpoint_purpose": "active"})
    sm.add("manga-recommender-v2", package(2), tags={"endpoint_purpose": "active"})
    sm.views["fraud-model"] = replace(sm.views["manga-recommender-v2"], name="fraud-model", tags={})
    cw.counts["manga-recommender-v1"] = 4920
    book = FindingBook()
    run = run_stale_audit(sm, cw, book, POLICY, NOW, ACCOUNT, REGION)
    assert {c.endpoint_name: c.verdict.value for c in run.checks} == {
        "manga-recommender-v1": "STALE_ENDPOINT_ACTIVE",
        "manga-recommender-v1-ab": "RETIREMENT_CANDIDATE",
        "manga-recommender-v2": "CURRENT",
    }
    assert run.skipped == 1
    assert book.kinds() == [(KIND_STALE, STATUS_OPEN), (KIND_CANDIDATE, STATUS_OPEN)]
    stale = book.published[0]
    assert stale.severity == "HIGH" and "4,920 invocations" in stale.title
    assert stale.evidence["monthly_cost_usd"] == pytest.approx(686.2)
    assert "mlgov retire request --endpoint manga-recommender-v1" in stale.detail
    assert not [c for c in sm.calls if c[0] in ("tag", "delete")]  # the audit never writes


def test_an_endpoint_that_stops_taking_traffic_moves_from_stale_to_candidate(
    sm: FakeEndpoints, cw: FakeMetrics
) -> None:
    sm.add("manga-recommender-v1", tags={"endpoint_purpose": "active"})
    cw.counts["manga-recommender-v1"] = 10
    book = FindingBook()
    run_stale_audit(sm, cw, book, POLICY, NOW, ACCOUNT, REGION)
    cw.counts["manga-recommender-v1"] = 0
    run_stale_audit(sm, cw, book, POLICY, NOW + timedelta(days=30), ACCOUNT, REGION)
    assert book.kinds() == [(KIND_STALE, STATUS_OPEN), (KIND_CANDIDATE, STATUS_OPEN), (KIND_STALE, STATUS_RESOLVED)]


def test_an_error_verdict_closes_nothing(sm: FakeEndpoints, cw: FakeMetrics) -> None:
    sm.add("manga-recommender-v1")
    cw.broken = True
    kinds = [(f.kind, f.status) for f in check_findings(check(sm, cw, "manga-recommender-v1"), "scheduled")]
    assert kinds == [("ENDPOINT_RETIREMENT_CHECK_FAILED", STATUS_OPEN)]


def test_audit_reports_a_missing_purpose_tag_with_the_command_that_fixes_it(sm: FakeEndpoints, cw: FakeMetrics) -> None:
    sm.add("manga-recommender-v2", package(2))
    book = FindingBook()
    run_stale_audit(sm, cw, book, POLICY, NOW, ACCOUNT, REGION)
    [finding] = book.published
    assert finding.kind == KIND_PURPOSE_TAG
    assert "--tags Key=endpoint_purpose,Value=active" in finding.detail


# -- the retiring lifecycle


def tag_change(name: str, *, set_tags: dict[str, str] | None = None, removed: tuple[str, ...] = ()) -> TagChange:
    return TagChange(
        "DeleteTags" if removed else "AddTags",
        name,
        set_tags or {},
        removed,
        "arn:aws:sts::111122223333:assumed-role/DataScientist/x",
        "2026-11-28T10:00:00Z",
    )


def retire(sm: FakeEndpoints, book: FindingBook, name: str, response: str = "revert", **change: Any) -> str:
    outcome, _ = on_tag_change(tag_change(name, **change), sm, book, POLICY, response, NOW, ACCOUNT, REGION, "ev-1")
    return outcome


def test_tagging_retiring_opens_a_retirement_with_a_seven_day_deadline_and_the_owner(sm: FakeEndpoints) -> None:
    sm.add("manga-recommender-v1", tags={"endpoint_purpose": "retiring", "owner": "mobile-team"})
    book = FindingBook()
    assert retire(sm, book, "manga-recommender-v1", set_tags={"endpoint_purpose": "retiring"}) == "retirement opened"
    [finding] = book.published
    assert (finding.kind, finding.severity) == (KIND_RETIRING, "MEDIUM")
    assert finding.evidence["retiring"]["deadline"] == "2026-12-05T10:00:00Z"
    assert finding.evidence["retiring"]["owner"] == "mobile-team"
    assert "delete by 2026-12-05 (owner mobile-team)" in finding.title
    assert retire(sm, book, "manga-recommender-v1", set_tags={"endpoint_purpose": "retiring"}) == "already retiring"


@pytest.mark.parametrize(
    "change",
    [{"set_tags": {"endpoint_purpose": "active"}}, {"removed": ("endpoint_purpose",)}],
    ids=["changed", "removed"],
)
def test_changing_retiring_while_open_is_reverted_and_reported(sm: FakeEndpoints, change: dict[str, Any]) -> None:
    sm.add("manga-recommender-v1", tags={"endpoint_purpose": "retiring"})
    book = FindingBook()
    retire(sm, book, "manga-recommender-v1", set_tags={"endpoint_purpose": "retiring"})
    assert retire(sm, book, "manga-recommender-v1", **change) == "retiring tag change reverted"
    assert sm.calls == [("tag", "manga-recommender-v1", "endpoint_purpose", "retiring")]
    finding = book.published[-1]
    assert (finding.kind, finding.severity) == (KIND_TAG_CHANGED, "HIGH")
    assert "assumed-role/DataScientist" in finding.detail and "put back to retiring" in finding.detail
    assert "mlgov retire cancel --endpoint manga-recommender-v1" in finding.detail


def test_flag_mode_reports_without_touching_the_tag(sm: FakeEndpoints) -> None:
    sm.add("manga-recommender-v1", tags={"endpoint_purpose": "retiring"})
    book = FindingBook()
    retire(sm, book, "manga-recommender-v1", set_tags={"endpoint_purpose": "retiring"})
    outcome = retire(sm, book, "manga-recommender-v1", response="flag", set_tags={"endpoint_purpose": "active"})
    assert outcome == "retiring tag change flagged"
    assert sm.calls == []
    assert book.published[-1].kind == KIND_TAG_CHANGED


def test_a_tag_change_without_an_open_retirement_is_left_alone(sm: FakeEndpoints) -> None:
    sm.add("manga-recommender-v1", tags={"endpoint_purpose": "active"})
    book = FindingBook()
    assert retire(sm, book, "manga-recommender-v1", set_tags={"endpoint_purpose": "testing"}) == "nothing to do"
    assert sm.calls == [] and book.published == []


def test_past_the_deadline_the_retirement_escalates_once(sm: FakeEndpoints) -> None:
    sm.add("manga-recommender-v1", tags={"endpoint_purpose": "retiring", "owner": "mobile-team"})
    book = FindingBook()
    run_retiring_deadlines(sm, book, POLICY, NOW, ACCOUNT, REGION)  # first seen retiring: opened
    assert run_retiring_deadlines(sm, book, POLICY, NOW + timedelta(days=6), ACCOUNT, REGION) == []
    [escalated] = run_retiring_deadlines(sm, book, POLICY, NOW + timedelta(days=7), ACCOUNT, REGION)
    assert escalated.severity == "HIGH" and "past its retirement deadline 2026-12-05" in escalated.title
    assert run_retiring_deadlines(sm, book, POLICY, NOW + timedelta(days=8), ACCOUNT, REGION) == []


# -- the deletion steps


EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:retirement:retire-v1-ab"


ALICE_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/MLOps/alice"
BOB_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/MLOpsApprover/bob"
APPROVERS = {"retirement": (f"arn:aws:sts::{ACCOUNT}:assumed-role/MLOpsApprover/*",)}


class FakeMacs:
    """HMAC with a key only this object holds (KMS's GenerateMac/VerifyMac, in-process)."""

    def __init__(self, key: bytes = b"service-only") -> None:
        self._key = key

    def generate(self, message: bytes) -> str:
        import hashlib
        import hmac

        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def verify(self, message: bytes, mac: str) -> bool:
        import hmac

        return hmac.compare_digest(self.generate(message), mac)


MACS = FakeMacs()


class FakeApprovals:
    def __init__(self) -> None:
        self.records: dict[str, ApprovalRequest] = {}
        self.tokens: dict[str, str] = {}

    def open(self, execution: str, by: str = ALICE_ARN) -> None:
        """What the approval service records before it starts the execution."""
        request = ApprovalRequest(
            request_id_for(execution), "retirement", "manga-recommender-v1-ab", execution, by, "", ""
        )
        self.records[request.request_id] = replace(request, requester_mac=MACS.generate(requester_message(request)))

    def create(self, request: ApprovalRequest, token: str, expires_epoch: int) -> None:
        opened = self.records.get(request.request_id)
        if opened is None:
            self.records[request.request_id] = request
        elif request.request_id not in self.tokens:
            self.records[request.request_id] = replace(
                opened, expires_at=request.expires_at, requested_at=request.requested_at, bound=request.bound
            )
        self.tokens.setdefault(request.request_id, token)

    def get(self, request_id: str) -> ApprovalRequest | None:
        return self.records.get(request_id)

    def approve(self, execution: str, by: str, macs: FakeMacs = MACS) -> None:
        """What the approval service records (with its MAC) when an approver decides."""
        rid = request_id_for(execution)
        decided = replace(self.records[rid], status="APPROVED", decided_by=by, decided_at="t", channel="cli")
        self.records[rid] = replace(decided, decision_mac=macs.generate(decision_message(decided)))


class FakeExecutions:
    def __init__(self) -> None:
        self.running: dict[str, str] = {EXECUTION: "manga-recommender-v1-ab"}

    def describe(self, execution_arn: str) -> dict[str, Any] | None:
        if execution_arn not in self.running:
            return None
        return {"status": "RUNNING", "input": json.dumps({"endpoint_name": self.running[execution_arn]})}


def steps(
    sm: FakeEndpoints,
    cw: FakeMetrics,
    book: FindingBook,
    emitted: list[tuple[str, float]],
    approvals: FakeApprovals | None = None,
) -> Steps:
    return Steps(
        sm,
        cw,
        book,
        POLICY,
        ACCOUNT,
        REGION,
        now=lambda: NOW,
        emit=lambda name, value: emitted.append((name, value)),
        approval_expiry_hours=72,
        watch_hours=72,
        error_metrics=[ErrorMetric("MangaAssist/Recommendations", "EndpointInvocationErrors")],
        approvals=approvals or FakeApprovals(),
        executions=FakeExecutions(),
        state_machine_name="retirement",
        macs=MACS,
        approvers=APPROVERS,
    )


@pytest.fixture
def requested(sm: FakeEndpoints, cw: FakeMetrics) -> tuple[Steps, FindingBook, list[tuple[str, float]], dict[str, Any]]:
    """A candidate requested and approved: the state when the delete step runs."""
    sm.add("manga-recommender-v1-ab", tags={"owner": "recsys"})
    book, emitted, approvals = FindingBook(), list[tuple[str, float]](), FakeApprovals()
    run = steps(sm, cw, book, emitted, approvals)
    state: dict[str, Any] = {"endpoint_name": "manga-recommender-v1-ab", "reason": "v2 live"}
    approvals.open(EXECUTION)
    state["prepared"] = run.prepare(state, EXECUTION)
    run.request_approval(state, "TOKEN-1", EXECUTION)
    assert approvals.tokens == {request_id_for(EXECUTION): "TOKEN-1"}  # kept in the approvals store only
    approvals.approve(EXECUTION, BOB_ARN)
    state["approval"] = {"approved_by": BOB_ARN}
    return run, book, emitted, state


def test_prepare_tags_the_candidate_retiring_and_opens_its_retirement(requested: Any, sm: FakeEndpoints) -> None:
    _, book, _, state = requested
    assert state["prepared"]["eligible"] is True
    assert sm.views["manga-recommender-v1-ab"].tags["endpoint_purpose"] == "retiring"
    request = book.published[-1]
    assert request.kind == KIND_RETIRING
    rid = request_id_for(EXECUTION)
    assert f"mlgov retire approve --request {rid}" in request.detail
    assert f"mlgov retire deny --request {rid}" in request.detail
    assert "TOKEN-1" not in json.dumps(request.to_dict())
    assert "expires at 2026-12-01T12:00:00Z" in request.detail


@pytest.mark.parametrize(
    ("name", "ref", "traffic", "why"),
    [
        ("manga-recommender-v2", package(2), 0, "serves the current Approved version"),
        ("manga-recommender-v1", package(1), 3, "still took 3 invocations in the last 24 h"),
    ],
)
def test_prepare_refuses_what_is_not_a_candidate(
    sm: FakeEndpoints, cw: FakeMetrics, name: str, ref: str, traffic: int, why: str
) -> None:
    sm.add(name, ref)
    cw.counts[name] = traffic
    run = steps(sm, cw, FindingBook(), [])
    run.executions.running[EXECUTION] = name  # type: ignore[union-attr]
    prepared = run.prepare({"endpoint_name": name}, EXECUTION)
    assert prepared["eligible"] is False and why in prepared["reason"]
    assert sm.calls == []


def test_invocations_after_approval_abort_the_deletion_whatever_the_tags_say(
    requested: Any, sm: FakeEndpoints, cw: FakeMetrics
) -> None:
    run, book, emitted, state = requested
    cw.counts["manga-recommender-v1-ab"] = 7
    result = run.delete(state, EXECUTION)
    assert result["outcome"] == "aborted" and result["invocations"] == 7
    assert "manga-recommender-v1-ab" in sm.views  # nothing deleted
    assert not [c for c in sm.calls if c[0] in ("snapshot", "delete")]
    assert emitted == [(SAFETY_ABORT_METRIC, 1)]
    abort = next(f for f in book.published if f.kind == KIND_SAFETY_ABORT)
    assert "7 invocations in the last 1 h" in abort.title and "Nothing was deleted" in abort.detail
    [(_, start, end)] = cw.windows[-1:]
    # No first check recorded: the window still reaches a full safety window before the settled minutes
    assert end - start == timedelta(hours=1) + INVOCATIONS_SETTLE
    retiring = open_retiring(book, EndpointRef("manga-recommender-v1-ab", ACCOUNT, REGION))
    assert retiring is not None and retiring.request is None


def test_unreadable_invocations_abort_the_deletion(requested: Any, sm: FakeEndpoints, cw: FakeMetrics) -> None:
    run, _, emitted, state = requested
    cw.broken = True
    assert run.delete(state, EXECUTION)["outcome"] == "aborted"
    assert "manga-recommender-v1-ab" in sm.views and emitted == [(SAFETY_ABORT_METRIC, 1)]


def test_without_invocations_the_config_is_recorded_before_the_endpoint_is_deleted(
    requested: Any, sm: FakeEndpoints
) -> None:
    run, book, emitted, state = requested
    result = run.delete(state, EXECUTION)
    assert result["outcome"] == "deleted"
    assert [c[0] for c in sm.calls if c[0] in ("snapshot", "delete")] == ["snapshot", "delete"]
    assert emitted == [(SAFETY_ABORT_METRIC, 0)]
    closing = book.published[-1]
    assert (closing.kind, closing.status) == (KIND_RETIRING, STATUS_RESOLVED)
    assert closing.evidence["wasted_usd"] == pytest.approx(0.94 * 720)  # since v2's approval, 30 days
    assert "arn:aws:sagemaker:eu-west-1:111122223333:endpoint/manga-recommender-v1-ab" in closing.detail
    assert "mlgov retire recreate --endpoint manga-recommender-v1-ab --endpoint-config" in closing.detail
    assert closing.evidence["retiring"]["recreate"]["endpoint_config_name"] == "manga-recommender-v1-ab-config"
    assert result["watch"] == {"remaining": 72, "since": "2026-11-28T12:00:00Z"}


def test_a_retried_delete_after_the_endpoint_went_finishes_the_closing(requested: Any, sm: FakeEndpoints) -> None:
    run, book, _, state = requested
    run.delete(state, EXECUTION)
    book.items[next(iter(k for k, v in book.items.items() if "ENDPOINT_RETIRING" in v["finding"]))]["status"] = "OPEN"
    assert run.delete(state, EXECUTION)["outcome"] == "deleted"
    assert [c[0] for c in sm.calls].count("delete") == 1


def test_an_endpoint_gone_with_a_snapshot_from_before_the_upgrade_aborts_telling_what_to_do(
    requested: Any, sm: FakeEndpoints
) -> None:
    # Given a retirement whose delete step recorded its snapshot before snapshots named their execution
    # (retiring.recreate.execution), the endpoint deleted, the retirement not closed
    run, book, _, state = requested
    run.delete(state, EXECUTION)
    item = next(v for v in book.items.values() if v["kind"] == KIND_RETIRING)
    finding = json.loads(item["finding"])
    del finding["evidence"]["retiring"]["recreate"]["execution"]
    item.update(status=STATUS_OPEN, finding=json.dumps(finding), evidence=finding["evidence"])
    # When the step runs again and finds the endpoint gone
    result = run.delete(state, EXECUTION)
    # Then nothing is closed as deleted, and the abort, on the step's answer and on the retirement the on-call
    # engineer sees, names the next commands and the runbook step
    assert result["outcome"] == "aborted" and "nothing deleted by this run" in result["reason"]
    retiring = open_retiring(book, EndpointRef("manga-recommender-v1-ab", ACCOUNT, REGION))
    assert retiring is not None and retiring.request is None
    for said in (result["reason"], str(retiring.last_outcome), book.published[-1].detail):
        assert "mlgov retire cancel --endpoint manga-recommender-v1-ab --reason" in said, said
        assert "mlgov retire recreate --endpoint manga-recommender-v1-ab --endpoint-config" in said
        assert "AttributeValue=DeleteEndpoint" in said and "Endpoint gone before the final check" in said
    assert [c[0] for c in sm.calls].count("delete") == 1
    # The runbook step the abort points to exists and names the same commands
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "retirement.md").read_text()
    runbook = docs.split("### Endpoint gone before the final check", 1)[1].split("\n## ", 1)[0]
    assert "mlgov retire cancel --endpoint E" in runbook and "mlgov retire recreate --endpoint E" in runbook


def test_a_cancelled_retirement_is_never_deleted(requested: Any, sm: FakeEndpoints) -> None:
    run, book, _, state = requested
    for item in book.items.values():
        item["status"] = STATUS_RESOLVED
    assert run.delete(state, EXECUTION)["outcome"] == "aborted"
    assert "manga-recommender-v1-ab" in sm.views


def test_a_removed_retiring_tag_stops_the_deletion(requested: Any, sm: FakeEndpoints) -> None:
    run, book, _, state = requested
    sm.tag("manga-recommender-v1-ab", "endpoint_purpose", "active")
    assert run.delete(state, EXECUTION)["outcome"] == "aborted"
    assert "manga-recommender-v1-ab" in sm.views
    assert "no longer tagged endpoint_purpose=retiring" in book.published[-1].detail


@pytest.mark.parametrize(
    ("error", "says"),
    [
        ({"Error": "States.Timeout"}, "expired after 72 h"),
        ({"Error": "DeletionDenied", "Cause": '{"reason": "mobile 3.2 still on v1"}'}, "mobile 3.2 still on v1"),
        # No DENIED record under the service's MAC: the cause is quoted, never taken for who denied.
        ({"Error": "DeletionDenied", "Cause": '{"denied_by": "ceo"}'}, "Deletion denied (unverified cause: "),
    ],
)
def test_a_denied_or_expired_request_says_so_on_the_retirement(
    requested: Any, sm: FakeEndpoints, error: dict[str, str], says: str
) -> None:
    run, book, _, state = requested
    closed = run.close_request({**state, "error": error}, EXECUTION)
    assert says in closed["closed"]
    retiring = open_retiring(book, EndpointRef("manga-recommender-v1-ab", ACCOUNT, REGION))
    assert retiring is not None and retiring.request is None and says in str(retiring.last_outcome)
    assert "manga-recommender-v1-ab" in sm.views


def test_the_watch_raises_a_finding_with_the_recreate_command_when_clients_still_call(
    requested: Any, cw: FakeMetrics
) -> None:
    run, book, _, state = requested
    state["deletion"] = run.delete(state, EXECUTION)
    assert run.watch(state, EXECUTION) == {"remaining": 71, "since": "2026-11-28T12:00:00Z", "errors": 0}
    cw.error_counts["manga-recommender-v1-ab"] = {"MangaAssist/Recommendations/EndpointInvocationErrors": 38}
    assert run.watch(state, EXECUTION)["errors"] == 38
    finding = book.published[-1]
    assert (finding.kind, finding.severity) == (KIND_STILL_CALLED, "HIGH")
    assert "EndpointInvocationErrors 38" in finding.detail
    assert (
        "mlgov retire recreate --endpoint manga-recommender-v1-ab --endpoint-config manga-recommender-v1-ab-config"
        in finding.detail
    )


# -- events


def test_cloudtrail_tag_events_parse_into_tag_changes(event_fixture: Any) -> None:
    added = parse_event(event_fixture("cloudtrail_add_tags_retiring.json"))
    assert added.task == "tag_change" and added.tag_change is not None
    assert added.tag_change.endpoint_name == "manga-recommender-v1"
    assert added.tag_change.set_tags == {"endpoint_purpose": "retiring", "owner": "mobile-team"}
    removed = parse_event(event_fixture("cloudtrail_delete_tags_purpose.json"))
    assert removed.tag_change is not None and removed.tag_change.removed_keys == ("endpoint_purpose",)
    assert "DataScientist" in removed.tag_change.changed_by
    assert type(added).from_dict(added.to_dict()) == added


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"errorCode": "AccessDenied"}, "failed (AccessDenied)"),
        ({"requestParameters": {"resourceArn": "arn:aws:sagemaker:us-east-1:123456789012:model/m"}}, "not an endpoint"),
        ({"eventName": "CreateEndpoint"}, "not AddTags or DeleteTags"),
    ],
)
def test_tag_events_that_change_no_endpoint_tag_are_rejected(
    event_fixture: Any, change: dict[str, Any], why: str
) -> None:
    event = event_fixture("cloudtrail_add_tags_retiring.json")
    event["detail"].update(change)
    with pytest.raises(InvalidEvent, match=re.escape(why)):
        parse_event(event)


def test_scheduled_tasks_round_trip(event_fixture: Any) -> None:
    event = parse_event(event_fixture("scheduled_retirement_audit.json"))
    assert (event.task, event.account_id) == ("stale_audit", "123456789012")
    assert type(event).from_dict(event.to_dict()) == event


def test_traffic_through_inference_components_aborts_the_deletion(
    requested: Any, sm: FakeEndpoints, cw: FakeMetrics
) -> None:
    # The variant reads zero (an inference-component endpoint reports per component), the component is busy.
    run, _, emitted, state = requested
    sm.components["manga-recommender-v1-ab"] = ["ic-lora-v1"]
    cw.counts["ic-lora-v1"] = 12
    result = run.delete(state, EXECUTION)
    assert result["outcome"] == "aborted" and result["invocations"] == 12
    assert "manga-recommender-v1-ab" in sm.views and emitted == [(SAFETY_ABORT_METRIC, 1)]


def test_components_that_cannot_be_listed_abort_the_deletion(requested: Any, sm: FakeEndpoints) -> None:
    run, _, emitted, state = requested
    sm.components_unreadable.add("manga-recommender-v1-ab")
    result = run.delete(state, EXECUTION)
    assert result["outcome"] == "aborted" and result["invocations"] is None
    assert "manga-recommender-v1-ab" in sm.views and emitted == [(SAFETY_ABORT_METRIC, 1)]


def test_the_audit_counts_component_traffic_so_a_busy_component_endpoint_is_never_a_candidate(
    sm: FakeEndpoints, cw: FakeMetrics
) -> None:
    from dataclasses import replace as with_

    sm.add("manga-recommender-v1-ic", package(1))
    sm.views["manga-recommender-v1-ic"] = with_(sm.views["manga-recommender-v1-ic"], components=("ic-lora-v1",))
    cw.counts["ic-lora-v1"] = 9  # the variant reads zero
    check = check_endpoint("manga-recommender-v1-ic", sm, cw, RetirementPolicy(), NOW, ACCOUNT, REGION)
    assert check.verdict is Verdict.STALE_ENDPOINT_ACTIVE and check.invocations_24h == 9


# -- the approval record the delete step believes (approvals hardening)


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        # flipped to APPROVED by someone with table and states rights, MACed with a key that is not the service's
        (lambda a: a.approve(EXECUTION, BOB_ARN, FakeMacs(b"not-the-service")), "valid MAC"),
        # MACed, but decided by someone who is not a configured approver
        (lambda a: a.approve(EXECUTION, f"arn:aws:sts::{ACCOUNT}:assumed-role/Operators/eve"), "not a configured"),
        # the requester's own role under another session name
        (lambda a: a.approve(EXECUTION, ALICE_ARN.replace("alice", "alice-2")), "not a configured"),
    ],
)
def test_a_record_the_approval_service_did_not_make_deletes_nothing(
    requested: Any, sm: FakeEndpoints, tamper: Any, why: str
) -> None:
    run, _, _, state = requested
    rid = request_id_for(EXECUTION)
    run.approvals.records[rid] = replace(run.approvals.records[rid], status="PENDING", decision_mac=None)
    tamper(run.approvals)
    result = run.delete(state, EXECUTION)
    assert result["outcome"] == "refused" and why in result["reason"], result
    assert "manga-recommender-v1-ab" in sm.views


def test_an_unverified_requester_is_never_deleted_for(sm: FakeEndpoints, cw: FakeMetrics) -> None:
    """Started with StartExecution directly: the step writes a record without a requester."""
    sm.add("manga-recommender-v1-ab", tags={"owner": "recsys"})
    approvals = FakeApprovals()
    run = steps(sm, cw, FindingBook(), [], approvals)
    state: dict[str, Any] = {"endpoint_name": "manga-recommender-v1-ab", "requested_by": ALICE_ARN}
    state["prepared"] = run.prepare(state, EXECUTION)
    run.request_approval(state, "TOKEN-1", EXECUTION)
    assert approvals.records[request_id_for(EXECUTION)].requested_by == ""  # never the state's name
    approvals.approve(EXECUTION, BOB_ARN)
    result = run.delete(state, EXECUTION)
    assert result["outcome"] == "refused" and "no verified requester" in result["reason"]


@pytest.mark.parametrize(
    "change",
    [
        {"config_name": "manga-recommender-v1-ab-config-2"},
        {"created_at": NOW - timedelta(hours=1)},  # deleted and re-created under the same name
    ],
)
def test_an_endpoint_changed_since_the_request_is_not_deleted(
    requested: Any, sm: FakeEndpoints, change: dict[str, Any]
) -> None:
    run, _, _, state = requested
    name = "manga-recommender-v1-ab"
    sm.views[name] = replace(sm.views[name], **change)
    result = run.delete(state, EXECUTION)
    assert result["outcome"] == "aborted" and "not the endpoint that was approved" in result["reason"]
    assert not [c for c in sm.calls if c[0] == "delete"]


@pytest.mark.parametrize("step", ["prepare", "close_request", "watch"])
def test_every_step_acts_only_for_a_running_execution_of_its_machine(requested: Any, step: str) -> None:
    from mlgov_runtime.retirement.deletion import ApprovalUnverifiable

    run, book, _, state = requested
    state["deletion"] = {"watch": {"remaining": 3, "since": "2026-11-28T12:00:00Z"}}
    before = len(book.published)
    other = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:other-machine:x"
    for execution in ("", other, EXECUTION.replace("retire-v1-ab", "finished")):
        with pytest.raises(ApprovalUnverifiable):
            getattr(run, step)(state, execution)
    assert len(book.published) == before


class SettlingMetrics(FakeMetrics):
    """AWS/SageMaker Invocations as CloudWatch shows them: `per_minute` from `since` on, but a minute reads as
    nothing until `lag` after it ends (CloudWatch's newest minutes are not settled)."""

    def __init__(self, clock: list[datetime], since: datetime, per_minute: int, lag: timedelta) -> None:
        super().__init__()
        self.clock, self.since, self.per_minute, self.lag = clock, since, per_minute, lag

    def invocations(self, endpoint_name: str, variant_names: Any, start: datetime, end: datetime) -> int:
        self.windows.append((endpoint_name, start, end))
        minute, total = max(start, self.since), 0
        while minute < end and minute + timedelta(minutes=1) + self.lag <= self.clock[0]:
            total += self.per_minute
            minute += timedelta(minutes=1)
        return total


def _as_the_machine_runs(run: Steps, state: dict[str, Any], clock: list[datetime]) -> dict[str, Any]:
    """CheckIdle, the wait for CloudWatch to settle, then DeleteIfIdle, as the state machine runs them."""
    state["idle"] = run.check_idle(state, EXECUTION)
    if state["idle"]["outcome"] != "idle":
        return dict(state["idle"])
    clock[0] += INVOCATIONS_SETTLE
    result: dict[str, Any] = run.delete(state, EXECUTION)
    return result


def test_traffic_that_resumed_just_before_the_checks_is_seen_once_settled(sm: FakeEndpoints) -> None:
    # Given an approved retirement whose endpoint took traffic again a minute before the first live check, which
    # CloudWatch does not show yet (its newest two minutes are unsettled)
    clock = [NOW]
    cw = SettlingMetrics(clock, NOW - timedelta(minutes=1), per_minute=5, lag=timedelta(minutes=2))
    sm.add("manga-recommender-v1-ab", tags={"owner": "recsys"})
    book, emitted, approvals = FindingBook(), list[tuple[str, float]](), FakeApprovals()
    run = steps(sm, cw, book, emitted, approvals)
    state: dict[str, Any] = {"endpoint_name": "manga-recommender-v1-ab", "reason": "v2 live"}
    approvals.open(EXECUTION)
    state["prepared"] = run.prepare(state, EXECUTION)
    run.request_approval(state, "TOKEN-1", EXECUTION)
    approvals.approve(EXECUTION, BOB_ARN)
    run.now = lambda: clock[0]
    # When the state machine runs its checks and the delete
    result = _as_the_machine_runs(run, state, clock)
    # Then the final check, reading only once every minute up to the first check has settled, sees the traffic
    assert result["outcome"] == "aborted" and result["invocations"] > 0, result
    assert "manga-recommender-v1-ab" in sm.views and not [c for c in sm.calls if c[0] == "delete"]
    assert emitted[-1] == (SAFETY_ABORT_METRIC, 1)
    # And the final window reaches back through the first check's time and a full safety window before it
    _, start, end = cw.windows[-1]
    assert start <= NOW - timedelta(hours=POLICY.safety_window_hours) and end == NOW + INVOCATIONS_SETTLE


def test_an_idle_endpoint_passes_both_checks_and_is_deleted(sm: FakeEndpoints) -> None:
    clock = [NOW]
    cw = SettlingMetrics(clock, NOW + timedelta(days=1), per_minute=5, lag=timedelta(minutes=2))
    sm.add("manga-recommender-v1-ab", tags={"owner": "recsys"})
    book, emitted, approvals = FindingBook(), list[tuple[str, float]](), FakeApprovals()
    run = steps(sm, cw, book, emitted, approvals)
    state: dict[str, Any] = {"endpoint_name": "manga-recommender-v1-ab", "reason": "v2 live"}
    approvals.open(EXECUTION)
    state["prepared"] = run.prepare(state, EXECUTION)
    run.request_approval(state, "TOKEN-1", EXECUTION)
    approvals.approve(EXECUTION, BOB_ARN)
    run.now = lambda: clock[0]
    result = _as_the_machine_runs(run, state, clock)
    assert result["outcome"] == "deleted" and state["idle"]["checked_at"] == iso(NOW)
    assert "manga-recommender-v1-ab" not in sm.views


@pytest.mark.parametrize("checked_at", ["2026-11-29T12:00:00Z", "9999-12-31T23:59:59-14:00", "not a time", None])
def test_a_forged_or_missing_first_check_time_only_widens_the_final_window(
    requested: Any, cw: FakeMetrics, checked_at: str | None
) -> None:
    # A first check "in the future" (an execution input carrying its own idle, were CheckIdle skipped) or unreadable
    run, _, _, state = requested
    state["idle"] = {"outcome": "idle", "checked_at": checked_at}
    assert run.delete(state, EXECUTION)["outcome"] == "deleted"
    [(_, start, end)] = cw.windows[-1:]
    assert end == NOW and start <= NOW - INVOCATIONS_SETTLE - timedelta(hours=POLICY.safety_window_hours)
