"""The approval service in the sandbox and tests: its table, the two function URLs on 127.0.0.1 (IAM-signed
for the CLI, Slack-signed for buttons) running the real handlers, and a Slack button press signed as Slack
would sign it."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mlgov.estate import create_table
from mlgov.function_url import FunctionUrl, serve

TABLE = "mlgov-approvals"


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


@contextlib.contextmanager
def approval_urls(identities: Mapping[str, tuple[str, str]]) -> Iterator[ApprovalUrls]:
    """Both function URLs; `identities` maps access key id -> (secret, principal ARN) for SigV4."""
    from mlgov_runtime.approvals import handler

    with serve(handler.handler, _Context(), identities) as iam, serve(handler.slack, _Context()) as slack:
        yield ApprovalUrls(iam, slack)


def button_press(user_id: str, request_id: str, approve: bool, response_url: str) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower()},
        "response_url": response_url,
        "actions": [{"action_id": "mlgov_approve" if approve else "mlgov_deny", "value": request_id}],
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
