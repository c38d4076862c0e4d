"""Scene: the audit handler on real-shaped EventBridge events, and the findings it publishes."""

from __future__ import annotations

import contextlib
import io
import json
import os

from mlgov.sandbox import ACCOUNT, FakeContext, emf_metric, handler_environment, load_event
from mlgov.scenes import Stage
from mlgov_runtime.core.env import reset_all


def play(stage: Stage) -> None:
    os.environ.update(handler_environment(stage.url, stage.resources, ACCOUNT))
    reset_all()
    from mlgov_runtime.lineage_audit import handler as endpoint_audit

    print("\n== real-time audit: the audit handler on real-shaped EventBridge events")
    header = f"   {'EVENT':<24} {'ENDPOINT':<30} {'VERDICT':<18} {'METRIC':<6} PUBLISHED"
    print(header)
    events = [
        ("CreateEndpoint", load_event("cloudtrail_create_endpoint.json", endpoint=name))
        for name in stage.estate.expected
    ]
    duplicate = events[1][1]
    events.append(("CreateEndpoint (again)", duplicate))
    events.append(("InService", load_event("endpoint_state_change_in_service.json", endpoint="manga-recommender-gone")))
    events.append(("CreateEndpoint denied", load_event("cloudtrail_create_endpoint_denied.json")))
    for label, event in events:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            result = endpoint_audit.handler(event, FakeContext())
        metric = emf_metric(out.getvalue(), "UnregisteredEndpointDetected")
        if result.get("status") != "audited":
            print(f"   {label:<24} {'-':<30} {result['status'].upper():<18} {'-':<6} {result.get('reason', '')}")
            continue
        for item in result["results"]:
            verdict = item.get("verdict", item["outcome"].upper())
            expected = stage.estate.expected.get(item["endpoint_name"])
            if expected and verdict != expected:
                stage.mismatches += 1
            published = ", ".join(f[:12] for f in item["published"]) or "(nothing new)"
            if metric is None:  # the idempotency layer answered from its record; nothing ran
                published = f"replayed: {published}, nothing republished"
            metric_text = "-" if metric is None else f"{metric:g}"
            print(f"   {label:<24} {item['endpoint_name']:<30} {verdict:<18} {metric_text:<6} {published}")

    messages = []
    while True:
        batch = stage.sqs.receive_message(QueueUrl=stage.resources["FINDINGS_QUEUE_URL"], MaxNumberOfMessages=10)
        if not batch.get("Messages"):
            break
        for message in batch["Messages"]:
            messages.append(json.loads(message["Body"]))
            stage.sqs.delete_message(
                QueueUrl=stage.resources["FINDINGS_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"]
            )
    stored = stage.ddb.scan(TableName=stage.resources["FINDINGS_TABLE_NAME"], Select="COUNT")["Count"]
    print(
        f"\n== findings channel: {len(messages)} findings published, {stored} stored "
        "(the duplicate delivery added none)"
    )
    for finding in messages:
        print(f"   [{finding['severity']:<6}] {finding['finding_id'][:12]}  {finding['title']}")
    stage.findings = messages
