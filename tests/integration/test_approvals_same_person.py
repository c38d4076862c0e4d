"""The requester never decides their own request through the CLI under another of their mapped identities
(approvals.slack_approvers maps one person to every role they use): the CLI caller's mapped identities count
as the Slack presser's do. Under moto, through the approval service's IAM handler."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.test_approvals import (
    ALICE,
    BOB,
    CONTEXT,
    TABLE,
    ApprovalWorld,
    iam_event,
    proven,
    world,
)

__all__ = ["world"]

# Alice's approver session: approvals.slack_approvers maps UALICE to it and to ALICE, the role she requested with.
ALICE_AS_APPROVER = BOB.replace("bob", "al")


def _attempted_answers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SendTaskSuccess/Failure the deciding client tries, recorded before it is sent."""
    from mlgov_runtime.approvals import handler

    tried: list[str] = []
    client = handler._decide_client("stepfunctions")
    for method in ("send_task_success", "send_task_failure"):
        original = getattr(client, method)

        def recording(_original: Any = original, _method: str = method, **kwargs: Any) -> Any:
            tried.append(_method)
            return _original(**kwargs)

        monkeypatch.setattr(client, method, recording)
    return tried


def _cli(world: ApprovalWorld, caller: str, approve: bool) -> tuple[int, dict[str, Any]]:
    """What `mlgov retire approve|deny --request ID` sends, signed as `caller`."""
    from mlgov_runtime.approvals import handler

    body = {"request_id": world.request_id, "decision": "approve" if approve else "deny"}
    body["comment"] = "" if approve else "still needed"
    answer = handler.handler(iam_event(proven(body, caller), None), CONTEXT)
    return int(answer["statusCode"]), json.loads(answer["body"])


@pytest.mark.parametrize("approve", [True, False], ids=["approve", "deny"])
def test_the_requester_under_her_mapped_approver_role_is_refused_through_the_cli(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch, approve: bool
) -> None:
    # Given Alice's retirement request (as ALICE), and Alice signed in with her approver role (a listed approver)
    tried = _attempted_answers(monkeypatch)
    # When she decides it through the CLI
    status, out = _cli(world, ALICE_AS_APPROVER, approve)
    # Then it is refused as hers, nothing is recorded and the waiting step is not answered
    assert status == 403 and "same person as the requester" in out["error"], out
    assert ALICE in out["error"] and "approvals.slack_approvers" in out["error"]
    item = world.ddb.get_item(TableName=TABLE, Key={"request_id": {"S": world.request_id}})["Item"]
    assert world.status() == "PENDING" and "decided_by" not in item and tried == []


def test_another_person_still_approves_through_the_cli(world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the same request; Bob uses the same approver role as Alice, under his own session
    tried = _attempted_answers(monkeypatch)
    status, out = _cli(world, BOB, True)
    # Then Bob's approval is recorded and the waiting step answered
    assert status == 200 and out["by"] == BOB and out["answered"] is True, out
    assert world.status() == "APPROVED" and tried == ["send_task_success"]
