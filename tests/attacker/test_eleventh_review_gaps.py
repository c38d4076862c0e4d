"""Eleventh review (issue 20): failure injection on the paths that act. The standard: bad input gets a clear,
specific error and loses nothing (malformed answers, missing resources, throttling, Slack or Jira down or strict,
partial permissions); missing is never zero; a forged or missing input never promotes, rejects or deletes.

Holes, ranked (each test asserts the SAFE outcome, strict xfail until fixed):
 0. (medium) Jira: creating an issue is retried blind. A create Jira carried out but whose answer was lost (a
    timeout, a 502/504 from a proxy in front of Jira) is POSTed again at once, and Jira's search (which lags behind
    creation) finds nothing in between: two issues for one finding_id, against CONTRACTS.md ("never created twice").
 1. (medium, fixed) the counts table's seal check compares the writers' exemptions with the configured writers, but
    never the ControlsOnlyByDeploy statement's: a policy (put by root or out of band, exactly what the check is there
    for) that exempts every role from the controls deny passes as sealed. Then any developer may swap the policy off,
    write counts, and put the seal back between two looks; the next look believes the forged counts.
 2. (medium) the retirement delete step: a DeleteEndpoint AWS carried out whose answer was lost is resent by botocore
    and answered "not found" (EndpointGone); the step lets it out, the task fails (no retry on step errors) and
    CloseRequest records "nothing deleted" while the endpoint is gone: no closing, no recreate command announced, no
    client-error watch for the callers the deletion breaks.
 3. (low, fixed) the seal check matches Action and Resource with fnmatch, where `[...]` is a character class; IAM knows
    only `*` and `?` and reads brackets literally. A writers' deny on "dynamodb:[a-z]*" passes the check and, in
    IAM, denies nothing.
 4. (low, fixed) a counts-table read throttled past the step's three retries (about 1.5 min) ends the experiment
    (CHALLENGER_FAILED, the challenger's traffic taken away): a transient throttle loses a run of hours. The
    look should pause (no verdict, look again) as it does for a missing metric.
 5. (low, fixed) `mlgov challenger status`: a refused table read prints the AWS message, then is cut at 500 characters,
    so the line ends before what to do (the role needs dynamodb:Query, dynamodb:GetResourcePolicy, kms:Decrypt).
    The CLI also says "the look is retried", which nothing does outside the state machine.
 6. (low) an approval record that is malformed (a field missing, or of another DynamoDB type) is a KeyError out
    of the approvals store, not a refusal naming the record (the deletion still deletes nothing: the step fails).
 7. (low, fixed) `mlgov challenger status` on an endpoint whose variant's model was deleted (or may not be read) ends as
    "mlgov: unexpected failure: NotFound: ...", the wording of a bug, not one "mlgov: error:" line saying what to do.

Fixed since (their xfail markers removed, the tests kept and strengthened): 0 (a create whose answer was lost is
not resent, and a later delivery finds its issue first), 2 (a not-found delete is checked with DescribeEndpoint),
6 (a malformed record is a refusal naming the record and the field).

What held (regression tests below, passing): a Query that fails on its second page, a throttled, refused or missing
table, a throttled GetResourcePolicy each fail the read with a ClientError naming the table (never partial counts);
a policy that is not JSON, not an object, or whose Statement is one object or has extra statements is judged by
meaning; counts of another type (S), NaN, infinities, negative numbers, a number beyond a float read as missing
and are listed as problems, negative zero and 38-digit numbers as the numbers they are; GetMetricData pages
(NextToken with PartialData) are all read; a result CloudWatch marks InternalError or Forbidden has no values, so
its minutes are missing (PAUSED), never zeros; a guardrail metric missing in some minutes holds PROMOTE; the
retirement delete step aborts (SafetyAbortEndpointDeletion, nothing deleted) when GetMetricStatistics or ListMetrics
is throttled or refused, and the adapter maps those to ReadFailure; Slack 429 with a Retry-After beyond the client's
wait leaves the record for a later delivery (retryable), Jira 400 on a too-long field is a permanent rejection
naming the field, a 5xx is retryable (the queue redelivers, then its DLQ).
"""

from __future__ import annotations

import copy
import io
import json
import re
import urllib.error
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlgov.challenger_estate import DEFAULT_COUNTS_WRITERS, DEFAULT_DEPLOYERS, counts_table_policy
from mlgov_runtime.adapters import http as http_module
from mlgov_runtime.adapters.cloudwatch import CloudWatchMetrics
from mlgov_runtime.adapters.http import DeliveryError, HttpClient
from mlgov_runtime.adapters.notifiers import SEARCH_SETTLE, JiraProject, SlackWebhooks
from mlgov_runtime.challenger.config import COUNTS_TABLE, MINUTE_KEY, SERIES_KEY, MetricNames
from mlgov_runtime.challenger.counts_policy import CONTROLS_SID, WRITERS_SID, policy_problem
from mlgov_runtime.challenger.gate import PAUSED, decide_minutes
from mlgov_runtime.challenger.recommendation_metrics import RecommendationMetrics
from mlgov_runtime.retirement.endpoint_retirement import EndpointMetrics
from mlgov_runtime.retirement.logic import ReadFailure

ACCOUNT = "123456789012"
REGION = "us-east-1"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{COUNTS_TABLE}"
WRITERS = DEFAULT_COUNTS_WRITERS
DEPLOYERS = DEFAULT_DEPLOYERS
ENDPOINT, PROD, CHAL = "manga-recommender-prod", "production", "challenger"
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
NAMES = MetricNames(source="table", writers=WRITERS, deployers=DEPLOYERS, cart_adds=None, distinct_titles=None)
FINDING = {
    "finding_id": "f0123456789abcdef",
    "kind": "UNREGISTERED_ENDPOINT",
    "severity": "HIGH",
    "account_id": ACCOUNT,
    "region": REGION,
    "resource_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
    "title": "Endpoint serves an unregistered model",
    "detail": "what and why",
    "detected_at": "2026-12-07T00:00:00Z",
    "source": "realtime",
    "evidence": {},
}


def _error(code: str, operation: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message or code}}, operation)


# -- stand-ins for the clients (botocore's shapes; each call recorded)


class Meta:
    partition, region_name = "aws", REGION


class Table:
    """A DynamoDB client for the counts table: `policy` (a str, an exception, or None: none), `pages` of items
    (an exception in place of a page fails that page)."""

    meta = Meta()

    def __init__(self, pages: list[Any], policy: Any = None) -> None:
        self.pages, self.policy = pages, policy
        self.calls: list[tuple[str, Any]] = []
        if policy is None:
            self.policy = json.dumps(counts_table_policy(WRITERS))

    def get_resource_policy(self, ResourceArn: str) -> dict[str, Any]:
        self.calls.append(("GetResourcePolicy", ResourceArn))
        if isinstance(self.policy, Exception):
            raise self.policy
        return {"Policy": self.policy}

    def query(self, **kwargs: Any) -> dict[str, Any]:
        page = int(kwargs.get("ExclusiveStartKey", {}).get("page", {"N": "0"})["N"])
        self.calls.append(("Query", page))
        answer = self.pages[page]
        if isinstance(answer, Exception):
            raise answer
        out: dict[str, Any] = {"Items": answer}
        if page + 1 < len(self.pages):
            out["LastEvaluatedKey"] = {"page": {"N": str(page + 1)}}
        return out


class Cloudwatch:
    """GetMetricData answering from `answer(queries, token)`: a list of (results, next token)."""

    def __init__(self, answer: Callable[[list[dict[str, Any]], str | None], dict[str, Any]]) -> None:
        self.answer, self.calls = answer, 0

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        return self.answer(kwargs["MetricDataQueries"], kwargs.get("NextToken"))


def _minute_items(variant: str, minutes: int, **counts: Any) -> list[dict[str, Any]]:
    """One item a minute, every count an N, but for the attributes given raw in `counts` (minute -> value)."""
    out = []
    for i in range(minutes):
        item = {
            SERIES_KEY: {"S": f"{ENDPOINT}/{variant}"},
            MINUTE_KEY: {"N": str(int((T0 + timedelta(minutes=i)).timestamp()))},
            NAMES.impressions: {"N": "350"},
            NAMES.clicks: {"N": "28"},
            NAMES.json_failures: {"N": "0"},
            NAMES.language_mismatches: {"N": "0"},
        }
        for metric, raw in counts.items():
            if i in raw:
                item[metric] = raw[i]
        out.append(item)
    return out


def _sagemaker_complete(queries: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    """Every AWS/SageMaker query answered for each minute of the window."""
    results = []
    for q in queries:
        stamps = [T0 + timedelta(minutes=i) for i in range(10)]
        results.append({"Id": q["Id"], "Timestamps": stamps, "Values": [350.0] * 10, "StatusCode": "Complete"})
    return {"MetricDataResults": results}


# -- 0. Jira: a create is not resent blind


class FakeJira:
    """Jira's REST API v3 as the notifier calls it. The first create is carried out, then its answer is lost
    (`lost`: a timeout or a proxy's 5xx). The search lags behind creation (it finds nothing until `indexed`), as
    Jira's does."""

    def __init__(self, lost: str) -> None:
        self.lost = lost
        self.created: list[dict[str, Any]] = []
        self.comments: list[str] = []
        self.indexed = False

    def urlopen(self, request: Any, timeout: float) -> http_module.Response:
        url, method = request.full_url, request.get_method()
        if url.endswith("/rest/api/3/search/jql"):
            issues = [{"key": f"GOV-{i + 1}"} for i in range(len(self.created))] if self.indexed else []
            return http_module.Response(200, json.dumps({"issues": issues}).encode())
        if "/rest/api/3/issue/" in url and "fields=labels" in url:
            labels = self.created[int(url.split("GOV-")[1].split("?")[0]) - 1]["fields"]["labels"]
            return http_module.Response(200, json.dumps({"fields": {"labels": labels}}).encode())
        if url.endswith("/comment") and method == "POST":
            self.comments.append(url.split("/issue/")[1].split("/")[0])
            return http_module.Response(201, b"{}")
        if url.endswith("/rest/api/3/issue") and method == "POST":
            self.created.append(json.loads(request.data))
            key = f"GOV-{len(self.created)}"
            if len(self.created) == 1:
                if self.lost == "timeout":
                    raise TimeoutError("timed out")
                if self.lost == "reset":
                    raise ConnectionResetError("connection reset by peer")
                raise urllib.error.HTTPError(url, int(self.lost), "Gateway", Message(), io.BytesIO(b"<html>"))
            return http_module.Response(201, json.dumps({"key": key}).encode())
        raise AssertionError(f"unexpected {method} {url}")


@pytest.mark.parametrize("lost", ["timeout", "reset", "500", "502", "504"])
def test_a_jira_create_whose_answer_was_lost_makes_one_issue_not_two(
    monkeypatch: pytest.MonkeyPatch, lost: str
) -> None:
    # Given Jira carries out the create but its answer never reaches the notifier
    jira = FakeJira(lost)
    monkeypatch.setattr(http_module, "_urlopen", jira.urlopen)
    clock = [T0]
    project = JiraProject(
        "https://jira.example", "bot", "token", "GOV", HttpClient(sleep=lambda _: None), now=lambda: clock[0]
    )
    # When the finding is delivered (and, if this attempt gives up, delivered again by the queue)
    errors: list[DeliveryError] = []
    for _ in range(2):
        try:
            project.send(copy.deepcopy(FINDING))
            break
        except DeliveryError as exc:
            assert exc.retryable
            errors.append(exc)
    # Then one issue exists for the finding, and the attempt that lost the answer says so
    assert len(jira.created) == 1, [c["fields"]["summary"] for c in jira.created]
    assert errors and errors[0].maybe_done and "not resent" in str(errors[0])
    # And once Jira's search shows the issue (the queue's next delivery, minutes later), it is commented on
    jira.indexed, clock[0] = True, T0 + timedelta(minutes=12)
    assert project.send(copy.deepcopy(FINDING)) == "commented GOV-1"
    assert len(jira.created) == 1 and jira.comments == ["GOV-1"]


def test_a_resolution_right_after_a_lost_create_waits_for_the_issue() -> None:
    # A RESOLVED arriving before Jira's search shows the lost create's issue is left for later, not "nothing to
    # resolve" (which would leave that issue open for good)
    project = JiraProject("https://jira.example", "bot", "token", "GOV", HttpClient(), now=lambda: T0)
    project.issue_keys.remember_create("GOV", str(FINDING["finding_id"]), T0 - timedelta(minutes=1))
    jira = FakeJira("timeout")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(http_module, "_urlopen", jira.urlopen)
        with pytest.raises(DeliveryError) as raised:
            project.send({**copy.deepcopy(FINDING), "status": "RESOLVED", "severity": "INFO"})
    assert raised.value.retryable and "may have been carried out" in str(raised.value)
    assert not jira.created


def test_a_create_still_unseen_after_the_settle_time_is_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # The residual docs/notifications.md names: a create whose answer was lost, and whose issue Jira's search still
    # does not show after SEARCH_SETTLE, is taken as not carried out and sent again
    jira = FakeJira("timeout")
    monkeypatch.setattr(http_module, "_urlopen", jira.urlopen)
    clock = [T0]
    project = JiraProject(
        "https://jira.example", "bot", "token", "GOV", HttpClient(sleep=lambda _: None), now=lambda: clock[0]
    )
    with pytest.raises(DeliveryError):
        project.send(copy.deepcopy(FINDING))
    clock[0] = T0 + SEARCH_SETTLE
    assert project.send(copy.deepcopy(FINDING)) == "created GOV-2"


@pytest.mark.parametrize("answer", ["refused", "503", "400"])
def test_a_create_that_was_not_carried_out_does_not_hold_the_next_one(
    monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    # A connection refused, a 503 (retried, then left) or a 400 (refused for good) never created anything: the next
    # delivery (a redrive once the cause is fixed) creates at once
    calls: list[str] = []

    def urlopen(request: Any, timeout: float) -> http_module.Response:
        calls.append(request.get_method())
        if request.full_url.endswith("/search/jql"):
            return http_module.Response(200, b'{"issues": []}')
        if len(calls) <= 5:  # the first delivery's search and its create attempts
            if answer == "refused":
                raise urllib.error.URLError(ConnectionRefusedError("refused"))
            code = int(answer)
            raise urllib.error.HTTPError(request.full_url, code, "no", Message(), io.BytesIO(b"{}"))
        return http_module.Response(201, b'{"key": "GOV-9"}')

    monkeypatch.setattr(http_module, "_urlopen", urlopen)
    project = JiraProject(
        "https://jira.example", "bot", "token", "GOV", HttpClient(sleep=lambda _: None), now=lambda: T0
    )
    with pytest.raises(DeliveryError) as raised:
        project.send(copy.deepcopy(FINDING))
    assert not raised.value.maybe_done
    assert project.issue_keys.create_sent("GOV", str(FINDING["finding_id"])) is None
    calls[:] = ["x"] * 5
    assert project.send(copy.deepcopy(FINDING)) == "created GOV-9"


# -- 1, 3. the seal check


def _statement(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in policy["Statement"] if s["Sid"] == sid)
    return found


def _iam_matches(pattern: str, value: str) -> bool:
    """IAM's wildcard match (Action case-insensitive): only * and ? are special; [, ], ! are literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE) is not None


def _iam_denies(statement: dict[str, Any], action: str, resource: str, principal: str) -> bool:
    """Whether a Deny statement of the seal's shape (Principal *, one ArnNotLike) applies to this request."""
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    [exempt] = statement["Condition"]["ArnNotLike"].values()
    exempt = exempt if isinstance(exempt, list) else [exempt]
    return (
        any(_iam_matches(a, action) for a in actions)
        and any(_iam_matches(r, resource) for r in resources)
        and not any(_iam_matches(e, principal) for e in exempt)
    )


DEVELOPER = f"arn:aws:iam::{ACCOUNT}:role/Developer"


def test_the_products_seal_denies_a_developer_every_write_and_control_as_iam_reads_it() -> None:
    # Regression (held): the harness below judges the product's own seal as IAM would.
    policy = counts_table_policy(WRITERS)
    assert policy_problem(json.dumps(policy), WRITERS, TABLE_ARN, DEPLOYERS) is None
    assert _iam_denies(_statement(policy, WRITERS_SID), "dynamodb:PutItem", TABLE_ARN, DEVELOPER)
    assert _iam_denies(_statement(policy, CONTROLS_SID), "dynamodb:PutResourcePolicy", TABLE_ARN, DEVELOPER)


@pytest.mark.parametrize("exempt", ["arn:aws:iam::*:*", f"arn:aws:iam::{ACCOUNT}:role/*", "*"])
def test_a_seal_whose_controls_exempt_everyone_is_no_seal(exempt: str) -> None:
    # Given the table's policy replaced out of band: the writers' deny intact, the controls' deny exempting everyone
    policy = counts_table_policy(WRITERS)
    _statement(policy, CONTROLS_SID)["Condition"]["ArnNotLike"]["aws:PrincipalArn"] = [exempt]
    # (as IAM reads it, a developer may now replace or delete the policy)
    assert not _iam_denies(_statement(policy, CONTROLS_SID), "dynamodb:PutResourcePolicy", TABLE_ARN, DEVELOPER)
    # Then the watch does not believe the table, and says which exemption is too many
    problem = policy_problem(json.dumps(policy), WRITERS, TABLE_ARN, DEPLOYERS)
    assert problem is not None and CONTROLS_SID in problem and f"also exempting {exempt}" in problem, problem


def test_a_seal_whose_controls_exempt_an_extra_role_or_miss_a_deployer_or_an_action_is_no_seal() -> None:
    # Given the controls' deny with a developer added to its exemptions (the deployers' own names kept)
    policy = counts_table_policy(WRITERS)
    _statement(policy, CONTROLS_SID)["Condition"]["ArnNotLike"]["aws:PrincipalArn"].append(DEVELOPER)
    problem = policy_problem(json.dumps(policy), WRITERS, TABLE_ARN, DEPLOYERS)
    assert problem is not None and f"also exempting {DEVELOPER}" in problem, problem
    # or a deployer left out (one string, as DynamoDB spells a one-element list)
    policy = counts_table_policy(WRITERS)
    _statement(policy, CONTROLS_SID)["Condition"]["ArnNotLike"]["aws:PrincipalArn"] = DEPLOYERS[0]
    assert f"missing {DEPLOYERS[1]}" in str(policy_problem(json.dumps(policy), WRITERS, TABLE_ARN, DEPLOYERS))
    # or a control action no longer denied
    policy = counts_table_policy(WRITERS)
    _statement(policy, CONTROLS_SID)["Action"].remove("dynamodb:PutResourcePolicy")
    assert "does not deny dynamodb:PutResourcePolicy" in str(
        policy_problem(json.dumps(policy), WRITERS, TABLE_ARN, DEPLOYERS)
    )
    # and with no deployer configured nothing is believed
    assert "no deployer" in str(policy_problem(json.dumps(counts_table_policy(WRITERS)), WRITERS, TABLE_ARN, ()))


@pytest.mark.parametrize(
    ("element", "value"),
    [
        ("Action", ["dynamodb:[a-z]*"]),
        ("Action", ["dynamodb:[!x]*"]),
        ("Resource", "arn:aws:dynamodb:[a-z]*"),
        ("Resource", "arn:aws:dynamodb:us-east-1:[0-9]*"),
    ],
)
def test_a_seal_whose_deny_iam_reads_literally_is_no_seal(element: str, value: Any) -> None:
    # Given the writers' deny spelt with brackets: IAM denies a developer's PutItem no more
    policy = counts_table_policy(WRITERS)
    _statement(policy, WRITERS_SID)[element] = value
    assert not _iam_denies(_statement(policy, WRITERS_SID), "dynamodb:PutItem", TABLE_ARN, DEVELOPER)
    # Then the check does not call it the seal
    problem = policy_problem(json.dumps(policy), WRITERS, TABLE_ARN, DEPLOYERS)
    assert problem is not None and WRITERS_SID in problem, problem


def test_iam_wildcards_and_case_still_read_as_iam_reads_them() -> None:
    # Regression: ? and * are wildcards, action names are case-insensitive, resources are not
    policy = counts_table_policy(WRITERS)
    _statement(policy, WRITERS_SID)["Action"] = ["DynamoDB:*Item", "dynamodb:partiql??????", "DYNAMODB:BATCHWRITEITEM"]
    _statement(policy, WRITERS_SID)["Resource"] = "arn:aws:dynamodb:us-east-?:*:table/*"
    assert _iam_denies(_statement(policy, WRITERS_SID), "dynamodb:PutItem", TABLE_ARN, DEVELOPER)
    assert policy_problem(json.dumps(policy), WRITERS, TABLE_ARN, DEPLOYERS) is None
    _statement(policy, WRITERS_SID)["Resource"] = "ARN:AWS:DYNAMODB:*"
    assert "Resource does not cover" in str(policy_problem(json.dumps(policy), WRITERS, TABLE_ARN, DEPLOYERS))


@pytest.mark.parametrize(
    ("document", "why"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not JSON"),
        ("null", "not JSON"),
        ('{"Statement": "Deny everything"}', "0 statements with Sid OnlyMetricWritersWrite"),
        ('{"Statement": {"Sid": "OnlyMetricWritersWrite", "Effect": "Deny"}}', "does not apply to every principal"),
    ],
)
def test_a_policy_that_is_no_policy_is_named_not_crashed_on(document: str, why: str) -> None:
    # Regression (held).
    assert why in str(policy_problem(document, WRITERS, TABLE_ARN, DEPLOYERS))


def test_extra_statements_and_a_statement_object_are_judged_by_meaning() -> None:
    # Regression (held): an extra Allow (a deny wins over it) leaves the seal; one statement as an object is a list.
    policy = counts_table_policy(WRITERS)
    policy["Statement"].append(
        {"Sid": "Extra", "Effect": "Allow", "Principal": "*", "Action": "dynamodb:*", "Resource": "*"}
    )
    assert policy_problem(json.dumps(policy), WRITERS, TABLE_ARN, DEPLOYERS) is None
    single = {"Statement": _statement(counts_table_policy(WRITERS), WRITERS_SID)}
    assert "0 statements with Sid ControlsOnlyByDeploy" in str(
        policy_problem(json.dumps(single), WRITERS, TABLE_ARN, DEPLOYERS)
    )


# -- the table read under failure (held)


def _series(table: Table, cloudwatch: Cloudwatch | None = None) -> dict[str, dict[str, list[float | None]]]:
    metrics = RecommendationMetrics(cloudwatch or Cloudwatch(_sagemaker_complete), NAMES, table, ACCOUNT)
    return metrics.variant_series(ENDPOINT, [PROD], T0, T0 + timedelta(minutes=10))


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("ProvisionedThroughputExceededException", "throttled"),
        ("ThrottlingException", "throttled"),
        ("AccessDeniedException", "may not read it"),
        ("ResourceNotFoundException", "does not exist"),
        ("KMSAccessDeniedException", "kms:Decrypt"),
        ("InternalServerError", "the read failed"),
    ],
)
def test_a_query_failing_on_its_second_page_fails_the_read_never_partial_counts(code: str, words: str) -> None:
    # Regression (held): page 1 holds 5 minutes, page 2 fails
    items = _minute_items(PROD, 10)
    table = Table([items[:5], _error(code, "Query")])
    with pytest.raises(ClientError) as raised:
        _series(table)
    assert ("Query", 1) in table.calls
    message = str(raised.value)
    assert COUNTS_TABLE in message and words in message and "No verdict" in message


@pytest.mark.parametrize("code", ["ThrottlingException", "AccessDeniedException", "ResourceNotFoundException"])
def test_a_failed_policy_read_fails_the_read_before_any_count(code: str) -> None:
    # Regression (held)
    table = Table([_minute_items(PROD, 10)], policy=_error(code, "GetResourcePolicy"))
    with pytest.raises(ClientError, match=COUNTS_TABLE):
        _series(table)
    assert not [c for c in table.calls if c[0] == "Query"]


def test_counts_of_odd_types_read_as_missing_and_are_named() -> None:
    # Regression (held): S for N, NaN, infinity, negative, beyond a float; -0 and 38 digits are numbers
    clicks = NAMES.clicks
    odd = {
        0: {"S": "28"},
        1: {"N": "NaN"},
        2: {"N": "Infinity"},
        3: {"N": "-1"},
        4: {"N": "1E+400"},
        5: {"N": "-0"},
        6: {"N": "12345678901234567890123456789012345678"},
        7: {"N": "28", "S": "28"},
    }
    metrics = RecommendationMetrics(
        Cloudwatch(_sagemaker_complete), NAMES, Table([_minute_items(PROD, 10, **{clicks: odd})]), ACCOUNT
    )
    series = metrics.variant_series(ENDPOINT, [PROD], T0, T0 + timedelta(minutes=10))[PROD]["clicks"]
    assert series[:5] == [None] * 5 and series[7] is None
    assert series[5] == 0.0 and series[6] == pytest.approx(1.2345678901234568e37)
    assert sorted(p["value"] for p in metrics.problems) == sorted(repr(v) for i, v in odd.items() if i not in (5, 6))


# -- the CloudWatch source (held)


def test_every_page_of_partial_data_is_read() -> None:
    # Regression (held): PartialData with a NextToken; the second page completes the window
    def answer(queries: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
        half = range(5, 10) if token else range(5)
        status = "Complete" if token else "PartialData"
        results = [
            {
                "Id": q["Id"],
                "Timestamps": [T0 + timedelta(minutes=i) for i in half],
                "Values": [1.0] * 5,
                "StatusCode": status,
            }
            for q in queries
        ]
        return {"MetricDataResults": results, **({} if token else {"NextToken": "page-2"})}

    metrics = RecommendationMetrics(Cloudwatch(answer), MetricNames(cart_adds=None, distinct_titles=None))
    series = metrics.variant_series(ENDPOINT, [PROD], T0, T0 + timedelta(minutes=10))[PROD]
    assert series["clicks"] == [1.0] * 10 and series["invocations"] == [1.0] * 10


@pytest.mark.parametrize("status", ["InternalError", "Forbidden"])
def test_a_result_cloudwatch_could_not_give_is_missing_and_pauses_never_zero(status: str) -> None:
    # Regression (held): the challenger's clicks answered with no values and a non-Complete StatusCode
    def answer(queries: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
        results = []
        for q in queries:
            if q["Id"] == "v1_clicks":
                results.append({"Id": q["Id"], "Timestamps": [], "Values": [], "StatusCode": status})
                continue
            value = (
                28.0
                if q["Id"].endswith("clicks")
                else 350.0
                if q["Id"].endswith(("impressions", "invocations", "latency_count"))
                else 0.0
            )
            stamps = [T0 + timedelta(minutes=i) for i in range(60)]
            results.append({"Id": q["Id"], "Timestamps": stamps, "Values": [value] * 60, "StatusCode": "Complete"})
        return {"MetricDataResults": results, "Messages": [{"Code": status, "Value": "try again"}]}

    metrics = RecommendationMetrics(Cloudwatch(answer), MetricNames(cart_adds=None, distinct_titles=None))
    series = metrics.variant_series(ENDPOINT, [PROD, CHAL], T0, T0 + timedelta(minutes=60))
    assert series[CHAL]["clicks"] == [None] * 60
    result = decide_minutes(series[PROD], series[CHAL], 60)
    assert result.decision == PAUSED, result.reasons


def test_a_guardrail_metric_missing_in_most_minutes_holds_promotion() -> None:
    # Regression (held): a better challenger whose 5XX errors CloudWatch gave for 3 of 120 minutes is not promoted
    from tests.unit.test_challenger_gate import _honest

    prod, chal = _honest(120, ratio=1.1)
    assert decide_minutes(prod, chal, 120).decision == "PROMOTE"
    chal["errors_5xx"] = [0.0 if i < 3 else None for i in range(120)]
    result = decide_minutes(prod, chal, 120)
    assert result.decision not in ("PROMOTE", "REJECT"), result.reasons


# -- 4. a throttled look


def _watch_ports(table: Table, cloudwatch: Cloudwatch | None = None) -> tuple[Any, Any]:
    from unittest.mock import MagicMock

    from mlgov_runtime.challenger.ports import Ports

    endpoints = MagicMock()
    endpoints.describe_endpoint.return_value = {
        "EndpointName": ENDPOINT,
        "EndpointConfigName": "experiment-config",
        "ProductionVariants": [
            {"VariantName": PROD, "CurrentWeight": 0.9},
            {"VariantName": CHAL, "CurrentWeight": 0.1},
        ],
    }
    ports = Ports(
        endpoints=endpoints,
        registry=MagicMock(),
        metrics=RecommendationMetrics(cloudwatch or Cloudwatch(_sagemaker_complete), NAMES, table, ACCOUNT),
        findings=MagicMock(),
        account_id=ACCOUNT,
        region=REGION,
    )
    return ports, endpoints


WATCHED = {
    "endpoint_name": ENDPOINT,
    "production_variant": PROD,
    "challenger_variant": CHAL,
    "traffic_fraction": 0.1,
    "experiment_config": "experiment-config",
    "model_package_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/recommender/7",
    "version": 7,
}


def _cloudwatch_throttled(queries: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    raise _error("Throttling", "GetMetricData", "Rate exceeded")


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ("Query", "ProvisionedThroughputExceededException"),
        ("Query", "ThrottlingException"),
        ("Query", "RequestLimitExceeded"),
        ("GetResourcePolicy", "ThrottlingException"),
        ("GetMetricData", "Throttling"),
    ],
)
# Inside the window, and past max_minutes (360) inside the throttle's grace (missing_metric_minutes, 10; the window
# ends settle_minutes, 2, before the look): past the grace the run ends inconclusive (twelfth review, hole 0)
@pytest.mark.parametrize("minutes", [90, 360 + 2 + 9])
def test_a_throttled_look_pauses_instead_of_ending_the_experiment(where: str, code: str, minutes: int) -> None:
    from mlgov_runtime.challenger import logic
    from mlgov_runtime.challenger.config import ChallengerConfig

    # Given a run under way, and one of its reads throttled for longer than the client's and the step's retries
    cfg = ChallengerConfig(metrics=NAMES)
    throttle = _error(code, where, "Throughput exceeds the limit")
    items = _minute_items(PROD, 10) + _minute_items(CHAL, 10)
    table = Table(
        [throttle] if where == "Query" else [items], policy=throttle if where == "GetResourcePolicy" else None
    )
    cloudwatch = Cloudwatch(_cloudwatch_throttled) if where == "GetMetricData" else None
    ports, endpoints = _watch_ports(table, cloudwatch)
    # When the watch looks
    state = {"challenger": WATCHED, "deployed_at": T0.isoformat()}
    look = logic.watch(ports, cfg, state, T0 + timedelta(minutes=minutes))
    # Then no verdict, the run goes on (the state machine waits and looks again), and the look says why
    assert look["decision"] == PAUSED and look.get("paused") is True
    assert any("throttl" in r and where in r for r in look["result"]["reasons"]), look["result"]["reasons"]
    endpoints.set_weights.assert_not_called()
    assert not [c for c in endpoints.method_calls if c[0] not in ("describe_endpoint",)]
    # and the data problem is its own finding, naming the throttled read (never CHALLENGER_FAILED)
    [finding] = [call.args[0] for call in ports.findings.publish.call_args_list]
    assert finding.kind == "CHALLENGER_DATA_MISSING" and "throttled" in finding.title, finding.title
    assert "ThrottledRequests" in finding.detail and "PutMetricData" not in finding.detail


def test_the_look_after_a_throttle_reads_again_and_resolves_the_pause() -> None:
    from mlgov_runtime.challenger import logic
    from mlgov_runtime.challenger.config import ChallengerConfig
    from mlgov_runtime.core.findings import STATUS_RESOLVED

    def sagemaker_hours(queries: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
        stamps = [T0 + timedelta(minutes=i) for i in range(120)]
        value = {"invocations": 350.0, "latency_count": 350.0, "latency_sum": 7000.0}
        return {
            "MetricDataResults": [
                {
                    "Id": q["Id"],
                    "Timestamps": stamps,
                    "Values": [value.get(q["Id"].split("_", 1)[1], 0.0)] * 120,
                    "StatusCode": "Complete",
                }
                for q in queries
            ]
        }

    cfg = ChallengerConfig(metrics=NAMES)
    state: dict[str, Any] = {"challenger": WATCHED, "deployed_at": T0.isoformat()}
    throttled, _ = _watch_ports(Table([_error("ThrottlingException", "Query")]), Cloudwatch(sagemaker_hours))
    state["watch"] = logic.watch(throttled, cfg, state, T0 + timedelta(minutes=30))
    assert state["watch"]["decision"] == PAUSED
    # When the next look reads the table again
    items = _minute_items(PROD, 120) + _minute_items(CHAL, 120)
    ports, _ = _watch_ports(Table([items]), Cloudwatch(sagemaker_hours))
    look = logic.watch(ports, cfg, state, T0 + timedelta(minutes=35))
    # Then it judges again and resolves the pause's finding
    assert look["decision"] not in (PAUSED, "REJECT", "PROMOTE"), look["result"]["reasons"]
    [resolved] = [call.args[0] for call in ports.findings.publish.call_args_list]
    assert resolved.status == STATUS_RESOLVED and resolved.finding_id == state["watch"]["data_finding_id"]


@pytest.mark.parametrize(
    ("code", "raised"),
    [
        ("AccessDeniedException", "may not read it"),
        ("ResourceNotFoundException", "does not exist"),
        ("InternalServerError", "the read failed"),
    ],
)
def test_a_refused_or_missing_table_still_fails_the_look(code: str, raised: str) -> None:
    # Regression: only a throttle pauses; a refusal or a missing table fails the step as before
    from mlgov_runtime.challenger import logic
    from mlgov_runtime.challenger.config import ChallengerConfig

    ports, _ = _watch_ports(Table([_error(code, "Query")]))
    with pytest.raises(ClientError, match=raised):
        logic.watch(
            ports,
            ChallengerConfig(metrics=NAMES),
            {"challenger": WATCHED, "deployed_at": T0.isoformat()},
            T0 + timedelta(minutes=90),
        )


# -- 5. the CLI under a refused table read


def test_status_says_what_permissions_a_refused_table_read_needs_on_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlgov import cli
    from mlgov.commands import challenger

    denied = _error(
        "AccessDeniedException",
        "Query",
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/MlGovOperator/alice is not authorized to perform: dynamodb:Query "
        f"on resource: {TABLE_ARN} because no identity-based policy allows the dynamodb:Query action",
    )

    def status(aws: Any, cfg: Any, endpoint: str, package: str | None, minutes: float | None) -> dict[str, Any]:
        metrics = RecommendationMetrics(Cloudwatch(_sagemaker_complete), NAMES, Table([denied]), ACCOUNT)
        metrics.variant_series(endpoint, [PROD, CHAL], T0, T0 + timedelta(minutes=10))
        raise AssertionError("the read was refused")

    monkeypatch.setattr(challenger, "challenger_status", status)
    code = cli.main(["challenger", "status", "--endpoint", ENDPOINT, "--region", REGION])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("mlgov: error:")
    assert "dynamodb:GetResourcePolicy" in err and "kms:Decrypt on the governance key" in err, err
    assert "AccessDeniedException" in err and len(err) <= 560, err  # within the CLI's line limit
    assert "retried" not in err  # nothing retries a read outside the state machine


# -- 6. a malformed approval record


@pytest.mark.parametrize("damage", ["missing", "wrong type", "not a value"])
def test_a_malformed_approval_record_is_refused_by_name(damage: str) -> None:
    from mlgov_runtime.adapters.approvals_store import DynamoApprovals
    from mlgov_runtime.approvals.logic import MalformedRecord, Refused

    item: dict[str, Any] = {
        k: {"S": "value"}
        for k in ("decision", "subject", "execution_arn", "requested_by", "requested_at", "expires_at", "status")
    }
    item["request_id"] = {"S": "req-7f3a"}
    item["task_token"] = {"S": "TOKEN-SECRET"}
    if damage == "missing":
        del item["status"]
    elif damage == "wrong type":
        item["status"] = {"N": "1"}
    else:
        item["status"] = "APPROVED"

    class Ddb:
        def get_item(self, **kwargs: Any) -> dict[str, Any]:
            return {"Item": item}

    try:
        DynamoApprovals(Ddb(), "mlgov-approvals").get("req-7f3a")
    except (KeyError, TypeError) as exc:
        pytest.fail(f"a malformed record is a {type(exc).__name__}: {exc}")
    except Exception as exc:
        assert "req-7f3a" in str(exc) and "status" in str(exc)
        assert isinstance(exc, MalformedRecord) and isinstance(exc, Refused) and exc.field == "status"
        assert "TOKEN-SECRET" not in str(exc)
    else:
        pytest.fail("a malformed record was read as a request")


def test_a_malformed_approval_record_deletes_nothing() -> None:
    # The delete step refuses, naming the record and the field; nothing is deleted
    from mlgov_runtime.approvals.logic import MalformedRecord
    from tests.unit.fakes import FindingBook
    from tests.unit.test_retirement import BOB_ARN, EXECUTION, FakeApprovals, FakeEndpoints, FakeMetrics, steps

    class Damaged(FakeApprovals):
        def get(self, request_id: str) -> Any:
            raise MalformedRecord(request_id, "decided_by", "is of type N, not a string (S)")

    name = "manga-recommender-v1-ab"
    sm, approvals, book = FakeEndpoints(), FakeApprovals(), FindingBook()
    sm.add(name, tags={"owner": "recsys"})
    run = steps(sm, FakeMetrics(), book, [], approvals)
    state: dict[str, Any] = {"endpoint_name": name, "reason": "v2 live"}
    approvals.open(EXECUTION)
    state["prepared"] = run.prepare(state, EXECUTION)
    run.request_approval(state, "TOKEN-1", EXECUTION)
    approvals.approve(EXECUTION, BOB_ARN)
    approvals.__class__ = Damaged
    result = run.delete(state, EXECUTION)
    assert result["outcome"] == "refused" and "decided_by" in result["reason"] and "nothing deleted" in result["reason"]
    assert name in sm.views and not [c for c in sm.calls if c[0] in ("snapshot", "delete")]


# -- retirement: the live-invocation check under failure (held)


class Throttled:
    """A CloudWatch client whose GetMetricStatistics (or ListMetrics) is throttled or refused."""

    def __init__(self, code: str, on: str) -> None:
        self.code, self.on = code, on

    def get_metric_statistics(self, **kwargs: Any) -> dict[str, Any]:
        if self.on == "statistics":
            raise _error(self.code, "GetMetricStatistics")
        return {"Datapoints": []}

    def get_paginator(self, name: str) -> Any:
        outer = self

        class Pages:
            def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
                if outer.on == "list":
                    raise _error(outer.code, "ListMetrics")
                yield {"Metrics": []}

        return Pages()


@pytest.mark.parametrize("code", ["Throttling", "AccessDenied", "InternalServiceError"])
@pytest.mark.parametrize("on", ["statistics", "list"])
def test_an_unreadable_invocation_count_is_a_read_failure_never_zero_traffic(code: str, on: str) -> None:
    # Regression (held): the delete step aborts on ReadFailure (tests/unit/test_retirement.py)
    metrics = EndpointMetrics(CloudWatchMetrics(Throttled(code, on)))
    with pytest.raises(ReadFailure, match=code):
        metrics.invocations(ENDPOINT, ["AllTraffic"], T0, T0 + timedelta(hours=1))
    with pytest.raises(ReadFailure, match=code):
        EndpointMetrics(CloudWatchMetrics(Throttled(code, "statistics"))).component_invocations(
            ["ic-1"], T0, T0 + timedelta(hours=1)
        )


# -- the notifier under Slack and Jira failures (held)


def _refusal(status: int, body: bytes, retry_after: str | None = None) -> Callable[..., Any]:
    def urlopen(request: Any, timeout: float) -> Any:
        headers = Message()
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        raise urllib.error.HTTPError(request.full_url, status, "refused", headers, io.BytesIO(body))

    return urlopen


def test_slack_429_with_a_long_retry_after_is_left_for_a_later_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression (held): no sleeping it out inside the Lambda; retryable, so the queue redelivers (then its DLQ)
    slept: list[float] = []
    monkeypatch.setattr(http_module, "_urlopen", _refusal(429, b"rate_limited", retry_after="120"))
    slack = SlackWebhooks({"alerts": "https://hooks.slack.com/services/T/B/secret"}, HttpClient(sleep=slept.append))
    with pytest.raises(DeliveryError) as raised:
        slack.send(copy.deepcopy(FINDING), "alerts")
    assert raised.value.retryable and raised.value.retry_after == 120 and not slept
    assert "secret" not in str(raised.value)


def test_jira_400_on_a_too_long_field_is_rejected_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression (held)
    body = json.dumps({"errorMessages": [], "errors": {"summary": "Summary must be less than 255 characters."}})
    monkeypatch.setattr(http_module, "_urlopen", _refusal(400, body.encode()))
    project = JiraProject("https://jira.example", "bot", "token", "GOV", HttpClient(sleep=lambda _: None))
    with pytest.raises(DeliveryError) as raised:
        project.send(copy.deepcopy(FINDING))
    assert not raised.value.retryable and "field summary" in raised.value.objection


def test_jira_5xx_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression (held)
    monkeypatch.setattr(http_module, "_urlopen", _refusal(503, b"<html>down</html>"))
    project = JiraProject("https://jira.example", "bot", "token", "GOV", HttpClient(sleep=lambda _: None))
    with pytest.raises(DeliveryError) as raised:
        project.send(copy.deepcopy(FINDING))
    assert raised.value.retryable


# -- 2. a DeleteEndpoint AWS carried out but answered "not found" (botocore resent it after a lost answer)


def _lost_delete_run(after: str) -> tuple[Any, Any, Any, dict[str, Any], str]:
    """The delete step's world where AWS carries out DeleteEndpoint but the answer is lost and botocore's resend
    is answered "not found"; `after`: what DescribeEndpoint then shows (gone, Deleting, or still InService)."""
    from dataclasses import replace

    from mlgov_runtime.retirement.logic import EndpointGone
    from tests.unit.fakes import FindingBook
    from tests.unit.test_retirement import BOB_ARN, EXECUTION, FakeApprovals, FakeEndpoints, FakeMetrics, steps

    class LostAnswer(FakeEndpoints):
        def delete(self, name: str) -> None:
            view = self.views[name]
            super().delete(name)  # AWS deletes it; the answer is lost, the resent call finds nothing
            if after != "gone":
                self.views[name] = replace(view, status=after)
            raise EndpointGone(f"endpoint {name} not found")

    name = "manga-recommender-v1-ab"
    sm, approvals, book = LostAnswer(), FakeApprovals(), FindingBook()
    sm.add(name, tags={"owner": "recsys"})
    run = steps(sm, FakeMetrics(), book, [], approvals)
    state: dict[str, Any] = {"endpoint_name": name, "reason": "v2 live"}
    approvals.open(EXECUTION)
    state["prepared"] = run.prepare(state, EXECUTION)
    run.request_approval(state, "TOKEN-1", EXECUTION)
    approvals.approve(EXECUTION, BOB_ARN)
    return run, sm, book, state, EXECUTION


@pytest.mark.parametrize("after", ["gone", "Deleting"])
def test_a_delete_answered_not_found_after_aws_deleted_is_recorded_as_deleted(after: str) -> None:
    from mlgov_runtime.core.findings import STATUS_RESOLVED
    from mlgov_runtime.retirement.findings import KIND_RETIRING

    run, sm, book, state, execution = _lost_delete_run(after)
    name = state["endpoint_name"]
    # When the delete step runs (and, if it fails, the state machine's CloseRequest with its error)
    try:
        result = run.delete(state, execution)
        outcome = result["outcome"]
    except Exception as exc:
        state["error"] = {"Error": type(exc).__name__, "Cause": str(exc)}
        result, outcome = {}, run.close_request(state, execution)["closed"]
    # Then the endpoint is gone (or going), and the record says so: the retirement closed with the recreate
    # command, and the client-error watch armed
    assert name not in sm.views or sm.views[name].status == "Deleting"
    assert outcome == "deleted", outcome
    closing = book.published[-1]
    assert (closing.kind, closing.status) == (KIND_RETIRING, STATUS_RESOLVED)
    assert f"mlgov retire recreate --endpoint {name} --endpoint-config" in closing.detail
    assert result["watch"]["remaining"] > 0


def test_a_delete_answered_not_found_while_the_endpoint_still_serves_fails_as_before() -> None:
    from mlgov_runtime.retirement.logic import EndpointGone

    run, _, book, state, execution = _lost_delete_run("InService")
    with pytest.raises(EndpointGone):
        run.delete(state, execution)
    assert not any(f.kind == "ENDPOINT_RETIRING" and f.status == "RESOLVED" for f in book.published)


# -- 7. `mlgov challenger status` on an endpoint whose model is gone or unreadable


@pytest.mark.parametrize(
    ("answer", "words"),
    [("gone", "does not exist"), ("denied", "sagemaker:DescribeModel")],
)
def test_status_of_an_endpoint_whose_model_is_gone_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], answer: str, words: str
) -> None:
    from mlgov import cli
    from mlgov.commands import challenger
    from mlgov_runtime.challenger.ports import NotFound

    class Rollout:
        def describe_endpoint(self, name: str) -> dict[str, Any]:
            return {
                "EndpointName": name,
                "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}",
                "EndpointConfigName": "experiment-config",
                "LastModifiedTime": T0.isoformat(),
                "ProductionVariants": [
                    {"VariantName": PROD, "CurrentWeight": 0.9},
                    {"VariantName": CHAL, "CurrentWeight": 0.1},
                ],
            }

        def describe_endpoint_config(self, name: str) -> dict[str, Any]:
            return {
                "ProductionVariants": [
                    {"VariantName": PROD, "ModelName": "model-v1"},
                    {"VariantName": CHAL, "ModelName": "model-v2"},
                ]
            }

        def describe_model(self, name: str) -> dict[str, Any]:
            if answer == "denied":
                raise _error("AccessDeniedException", "DescribeModel", f"not authorized on model/{name}")
            raise NotFound(f"model {name} not found")

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(challenger, "_rollout", lambda aws: Rollout())
    code = cli.main(["challenger", "status", "--endpoint", ENDPOINT, "--region", REGION])
    err = capsys.readouterr().err
    assert code in (1, 2) and len(err.strip().splitlines()) == 1
    assert err.startswith("mlgov: error:") and "model-v1" in err, err
    assert code == 1 and PROD in err and words in err and "unexpected failure" not in err, err
