"""Scene: spec scenario 5. The monthly stale-endpoint audit, the retiring tag lifecycle, and deletion through
the synthesized state machine: one deletion approved with `mlgov retire approve --request` (signed as the
approver) and aborted by traffic that came back, one approved by a Slack button (a locally signed request,
after a forged press is refused), then the watch on clients. Runs in the in-process emulator (moto, with
mlgov.emulator_sfn), because the state machine's Lambda steps must run the real step handler."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from mlgov.environ import variables
from mlgov.estate import drain_findings
from mlgov.sandbox import ACCOUNT, REGION, FakeContext, emf_values, load_event
from mlgov.scenes import Stage, defaults_config

REQUESTER = f"arn:aws:sts::{ACCOUNT}:assumed-role/MLOps/alice"
KEYS: dict[str, tuple[str, str, str]] = {}  # alias -> credentials the emulator's STS issued for that role session
BOB = f"arn:aws:sts::{ACCOUNT}:assumed-role/MLOpsApprover/bob"
SIGNING_SECRET = "sandbox-slack-signing-secret"


@contextlib.contextmanager
def _in_process_environment(values: dict[str, str]) -> Iterator[None]:
    """Point boto3 at the in-process emulator (not the moto server of the other scenes) for this scene."""
    saved = dict(os.environ)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _quiet(call: Any, *args: Any) -> Any:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return call(*args)


def _cli(*argv: str, key: str | None = None) -> tuple[int, str]:
    """The CLI; with `key`, signing as that access key (the approver's credentials)."""
    from mlgov.cli import main

    out = io.StringIO()
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    signer = dict(zip(names, KEYS[key], strict=True)) if key else {}
    with variables(signer), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main([*argv, "--config", defaults_config()])
    return code, out.getvalue()


def _replayed_elsewhere_proof(request_id: str, other_url: str) -> tuple[int, str]:
    """A direct invoke of the approval service (any requestContext) carrying a proof bob made for the approval
    service at `other_url`: what someone who runs that service, or reads what it receives, could replay here."""
    import base64

    from botocore.credentials import Credentials

    from mlgov.approvals_sandbox import service_context
    from mlgov.ops.identity_proof import presign
    from mlgov_runtime.approvals import handler
    from mlgov_runtime.approvals.identity import audience_of, binding

    body = {"request_id": request_id, "decision": "approve", "comment": ""}
    sts = f"https://sts.{REGION}.amazonaws.com"
    proof = presign(Credentials(*KEYS["bob"]), REGION, sts, binding(body), audience_of(other_url))
    event = {
        "requestContext": {"http": {"method": "POST"}, "domainName": audience_of(other_url)},
        "body": base64.b64encode(json.dumps({**body, "identity": proof}).encode()).decode(),
        "isBase64Encoded": True,
    }
    answer = handler.handler(event, service_context())
    return int(answer["statusCode"]), str(json.loads(answer["body"]).get("error", ""))


def _template() -> dict[str, Any]:
    """The retirement construct as `cdk synth` builds it (the state machine definition comes from here)."""
    from mlgov.settings import parse_settings
    from stacks.retirement import standalone_template

    template: dict[str, Any] = _quiet(standalone_template, parse_settings({}))
    return template


def play(stage: Stage) -> None:
    print("\n== endpoint retirement (spec scenario 5): stale endpoints, the retiring tag, approved deletion")
    template = _template()
    values = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox", "AWS_DEFAULT_REGION": REGION}
    moto_log = logging.getLogger("moto")
    level = moto_log.level
    moto_log.setLevel(logging.CRITICAL)  # a Fail state is logged as an ERROR by moto's interpreter
    try:
        with _in_process_environment({**values, "AWS_REGION": REGION}):
            _play(template)
    finally:
        moto_log.setLevel(level)


def _play(template: dict[str, Any]) -> None:
    from moto import mock_aws

    from mlgov.approvals_sandbox import approval_urls, button_press, create_approvals_table, slack_post
    from mlgov.emulator_sfn import entered, lambdas_in_process, wait_for
    from mlgov.ops.sent_settings import retirement_environment
    from mlgov.retirement_estate import (
        IDLE,
        MACHINE,
        RETURNING,
        open_retirement_world,
        put_invocations,
    )
    from mlgov.settings import parse_settings
    from mlgov.sinks import start_sink
    from mlgov_runtime.adapters import aws
    from mlgov_runtime.core import env

    config: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):
        now = datetime.now(UTC)
        world = open_retirement_world(ACCOUNT, REGION, now)
        c, estate, resources, mac_key = world.clients, world.estate, world.resources, world.mac_key
        settings = parse_settings(
            {
                "approvals": {"approvers": {"retirement": [BOB, REQUESTER]}, "slack_approvers": {"UBOB": BOB}},
                "retirement": {"post_retirement_watch_hours": 1},
            }
        )
        approvals_table = create_approvals_table(c["dynamodb"])
        identities = {}
        for alias, who in (("bob", BOB), ("alice", REQUESTER)):
            _, role_name, session = who.rsplit(":", 1)[1].split("/")
            c["iam"].create_role(RoleName=role_name, AssumeRolePolicyDocument="{}")
            got = c["sts"].assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role_name}", RoleSessionName=session)
            creds = got["Credentials"]
            KEYS[alias] = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
            identities[creds["AccessKeyId"]] = (creds["SecretAccessKey"], who)
        machine_name = next(
            v["Properties"]["StateMachineName"]
            for k, v in template["Resources"].items()
            if k.startswith(MACHINE) and v["Type"] == "AWS::StepFunctions::StateMachine"
        )
        secret = c["secretsmanager"].create_secret(Name="slack-signing", SecretString=SIGNING_SECRET)["ARN"]
        slack = start_sink("slack")  # Slack's response_url: where the buttons are replaced by the outcome
        function_env = {
            **retirement_environment(settings),
            "APPROVALS_TABLE_NAME": approvals_table,
            "RETIREMENT_STATE_MACHINE_NAME": machine_name,
            "APPROVALS_MAC_KEY_ID": mac_key,
            **settings.approvals.environment(),
            **{k: v for k, v in resources.items() if k != "FINDINGS_QUEUE_URL"},
            "POWERTOOLS_METRICS_NAMESPACE": "MLGovernance",
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
        }
        os.environ.update(function_env)
        os.environ.update(
            {
                **settings.approvals.environment(),
                "SLACK_SIGNING_SECRET_ARN": secret,
                "SLACK_RESPONSE_URL_PREFIX": slack.url + "/",
            }
        )
        env.reset_all()
        aws.context_for.cache_clear()
        queue = resources["FINDINGS_QUEUE_URL"]
        print("   in-process emulator; SageMaker's Invocations metrics put for the last 36 h:")
        for name, what in estate.descriptions.items():
            print(f"   {name:<26} {estate.invocations_24h[name]:>6,} calls/36h  {what}")

        from mlgov_runtime.retirement import handler

        result = _quiet(handler.handler, load_event("scheduled_retirement_audit.json"), FakeContext())
        print(f"\n   monthly audit (scheduled event): {result['verdicts']}")
        for finding in drain_findings(c["sqs"], queue):
            print(f"   [{finding['severity']:<6}] {finding['kind']:<30} {finding['title']}")
            if finding["kind"] in ("STALE_ENDPOINT_ACTIVE", "ENDPOINT_RETIREMENT_CANDIDATE"):
                print(f"            next: {finding['evidence']['next_step']}")

        code, out = _cli("retire", "audit", "--format", "table")
        print("\n   mlgov retire audit --format table")
        print("\n".join("   " + line for line in out.splitlines() if not line.startswith(("  ", "Checking"))))
        print(f"   exit code {code} (3 = a stale endpoint still takes traffic)")
        _went_quiet_and_costs(estate)

        print("\n   tag lifecycle: someone removes the retiring tag of an endpoint whose retirement is open")
        arn = c["sagemaker"].describe_endpoint(EndpointName=RETURNING)["EndpointArn"]
        c["sagemaker"].delete_tags(ResourceArn=arn, TagKeys=["endpoint_purpose"])
        removed = load_event("cloudtrail_delete_tags_purpose.json")
        removed["detail"]["requestParameters"]["resourceArn"] = arn
        outcome = _quiet(handler.handler, removed, FakeContext())["status"]
        tags = {t["Key"]: t["Value"] for t in c["sagemaker"].list_tags(ResourceArn=arn)["Tags"]}
        print(f"   CloudTrail DeleteTags -> {outcome}; endpoint_purpose is {tags.get('endpoint_purpose')!r} again")
        for finding in drain_findings(c["sqs"], queue):
            print(f"   [{finding['severity']:<6}] {finding['kind']:<30} {finding['title']}")

        # The deletion state machine, as synthesized, with its step Lambda running the real handler here.
        machine = world.deletion_machine(template, machine_name, function_env)
        sfn = c["stepfunctions"]
        os.environ["RETIREMENT_STATE_MACHINE_ARN"] = machine  # the approval service starts it
        env.reset_all()

        def request(name: str) -> tuple[str, str]:
            code, out = _cli(
                "retire", "request", "--endpoint", name, "--approval-url", urls.iam.url, "--format", "json", key="alice"
            )
            assert code == 0, out
            execution = json.loads(out)["execution_arn"]
            wait_for(sfn, execution, lambda h: any(e["type"] == "TaskSubmitted" for e in h))
            request_id = next(
                f["evidence"]["approval_request"]["request_id"]
                for f in reversed(drain_findings(c["sqs"], queue))
                if f["kind"] == "ENDPOINT_RETIRING" and f["evidence"].get("approval_request")
            )
            return execution, request_id

        def finish(execution: str, decide: Any) -> tuple[Any, str, str, list[float]]:
            """Decide, wait for the end; the step Lambda's output (its EMF metrics) is kept off the screen."""
            worker = io.StringIO()
            with contextlib.redirect_stdout(worker):
                answer = decide()
                history = wait_for(sfn, execution, lambda h: False)
            path = " > ".join(entered(history)[2:])
            return (
                answer,
                path,
                sfn.describe_execution(executionArn=execution)["status"],
                emf_values(worker.getvalue(), "SafetyAbortEndpointDeletion"),
            )

        with lambdas_in_process(), approval_urls(identities) as urls:
            print(f"\n   deletion 1: {RETURNING} (no calls for 36 h), requested")
            execution, request_id = _quiet(request, RETURNING)
            print(f"   mlgov retire request --endpoint {RETURNING}: waits; the finding carries request {request_id}")
            print("   (the task token stays in the encrypted approvals store: never in findings, Slack, Jira or logs)")
            code, out = _cli("retire", "approve", "--request", request_id, "--approval-url", urls.iam.url, key="alice")
            print(f"   the requester approves it himself -> exit {code}: {out.strip().splitlines()[-1]}")
            other = "https://another0mlgov0service.lambda-url.us-east-1.on.aws/"
            code, why = _quiet(_replayed_elsewhere_proof, request_id, other)
            print(f"   a proof bob made for another approval service ({other}), replayed here -> HTTP {code}: {why}")
            put_invocations(c["cloudwatch"], RETURNING, 3, datetime.now(UTC) - timedelta(minutes=2))
            print("   ... while the request waits, a cached mobile client calls it 3 times")
            (code, out), path, status, metric = finish(
                execution,
                lambda: _cli("retire", "approve", "--request", request_id, "--approval-url", urls.iam.url, key="bob"),
            )
            print(f"   mlgov retire approve --request {request_id} (signed as bob): {out.strip().splitlines()[-1]}")
            print(f"   -> {path}: {status}")
            there = RETURNING in _endpoints(c["sagemaker"])
            print(f"   metric SafetyAbortEndpointDeletion = {_values(metric)}; endpoint still there: {there}")
            for finding in drain_findings(c["sqs"], queue):
                if finding["kind"] == "SAFETY_ABORT_ENDPOINT_DELETION":
                    print(f"   [{finding['severity']:<6}] {finding['kind']:<30} {finding['title']}")

            print(f"\n   deletion 2: {IDLE} (no calls for 30 h), requested; approved with Slack's Approve button")
            execution, request_id = _quiet(request, IDLE)
            response_url = slack.url + "/actions/T0001/1/sandbox"
            press = button_press("UBOB", request_id, True, response_url, endpoint=IDLE)
            code, answer = slack_post(urls.slack.url, press, "not-the-signing-secret")
            print(f"   a press signed with the wrong secret -> HTTP {code}: {answer['error']}")
            stale = time.time() - 600
            code, answer = slack_post(urls.slack.url, press, SIGNING_SECRET, signed_at=stale)
            print(f"   a press signed 10 minutes ago -> HTTP {code}: {answer['error']}")
            answer, path, status, metric = finish(execution, lambda: slack_post(urls.slack.url, press, SIGNING_SECRET))
            print(f"   a press signed by Slack just now -> HTTP {answer[0]} at once: {answer[1]['text']}")
            replaced = slack.delivered[-1].body["text"]
            print(f"   the press worker decided; the buttons are replaced (response_url): {replaced}")
            code, answer = slack_post(urls.slack.url, press, SIGNING_SECRET)
            print(f"   the same press again (a replay) -> {slack.delivered[-1].body['text']}")
            print(f"   -> {path}: {status}")
            config_kept = bool(c["sagemaker"].describe_endpoint_config(EndpointConfigName=f"{IDLE}-config")) and bool(
                c["sagemaker"].describe_model(ModelName="manga-rec-retire-v1")
            )
            there = IDLE in _endpoints(c["sagemaker"])
            print(
                f"   metric SafetyAbortEndpointDeletion = {_values(metric)}; endpoint still there: {there}; "
                f"its config and model kept: {config_kept}"
            )
            for finding in drain_findings(c["sqs"], queue):
                if finding["status"] == "RESOLVED" and finding["kind"] == "ENDPOINT_RETIRING":
                    print(f"   [{finding['severity']:<6}] {finding['kind']:<30} {finding['title']}")
                    print(f"            wasted since v2 was approved: ${finding['evidence']['wasted_usd']:,.2f}")
        slack.close()

        print("\n   the hourly watch (follow-up 4) ran inside the machine above (WatchClients); a direct invoke")
        state = {
            "endpoint_name": IDLE,
            "deletion": {
                "endpoint_config_name": f"{IDLE}-config",
                "watch": {"remaining": 71, "since": (datetime.now(UTC) - timedelta(hours=1)).isoformat()},
            },
        }
        try:
            _quiet(handler.step, {"step": "watch", "state": state}, FakeContext())
        except Exception as exc:  # every step acts only for a running execution of its own machine
            print(f"   of the watch step outside a running execution -> refused: {exc}")
        t = settings.thresholds
        print(
            f"\n   cost anomaly alerts (in the stack; moto has no anomaly API): impact >= ${t.cost_anomaly_usd:g} "
            f"and >= {settings.retirement.cost_anomaly_pct:g}% -> ops topic"
        )
    env.reset_all()
    aws.context_for.cache_clear()


def _went_quiet_and_costs(estate: Any) -> None:
    """Issue 27 items 4 and 6: the deployment's went-quiet gate, and last week's hosting cost by purpose."""
    from mlgov.retirement_estate import DAILY_HOSTING, IDLE, STALE, hosting_cost_answer, queue_hosting_costs
    from mlgov_runtime.retirement.costs import last_week

    print("\n   post-deploy gate: did the old endpoints go quiet 24 h after v2 took over? (AWS/SageMaker Invocations)")
    for name in (STALE, IDLE):
        code, out = _cli("retire", "audit", "--went-quiet", "--endpoint", name, "--format", "json")
        quiet = json.loads(out)["endpoints"][0]["cutover"]
        hourly = " ".join("-" if h["invocations"] is None else str(h["invocations"]) for h in quiet["hours"][-8:])
        print(f"   mlgov retire audit --went-quiet --endpoint {name} -> exit {code}: {quiet['status']}")
        print(f"     last 8 hours (- = no data): {hourly}")
        reason = re.sub(r" \(cut over [^)]*\)", "", quiet["reason"])
        command = re.search(r"`([^`]+)`", quiet["fix"])
        print(f"     {reason}\n     next: {command.group(1) if command else quiet['fix']}")
    start, end = last_week(datetime.now(UTC).date())
    queue_hosting_costs(estate.account_id, hosting_cost_answer(start, end, DAILY_HOSTING))
    code, out = _cli("retire", "audit", "--costs", "--format", "table")
    print("\n   mlgov retire audit --costs (Cost Explorer, one request; moto answers from its result queue)")
    cost_lines = out.splitlines()[next(i for i, line in enumerate(out.splitlines()) if "hosting cost by" in line) :]
    print("\n".join("   " + line for line in cost_lines))


def _values(values: list[float]) -> str:
    return ", ".join(f"{v:g}" for v in values) or "none"


def _endpoints(sm: Any) -> set[str]:
    return {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]}
