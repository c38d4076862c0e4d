"""Refusals are not outages: a 4xx from Jira or Slack is reported at once and parked, the channels
that work still get the finding, and `mlgov notify redrive` resends it once the configuration is
fixed. Payloads fit the local servers, which enforce Slack's and Jira's real limits."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from mlgov.cli import main, sample_finding
from mlgov.sandbox import FakeContext, emf_metric
from mlgov.sinks import start_sink
from mlgov_runtime.adapters.http import DeliveryError, HttpClient
from mlgov_runtime.adapters.notifiers import JiraProject, SlackWebhooks
from tests.integration.test_notifier_handler import (
    MOTO_SENDER,
    Notifier,
    _setup,
    aws_and_sinks,
    good_secret,
    reconfigure,
    sqs_event_of,
)

WRONG_PROJECT = {
    "jira_project_key": "MLGOVX",  # the Jira site only has MLGOV
    "routes": [{"kinds": ["*"], "min_severity": "MEDIUM", "slack_channel": "#ml-governance-security", "jira": True}],
}


@pytest.fixture
def misconfigured(monkeypatch: pytest.MonkeyPatch) -> Iterator[Notifier]:
    with (
        mock_aws(config={"core": {"reset_boto3_session": False}}),
        start_sink("slack") as slack,
        start_sink("jira", projects={"MLGOV"}) as jira,
    ):
        yield _setup(monkeypatch, slack, jira, good_secret(slack, jira), WRONG_PROJECT)


def test_a_jira_400_is_reported_at_once_parked_and_slack_still_delivered(
    misconfigured: Notifier, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    n = misconfigured
    result = n.invoke(json.dumps(sample_finding()), message_ids=["m-1"])
    assert result == {"batchItemFailures": []}  # not retried: five more 400s would change nothing
    assert len(n.jira.requests) == 1 and n.jira.rejected[0][0] == 400
    assert len(n.slack.delivered) == 1
    [parked] = n.take(n.dlq_url)
    reason = parked["MessageAttributes"]["mlgov_rejected"]["StringValue"]
    assert "jira:MLGOVX" in reason and "400" in reason
    assert emf_metric(capsys.readouterr().out, "NotificationRejected") == 1.0
    [line] = [r for r in caplog.records if "refused finding" in r.getMessage()]
    assert (line.channel, line.status) == ("jira", 400)  # type: ignore[attr-defined]
    assert "'MLGOVX' does not exist for the field 'project'" in line.objection  # type: ignore[attr-defined]
    command = f"`mlgov notify redrive --region us-east-1 --dlq-url {n.dlq_url} --queue-url {n.queue_url}`"
    assert command in line.getMessage()


def test_the_command_the_refusal_names_moves_the_finding_back_as_it_stands(
    misconfigured: Notifier,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a refusal parked, and its log line's command
    n = misconfigured
    n.invoke(json.dumps(sample_finding()), message_ids=["m-1"])
    [line] = [r.getMessage() for r in caplog.records if "refused finding" in r.getMessage()]
    command = shlex.split(line.split("`")[1])
    assert command[:3] == ["mlgov", "notify", "redrive"] and not any("<" in word for word in command)
    reconfigure(monkeypatch, {**WRONG_PROJECT, "jira_project_key": "MLGOV"})
    capsys.readouterr()
    # When the operator pastes it (moto's sender is no role the queue policies name: vouched for here)
    assert main([*command[1:], "--format", "json", "--allow-sender", MOTO_SENDER]) == 0
    # Then the finding is back on the notifier queue
    assert json.loads(capsys.readouterr().out) == {"moved": 1, "kept": []}
    assert len(n.take(n.queue_url)) == 1


def test_without_the_queue_url_the_refusal_names_the_command_that_finds_it(
    misconfigured: Notifier, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from mlgov_runtime.core import env

    monkeypatch.delenv("NOTIFIER_QUEUE_URL")  # a function deployed before the stack passed it
    env.reset_all()
    misconfigured.invoke(json.dumps(sample_finding()), message_ids=["m-1"])
    [line] = [r.getMessage() for r in caplog.records if "refused finding" in r.getMessage()]
    assert (
        "--queue-url $(aws sqs get-queue-url --region us-east-1 --queue-name MlGovEndpointAudit-NotifierQueue "
        "--query QueueUrl --output text)`" in line
    )


def test_redrive_after_the_fix_delivers_to_jira_only(
    misconfigured: Notifier, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    n = misconfigured
    n.invoke(json.dumps(sample_finding()), message_ids=["m-1"])
    capsys.readouterr()
    # The operator fixes the project key and redrives the dead-letter queue.
    reconfigure(monkeypatch, {**WRONG_PROJECT, "jira_project_key": "MLGOV"})
    args = ["notify", "redrive", "--dlq-url", n.dlq_url, "--queue-url", n.queue_url, "--region", "us-east-1"]
    assert main([*args, "--format", "json", "--allow-sender", MOTO_SENDER]) == 0
    assert json.loads(capsys.readouterr().out) == {"moved": 1, "kept": []}
    redriven = n.take(n.queue_url)
    assert redriven[0]["MessageAttributes"]["mlgov_message_id"]["StringValue"] == "m-1"
    assert n.module.handler(sqs_event_of(redriven), FakeContext()) == {"batchItemFailures": []}
    assert list(n.jira.issues) == ["MLGOV-1"]
    assert len(n.slack.delivered) == 1  # Slack had it already: nothing sent twice
    assert n.take(n.dlq_url) == []


def test_a_redrive_stopped_by_a_throttled_delete_is_safe_to_run_again(
    misconfigured: Notifier, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the failure's line promises: the message its DeleteMessage left in both queues goes back again with
    the same mlgov_message_id, and the notifier delivers where it is still missing, once."""
    import botocore.client
    from botocore.exceptions import ClientError

    n = misconfigured
    n.invoke(json.dumps(sample_finding()), message_ids=["m-1"])
    reconfigure(monkeypatch, {**WRONG_PROJECT, "jira_project_key": "MLGOV"})
    # The copy the failed run leaves in the dead-letter queue is visible again at once (not after 30 s)
    n.sqs.set_queue_attributes(QueueUrl=n.dlq_url, Attributes={"VisibilityTimeout": "0"})
    capsys.readouterr()
    args = ["notify", "redrive", "--dlq-url", n.dlq_url, "--queue-url", n.queue_url, "--region", "us-east-1"]
    original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]

    def throttled(self: Any, name: str, params: dict[str, Any]) -> Any:
        if name == "DeleteMessage" and params.get("QueueUrl") == n.dlq_url:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, name)
        return original(self, name, params)

    with monkeypatch.context() as patch:
        patch.setattr(botocore.client.BaseClient, "_make_api_call", throttled)
        assert main([*args, "--format", "json", "--allow-sender", MOTO_SENDER]) == 1
    err = capsys.readouterr().err
    assert "still in the dead-letter queue too" in err and "again" in err, err
    # Run again, as the line says
    assert main([*args, "--format", "json", "--allow-sender", MOTO_SENDER]) == 0
    assert json.loads(capsys.readouterr().out) == {"moved": 1, "kept": []}
    copies = n.take(n.queue_url)
    assert [c["MessageAttributes"]["mlgov_message_id"]["StringValue"] for c in copies] == ["m-1", "m-1"]
    assert n.module.handler(sqs_event_of(copies), FakeContext()) == {"batchItemFailures": []}
    assert list(n.jira.issues) == ["MLGOV-1"]  # one issue for the two copies
    assert len(n.slack.delivered) == 1  # Slack had it before the refusal: nothing sent twice
    assert n.take(n.dlq_url) == []


def test_an_unknown_slack_webhook_is_parked_and_jira_still_gets_the_issue(monkeypatch: pytest.MonkeyPatch) -> None:
    with aws_and_sinks() as (slack, jira):
        secret = {**good_secret(slack, jira), "slack_webhooks": {"#other": slack.url + "/services/T/B/X"}}
        n = _setup(monkeypatch, slack, jira, secret)
        assert n.invoke(json.dumps(sample_finding())) == {"batchItemFailures": []}
        assert list(jira.issues) == ["MLGOV-1"] and slack.requests == []
        [parked] = n.take(n.dlq_url)
        assert (
            "no webhook for Slack channel #ml-governance-security"
            in (parked["MessageAttributes"]["mlgov_rejected"]["StringValue"])
        )


# -- real limits, enforced by the local servers


def huge_finding() -> dict[str, Any]:
    """An endpoint with 5 variants x 15 containers, and resource text Slack would interpret."""
    containers = [
        {
            "model_name": f"manga-rec-{'m' * 50}-{c}",
            "model_package_arn": None,
            "model_data_url": f"s3://b/<!channel> R&D/{'x' * 200}/model-{c}.tar.gz",
        }
        for c in range(15)
    ]
    variants = [{"variant_name": f"variant-{v}", "containers": containers} for v in range(5)]
    reasons = [
        f"Variant {v['variant_name']} container {c} serves s3://b/<!channel> R&D/model.tar.gz"
        for v in variants
        for c in range(15)
    ]
    base = sample_finding()
    return {
        **base,
        "title": "Endpoint " + "e" * 63 + " serves 75 containers without a registry entry, <!channel> R&D " * 3,
        "detail": " ".join(reasons) * 3,
        "evidence": {"variants": variants, "reasons": reasons},
    }


def fast() -> HttpClient:
    return HttpClient(timeout=2.0, attempts=2, base_delay=0.01)


def test_a_huge_finding_is_accepted_by_slack_and_jira_and_cut_with_a_pointer() -> None:
    with start_sink("slack") as slack, start_sink("jira") as jira:
        SlackWebhooks({"#sec": slack.url + "/services/T/B/X"}, fast()).send(huge_finding(), "#sec")
        JiraProject(jira.url, "bot@example.com", "t", "MLGOV", fast()).send(huge_finding(), "MLGOV")
        assert slack.rejected == [] and jira.rejected == []
        message = json.dumps(slack.delivered[0].body)
        assert "cut to fit Slack" in message and "finding_id" in message
        description = json.dumps(jira.issues["MLGOV-1"]["fields"]["description"])
        assert "evidence cut at" in description


def test_slack_receives_resource_text_escaped() -> None:
    with start_sink("slack") as slack:
        SlackWebhooks({"#sec": slack.url}, fast()).send(huge_finding(), "#sec")
        body = slack.delivered[0].body
        mrkdwn = [body["text"], *(b["text"]["text"] for b in body["blocks"] if b["type"] == "section" and "text" in b)]
        assert all("<!channel>" not in text and "R&D" not in text for text in mrkdwn)
        assert "&lt;!channel&gt; R&amp;D" in mrkdwn[1]


@pytest.mark.parametrize(
    ("kind", "path", "body", "objection"),
    [
        (
            "slack",
            "/services/T/B/X",
            {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]},
            "invalid_blocks",
        ),
        (
            "slack",
            "/services/T/B/X",
            {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}}]},
            "invalid_blocks",
        ),
        ("slack", "/services/T/B/X", {"blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
        (
            "jira",
            "/rest/api/3/issue",
            {"fields": {"project": {"key": "MLGOV"}, "issuetype": {"name": "Task"}, "summary": "s" * 256}},
            "field summary: Summary must be less than 255 characters.",
        ),
        (
            "jira",
            "/rest/api/3/issue",
            {
                "fields": {
                    "project": {"key": "MLGOV"},
                    "issuetype": {"name": "Task"},
                    "summary": "ok",
                    "description": {
                        "type": "doc",
                        "version": 1,
                        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "d" * 32_767}]}],
                    },
                }
            },
            "field description: The entered text is too long",
        ),
    ],
)
def test_the_local_servers_refuse_what_the_real_services_refuse(
    kind: str, path: str, body: dict[str, Any], objection: str
) -> None:
    """Guards the guard: a payload over a limit is a 400 naming the problem, as from Slack or Jira."""
    with start_sink(kind) as sink:
        with pytest.raises(DeliveryError) as caught:
            fast().request("POST", sink.url + path, body)
        assert caught.value.status == 400 and not caught.value.retryable
        assert objection in getattr(caught.value, "objection", str(caught.value))
