"""Scene: spec scenario 5. The monthly stale-endpoint audit, the retiring tag lifecycle, and deletion through
the synthesized state machine: one deletion aborted by traffic that came back after the request, one done
after approval, then the watch on clients. Runs in the in-process emulator (moto, with mlgov.emulator_sfn),
because the state machine's Lambda steps must run the real step handler."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from mlgov.sandbox import ACCOUNT, REGION, FakeContext, load_event
from mlgov.scenes import Stage

MACHINE = "RetirementRetirementStateMachine"


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


def _cli(*argv: str) -> tuple[int, str]:
    from mlgov.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main([*argv, "--config", "absent-cdk.json"])
    return code, out.getvalue()


def _drain(sqs: Any, queue: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return found


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
    import boto3
    from moto import mock_aws

    from mlgov.emulator_sfn import entered, executable_definition, lambdas_in_process, wait_for
    from mlgov.estate import create_governance_resources
    from mlgov.retirement_estate import (
        IDLE,
        RETURNING,
        backdate_in_process,
        put_client_errors,
        put_invocations,
        seed_retirement_estate,
    )
    from mlgov.settings import parse_settings
    from mlgov_runtime.adapters import aws
    from mlgov_runtime.core import env

    config: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):
        c = {
            s: boto3.client(s, region_name=REGION)
            for s in ("sagemaker", "cloudwatch", "dynamodb", "sns", "sqs", "iam", "lambda", "stepfunctions")
        }
        now = datetime.now(UTC)
        estate = seed_retirement_estate(c["sagemaker"], c["cloudwatch"], ACCOUNT, REGION, now)
        backdate_in_process(ACCOUNT, REGION, estate, now)
        resources = create_governance_resources(c["dynamodb"], c["sns"], c["sqs"])
        settings = parse_settings({})
        function_env = {
            **settings.retirement.environment(settings.thresholds, settings.watched_model_package_groups),
            "POST_RETIREMENT_WATCH_HOURS": "1",
            **{k: v for k, v in resources.items() if k != "FINDINGS_QUEUE_URL"},
            "POWERTOOLS_METRICS_NAMESPACE": "MLGovernance",
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
        }
        os.environ.update(function_env)
        env.reset_all()
        aws.context_for.cache_clear()
        queue = resources["FINDINGS_QUEUE_URL"]
        print("   in-process emulator; SageMaker's Invocations metrics put for the last 36 h:")
        for name, what in estate.descriptions.items():
            print(f"   {name:<26} {estate.invocations_24h[name]:>6,} calls/36h  {what}")

        from mlgov_runtime.retirement import handler

        result = _quiet(handler.handler, load_event("scheduled_retirement_audit.json"), FakeContext())
        print(f"\n   monthly audit (scheduled event): {result['verdicts']}")
        for finding in _drain(c["sqs"], queue):
            print(f"   [{finding['severity']:<6}] {finding['kind']:<30} {finding['title']}")
            if finding["kind"] in ("STALE_ENDPOINT_ACTIVE", "ENDPOINT_RETIREMENT_CANDIDATE"):
                print(f"            next: {finding['evidence']['next_step']}")

        code, out = _cli("retire", "audit", "--format", "table")
        print("\n   mlgov retire audit --format table")
        print("\n".join("   " + line for line in out.splitlines() if not line.startswith(("  ", "Checking"))))
        print(f"   exit code {code} (3 = a stale endpoint still takes traffic)")

        print("\n   tag lifecycle: someone removes the retiring tag of an endpoint whose retirement is open")
        arn = c["sagemaker"].describe_endpoint(EndpointName=RETURNING)["EndpointArn"]
        c["sagemaker"].delete_tags(ResourceArn=arn, TagKeys=["endpoint_purpose"])
        removed = load_event("cloudtrail_delete_tags_purpose.json")
        removed["detail"]["requestParameters"]["resourceArn"] = arn
        outcome = _quiet(handler.handler, removed, FakeContext())["status"]
        tags = {t["Key"]: t["Value"] for t in c["sagemaker"].list_tags(ResourceArn=arn)["Tags"]}
        print(f"   CloudTrail DeleteTags -> {outcome}; endpoint_purpose is {tags.get('endpoint_purpose')!r} again")
        for finding in _drain(c["sqs"], queue):
            print(f"   [{finding['severity']:<6}] {finding['kind']:<30} {finding['title']}")

        # The deletion state machine, as synthesized, with its step Lambda running the real handler here.
        role = c["iam"].create_role(RoleName="retirement", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("README", "runs in-process")
        steps = c["lambda"].create_function(
            FunctionName="retirement-steps",
            Runtime="python3.11",
            Role=role,
            Handler="mlgov_runtime.retirement.handler.step",
            Code={"ZipFile": archive.getvalue()},
            Environment={"Variables": function_env},
        )["FunctionArn"]

        def no_hour_long_waits(definition: dict[str, Any]) -> None:
            definition["States"]["WaitAnHour"]["Seconds"] = 0

        definition = executable_definition(template, MACHINE, {"RetirementSteps": steps}, change=no_hour_long_waits)
        machine = c["stepfunctions"].create_state_machine(name="retirement", roleArn=role, definition=definition)[
            "stateMachineArn"
        ]
        sfn = c["stepfunctions"]

        def request(name: str) -> tuple[str, str]:
            code, out = _cli(
                "retire", "request", "--endpoint", name, "--state-machine-arn", machine, "--format", "json"
            )
            assert code == 0, out
            execution = json.loads(out)["execution_arn"]
            wait_for(sfn, execution, lambda h: any(e["type"] == "TaskSubmitted" for e in h))
            token = next(
                f["evidence"]["retiring"]["request"]["token"]
                for f in reversed(_drain(c["sqs"], queue))
                if f["kind"] == "ENDPOINT_RETIRING" and f["evidence"]["retiring"].get("request")
            )
            return execution, token

        def approve(token: str, execution: str) -> tuple[str, str, list[float]]:
            """Approve, wait for the end; the step Lambda's output (its EMF metrics) is kept off the screen."""
            worker = io.StringIO()
            with contextlib.redirect_stdout(worker):
                _cli("retire", "approve", "--token", token)
                history = wait_for(sfn, execution, lambda h: False)
            path = " > ".join(entered(history)[2:])
            return path, sfn.describe_execution(executionArn=execution)["status"], _emf(worker.getvalue())

        with lambdas_in_process():
            print(f"\n   deletion 1: {RETURNING} (no calls for 36 h), requested")
            execution, token = _quiet(request, RETURNING)
            print(f"   mlgov retire request --endpoint {RETURNING}: waits for approval; the finding carries the token")
            put_invocations(c["cloudwatch"], RETURNING, 3, datetime.now(UTC) - timedelta(minutes=2))
            print("   ... while the request waits, a cached mobile client calls it 3 times")
            path, status, metric = approve(token, execution)
            print(f"   mlgov retire approve --token ... -> {path}: {status}")
            there = RETURNING in _endpoints(c["sagemaker"])
            print(f"   metric SafetyAbortEndpointDeletion = {_values(metric)}; endpoint still there: {there}")
            for finding in _drain(c["sqs"], queue):
                if finding["kind"] == "SAFETY_ABORT_ENDPOINT_DELETION":
                    print(f"   [{finding['severity']:<6}] {finding['kind']:<30} {finding['title']}")

            print(f"\n   deletion 2: {IDLE} (no calls for 30 h), requested")
            execution, token = _quiet(request, IDLE)
            print(f"   mlgov retire request --endpoint {IDLE}: waits for approval; the finding carries the token")
            path, status, metric = approve(token, execution)
            print(f"   mlgov retire approve --token ... -> {path}: {status}")
            config_kept = bool(c["sagemaker"].describe_endpoint_config(EndpointConfigName=f"{IDLE}-config")) and bool(
                c["sagemaker"].describe_model(ModelName="manga-rec-retire-v1")
            )
            there = IDLE in _endpoints(c["sagemaker"])
            print(
                f"   metric SafetyAbortEndpointDeletion = {_values(metric)}; endpoint still there: {there}; "
                f"its config and model kept: {config_kept}"
            )
            for finding in _drain(c["sqs"], queue):
                if finding["status"] == "RESOLVED" and finding["kind"] == "ENDPOINT_RETIRING":
                    print(f"   [{finding['severity']:<6}] {finding['kind']:<30} {finding['title']}")
                    print(f"            wasted since v2 was approved: ${finding['evidence']['wasted_usd']:,.2f}")

        print("\n   an hour later an old app version still calls it (follow-up 4: the hourly watch)")
        put_client_errors(c["cloudwatch"], IDLE, 38, datetime.now(UTC) - timedelta(minutes=2))
        state = {
            "endpoint_name": IDLE,
            "deletion": {
                "endpoint_config_name": f"{IDLE}-config",
                "watch": {"remaining": 71, "since": (datetime.now(UTC) - timedelta(hours=1)).isoformat()},
            },
        }
        _quiet(handler.step, {"step": "watch", "state": state}, FakeContext())
        for finding in _drain(c["sqs"], queue):
            print(f"   [{finding['severity']:<6}] {finding['kind']:<30} {finding['title']}")
            print(f"            {finding['detail'].split('. ', 2)[-1]}")
        t = settings.thresholds
        print(
            f"\n   cost anomaly alerts (in the stack; moto has no Cost Explorer): impact >= ${t.cost_anomaly_usd:g} "
            f"and >= {settings.retirement.cost_anomaly_pct:g}% -> ops topic"
        )
    env.reset_all()
    aws.context_for.cache_clear()


def _emf(stdout: str, name: str = "SafetyAbortEndpointDeletion") -> list[float]:
    values: list[float] = []
    for line in stdout.splitlines():
        with contextlib.suppress(ValueError):
            blob = json.loads(line)
            if isinstance(blob, dict) and "_aws" in blob and name in blob:
                value = blob[name]
                values += [float(v) for v in (value if isinstance(value, list) else [value])]
    return values


def _values(values: list[float]) -> str:
    return ", ".join(f"{v:g}" for v in values) or "none"


def _endpoints(sm: Any) -> set[str]:
    return {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]}
