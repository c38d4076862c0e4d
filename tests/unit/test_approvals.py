"""The approval rules and Slack's request signature, without AWS: who may decide, once, and what a forged,
stale or unsigned Slack request gets (nothing)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlgov.sinks import slack_problem
from mlgov_runtime.approvals.identity import Unproven, check_query, mapped_identities, person
from mlgov_runtime.approvals.logic import (
    APPROVED,
    PENDING,
    ApprovalRequest,
    Refused,
    TaskGone,
    decide,
    decision_message,
    request_id_for,
    requester_message,
    verified_decision,
)
from mlgov_runtime.approvals.slack import outcome_message, parse_press, sign, signature_problem
from tests.unit.test_retirement import FakeMacs

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ALICE = "arn:aws:sts::111122223333:assumed-role/MLOps/alice"
BOB = "arn:aws:sts::111122223333:assumed-role/MLOpsApprover/bob"
CAROL = "arn:aws:iam::111122223333:user/carol"
EXECUTION = "arn:aws:states:us-east-1:111122223333:execution:retirement:x"
RID = request_id_for(EXECUTION)
APPROVERS = {"retirement": ["arn:aws:sts::111122223333:assumed-role/MLOpsApprover/*", ALICE]}


MACS = FakeMacs()


class Store:
    def __init__(self, requested_by: str = ALICE, mac: bool = True) -> None:
        request = ApprovalRequest(
            RID, "retirement", "manga-v1", EXECUTION, requested_by, "2026-12-04T11:00:00Z", "2026-12-07T11:00:00Z"
        )
        self.request = replace(request, requester_mac=MACS.generate(requester_message(request)) if mac else None)
        self.token = "TOKEN"
        self.marked: str | None = None

    def create(self, request: ApprovalRequest, token: str, expires_epoch: int) -> None:
        raise AssertionError("not used")

    def get(self, request_id: str) -> ApprovalRequest | None:
        return self.request if request_id == RID else None

    def settle(
        self, request_id: str, status: str, by: str, at: str, channel: str, comment: str, mac: str, via: str = ""
    ) -> str | None:
        if self.request.status != PENDING:
            return None
        self.request = replace(
            self.request,
            status=status,
            decided_by=by,
            decided_at=at,
            channel=channel,
            decision_mac=mac,
            decided_via=via or None,
        )
        return self.token

    def reclaim(self, request_id: str, status: str, by: str, channel: str, mac: str = "") -> str | None:
        r = self.request
        own = (r.status, r.decided_by, r.channel) == (status, by, channel) and (not mac or r.decision_mac == mac)
        return self.token if own and self.marked is None else None

    def answered(self, request_id: str, how: str) -> None:
        self.marked = how


class Answers:
    def __init__(self, gone: bool = False) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.gone = gone

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        if self.gone:
            raise TaskGone("TaskTimedOut")
        self.calls.append(("success", token))

    def fail(self, token: str, error: str, cause: str) -> None:
        self.calls.append(("failure", error))


def run(store: Store, answers: Any, caller: str, approve: bool = True, comment: str = "", **kw: Any) -> Any:
    return decide(
        store,
        answers,
        APPROVERS,
        kw.get("macs", MACS),
        also=kw.get("also", ()),
        people=kw.get("people", ()),
        caller=caller,
        channel="cli",
        request_id=kw.get("rid", RID),
        approve=approve,
        comment=comment,
        now=kw.get("now", NOW),
        again=kw.get("again", False),
    )


def test_an_approver_decides_once_and_the_record_is_written_before_the_token_is_answered() -> None:
    store, answers = Store(), Answers()
    decision = run(store, answers, BOB)
    assert (decision.request.status, decision.request.decided_by, decision.answered) == (APPROVED, BOB, True)
    assert answers.calls == [("success", "TOKEN")]
    with pytest.raises(Refused, match=r"already approved by .*bob") as again:
        run(store, answers, BOB)
    assert again.value.status == 409 and answers.calls == [("success", "TOKEN")]  # no second effect


@pytest.mark.parametrize(
    ("caller", "approve", "comment", "status", "why"),
    [
        (ALICE, True, "", 403, "same person as the requester"),  # listed as an approver, but she asked
        (CAROL, True, "", 403, "is not an approver for retirement"),
        ("arn:aws:sts::111122223333:assumed-role/MLOpsApproverX/bob", True, "", 403, "is not an approver"),
        (BOB, False, "  ", 400, "a denial needs a reason"),
    ],
)
def test_refusals_change_nothing(caller: str, approve: bool, comment: str, status: int, why: str) -> None:
    store, answers = Store(), Answers()
    with pytest.raises(Refused, match=why) as refused:
        run(store, answers, caller, approve, comment)
    assert refused.value.status == status
    assert store.request.status == PENDING and answers.calls == []


REQUESTED_AS = "arn:aws:sts::111122223333:assumed-role/MLOpsApprover/bob"


@pytest.mark.parametrize(
    ("requested_by", "caller", "also", "why"),
    [
        # the requester re-assumes the same role under another session name: the same person
        (REQUESTED_AS, "arn:aws:sts::111122223333:assumed-role/MLOpsApprover/bob-again", (), "same person"),
        # Slack maps bob to his approver role and to the role he requested with
        (
            "arn:aws:sts::111122223333:assumed-role/Operators/bob",
            BOB,
            ("arn:aws:iam::111122223333:role/Operators",),
            "same person",
        ),
        # a request not opened through the approval service: no verified requester, never approvable
        ("", BOB, (), "no verified requester"),
        ("unknown", BOB, (), "no verified requester"),
    ],
)
def test_the_requester_never_approves_under_another_name(
    requested_by: str, caller: str, also: tuple[str, ...], why: str
) -> None:
    store, answers = Store(requested_by), Answers()
    with pytest.raises(Refused, match=why) as refused:
        run(store, answers, caller, also=also)
    assert refused.value.status == 403 and store.request.status == PENDING and answers.calls == []


ACCOUNT = "arn:aws:sts::111122223333:assumed-role"
# approvals.slack_approvers as the service receives it: each entry one person's identities.
PEOPLE = (
    (BOB,),
    (f"{ACCOUNT}/MLOpsApprover/al", ALICE),  # Alice: her own session of the shared approver role, and MLOps
    # Alice's second Slack account: her approver session again, and a role of her own
    (f"{ACCOUNT}/MLOpsApprover/al", "arn:aws:iam::111122223333:role/AliceOps"),
)


@pytest.mark.parametrize(
    ("caller", "also"),
    [
        (f"{ACCOUNT}/MLOpsApprover/al", ()),  # the CLI: no Slack user, only the proven caller
        (f"{ACCOUNT}/MLOpsApprover/al", (f"{ACCOUNT}/MLOpsApprover/al",)),
    ],
)
def test_the_requester_never_approves_under_another_mapped_identity_on_any_channel(
    caller: str, also: tuple[str, ...]
) -> None:
    # Given Alice's request (as ALICE) and Alice deciding with her approver session, mapped to her in settings
    store, answers = Store(ALICE), Answers()
    with pytest.raises(Refused, match="same person as the requester") as refused:
        run(store, answers, caller, also=also, people=PEOPLE)
    assert refused.value.status == 403 and store.request.status == PENDING and answers.calls == []
    # A request Alice opened with her second account's role is hers too (entries sharing an identity chain)
    store = Store(f"{ACCOUNT}/AliceOps/any-session")
    with pytest.raises(Refused, match="same person as the requester"):
        run(store, answers, caller, people=PEOPLE)
    assert answers.calls == []


def test_another_session_of_a_shared_role_is_another_person_when_settings_map_sessions() -> None:
    # Bob shares the approver role with Alice under his own session: he decides Alice's request
    store, answers = Store(ALICE), Answers()
    assert run(store, answers, BOB, people=PEOPLE).request.decided_by == BOB
    assert answers.calls == [("success", "TOKEN")]


def test_mapped_identities_close_over_entries_that_share_an_identity() -> None:
    al = f"{ACCOUNT}/MLOpsApprover/al"
    assert mapped_identities([BOB], PEOPLE) == (BOB,)  # a mapped session is that session only
    assert set(mapped_identities([al], PEOPLE)) == {al, ALICE, PEOPLE[2][1]}
    # A mapped role is every session of it
    assert ALICE in mapped_identities([f"{ACCOUNT}/AliceOps/other"], PEOPLE)
    assert mapped_identities([CAROL], PEOPLE) == (CAROL,)


def test_a_requester_written_without_the_services_mac_is_not_verified() -> None:
    """Someone with dynamodb:PutItem on the table writes a request naming another requester."""
    store, answers = Store(ALICE, mac=False), Answers()
    with pytest.raises(Refused, match="no verified requester"):
        run(store, answers, BOB)
    store = Store(ALICE)
    store.request = replace(store.request, requested_by=CAROL)  # flipped after the service MACed it
    with pytest.raises(Refused, match="no verified requester"):
        run(store, answers, BOB)
    assert answers.calls == []


def test_the_decision_is_maced_and_a_flipped_record_does_not_verify() -> None:
    store = Store()
    decision = run(store, Answers(), BOB)
    assert verified_decision(store.request, MACS) and verified_decision(decision.request, MACS)
    forged = replace(store.request, decided_by="arn:aws:sts::111122223333:assumed-role/MLOpsApprover/mallory")
    assert not verified_decision(forged, MACS)
    pending = Store().request  # flipped to APPROVED by hand, with a MAC from another key
    flipped = replace(pending, status=APPROVED, decided_by=BOB, decided_at="t", channel="cli")
    flipped = replace(flipped, decision_mac=FakeMacs(b"attacker").generate(decision_message(flipped)))
    assert not verified_decision(flipped, MACS)


def test_people_not_sessions() -> None:
    assert person(BOB) == "arn:aws:iam::111122223333:role/MLOpsApprover"
    assert person("arn:aws:iam::111122223333:role/team/MLOpsApprover") == person(BOB)
    assert person(CAROL) == CAROL
    assert person("arn:aws:sts::111122223333:federated-user/bob") == ""  # names itself: no person
    assert person("unknown") == person("") == ""


GOOD_QUERY = (
    "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=ASIAEXAMPLEEXAMPLE12%2F20261204%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20261204T120000Z"
    "&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-mlgov-audience%3Bx-mlgov-binding&X-Amz-Signature=abc"
)


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("", "no identity proof"),
        (GOOD_QUERY.replace("GetCallerIdentity", "AssumeRole"), "not an sts:GetCallerIdentity"),
        (GOOD_QUERY + "&Action=GetCallerIdentity", "repeated or unexpected"),
        (GOOD_QUERY + "&RoleArn=x", "repeated or unexpected"),
        (GOOD_QUERY.replace("%2Fsts%2F", "%2Fs3%2F"), "not signed for STS"),
        (GOOD_QUERY.replace("X-Amz-Expires=60", "X-Amz-Expires=3600"), "expire within 60 s"),
        (GOOD_QUERY.replace("X-Amz-Expires=60", "X-Amz-Expires=61"), "expire within 60 s"),  # CLI and docs: 60 s
        (GOOD_QUERY.replace("x-mlgov-audience%3Bx-mlgov-binding", "x-mlgov-audience"), "bound to nothing"),
        (GOOD_QUERY.replace("host%3Bx-mlgov-audience%3B", "host%3B"), "made for no particular approval service"),
    ],
)
def test_an_identity_proof_that_is_not_a_bound_short_lived_caller_identity_is_refused(query: str, why: str) -> None:
    check_query(GOOD_QUERY)
    with pytest.raises(Unproven, match=why):
        check_query(query)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://Abc0def.lambda-url.us-east-1.on.aws/", "abc0def.lambda-url.us-east-1.on.aws"),
        ("https://abc0def.lambda-url.us-east-1.on.aws", "abc0def.lambda-url.us-east-1.on.aws"),
        ("https://abc0def.lambda-url.us-east-1.on.aws:443/", "abc0def.lambda-url.us-east-1.on.aws"),
        ("http://127.0.0.1:8123/", "127.0.0.1:8123"),
        ("https://abc0def.lambda-url.us-east-1.on.aws:8443/", "abc0def.lambda-url.us-east-1.on.aws:8443"),
        ("https://user@evil.example/", ""),
        ("not a url", ""),
        ("", ""),
    ],
)
def test_the_audience_a_proof_names_is_the_host_of_the_service_url(url: str, host: str) -> None:
    from mlgov_runtime.approvals.identity import audience_of

    assert audience_of(url) == host


def test_no_proof_is_made_or_checked_without_an_audience() -> None:
    from botocore.credentials import Credentials

    from mlgov.ops.identity_proof import presign
    from mlgov_runtime.approvals.identity import caller_via_sts

    with pytest.raises(Unproven, match="name its function URL's host"):
        presign(Credentials("AKIAEXAMPLE", "secret"), "us-east-1", "https://sts.us-east-1.amazonaws.com", "b", "")
    with pytest.raises(Unproven, match="does not know its own URL"):
        caller_via_sts(object(), GOOD_QUERY, "b", "")


def test_an_expired_or_unknown_request_is_refused() -> None:
    store, answers = Store(), Answers()
    with pytest.raises(Refused, match="expired"):
        run(store, answers, BOB, now=NOW + timedelta(days=4))
    with pytest.raises(Refused, match="no approval request"):
        run(store, answers, BOB, rid="rq-" + "0" * 20)
    with pytest.raises(Refused, match="is not a request id"):
        run(store, answers, BOB, rid="AAAAKgAAAAIAAAAA-a-task-token")
    assert store.request.status == PENDING and answers.calls == []


def test_a_malformed_record_is_refused_by_name_and_nothing_is_decided() -> None:
    from mlgov_runtime.approvals.logic import MalformedRecord

    class Damaged(Store):
        def get(self, request_id: str) -> ApprovalRequest | None:
            raise MalformedRecord(request_id, "status", "is missing")

    store, answers = Damaged(), Answers()
    with pytest.raises(Refused) as refused:
        run(store, answers, BOB)
    assert refused.value.status == 409 and RID in str(refused.value) and "field status" in str(refused.value)
    assert store.request.status == PENDING and answers.calls == [] and store.marked is None


def test_a_decision_on_a_request_step_functions_stopped_waiting_for_is_recorded_but_not_answered() -> None:
    decision = run(Store(), Answers(gone=True), BOB)
    assert decision.request.status == APPROVED and decision.answered is False


SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = b"payload=%7B%22type%22%3A%22block_actions%22%7D"


def headers(secret: str, stamp: int, body: bytes = BODY) -> dict[str, str]:
    return {"X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": sign(secret, str(stamp), body)}


def test_slack_signature_known_answer() -> None:
    # Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack).
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
        b"channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
        b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    assert sign(SECRET, "1531420618", body) == ("v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")


@pytest.mark.parametrize(
    ("sent", "why"),
    [
        ({}, "unsigned"),
        ({"X-Slack-Request-Timestamp": str(int(NOW.timestamp()))}, "unsigned"),
        (headers("wrong-secret", int(NOW.timestamp())), "bad signature"),
        (headers(SECRET, int(NOW.timestamp()), b"payload=tampered"), "bad signature"),
        (headers(SECRET, int(NOW.timestamp()) - 301), "stale"),
        (headers(SECRET, int(NOW.timestamp()) + 301), "stale"),
        ({**headers(SECRET, int(NOW.timestamp())), "X-Slack-Request-Timestamp": "soon"}, "malformed"),
        # unicode digits pass str.isdigit() and crash int(): refused, never a 500
        ({**headers(SECRET, int(NOW.timestamp())), "X-Slack-Request-Timestamp": "\u00b2" * 3}, "malformed"),
        ({**headers(SECRET, int(NOW.timestamp())), "X-Slack-Request-Timestamp": "1" * 13}, "malformed"),
    ],
)
def test_slack_requests_without_a_fresh_valid_signature_are_refused(sent: dict[str, str], why: str) -> None:
    problem = signature_problem(SECRET, sent, BODY, NOW.timestamp())
    assert problem is not None and why in problem


def test_a_fresh_signature_within_five_minutes_is_accepted() -> None:
    assert signature_problem(SECRET, headers(SECRET, int(NOW.timestamp()) - 299), BODY, NOW.timestamp()) is None


def test_a_press_that_is_not_an_mlgov_button_is_refused() -> None:
    with pytest.raises(ValueError, match="not a button press"):
        parse_press(b"payload=%7B%22type%22%3A%22view_submission%22%7D")
    with pytest.raises(ValueError, match="not a button press"):
        parse_press(b"no-payload")


def test_block_kit_outcome_stays_within_slack_limits() -> None:
    assert slack_problem(outcome_message("Approved " + "z" * 4000, RID)) is None


def test_a_pending_retirement_request_reaches_slack_with_buttons_and_without_its_token() -> None:
    from mlgov_runtime.notifier.messages import slack_message
    from mlgov_runtime.retirement.findings import Retiring, retiring_finding

    retiring = Retiring.start(
        "manga-v1",
        "arn:aws:sagemaker:us-east-1:111122223333:endpoint/manga-v1",
        "111122223333",
        "us-east-1",
        NOW,
        7,
        "recsys",
        700.0,
    )
    retiring.request = {"request_id": RID, "requested_by": ALICE, "reason": "v2", "expires_at": "2026-12-07T12:00:00Z"}
    message = slack_message(retiring_finding(retiring, "pipeline").to_dict())
    assert slack_problem(message) is None
    [actions] = [b for b in message["blocks"] if b["type"] == "actions"]
    assert [e["value"] for e in actions["elements"]] == [RID, RID]
    retiring.request = None  # answered: no buttons any more
    assert not [
        b for b in slack_message(retiring_finding(retiring, "pipeline").to_dict())["blocks"] if b["type"] == "actions"
    ]


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ({"approvers": {"deletion": [BOB]}}, "approvals.approvers.deletion"),
        ({"approvers": {"retirement": ["bob"]}}, "is not an IAM principal ARN"),
        ({"slack_approvers": {"bob": BOB}}, "is not a Slack user id"),
        ({"slack_approvers": {"UBOB": "bob@example.com"}}, "is not an IAM principal ARN"),
        ({"slack_approvers": {"UBOB": BOB, "UCAROL": [CAROL, BOB]}}, "Slack users UBOB and UCAROL both map to"),
        ({"approver": {}}, "approvals.approver"),
    ],
)
def test_bad_approval_settings_fail_at_synth_naming_the_key(raw: dict[str, Any], hint: str) -> None:
    from mlgov.settings import SettingsError, parse_settings

    with pytest.raises(SettingsError, match=hint):
        parse_settings({"approvals": raw})


def test_the_service_reads_back_the_approvers_the_app_composed() -> None:
    from mlgov.settings import parse_settings
    from mlgov_runtime.approvals.settings import load

    approvals = parse_settings({"approvals": {"approvers": {"retirement": [BOB]}, "slack_approvers": {"UBOB": BOB}}})
    loaded = load({**approvals.approvals.environment(), "APPROVALS_TABLE_NAME": "t-approvals"})
    assert loaded.approvers == {"retirement": (BOB,)} and loaded.slack_approvers == {"UBOB": (BOB,)}


class ThrottledSfn:
    """Step Functions that throttles the first `throttle` answers, or refuses them all with `code`."""

    def __init__(self, throttle: int, code: str = "ThrottlingException") -> None:
        self.throttle, self.code, self.calls = throttle, code, 0

    def send_task_success(self, **kwargs: Any) -> None:
        from botocore.exceptions import ClientError

        self.calls += 1
        if self.calls <= self.throttle:
            raise ClientError({"Error": {"Code": self.code, "Message": "slow down"}}, "SendTaskSuccess")


def test_answering_the_token_retries_throttling_with_backoff_and_reports_a_final_failure() -> None:
    from mlgov_runtime.adapters.approvals_store import StepFunctionsAnswers

    slept: list[float] = []
    sfn = ThrottledSfn(2)
    decision = run(Store(), StepFunctionsAnswers(sfn, sleep=slept.append), BOB)
    assert decision.answered and sfn.calls == 3 and slept == [0.2, 0.4]
    store, sfn = Store(), ThrottledSfn(99)
    decision = run(store, StepFunctionsAnswers(sfn, sleep=slept.append), BOB)
    assert store.request.status == APPROVED  # the decision stands
    assert not decision.answered and "after 5 attempt(s): ThrottlingException" in decision.problem
    decision = run(Store(), StepFunctionsAnswers(ThrottledSfn(1, "AccessDeniedException"), sleep=slept.append), BOB)
    assert not decision.answered and "AccessDeniedException" in decision.problem  # not retried, reported


def test_only_the_product_roles_invoke_the_slack_press_worker() -> None:
    """Who may trigger the press worker where the guardrails apply: the Slack function's role (CloudFormation names
    it, and the worker, after the stack: product roles and functions); anyone else's direct invoke is denied by
    DenyProductFunctionInvoke. The worker checks Slack's signature again whoever invokes it."""
    from tests.unit.test_guardrail_matrix import DS, GOV, POLICIES, evaluate, gov

    worker = f"arn:aws:lambda:us-east-1:{GOV}:function:MlGovEndpointAudit-ApprovalsPressWorkerFunction1A-Zz9"
    slack_role = "MlGovEndpointAudit-ApprovalsSlackRoleB2C3D4-Ww1"
    for case in (
        gov("lambda:InvokeFunction", slack_role, "Allow", "the Slack function hands a press off", worker),
        gov("lambda:InvokeFunction", DS, "Deny", "a made-up press", worker, sid="DenyProductFunctionInvoke"),
    ):
        result = evaluate(POLICIES, case.action, case.resource(), case.context())
        assert (result.decision, result.statement if case.sid else None) == (case.expected, case.sid), case.name


class Unreachable(Answers):
    """SendTaskSuccess/Failure that get no answer (StepFunctionsAnswers turns that into AnswerFailed)."""

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        from mlgov_runtime.approvals.logic import AnswerFailed

        self.calls.append(("success", token))
        raise AnswerFailed("send_task_success got no answer: ReadTimeoutError")


def test_a_retry_of_the_same_press_answers_its_recorded_but_unanswered_decision_again() -> None:
    # Given a decision recorded whose answer got no reply (the record is not marked answered)
    store = Store()
    first = run(store, Unreachable(), BOB, again=True)
    assert first.problem and store.request.status == APPROVED and store.marked is None
    # When the same press runs again (Lambda's retry): the recorded decision is answered, with its own time
    answers = Answers()
    retried = run(store, answers, BOB, again=True, now=NOW.replace(hour=13))
    assert (retried.again, retried.answered, answers.calls) == (True, True, [("success", "TOKEN")])
    assert retried.request.decided_at == first.request.decided_at and store.marked == "answered"
    # Then once answered, a further press is refused as already decided (nothing answered twice)
    with pytest.raises(Refused, match="already approved"):
        run(store, Answers(), BOB, again=True)


@pytest.mark.parametrize(
    ("caller", "approve", "again"),
    [(CAROL, True, True), (BOB, False, True), (BOB, True, False)],
    ids=["another-approver", "the-other-outcome", "the-cli"],
)
def test_only_the_same_decision_by_the_same_caller_on_a_retry_is_answered_again(
    caller: str, approve: bool, again: bool
) -> None:
    store = Store()
    run(store, Unreachable(), BOB, again=True)
    answers = Answers()
    with pytest.raises(Refused, match="already approved"):
        run(store, answers, caller, approve, "" if approve else "no", again=again)
    assert answers.calls == [] and store.marked is None


def test_a_retry_whose_task_has_closed_says_so_and_is_not_answered_again() -> None:
    store = Store()
    run(store, Unreachable(), BOB, again=True)
    gone = run(store, Answers(gone=True), BOB, again=True)
    assert (gone.again, gone.answered, gone.gone) == (True, False, "TaskTimedOut")
    assert store.marked == "gone:TaskTimedOut"
    with pytest.raises(Refused, match="already approved"):
        run(store, Answers(), BOB, again=True)


@pytest.mark.parametrize(
    ("decision", "status", "command"),
    [
        ("retirement", APPROVED, f"`mlgov retire approve --request {RID}`"),
        ("retirement", "DENIED", f"`mlgov retire deny --request {RID} --reason TEXT`"),
        ("challenger", APPROVED, f"`mlgov challenger approve --request {RID}`"),
        ("challenger", "DENIED", f"`mlgov challenger deny --request {RID} --reason TEXT`"),
    ],
)
def test_the_command_to_run_again_is_the_one_that_decided(decision: str, status: str, command: str) -> None:
    from mlgov.cli import build_parser
    from mlgov_runtime.approvals.handler import same_command

    assert same_command(replace(Store().request, decision=decision, status=status)) == command
    argv = command.strip("`").split()[1:]
    parsed = build_parser().parse_args(argv)  # a command the CLI has, with those options
    assert (parsed.request, parsed.func.__name__) == (RID, f"cmd_{argv[1]}")


def test_one_identity_center_user_is_one_person_under_every_permission_set() -> None:
    """Identity Center sets its roles' session names (the user name): one name in one account is one person; other
    roles' session names are the caller's choice and tell nothing; another account's user is someone else."""
    from mlgov_runtime.approvals.identity import same_person

    ops = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_MLOps_0123456789abcdef/alice"
    approver = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Approver_fedcba9876543210/Alice"
    assert same_person(ops, approver)
    assert not same_person(ops, approver.replace("/Alice", "/bob"))
    assert not same_person(ops, approver.replace("123456789012", "210987654321"))
    assert not same_person(
        "arn:aws:sts::123456789012:assumed-role/MLOps/alice", "arn:aws:sts::123456789012:assumed-role/Approver/alice"
    )
    assert not same_person(ops, "arn:aws:sts::123456789012:assumed-role/Approver/alice")


def test_an_expired_proof_says_to_check_the_signing_clock() -> None:
    """STS counts a proof's 60 s from X-Amz-Date (the signer's clock): the refusal names the clock to check."""
    import boto3
    from botocore.stub import Stubber

    from mlgov_runtime.approvals.identity import caller_via_sts

    sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x")
    with Stubber(sts) as stub:
        stub.add_client_error(
            "get_caller_identity",
            "SignatureDoesNotMatch",
            "Signature expired: 20261204T120000Z is now earlier than 20261204T120100Z",
        )
        with pytest.raises(Unproven, match="lives 60 s from the signing machine's clock"):
            caller_via_sts(sts, GOOD_QUERY, "b", "svc.example")
