"""Hole closed: the Slack signing secret proves who pressed because only the Slack function reads it.

The secret's key (the governance key) delegates to IAM, so kms:Decrypt keeps nobody out; the secret's own
resource policy does: GetSecretValue is denied to every principal but the Slack function's role (and the
deployer), and setting a value (one the setter then knows) to all but the operators and the deployer. Here the
synthesized policy judges a developer's calls (PowerUserAccess: both actions allowed through IAM), and a press
signed with anything but the real secret changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from mlgov.approvals_sandbox import button_press
from tests.attacker.resource_policies import DEVELOPER, OPERATOR, act_as, role_arn, secret_policy
from tests.integration.test_approvals import CONTEXT, REGION, ApprovalWorld, approval_world, slack_event


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApprovalWorld]:
    with approval_world(monkeypatch) as w:
        yield w


def _secrets(principal: str, policy: dict[str, Any]) -> Any:
    return act_as(boto3.client("secretsmanager", region_name=REGION), principal, policy)


def test_a_developer_cannot_read_or_set_the_signing_secret_so_cannot_approve_as_a_listed_slack_user(
    world: ApprovalWorld, monkeypatch: pytest.MonkeyPatch, governance_template: dict[str, Any]
) -> None:
    from mlgov_runtime.approvals import handler

    monkeypatch.setattr(handler, "post_json", lambda url, body, **_: 200)
    developer = _secrets(DEVELOPER, secret_policy(governance_template, "ApprovalsSlackSigningSecret"))
    before = world.status()
    # When a developer reads the secret the stack created, or sets one of their own: both refused
    with pytest.raises(ClientError) as read:
        developer.get_secret_value(SecretId="slack-signing")
    assert read.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as written:
        developer.put_secret_value(SecretId="slack-signing", SecretString="known-to-the-developer")
    assert written.value.response["Error"]["Code"] == "AccessDeniedException"
    # So a press "from" UBOB, a configured approver, signed with a secret of their own, changes nothing
    body = button_press("UBOB", world.request_id, True, "https://hooks.slack.com/actions/T/1/x")
    handler.slack(slack_event(body, "known-to-the-developer"), CONTEXT)
    assert world.status() == before != "APPROVED"


def test_the_slack_function_still_reads_it_and_the_operators_still_set_it(
    world: ApprovalWorld, governance_template: dict[str, Any]
) -> None:
    policy = secret_policy(governance_template, "ApprovalsSlackSigningSecret")
    operator = _secrets(OPERATOR, policy)
    operator.put_secret_value(SecretId="slack-signing", SecretString="from-the-slack-app")
    with pytest.raises(ClientError):  # putting it is not reading it
        operator.get_secret_value(SecretId="slack-signing")
    slack = _secrets(role_arn(governance_template, "ApprovalsSlackRole"), policy)
    assert slack.get_secret_value(SecretId="slack-signing")["SecretString"] == "from-the-slack-app"


def test_only_the_notifier_reads_the_webhooks_and_jira_token(governance_template: dict[str, Any]) -> None:
    """Whoever reads NotifierSecret posts to Slack and Jira as the product (a fake resolution on any issue)."""
    from moto import mock_aws

    policy = secret_policy(governance_template, "NotifierNotifierSecret")
    with mock_aws():
        boto3.client("secretsmanager", region_name=REGION).create_secret(Name="notifier", SecretString="{}")
        with pytest.raises(ClientError):
            _secrets(DEVELOPER, policy).get_secret_value(SecretId="notifier")
        with pytest.raises(ClientError):  # another product function
            _secrets(role_arn(governance_template, "ApprovalsSlackRole"), policy).get_secret_value(SecretId="notifier")
        notifier = _secrets(role_arn(governance_template, "NotifierNotifyRole"), policy)
        assert notifier.get_secret_value(SecretId="notifier")["SecretString"] == "{}"
