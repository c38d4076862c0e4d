"""`mlgov notify redrive` moves back only what the notifier's roles put in its dead-letter queue.

Under moto with the emulator, which records SQS's SenderId (`<role id>:<session>`) of the assumed role that
sent each message: the notifier's role parks a refused finding; another role of the account plants a
forged RESOLVED finding. The queues carry the product's policies (who may send), as the stack writes them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlgov import emulator
from mlgov.cli import main, sample_finding
from mlgov_runtime.adapters.redrive import park

REGION, ACCOUNT = "us-east-1", "123456789012"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    ],
}


def _deny_others(sid: str, queue_arn: str, roles: list[str]) -> str:
    statement = {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": roles}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _as_role(iam: Any, name: str, path: str = "/") -> Any:
    role = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    creds = boto3.client("sts", region_name=REGION).assume_role(RoleArn=role["Arn"], RoleSessionName=name)
    c = creds["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
        region_name=REGION,
    )
    return role, session.client("sqs")


@pytest.fixture
def queues() -> Iterator[dict[str, Any]]:
    emulator.install()
    with mock_aws():
        sqs, iam = boto3.client("sqs", region_name=REGION), boto3.client("iam", region_name=REGION)
        dlq = sqs.create_queue(QueueName="notifier-dlq")["QueueUrl"]
        queue = sqs.create_queue(QueueName="notifier")["QueueUrl"]
        notifier, notifier_sqs = _as_role(iam, "mlgov-notifier-NotifyRole")
        attacker, attacker_sqs = _as_role(iam, "DataScientist")
        _operator, operator_sqs = _as_role(iam, "MlGovOperator", "/mlgov-protected/")
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.set_queue_attributes(
            QueueUrl=dlq, Attributes={"Policy": _deny_others("OnlyItsProducersSend", arn, [notifier["Arn"]])}
        )
        redrivers = _deny_others("OnlyTheFindingsTopicSends", arn, ["arn:*:iam::*:role/mlgov-protected/*"])
        sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": redrivers})
        yield {
            "sqs": sqs,
            "dlq": dlq,
            "queue": queue,
            "notifier": notifier_sqs,
            "attacker": attacker_sqs,
            "operator": operator_sqs,
            "attacker_role": attacker,
        }


def _redrive(q: dict[str, Any], *extra: str) -> int:
    args = ["notify", "redrive", "--dlq-url", q["dlq"], "--queue-url", q["queue"], "--region", REGION]
    return main([*args, "--format", "json", *extra])


def _bodies(sqs: Any, url: str) -> list[dict[str, Any]]:
    out = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for m in batch:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def test_a_planted_finding_stays_in_the_dead_letter_queue_and_the_notifiers_own_is_moved(
    queues: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    q = queues
    # Given a finding the notifier parked, and a forged RESOLVED one another role of the account put there
    real = sample_finding()
    park(q["notifier"], q["dlq"], json.dumps(real), "m-1", "jira 400")
    forged = {**real, "status": "RESOLVED", "severity": "INFO"}
    q["attacker"].send_message(QueueUrl=q["dlq"], MessageBody=json.dumps(forged))
    # When the operator redrives
    code = _redrive(q)
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    # Then only the notifier's message moves; the planted one stays, named with its sender, and exit 3
    assert code == 3 and out["moved"] == 1
    [kept] = out["kept"]
    assert kept["sender_id"].startswith(q["attacker_role"]["RoleId"] + ":")
    assert f"kept message {kept['message_id']}" in captured.err and "--allow-sender" in captured.err
    assert [b.get("status") for b in _bodies(q["sqs"], q["queue"])] == [real.get("status")]
    assert [b["status"] for b in _bodies(q["sqs"], q["dlq"])] == ["RESOLVED"]  # kept, visible again


def test_a_queue_policy_edited_to_name_every_role_believes_no_one_new(
    queues: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    q = queues
    # Given the main queue's policy edited to let any role of the account send (off the protected path)
    arn = q["sqs"].get_queue_attributes(QueueUrl=q["queue"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    edited = _deny_others("OnlyTheFindingsTopicSends", arn, ["arn:*:iam::*:role/*"])
    q["sqs"].set_queue_attributes(QueueUrl=q["queue"], Attributes={"Policy": edited})
    q["attacker"].send_message(QueueUrl=q["dlq"], MessageBody=json.dumps(sample_finding()))
    # When the operator redrives, Then the planted message stays and the edited pattern is named
    assert _redrive(q) == 3
    captured = capsys.readouterr()
    assert json.loads(captured.out)["moved"] == 0
    assert "the queue policy names arn:*:iam::*:role/*, off the protected path /mlgov-protected/" in captured.err


def test_a_message_an_operator_redrove_before_may_come_back(
    queues: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    q = queues
    # A redrive role (on the protected path the main queue's policy names) sent it the last time.
    q["operator"].send_message(QueueUrl=q["dlq"], MessageBody=json.dumps(sample_finding()))
    assert _redrive(q) == 0
    assert json.loads(capsys.readouterr().out) == {"moved": 1, "kept": []}


def test_an_operator_may_vouch_for_a_sender(queues: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    q = queues
    q["attacker"].send_message(QueueUrl=q["dlq"], MessageBody=json.dumps(sample_finding()))
    assert _redrive(q) == 3
    sender = json.loads(capsys.readouterr().out)["kept"][0]["sender_id"]
    assert _redrive(q, "--allow-sender", sender) == 0
    assert json.loads(capsys.readouterr().out)["moved"] == 1


def test_a_queue_whose_policy_names_no_producer_is_refused_and_loses_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        dlq = sqs.create_queue(QueueName="some-dlq")["QueueUrl"]
        queue = sqs.create_queue(QueueName="some-queue")["QueueUrl"]
        sqs.send_message(QueueUrl=dlq, MessageBody="{}")
        code = _redrive({"dlq": dlq, "queue": queue})
        err = capsys.readouterr().err
        assert code == 2 and "names no producer role" in err
        # The refusal names the command that prints the senders, with this queue: nothing to fill in.
        assert (
            f"`aws sqs receive-message --region {REGION} --queue-url {dlq} --max-number-of-messages 10 "
            "--visibility-timeout 0 --message-system-attribute-names SenderId "
            "--query 'Messages[].Attributes.SenderId' --output text`" in err
        )
        senders = [
            m["Attributes"]["SenderId"]
            for m in sqs.receive_message(
                QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageSystemAttributeNames=["SenderId"]
            )["Messages"]
        ]
        assert len(senders) == 1  # nothing lost
        # What it prints is what --allow-sender takes
        assert _redrive({"dlq": dlq, "queue": queue}, "--allow-sender", senders[0]) == 0
        assert json.loads(capsys.readouterr().out)["moved"] == 1
