"""Hole: the Slack signing secret proves nothing about who pressed, because anyone who may read it signs.

`SlackSigningSecret` has no resource policy and its key (the governance key) delegates to IAM, so any principal
of the governance account with secretsmanager:GetSecretValue and kms:Decrypt through IAM (PowerUserAccess has
both) reads it. With it they sign a button press as any user in `approvals.slack_approvers`: the service records
a genuine, MACed APPROVED decision, and the deletion step's checks (MAC, configured approver, not the requester)
all pass. Here: the requester is one person; the "approver" is whoever read the secret.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from mlgov.approvals_sandbox import button_press
from tests.integration.test_approvals import CONTEXT, REGION, ApprovalWorld, approval_world, slack_event


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApprovalWorld]:
    with approval_world(monkeypatch) as w:
        yield w


def test_whoever_reads_the_signing_secret_approves_as_a_listed_slack_user(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.approvals import handler

    monkeypatch.setattr(handler, "post_json", lambda url, body, **_: 200)
    # Any developer: GetSecretValue on the secret the stack created (no resource policy keeps it to the function)
    sm = boto3.client("secretsmanager", region_name=REGION)
    stolen = sm.get_secret_value(SecretId="slack-signing")["SecretString"]
    # A press "from" UBOB, a configured approver, signed with the stolen secret
    body = button_press("UBOB", world.request_id, True, "https://hooks.slack.com/actions/T/1/x")
    handler.slack(slack_event(body, stolen), CONTEXT)
    # Then a genuine, MACed APPROVED decision is recorded in UBOB's name: the deletion step will believe it
    assert world.status() == "APPROVED"
