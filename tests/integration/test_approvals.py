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

from mlgov.approvals_sandbox import button_press, create_approvals_table, in_process_press_worker, serve_service_at
from mlgov.sandbox import FakeContext
from mlgov_runtime.approvals.logic import ApprovalRequest, request_id_for
from mlgov_runtime.approvals.slack import sign
from tests.settings_files import NO_SETTINGS

REGION = "us-east-1"


class _ServiceContext(FakeContext):
    """The Lambda context the approval service's handler gets: its own function, whose URL it asks Lambda for."""

    function_name = "MlGovEndpointAudit-ApprovalsService"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:MlGovEndpointAudit-ApprovalsService"


CONTEXT: Any = _ServiceContext()
# Where the approval service is deployed (what Lambda answers it for GetFunctionUrlConfig): every proof names it.
SERVICE_URL = "https://approvals0real0service.lambda-url.us-east-1.on.aws/"
BOB = "arn:aws:sts::123456789012:assumed-role/MLOpsApprover/bob"
ALICE = "arn:aws:sts::123456789012:assumed-role/MLOps/alice"
MALLORY = "arn:aws:sts::123456789012:assumed-role/Operators/mallory"
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


def mac_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """Inside mock_aws: the approvals HMAC key (KMS HMAC_256, GENERATE_VERIFY_MAC), configured for both sides."""
    key = boto3.client("kms", region_name=REGION).create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    arn = str(key["KeyMetadata"]["Arn"])
    monkeypatch.setenv("APPROVALS_MAC_KEY_ID", arn)
    set_approvals(monkeypatch)
    return arn


RETIREMENT_APPROVERS = {"retirement": [BOB.replace("/bob", "/*"), ALICE.replace("/alice", "/*")]}


def set_approvals(
    monkeypatch: pytest.MonkeyPatch,
    approvers: dict[str, list[str]] | None = None,
    slack_approvers: dict[str, str | list[str]] | None = None,
) -> None:
    """The approvals settings as the stack sends them (MLGOV_APPROVALS_SETTINGS)."""
    from mlgov_runtime.approvals.settings import Approvals

    sent = Approvals(approvers=approvers or RETIREMENT_APPROVERS, slack_approvers=slack_approvers or {})  # type: ignore[arg-type]
    for key, value in sent.environment().items():
        monkeypatch.setenv(key, value)


def open_request(execution: str, endpoint: str, by: str = ALICE) -> None:
    """What the approval service records for a verified requester before it starts the execution."""
    import os

    from mlgov_runtime.adapters.approvals_store import DynamoApprovals, KmsMacs
    from mlgov_runtime.approvals.logic import requester_message

    request = ApprovalRequest(request_id_for(execution), "retirement", endpoint, execution, by, "", "")
    macs = KmsMacs(boto3.client("kms", region_name=REGION), os.environ["APPROVALS_MAC_KEY_ID"])
    request = ApprovalRequest(**{**request.to_dict(), "requester_mac": macs.generate(requester_message(request))})
    assert DynamoApprovals(boto3.client("dynamodb", region_name=REGION), TABLE).open(request, int(time.time()) + 3600)


def approve_directly(ddb: Any, execution: str, by: str = BOB) -> None:
    """What the approval service records (MACed) when an approver decides."""
    import os

    from mlgov_runtime.adapters.approvals_store import DynamoApprovals, KmsMacs
    from mlgov_runtime.approvals.logic import ApprovalRequest as R
    from mlgov_runtime.approvals.logic import decision_message

    store = DynamoApprovals(ddb, TABLE)
    pending = store.get(request_id_for(execution))
    assert pending is not None
    at = "2026-12-04T00:00:00Z"
    decided = R(**{**pending.to_dict(), "status": "APPROVED", "decided_by": by, "decided_at": at, "channel": "cli"})
    mac = KmsMacs(boto3.client("kms", region_name=REGION), os.environ["APPROVALS_MAC_KEY_ID"])
    assert store.settle(
        request_id_for(execution), "APPROVED", by, at, "cli", "", mac.generate(decision_message(decided))
    )


def credentials_of(role_arn: str) -> Any:
    """Inside mock_aws: the role (created if need be) assumed under the ARN's session name."""
    from botocore.credentials import Credentials

    _, role, session = role_arn.rsplit(":", 1)[1].split("/")
    iam = boto3.client("iam", region_name=REGION)
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}")
    got = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::123456789012:role/{role}", RoleSessionName=session
    )["Credentials"]
    return Credentials(got["AccessKeyId"], got["SecretAccessKey"], got["SessionToken"])


def proven(
    body: dict[str, Any], signer: str, bound: dict[str, Any] | None = None, for_url: str = SERVICE_URL
) -> dict[str, Any]:
    """The body with `signer`'s identity proof (what `mlgov retire` sends), bound to `bound` (default: body) and
    made for the approval service at `for_url` (default: the one the tests deploy)."""
    from mlgov.ops.identity_proof import presign
    from mlgov_runtime.approvals.identity import audience_of, binding

    sts = f"https://sts.{REGION}.amazonaws.com"
    query = presign(credentials_of(signer), REGION, sts, binding(bound or body), audience_of(for_url))
    return {**body, "identity": query}


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
    """A running execution of the retirement machine (moto does not run it) with a pending request; the Slack
    function's press worker runs in this process when the Slack function hands a press off."""
    with mock_aws(config={"core": {"reset_boto3_session": False}}), in_process_press_worker():
        ddb, sfn = boto3.client("dynamodb", region_name=REGION), boto3.client("stepfunctions", region_name=REGION)
        sm = boto3.client("secretsmanager", region_name=REGION)
        execution = running_execution(monkeypatch, endpoint)
        mac_key(monkeypatch)
        secret = sm.create_secret(Name="slack-signing", SecretString=SECRET)["ARN"]
        set_approvals(monkeypatch, slack_approvers={"UBOB": BOB, "UALICE": [BOB.replace("bob", "al"), ALICE]})
        monkeypatch.setenv("SLACK_SIGNING_SECRET_ARN", secret)
        from mlgov_runtime.adapters import aws
        from mlgov_runtime.adapters.approvals_store import DynamoApprovals
        from mlgov_runtime.approvals import handler
        from mlgov_runtime.core import env

        env.reset_all()
        aws.context_for.cache_clear()
        handler._secret.clear()
        handler._sts.clear()
        handler._quick.clear()
        handler._deciding.clear()
        serve_service_at(SERVICE_URL, CONTEXT)
        open_request(execution, endpoint, ALICE)
        request = ApprovalRequest(
            request_id_for(execution),
            "retirement",
            endpoint,
            execution,
            "",
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
    answer = handler.handler(iam_event(proven(body, BOB), BOB), CONTEXT)
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["by"] == BOB
    # moto has no waiting task behind the token: recorded, and the answer says it was not delivered.
    assert world.status() == "APPROVED"


def test_malformed_bodies_are_refused_with_nothing_changed(world: ApprovalWorld) -> None:
    from mlgov_runtime.approvals import handler

    for body in ({"request_id": world.request_id}, {"request_id": world.request_id, "decision": "yes"}):
        assert handler.handler(iam_event(proven(body, BOB), BOB), CONTEXT)["statusCode"] == 400
    event = {**iam_event({}, BOB), "body": "not json", "isBase64Encoded": False}
    assert handler.handler(event, CONTEXT)["statusCode"] == 400
    assert world.status() == "PENDING"


@pytest.mark.parametrize(("secret", "age"), [(None, 0), ("forged", 0), (SECRET, 600)])
def test_slack_requests_not_freshly_signed_are_refused(world: ApprovalWorld, secret: str | None, age: int) -> None:
    from mlgov_runtime.approvals import handler

    body = button_press("UBOB", world.request_id, True, "https://hooks.slack.com/actions/T/1/x")
    assert handler.slack(slack_event(body, secret, age), CONTEXT)["statusCode"] == 401
    assert world.status() == "PENDING"


def test_a_signed_deny_from_a_mapped_user_is_acknowledged_then_recorded(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.approvals import handler

    posted: list[tuple[str, dict[str, Any]]] = []

    def post_json(url: str, body: dict[str, Any], timeout: float = 5.0) -> int:
        posted.append((url, body))
        return 200

    monkeypatch.setattr(handler, "post_json", post_json)
    body = button_press("UBOB", world.request_id, False, "https://hooks.slack.com/actions/T/1/x")
    answer = handler.slack(slack_event(body, SECRET), CONTEXT)
    # Slack gets its answer from the hand-off (a "working on it" only the presser sees, buttons kept) ...
    ack = json.loads(answer["body"])
    assert answer["statusCode"] == 200 and ack["status"] == "accepted" and ack["request_id"] == world.request_id
    assert ack["response_type"] == "ephemeral" and ack["replace_original"] is False and "Working on it" in ack["text"]
    # ... and the worker decides and tells the outcome through the press's response_url.
    assert world.status() == "DENIED"
    [(url, message)] = posted
    assert url.startswith("https://hooks.slack.com/") and "Denied by ubob" in message["text"]
    # A response_url outside Slack's origin is never called (the payload is Slack's, but check anyway).
    posted.clear()
    other = button_press("UBOB", world.request_id, True, "https://attacker.example/x")
    handler.slack(slack_event(other, SECRET), CONTEXT)
    assert posted == []


@dataclass
class SlackSide:
    sink: Any
    url: str

    def texts(self) -> list[str]:
        return [str(r.body["text"]) for r in self.sink.delivered]


@pytest.fixture
def slack_side(world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackSide]:
    """Slack's response_url: a local server that enforces Slack's message limits."""
    from mlgov.sinks import start_sink
    from mlgov_runtime.core import env

    with start_sink("slack") as sink:
        monkeypatch.setenv("SLACK_RESPONSE_URL_PREFIX", sink.url + "/")
        env.reset_all()
        yield SlackSide(sink, sink.url + "/actions/T1/1/abc")


def _press_as_slack(side: SlackSide, request_id: str, user: str = "UBOB", approve: bool = True, **headers: str) -> Any:
    from mlgov_runtime.approvals import handler

    event = slack_event(button_press(user, request_id, approve, side.url), SECRET)
    event["headers"].update(headers)
    answer = handler.slack(event, CONTEXT)
    assert answer["statusCode"] == 200, answer
    return json.loads(answer["body"])


def _expire(world: ApprovalWorld) -> None:
    world.ddb.update_item(
        TableName=TABLE,
        Key={"request_id": {"S": world.request_id}},
        UpdateExpression="SET expires_at = :e",
        ExpressionAttributeValues={":e": {"S": "2026-01-01T00:00:00Z"}},
    )


@pytest.mark.parametrize(
    ("user", "approve", "before", "says", "replaces"),
    [
        ("UBOB", True, None, ["Approved by ubob", "retirement of manga-recommender-v1-ab", "only if"], True),
        ("UBOB", False, None, ["Denied by ubob", "Nothing is deleted"], True),
        ("UNOBODY", True, None, ["Not recorded", "not mapped to an approver", "A listed approver must decide"], False),
        ("UALICE", True, None, ["Not recorded", "same person as the requester", "another approver must decide"], False),
        ("UBOB", True, _expire, ["Not recorded", "expired at", "`mlgov retire request --endpoint"], False),
    ],
    ids=["approved", "denied", "not-an-approver", "the-requester", "expired"],
)
def test_the_response_url_post_carries_the_outcome_and_what_to_do_next(
    world: ApprovalWorld,
    slack_side: SlackSide,
    user: str,
    approve: bool,
    before: Any,
    says: list[str],
    replaces: bool,
) -> None:
    if before:
        before(world)
    _press_as_slack(slack_side, world.request_id, user, approve)
    [outcome] = [r.body for r in slack_side.sink.delivered]
    assert all(part in outcome["text"] for part in says), outcome["text"]
    assert outcome["replace_original"] is replaces  # a refusal leaves the buttons for an approver
    assert replaces or outcome["response_type"] == "ephemeral"


def test_a_press_delivered_twice_or_retried_by_slack_is_decided_once(
    world: ApprovalWorld, slack_side: SlackSide, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.adapters.approvals_store import DynamoApprovals

    settled: list[str] = []
    settle = DynamoApprovals.settle

    def counting(self: DynamoApprovals, *args: Any) -> str | None:
        token = settle(self, *args)
        if token is not None:
            settled.append(args[0])
        return token

    monkeypatch.setattr(DynamoApprovals, "settle", counting)
    # Given a press, the same press again (a double click) and Slack's retry of it
    _press_as_slack(slack_side, world.request_id, approve=False)
    first = world.ddb.get_item(TableName=TABLE, Key={"request_id": {"S": world.request_id}})["Item"]
    _press_as_slack(slack_side, world.request_id, approve=False)
    _press_as_slack(slack_side, world.request_id, approve=True, **{"x-slack-retry-num": "1"})
    # Then one decision was written and answered; the record is the first press's
    assert settled == [world.request_id]
    last = world.ddb.get_item(TableName=TABLE, Key={"request_id": {"S": world.request_id}})["Item"]
    assert last == first and last["status"]["S"] == "DENIED"
    # And each later press is told so, without replacing the outcome the first one showed
    outcome, again, retried = (r.body for r in slack_side.sink.delivered)
    assert outcome["replace_original"] is True and "Denied by ubob" in outcome["text"]
    for told in (again, retried):
        assert told["replace_original"] is False and f"was already denied by {BOB}" in told["text"]


def _handed_off(body: bytes, secret: str, signed_at: int) -> dict[str, Any]:
    """The worker's event, as the Slack function builds it from a request signed with `secret` at `signed_at`."""
    stamp = str(signed_at)
    return {
        "slack_press": {
            "body": base64.b64encode(body).decode(),
            "timestamp": stamp,
            "signature": sign(secret, stamp, body),
            "retry": "",
        }
    }


def test_a_forged_invocation_of_the_press_worker_decides_nothing(world: ApprovalWorld, slack_side: SlackSide) -> None:
    """Whoever may invoke the worker (not through Slack's URL) writes any event they like; it believes only what
    Slack signed, checked again with the signing secret."""
    from mlgov.approvals_sandbox import PRESS_WORKER
    from mlgov_runtime.approvals import handler
    from mlgov_runtime.approvals.slack import WORKER_MAX_AGE_SECONDS

    lam = boto3.client("lambda", region_name=REGION)
    now = int(time.time())
    press = button_press("UBOB", world.request_id, True, slack_side.url)
    genuine = _handed_off(press, SECRET, now - 400)  # handed off late, still within the worker's window
    altered = dict(genuine["slack_press"])  # Bob's signature over a press he did not make (a deny)
    altered["body"] = base64.b64encode(button_press("UBOB", world.request_id, False, slack_side.url)).decode()
    forged = [
        {"endpoint": "no press at all"},
        {"slack_press": "not an object"},
        _handed_off(press, "guessed-secret", now),  # signed with anything but the secret
        {"slack_press": altered},
        _handed_off(press, SECRET, now - WORKER_MAX_AGE_SECONDS - 5),  # a genuine press, replayed too late
        {"slack_press": {**genuine["slack_press"], "body": "%%% not base64"}},
    ]
    for event in forged:
        assert (
            lam.invoke(FunctionName=PRESS_WORKER, InvocationType="Event", Payload=json.dumps(event))["StatusCode"]
            == 202
        )
        result = handler.slack_worker(event, CONTEXT)
        assert result["status"] == "refused" and "nothing changed" in result["error"], (event, result)
    # Nothing decided, and nobody told: a forged press's response_url is not believed either
    assert world.status() == "PENDING" and slack_side.sink.requests == []
    # The genuine press, handed off late within the window, decides (so the refusals above are the signature's)
    assert handler.slack_worker(genuine, CONTEXT)["status"] == "approved" and world.status() == "APPROVED"


def test_a_failed_hand_off_or_a_failing_worker_still_tells_the_presser_what_to_do(
    world: ApprovalWorld, slack_side: SlackSide, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.approvals import handler
    from mlgov_runtime.core import env

    # Given a worker that fails while deciding: Lambda counts the error and retries; the presser is told
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("DynamoDB unavailable")

    decide = handler._decide
    monkeypatch.setattr(handler, "_decide", failing)
    assert _press_as_slack(slack_side, world.request_id)["status"] == "accepted"
    [told] = [r.body for r in slack_side.sink.delivered]
    assert "failed while deciding" in told["text"] and "press the button again" in told["text"]
    monkeypatch.setattr(handler, "_decide", decide)
    # Given no worker to hand off to: Slack still gets its answer, and the presser the reason and the next step
    monkeypatch.setenv("SLACK_WORKER_FUNCTION_NAME", "mlgov-no-such-function")
    env.reset_all()
    answer = _press_as_slack(slack_side, world.request_id)
    assert answer["status"] == "failed" and "ResourceNotFoundException" in answer["error"]
    told = slack_side.sink.delivered[-1].body
    assert "could not start deciding" in told["text"] and "Press the button again" in told["text"]
    assert world.status() == "PENDING"


def test_the_outcome_post_is_retried_once_when_slack_fails(world: ApprovalWorld, slack_side: SlackSide) -> None:
    from mlgov.sinks import Fault

    slack_side.sink.fail_next(Fault(503))
    _press_as_slack(slack_side, world.request_id, approve=False)
    assert [r.accepted for r in slack_side.sink.requests] == [False, True]
    assert "Denied by ubob" in slack_side.texts()[-1]


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


def test_a_direct_invoke_with_a_forged_request_context_approves_nothing(world: ApprovalWorld) -> None:
    """`aws lambda invoke` of the service (not through its URL) writes any requestContext it likes."""
    from mlgov_runtime.approvals import handler

    body = {"request_id": world.request_id, "decision": "approve", "comment": ""}
    answer = handler.handler(iam_event(body, BOB), CONTEXT)  # Mallory claims to be Bob, with no proof
    assert answer["statusCode"] == 403 and "caller not verified" in json.loads(answer["body"])["error"]
    # Mallory's own proof with Bob's name in the context: STS says Mallory, and the two disagree.
    answer = handler.handler(iam_event(proven(body, MALLORY), BOB), CONTEXT)
    assert answer["statusCode"] == 403 and world.status() == "PENDING"
    # A proof Bob made for another body (a deny) does not carry over: the binding differs.
    deny = {"request_id": world.request_id, "decision": "deny", "comment": "no"}
    answer = handler.handler(iam_event({**body, "identity": proven(deny, BOB)["identity"]}, None), CONTEXT)
    assert answer["statusCode"] == 403 and "SignatureDoesNotMatch" in answer["body"] and world.status() == "PENDING"


def test_a_proof_for_the_right_body_but_another_service_approves_nothing(world: ApprovalWorld) -> None:
    from mlgov_runtime.approvals import handler

    body = {"request_id": world.request_id, "decision": "approve", "comment": ""}
    elsewhere = proven(body, BOB, for_url="https://approvals0elsewhere.lambda-url.us-east-1.on.aws/")
    answer = handler.handler(iam_event(elsewhere, None), CONTEXT)
    assert answer["statusCode"] == 403 and "SignatureDoesNotMatch" in answer["body"] and world.status() == "PENDING"


def test_the_service_reads_its_own_url_once_per_container(world: ApprovalWorld) -> None:
    """GetFunctionUrlConfig on the first proof; later proofs are checked against the URL read then."""
    from mlgov_runtime.approvals import handler

    unknown = {"request_id": "rq-" + "0" * 20, "decision": "approve", "comment": ""}
    assert handler.handler(iam_event(proven(unknown, BOB), None), CONTEXT)["statusCode"] == 404  # no such request
    boto3.client("lambda", region_name=REGION).delete_function_url_config(FunctionName=CONTEXT.function_name)
    body = {"request_id": world.request_id, "decision": "approve", "comment": ""}
    assert handler.handler(iam_event(proven(body, BOB), None), CONTEXT)["statusCode"] == 200
    assert world.status() == "APPROVED"


def test_a_requester_approving_under_another_session_name_is_refused(world: ApprovalWorld) -> None:
    from mlgov_runtime.approvals import handler

    body = {"request_id": world.request_id, "decision": "approve", "comment": ""}
    answer = handler.handler(iam_event(proven(body, ALICE.replace("alice", "alice-2")), None), CONTEXT)
    assert answer["statusCode"] == 403 and "same person as the requester" in answer["body"]
    assert world.status() == "PENDING"


def test_requests_are_opened_by_the_service_for_the_verified_caller(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.adapters.approvals_store import DynamoApprovals
    from mlgov_runtime.approvals import handler
    from mlgov_runtime.core import env

    machine = world.execution.split(":execution:")[0] + ":stateMachine:" + MACHINE
    monkeypatch.setenv("RETIREMENT_STATE_MACHINE_ARN", machine)
    env.reset_all()
    body = {"action": "request", "endpoint_name": "manga-recommender-v1-ab", "reason": "v2 live", "requested_by": BOB}
    answer = handler.handler(iam_event(proven(body, ALICE), None), CONTEXT)
    assert answer["statusCode"] == 200, answer
    opened = json.loads(answer["body"])
    assert opened["requested_by"] == ALICE  # the proven caller, not the name in the body
    described = world.sfn.describe_execution(executionArn=opened["execution_arn"])
    assert described["status"] == "RUNNING" and "requested_by" not in json.loads(described["input"])
    record = DynamoApprovals(world.ddb, TABLE).get(opened["request_id"])
    assert record is not None and record.requested_by == ALICE and record.requester_mac
    # Without a proof nothing is opened or started.
    before = len(world.sfn.list_executions(stateMachineArn=machine)["executions"])
    assert handler.handler(iam_event(body, ALICE), CONTEXT)["statusCode"] == 403
    assert len(world.sfn.list_executions(stateMachineArn=machine)["executions"]) == before


def test_a_slack_user_mapped_to_the_requesters_role_cannot_approve(world: ApprovalWorld, slack_side: SlackSide) -> None:
    _press_as_slack(slack_side, world.request_id, "UALICE")
    assert "same person as the requester" in slack_side.texts()[-1] and world.status() == "PENDING"
