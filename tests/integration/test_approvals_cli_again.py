"""The CLI's decision whose waiting step could not be told (the approval service answered 502): the same caller
running the same command again tells the step the recorded decision; nobody and nothing else does. Under moto,
through the approval service's IAM handler, with Step Functions unreachable for the first answer only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_approvals import (
    BOB,
    CONTEXT,
    MALLORY,
    TABLE,
    ApprovalWorld,
    iam_event,
    proven,
    world,
)
from tests.integration.test_second_review import step_functions_unreachable
from tests.integration.test_third_review import _answers, _record

__all__ = ["step_functions_unreachable", "world"]

CAROL = BOB.replace("/bob", "/carol")  # another session of the approver role: another approver


def _decide(world: ApprovalWorld, caller: str, approve: bool = True) -> tuple[int, dict[str, Any]]:
    """What `mlgov retire approve|deny --request ID` sends, signed as `caller`."""
    from mlgov_runtime.approvals import handler

    body = {"request_id": world.request_id, "decision": "approve" if approve else "deny", "comment": ""}
    if not approve:
        body["comment"] = "still needed"
    answer = handler.handler(iam_event(proven(body, caller), None), CONTEXT)
    return int(answer["statusCode"]), json.loads(answer["body"])


def _first_answer_lost(world: ApprovalWorld, down: list[bool], approve: bool = True) -> dict[str, Any]:
    """Bob's decision is recorded; its answer to the waiting step got no reply (502); Step Functions is back."""
    status, out = _decide(world, BOB, approve)
    assert status == 502 and "got no answer" in out["problem"], out
    down.clear()
    return out


def test_the_502_says_to_run_the_same_command_again(
    world: ApprovalWorld, step_functions_unreachable: list[bool]
) -> None:
    out = _first_answer_lost(world, step_functions_unreachable)
    assert out["status"] == "approved" and out["answered"] is False and "again" not in out, out
    assert f"run `mlgov retire approve --request {world.request_id}` again (as {BOB})" in out["error"], out
    assert "until the request expires at 2999-01-01T00:00:00Z" in out["error"]


def test_a_denial_names_the_deny_command(world: ApprovalWorld, step_functions_unreachable: list[bool]) -> None:
    out = _first_answer_lost(world, step_functions_unreachable, approve=False)
    assert f"run `mlgov retire deny --request {world.request_id} --reason TEXT` again" in out["error"], out


def test_the_same_caller_running_the_same_command_again_tells_the_waiting_step(
    world: ApprovalWorld, step_functions_unreachable: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _answers(monkeypatch)
    # Given bob's approval, recorded, whose answer to the waiting step got no reply
    first = _first_answer_lost(world, step_functions_unreachable)
    assert sent == [] and "answered" not in _record(world)
    # When bob runs the same command again
    status, out = _decide(world, BOB)
    # Then the recorded decision (its own time and approver) reaches the step, and the record says so
    assert status == 200 and out["again"] is True and out["answered"] is True, out
    assert (out["by"], out["at"], out["channel"]) == (BOB, first["at"], "cli")
    [(method, kwargs)] = sent
    output = json.loads(kwargs["output"])
    assert method == "send_task_success" and kwargs["taskToken"] == "TASK-TOKEN"
    assert (output["approved_by"], output["approved_at"]) == (BOB, first["at"])
    assert _record(world)["answered"]["S"] == "answered"
    # And a third run changes nothing: it is told who decided, and nothing is answered twice
    status, out = _decide(world, BOB)
    assert status == 409 and "already approved by" in out["error"] and "nothing changed" in out["error"], out
    assert len(sent) == 1


@pytest.mark.parametrize(
    ("caller", "approve"),
    [(CAROL, True), (BOB, False), (MALLORY, True)],
    ids=["another-approver", "the-opposite-outcome", "a-non-approver"],
)
def test_nobody_else_and_no_other_outcome_answers_a_recorded_decision(
    world: ApprovalWorld,
    step_functions_unreachable: list[bool],
    monkeypatch: pytest.MonkeyPatch,
    caller: str,
    approve: bool,
) -> None:
    sent = _answers(monkeypatch)
    _first_answer_lost(world, step_functions_unreachable)
    status, out = _decide(world, caller, approve)
    assert status == 409 and f"already approved by {BOB}" in out["error"] and "nothing changed" in out["error"], out
    assert sent == [] and "answered" not in _record(world) and world.status() == "APPROVED"
    # Bob's own run again still tells the step, as recorded
    assert _decide(world, BOB)[1]["again"] is True and [m for m, _ in sent] == ["send_task_success"]


def _forge(world: ApprovalWorld, *, keep_mac: bool) -> None:
    """Someone with write access to the approvals table records mallory as the approver (with bob's MAC after
    bob's decision, or a made-up one on the pending request)."""
    values = {":s": {"S": "APPROVED"}, ":by": {"S": MALLORY}, ":ch": {"S": "cli"}, ":at": {"S": "2026-12-05T00:00:00Z"}}
    update = "SET #s = :s, decided_by = :by, channel = :ch, decided_at = :at"
    if not keep_mac:
        update += ", decision_mac = :m"
        values[":m"] = {"S": "bm90IGEgbWFj"}
    world.ddb.update_item(
        TableName=TABLE,
        Key={"request_id": {"S": world.request_id}},
        UpdateExpression=update,
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues=values,
    )


@pytest.mark.parametrize("recorded_first", [True, False], ids=["bobs-decision-reattributed", "a-pending-request"])
def test_a_decision_not_written_by_the_service_is_never_answered(
    world: ApprovalWorld,
    step_functions_unreachable: list[bool],
    monkeypatch: pytest.MonkeyPatch,
    recorded_first: bool,
) -> None:
    """The re-answer checks no approver list: it believes the record's decision MAC (only the service may make
    one). A record naming mallory, forged in the table, is refused when mallory runs the command: nothing answered."""
    sent = _answers(monkeypatch)
    if recorded_first:
        _first_answer_lost(world, step_functions_unreachable)
    else:
        step_functions_unreachable.clear()
    _forge(world, keep_mac=recorded_first)
    status, out = _decide(world, MALLORY)
    assert status == 409 and "carries no valid MAC" in out["error"] and "nothing answered" in out["error"], out
    assert sent == [] and "answered" not in _record(world)


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken"])
def test_a_run_again_whose_step_has_closed_says_so_and_marks_it(
    world: ApprovalWorld, step_functions_unreachable: list[bool], monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    from mlgov_runtime.approvals import handler

    _first_answer_lost(world, step_functions_unreachable)

    def closed(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": code, "Message": "closed"}}, "SendTaskSuccess")

    monkeypatch.setattr(handler._decide_client("stepfunctions"), "send_task_success", closed)
    status, out = _decide(world, BOB)
    assert status == 200 and out["again"] is True and out["answered"] is False and out["gone"] == code, out
    assert _record(world)["answered"]["S"] == f"gone:{code}"
    status, out = _decide(world, BOB)  # marked: nothing is tried again
    assert status == 409 and "already approved" in out["error"], out
