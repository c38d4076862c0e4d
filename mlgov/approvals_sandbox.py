"""The approval service in the sandbox and tests: its table, the two function URLs on 127.0.0.1 (IAM-signed
for the CLI, Slack-signed for buttons) running the real handlers, the worker the Slack function hands presses
to (a Lambda function in the emulator, run in this process), and a Slack button press signed as Slack would
sign it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mlgov.estate import create_table
from mlgov.function_url import FunctionUrl, serve

TABLE = "mlgov-approvals"
PRESS_WORKER = "mlgov-approvals-press-worker"


def create_approvals_table(ddb: Any, name: str = TABLE) -> str:
    create_table(ddb, name, "request_id")
    return name


@dataclass
class ApprovalUrls:
    iam: FunctionUrl
    slack: FunctionUrl


class _Context:
    function_name = "approvals"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:approvals"
    memory_limit_in_mb = 256
    aws_request_id = "sandbox"


def service_context() -> Any:
    """The Lambda context the sandbox's approval service runs with (its function: serve_service_at)."""
    return _Context()


def _function(name: str, handler: str, region: str | None = None) -> str:
    """Inside mock_aws: a Lambda function `name` (created once) whose code is not in the emulator: its handler
    runs in this process. Returns its ARN."""
    import boto3

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    iam, lam = boto3.client("iam", region_name=region), boto3.client("lambda", region_name=region)
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("README", "the handler runs in-process (mlgov.emulator_sfn)")
    with contextlib.suppress(lam.exceptions.ResourceConflictException):
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=iam.get_role(RoleName=name)["Role"]["Arn"],
            Handler=handler,
            Code={"ZipFile": archive.getvalue()},
        )
    return str(lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"])


def serve_service_at(url: str, context: Any, region: str | None = None) -> str:
    """Inside mock_aws: the approval service's function (named by the Lambda context its handler is given) with
    its function URL at `url`: Lambda answers it `url` as its own URL (GetFunctionUrlConfig), the audience
    every identity proof must name. A new deployment, so the service's cached URL is dropped. Returns its ARN."""
    from mlgov.emulator import serve_function_url_at
    from mlgov_runtime.approvals import handler

    arn = _function(context.function_name, "mlgov_runtime.approvals.handler.handler", region)
    serve_function_url_at(arn, url)
    handler._own_url.clear()
    return arn


def create_press_worker(region: str | None = None) -> str:
    """Inside mock_aws with Docker-less Lambda and mlgov.emulator_sfn.lambdas_in_process: the worker the Slack
    function hands presses to (asynchronous invoke), run here with this process's environment (the stack gives
    both functions the same); SLACK_WORKER_FUNCTION_NAME names it. Returns its name."""
    from mlgov_runtime.approvals.settings import SLACK_WORKER_FUNCTION
    from mlgov_runtime.core import env

    _function(PRESS_WORKER, "mlgov_runtime.approvals.handler.slack_worker", region)
    os.environ[SLACK_WORKER_FUNCTION] = PRESS_WORKER
    env.reset_all()
    return PRESS_WORKER


@contextlib.contextmanager
def in_process_press_worker() -> Iterator[str]:
    """create_press_worker inside a mock_aws started without Docker-less Lambda: Lambda's invoke runs the worker
    here for this block."""
    from unittest import mock

    from moto.core.models import default_user_config

    from mlgov.emulator_sfn import lambdas_in_process
    from mlgov_runtime.approvals.settings import SLACK_WORKER_FUNCTION

    saved = os.environ.get(SLACK_WORKER_FUNCTION)
    with mock.patch.dict(default_user_config, {"lambda": {"use_docker": False}}), lambdas_in_process():
        try:
            yield create_press_worker()
        finally:
            os.environ.pop(SLACK_WORKER_FUNCTION, None)
            if saved is not None:
                os.environ[SLACK_WORKER_FUNCTION] = saved


@contextlib.contextmanager
def approval_urls(identities: Mapping[str, tuple[str, str]]) -> Iterator[ApprovalUrls]:
    """Both function URLs; `identities` maps access key id -> (secret, principal ARN) for SigV4. Inside
    lambdas_in_process: the Slack URL hands presses to the worker (create_press_worker), run in this process."""
    from mlgov_runtime.approvals import handler
    from mlgov_runtime.approvals.settings import SLACK_WORKER_FUNCTION

    create_press_worker()
    try:
        with serve(handler.handler, _Context(), identities) as iam, serve(handler.slack, _Context()) as slack:
            serve_service_at(iam.url, _Context())  # the URL the service checks each proof's audience against
            yield ApprovalUrls(iam, slack)
    finally:
        os.environ.pop(SLACK_WORKER_FUNCTION, None)


def retiring_message(endpoint: str, request_id: str, account: str = "123456789012") -> dict[str, Any]:
    """The notifier's Slack message for the ENDPOINT_RETIRING finding of a pending deletion request."""
    from mlgov_runtime.notifier.messages import slack_message

    return slack_message(
        {
            "finding_id": f"ENDPOINT_RETIRING#{account}#us-east-1#{endpoint}",
            "kind": "ENDPOINT_RETIRING",
            "severity": "MEDIUM",
            "status": "OPEN",
            "source": "pipeline",
            "detected_at": "2026-12-07T10:00:00Z",
            "account_id": account,
            "region": "us-east-1",
            "resource_arn": f"arn:aws:sagemaker:us-east-1:{account}:endpoint/{endpoint}",
            "title": f"Retirement requested: {endpoint}",
            "detail": "Deletion requested.",
            "evidence": {"approval_request": {"request_id": request_id}},
        }
    )


def button_press(
    user_id: str,
    request_id: str,
    approve: bool,
    response_url: str,
    message: dict[str, Any] | None = None,
    endpoint: str = "manga-recommender-v1-ab",
) -> bytes:
    """A press as Slack sends it: with the message the button sat in (by default the notifier's message about the
    retirement of `endpoint`) and the presser's team."""
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower()},
        "team": {"id": "T0001", "domain": "sandbox"},
        "response_url": response_url,
        "actions": [{"action_id": "mlgov_approve" if approve else "mlgov_deny", "value": request_id}],
        "message": message if message is not None else retiring_message(endpoint, request_id),
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def post(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read() or b"{}")


def slack_post(url: str, body: bytes, secret: str | None, signed_at: float | None = None) -> tuple[int, dict[str, Any]]:
    """As Slack sends it: form-encoded, signed with the app's signing secret (unsigned when secret is None)."""
    from mlgov_runtime.approvals.slack import sign

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if secret is not None:
        stamp = str(int(time.time() if signed_at is None else signed_at))
        headers.update({"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sign(secret, stamp, body)})
    return post(url, body, headers)
