"""`make demo`: a local sandbox. Starts moto server on a free 127.0.0.1 port, seeds a realistic
SageMaker estate, runs the real audit handler on real-shaped events, runs `mlgov audit`, stops.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "events"
ACCOUNT = "123456789012"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MotoServer:
    url: str
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def moto_server(timeout: float = 20.0) -> Iterator[MotoServer]:
    """moto in server mode on 127.0.0.1; always stopped, even on Ctrl-C."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on {url}") from None
                time.sleep(0.1)
        yield MotoServer(url, process)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def load_event(name: str, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    event = copy.deepcopy(event)
    endpoint = changes.pop("endpoint", None)
    event["id"] = changes.pop("event_id", str(uuid.uuid4()))
    if endpoint:
        detail = event["detail"]
        if "requestParameters" in detail:
            detail["requestParameters"]["endpointName"] = endpoint
            detail["requestParameters"]["endpointConfigName"] = f"{endpoint}-config"
        else:
            detail["EndpointName"] = endpoint
    event.update(changes)
    return event


class FakeContext:
    """The fields of the Lambda context the handler and Powertools read."""

    function_name = "MlGovEndpointAudit-AuditFunction"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:MlGovEndpointAudit-AuditFunction"
    memory_limit_in_mb = 512
    aws_request_id = "demo"
    log_group_name = "/aws/lambda/demo"
    log_stream_name = "demo"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def sqs_event(bodies: list[str], message_ids: list[str] | None = None) -> dict[str, Any]:
    """What Lambda's SQS event source hands the notifier for these message bodies."""
    ids = message_ids or [str(uuid.uuid4()) for _ in bodies]
    return {
        "Records": [
            {
                "messageId": mid,
                "receiptHandle": f"rh-{mid}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "awsRegion": REGION,
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:MlGovEndpointAudit-NotifierQueue",
            }
            for mid, body in zip(ids, bodies, strict=True)
        ]
    }


def emf_metric(stdout: str, name: str) -> float | None:
    """The value the handler emitted for one EMF metric (Powertools prints EMF as JSON lines)."""
    for line in stdout.splitlines():
        with contextlib.suppress(ValueError):
            blob = json.loads(line)
            if isinstance(blob, dict) and name in blob and "_aws" in blob:
                value = blob[name]
                return float(value[0] if isinstance(value, list) else value)
    return None


def handler_environment(url: str, resources: dict[str, str], exempt_accounts: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_LOG_LEVEL": "CRITICAL",
        "POWERTOOLS_METRICS_NAMESPACE": "MLGovernance",
        "EXEMPT_ACCOUNT_IDS": exempt_accounts,
        **{k: v for k, v in resources.items() if k != "FINDINGS_QUEUE_URL"},
    }


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


def show_coverage_and_retraining(session: Any, url: str, resources: dict[str, str]) -> None:
    """Spec scenario 2: the weekly coverage check on a stale snapshot, then the pipeline's gates."""
    from mlgov.catalog_estate import (
        CATALOG_TABLE,
        SNAPSHOT_BUCKET,
        approve_package_on_snapshot,
        catalog_items,
        create_catalog,
        create_snapshot_bucket,
        put_old_snapshot,
    )
    from mlgov.estate import GROUP, TGI_IMAGE
    from mlgov.settings import gate_thresholds_json, parse_settings

    ddb, s3, sm, sfn, iam = (
        session.client(x, endpoint_url=url) for x in ("dynamodb", "s3", "sagemaker", "stepfunctions", "iam")
    )
    items = catalog_items()
    create_catalog(ddb, items)
    create_snapshot_bucket(s3, REGION)
    uri = put_old_snapshot(s3, items)
    package = approve_package_on_snapshot(sm, GROUP, uri, TGI_IMAGE.format(region=REGION))
    role = iam.create_role(RoleName="mlgov-sandbox-sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    machine = sfn.create_state_machine(
        name="MlGovRetraining",
        roleArn=role,
        definition=json.dumps({"StartAt": "Queued", "States": {"Queued": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    os.environ.update(
        {
            "CATALOG_TABLE_NAME": CATALOG_TABLE,
            "WATCHED_GROUP": GROUP,
            "SNAPSHOT_BUCKET": SNAPSHOT_BUCKET,
            "RETRAINING_STATE_MACHINE_ARN": machine,
            "GATE_THRESHOLDS_JSON": gate_thresholds_json(parse_settings({})),
            "TRAINING_CODE_COMMIT": "3f2a9c1",
            "TEAM": "recsys",
            "INTENDED_USE_CASE": "recommendation",
            "INFERENCE_IMAGE": TGI_IMAGE.format(region=REGION),
        }
    )
    new = sum(1 for it in items if it["added_at"] > "2026-05-02")
    print(
        f"\n== catalog coverage: {len(items)} titles in {CATALOG_TABLE}, {new} added after the approved "
        f"model's snapshot of 2026-05-02"
    )
    print(f"   approved package {package.rsplit('/', 2)[-2]}/{package.rsplit('/', 1)[-1]} was trained on {uri}")
    from mlgov_runtime.coverage import handler as coverage_check
    from mlgov_runtime.retraining import handler as retraining

    weekly = load_event("scheduled_coverage_check.json")
    with contextlib.redirect_stdout(io.StringIO()):
        result = coverage_check.handler(weekly, FakeContext())
        again = coverage_check.handler(weekly, FakeContext())
    print(
        f"   weekly check: gap {result['gap_titles']} of {result['catalog_titles']} titles = "
        f"{result['coverage_gap_pct']}% -> {result['action']}"
    )
    state, _, execution_arn = result["pipeline"].partition(" ")
    print(f"   retraining state machine: {state} execution {execution_arn.rsplit(':', 1)[-1]}")
    print(f"   the same scheduled event delivered again: {again['pipeline'].rsplit(' ', 1)[0]}, no second run")
    print(f"   finding published: {result['finding_published']} (CRITICAL CATALOG_COVERAGE_GAP, pages on-call)")

    key = uri.split("/", 3)[3]
    snapshot = s3.get_object(Bucket=SNAPSHOT_BUCKET, Key=key)["Body"].read()
    s3.delete_object(Bucket=SNAPSHOT_BUCKET, Key=key)
    with contextlib.redirect_stdout(io.StringIO()):
        broken = coverage_check.handler(load_event("scheduled_coverage_check.json"), FakeContext())
    print(f"   a week later the snapshot is gone: {broken['reason']}")

    def stored(field: str) -> str:
        key = {"finding_id": {"S": broken["finding_id"]}}
        return str(ddb.get_item(TableName=resources["FINDINGS_TABLE_NAME"], Key=key)["Item"][field]["S"])

    print(f"   -> COVERAGE_CHECK_FAILED finding {stored('severity')}, {stored('status')}")
    s3.put_object(Bucket=SNAPSHOT_BUCKET, Key=key, Body=snapshot)
    with contextlib.redirect_stdout(io.StringIO()):
        coverage_check.handler(load_event("scheduled_coverage_check.json"), FakeContext())
    print(f"   snapshot restored, the next check runs: that finding is {stored('status')}")

    print("\n== retraining: data prep and the data-quality gate on a fresh snapshot")
    with contextlib.redirect_stdout(io.StringIO()):
        prepared = retraining.handler({"step": "prepare", "state": {}}, FakeContext())
        quality = retraining.handler({"step": "quality_gate", "state": {"prepared": prepared}}, FakeContext())
    print(f"   wrote {prepared['snapshot_uri']} (version {prepared['version_id'][:12]}...)")
    for check in quality["checks"]:
        print(f"   [{'pass' if check['passed'] else 'FAIL'}] {check['name']:<20} {check['detail']}")
    print(f"   gate {'passed: training may start' if quality['passed'] else 'failed: the run stops'}")
    # A catalog export that lost most Japanese titles: the gate stops it before any training.
    lost = [it for it in items if it["language"] == "en"][:700]
    s3.put_object(
        Bucket=SNAPSHOT_BUCKET,
        Key=prepared["snapshot_key"],
        Body=b"".join(
            (
                json.dumps({"query": f"manga like {it['title']}", "query_language": "en", "title_id": it["title_id"]})
                + "\n"
            ).encode()
            for it in lost
        ),
    )
    with contextlib.redirect_stdout(io.StringIO()):
        bad = retraining.handler({"step": "quality_gate", "state": {"prepared": prepared}}, FakeContext())
    print("   a broken export (700 English-only pairs) instead:")
    for check in bad["failed"]:
        print(f"   [FAIL] {check['name']:<20} {check['detail']}")


def show_guardrails() -> None:
    """The preventive side: which SCP statement decides three requests (mlgov guardrails explain)."""
    from mlgov.cli import main as cli

    print("\n== guardrails: mlgov guardrails explain on three requests in a production account")
    prod = "arn:aws:iam::210987654321:role"
    package = "arn:aws:sagemaker:us-east-1:210987654321:model-package/manga-recommender/7"
    requests = [
        [
            "--action",
            "sagemaker:CreateEndpoint",
            "--endpoint-name",
            "manga-recommender-hotfix",
            "--principal",
            f"{prod}/DataScientist",
        ],
        [
            "--action",
            "sagemaker:DeleteTags",
            "--tag-key",
            "ModelPackageName",
            "--endpoint-name",
            "manga-recommender-prod",
            "--principal",
            f"{prod}/DataScientist",
        ],
        [
            "--action",
            "sagemaker:CreateEndpoint",
            "--tag",
            f"ModelPackageName={package}",
            "--endpoint-name",
            "manga-recommender-prod",
            "--principal",
            f"{prod}/MlGovDeploymentPipeline-prod",
        ],
    ]
    for request in requests:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            cli(["guardrails", "explain", *request, "--config", str(ROOT / "cdk.json")])
        print("\n".join("   " + line for line in out.getvalue().splitlines()[:2]))


def run_demo() -> int:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    started = time.monotonic()
    import boto3

    from mlgov.estate import create_governance_resources, seed_estate

    print("== mlgov sandbox: starting moto server on 127.0.0.1 ...")
    with moto_server() as server:
        print(f"   emulator at {server.url} (pid {server.process.pid})")
        session = boto3.session.Session(
            aws_access_key_id="sandbox", aws_secret_access_key="sandbox", region_name=REGION
        )
        sm, ddb, sns, sqs = (
            session.client(s, endpoint_url=server.url) for s in ("sagemaker", "dynamodb", "sns", "sqs")
        )
        estate = seed_estate(sm, ACCOUNT, REGION)
        resources = create_governance_resources(ddb, sns, sqs)
        print(
            f"== seeded {len(estate.expected)} endpoints and {len(estate.packages)} packages in group manga-recommender"
        )
        for name, what in estate.descriptions.items():
            print(f"   {name:<30} {what}")

        os.environ.update(handler_environment(server.url, resources, ACCOUNT))
        from mlgov_runtime.lineage_audit import handler as endpoint_audit

        print("\n== real-time audit: the audit handler on real-shaped EventBridge events")
        mismatches = 0
        header = f"   {'EVENT':<24} {'ENDPOINT':<30} {'VERDICT':<18} {'METRIC':<6} PUBLISHED"
        print(header)
        events = [
            ("CreateEndpoint", load_event("cloudtrail_create_endpoint.json", endpoint=name)) for name in estate.expected
        ]
        duplicate = events[1][1]
        events.append(("CreateEndpoint (again)", duplicate))
        events.append(
            ("InService", load_event("endpoint_state_change_in_service.json", endpoint="manga-recommender-gone"))
        )
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
                expected = estate.expected.get(item["endpoint_name"])
                if expected and verdict != expected:
                    mismatches += 1
                published = ", ".join(f[:12] for f in item["published"]) or "(nothing new)"
                if metric is None:  # the idempotency layer answered from its record; nothing ran
                    published = f"replayed: {published}, nothing republished"
                metric_text = "-" if metric is None else f"{metric:g}"
                print(f"   {label:<24} {item['endpoint_name']:<30} {verdict:<18} {metric_text:<6} {published}")

        messages = []
        while True:
            batch = sqs.receive_message(QueueUrl=resources["FINDINGS_QUEUE_URL"], MaxNumberOfMessages=10)
            if not batch.get("Messages"):
                break
            for message in batch["Messages"]:
                messages.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=resources["FINDINGS_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"])
        stored = ddb.scan(TableName=resources["FINDINGS_TABLE_NAME"], Select="COUNT")["Count"]
        print(
            f"\n== findings channel: {len(messages)} findings published, {stored} stored "
            "(the duplicate delivery added none)"
        )
        for finding in messages:
            print(f"   [{finding['severity']:<6}] {finding['finding_id'][:12]}  {finding['title']}")

        show_notifications(session, server.url, messages)

        show_coverage_and_retraining(session, server.url, resources)

        print("\n== mlgov audit --format table (the operator CLI, same audit code)")
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "cdk.json"
            config.write_text(json.dumps({"context": {"mlgov": {"experiment_exemptions": {"account_ids": [ACCOUNT]}}}}))
            env = {**os.environ, "AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox"}
            cli = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "mlgov.cli",
                    "audit",
                    "--endpoint-url",
                    server.url,
                    "--region",
                    REGION,
                    "--config",
                    str(config),
                    "--format",
                    "table",
                ],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
        print("\n".join("   " + line for line in cli.stdout.splitlines()))
        if cli.stderr.strip():
            print("   " + cli.stderr.strip().replace("\n", "\n   "))
        print(f"   exit code {cli.returncode} (3 = violations found)")
    show_guardrails()
    print(f"\n== emulator stopped; demo took {time.monotonic() - started:.1f}s")
    if mismatches:
        print(f"demo: {mismatches} verdicts differ from what the estate expects", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_demo())
