"""Small local HTTP servers that behave like Slack's incoming webhook and Jira's REST API v3.

They enforce the receivers' documented limits and answer 400 the way the real services do:
Slack (plain-text body `invalid_blocks`): a header over 150 characters, a section text over 3,000,
a section field over 2,000 or more than 10 fields, more than 50 blocks; `no_text` without text or
blocks. Jira (JSON `errors` by field): a summary over 255 characters or with a line break, a
description or comment over 32,767 characters, a label with a space, an unknown project (also in
JQL), a document that is not valid ADF; Jira also answers GET issue/{key} (404 for an unknown key).
They record every request and can be told to answer 500,
429 with Retry-After, or hang. Used by the tests and the sandbox; they bind 127.0.0.1 only.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLACK_HEADER_MAX = 150
SLACK_SECTION_MAX = 3000
SLACK_FIELD_MAX = 2000
SLACK_FIELDS_MAX = 10
SLACK_BLOCKS_MAX = 50
JIRA_SUMMARY_MAX = 255
JIRA_TEXT_MAX = 32_767
JIRA_TOO_LONG = "The entered text is too long. It exceeds the allowed limit of 32,767 characters."


def _units(text: str) -> int:
    """Characters as Java (Jira) counts them: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    accepted: bool = False  # Slack: answered 200


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
    rejected: list[tuple[int, Any]] = field(default_factory=list)  # (status, what it answered)
    projects: set[str] | None = None  # Jira: the project keys that exist; None: any
    moved: dict[str, str] = field(default_factory=dict)  # Jira: an issue's old key -> its key now
    url: str = ""
    server: ThreadingHTTPServer | None = None

    def fail_next(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def move(self, key: str, project: str) -> str:
        """Jira's move of an issue to another project: a new key, the labels kept, the old key still leading to it."""
        new = f"{project}-{len(self.issues) + len(self.moved) + 1}"
        issue = self.issues.pop(key)
        self.issues[new] = {**issue, "fields": {**issue["fields"], "project": {"key": project}}}
        self.moved = {old: (new if now == key else now) for old, now in self.moved.items()} | {key: new}
        return new

    def key_now(self, key: str) -> str:
        return self.moved.get(key, key)

    @property
    def delivered(self) -> list[Recorded]:
        """Slack: the messages it accepted (requests less faults and refusals)."""
        return [r for r in self.requests if r.accepted]

    def close(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def slack_problem(body: Any) -> str | None:
    """Why Slack would refuse this webhook payload, or None."""
    if not isinstance(body, dict):
        return "invalid_payload"
    blocks = body.get("blocks")
    if not body.get("text") and not blocks:
        return "no_text"
    if blocks is None:
        return None
    if not isinstance(blocks, list) or len(blocks) > SLACK_BLOCKS_MAX:
        return "invalid_blocks"
    for block in blocks:
        if not isinstance(block, dict):
            return "invalid_blocks"
        text = block.get("text")
        if block.get("type") == "header":
            if not isinstance(text, dict) or text.get("type") != "plain_text":
                return "invalid_blocks"
            if not isinstance(text.get("text"), str) or not 1 <= len(text["text"]) <= SLACK_HEADER_MAX:
                return "invalid_blocks"
        elif block.get("type") == "section":
            fields = block.get("fields") or []
            if text is None and not fields:
                return "invalid_blocks"
            if text is not None and (not isinstance(text, dict) or not _slack_text_ok(text, SLACK_SECTION_MAX)):
                return "invalid_blocks"
            if not isinstance(fields, list) or len(fields) > SLACK_FIELDS_MAX:
                return "invalid_blocks"
            if not all(isinstance(f, dict) and _slack_text_ok(f, SLACK_FIELD_MAX) for f in fields):
                return "invalid_blocks"
        elif block.get("type") == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                return "invalid_blocks"
            if not all(isinstance(e, dict) and _slack_text_ok(e, SLACK_SECTION_MAX) for e in elements):
                return "invalid_blocks"
    return None


def _slack_text_ok(text: dict[str, Any], limit: int) -> bool:
    value = text.get("text")
    return text.get("type") in ("plain_text", "mrkdwn") and isinstance(value, str) and 1 <= len(value) <= limit


def adf_characters(doc: Any) -> int | None:
    """Characters of an ADF document as Jira stores it (text, plus one per line break and block),
    or None when it is not a valid document."""
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return None
    total = 0

    def walk(node: Any) -> bool:
        nonlocal total
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            return False
        if node["type"] == "text":
            text = node.get("text")
            if not isinstance(text, str) or not text:
                return False
            total += _units(text)
            return True
        total += 1  # a paragraph, code block or hard break is a line break where Jira stores it
        children = node.get("content", [])
        return isinstance(children, list) and all(walk(child) for child in children)

    content = doc.get("content")
    if not isinstance(content, list) or not all(walk(node) for node in content):
        return None
    return total


def jira_issue_problem(body: Any, projects: set[str] | None) -> dict[str, Any] | None:
    """Jira's 400 answer to this create-issue body, or None."""
    fields = body.get("fields") if isinstance(body, dict) else None
    if not isinstance(fields, dict):
        return {"errorMessages": ["Can not deserialize instance of fields"], "errors": {}}
    errors: dict[str, str] = {}
    project = (fields.get("project") or {}).get("key") if isinstance(fields.get("project"), dict) else None
    if not isinstance(project, str) or (projects is not None and project not in projects):
        errors["project"] = "Specify a valid project ID or key"
    summary = fields.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors["summary"] = "You must specify a summary of the issue."
    elif _units(summary) > JIRA_SUMMARY_MAX:
        errors["summary"] = "Summary must be less than 255 characters."
    elif "\n" in summary or "\r" in summary:
        errors["summary"] = "The summary is invalid because it contains newline characters."
    issue_type = fields.get("issuetype")
    if not isinstance(issue_type, dict) or not str(issue_type.get("name", "")).strip():
        errors["issuetype"] = "Specify an issue type"
    labels = fields.get("labels", [])
    for label in labels if isinstance(labels, list) else [labels]:
        if not isinstance(label, str) or not label or " " in label:
            errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        elif _units(label) > 255:
            errors["labels"] = "The label must not exceed 255 characters."
    if "description" in fields:
        chars = adf_characters(fields["description"])
        if chars is None:
            errors["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
        elif chars > JIRA_TEXT_MAX:
            errors["description"] = JIRA_TOO_LONG
    return {"errorMessages": [], "errors": errors} if errors else None


def _handler_for(sink: Sink, kind: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            return

        def _answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
            data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
            if status >= 400 and status not in (429, 500, 502, 503, 504):
                sink.rejected.append((status, body))
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            try:
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout) before the answer: a real receiver sees the same

        def _faulted(self, recorded: Recorded) -> bool:
            """Record the request; answer it with the next injected fault, if any."""
            sink.requests.append(recorded)
            if not sink.faults:
                return False
            fault = sink.faults.popleft()
            if fault.hang_seconds:
                time.sleep(fault.hang_seconds)
            recorded.accepted = 200 <= fault.status < 300  # a slow success still posts
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._answer(fault.status, {"error": "injected"}, headers)
            return True

        def do_GET(self) -> None:
            if self._faulted(Recorded("GET", self.path, dict(self.headers), None)):
                return
            url = urllib.parse.urlsplit(self.path)
            found = re.fullmatch(r"/rest/api/[23]/issue/([A-Z][A-Z0-9]*-\d+)", url.path)
            if kind != "jira" or not found or sink.key_now(found.group(1)) not in sink.issues:
                # Jira's answer for an issue that does not exist or that the caller may not see.
                message = "Issue does not exist or you do not have permission to see it."
                self._answer(404, {"errorMessages": [message], "errors": {}})
                return
            key = sink.key_now(found.group(1))
            issue = sink.issues[key]
            fields = {**issue["fields"], "status": {"name": issue["status"]}}
            asked = urllib.parse.parse_qs(url.query).get("fields")
            if asked:
                wanted = {f for value in asked for f in value.split(",")}
                fields = {k: v for k, v in fields.items() if k in wanted}
            self._answer(200, {"key": key, "fields": fields})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = raw.decode("utf-8", "replace")
            recorded = Recorded("POST", self.path, dict(self.headers), body)
            if self._faulted(recorded):
                return
            if kind == "slack":
                problem = slack_problem(body)
                if problem:
                    self._answer(400, problem.encode())
                    return
                recorded.accepted = True
                self._answer(200, b"ok")
            else:
                self._jira(body)

        def _jira(self, body: Any) -> None:
            if not isinstance(body, dict):
                self._answer(400, {"errorMessages": ["Unexpected character in the request body"], "errors": {}})
            elif self.path == "/rest/api/3/search/jql":
                jql = str(body.get("jql", ""))
                project = re.search(r'project = "([^"]*)"', jql)
                if project and sink.projects is not None and project.group(1) not in sink.projects:
                    message = f"The value '{project.group(1)}' does not exist for the field 'project'."
                    self._answer(400, {"errorMessages": [message], "warningMessages": []})
                    return
                label = re.search(r'labels = "([^"]+)"', jql)
                hits = [
                    {"key": key}
                    for key, issue in sink.issues.items()
                    if label
                    and label.group(1) in issue["fields"]["labels"]
                    and issue["status"] != "Done"
                    and (not project or key.startswith(project.group(1) + "-"))
                ]
                self._answer(200, {"issues": hits[: body.get("maxResults", 50)]})
            elif self.path == "/rest/api/3/issue":
                problem = jira_issue_problem(body, sink.projects)
                if problem:
                    self._answer(400, problem)
                    return
                key = f"{body['fields']['project']['key']}-{len(sink.issues) + len(sink.moved) + 1}"
                sink.issues[key] = {"fields": body["fields"], "status": "To Do"}
                self._answer(201, {"id": str(len(sink.issues)), "key": key})
            elif (m := re.fullmatch(r"/rest/api/3/issue/([A-Z0-9]+-\d+)/transitions", self.path)) and (
                sink.key_now(m.group(1)) in sink.issues
            ):
                sink.issues[sink.key_now(m.group(1))]["status"] = "Done"
                self._answer(204)
            elif m := re.fullmatch(r"/rest/api/3/issue/([A-Z0-9]+-\d+)/comment", self.path):
                chars = adf_characters(body.get("body"))
                if chars is None or chars > JIRA_TEXT_MAX:
                    why = JIRA_TOO_LONG if chars else "Comment body is not a valid Atlassian Document"
                    self._answer(400, {"errorMessages": [], "errors": {"comment": why}})
                    return
                sink.comments.setdefault(sink.key_now(m.group(1)), []).append(body)
                self._answer(201, {"id": "1"})
            else:
                self._answer(404, {"errorMessages": [f"no route {self.path}"]})

    return Handler


def start_sink(kind: str, projects: set[str] | None = None) -> Sink:
    """kind: 'slack' or 'jira'. Serves on a free 127.0.0.1 port in a daemon thread."""
    sink = Sink(projects=projects)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(sink, kind))
    server.daemon_threads = True
    sink.server = server
    sink.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return sink
