"""A second review of the Slack press worker under moto: what an invocation Slack did not sign can make it do,
where its outcome goes, and what the presser is told when a step after the decision fails.

Strict xfails assert the SAFE outcome (a fix turns them into XPASS: remove the marker); the others pin what holds.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from mlgov.approvals_sandbox import button_press
from mlgov_runtime.approvals.logic import request_id_for
from mlgov_runtime.approvals.slack import sign
from tests.integration.test_approvals import (
    BOB,
    CONTEXT,
    SECRET,
    TABLE,
    ApprovalWorld,
    SlackSide,
    iam_event,
    proven,
    slack_event,
    slack_side,
    world,
)

__all__ = ["slack_side", "world"]


def _handed_off(body: bytes, signed_at: int | None = None, secret: str = SECRET) -> dict[str, Any]:
    """The worker's event, as the Slack function builds it from a request Slack signed at `signed_at`."""
    stamp = str(signed_at if signed_at is not None else int(time.time()))
    return {
        "slack_press": {
            "body": base64.b64encode(body).decode(),
            "timestamp": stamp,
            "signature": sign(secret, stamp, body),
            "retry": "",
        }
    }


# 1. The press names its request inside what Slack signed: a press for request A cannot be re-aimed at request B,
#    through the Slack URL or straight at the worker.
def test_a_press_for_one_request_cannot_be_retargeted_at_another(world: ApprovalWorld, slack_side: SlackSide) -> None:
    from mlgov_runtime.approvals import handler

    other = request_id_for(world.execution + "-other")
    signed_for_other = _handed_off(button_press("UBOB", other, True, slack_side.url))["slack_press"]
    retargeted = {
        "slack_press": {
            **signed_for_other,
            "body": base64.b64encode(button_press("UBOB", world.request_id, True, slack_side.url)).decode(),
        }
    }
    assert handler.slack_worker(retargeted, CONTEXT)["status"] == "refused"
    event = slack_event(button_press("UBOB", other, True, slack_side.url), SECRET)
    event["body"] = button_press("UBOB", world.request_id, True, slack_side.url).decode()
    assert handler.slack(event, CONTEXT)["statusCode"] == 401
    assert world.status() == "PENDING" and slack_side.sink.requests == []


# 2. Where the outcome goes: only to a response_url on Slack's origin, whatever else the (signed) payload says.
LOOKALIKES = [
    "https://hooks.slack.com.attacker.example/actions/T/1/x",
    "https://hooks.slack.com@attacker.example/actions/T/1/x",
    "https://hooks.slack.com:443@attacker.example/x",
    "http://hooks.slack.com/actions/T/1/x",
    "https://attacker.example/https://hooks.slack.com/actions/T/1/x",
    "HTTPS://HOOKS.SLACK.COM.attacker.example/x",
]


@pytest.mark.parametrize("url", LOOKALIKES)
def test_an_outcome_never_goes_to_a_look_alike_of_slacks_origin(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    from mlgov_runtime.approvals import handler
    from mlgov_runtime.core import env

    posted: list[str] = []

    def post_json(to: str, body: dict[str, Any], timeout: float = 5.0) -> int:
        posted.append(to)
        return 200

    monkeypatch.setattr(handler, "post_json", post_json)
    assert handler.slack_worker(_handed_off(button_press("UBOB", world.request_id, False, url)), CONTEXT)
    assert posted == [] and world.status() == "DENIED"  # decided (Slack signed it), but told nowhere else
    # Nor the Slack function's own notice when the hand-off fails
    monkeypatch.setenv("SLACK_WORKER_FUNCTION_NAME", "mlgov-no-such-function")
    env.reset_all()
    answer = handler.slack(slack_event(button_press("UBOB", world.request_id, True, url), SECRET), CONTEXT)
    assert answer["statusCode"] == 200 and "could not start deciding" in answer["body"] and posted == []


# 3. After the decision is written, answering the waiting step can fail with no answer from Step Functions at all
#    (a connection error, a read timeout: botocore raises those, not ClientError). When StepFunctionsAnswers turned
#    only ClientError into "recorded, not delivered", the worker told the presser "Not recorded yet ... tries again",
#    Lambda's retry found the request decided ("already approved ... nothing changed"), and nobody answered the
#    waiting step: it waited until the request expired, while the presser was told the press did not count. Now the
#    worker tells the presser it is recorded and raises, and Lambda's retry answers the recorded decision again.
@pytest.fixture
def step_functions_unreachable(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """SendTaskSuccess/Failure get no answer (every attempt) until the test clears the list it yields; everything
    else reaches moto."""
    from mlgov_runtime.approvals import handler

    down = [True]

    def unreachable(request: Any, **kwargs: Any) -> None:
        if down:
            raise EndpointConnectionError(endpoint_url=str(request.url))

    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda seconds: None)  # botocore's own retry backoff
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    client = handler._decide_client("stepfunctions")  # the worker's answers client
    for operation in ("SendTaskSuccess", "SendTaskFailure"):
        client.meta.events.register_first(f"before-send.states.{operation}", unreachable)
    yield down
    for operation in ("SendTaskSuccess", "SendTaskFailure"):
        client.meta.events.unregister(f"before-send.states.{operation}", unreachable)


def _run_with_lambdas_retries(press: dict[str, Any], runs: int = 3) -> list[Any]:
    """The event and Lambda's two retries, for as long as the worker raises."""
    from mlgov_runtime.approvals import handler

    results: list[Any] = []
    for _ in range(runs):
        try:
            results.append(handler.slack_worker(press, CONTEXT))
            break
        except Exception as exc:
            results.append(exc)
    return results


def test_a_decision_whose_answer_gets_no_reply_is_reported_as_recorded_not_as_lost(
    world: ApprovalWorld, slack_side: SlackSide, step_functions_unreachable: list[bool]
) -> None:
    press = _handed_off(button_press("UBOB", world.request_id, True, slack_side.url))
    results = _run_with_lambdas_retries(press)
    assert world.status() == "APPROVED"
    told = slack_side.texts()
    # The presser learns it was recorded and the step not told yet; never "Not recorded" for a recorded decision
    assert not [text for text in told if text.startswith("Not recorded")], told
    assert told and all("waiting step was not told yet" in text for text in told), told
    # Each run raised (the errors alarm counts them) and answered the recorded decision again; none said "already"
    assert len(results) == 3 and all(type(r).__name__ == "NotAnswered" for r in results), results
    assert not [text for text in told if "already" in text], told


def test_lambdas_retry_answers_a_recorded_decision_the_first_run_could_not(
    world: ApprovalWorld, slack_side: SlackSide, step_functions_unreachable: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.approvals import handler

    answered: list[dict[str, Any]] = []
    client = handler._decide_client("stepfunctions")
    send = client.send_task_success

    def recording(**kwargs: Any) -> Any:
        answer = send(**kwargs)
        answered.append(kwargs)
        return answer

    monkeypatch.setattr(client, "send_task_success", recording)
    press = _handed_off(button_press("UBOB", world.request_id, True, slack_side.url))
    # Given a first run whose answer got no reply (recorded, raised for Lambda to retry)
    with pytest.raises(handler.NotAnswered):
        handler.slack_worker(press, CONTEXT)
    assert world.status() == "APPROVED" and answered == []
    # When Step Functions answers again and Lambda retries the press
    step_functions_unreachable.clear()
    result = handler.slack_worker(press, CONTEXT)
    # Then the recorded decision (its own time, not the retry's) reaches the waiting step, and the presser is told
    assert result["again"] is True and result["answered"] is True, result
    [sent] = answered
    output = json.loads(sent["output"])
    record = world.ddb.get_item(TableName=TABLE, Key={"request_id": {"S": world.request_id}})["Item"]
    assert output["approved_at"] == record["decided_at"]["S"] and record["answered"]["S"] == "answered"
    assert "has now been told" in slack_side.texts()[-1]
    # And a further retry or press is only told it was decided: nothing is answered twice
    handler.slack_worker(press, CONTEXT)
    assert len(answered) == 1 and "already approved" in slack_side.texts()[-1]


def test_a_retry_whose_waiting_step_has_closed_says_so(
    world: ApprovalWorld, slack_side: SlackSide, step_functions_unreachable: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from mlgov_runtime.approvals import handler

    press = _handed_off(button_press("UBOB", world.request_id, True, slack_side.url))
    with pytest.raises(handler.NotAnswered):
        handler.slack_worker(press, CONTEXT)
    step_functions_unreachable.clear()

    def closed(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "closed"}}, "SendTaskSuccess")

    monkeypatch.setattr(handler._decide_client("stepfunctions"), "send_task_success", closed)
    result = handler.slack_worker(press, CONTEXT)  # Lambda's retry: the task closed meanwhile
    assert result["again"] is True and result["answered"] is False
    assert "no longer waits on this request (TaskTimedOut)" in slack_side.texts()[-1]
    record = world.ddb.get_item(TableName=TABLE, Key={"request_id": {"S": world.request_id}})["Item"]
    assert record["answered"]["S"] == "gone:TaskTimedOut"


def test_the_clis_decision_whose_answer_gets_no_reply_answers_502_recorded(
    world: ApprovalWorld, step_functions_unreachable: list[bool]
) -> None:
    """The CLI path keeps its contract: 502 with `problem` (recorded, the step not answered), from the bounded
    answers client rather than a function timeout; the same command again answers the recorded decision
    (test_approvals_cli_again.py pins who may and what it says)."""
    from mlgov_runtime.approvals import handler

    body = {"request_id": world.request_id, "decision": "approve", "comment": ""}
    answer = handler.handler(iam_event(proven(body, BOB), None), CONTEXT)
    out = json.loads(answer["body"])
    assert answer["statusCode"] == 502 and out["status"] == "approved" and "got no answer" in out["problem"], out
    assert world.status() == "APPROVED"
    step_functions_unreachable.clear()
    again = handler.handler(iam_event(proven(body, BOB), None), CONTEXT)
    assert again["statusCode"] == 200 and json.loads(again["body"])["again"] is True, again


# 4. The worker cannot read the signing secret (a rotation gone wrong, Secrets Manager unreachable): it raises so
#    that Lambda retries, and after the retries the event is dropped. The presser was told "Working on it: the
#    outcome follows here in a few seconds"; before raising, the worker tells them it is not recorded yet and to
#    press again (on Slack's origin only: the press is unverified then), and the errors alarm fires.
def test_a_press_the_worker_cannot_verify_still_tells_the_presser_to_press_again(
    world: ApprovalWorld, slack_side: SlackSide
) -> None:
    import os

    import boto3

    from mlgov_runtime.approvals import handler

    press = _handed_off(button_press("UBOB", world.request_id, True, slack_side.url))
    handler._secret.clear()  # the worker's own cold start
    boto3.client("secretsmanager", region_name="us-east-1").delete_secret(
        SecretId=os.environ["SLACK_SIGNING_SECRET_ARN"], ForceDeleteWithoutRecovery=True
    )
    results = _run_with_lambdas_retries(press)  # Lambda counts each error and retries
    assert len(results) == 3 and all(isinstance(r, Exception) for r in results), results
    assert world.status() == "PENDING"
    assert any("press the button again" in text.lower() for text in slack_side.texts()), slack_side.texts()
