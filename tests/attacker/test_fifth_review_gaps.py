"""Fifth review (issue 20): the approval service tried as an attacker around human decisions: a request decided
after its expiry, a Slack press replayed with an old timestamp, one person deciding through Slack and then the
CLI, and an identity proof made for another approval service. A strict xfail asserts the SAFE outcome of a
hole still open (its reason names the hole); a fix turns it into XPASS: remove the marker then (the audience
hole is closed: its test is a plain one now). The other tests pin what held, so a later change cannot open it
unseen."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_approvals import (
    BOB,
    CONTEXT,
    SECRET,
    SERVICE_URL,
    ApprovalWorld,
    _expire,
    credentials_of,
    iam_event,
    proven,
    slack_event,
    world,
)

__all__ = ["world"]

REAL_URL = SERVICE_URL  # what Lambda answers the real service for its own URL (the world's GetFunctionUrlConfig)
OTHER_URL = "https://another0mlgov0service.lambda-url.us-east-1.on.aws/"


class _Aws:
    """What `mlgov` signs with (common.aws_context): Bob's credentials, in the service's region."""

    region = "us-east-1"

    def credentials(self) -> Any:
        return credentials_of(BOB)

    def client_in(self, service: str, region: str) -> Any:
        import boto3

        make: Any = boto3.client  # one call for every service name
        return make(service, region_name=region)


@pytest.fixture
def sent_elsewhere(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """Every body `mlgov` posts, as the service at the URL it was given receives it (that service answers 200)."""
    import io
    import urllib.request

    posted: list[bytes] = []

    class _Answer(io.BytesIO):
        status = 200

    def urlopen(request: Any, timeout: float = 0) -> Any:
        posted.append(bytes(request.data))
        return _Answer(b'{"status": "approved"}')

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    yield posted


def _to_real_service(data: bytes) -> dict[str, Any]:
    """The function URL event the real approval service gets for `data` (its own domain in the context)."""
    event = iam_event(json.loads(data), None)
    event["requestContext"]["domainName"] = REAL_URL.split("/")[2]
    return event


# Path, step by step:
# 1. Mallory runs an approval service of her own (another mlgov deployment, or any function URL: the CLI accepts
#    any https://*.lambda-url.REGION.on.aws/), or reads what one receives.
# 2. She asks Bob, a listed approver, to approve "his" request there: `mlgov retire approve --request rq-X
#    --approval-url OTHER_URL`, where rq-X is the id of a PENDING retirement on the real service.
# 3. The CLI binds the proof to the body only (request id, decision, comment): nothing names the service it is for.
# 4. Within the proof's 60 s, Mallory posts Bob's body and proof to the real service: STS answers Bob, the binding
#    matches, and the real service records Bob's approval and answers the waiting step: the endpoint is deleted.
# Fixed: the proof signs the host it is for (x-mlgov-audience, as Vault's X-Vault-AWS-IAM-Server-ID), and the
# service checks it against its own URL as Lambda states it (GetFunctionUrlConfig), never the event's domainName.
def test_a_proof_made_for_another_approval_service_decides_nothing_here(
    world: ApprovalWorld, sent_elsewhere: list[bytes]
) -> None:
    from mlgov.commands.retirement import signed_post
    from mlgov_runtime.approvals import handler

    body = {"request_id": world.request_id, "decision": "approve", "comment": ""}
    signed_post(_Aws(), OTHER_URL, body)
    [data] = sent_elsewhere
    answer = handler.handler(_to_real_service(data), CONTEXT)
    assert answer["statusCode"] == 403 and world.status() == "PENDING", answer


def test_a_direct_invoke_naming_the_other_service_as_its_domain_decides_nothing_here(
    world: ApprovalWorld, sent_elsewhere: list[bytes]
) -> None:
    """Mallory invokes the real function directly (lambda:Invoke writes any requestContext) and names the other
    service as the domain Bob's proof was made for: the service believes Lambda's answer for its URL, not that."""
    from mlgov.commands.retirement import signed_post
    from mlgov_runtime.approvals import handler

    body = {"request_id": world.request_id, "decision": "approve", "comment": ""}
    signed_post(_Aws(), OTHER_URL, body)
    [data] = sent_elsewhere
    event = iam_event(json.loads(data), None)
    event["requestContext"]["domainName"] = OTHER_URL.split("/")[2]
    answer = handler.handler(event, CONTEXT)
    assert answer["statusCode"] == 403 and "SignatureDoesNotMatch" in answer["body"], answer
    assert world.status() == "PENDING"


def test_a_service_that_cannot_read_its_own_url_decides_nothing(
    world: ApprovalWorld, sent_elsewhere: list[bytes]
) -> None:
    """No audience known (its URL config gone, or GetFunctionUrlConfig denied): a 503 that says why, never a
    proof accepted unchecked, even one made for the real URL."""
    import boto3

    from mlgov.commands.retirement import signed_post
    from mlgov_runtime.approvals import handler

    boto3.client("lambda", region_name="us-east-1").delete_function_url_config(FunctionName=CONTEXT.function_name)
    body = {"request_id": world.request_id, "decision": "approve", "comment": ""}
    signed_post(_Aws(), REAL_URL, body)
    [data] = sent_elsewhere
    answer = handler.handler(_to_real_service(data), CONTEXT)
    assert answer["statusCode"] == 503 and "could not read its own function URL" in answer["body"], answer
    assert world.status() == "PENDING"


def test_what_the_proof_replay_rests_on(world: ApprovalWorld, sent_elsewhere: list[bytes]) -> None:
    """The same CLI body sent to the real service decides (so the refusals above could only be the audience)."""
    from mlgov.commands.retirement import signed_post
    from mlgov_runtime.approvals import handler

    body = {"request_id": world.request_id, "decision": "approve", "comment": ""}
    signed_post(_Aws(), REAL_URL, body)
    [data] = sent_elsewhere
    assert "identity" in json.loads(data)
    answer = handler.handler(_to_real_service(data), CONTEXT)
    assert answer["statusCode"] == 200 and world.status() == "APPROVED", answer


def test_an_expired_request_is_decided_on_no_channel(world: ApprovalWorld) -> None:
    from mlgov_runtime.approvals import handler

    _expire(world)
    body = {"request_id": world.request_id, "decision": "approve", "comment": ""}
    answer = handler.handler(iam_event(proven(body, BOB), None), CONTEXT)
    assert answer["statusCode"] == 409 and "expired at" in answer["body"] and world.status() == "PENDING"


# Well past the 5-minute window either way: a slow machine between signing and checking must not bring a
# "future" press back inside it.
@pytest.mark.parametrize("age", [600, -600], ids=["old", "future"])
def test_a_genuine_press_replayed_with_an_old_or_future_timestamp_reaches_nobody(
    world: ApprovalWorld, age: int
) -> None:
    from mlgov.approvals_sandbox import button_press
    from mlgov_runtime.approvals import handler

    press = button_press("UBOB", world.request_id, True, "https://hooks.slack.com/actions/T/1/x")
    assert handler.slack(slack_event(press, SECRET, age), CONTEXT)["statusCode"] == 401
    assert world.status() == "PENDING"


def test_one_person_through_slack_then_the_cli_decides_once(world: ApprovalWorld) -> None:
    """Bob denies with the button, then approves with the CLI (same ARN, other channel): the denial stands."""
    from mlgov.approvals_sandbox import button_press
    from mlgov_runtime.approvals import handler

    press = button_press("UBOB", world.request_id, False, "https://hooks.slack.com/actions/T/1/x")
    handler.slack(slack_event(press, SECRET), CONTEXT)
    assert world.status() == "DENIED"
    body = {"request_id": world.request_id, "decision": "approve", "comment": ""}
    answer = handler.handler(iam_event(proven(body, BOB), None), CONTEXT)
    assert answer["statusCode"] == 409 and "already denied" in answer["body"] and world.status() == "DENIED"
