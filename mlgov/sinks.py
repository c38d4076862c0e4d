"""Small local HTTP servers that behave like Slack's incoming webhook and Jira's REST API v3.

They record every request and can be told to answer 500, 429 with Retry-After, or hang.
Used by the tests and the sandbox; they bind 127.0.0.1 only.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Fault:
    status: int = 500
    retry_after: str | None = None
    hang_seconds: float = 0.0


@dataclass
class Sink:
    requests: list[Recorded] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: dict[str, list[Any]] = field(default_factory=dict)
    url: str = ""
    server: ThreadingHTTPServer | None = None

    def fail_next(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def close(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler_for(sink: Sink, kind: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            return

        def _answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
            data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                body = raw.decode("utf-8", "replace")
            sink.requests.append(Recorded("POST", self.path, dict(self.headers), body))
            if sink.faults:
                fault = sink.faults.popleft()
                if fault.hang_seconds:
                    time.sleep(fault.hang_seconds)
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                self._answer(fault.status, {"error": "injected"}, headers)
                return
            if kind == "slack":
                self._answer(200, b"ok")
            else:
                self._jira(body)

        def _jira(self, body: Any) -> None:
            if self.path == "/rest/api/3/search/jql":
                label = re.search(r'labels = "([^"]+)"', body.get("jql", ""))
                hits = [
                    {"key": key}
                    for key, issue in sink.issues.items()
                    if label and label.group(1) in issue["fields"]["labels"] and issue["status"] != "Done"
                ]
                self._answer(200, {"issues": hits[: body.get("maxResults", 50)]})
            elif self.path == "/rest/api/3/issue":
                key = f"{body['fields']['project']['key']}-{len(sink.issues) + 1}"
                sink.issues[key] = {"fields": body["fields"], "status": "To Do"}
                self._answer(201, {"id": str(len(sink.issues)), "key": key})
            elif (m := re.fullmatch(r"/rest/api/3/issue/([A-Z0-9]+-\d+)/transitions", self.path)) and (
                m.group(1) in sink.issues
            ):
                sink.issues[m.group(1)]["status"] = "Done"
                self._answer(204)
            elif m := re.fullmatch(r"/rest/api/3/issue/([A-Z0-9]+-\d+)/comment", self.path):
                sink.comments.setdefault(m.group(1), []).append(body)
                self._answer(201, {"id": "1"})
            else:
                self._answer(404, {"errorMessages": [f"no route {self.path}"]})

    return Handler


def start_sink(kind: str) -> Sink:
    """kind: 'slack' or 'jira'. Serves on a free 127.0.0.1 port in a daemon thread."""
    sink = Sink()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(sink, kind))
    server.daemon_threads = True
    sink.server = server
    sink.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return sink
