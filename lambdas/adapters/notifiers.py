"""Slack incoming webhooks and Jira REST API v3 over real HTTP."""

from __future__ import annotations

import base64
import urllib.parse
from dataclasses import dataclass
from typing import Any

from adapters.http import HttpClient
from governance.notify import finding_label, jira_comment, jira_issue, slack_message


@dataclass
class SlackWebhook:
    url: str
    http: HttpClient

    def send(self, finding: dict[str, Any]) -> str:
        self.http.request("POST", self.url, slack_message(finding))
        return "posted"


@dataclass
class JiraProject:
    base_url: str
    user: str
    token: str
    project_key: str
    http: HttpClient
    issue_type: str = "Task"

    def _headers(self) -> dict[str, str]:
        basic = base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}

    def _url(self, path: str) -> str:
        return urllib.parse.urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/"))

    def find_open_issue(self, finding_id: str) -> str | None:
        jql = f'project = "{self.project_key}" AND labels = "{finding_label(finding_id)}" AND statusCategory != Done'
        answer = (
            self.http.request(
                "POST",
                self._url("/rest/api/3/search/jql"),
                {"jql": jql, "fields": ["key"], "maxResults": 1},
                self._headers(),
            ).json()
            or {}
        )
        issues = answer.get("issues") or []
        return str(issues[0]["key"]) if issues else None

    def send(self, finding: dict[str, Any]) -> str:
        """Create the finding's issue, or comment on the open one: never two issues for one finding_id."""
        key = self.find_open_issue(finding["finding_id"])
        if key:
            self.http.request(
                "POST", self._url(f"/rest/api/3/issue/{key}/comment"), jira_comment(finding), self._headers()
            )
            return f"commented {key}"
        if finding.get("status") == "RESOLVED":
            return "no open issue to resolve"
        created = self.http.request(
            "POST",
            self._url("/rest/api/3/issue"),
            jira_issue(finding, self.project_key, self.issue_type),
            self._headers(),
        ).json()
        return f"created {created['key']}"
