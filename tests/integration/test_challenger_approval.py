"""The challenger's optional human step before promotion (challenger.require_human_approval), under moto: the
challenger function's real steps and the approval service's real handler over one approvals table and KMS key."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest

from mlgov.approvals_sandbox import create_approvals_table, serve_service_at
from mlgov.sandbox import FakeContext
from mlgov_runtime.approvals.logic import request_id_for
from mlgov_runtime.approvals.settings import Approvals
from tests.integration.test_approvals import ALICE, BOB, CONTEXT, MALLORY, SERVICE_URL, iam_event, proven
from tests.integration.test_challenger_handler import ENDPOINT, T0, Lab, at, lab_context, settings_env, traffic
from tests.integration.test_coverage_and_retraining import fresh_handler

APPROVERS = {"challenger": [BOB.replace("/bob", "/*")], "retirement": [ALICE.replace("/alice", "/*")]}

TABLE = "mlgov-approvals"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAchallengerTaskTokenSecret0123456789"


@contextlib.contextmanager
def approval_lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """The challenger steps and the approval service over one approvals table and KMS key, the human step on."""
    with lab_context(monkeypatch) as value:
        create_approvals_table(boto3.client("dynamodb", region_name="us-east-1"), TABLE)
        key = boto3.client("kms", region_name="us-east-1").create_key(
            KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC"
        )["KeyMetadata"]["Arn"]
        for name, setting in {
            "MLGOV_CHALLENGER_SETTINGS": settings_env(APPROVERS, require_human_approval=True, approval_expiry_hours=12),
            "APPROVALS_TABLE_NAME": TABLE,
            "APPROVALS_MAC_KEY_ID": key,
            # Bob's role may approve promotions; Alice's may approve retirements only.
            **Approvals(approvers=APPROVERS).environment(),  # type: ignore[arg-type]
            "APPROVALS_CHALLENGER_STATE_MACHINE_ARN": value.machine_arn,
        }.items():
            monkeypatch.setenv(name, setting)
        value.handler = fresh_handler("mlgov_runtime.challenger.handler")
        from mlgov_runtime.approvals import handler

        handler._sts.clear()
        serve_service_at(SERVICE_URL, CONTEXT)
        # The service's clock, in the experiment's time (the request expires 12 h after the step asked).
        monkeypatch.setattr(handler, "_now", lambda: T0 + timedelta(minutes=210))
        yield value


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    with approval_lab(monkeypatch) as value:
        yield value


def promoted(lab: Lab) -> tuple[str, dict[str, Any]]:
    """A better challenger the gate would promote, and the execution waiting on the human step."""
    arn = lab.register()
    state = lab.start(arn)
    traffic(lab, state, 140, 3500, 0.088)
    state = lab.watch_until_verdict(state)
    assert state["watch"]["decision"] == "PROMOTE"
    return arn, state


def ask(lab: Lab, state: dict[str, Any]) -> dict[str, Any]:
    """WaitForApproval as the state machine invokes it (the token in the payload)."""
    event = {
        "step": "request_approval",
        "token": TOKEN,
        "state": state,
        "now": at(200),
        "execution": state["execution"],
    }
    result: dict[str, Any] = lab.handler.step(event, FakeContext())
    return result


def decide(request_id: str, caller: str, approve: bool = True, comment: str = "") -> tuple[int, dict[str, Any]]:
    from mlgov_runtime.approvals import handler

    body = {"request_id": request_id, "decision": "approve" if approve else "deny", "comment": comment}
    answer = handler.handler(iam_event(proven(body, caller), None), CONTEXT)
    return int(answer["statusCode"]), json.loads(answer["body"])


def test_a_promotion_waits_for_a_configured_approver_and_the_token_never_leaves_the_store(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    arn, state = promoted(lab)
    # When the state machine reaches the human step
    asked = ask(lab, state)
    request_id = asked["request_id"]
    assert request_id == request_id_for(state["execution"])
    # Then the token is in the approvals store only
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=TABLE, Key={"request_id": {"S": request_id}}
    )["Item"]
    assert item["task_token"]["S"] == TOKEN and item["requested_by"]["S"] == "product:mlgov-challenger"
    # And a finding announces the request id with the commands, the package not approved yet
    [finding] = [m for m in lab.published() if m["kind"] == "CHALLENGER_APPROVAL_REQUESTED"]
    assert finding["evidence"]["approval_request"]["request_id"] == request_id
    assert f"mlgov challenger approve --request {request_id}" in finding["detail"]
    assert lab.package(arn)["ModelApprovalStatus"] == "PendingManualApproval"
    # And nothing approves before a person decides
    state["approval_answer"] = {}
    assert lab.step("verify_approval", state, at(201))["approved"] is False
    # When someone who is not a challenger approver tries (a retirement approver, another operator)
    for who in (ALICE, MALLORY):
        status, answer = decide(request_id, who)
        assert status == 403 and "not an approver for challenger" in answer["error"]
    # And Bob approves through the service (STS says who he is)
    status, answer = decide(request_id, BOB, comment="dashboard checked")
    assert status == 200 and answer["by"] == BOB and answer["decision"] == "challenger"
    # Then the promotion step verifies the record (KMS MAC, approver) and writes who approved
    state["human_approval"] = lab.step("verify_approval", state, at(202))
    assert state["human_approval"]["approved"] is True and state["human_approval"]["approved_by"] == BOB
    description = state["human_approval"]["approval_description"]
    assert len(description) <= 1024 and description.startswith(f"Approved by {BOB} via cli")
    assert "dashboard checked" in description and "challenger CTR" in description
    # And the token appears in no message, step result or log line
    out = capsys.readouterr()
    seen = json.dumps([lab.published(), asked, state]) + out.out + out.err
    assert TOKEN not in seen


def test_a_decision_for_an_execution_that_no_longer_waits_is_refused(lab: Lab) -> None:
    _, state = promoted(lab)
    request_id = ask(lab, state)["request_id"]
    lab.sfn.stop_execution(executionArn=state["execution"])
    status, answer = decide(request_id, BOB)
    assert status == 403 and "not a live challenger request" in answer["error"]
    assert "ABORTED" in answer["error"] or "not waiting" in answer["error"]


def test_a_hand_written_approval_record_promotes_nothing(lab: Lab) -> None:
    _, state = promoted(lab)
    request_id = ask(lab, state)["request_id"]
    # Someone with table access flips the record to APPROVED by Bob, without the service's MAC key
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=TABLE,
        Key={"request_id": {"S": request_id}},
        UpdateExpression="SET #s = :s, decided_by = :b, decided_at = :t, channel = :c, decision_mac = :m",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":s": {"S": "APPROVED"},
            ":b": {"S": BOB},
            ":t": {"S": "2026-11-20T13:00:00Z"},
            ":c": {"S": "cli"},
            ":m": {"S": "Zm9yZ2Vk"},
        },
    )
    verified = lab.step("verify_approval", state, at(202))
    assert verified["approved"] is False and "MAC" in verified["reason"]


@pytest.mark.parametrize(
    ("error", "said"),
    [
        ({"Error": "States.Timeout", "Cause": ""}, "nobody decided before the approval request expired"),
        (
            {"Error": "ApprovalDenied", "Cause": json.dumps({"denied_by": BOB, "channel": "cli", "reason": "no"})},
            f"denied by {BOB} via cli: no",
        ),
    ],
)
def test_a_denial_or_an_expiry_leaves_the_package_unapproved_and_takes_the_traffic_away(
    lab: Lab, error: dict[str, str], said: str
) -> None:
    arn, state = promoted(lab)
    ask(lab, state)
    lab.published()
    state["error"] = error
    out = lab.step("not_approved", state, at(900))
    assert out["outcome"] == "not_approved" and said in out["reason"]
    assert lab.package(arn)["ModelApprovalStatus"] == "PendingManualApproval"
    live = {v["VariantName"]: v for v in lab.sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]}
    assert live[state["challenger"]["challenger_variant"]]["CurrentWeight"] == 0
    [finding] = lab.published()
    assert finding["kind"] == "CHALLENGER_PROMOTION_NOT_APPROVED" and said in finding["detail"]
    assert "stays PendingManualApproval" in finding["detail"]


def test_a_denial_through_the_service_is_recorded_once(lab: Lab) -> None:
    _, state = promoted(lab)
    request_id = ask(lab, state)["request_id"]
    status, answer = decide(request_id, BOB, approve=False, comment="novelty effect still visible")
    assert status == 200 and answer["status"] == "denied"
    status, answer = decide(request_id, BOB)
    assert status == 409 and "already denied" in answer["error"]
    assert lab.step("verify_approval", state, at(202))["approved"] is False


def test_a_promotion_approved_with_the_slack_button_is_verified_and_names_slack(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same approval service behind Slack's signed buttons: a mapped challenger approver promotes, a
    retirement-only approver pressing the same button changes nothing."""
    from mlgov.approvals_sandbox import button_press, in_process_press_worker
    from mlgov_runtime.approvals import handler
    from mlgov_runtime.core import env
    from tests.integration.test_approvals import SECRET, slack_event

    secret = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="slack-signing", SecretString=SECRET
    )["ARN"]
    monkeypatch.setenv("SLACK_SIGNING_SECRET_ARN", secret)
    slack = Approvals(approvers=APPROVERS, slack_approvers={"UBOB": BOB, "UALICE": ALICE})  # type: ignore[arg-type]
    for key, value in slack.environment().items():
        monkeypatch.setenv(key, value)
    env.reset_all()
    handler._secret.clear()
    posted: list[dict[str, Any]] = []

    def post_json(url: str, body: dict[str, Any], timeout: float = 5.0) -> int:
        posted.append(body)
        return 200

    monkeypatch.setattr(handler, "post_json", post_json)
    from mlgov_runtime.notifier.messages import slack_message

    arn, state = promoted(lab)
    request_id = ask(lab, state)["request_id"]
    # The message the notifier posts for the approval request's finding: the buttons sit in it.
    [finding] = [f for f in lab.published() if f["kind"] == "CHALLENGER_APPROVAL_REQUESTED"]
    message = slack_message(finding)
    url = "https://hooks.slack.com/actions/T/1/x"
    with in_process_press_worker():  # the Slack function answers at once; its worker decides here
        press = button_press("UALICE", request_id, True, url, message=message)
        answer = handler.slack(slack_event(press, SECRET), CONTEXT)
        assert json.loads(answer["body"])["status"] == "accepted"
        assert "not an approver for challenger" in posted[-1]["text"] and posted[-1]["replace_original"] is False
        press = button_press("UBOB", request_id, True, url, message=message)
        answer = handler.slack(slack_event(press, SECRET), CONTEXT)
    assert json.loads(answer["body"])["status"] == "accepted"
    assert "Approved by ubob" in posted[-1]["text"] and f"challenger of {arn}" in posted[-1]["text"]
    assert "The promotion goes ahead once its checks pass." in posted[-1]["text"]
    state["human_approval"] = lab.step("verify_approval", state, at(202))
    assert state["human_approval"]["approved"] is True
    assert state["human_approval"]["approval_description"].startswith(f"Approved by {BOB} via slack")
