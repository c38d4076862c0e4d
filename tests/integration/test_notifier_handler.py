"""The notifier Lambda under moto, delivering to local Slack and Jira servers."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlgov.cli import main, sample_finding
from mlgov.sandbox import FakeContext, sqs_event
from mlgov.settings import parse_settings
from mlgov.sinks import Fault, Sink, start_sink
from mlgov_runtime.adapters.http import HttpClient
from mlgov_runtime.core.model import received_environment
from mlgov_runtime.notifier.settings import Received

REGION = "us-east-1"
MOTO_SENDER = "AIDAIT2UOQQY3AUEKVGXU"  # moto's SenderId for a caller that is not an assumed role


@dataclass
class Notifier:
    module: ModuleType
    slack: Sink
    jira: Sink
    sqs: Any
    page_queue: str
    dlq_url: str = ""
    queue_url: str = ""

    def invoke(self, *bodies: str, message_ids: list[str] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.module.handler(sqs_event(list(bodies), message_ids), FakeContext())
        return result

    def pages(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.page_queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    def take(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message waiting in a queue (removed from it), with its attributes."""
        taken: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages"):
            for message in batch:
                taken.append(message)
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return taken


def sqs_event_of(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The Lambda SQS event for messages received from a queue (attributes included)."""
    event = sqs_event([m["Body"] for m in messages], [m["MessageId"] for m in messages])
    for record, message in zip(event["Records"], messages, strict=True):
        record["messageAttributes"] = {
            name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
            for name, value in (message.get("MessageAttributes") or {}).items()
        }
    return event


DEFAULT_ROUTING = {
    "routes": [{"kinds": ["*"], "min_severity": "MEDIUM", "slack_channel": "#ml-governance-security", "jira": True}]
}


@contextlib.contextmanager
def aws_and_sinks() -> Iterator[tuple[Sink, Sink]]:
    """moto with local Slack and Jira servers that enforce the receivers' limits."""
    with (
        mock_aws(config={"core": {"reset_boto3_session": False}}),
        start_sink("slack") as slack,
        start_sink("jira") as jira,
    ):
        yield slack, jira


def _setup(
    monkeypatch: pytest.MonkeyPatch, slack: Sink, jira: Sink, secret: Any, routing: dict[str, Any] | None = None
) -> Notifier:
    sm = boto3.client("secretsmanager", region_name=REGION)
    if secret is not None:
        sm.create_secret(Name="mlgov/notifier", SecretString=secret if isinstance(secret, str) else json.dumps(secret))
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName="mlgov-delivery-state",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="mlgov-pages")["TopicArn"]
    queue = sqs.create_queue(QueueName="pages-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    dlq = sqs.create_queue(QueueName="notifier-dlq")["QueueUrl"]
    notifier_queue = sqs.create_queue(QueueName="notifier")["QueueUrl"]
    settings = parse_settings({"alert_routing": routing or DEFAULT_ROUTING})
    for key, value in {
        "NOTIFIER_SECRET_NAME": "mlgov/notifier",
        "STATE_TABLE_NAME": "mlgov-delivery-state",
        "PAGE_TOPIC_ARN": topic,
        **received_environment(settings, Received),
        "DEAD_LETTER_QUEUE_URL": dlq,
        "NOTIFIER_QUEUE_URL": notifier_queue,
        "FINDINGS_TABLE_NAME": "mlgov-findings",
    }.items():
        monkeypatch.setenv(key, value)
    from aws_lambda_powertools.utilities import parameters

    from mlgov_runtime.adapters import aws

    aws.context_for.cache_clear()
    parameters.clear_caches()
    from mlgov_runtime.core import env
    from mlgov_runtime.notifier import handler as module

    env.reset_all()
    module.http = HttpClient(timeout=1.0, attempts=2, base_delay=0.01)
    return Notifier(module, slack, jira, sqs, queue, dlq, notifier_queue)


def reconfigure(monkeypatch: pytest.MonkeyPatch, routing: dict[str, Any]) -> None:
    """A routing change deployed: the function reads its settings afresh."""
    from mlgov_runtime.core import env

    for key, value in received_environment(parse_settings({"alert_routing": routing}), Received).items():
        monkeypatch.setenv(key, value)
    env.reset_all()


def good_secret(slack: Sink, jira: Sink) -> dict[str, Any]:
    return {
        "slack_webhooks": {"#ml-governance-security": slack.url + "/services/T/B/X"},
        "jira": {"base_url": jira.url, "user": "bot@example.com", "api_token": "token"},
    }


@pytest.fixture
def notifier(monkeypatch: pytest.MonkeyPatch) -> Iterator[Notifier]:
    with aws_and_sinks() as (slack, jira):
        yield _setup(monkeypatch, slack, jira, good_secret(slack, jira))


def test_a_finding_reaches_slack_and_jira(notifier: Notifier) -> None:
    result = notifier.invoke(json.dumps(sample_finding()))
    assert result == {"batchItemFailures": []}
    assert len(notifier.slack.requests) == 1
    assert list(notifier.jira.issues) == ["MLGOV-1"]


def test_the_same_finding_five_times_makes_one_jira_issue_and_one_slack_message(notifier: Notifier) -> None:
    body = json.dumps(sample_finding())
    for _ in range(5):
        assert notifier.invoke(body) == {"batchItemFailures": []}
    assert list(notifier.jira.issues) == ["MLGOV-1"]
    assert notifier.jira.comments == {}  # repeats inside the window send nothing new
    assert len(notifier.slack.requests) == 1


def test_slack_outage_fails_only_that_record_and_the_retry_does_not_resend_jira(notifier: Notifier) -> None:
    notifier.slack.fail_next(Fault(500), Fault(500))
    body = json.dumps(sample_finding())
    result = notifier.invoke(body, message_ids=["m-1"])
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert list(notifier.jira.issues) == ["MLGOV-1"]  # Jira delivered despite Slack being down
    jira_calls = len(notifier.jira.requests)
    assert notifier.invoke(body, message_ids=["m-1"]) == {"batchItemFailures": []}  # SQS redelivers
    assert len(notifier.jira.requests) == jira_calls
    assert len(notifier.slack.requests) == 3


def test_a_message_that_is_not_a_finding_is_parked_not_retried_and_the_batch_goes_on(notifier: Notifier) -> None:
    good = json.dumps(sample_finding())
    result = notifier.invoke(good, "{not json", message_ids=["ok-1", "bad-1"])
    assert result == {"batchItemFailures": []}  # retrying a malformed body can never succeed
    assert len(notifier.slack.requests) == 1
    [parked] = notifier.take(notifier.dlq_url)
    assert parked["Body"] == "{not json"
    assert "not a finding" in parked["MessageAttributes"]["mlgov_rejected"]["StringValue"]


def test_a_resolution_comments_on_the_open_issue(notifier: Notifier) -> None:
    finding = sample_finding()
    notifier.invoke(json.dumps(finding))
    resolved = {**finding, "status": "RESOLVED", "severity": "INFO"}
    assert notifier.invoke(json.dumps(resolved)) == {"batchItemFailures": []}
    assert len(notifier.jira.comments["MLGOV-1"]) == 1
    assert len(notifier.slack.requests) == 2


def test_critical_findings_page_on_call(notifier: Notifier) -> None:
    critical = {**sample_finding(), "severity": "CRITICAL"}
    notifier.invoke(json.dumps(critical))
    [page] = notifier.pages()
    assert page["finding_id"] == critical["finding_id"]


def test_a_missing_secret_keeps_the_message_retryable_and_pages_still_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    with aws_and_sinks() as (slack, jira):
        notifier = _setup(monkeypatch, slack, jira, None)
        critical = {**sample_finding(), "severity": "CRITICAL"}
        result = notifier.invoke(json.dumps(critical), message_ids=["m-9"])
        assert result == {"batchItemFailures": [{"itemIdentifier": "m-9"}]}
        assert len(notifier.pages()) == 1
        assert slack.requests == [] and jira.requests == []


def test_a_malformed_secret_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgov_runtime.adapters.notifier_secret import SecretError, parse_notifier_secret

    with pytest.raises(SecretError, match=r"jira\.api_token is missing"):
        parse_notifier_secret("s", {"jira": {"base_url": "https://x.atlassian.net", "user": "u"}})
    with pytest.raises(SecretError, match="not an https URL"):
        parse_notifier_secret("s", {"slack_webhooks": {"#a": "ftp://nope"}})


def test_redrive_moves_every_dead_letter_back(capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        dlq = sqs.create_queue(QueueName="notifier-dlq")["QueueUrl"]
        queue = sqs.create_queue(QueueName="notifier")["QueueUrl"]
        for i in range(13):
            sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"n": i}))
        # Queues without the product's policy name no producer: the operator vouches for the sender.
        args = ["notify", "redrive", "--dlq-url", dlq, "--queue-url", queue, "--region", REGION, "--format", "json"]
        code = main([*args, "--allow-sender", MOTO_SENDER])
        assert code == 0 and json.loads(capsys.readouterr().out) == {"moved": 13, "kept": []}
        bodies = set()
        while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
            for m in batch:
                bodies.add(m["Body"])
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
        assert bodies == {json.dumps({"n": i}) for i in range(13)}
