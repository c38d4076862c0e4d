"""A new user's shell: the `mlgov` command run as a process from a directory outside the checkout (no
cdk.json, no stacks/), its AWS calls sent to moto in server mode (AWS_ENDPOINT_URL), as the README has
people run it. One seeded estate for the session (the demo's) and one empty account (nothing deployed)."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from mlgov.sandbox import moto_server

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass
class Shell:
    """`mlgov ...` typed by a user whose credentials point at one emulator."""

    url: str
    home: Path
    candidate: str = ""  # a challenger candidate the pipeline registered (shadow_ctr_eligible=true)

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'lambdas'}",  # this checkout's code, run from elsewhere
            "AWS_ENDPOINT_URL": self.url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": str(self.home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.home / "no-aws-credentials"),
            **extra,
        }

    def run(self, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlgov.cli", *argv],
            cwd=self.home,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def client(self, service: str) -> Any:
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        return session.client(service, endpoint_url=self.url)  # type: ignore[call-overload]


def refusal(done: subprocess.CompletedProcess[str]) -> str:
    """The one stderr line of a refusal (exit 2), checked to be only that: no traceback, one line."""
    assert "Traceback" not in done.stderr and "unexpected failure" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlgov: error: "), done.stderr
    return lines[0]


@pytest.fixture(scope="session")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shell]:
    """The demo's estate: lineage, retirement, catalog, governance table and topic, a challenger candidate."""
    from mlgov.catalog_estate import catalog_items, create_catalog, create_snapshot_bucket, put_old_snapshot
    from mlgov.challenger_estate import register_candidate
    from mlgov.estate import create_governance_resources, seed_estate
    from mlgov.retirement_estate import seed_retirement_estate

    home = tmp_path_factory.mktemp("new-user")
    with moto_server(timeout=120) as server:
        shell = Shell(server.url, home)
        seed_estate(shell.client("sagemaker"), ACCOUNT, REGION)
        seed_retirement_estate(
            shell.client("sagemaker"), shell.client("cloudwatch"), ACCOUNT, REGION, datetime.now(UTC)
        )
        items = catalog_items()
        create_catalog(shell.client("dynamodb"), items)
        create_snapshot_bucket(shell.client("s3"), REGION)
        put_old_snapshot(shell.client("s3"), items)
        create_governance_resources(shell.client("dynamodb"), shell.client("sns"), shell.client("sqs"))
        shell.candidate = register_candidate(shell.client("sagemaker"), REGION)
        yield shell


@pytest.fixture(scope="session")
def nothing_deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shell]:
    with moto_server(timeout=120) as server:
        yield Shell(server.url, tmp_path_factory.mktemp("new-user-empty"))


@contextlib.contextmanager
def refusing(upstream: str, operation: str, code: str = "AccessDeniedException") -> Iterator[str]:
    """A proxy in front of the emulator that answers one JSON-protocol operation (X-Amz-Target, e.g.
    `SageMaker.DescribeEndpointConfig`) with `code` and forwards everything else: what a role without that
    permission meets. Yields its URL (for AWS_ENDPOINT_URL)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.headers.get("X-Amz-Target") == operation:
                refusal = json.dumps({"__type": code, "message": f"not authorized to perform {operation}"}).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(refusal)))
                self.end_headers()
                self.wfile.write(refusal)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            request = urllib.request.Request(
                upstream + self.path, data=body or None, method=self.command, headers=headers
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    status, data, answered = answer.status, answer.read(), answer.headers
            except urllib.error.HTTPError as error:
                status, data, answered = error.code, error.read(), error.headers
            self.send_response(status)
            for key, value in answered.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def answering_ok() -> Iterator[str]:
    """The URL of a local service that answers every POST 200 "ok": not the approval service."""

    class Other(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
