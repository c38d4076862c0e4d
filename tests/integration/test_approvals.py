"""The approval service's handlers under moto: the function URL events Lambda builds (IAM caller in the
request context; Slack's signed form body), the approvals table, and Step Functions' task answers."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlgov.approvals_sandbox import button_press, create_approvals_table
from mlgov.sandbox import FakeContext
from mlgov_runtime.approvals.logic import ApprovalRequest, request_id_for
from mlgov_runtime.approvals.slack import sign
from tests.settings_files import NO_SETTINGS

REGION = "us-east-1"
CONTEXT: Any = FakeContext()
BOB = "arn:aws:sts::123456789012:assumed-role/MLOpsApprover/bob"
ALICE = "arn:aws:sts::123456789012:user/moto"
SECRET = "signing-secret"
TABLE = "mlgov-approvals"
MACHINE = "MlGovEndpointAudit-Retirement"


def running_execution(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> str:
    """Inside mock_aws: the approvals table and a running execution of the retirement machine (moto does not
    run it) for `endpoint`, with the deletion steps' environment pointing at both."""
    ddb, sfn = boto3.client("dynamodb", region_name=REGION), boto3.client("stepfunctions", region_name=REGION)
    create_approvals_table(ddb, TABLE)
    definition = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}})
    arn = sfn.create_state_machine(name=MACHINE, definition=definition, roleArn="arn:aws:iam::123456789012:role/r")[
        "stateMachineArn"
    ]
    monkeypatch.setenv("APPROVALS_TABLE_NAME", TABLE)
    monkeypatch.setenv("RETIREMENT_STATE_MACHINE_NAME", MACHINE)
    return str(sfn.start_execution(stateMachineArn=arn, input=json.dumps({"endpoint_name": endpoint}))["executionArn"])


def approve_directly(
    ddb: Any, execution: str, by: str = "arn:aws:sts::123456789012:assumed-role/MLOpsApprover/bob"
) -> None:
    from mlgov_runtime.adapters.approvals_store import DynamoApprovals

    assert DynamoApprovals(ddb, TABLE).settle(
        request_id_for(execution), "APPROVED", by, "2026-12-04T00:00:00Z", "cli", ""
    )


@dataclass
class ApprovalWorld:
    ddb: Any
    sfn: Any
    execution: str

    @property
    def request_id(self) -> str:
        return request_id_for(self.execution)

    def status(self) -> str:
        item = self.ddb.get_item(TableName=TABLE, Key={"request_id": {"S": self.request_id}})["Item"]
        return str(item["status"]["S"])


@contextlib.contextmanager
def approval_world(
    monkeypatch: pytest.MonkeyPatch, endpoint: str = "manga-recommender-v1-ab"
) -> Iterator[ApprovalWorld]:
    """A running execution of the retirement machine (moto does not run it) with a pending request."""
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        ddb, sfn = boto3.client("dynamodb", region_name=REGION), boto3.client("stepfunctions", region_name=REGION)
        sm = boto3.client("secretsmanager", region_name=REGION)
        execution = running_execution(monkeypatch, endpoint)
        secret = sm.create_secret(Name="slack-signing", SecretString=SECRET)["ARN"]
        for key, value in {
            "APPROVERS_JSON": json.dumps({"retirement": [BOB, ALICE]}),
            "SLACK_APPROVERS_JSON": json.dumps({"UBOB": BOB}),
            "SLACK_SIGNING_SECRET_ARN": secret,
        }.items():
            monkeypatch.setenv(key, value)
        from mlgov_runtime.adapters import aws
        from mlgov_runtime.adapters.approvals_store import DynamoApprovals
        from mlgov_runtime.approvals import handler
        from mlgov_runtime.core import env

        env.reset_all()
        aws.context_for.cache_clear()
        handler._secret.clear()
        request = ApprovalRequest(
            request_id_for(execution),
            "retirement",
            endpoint,
            execution,
            ALICE,
            "2026-12-04T00:00:00Z",
            "2999-01-01T00:00:00Z",
        )
        DynamoApprovals(ddb, TABLE).create(request, "TASK-TOKEN", int(time.time()) + 3600)
        yield ApprovalWorld(ddb, sfn, execution)
        aws.context_for.cache_clear()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApprovalWorld]:
    with approval_world(monkeypatch) as w:
        yield w


def iam_event(body: dict[str, Any], caller: str | None) -> dict[str, Any]:
    context: dict[str, Any] = {"http": {"method": "POST"}}
    if caller:
        context["authorizer"] = {"iam": {"userArn": caller, "accountId": "123456789012"}}
    return {
        "requestContext": context,
        "body": base64.b64encode(json.dumps(body).encode()).decode(),
        "isBase64Encoded": True,
    }


def slack_event(body: bytes, secret: str | None, age: int = 0) -> dict[str, Any]:
    stamp = str(int(time.time()) - age)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if secret:
        headers |= {"x-slack-request-timestamp": stamp, "x-slack-signature": sign(secret, stamp, body)}
    return {"headers": headers, "body": body.decode(), "isBase64Encoded": False}


def test_a_name_in_the_body_is_never_the_approver(world: ApprovalWorld) -> None:
    from mlgov_runtime.approvals import handler

    body = {"request_id": world.request_id, "decision": "approve", "approved_by": BOB, "caller": BOB}
    answer = handler.handler(iam_event(body, None), CONTEXT)
    assert answer["statusCode"] == 403 and world.status() == "PENDING"
    answer = handler.handler(iam_event(body, BOB), CONTEXT)
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["by"] == BOB
    # moto has no waiting task behind the token: recorded, and the answer says it was not delivered.
    assert world.status() == "APPROVED"


def test_malformed_bodies_are_refused_with_nothing_changed(world: ApprovalWorld) -> None:
    from mlgov_runtime.approvals import handler

    for body in ({"request_id": world.request_id}, {"request_id": world.request_id, "decision": "yes"}):
        assert handler.handler(iam_event(body, BOB), CONTEXT)["statusCode"] == 400
    event = {**iam_event({}, BOB), "body": "not json", "isBase64Encoded": False}
    assert handler.handler(event, CONTEXT)["statusCode"] == 400
    assert world.status() == "PENDING"


@pytest.mark.parametrize(("secret", "age"), [(None, 0), ("forged", 0), (SECRET, 600)])
def test_slack_requests_not_freshly_signed_are_refused(world: ApprovalWorld, secret: str | None, age: int) -> None:
    from mlgov_runtime.approvals import handler

    body = button_press("UBOB", world.request_id, True, "https://hooks.slack.com/actions/T/1/x")
    assert handler.slack(slack_event(body, secret, age), CONTEXT)["statusCode"] == 401
    assert world.status() == "PENDING"


def test_a_signed_deny_from_a_mapped_user_is_recorded(world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgov_runtime.approvals import handler

    posted: list[tuple[str, dict[str, Any]]] = []

    def post_json(url: str, body: dict[str, Any]) -> int:
        posted.append((url, body))
        return 200

    monkeypatch.setattr(handler, "post_json", post_json)
    body = button_press("UBOB", world.request_id, False, "https://hooks.slack.com/actions/T/1/x")
    answer = handler.slack(slack_event(body, SECRET), CONTEXT)
    assert json.loads(answer["body"])["status"] == "denied" and world.status() == "DENIED"
    [(url, message)] = posted
    assert url.startswith("https://hooks.slack.com/") and "Denied by ubob" in message["text"]
    # A response_url outside Slack's origin is never called (the payload is Slack's, but check anyway).
    posted.clear()
    other = button_press("UBOB", world.request_id, True, "https://attacker.example/x")
    handler.slack(slack_event(other, SECRET), CONTEXT)
    assert posted == []


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ([], "pass --approval-url"),
        (["--approval-url", "http://approvals.example.com/"], "is not the approval service's https URL"),
        (["--token", "AAAAKgAAAAIAAAAA"], "task tokens are no longer shown or accepted"),
    ],
)
def test_cli_usage_errors_name_what_to_pass(
    extra: list[str], why: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlgov.cli import main

    monkeypatch.delenv("MLGOV_APPROVAL_URL", raising=False)
    code = main(["retire", "approve", "--request", "rq-" + "0" * 20, *extra, "--config", NO_SETTINGS])
    assert code == 2 and why in capsys.readouterr().err
