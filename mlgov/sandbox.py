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
    """moto in server mode on 127.0.0.1, with mlgov.emulator's extensions; always stopped, even on Ctrl-C."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlgov.emulator", "-H", "127.0.0.1", "-p", str(port)],
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


def emf_values(stdout: str, name: str) -> list[float]:
    """Every value the handlers emitted for one EMF metric (Powertools prints EMF as JSON lines)."""
    values: list[float] = []
    for line in stdout.splitlines():
        with contextlib.suppress(ValueError):
            blob = json.loads(line)
            if isinstance(blob, dict) and "_aws" in blob and name in blob:
                value = blob[name]
                values += [float(v) for v in (value if isinstance(value, list) else [value])]
    return values


def emf_metric(stdout: str, name: str) -> float | None:
    """The first value the handler emitted for one EMF metric; None when it emitted none."""
    values = emf_values(stdout, name)
    return values[0] if values else None


def function_settings(
    context: dict[str, Any], names: tuple[str, ...] = ("lineage_audit", "capacity")
) -> dict[str, str]:
    """The settings variables these capabilities' functions receive, from a cdk.json `mlgov` context."""
    from mlgov.settings import parse_settings, received_model
    from mlgov_runtime.core.model import received_environment
    from mlgov_runtime.registry import by_name

    settings = parse_settings(context)
    return {k: v for n in names for k, v in received_environment(settings, received_model(by_name(n))).items()}


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
        **function_settings({"experiment_exemptions": {"account_ids": exempt_accounts.split(",")}}),
        **{k: v for k, v in resources.items() if k != "FINDINGS_QUEUE_URL"},
    }


def show_guardrails() -> None:
    """The preventive side: which SCP statement decides four requests (mlgov guardrails explain)."""
    from mlgov.cli import main as cli

    print("\n== guardrails: mlgov guardrails explain on four requests in a production account")
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
            f"{prod}/mlgov-protected/MlGovDeploymentPipeline",
        ],
        # A forged "Model Package Registered" announcement, which would start a challenger.
        ["--action", "events:PutEvents", "--event-source", "mlgov.retraining", "--principal", f"{prod}/DataScientist"],
    ]
    for request in requests:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            cli(["guardrails", "explain", *request, "--config", str(ROOT / "cdk.json")])
        print("\n".join("   " + line for line in out.getvalue().splitlines()[:2]))


def show_cli(done: subprocess.CompletedProcess[str], meaning: str) -> None:
    print("\n".join("   " + line for line in done.stdout.splitlines()))
    if done.stderr.strip():
        print("   " + done.stderr.strip().replace("\n", "\n   "))
    print(f"   exit code {done.returncode} ({meaning})")


def run_demo() -> int:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    started = time.monotonic()
    import boto3

    from mlgov import capability_modules
    from mlgov.emulator import install
    from mlgov.estate import (
        create_governance_resources,
        seed_estate,
        seed_inference_component_endpoint,
        seed_unpinned_endpoints,
    )
    from mlgov.scenes import Stage

    install()  # scenes that run in-process under mock_aws get the emulator's extensions, as the server has

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
        seed_inference_component_endpoint(sm, estate)
        resources = create_governance_resources(ddb, sns, sqs)
        print(
            f"== seeded {len(estate.expected)} endpoints and {len(estate.packages)} packages in group manga-recommender"
        )
        for name, what in estate.descriptions.items():
            print(f"   {name:<30} {what}")

        stage = Stage(session, server.url, sm, ddb, sqs, estate, resources)
        for scene in capability_modules("mlgov.scenes"):
            scene.play(stage)
        mismatches = stage.mismatches

        # Seeded after the scenes: the versions they register and name keep their numbers.
        unpinned = seed_unpinned_endpoints(sm, estate)
        print("\n== unpinned: two more Approved versions, registered by hand (not with mlgov register), each serving")
        for name in unpinned:
            print(f"   {name:<30} {estate.descriptions[name]}")

        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "cdk.json"
            config.write_text(json.dumps({"context": {"mlgov": {"experiment_exemptions": {"account_ids": [ACCOUNT]}}}}))
            env = {**os.environ, "AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox"}

            def audit(*args: str) -> subprocess.CompletedProcess[str]:
                command = [sys.executable, "-m", "mlgov.cli", "audit", *args, "--endpoint-url", server.url]
                command += ["--region", REGION, "--config", str(config), "--format", "table"]
                return subprocess.run(command, capture_output=True, text=True, env=env, check=False)

            print("\n== mlgov audit --format table (the operator CLI, same audit code)")
            show_cli(audit(), "3 = violations found")
            for name in unpinned:
                print(f"\n== mlgov audit --endpoint {name} --format table (every reason, and what to do next)")
                one = audit("--endpoint", name)
                verdicts = [line.split()[1] for line in one.stdout.splitlines()[1:2] if len(line.split()) > 1]
                if verdicts != [estate.expected[name]]:
                    mismatches += 1
                show_cli(one, "3 = a violation")
    show_guardrails()
    print(f"\n== emulator stopped; demo took {time.monotonic() - started:.1f}s")
    if mismatches:
        print(f"demo: {mismatches} verdicts differ from what the estate expects", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_demo())
