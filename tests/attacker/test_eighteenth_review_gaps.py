"""Eighteenth review: "every human decision must prove who made it", on the approval service (function URL over IAM,
Slack buttons and their press worker), the approvals table, and the acts that wait on a person (a stale endpoint's
deletion, a challenger's promotion, `mlgov retire cancel`). Reviewed as a governance-account developer or operator
who is not an approver (not the deployer, role admin, break-glass or the product's roles), as a Slack member who
is not an approver, and as a failure injector. The fifth review (proof audience, expiry, replayed timestamps, one
person through Slack then the CLI) and test_slack_secret_forgery.py (the signing secret) are not repeated here.

Holes, ranked (each test asserts the SAFE outcome, strict xfail until fixed):
 1. (high) A requester approves their own deletion under a second IAM Identity Center permission set. The
    requester check compares people by role (identity.person: an assumed role is its role, the session name being
    the caller's choice), so `assumed-role/AWSReservedSSO_MLOps_<hash>/alice` and
    `assumed-role/AWSReservedSSO_Approver_<hash>/alice` are two people unless settings list both under one Slack
    user in `approvals.slack_approvers` (a setting a CLI-only deployment has no reason to fill). Yet the session
    name of an Identity Center role is not the caller's choice: those roles trust only the SAML provider and IAM
    Identity Center sets the session name to the user name (docs/approvals.md says so itself). Reproduction: Alice,
    who holds both permission sets, runs `mlgov retire request --endpoint E` as MLOps, then `mlgov retire approve
    --request rq-...` as Approver: recorded APPROVED by her, the MAC verifies, and the delete step's
    same_principal agrees (it compares roles too). Fix: treat sessions of `AWSReservedSSO_*` roles (paths
    `aws-reserved/sso.amazonaws.com/`) with the same session name in the same account as one person in
    identity.person/same_person (both in decide and in the delete step), or refuse an approver whose session name
    equals the requester's whenever both roles are Identity Center's.
    Fixed: identity.same_person counts sessions of two `AWSReservedSSO_*` roles with one session name (compared
    without case) in one account as one person, in decide and in the delete step's same_principal; Bob under the
    same approver permission set still approves (pinned below), and a role not named AWSReservedSSO_* gains nothing
    (its session name is the caller's choice, so it is not believed).
 2. (medium) The Slack buttons are bound to a request id only, and the message around them is whatever finding
    reached the notifier. `mlgov retire cancel` and `mlgov capacity restore` need the operators
    (`guardrails.operator_role_arns`) to write the findings table and publish on the findings topic, so an operator
    (no approver) can publish an OPEN finding titled "Retire scratch-load-test-7 (idle)" whose
    evidence.approval_request.request_id is the pending request of another endpoint; the notifier's stored-status
    check sends an OPEN message whose finding is absent or OPEN, messages.slack_message attaches Approve/Deny for
    that id, and an approver's press approves the retirement (or, with a challenger request id, the promotion) of
    what the message never named. The outcome only names the real subject after the decision is recorded.
    Reproduction: below, a forged finding through slack_message, the button's value pressed by UBOB: the other
    endpoint's request is APPROVED. Fix: Slack's block_actions payload carries the message the button sat in
    (`message`, signed with the rest; api.slack.com/reference/interaction-payloads/block-actions): have the
    worker refuse a press whose message does not name the record's subject and account (the notifier puts them in
    the actions block's block_id or a context element it writes from the record, not from the finding's title),
    and add a Slack `confirm` dialog naming the subject; or attach buttons only to findings whose stored evidence
    (written by the retirement/challenger steps) names the request.
    Fixed: the worker refuses (nothing decided, told only to the presser) a press whose signed `message` does not
    name the record's subject and the account of its execution (a missing message names nothing), and the notifier
    gives both buttons a Slack confirm dialog naming the resource ARN and account (title <= 100, text <= 300
    characters). The forged finding's message names scratch-load-test-7, so its press approves nothing.
    Then: only the pressed button's confirm dialog is read (a finding's detail naming the request's endpoint and
    account in passing made the whole message "name" them, and the press approved).
 3. (medium) A Slack decision does not record who pressed. decided_by is the first IAM identity the Slack user is
    mapped to; the Slack user id is kept nowhere durable (the "Slack button handled" log carries only the outcome;
    an approval's comment is empty). Settings accept two Slack users mapped to the same principal (a shared
    approver role, or a copy-paste), and then the record, its MAC, the Step Functions output and the finding say
    the same thing whoever pressed. Reproduction: `slack_approvers: {UBOB: ROLE, UCAROL: ROLE}`; UCAROL presses
    Approve; the approvals item names only ROLE. Fix: record the Slack user id (and team id) in the decision (a
    `decided_via` field under the decision MAC) and refuse a settings file that maps two Slack users to one
    principal.
    Fixed: a Slack decision records `decided_via` = slack:<team id>:<user id> under the decision MAC (a record
    written before it existed verifies as before), passes it to the waiting step (output, denial cause) and names
    the user id in the outcome; `approvals.slack_approvers` mapping two Slack users to one principal fails at
    settings load naming both users and the principal.

Left as is:
 - An approver named by an exact session ARN on a role whose callers choose their session names: documented
   (docs/approvals.md, "a session name is believed only as far as the role's trust policy fixes it"); the
   settings cannot see a trust policy.
 - `mlgov retire cancel` records "cancelled by <ARN>" as the CLI computed it (operators write the findings table
   directly). A cancel only stops a deletion (the delete step aborts when no retirement is open), CloudTrail names
   the writer, and an operator may cancel anyway.
 - A Slack decision whose answer to Step Functions failed after the worker's retries replaces the buttons: the
   decision is recorded but only a platform engineer can deliver it (the CLI's `again` path is per channel). It
   errs toward nothing deleted or promoted (the request expires), and the presser is told.
 - Slack user ids are not checked against a team id: an app's signing secret is per app, and Slack's global user
   ids (U/W, api.slack.com/enterprise-grid) name one user across an organization's workspaces, so a shared
   channel's outsider is an unmapped id.
 - A challenger denial's CHALLENGER_PROMOTION_NOT_APPROVED finding names the denier from SendTaskFailure's cause
   (approval._why), not from the MACed record as the retirement's close_request does. Only the product's roles and
   break-glass may answer a task where the product runs (DenyTaskAnswersOutsideProduct, governance targets), and a
   denial promotes nothing; reading the record there would make the two alike.
 - The service accepts a presigned proof up to 300 s old while the CLI signs for 60 s (docs say 60 s): the proof
   is bound to the body and the service, so a replay only repeats the same decision, which the record refuses.
   Fixed: the service accepts X-Amz-Expires up to 60 s (identity.MAX_EXPIRES, which the CLI signs with), so code,
   CLI and docs agree; an expired proof's refusal says to check the signing machine's clock.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from tests.integration.test_approvals import (
    ALICE,
    BOB,
    CONTEXT,
    SECRET,
    TABLE,
    ApprovalWorld,
    iam_event,
    open_request,
    proven,
    set_approvals,
    slack_event,
    world,
)

__all__ = ["world"]

ACCOUNT = "123456789012"
IDC_OPS = f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_MLOps_0123456789abcdef/alice"
IDC_APPROVER = f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Approver_fedcba9876543210/alice"
IDC_OTHER_APPROVER = f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Approver_fedcba9876543210/bob"
RESPONSE_URL = "https://hooks.slack.com/actions/T0/1/x"


def _item(world: ApprovalWorld) -> dict[str, Any]:
    return dict(world.ddb.get_item(TableName=TABLE, Key={"request_id": {"S": world.request_id}})["Item"])


def _reopen(world: ApprovalWorld, requester: str, endpoint: str = "manga-recommender-v1-ab") -> None:
    """The world's request, opened again by `requester` (as the service does) and its waiting step's token attached."""
    import time

    from mlgov_runtime.adapters.approvals_store import DynamoApprovals
    from mlgov_runtime.approvals.logic import ApprovalRequest

    world.ddb.delete_item(TableName=TABLE, Key={"request_id": {"S": world.request_id}})
    open_request(world.execution, endpoint, requester)
    request = ApprovalRequest(
        world.request_id, "retirement", endpoint, world.execution, "", "2026-12-04T00:00:00Z", "2999-01-01T00:00:00Z"
    )
    DynamoApprovals(world.ddb, TABLE).create(request, "TASK-TOKEN", int(time.time()) + 3600)


def _settings(monkeypatch: pytest.MonkeyPatch, approvers: list[str], slack: dict[str, Any] | None = None) -> None:
    from mlgov_runtime.core import env

    set_approvals(monkeypatch, {"retirement": approvers}, slack or {"UBOB": BOB})
    env.reset_all()


def _press(monkeypatch: pytest.MonkeyPatch, body: bytes) -> list[dict[str, Any]]:
    """The press through the Slack function (signed as Slack signs it); what the worker posted to response_url."""
    from mlgov_runtime.approvals import handler

    posted: list[dict[str, Any]] = []

    def post_json(url: str, message: dict[str, Any], timeout: float = 5.0) -> int:
        posted.append(message)
        return 200

    monkeypatch.setattr(handler, "post_json", post_json)
    answer = handler.slack(slack_event(body, SECRET), CONTEXT)
    assert answer["statusCode"] == 200, answer
    return posted


def _press_body(user: dict[str, str], value: str, approve: bool = True, message: dict[str, Any] | None = None) -> bytes:
    """A press as Slack sends it, with the message the button sat in (by default the notifier's message about the
    world's own request)."""
    import urllib.parse

    from mlgov.approvals_sandbox import retiring_message

    payload = {
        "type": "block_actions",
        "user": user,
        "team": {"id": "T0001", "domain": "example"},
        "response_url": RESPONSE_URL,
        "actions": [{"action_id": "mlgov_approve" if approve else "mlgov_deny", "value": value}],
        "message": message if message is not None else retiring_message("manga-recommender-v1-ab", value),
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


# -- hole 1: a second Identity Center permission set


def test_a_requester_cannot_approve_under_another_identity_center_permission_set(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.approvals import handler

    _settings(monkeypatch, [IDC_APPROVER.replace("/alice", "/*")])
    _reopen(world, IDC_OPS)
    body = {"request_id": world.request_id, "decision": "approve"}
    answer = handler.handler(iam_event(proven(body, IDC_APPROVER), IDC_APPROVER), CONTEXT)
    assert answer["statusCode"] == 403 and world.status() == "PENDING", answer
    # The delete step's own requester check (deletion.Steps._approval) must agree.
    from mlgov_runtime.approvals.logic import same_principal

    assert same_principal(IDC_APPROVER, IDC_OPS)


def test_another_person_under_the_approver_permission_set_still_approves(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the fix of hole 1 must keep: Bob, with the same permission set, approves Alice's request."""
    from mlgov_runtime.approvals import handler

    _settings(monkeypatch, [IDC_APPROVER.replace("/alice", "/*")])
    _reopen(world, IDC_OPS)
    body = {"request_id": world.request_id, "decision": "approve"}
    answer = handler.handler(iam_event(proven(body, IDC_OTHER_APPROVER), IDC_OTHER_APPROVER), CONTEXT)
    assert answer["statusCode"] == 200 and world.status() == "APPROVED", answer
    assert json.loads(answer["body"])["by"] == IDC_OTHER_APPROVER


def test_the_same_permission_set_under_another_session_name_is_the_requester(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: one role is one person whatever the session name (the requester re-assuming as someone else)."""
    from mlgov_runtime.approvals import handler

    _settings(monkeypatch, [IDC_APPROVER.replace("/alice", "/*")])
    _reopen(world, IDC_APPROVER)
    body = {"request_id": world.request_id, "decision": "approve"}
    answer = handler.handler(iam_event(proven(body, IDC_OTHER_APPROVER), IDC_OTHER_APPROVER), CONTEXT)
    assert answer["statusCode"] == 403 and "same person as the requester" in json.loads(answer["body"])["error"]
    assert world.status() == "PENDING"


# -- hole 2: the buttons are bound to a request id, not to what the message shows


def _forged_finding(request_id: str) -> dict[str, Any]:
    """What an operator may publish on the findings topic (the topic's policy lets operator roles publish)."""
    return {
        "finding_id": "ENDPOINT_RETIRING#123456789012#us-east-1#scratch-load-test-7",
        "kind": "ENDPOINT_RETIRING",
        "severity": "LOW",
        "status": "OPEN",
        "source": "pipeline",
        "detected_at": "2026-12-07T10:00:00Z",
        "account_id": ACCOUNT,
        "region": "us-east-1",
        "resource_arn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/scratch-load-test-7",
        "title": "Retirement requested: scratch-load-test-7 (idle load-test endpoint)",
        "detail": "scratch-load-test-7 served a load test last month and has had no invocations since.",
        "evidence": {"approval_request": {"request_id": request_id}},
    }


def test_operators_may_publish_findings(governance_template: dict[str, Any]) -> None:
    """Where hole 2 starts: the findings topic's seal exempts the operator roles (they publish what they write)."""
    policies = [
        r["Properties"]["PolicyDocument"]
        for r in governance_template["Resources"].values()
        if r["Type"] == "AWS::SNS::TopicPolicy"
    ]
    seals = [s for p in policies for s in p["Statement"] if s.get("Sid") == "OnlyProducersPublish"]
    assert seals, "no OnlyProducersPublish statement on the findings topic"
    [seal] = seals
    assert seal["Effect"] == "Deny" and "arn:*:iam::*:role/mlgov-protected/MlGovOperator*" in json.dumps(
        seal["Condition"]["ArnNotLike"]
    )


def test_a_press_on_a_message_about_another_endpoint_approves_nothing(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.notifier.messages import slack_message

    message = slack_message(_forged_finding(world.request_id))
    shown = json.dumps(message)
    assert "scratch-load-test-7" in shown and "manga-recommender-v1-ab" not in shown
    [value] = {e["value"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"] if "value" in e}
    # Slack sends the message the button sat in with the press, signed with the rest.
    [told] = _press(monkeypatch, _press_body({"id": "UBOB", "username": "bob"}, value, message=message))
    assert world.status() == "PENDING"
    assert "does not name the deletion of manga-recommender-v1-ab in account 123456789012" in told["text"]
    assert told["replace_original"] is False


def test_a_message_that_mentions_the_subject_in_passing_still_approves_nothing(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hole 2's variant: the forged finding's text names the pending request's endpoint and account in passing, so
    the message as a whole names them; the button's own confirmation dialog (what the approver confirms) names the
    finding's resource, scratch-load-test-7, and that is what the press worker reads."""
    from mlgov_runtime.notifier.messages import slack_message

    forged = _forged_finding(world.request_id)
    forged["detail"] += f" Related: manga-recommender-v1-ab in account {ACCOUNT}."
    message = slack_message(forged)
    [told] = _press(monkeypatch, _press_body({"id": "UBOB", "username": "bob"}, world.request_id, message=message))
    assert world.status() == "PENDING"
    assert "does not name the deletion of manga-recommender-v1-ab in account 123456789012" in told["text"]


def test_a_press_on_the_requests_own_message_approves_and_its_dialog_names_the_subject(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the fix of hole 2 must keep: the notifier's message about the request's own endpoint decides, and each
    button asks first, naming the endpoint and the account (Slack's confirm: title 100, text 300 characters)."""
    from mlgov.approvals_sandbox import retiring_message

    message = retiring_message("manga-recommender-v1-ab", world.request_id)
    [block] = [b for b in message["blocks"] if b["type"] == "actions"]
    for button in block["elements"]:
        confirm = button["confirm"]
        assert "manga-recommender-v1-ab" in confirm["text"]["text"] and ACCOUNT in confirm["text"]["text"]
        assert len(confirm["title"]["text"]) <= 100 and len(confirm["text"]["text"]) <= 300
    _press(monkeypatch, _press_body({"id": "UBOB", "username": "bob"}, world.request_id, message=message))
    assert world.status() == "APPROVED"


def test_a_press_without_its_message_decides_nothing(world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """Missing is not approval: a press whose payload carries no message (nothing shown) decides nothing."""
    [told] = _press(monkeypatch, _press_body({"id": "UBOB", "username": "bob"}, world.request_id, message={}))
    assert world.status() == "PENDING" and "does not name" in told["text"]


def test_a_long_subject_keeps_the_message_within_slacks_limits() -> None:
    from mlgov_runtime.notifier.messages import slack_message

    forged = _forged_finding("rq-" + "a" * 20)
    forged["resource_arn"] = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/" + "g" * 63 + "/" + "9" * 300
    message = slack_message(forged)
    [block] = [b for b in message["blocks"] if b["type"] == "actions"]
    for button in block["elements"]:
        assert len(button["confirm"]["title"]["text"]) <= 100 and len(button["confirm"]["text"]["text"]) <= 300
        assert len(button["confirm"]["confirm"]["text"]) <= 30 and len(button["confirm"]["deny"]["text"]) <= 30


def test_a_press_whose_request_id_was_edited_after_signing_decides_nothing(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: the request id is inside the signed body; a press moved to another request fails the signature."""
    from mlgov_runtime.approvals import handler

    event = slack_event(_press_body({"id": "UBOB", "username": "bob"}, "rq-" + "0" * 20), SECRET)
    event["body"] = _press_body({"id": "UBOB", "username": "bob"}, world.request_id).decode()
    assert handler.slack(event, CONTEXT)["statusCode"] == 401
    assert world.status() == "PENDING"


def test_a_developer_cannot_hand_the_press_worker_a_press() -> None:
    """Held: the worker believes a Slack-signed press up to 15 minutes old; nobody but the product invokes it."""
    from tests.attacker.conftest import GOV
    from tests.attacker.scp_judge import judge

    worker = f"arn:aws:lambda:us-east-1:{GOV}:function:MlGovEndpointAudit-ApprovalsSlackWorker"
    assert judge(GOV, GOV, "Developer", "lambda:InvokeFunction", worker) == "Deny"
    own = f"arn:aws:lambda:us-east-1:{GOV}:function:developer-scratch"
    assert judge(GOV, GOV, "Developer", "lambda:InvokeFunction", own) == "Allow"


# -- hole 3: who pressed


def test_a_slack_decision_records_who_pressed(world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgov_runtime.core.env import SettingsError

    with pytest.raises(SettingsError, match="Slack users UBOB and UCAROL both map to"):
        _settings(monkeypatch, [BOB.replace("/bob", "/*")], {"UBOB": BOB, "UCAROL": BOB})
        from mlgov_runtime.approvals.settings import settings

        settings.get()
    carol = BOB.replace("/bob", "/carol")
    _settings(monkeypatch, [BOB.replace("/bob", "/*")], {"UBOB": BOB, "UCAROL": carol})
    _press(monkeypatch, _press_body({"id": "UCAROL", "username": "carol"}, world.request_id))
    assert world.status() == "APPROVED"
    item = _item(world)
    assert item["decided_via"] == {"S": "slack:T0001:UCAROL"} and item["decided_by"] == {"S": carol}
    # Under the decision MAC: the record with another presser no longer verifies.
    import os

    import boto3

    from mlgov_runtime.adapters.approvals_store import DynamoApprovals, KmsMacs
    from mlgov_runtime.approvals.logic import verified_decision

    macs = KmsMacs(boto3.client("kms", region_name="us-east-1"), os.environ["APPROVALS_MAC_KEY_ID"])
    record = DynamoApprovals(world.ddb, TABLE).get(world.request_id)
    assert record is not None and verified_decision(record, macs)
    assert not verified_decision(dataclasses.replace(record, decided_via="slack:T0001:UBOB"), macs)


def test_a_display_name_never_makes_an_approver(world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """Held: a Slack member who is not mapped, calling themselves bob (username and name), decides nothing; the
    mapping is by Slack's user id, which Slack signs."""
    posted = _press(monkeypatch, _press_body({"id": "UMALLORY", "username": "ubob", "name": "ubob"}, world.request_id))
    assert world.status() == "PENDING"
    [told] = posted
    assert "not mapped to an approver" in told["text"] and told["replace_original"] is False


# -- failure injection: answers lost, conditional failures, missing data


class _LostReply:
    """The approvals store whose settle lands but whose reply is lost: the client sends it again and that fails
    the condition (what botocore's retry of a timed-out UpdateItem does)."""

    def __init__(self, store: Any) -> None:
        self._store, self.settles = store, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def settle(self, *args: Any) -> str | None:
        self.settles += 1
        assert self._store.settle(*args) is not None
        return self._store.settle(*args)  # the resend: already decided


class _Answers:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        self.sent.append(("succeed", token))

    def fail(self, token: str, error: str, cause: str) -> None:
        self.sent.append(("fail", token))


def _decide(world: ApprovalWorld, store: Any, answers: Any, caller: str = BOB, approve: bool = True) -> Any:
    import os
    from datetime import UTC, datetime

    import boto3

    from mlgov_runtime.adapters.approvals_store import KmsMacs
    from mlgov_runtime.approvals.logic import decide

    macs = KmsMacs(boto3.client("kms", region_name="us-east-1"), os.environ["APPROVALS_MAC_KEY_ID"])
    return decide(
        store,
        answers,
        {"retirement": (BOB.replace("/bob", "/*"),)},
        macs,
        caller=caller,
        channel="cli",
        request_id=world.request_id,
        approve=approve,
        comment="" if approve else "still called",
        now=datetime(2026, 12, 7, 12, tzinfo=UTC),
    )


def test_a_decision_whose_write_reply_was_lost_is_answered_once(world: ApprovalWorld) -> None:
    from mlgov_runtime.adapters.approvals_store import DynamoApprovals

    store, answers = _LostReply(DynamoApprovals(world.ddb, TABLE)), _Answers()
    decision = _decide(world, store, answers)
    assert decision.answered and answers.sent == [("succeed", "TASK-TOKEN")] and world.status() == "APPROVED"
    # Someone else's decision after it changes nothing and answers nothing.
    from mlgov_runtime.approvals.logic import Refused

    with pytest.raises(Refused, match="already approved"):
        _decide(world, DynamoApprovals(world.ddb, TABLE), answers, approve=False)
    assert answers.sent == [("succeed", "TASK-TOKEN")] and world.status() == "APPROVED"


def test_a_request_its_step_has_not_attached_a_token_to_is_never_approved(world: ApprovalWorld) -> None:
    """Missing is not approval: a request the service opened but no waiting step holds yet (no token, no expiry)."""
    from mlgov_runtime.adapters.approvals_store import DynamoApprovals
    from mlgov_runtime.approvals.logic import Refused

    world.ddb.delete_item(TableName=TABLE, Key={"request_id": {"S": world.request_id}})
    open_request(world.execution, "manga-recommender-v1-ab", ALICE)
    answers = _Answers()
    with pytest.raises(Refused):
        _decide(world, DynamoApprovals(world.ddb, TABLE), answers)
    assert answers.sent == [] and world.status() == "PENDING"


def test_an_answer_step_functions_refused_leaves_the_decision_and_no_second_one(world: ApprovalWorld) -> None:
    """Step Functions down: the decision stands, reported as not delivered; a second approver cannot decide again."""
    from mlgov_runtime.adapters.approvals_store import DynamoApprovals
    from mlgov_runtime.approvals.logic import AnswerFailed, Refused

    class _Down(_Answers):
        def succeed(self, token: str, output: dict[str, Any]) -> None:
            raise AnswerFailed("send_task_success failed after 1 attempt(s): ServiceUnavailable")

    store = DynamoApprovals(world.ddb, TABLE)
    decision = _decide(world, store, _Down())
    assert decision.problem and not decision.answered and world.status() == "APPROVED"
    assert "answered" not in _item(world)
    with pytest.raises(Refused, match="already approved"):
        _decide(world, store, _Answers(), caller=BOB.replace("/bob", "/dave"))
