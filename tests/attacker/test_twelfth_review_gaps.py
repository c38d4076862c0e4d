"""Twelfth review (issue 20): an attacker and failure review of the eleventh review's fixes (the notifier's Jira
create marker and SEARCH_SETTLE, the retirement's two checks and not-found delete, the malformed approval record,
the counts table's seal with the deployers and IAM-style matching, the throttled look's pause).

Holes, ranked (each test asserts the SAFE outcome, strict xfail until fixed):
 0. (medium, fixed) a counts read throttled on every look holds the run PAUSED forever: never an end, even past
    max_minutes, so the guardrails are never judged while the challenger keeps its share of traffic. The execution
    times out max_minutes + review_after_days + 6 h later, and a timed-out execution runs no end step: the challenger
    keeps its traffic after that too (only the executions alarm says so). Whoever can spend the account's
    GetMetricData quota (or the table's reads) keeps a bad challenger serving. Fix: past max_minutes (plus a grace
    shorter than the execution's margin) a throttled look ends inconclusive as a missing metric does. Fixed: past
    max_minutes + missing_metric_minutes (at most THROTTLE_GRACE_MAX_MINUTES, 60) the look is INSUFFICIENT_DATA.
 1. (low) the retirement's delete step closes a retirement as "deleted after approval by ..." with a recreate
    command from a snapshot an EARLIER, failed attempt recorded, when the endpoint is gone at the final check
    (someone else deleted it during LetMetricsSettle). If the endpoint was re-created with the same name in between,
    the announced recreate command names the old endpoint's config. Fix: believe `retiring.recreate` only when it
    was taken by this execution (record the execution with the snapshot), else abort "nothing deleted by this run".
 2. (low) the notifier's create marker is an unconditional put: two deliveries of one finding at once (SNS and SQS
    deliver at least once; a standard queue, no per-finding ordering) both read no marker, both create: two issues.
    Fix: a conditional put (no create_sent_at newer than SEARCH_SETTLE), the loser held as a settle hold.
 3. (low) a settle hold (one finding's lost create) counts as an outage of the Jira target for the rest of the SQS
    batch: every other finding in the batch is "not tried", waits the queue's 12 minutes and spends one of its five
    receives. Fix: a hold is not an outage; leave it out of `failing`.
 4. (low) the approvals store reads the task token of the answer to settle/reclaim unchecked: a record whose
    task_token is not a string (written out of band, the malformed-record threat) is a KeyError after the decision
    was written, an "unexpected failure" rather than a refusal naming the record and field.
 5. (low, fixed) the challenger's VerifyApproval lets MalformedRecord out of approval_problem as a step error instead of
    the refusal it returns for every other bad record (the retirement's delete step refuses by name).
 6. (very low) the delete step's first-check time: one parsed but less than a safety window after year 1 (only a
    hand-edited state holds one: CheckIdle writes $.idle) underflows the window's start, an OverflowError (the step
    fails, nothing deleted) where eb3322e meant "reads as missing".
 7. (low) a Jira resolve transition whose answer was lost (a timeout) is resent (transitions go as idempotent) and
    refused 400 since the issue is Done: the RESOLVED is rejected (parked), the record keeps naming the closed
    issue, and a re-detection of the finding is only a comment on that Done issue: it never reaches an open one.
    Fix: a refused resend of a transition whose issue Jira shows Done closes the record; a recorded issue Jira
    shows Done is set aside like a foreign one (the search by label then finds none open and creates).

Fixed since (their tests now pass as regression tests): all eight.

What held (regression tests below, passing): a lost create that made nothing is created by the queue's next
delivery (SEARCH_SETTLE < the queue's visibility timeout); a create answered 2xx without a key keeps the marker; a
Slack post whose connection dropped after sending is retryable (the queue sends it again), never sent twice in one
delivery; the final window's start is never later than INVOCATIONS_SETTLE + the safety window before the delete,
whatever `idle.checked_at` says (future, far past, garbage, naive, absent: an execution started before the deploy);
a not-found delete followed by an InService describe fails (the eleventh review's test); traffic in the minutes
before the delete, after CheckIdle, counts only if CloudWatch already shows it: a residual docs/retirement.md
states; decide refuses a malformed record with a 409 naming
record and field (the approvals handler and the Slack press catch Refused); the seal read as IAM reads it:
deployers reordered or duplicated pass, a case-changed or wildcard exemption fails, extra Allow or Deny statements
pass, NotPrincipal/NotAction/NotResource, ForAnyValue, an extra condition key or operator fail; `?` and case in
actions match as IAM does; only throttle codes pause (400 ThrottlingException, ProvisionedThroughputExceeded,
RequestLimitExceeded), never AccessDenied, ValidationException, a 500 or a 503; the policy the stack synthesizes
in table mode (defaults, and break-glass roles overlapping the role admins) is sealed for the writers and deployers
its function reads from its own settings, also as DynamoDB re-spells it (no false alarm).
"""

from __future__ import annotations

import copy
import io
import json
import urllib.error
from dataclasses import replace
from datetime import timedelta
from email.message import Message
from typing import Any

import pytest

from mlgov.challenger_estate import DEFAULT_COUNTS_WRITERS, DEFAULT_DEPLOYERS, counts_table_policy
from mlgov_runtime.adapters import http as http_module
from mlgov_runtime.adapters.http import DeliveryError, HttpClient
from mlgov_runtime.adapters.notifiers import SEARCH_SETTLE, JiraProject, SlackWebhooks
from mlgov_runtime.challenger.config import COUNTS_TABLE
from mlgov_runtime.challenger.counts_policy import CONTROLS_SID, WRITERS_SID, policy_problem
from mlgov_runtime.challenger.gate import PAUSED
from mlgov_runtime.retirement.logic import INVOCATIONS_SETTLE
from tests.attacker.test_eleventh_review_gaps import (
    FINDING,
    NAMES,
    T0,
    WATCHED,
    Table,
    _error,
    _watch_ports,
)

ACCOUNT, REGION = "123456789012", "us-east-1"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{COUNTS_TABLE}"


# -- 0. a throttle held past max_minutes


def test_a_throttle_on_every_look_never_holds_the_run_past_the_executions_life() -> None:
    from mlgov_runtime.challenger import logic
    from mlgov_runtime.challenger.config import ChallengerConfig
    from mlgov_runtime.challenger.decision import INSUFFICIENT_DATA

    cfg = ChallengerConfig(metrics=NAMES)
    # The state machine's timeout (stacks/challenger.py, no human approval): past it no step runs again
    life = cfg.decision.max_minutes + 24 * 60 * cfg.review_after_days + 6 * 60
    state: dict[str, Any] = {"challenger": WATCHED, "deployed_at": T0.isoformat()}
    ports, _ = _watch_ports(Table([_error("ThrottlingException", "Query")]))
    look = logic.watch(ports, cfg, state, T0 + timedelta(minutes=life - 1))
    # Safe: an end (inconclusive, the end step gives production all traffic) before the execution's timeout
    assert look["decision"] != PAUSED, look["result"]["reasons"]
    assert look["decision"] == INSUFFICIENT_DATA and "paused" not in look, look["result"]["reasons"]
    assert any("Query" in r and "throttled" in r for r in look["result"]["reasons"]), look["result"]["reasons"]
    ports.findings.publish.assert_not_called()
    # and the end step takes the challenger's traffic away, naming the throttled read, the package untouched
    ended, endpoints = _watch_ports(Table([]))
    out = logic.end(ended, {**state, "watch": look})
    weights = {WATCHED["production_variant"]: 1.0, WATCHED["challenger_variant"]: 0.0}
    endpoints.set_weights.assert_called_once_with(WATCHED["endpoint_name"], weights)
    assert not ended.registry.method_calls
    [finding] = [call.args[0] for call in ended.findings.publish.call_args_list]
    assert out == {"outcome": INSUFFICIENT_DATA, "finding_id": finding.finding_id}
    assert finding.kind == "CHALLENGER_DATA_MISSING" and "ended inconclusive" in finding.title, finding.title
    assert "throttled" in finding.title and "Query" in finding.title, finding.title
    assert "ThrottledRequests" in finding.detail and "PutMetricData" not in finding.detail


def test_a_throttle_ends_the_run_at_max_minutes_plus_the_grace_not_before() -> None:
    # The grace: the missing-metric rule's minutes, at most THROTTLE_GRACE_MAX_MINUTES, far inside the execution's
    # six hours of margin; the window ends settle_minutes before the look
    from mlgov_runtime.challenger import logic
    from mlgov_runtime.challenger.config import ChallengerConfig
    from mlgov_runtime.challenger.decision import INSUFFICIENT_DATA

    def decision(cfg: ChallengerConfig, window_minutes: float) -> str:
        ports, endpoints = _watch_ports(Table([_error("ProvisionedThroughputExceededException", "Query")]))
        state = {"challenger": WATCHED, "deployed_at": T0.isoformat()}
        now = T0 + timedelta(minutes=window_minutes + cfg.decision.settle_minutes)
        look = logic.watch(ports, cfg, state, now)
        assert look["elapsed_minutes"] == window_minutes
        endpoints.set_weights.assert_not_called()
        assert look["decision"] in (PAUSED, INSUFFICIENT_DATA), look["result"]["reasons"]
        return str(look["decision"])

    cfg = ChallengerConfig(metrics=NAMES)
    d = cfg.decision
    assert d.missing_metric_minutes < logic.THROTTLE_GRACE_MAX_MINUTES < 6 * 60
    assert decision(cfg, d.max_minutes + d.missing_metric_minutes - 1) == PAUSED
    assert decision(cfg, d.max_minutes + d.missing_metric_minutes) == INSUFFICIENT_DATA
    # A missing-metric rule longer than the margin allows: the grace stays at most THROTTLE_GRACE_MAX_MINUTES
    long = replace(cfg, decision=replace(d, missing_metric_minutes=10_080))
    assert decision(long, d.max_minutes + logic.THROTTLE_GRACE_MAX_MINUTES - 1) == PAUSED
    assert decision(long, d.max_minutes + logic.THROTTLE_GRACE_MAX_MINUTES) == INSUFFICIENT_DATA


def test_only_a_throttle_pauses_the_look() -> None:
    # Regression (held): a refusal, a bad request, a 500 or a 503 is no throttle; a 400 ThrottlingException is
    from botocore.exceptions import ClientError

    from mlgov_runtime.challenger import logic
    from mlgov_runtime.challenger.config import ChallengerConfig

    def look(code: str, status: int) -> Any:
        error = _error(code, "Query")
        error.response["ResponseMetadata"] = {"HTTPStatusCode": status}  # type: ignore[typeddict-item]
        ports, _ = _watch_ports(Table([error]))
        state = {"challenger": WATCHED, "deployed_at": T0.isoformat()}
        return logic.watch(ports, ChallengerConfig(metrics=NAMES), state, T0 + timedelta(minutes=90))

    for code, status in [
        ("AccessDeniedException", 400),
        ("ValidationException", 400),
        ("InternalServerError", 500),
        ("ServiceUnavailable", 503),
    ]:
        with pytest.raises(ClientError):
            look(code, status)
    for code in ("ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"):
        assert look(code, 400)["decision"] == PAUSED


# -- 1. a stale snapshot closing a retirement someone else ended


def test_a_snapshot_from_an_earlier_failed_attempt_never_closes_a_retirement_as_deleted_by_this_run() -> None:
    from mlgov_runtime.core.findings import STATUS_RESOLVED
    from mlgov_runtime.retirement.findings import KIND_RETIRING
    from mlgov_runtime.retirement.logic import ReadFailure
    from tests.unit.fakes import FindingBook
    from tests.unit.test_retirement import BOB_ARN, EXECUTION, NOW, FakeApprovals, FakeEndpoints, FakeMetrics, steps

    class Updating(FakeEndpoints):
        refuse = True

        def delete(self, name: str) -> None:
            if self.refuse:
                raise ReadFailure(f"endpoint {name}: ValidationException: Cannot delete an endpoint while Updating")
            super().delete(name)

    name = "manga-recommender-v1-ab"
    sm, approvals, book = Updating(), FakeApprovals(), FindingBook()
    sm.add(name, tags={"owner": "recsys"})
    run = steps(sm, FakeMetrics(), book, [], approvals)

    def approved(execution: str, token: str) -> dict[str, Any]:
        state: dict[str, Any] = {"endpoint_name": name, "reason": "v2 live"}
        approvals.open(execution)
        state["prepared"] = run.prepare(state, execution)
        run.request_approval(state, token, execution)
        approvals.approve(execution, BOB_ARN)
        state["idle"] = run.check_idle(state, execution)
        assert state["idle"]["outcome"] == "idle"
        return state

    # Given a first request whose DeleteEndpoint was refused (the endpoint was updating): snapshot kept, nothing
    # deleted, the request closed as failed
    first = approved(EXECUTION, "TOKEN-1")
    with pytest.raises(ReadFailure):
        run.delete(first, EXECUTION)
    first["error"] = {"Error": "ReadFailure", "Cause": "Cannot delete an endpoint while Updating"}
    run.close_request(first, EXECUTION)
    # and the endpoint re-created under the same name with another config, then a second request approved
    old_config = sm.views[name].config_name
    sm.views[name] = replace(sm.views[name], config_name=f"{name}-config-v2", created_at=NOW - timedelta(days=1))
    second_execution = EXECUTION.rsplit(":", 1)[0] + ":retire-v1-ab-again"
    run.executions.running[second_execution] = name  # type: ignore[union-attr]
    second = approved(second_execution, "TOKEN-2")
    # When someone else deletes the endpoint during LetMetricsSettle, and the final check runs
    del sm.views[name]
    result = run.delete(second, second_execution)
    # Then nothing is recorded as deleted by this run, and no recreate command names the old endpoint's config
    closed = [f for f in book.published if f.kind == KIND_RETIRING and f.status == STATUS_RESOLVED]
    assert result["outcome"] != "deleted" and not closed, [c.detail for c in closed]
    assert not any(old_config in f.detail and "recreate" in f.detail for f in book.published[-3:])
    assert result["outcome"] == "aborted" and "nothing deleted by this run" in result["reason"], result


@pytest.mark.parametrize(
    "idle",
    [
        None,  # an execution started before the deploy: no CheckIdle ran
        {"outcome": "idle"},
        {"checked_at": "2099-01-01T00:00:00Z"},
        {"checked_at": "0001-01-01T00:00:00Z"},  # less than a safety window after year 1: read as missing
        {"checked_at": "9999-12-31T23:59:59+00:00"},
        {"checked_at": "2026-11-28T12:00:00"},  # naive
        {"checked_at": 1764331200},
        {"checked_at": ["2026-11-28T11:00:00Z"]},
        "2026-11-28T11:00:00Z",
    ],
)
def test_no_first_check_time_shrinks_the_final_window(idle: Any) -> None:
    # Regression (held): a forged, garbage or missing $.idle (an old execution, an edited redrive) only widens it
    from tests.unit.fakes import FindingBook
    from tests.unit.test_retirement import BOB_ARN, EXECUTION, NOW, FakeApprovals, FakeEndpoints, FakeMetrics, steps

    name = "manga-recommender-v1-ab"
    sm, approvals, cw = FakeEndpoints(), FakeApprovals(), FakeMetrics()
    sm.add(name, tags={"owner": "recsys"})
    run = steps(sm, cw, FindingBook(), [], approvals)
    state: dict[str, Any] = {"endpoint_name": name, "reason": "v2 live"}
    approvals.open(EXECUTION)
    state["prepared"] = run.prepare(state, EXECUTION)
    run.request_approval(state, "TOKEN-1", EXECUTION)
    approvals.approve(EXECUTION, BOB_ARN)
    if idle is not None:
        state["idle"] = idle
    cw.windows.clear()
    try:
        run.delete(state, EXECUTION)
    except Exception as exc:  # a refusal is safe too; a crash is not
        pytest.fail(f"{type(exc).__name__}: {exc}")
    latest = NOW - INVOCATIONS_SETTLE - timedelta(hours=run.policy.safety_window_hours)
    assert cw.windows and all(start <= latest and end == NOW for _, start, end in cw.windows), cw.windows


# -- 2, 3. the notifier's create marker


class LaggingJira:
    """Jira whose search never shows a new issue within the test (its index lags); creates answered 201."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def urlopen(self, request: Any, timeout: float) -> http_module.Response:
        url = request.full_url
        if url.endswith("/rest/api/3/search/jql"):
            return http_module.Response(200, b'{"issues": []}')
        if url.endswith("/rest/api/3/issue") and request.get_method() == "POST":
            self.created.append(json.loads(request.data)["fields"]["summary"])
            return http_module.Response(201, json.dumps({"key": f"GOV-{len(self.created)}"}).encode())
        raise AssertionError(f"unexpected {request.get_method()} {url}")


def test_two_deliveries_of_one_finding_at_once_make_one_issue(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    from mlgov_runtime.adapters.notification_state import DynamoDeliveryState

    jira = LaggingJira()
    monkeypatch.setattr(http_module, "_urlopen", jira.urlopen)
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName="state",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        outcomes: list[str] = []

        class Interleaved:
            """The first invocation's marker write lands only after a second invocation has run through."""

            def __init__(self) -> None:
                self.other: Any = None

            def get_item(self, **kwargs: Any) -> Any:
                return ddb.get_item(**kwargs)

            def put_item(self, **kwargs: Any) -> Any:
                if "create_sent_at" in kwargs["Item"] and self.other is not None:
                    other, self.other = self.other, None
                    try:
                        outcomes.append(other.send(copy.deepcopy(FINDING)))
                    except DeliveryError as exc:
                        outcomes.append(f"held: {exc}")
                return ddb.put_item(**kwargs)

        racing = Interleaved()

        def project(client: Any) -> JiraProject:
            return JiraProject(
                "https://jira.example",
                "bot",
                "token",
                "GOV",
                HttpClient(sleep=lambda _: None),
                issue_keys=DynamoDeliveryState(client, "state"),
                now=lambda: T0,
            )

        first, racing.other = project(racing), project(ddb)
        try:
            outcomes.append(first.send(copy.deepcopy(FINDING)))
        except DeliveryError as exc:
            outcomes.append(f"held: {exc}")
    assert len(jira.created) == 1, outcomes
    # and the loser is held like a settle hold (the queue's next delivery searches again), never dropped
    assert sorted(o.split(":")[0] for o in outcomes) == ["created GOV-1", "held"], outcomes
    assert "may have been carried out" in next(o for o in outcomes if o.startswith("held"))


def test_a_settle_hold_is_no_outage_for_the_other_findings_of_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgov.ops.notify_state import MemoryState
    from mlgov_runtime.core.routing import Delivery, RoutingPolicy
    from mlgov_runtime.notifier.logic import deliver_finding

    jira = LaggingJira()
    monkeypatch.setattr(http_module, "_urlopen", jira.urlopen)
    project = JiraProject("https://jira.example", "bot", "token", "GOV", HttpClient(), now=lambda: T0)
    held = copy.deepcopy(FINDING)
    other = {**copy.deepcopy(FINDING), "finding_id": "f00000000000000ff", "title": "Another endpoint"}
    # Given finding A's create was sent a minute ago, its answer lost (its issue not yet in Jira's search)
    project.issue_keys.remember_create("GOV", str(held["finding_id"]), T0 - timedelta(minutes=1))
    state, target = MemoryState(), Delivery("jira", "GOV")
    failing: dict[str, str] = {}
    # When one SQS batch carries A and then B
    a = deliver_finding(held, [target], {"jira": project}, state, RoutingPolicy(), "m-a", T0, failing=failing)
    b = deliver_finding(other, [target], {"jira": project}, state, RoutingPolicy(), "m-b", T0, failing=failing)
    # Then A waits for Jira's search, and B's issue is created now (not left for the queue's next delivery)
    assert a.failed and "may have been carried out" in a.outcomes["jira:GOV"]
    assert b.outcomes["jira:GOV"].startswith("ok: created"), b.outcomes
    assert a.errors["jira:GOV"].retryable and "jira:GOV" not in failing


def test_a_lost_create_that_made_nothing_is_created_by_the_queues_next_delivery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Regression (held): the marker never outlives the queue's visibility timeout (12 min, stacks/notifier.py), so
    # the next receive (not the fifth, then the DLQ) creates; a 2xx without a key keeps the marker
    import re
    from pathlib import Path

    source = (Path(__file__).parents[2] / "stacks" / "notifier.py").read_text()
    [minutes] = re.findall(r"visibility_timeout=Duration\.minutes\((\d+)\)", source)
    assert timedelta(minutes=int(minutes)) > SEARCH_SETTLE
    calls: list[str] = []

    def urlopen(request: Any, timeout: float) -> http_module.Response:
        if request.full_url.endswith("/search/jql"):
            return http_module.Response(200, b'{"issues": []}')
        calls.append("create")
        if len(calls) == 1:
            raise TimeoutError("timed out")  # nothing was created
        if len(calls) == 2:
            return http_module.Response(201, b'{"id": "1"}')  # an answer without a key
        return http_module.Response(201, b'{"key": "GOV-3"}')

    monkeypatch.setattr(http_module, "_urlopen", urlopen)
    clock = [T0]
    project = JiraProject(
        "https://jira.example", "bot", "token", "GOV", HttpClient(sleep=lambda _: None), now=lambda: clock[0]
    )
    outcomes = []
    for receive in range(3):
        clock[0] = T0 + timedelta(minutes=int(minutes) * receive)
        try:
            outcomes.append(project.send(copy.deepcopy(FINDING)))
        except DeliveryError as exc:
            assert exc.retryable and exc.maybe_done
            outcomes.append("failed")
    assert outcomes == ["failed", "failed", "created GOV-3"] and len(calls) == 3


def test_a_slack_post_dropped_after_sending_is_sent_by_the_next_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression (held): not resent in the same delivery, but retryable, so the queue sends it again
    posts: list[int] = []

    def urlopen(request: Any, timeout: float) -> http_module.Response:
        posts.append(1)
        if len(posts) == 1:
            raise ConnectionResetError("connection reset by peer")
        return http_module.Response(200, b"ok")

    monkeypatch.setattr(http_module, "_urlopen", urlopen)
    slack = SlackWebhooks({"alerts": "https://hooks.slack.com/services/T/B/secret"}, HttpClient(sleep=lambda _: None))
    with pytest.raises(DeliveryError) as raised:
        slack.send(copy.deepcopy(FINDING), "alerts")
    assert raised.value.retryable and raised.value.maybe_done and posts == [1]
    slack.send(copy.deepcopy(FINDING), "alerts")
    assert len(posts) == 2


def test_a_send_that_fails_before_sending_is_retried_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression (held): urllib wraps connect/send failures in URLError: nothing reached Slack, so it is resent
    posts: list[int] = []

    def urlopen(request: Any, timeout: float) -> http_module.Response:
        posts.append(1)
        if len(posts) == 1:
            raise urllib.error.URLError(ConnectionRefusedError("refused"))
        return http_module.Response(200, b"ok")

    monkeypatch.setattr(http_module, "_urlopen", urlopen)
    slack = SlackWebhooks({"alerts": "https://hooks.slack.com/services/T/B/secret"}, HttpClient(sleep=lambda _: None))
    slack.send(copy.deepcopy(FINDING), "alerts")
    assert len(posts) == 2


class ClosingJira:
    """Jira with one issue per create, each open until a transition closes it; a transition is carried out and its
    answer lost the first time, and Jira refuses a transition the issue's status no longer offers (400)."""

    def __init__(self) -> None:
        self.issues: list[dict[str, Any]] = []
        self.comments: list[str] = []
        self.lost = True

    def urlopen(self, request: Any, timeout: float) -> http_module.Response:
        url, method = request.full_url, request.get_method()
        if url.endswith("/rest/api/3/search/jql"):
            found = [{"key": i["key"]} for i in self.issues if not i["done"]]
            return http_module.Response(200, json.dumps({"issues": found}).encode())
        if url.endswith("/rest/api/3/issue") and method == "POST":
            fields = json.loads(request.data)["fields"]
            self.issues.append({"key": f"GOV-{len(self.issues) + 1}", "labels": fields["labels"], "done": False})
            return http_module.Response(201, json.dumps({"key": self.issues[-1]["key"]}).encode())
        key = url.split("/issue/")[1].split("/")[0].split("?")[0]
        issue = next(i for i in self.issues if i["key"] == key)
        if "fields=labels" in url:
            return http_module.Response(200, json.dumps({"fields": {"labels": issue["labels"]}}).encode())
        if "fields=status" in url:
            category = "done" if issue["done"] else "new"
            return http_module.Response(
                200, json.dumps({"fields": {"status": {"statusCategory": {"key": category}}}}).encode()
            )
        if url.endswith("/comment"):
            self.comments.append(key)
            return http_module.Response(201, b"{}")
        if url.endswith("/transitions"):
            if issue["done"]:
                body = b'{"errorMessages": ["Transition id 31 is not valid for this issue."], "errors": {}}'
                raise urllib.error.HTTPError(url, 400, "Bad Request", Message(), io.BytesIO(body))
            issue["done"] = True
            if self.lost:
                self.lost = False
                raise TimeoutError("timed out")
            return http_module.Response(204, b"")
        raise AssertionError(f"unexpected {method} {url}")


def test_a_redetection_after_a_lost_resolve_answer_reaches_an_open_issue(monkeypatch: pytest.MonkeyPatch) -> None:
    jira = ClosingJira()
    monkeypatch.setattr(http_module, "_urlopen", jira.urlopen)
    project = JiraProject(
        "https://jira.example",
        "bot",
        "token",
        "GOV",
        HttpClient(sleep=lambda _: None),
        resolve_transition_id="31",
        now=lambda: T0,
    )
    assert project.send(copy.deepcopy(FINDING)) == "created GOV-1"
    # Given the resolution's transition is carried out but its answer is lost (the client resends it)
    resolved = project.send({**copy.deepcopy(FINDING), "status": "RESOLVED", "severity": "INFO"})
    assert jira.issues[0]["done"] and "already Done" in resolved, resolved
    # When the finding is detected again
    outcome = project.send(copy.deepcopy(FINDING))
    # Then it reaches an issue someone sees (a new one), never only a comment on the Done one
    assert [i["done"] for i in jira.issues].count(False) == 1, (outcome, jira.comments)
    assert outcome == "created GOV-2" and jira.comments == ["GOV-1"], (outcome, jira.comments)


def test_a_transition_refused_on_an_open_issue_keeps_its_record(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 400 on a transition closes the record only when Jira shows the issue Done: a workflow that refuses the
    # transition on an open issue is rejected (parked) and the issue keeps its record
    class Refusing(ClosingJira):
        def urlopen(self, request: Any, timeout: float) -> http_module.Response:
            if request.full_url.endswith("/transitions"):
                body = b'{"errorMessages": ["Transition id 31 is not valid for this issue."], "errors": {}}'
                raise urllib.error.HTTPError(request.full_url, 400, "Bad Request", Message(), io.BytesIO(body))
            return super().urlopen(request, timeout)

    jira = Refusing()
    monkeypatch.setattr(http_module, "_urlopen", jira.urlopen)
    project = JiraProject(
        "https://jira.example",
        "bot",
        "token",
        "GOV",
        HttpClient(sleep=lambda _: None),
        resolve_transition_id="31",
        now=lambda: T0,
    )
    assert project.send(copy.deepcopy(FINDING)) == "created GOV-1"
    with pytest.raises(DeliveryError) as raised:
        project.send({**copy.deepcopy(FINDING), "status": "RESOLVED", "severity": "INFO"})
    assert raised.value.status == 400 and not raised.value.retryable
    assert project.issue_keys.open_issue("GOV", str(FINDING["finding_id"])) == "GOV-1"
    assert project.send(copy.deepcopy(FINDING)) == "commented GOV-1" and len(jira.issues) == 1


# -- 4, 5. malformed approval records


@pytest.mark.parametrize("reclaim", [False, True])
def test_a_record_whose_task_token_is_not_a_string_is_refused_by_name(reclaim: bool) -> None:
    from mlgov_runtime.adapters.approvals_store import DynamoApprovals
    from mlgov_runtime.approvals.logic import Refused

    class Ddb:
        def update_item(self, **kwargs: Any) -> dict[str, Any]:
            return {"Attributes": {"request_id": {"S": "rq-1"}, "task_token": {"B": b"TOKEN-SECRET"}}}

    store = DynamoApprovals(Ddb(), "mlgov-approvals")
    try:
        if reclaim:
            store.reclaim("rq-1", "APPROVED", "bob", "cli")
        else:
            store.settle("rq-1", "APPROVED", "bob", "t", "cli", "", "mac")
    except Refused as exc:
        assert "rq-1" in str(exc) and "task_token" in str(exc) and "TOKEN-SECRET" not in str(exc)
        assert "of type B" in str(exc) and exc.status == 409
    except Exception as exc:
        pytest.fail(f"a malformed token is a {type(exc).__name__}: {exc}")
    else:
        pytest.fail("a token that is not a string was handed to Step Functions")


def test_an_answer_without_a_task_token_is_refused_by_name() -> None:
    from mlgov_runtime.adapters.approvals_store import DynamoApprovals
    from mlgov_runtime.approvals.logic import MalformedRecord

    class Ddb:
        def update_item(self, **kwargs: Any) -> dict[str, Any]:
            return {"Attributes": {"request_id": {"S": "rq-1"}}}

    with pytest.raises(MalformedRecord) as raised:
        DynamoApprovals(Ddb(), "mlgov-approvals").reclaim("rq-1", "APPROVED", "bob", "cli")
    assert raised.value.field == "task_token" and "is missing" in str(raised.value)


def test_the_challengers_approval_check_refuses_a_malformed_record_by_name() -> None:
    from unittest.mock import MagicMock

    from mlgov_runtime.approvals.logic import MalformedRecord, request_id_for
    from mlgov_runtime.challenger.approval import ApprovalGate, approval_problem, verify_approval

    class Damaged:
        def get(self, request_id: str) -> Any:
            raise MalformedRecord(request_id, "decision_mac", "is of type N, not a string (S)")

    gate = ApprovalGate(store=Damaged(), macs=object(), approvers={}, expiry_hours=24)  # type: ignore[arg-type]
    try:
        record, why = approval_problem(gate, {"model_package_arn": "pkg"}, "arn:aws:states:x:execution:sm:run")
    except MalformedRecord as exc:
        pytest.fail(f"let out as a step error: {exc}")
    assert record is None and "decision_mac" in why and "malformed" in why
    assert request_id_for("arn:aws:states:x:execution:sm:run") in why
    # and the step says so: not approved (the state machine then takes the challenger's traffic away)
    ports = MagicMock()
    out = verify_approval(ports, gate, {"challenger": {"model_package_arn": "pkg"}, "watch": {}}, "arn:x:run")
    assert out["approved"] is False and "decision_mac" in out["reason"], out
    ports.findings.publish.assert_not_called()


def test_decide_refuses_a_malformed_record_with_a_conflict_naming_it() -> None:
    # Regression (held): the approvals handler answers a Refused with its status, the Slack press with its text
    from unittest.mock import MagicMock

    from mlgov_runtime.approvals.logic import MalformedRecord, decide

    store = MagicMock()
    store.get.side_effect = MalformedRecord("rq-0123456789abcdef0123", "status", "is missing")
    with pytest.raises(MalformedRecord) as raised:
        decide(
            store,
            MagicMock(),
            {"retirement": ("*",)},
            MagicMock(),
            caller="arn:aws:sts::123456789012:assumed-role/MLOpsApprover/bob",
            channel="cli",
            request_id="rq-0123456789abcdef0123",
            approve=True,
            comment="",
            now=T0,
        )
    assert raised.value.status == 409 and "rq-0123456789abcdef0123" in str(raised.value)
    assert "field status" in str(raised.value)
    store.settle.assert_not_called()


# -- the seal, read as IAM reads it (held)


def _policy(edit: Any = None) -> str:
    policy = counts_table_policy(DEFAULT_COUNTS_WRITERS, DEFAULT_DEPLOYERS)
    if edit:
        edit(policy)
    return json.dumps(policy)


def _sealed(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in policy["Statement"] if s["Sid"] == sid)
    return found


def _exempt(policy: dict[str, Any], sid: str) -> list[str]:
    listed: list[str] = _sealed(policy, sid)["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    return listed


def _problem(document: str) -> str | None:
    return policy_problem(document, DEFAULT_COUNTS_WRITERS, TABLE_ARN, DEFAULT_DEPLOYERS)


def test_the_products_own_policy_is_sealed() -> None:
    assert len(DEFAULT_DEPLOYERS) >= 2, "reordering needs two deployers"
    assert _problem(_policy()) is None


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: _exempt(p, CONTROLS_SID).reverse(),
        lambda p: _exempt(p, CONTROLS_SID).append(_exempt(p, CONTROLS_SID)[0]),
        lambda p: p["Statement"].append({"Effect": "Allow", "Principal": "*", "Action": "dynamodb:*", "Resource": "*"}),
        lambda p: p["Statement"].append(
            {"Sid": "More", "Effect": "Deny", "Principal": "*", "Action": "dynamodb:Scan", "Resource": "*"}
        ),
        lambda p: _sealed(p, WRITERS_SID).update(Action=["dynamodb:*"]),
        lambda p: _sealed(p, CONTROLS_SID).update(Action=["DYNAMODB:*"]),
        lambda p: _sealed(p, WRITERS_SID).update(Resource=TABLE_ARN.replace(COUNTS_TABLE, "*")),
        lambda p: _sealed(p, WRITERS_SID).update(Principal={"AWS": ["*"]}),
    ],
    ids=["reordered", "duplicated", "extra-allow", "extra-deny", "all-actions", "action-case", "table-star", "aws-*"],
)
def test_a_policy_iam_reads_as_the_seal_passes(edit: Any) -> None:
    assert _problem(_policy(edit)) is None


def _upper_arn(p: dict[str, Any]) -> None:
    listed = _exempt(p, CONTROLS_SID)
    listed[0] = listed[0].upper()


def _question_mark(p: dict[str, Any]) -> None:
    listed = _exempt(p, CONTROLS_SID)
    listed[0] = listed[0][:-1] + "?"


def _condition(p: dict[str, Any], condition: dict[str, Any]) -> None:
    _sealed(p, CONTROLS_SID)["Condition"] = condition


@pytest.mark.parametrize(
    "edit",
    [
        _upper_arn,
        _question_mark,
        lambda p: _sealed(p, CONTROLS_SID).update(NotResource="arn:aws:s3:::x"),
        lambda p: _sealed(p, CONTROLS_SID).update(NotAction="dynamodb:GetItem"),
        lambda p: _sealed(p, WRITERS_SID).update(NotPrincipal={"AWS": "arn:aws:iam::123456789012:root"}),
        lambda p: _condition(p, {"ForAnyValue:ArnNotLike": _sealed(p, CONTROLS_SID)["Condition"]["ArnNotLike"]}),
        lambda p: _condition(
            p,
            {
                "ArnNotLike": {
                    **_sealed(p, CONTROLS_SID)["Condition"]["ArnNotLike"],
                    "aws:SourceVpce": "vpce-1",
                }
            },
        ),
        lambda p: _condition(
            p, {**_sealed(p, CONTROLS_SID)["Condition"], "StringEquals": {"aws:PrincipalTag/team": "x"}}
        ),
        lambda p: _sealed(p, WRITERS_SID).update(Resource=TABLE_ARN.upper()),
        lambda p: _sealed(p, WRITERS_SID).update(Action=["dynamodb:PutItem"]),
        lambda p: _sealed(p, CONTROLS_SID).update(Effect="Allow"),
    ],
    ids=[
        "arn-case",
        "question-mark",
        "not-resource",
        "not-action",
        "not-principal",
        "for-any-value",
        "extra-key",
        "extra-operator",
        "resource-case",
        "writes-missing",
        "allow",
    ],
)
def test_a_policy_iam_reads_as_weaker_than_the_seal_fails(edit: Any) -> None:
    assert _problem(_policy(edit)) is not None


def test_question_marks_in_actions_match_one_character_as_iam_does() -> None:
    from mlgov_runtime.challenger.counts_policy import iam_like

    assert iam_like("dynamodb:PutIte?", "dynamodb:PutItem", fold=True)
    assert not iam_like("dynamodb:PutIte?", "dynamodb:PutItems", fold=True)
    assert not iam_like("dynamodb:Put?", "dynamodb:PutItem", fold=True)
    assert iam_like("arn:aws:dynamodb:*:*:table/" + COUNTS_TABLE, TABLE_ARN)
    assert not iam_like("arn:aws:dynamodb:*:*:table/" + COUNTS_TABLE.upper(), TABLE_ARN)


@pytest.mark.parametrize(
    "guardrails",
    [
        {},
        {
            "break_glass_role_arns": [
                "arn:aws:iam::123456789012:role/mlgov-protected/BreakGlass",
                "arn:*:iam::*:role/mlgov-protected/MlGovRoleAdmin",
            ],
        },
    ],
    ids=["defaults", "break-glass-and-overlap"],
)
def test_the_policy_the_stack_writes_is_sealed_for_the_writers_and_deployers_its_function_reads(
    guardrails: dict[str, Any],
) -> None:
    # Regression (held): no false alarm on an honest table (table mode synthesized, the function's own settings)
    from aws_cdk.assertions import Template

    from app import build_app
    from mlgov_runtime.challenger.settings import load_challenger_settings
    from stacks.constants import AUDIT_STACK_NAME

    context = {"mlgov": {"challenger": {"metrics": {"source": "table"}}, "guardrails": guardrails}}
    template = Template.from_stack(build_app(context=context).node.find_child(AUDIT_STACK_NAME))  # type: ignore[arg-type]
    [table] = [
        t
        for t in template.find_resources("AWS::DynamoDB::Table").values()
        if t["Properties"].get("TableName") == COUNTS_TABLE
    ]
    [function] = [
        f for k, f in template.find_resources("AWS::Lambda::Function").items() if k.startswith("ChallengerSteps")
    ]
    placeholders = {
        "FINDINGS_TABLE_NAME": "mlgov-findings",
        "FINDINGS_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:mlgov-findings",
        "IDEMPOTENCY_TABLE_NAME": "mlgov-idempotency",
        "CHALLENGER_STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:mlgov-challenger",
        "CHALLENGER_RETRAINING_STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:retraining",
    }
    env = {
        k: v if isinstance(v, str) else placeholders[k]
        for k, v in function["Properties"]["Environment"]["Variables"].items()
    }
    names = load_challenger_settings(env).config.metrics
    document = json.dumps(table["Properties"]["ResourcePolicy"]["PolicyDocument"])
    assert policy_problem(document, names.writers, TABLE_ARN, names.deployers) is None
    # and DynamoDB's re-spelling (a one-element list as a string, {"AWS": "*"} as "*") reads the same
    respelled = json.loads(document)
    for statement in respelled["Statement"]:
        statement["Principal"] = "*"
        listed = statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
        if len(listed) == 1:
            statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"] = listed[0]
    assert policy_problem(json.dumps(respelled), names.writers, TABLE_ARN, names.deployers) is None
