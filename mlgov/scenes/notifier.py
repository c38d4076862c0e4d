"""Scene: the notifier delivers the published findings to local Slack and Jira servers (which enforce
the real limits), through a notifier queue and dead-letter queue on the emulator; then a Slack outage
(retried, delivered later) and a Jira 400 (reported at once, parked, redriven after the fix)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
from collections import Counter
from typing import Any

from mlgov.environ import variables
from mlgov.estate import create_table
from mlgov.sandbox import FakeContext, emf_metric
from mlgov.scenes import Stage
from mlgov.sinks import Fault, Sink

ROUTES = [{"kinds": ["*"], "min_severity": "MEDIUM", "slack_channel": "#ml-governance-security", "jira": True}]


class NotifierQueue:
    """The SQS event source, by hand: receive a batch, invoke the handler, delete what it finished; a
    reported failure becomes visible again (here at once; in AWS after the visibility timeout)."""

    def __init__(self, sqs: Any, queue_url: str, dlq_url: str, handler: Any) -> None:
        self.sqs, self.url, self.dlq_url, self.handler = sqs, queue_url, dlq_url, handler

    def send(self, finding: dict[str, Any]) -> None:
        self.sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps(finding))

    def deliver_once(self) -> tuple[int, int, str]:
        """One invocation on up to 10 waiting messages: (records, failed records, handler stdout)."""
        messages = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=60
        ).get("Messages", [])
        if not messages:
            return 0, 0, ""
        event = {"Records": [record_of(m) for m in messages]}
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            result = self.handler.handler(event, FakeContext())
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages), len(failed), out.getvalue()

    def waiting(self, url: str) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return sum(int(attributes[name]) for name in names)


def record_of(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {
            name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:mlgov-notifier",
    }


def configure(routing: dict[str, Any]) -> None:
    """Deploy a routing: the function reads its settings afresh."""
    from mlgov.settings import parse_settings
    from mlgov_runtime.core.env import reset_all
    from mlgov_runtime.core.model import received_environment
    from mlgov_runtime.notifier.settings import Received

    os.environ.update(received_environment(parse_settings({"alert_routing": routing}), Received))
    reset_all()


def show_notifications(session: Any, url: str, findings: list[dict[str, Any]]) -> None:
    """Run the notifier Lambda on the published findings, against local Slack and Jira servers."""
    from mlgov.sinks import start_sink

    print("\n== notifications: the notifier handler delivers those findings to Slack and Jira on 127.0.0.1")
    print("   (the local servers refuse what Slack and Jira refuse: header > 150, section > 3,000, > 50 blocks;")
    print("    summary > 255, description > 32,767, unknown project)")
    with start_sink("slack") as slack, start_sink("jira", projects={"MLGOV"}) as jira:
        secrets, ddb, sqs = (session.client(s, endpoint_url=url) for s in ("secretsmanager", "dynamodb", "sqs"))
        secrets.create_secret(
            Name="mlgov/notifier",
            SecretString=json.dumps(
                {
                    "slack_webhooks": {"#ml-governance-security": f"{slack.url}/services/T000/B000/sandbox"},
                    "jira": {"base_url": jira.url, "user": "mlgov-bot@example.com", "api_token": "sandbox-token"},
                }
            ),
        )
        create_table(ddb, "mlgov-delivery-state", "pk")
        dlq_url = sqs.create_queue(QueueName="mlgov-notifier-dlq")["QueueUrl"]
        queue_url = sqs.create_queue(QueueName="mlgov-notifier")["QueueUrl"]
        os.environ.update(
            {
                "NOTIFIER_SECRET_NAME": "mlgov/notifier",
                "STATE_TABLE_NAME": "mlgov-delivery-state",
                "DEAD_LETTER_QUEUE_URL": dlq_url,
                "NOTIFIER_QUEUE_URL": queue_url,
            }
        )
        configure({"routes": ROUTES})
        from mlgov_runtime.adapters.http import HttpClient
        from mlgov_runtime.notifier import handler as notifier

        notifier.http = HttpClient(timeout=8.0, attempts=4, base_delay=0.1)  # the real values, shorter backoff
        queue = NotifierQueue(sqs, queue_url, dlq_url, notifier)
        for finding in findings:
            queue.send(finding)
        records, failed, _ = queue.deliver_once()
        print(
            f"   {records} findings in one batch -> {len(slack.delivered)} Slack messages, "
            f"{len(jira.issues)} Jira issues, failed records: {failed}"
        )
        if slack.delivered:
            first = slack.delivered[0]
            print(f"   Slack POST {first.path}")
            print(f"     header : {first.body['blocks'][0]['text']['text']}")
            for item in first.body["blocks"][1]["fields"]:
                print("     " + item["text"].replace("\n", ": ", 1))
        if jira.issues:
            key, issue = next(iter(jira.issues.items()))
            print(f"   Jira POST /rest/api/3/issue -> {key}")
            print(f"     summary: {issue['fields']['summary']}")
            print(f"     labels : {', '.join(issue['fields']['labels'])}")
        replay = findings[0]
        before = len(jira.issues)
        for _ in range(5):
            queue.send(replay)
        queue.deliver_once()
        print(
            f"   replaying finding {replay['finding_id'][:12]} 5 times: Jira issues {before} -> {len(jira.issues)}, "
            f"Slack messages {len(slack.delivered)} (repeats within the window are suppressed)"
        )
        show_slack_outage(queue, slack, jira)
        show_jira_refusal(queue, slack, jira, url)
        show_nothing_lost(queue, slack, jira)
        show_security_hub(queue, session, url)


def fresh_finding(n: int) -> dict[str, Any]:
    from mlgov.commands.notifier import sample_finding

    base = sample_finding()
    name = f"manga-recommender-canary-{n}"
    return {
        **base,
        "finding_id": f"sandbox{n:025d}",
        "resource_arn": base["resource_arn"].rsplit("/", 1)[0] + f"/{name}",
        "title": f"Endpoint {name} serves a model with no Model Registry entry",
        "detail": f"Endpoint {name} serves s3://manga-models/<!channel> R&D/canary-{n}/model.tar.gz, not a package.",
        "evidence": {"endpoint": name},
    }


def show_slack_outage(queue: NotifierQueue, slack: Sink, jira: Sink) -> None:
    print("\n== Slack outage: Slack answers 503 to every call for a while")
    slack_before, issues_before = len(slack.delivered), len(jira.issues)
    slack.fail_next(*[Fault(503)] * 4)
    for n in (1, 2, 3):
        queue.send(fresh_finding(n))
    records, failed, _ = queue.deliver_once()
    print(
        f"   invocation 1: {records} findings -> Jira issues +{len(jira.issues) - issues_before}, Slack messages "
        f"+{len(slack.delivered) - slack_before}; {failed} records returned as batch item failures "
        f"({len(slack.requests) - slack_before} Slack calls: one delivery retried with backoff, the rest of the batch "
        "skips the outage)"
    )
    records, failed, _ = queue.deliver_once()
    print(
        f"   invocation 2 (SQS hands the {records} records back after the outage): Slack messages "
        f"+{len(slack.delivered) - slack_before}, Jira issues still +{len(jira.issues) - issues_before} "
        f"(already delivered, not sent twice), failed records: {failed}"
    )
    detail = next(b for b in slack.delivered[-1].body["blocks"] if b["type"] == "section" and "text" in b)
    print(
        f"   resource text reaches Slack escaped (no channel-wide ping): {detail['text']['text'].splitlines()[1][:110]}"
    )


def show_jira_refusal(queue: NotifierQueue, slack: Sink, jira: Sink, url: str) -> None:
    from mlgov.cli import main as cli

    print("\n== Jira 400: the routing names project MLGOVX, which does not exist on the Jira site")
    configure({"jira_project_key": "MLGOVX", "routes": ROUTES})
    slack_before = len(slack.delivered)
    finding = fresh_finding(4)
    queue.send(finding)
    _, failed, out = queue.deliver_once()
    rejected = emf_metric(out, "NotificationRejected") or 0
    [parked] = queue.sqs.receive_message(
        QueueUrl=queue.dlq_url,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["SenderId"],
        VisibilityTimeout=0,
    ).get("Messages", [])
    sender = parked["Attributes"]["SenderId"]
    reason = parked["MessageAttributes"]["mlgov_rejected"]["StringValue"]
    print(
        f"   invocation: Slack messages +{len(slack.delivered) - slack_before}, failed records {failed} (not "
        f"retried: five more 400s would change nothing); NotificationRejected={rejected:g} "
        "(alarmed)"
    )
    print(f"   parked in the notifier dead-letter queue: {reason}")
    print("   the fix: alert_routing.jira_project_key = MLGOV, deployed; then")
    # The deployed queue's policy names the notifier's role, so redrive knows its sender; this sandbox queue
    # has no policy, so the operator vouches for the sender the message shows, as the README says.
    args = ["notify", "redrive", "--region", "us-east-1", "--dlq-url", queue.dlq_url, "--queue-url", queue.url]
    args += ["--allow-sender", sender]
    print(f"   $ {shlex.join(['mlgov', *args])}")  # what runs next, as it runs (the sandbox adds its endpoint)
    configure({"jira_project_key": "MLGOV", "routes": ROUTES})
    out_cli = io.StringIO()
    with contextlib.redirect_stdout(out_cli):
        code = cli([*args, "--endpoint-url", url])
    print(f"   {out_cli.getvalue().strip()} (exit {code})")
    _, failed, _ = queue.deliver_once()
    created = [
        key for key in jira.issues if jira.issues[key]["fields"]["labels"][1] == f"mlgov-{finding['finding_id']}"
    ]
    print(
        f"   redriven finding: Jira {', '.join(created) or 'nothing'} created, Slack messages "
        f"+{len(slack.delivered) - slack_before} (it had Slack already), failed records: {failed}"
    )


def show_nothing_lost(queue: NotifierQueue, slack: Sink, jira: Sink) -> None:
    fresh = [fresh_finding(n) for n in (1, 2, 3, 4)]
    issues = Counter(
        f["finding_id"]
        for f in fresh
        for i in jira.issues.values()
        if f"mlgov-{f['finding_id']}" in i["fields"]["labels"]
    )
    messages = Counter(f["finding_id"] for f in fresh for r in slack.delivered if f["finding_id"] in json.dumps(r.body))
    once = sum(1 for f in fresh if issues[f["finding_id"]] == 1 and messages[f["finding_id"]] == 1)
    print(
        f"\n== nothing lost: {once} of {len(fresh)} findings from the outage and the refusal reached Jira once and "
        f"Slack once; notifier queue {queue.waiting(queue.url)} waiting, dead-letter queue "
        f"{queue.waiting(queue.dlq_url)} waiting"
    )


def later(iso: str) -> str:
    """A minute after `iso`: an update to a Security Hub record must be newer than the record."""
    from datetime import datetime, timedelta

    return (
        (datetime.fromisoformat(iso.replace("Z", "+00:00")) + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    )


def show_security_hub(queue: NotifierQueue, session: Any, url: str) -> None:
    """alert_routing.security_hub on: a finding becomes one ASFF record, and its resolution archives it."""
    from mlgov_runtime.core.env import reset_all

    print("\n== Security Hub (alert_routing.security_hub: true): every finding as an ASFF record")
    hub, ddb = session.client("securityhub", endpoint_url=url), session.client("dynamodb", endpoint_url=url)
    hub.enable_security_hub()
    table = "mlgov-findings-securityhub"
    create_table(ddb, table, "finding_id")
    try:
        with variables({"FINDINGS_TABLE_NAME": table}):
            configure({"routes": ROUTES, "security_hub": True})
            finding = {
                **fresh_finding(5),
                "detail": fresh_finding(5)["detail"] + " Next: `mlgov audit --region us-east-1`",
            }
            queue.send(finding)
            queue.deliver_once()
            resolved = {
                **finding,
                "status": "RESOLVED",
                "severity": "INFO",
                "detected_at": later(finding["detected_at"]),
            }
            ddb.put_item(
                TableName=table, Item={"finding_id": {"S": finding["finding_id"]}, "status": {"S": "RESOLVED"}}
            )
            queue.send(resolved)
            queue.deliver_once()
            records = hub.get_findings(MaxResults=100)["Findings"]
            print(
                f"   open, then resolved: {len(records)} Security Hub record(s) "
                f"for finding {finding['finding_id'][:12]}"
            )
            for record in records:
                fix = record["Remediation"]["Recommendation"]
                print(f"     Id {record['Id']}  ProductArn {record['ProductArn']}")
                print(
                    f"     Severity {record['FindingProviderFields']['Severity']['Label']} "
                    f"(resolved; {finding['severity']} while open), "
                    f"Resource {record['Resources'][0]['Type']} {record['Resources'][0]['Id']}"
                )
                print(f"     RecordState {record['RecordState']}, Workflow {record['Workflow']['Status']}")
                print(f"     Remediation: {fix['Text']} | {fix.get('Url', '-')}")
    finally:
        configure({"routes": ROUTES})
        reset_all()


def play(stage: Stage) -> None:
    show_notifications(stage.session, stage.url, stage.findings)
