"""Third review (the press worker's re-answer): a Lambda retry answers its own recorded decision again, and nothing
else. Each test breaks the re-answer as an attacker or an operator would try; they guard the safe outcome (a
strict xfail would name a hole still open)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlgov.approvals_sandbox import button_press
from tests.integration.test_approvals import CONTEXT, TABLE, ApprovalWorld, SlackSide, slack_side, world
from tests.integration.test_second_review import _handed_off, step_functions_unreachable

__all__ = ["slack_side", "step_functions_unreachable", "world"]


def _record(world: ApprovalWorld) -> dict[str, Any]:
    item: dict[str, Any] = world.ddb.get_item(TableName=TABLE, Key={"request_id": {"S": world.request_id}})["Item"]
    return item


def _answers(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every SendTaskSuccess/Failure the deciding client makes (after it reached Step Functions)."""
    from mlgov_runtime.approvals import handler

    sent: list[tuple[str, dict[str, Any]]] = []
    client = handler._decide_client("stepfunctions")
    for method in ("send_task_success", "send_task_failure"):
        original = getattr(client, method)

        def recording(_original: Any = original, _method: str = method, **kwargs: Any) -> Any:
            answer = _original(**kwargs)
            sent.append((_method, kwargs))
            return answer

        monkeypatch.setattr(client, method, recording)
    return sent


def test_a_press_for_the_other_outcome_never_reanswers_a_recorded_decision(
    world: ApprovalWorld, slack_side: SlackSide, step_functions_unreachable: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The approver's approval is recorded, its answer got no reply; the same approver's Deny press (signed by
    Slack, so a real press) must not reach the step as a failure: the step gets what was recorded, or nothing."""
    from mlgov_runtime.approvals import handler

    sent = _answers(monkeypatch)
    approve = _handed_off(button_press("UBOB", world.request_id, True, slack_side.url))
    with pytest.raises(handler.NotAnswered):
        handler.slack_worker(approve, CONTEXT)
    step_functions_unreachable.clear()
    deny = _handed_off(button_press("UBOB", world.request_id, False, slack_side.url))
    result = handler.slack_worker(deny, CONTEXT)
    assert result["status"] == "refused" and "already approved" in result["error"], result
    assert sent == [] and "answered" not in _record(world)
    # The approval's own retry still answers it, as recorded
    assert handler.slack_worker(approve, CONTEXT)["again"] is True
    assert [method for method, _ in sent] == ["send_task_success"]


def test_another_mapped_user_never_reanswers_someone_elses_decision(
    world: ApprovalWorld, slack_side: SlackSide, step_functions_unreachable: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """UALICE is mapped to another session of the approver role first: the record names bob's session, so her
    press is told who decided it and answers nothing (the reclaim is keyed on the recorded caller)."""
    from mlgov_runtime.approvals import handler

    sent = _answers(monkeypatch)
    with pytest.raises(handler.NotAnswered):
        handler.slack_worker(_handed_off(button_press("UBOB", world.request_id, True, slack_side.url)), CONTEXT)
    step_functions_unreachable.clear()
    result = handler.slack_worker(_handed_off(button_press("UALICE", world.request_id, True, slack_side.url)), CONTEXT)
    assert result["status"] == "refused" and "already approved" in result["error"], result
    assert sent == [] and "answer_retries" not in _record(world)


def test_a_cli_decision_is_never_reanswered_by_a_slack_press(
    world: ApprovalWorld, slack_side: SlackSide, step_functions_unreachable: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's 502 (recorded, not answered) stays the CLI's: a Slack press of the same approver is refused,
    the step is not answered from the Slack path (CONTRACTS.md: 502 recorded but Step Functions not answered)."""
    from mlgov_runtime.approvals import handler
    from tests.integration.test_approvals import BOB, iam_event, proven

    sent = _answers(monkeypatch)
    body = {"request_id": world.request_id, "decision": "approve", "comment": ""}
    assert handler.handler(iam_event(proven(body, BOB), None), CONTEXT)["statusCode"] == 502
    step_functions_unreachable.clear()
    result = handler.slack_worker(_handed_off(button_press("UBOB", world.request_id, True, slack_side.url)), CONTEXT)
    assert result["status"] == "refused" and "via cli" in result["error"], result
    assert sent == []


def test_the_reanswered_record_still_carries_a_valid_decision_mac(
    world: ApprovalWorld, slack_side: SlackSide, step_functions_unreachable: list[bool]
) -> None:
    """The step that acts verifies the record's MAC: the reclaim and its marks touch no field the MAC covers, and
    the answer the retry sends is the recorded decision."""
    import os

    import boto3

    from mlgov_runtime.adapters.approvals_store import DynamoApprovals, KmsMacs
    from mlgov_runtime.approvals import handler
    from mlgov_runtime.approvals.logic import verified_decision

    press = _handed_off(button_press("UBOB", world.request_id, True, slack_side.url))
    with pytest.raises(handler.NotAnswered):
        handler.slack_worker(press, CONTEXT)
    step_functions_unreachable.clear()
    assert handler.slack_worker(press, CONTEXT)["answered"] is True
    record = DynamoApprovals(world.ddb, TABLE).get(world.request_id)
    assert record is not None and record.status == "APPROVED"
    macs = KmsMacs(boto3.client("kms", region_name="us-east-1"), os.environ["APPROVALS_MAC_KEY_ID"])
    assert verified_decision(record, macs)
    item = _record(world)
    assert item["answered"]["S"] == "answered" and item["answer_retries"]["N"] == "1"


def test_a_late_closed_mark_never_overwrites_a_delivered_answer(world: ApprovalWorld) -> None:
    """Two runs of the same press in flight (Slack's retry, a double click): the first answers the step, the
    second's answer then finds the task closed. The record keeps `answered` (the step was told), not
    `gone:TaskTimedOut`, which would say the answer never reached it."""
    from mlgov_runtime.adapters.approvals_store import DynamoApprovals

    store = DynamoApprovals(world.ddb, TABLE)
    store.answered(world.request_id, "answered")
    store.answered(world.request_id, "gone:TaskTimedOut")
    assert _record(world)["answered"]["S"] == "answered"
    # A closed mark is still replaced by a delivery that comes after it
    world.ddb.update_item(
        TableName=TABLE,
        Key={"request_id": {"S": world.request_id}},
        UpdateExpression="SET answered = :a",
        ExpressionAttributeValues={":a": {"S": "gone:TaskTimedOut"}},
    )
    store.answered(world.request_id, "answered")
    assert _record(world)["answered"]["S"] == "answered"


def test_a_mark_for_a_request_that_does_not_exist_writes_nothing(world: ApprovalWorld) -> None:
    from mlgov_runtime.adapters.approvals_store import DynamoApprovals

    DynamoApprovals(world.ddb, TABLE).answered("rq-00000000000000000000", "answered")
    assert "Item" not in world.ddb.get_item(TableName=TABLE, Key={"request_id": {"S": "rq-00000000000000000000"}})


def test_the_answer_the_retry_sends_is_the_recorded_one(
    world: ApprovalWorld, slack_side: SlackSide, step_functions_unreachable: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deny: the retry's SendTaskFailure carries the recorded denier, time and reason, not the retry's."""
    from mlgov_runtime.approvals import handler

    sent = _answers(monkeypatch)
    press = _handed_off(button_press("UBOB", world.request_id, False, slack_side.url))
    with pytest.raises(handler.NotAnswered):
        handler.slack_worker(press, CONTEXT)
    recorded = _record(world)
    step_functions_unreachable.clear()
    assert handler.slack_worker(press, CONTEXT)["again"] is True
    [(method, kwargs)] = sent
    cause = json.loads(kwargs["cause"])
    assert method == "send_task_failure" and kwargs["error"] == "DeletionDenied"
    assert cause["denied_by"] == recorded["decided_by"]["S"] and cause["denied_at"] == recorded["decided_at"]["S"]
    assert cause["reason"] == recorded["comment"]["S"]


def test_a_retried_waiting_steps_token_is_the_one_a_decision_answers(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.adapters.approvals_store import DynamoApprovals
    from mlgov_runtime.approvals import handler
    from tests.integration.test_approvals import BOB, iam_event, proven

    sent = _answers(monkeypatch)
    # Given the retirement's wait step retried (Lambda.SdkClientException after its function stored the token)
    pending = DynamoApprovals(world.ddb, TABLE).get(world.request_id)
    assert pending is not None and pending.status == "PENDING"
    DynamoApprovals(world.ddb, TABLE).create(pending, "TASK-TOKEN-OF-THE-RETRY", 4102444800)
    # When an approver decides
    body = {"request_id": world.request_id, "decision": "approve", "comment": ""}
    assert handler.handler(iam_event(proven(body, BOB), None), CONTEXT)["statusCode"] == 200
    # Then the step that waits now (the retry) is the one answered
    assert [kwargs["taskToken"] for _, kwargs in sent] == ["TASK-TOKEN-OF-THE-RETRY"]


def test_a_retried_step_replaces_only_its_own_undecided_token(world: ApprovalWorld) -> None:
    from dataclasses import replace

    from mlgov_runtime.adapters.approvals_store import DynamoApprovals
    from mlgov_runtime.approvals import handler
    from tests.integration.test_approvals import BOB, iam_event, proven

    store = DynamoApprovals(world.ddb, TABLE)
    pending = store.get(world.request_id)
    assert pending is not None
    first = _record(world)["task_token"]["S"]
    # Given a step of another execution naming this request: the token stays
    store.create(replace(pending, execution_arn=pending.execution_arn + "-other"), "TOKEN-OF-ANOTHER", 4102444800)
    assert _record(world)["task_token"]["S"] == first
    # And once decided, a late retry replaces nothing: the decision and the token it answered stay
    body = {"request_id": world.request_id, "decision": "approve", "comment": ""}
    assert handler.handler(iam_event(proven(body, BOB), None), CONTEXT)["statusCode"] == 200
    decided = _record(world)
    store.create(pending, "TOKEN-OF-A-LATE-RETRY", 4102444800)
    assert _record(world) == decided


@pytest.fixture
def settle_reply_lost(world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """The decision's conditional write lands but its reply is lost (a read timeout): botocore sends it again,
    and the second attempt fails its condition (no longer PENDING), as the real client does."""
    from mlgov_runtime.approvals import handler

    client = handler._decide_client("dynamodb")
    original, lost = client.update_item, list[Any]()

    def update_item(**kwargs: Any) -> Any:
        if ":pending" in kwargs.get("ExpressionAttributeValues", {}) and not lost:
            lost.append(original(**kwargs))
        return original(**kwargs)

    monkeypatch.setattr(client, "update_item", update_item)


def test_a_slack_decision_whose_write_reply_was_lost_is_answered_not_called_someone_elses(
    world: ApprovalWorld, slack_side: SlackSide, settle_reply_lost: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.approvals import handler

    sent = _answers(monkeypatch)
    result = handler.slack_worker(_handed_off(button_press("UBOB", world.request_id, True, slack_side.url)), CONTEXT)
    assert world.status() == "APPROVED"
    assert result.get("answered") is True, result
    assert [method for method, _ in sent] == ["send_task_success"]
    assert "decided meanwhile" not in slack_side.texts()[-1]


def test_a_cli_decision_whose_write_reply_was_lost_is_answered_not_called_someone_elses(
    world: ApprovalWorld, settle_reply_lost: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.approvals import handler
    from tests.integration.test_approvals import BOB, iam_event, proven

    sent = _answers(monkeypatch)
    body = {"request_id": world.request_id, "decision": "approve", "comment": ""}
    answer = handler.handler(iam_event(proven(body, BOB), None), CONTEXT)
    assert world.status() == "APPROVED"
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["answered"] is True, answer
    assert [method for method, _ in sent] == ["send_task_success"]
    # asking again is still 409 (decided), never a second answer
    again = handler.handler(iam_event(proven(body, BOB), None), CONTEXT)
    assert again["statusCode"] == 409 and len(sent) == 1


def test_the_lost_reply_path_still_fits_the_workers_timeout(
    world: ApprovalWorld, slack_side: SlackSide, settle_reply_lost: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim back costs one call more than the longest path tests/attacker/test_second_review_gaps.py sums: every
    call the worker makes there, each at its worst with its client (attempts x (connect + read) plus botocore's
    backoff and AWS's retry-after allowance), and the outcome post, fit the worker's timeout (pinned to the template
    in tests/attacker/test_third_review_gaps.py)."""
    from botocore.client import BaseClient

    from mlgov_runtime.approvals import handler
    from stacks.approvals import PRESS_WORKER_SECONDS

    calls: list[tuple[str, float]] = []
    client_class: Any = BaseClient
    original = client_class._make_api_call

    def recording(self: Any, operation: str, params: Any) -> Any:
        config = self.meta.config
        attempts = int(config.retries["total_max_attempts"])
        backoff = sum(min(2**i, 20) + 5 for i in range(attempts - 1))
        worst = attempts * (config.connect_timeout + config.read_timeout) + backoff
        calls.append((f"{self.meta.service_model.service_name}:{operation}", worst))
        return original(self, operation, params)

    monkeypatch.setattr(client_class, "_make_api_call", recording)
    handler._secret.clear()  # a cold start reads the signing secret
    press = _handed_off(button_press("UBOB", world.request_id, True, slack_side.url))
    assert handler.slack_worker(press, CONTEXT)["answered"] is True
    monkeypatch.setattr(client_class, "_make_api_call", original)
    made = [name for name, _ in calls]
    # the write counted once per call the worker makes (the fixture's resend stands for botocore's own attempt)
    assert made.count("dynamodb:UpdateItem") >= 3 and "secretsmanager:GetSecretValue" in made, made
    total = sum(seconds for _, seconds in calls) + handler.OUTCOME_POST_SECONDS * handler.OUTCOME_POST_ATTEMPTS
    assert total < PRESS_WORKER_SECONDS, (total, calls)
