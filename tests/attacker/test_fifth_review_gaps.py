"""Fifth review (issue 20): the approval service tried as an attacker around human decisions: a request decided
after its expiry, a Slack press replayed with an old timestamp, one person deciding through Slack and then the
CLI, and an identity proof made for another approval service. Each strict xfail asserts the SAFE outcome of a
hole still open (its reason names the hole); a fix turns it into XPASS: remove the marker then. The other tests
pin what held, so a later change cannot open it unseen."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_approvals import (
    BOB,
    CONTEXT,
    SECRET,
    ApprovalWorld,
    _expire,
    credentials_of,
    iam_event,
    proven,
    slack_event,
    world,
)

__all__ = ["world"]

REAL_URL = "https://approvals0real0service.lambda-url.us-east-1.on.aws/"
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
# Needed: the proof binds the service it is for (as Vault's X-Vault-AWS-IAM-Server-ID), and the service refuses
# a proof bound to another.
@pytest.mark.xfail(
    strict=True,
    reason="the identity proof binds no audience: a proof Bob made for another approval service is accepted here",
)
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


def test_what_the_proof_replay_rests_on(world: ApprovalWorld, sent_elsewhere: list[bytes]) -> None:
    """The same CLI body sent to the real service decides (so the xfail's refusal could only be the audience)."""
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


@pytest.mark.parametrize("age", [301, -301], ids=["old", "future"])
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
