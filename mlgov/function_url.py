"""A Lambda function URL on 127.0.0.1 for the sandbox and tests: requests reach the real handler in this
process, shaped as Lambda's function URL events. With `identities` it plays AWS_IAM auth: the SigV4
signature is verified (secret looked up by access key id, five minutes' clock skew) and the principal is
put in requestContext.authorizer.iam, as Lambda does; an unsigned or badly signed request gets 403 and
never reaches the handler. Without `identities` it plays auth type NONE (Slack's endpoint)."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<day>\d{8})/(?P<region>[\w-]+)/lambda/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


@dataclass
class FunctionUrl:
    url: str
    refused: list[str] = field(default_factory=list)  # why requests never reached the handler
    events: list[dict[str, Any]] = field(default_factory=list)


def _verify(
    headers: Mapping[str, str],
    method: str,
    url: str,
    body: bytes,
    identities: Mapping[str, tuple[str, str]],
    now: float,
) -> tuple[str | None, str]:
    """(principal ARN, "") when the SigV4 signature holds; (None, why) otherwise."""
    import hmac

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    lower = {k.lower(): v for k, v in headers.items()}
    match = AUTH.fullmatch(lower.get("authorization", ""))
    if not match:
        return None, "unsigned"
    if match["key"] not in identities:
        return None, f"unknown access key {match['key']}"
    amz_date = lower.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None, "no X-Amz-Date"
    if abs(now - signed_at) > 300:
        return None, "signature expired"
    secret, principal = identities[match["key"]]
    signed = match["signed"].split(";")
    if "host" not in signed or any(h not in lower for h in signed):
        return None, "signed headers missing"
    request = AWSRequest(method=method, url=url, data=body, headers={h: lower[h] for h in signed})
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(match["key"], secret, lower.get("x-amz-security-token")), "lambda", match["region"])
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, match["signature"]):
        return None, "signature mismatch"
    return principal, ""


@contextlib.contextmanager
def serve(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    context: Any,
    identities: Mapping[str, tuple[str, str]] | None = None,
    clock: Callable[[], float] = time.time,
) -> Iterator[FunctionUrl]:
    served = FunctionUrl(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items()}
            request_context: dict[str, Any] = {"http": {"method": "POST", "path": self.path}}
            if identities is not None:
                principal, why = _verify(headers, "POST", served.url.rstrip("/") + self.path, body, identities, clock())
                if principal is None:
                    served.refused.append(why)
                    self._reply(403, json.dumps({"Message": "Forbidden"}).encode())
                    return
                request_context["authorizer"] = {"iam": {"userArn": principal, "accessKey": "(verified)"}}
            event = {
                "version": "2.0",
                "rawPath": self.path,
                "headers": {k.lower(): v for k, v in headers.items()},
                "requestContext": request_context,
                "body": base64.b64encode(body).decode(),
                "isBase64Encoded": True,
            }
            served.events.append(event)
            answer = handler(event, context)
            self._reply(int(answer.get("statusCode", 200)), str(answer.get("body") or "").encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
