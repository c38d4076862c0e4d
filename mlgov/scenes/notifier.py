"""Scene: the notifier delivers the published findings to local Slack and Jira servers."""

from __future__ import annotations

import contextlib
import io
import json
import os
from typing import Any

from mlgov.sandbox import FakeContext, sqs_event
from mlgov.scenes import Stage


def show_notifications(session: Any, url: str, findings: list[dict[str, Any]]) -> None:
    """Run the notifier Lambda on the published findings, against local Slack and Jira servers."""
    from mlgov.settings import parse_settings, routing_json
    from mlgov.sinks import start_sink

    print("\n== notifications: the notifier handler delivers those findings to Slack and Jira on 127.0.0.1")
    with start_sink("slack") as slack, start_sink("jira") as jira:
        secrets, ddb = session.client("secretsmanager", endpoint_url=url), session.client("dynamodb", endpoint_url=url)
        secrets.create_secret(
            Name="mlgov/notifier",
            SecretString=json.dumps(
                {
                    "slack_webhooks": {"#ml-governance-security": f"{slack.url}/services/T000/B000/sandbox"},
                    "jira": {"base_url": jira.url, "user": "mlgov-bot@example.com", "api_token": "sandbox-token"},
                }
            ),
        )
        ddb.create_table(
            TableName="mlgov-delivery-state",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        os.environ.update(
            {
                "NOTIFIER_SECRET_NAME": "mlgov/notifier",
                "STATE_TABLE_NAME": "mlgov-delivery-state",
                "ROUTING_JSON": routing_json(parse_settings({})),
            }
        )
        from mlgov_runtime.notifier import handler as notifier

        with contextlib.redirect_stdout(io.StringIO()):
            result = notifier.handler(sqs_event([json.dumps(f) for f in findings]), FakeContext())
        print(
            f"   {len(findings)} findings in one batch -> {len(slack.requests)} Slack messages, "
            f"{len(jira.issues)} Jira issues, failed records: {len(result['batchItemFailures'])}"
        )
        if slack.requests:
            first = slack.requests[0]
            fields = first.body["blocks"][1]["fields"]
            print(f"   Slack POST {first.path}")
            print(f"     header : {first.body['blocks'][0]['text']['text']}")
            for item in fields:
                print("     " + item["text"].replace("\n", ": ", 1))
        if jira.issues:
            key, issue = next(iter(jira.issues.items()))
            print(f"   Jira POST /rest/api/3/issue -> {key}")
            print(f"     summary: {issue['fields']['summary']}")
            print(f"     labels : {', '.join(issue['fields']['labels'])}")
        replay = findings[0]
        before = len(jira.issues)
        with contextlib.redirect_stdout(io.StringIO()):
            for _ in range(5):
                notifier.handler(sqs_event([json.dumps(replay)]), FakeContext())
        print(
            f"   replaying finding {replay['finding_id'][:12]} 5 times: Jira issues {before} -> {len(jira.issues)}, "
            f"Slack messages {len(slack.requests)} (repeats within the window are suppressed)"
        )


def play(stage: Stage) -> None:
    show_notifications(stage.session, stage.url, stage.findings)
