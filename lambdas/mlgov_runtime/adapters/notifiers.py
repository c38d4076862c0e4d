"""Slack incoming webhooks, Jira REST API v3 and the page topic: the notifier's channels."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from mlgov_runtime.adapters.http import DeliveryError, HttpClient
from mlgov_runtime.notifier.messages import finding_label, jira_comment, jira_issue, one_line, slack_message

JIRA_KEY = re.compile(r"^[A-Z][A-Z0-9]+-\d+$")
# In JiraProject's answer when the issue its record named was not the finding's (the notifier counts it).
FOREIGN_ISSUE = "does not carry the finding's label"
# How long after a create that may have been carried out (its answer lost) no second one is sent: Jira's search
# usually shows a new issue within seconds. Under the notifier queue's visibility timeout (12 min), so the queue's
# next delivery searches again and creates only if the issue still does not show.
SEARCH_SETTLE = timedelta(minutes=5)


def create_pending(sent_at: datetime | None, now: datetime) -> bool:
    """Whether a create sent at `sent_at` may not show in Jira's search yet: sent within SEARCH_SETTLE before `now`.
    A time further ahead of `now` than SEARCH_SETTLE is no notifier's (their clocks agree far closer): a corrupted
    marker, read as expired, so it never holds a finding for good."""
    return sent_at is not None and now - SEARCH_SETTLE < sent_at <= now + SEARCH_SETTLE


@dataclass
class SlackWebhooks:
    """One incoming webhook URL per Slack channel name."""

    webhooks: Mapping[str, str]
    http: HttpClient
    findings_table: str | None = None

    def send(self, finding: dict[str, Any], target: str) -> str:
        url = self.webhooks.get(target)
        if not url:
            raise DeliveryError(
                f"no webhook for Slack channel {target} in the notifier secret (slack_webhooks)",
                objection=f"slack_webhooks has no {target}",
            )
        self.http.request("POST", url, slack_message(finding, self.findings_table), idempotent=False)
        return f"posted to {target}"


class IssueKeys(Protocol):
    """Which Jira issue this product created for a finding and has not closed (the notifier's delivery state):
    Jira's search is eventually consistent, so an issue just created may not be found by the next search."""

    def open_issue(self, project: str, finding_id: str) -> str | None: ...

    def remember_issue(self, project: str, finding_id: str, key: str | None) -> None:
        """`key` None: the issue was closed (or a create was refused)."""
        ...

    def create_sent(self, project: str, finding_id: str) -> datetime | None:
        """When a create for the finding was sent whose outcome is unknown (its answer lost), if one was."""
        ...

    def remember_create(self, project: str, finding_id: str, at: datetime) -> bool:
        """Record a create about to be sent, only if no issue is recorded open and no other create was sent
        within SEARCH_SETTLE before `at` (one atomic write): False when another delivery got there first."""
        ...


class MemoryIssueKeys:
    """Issue keys for one process (the CLI, tests); the notifier Lambda keeps them in its state table."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], str] = {}
        self._creates: dict[tuple[str, str], datetime] = {}

    def open_issue(self, project: str, finding_id: str) -> str | None:
        return self._keys.get((project, finding_id))

    def remember_issue(self, project: str, finding_id: str, key: str | None) -> None:
        self._creates.pop((project, finding_id), None)
        if key:
            self._keys[(project, finding_id)] = key
        else:
            self._keys.pop((project, finding_id), None)

    def create_sent(self, project: str, finding_id: str) -> datetime | None:
        return self._creates.get((project, finding_id))

    def remember_create(self, project: str, finding_id: str, at: datetime) -> bool:
        if (project, finding_id) in self._keys or create_pending(self._creates.get((project, finding_id)), at):
            return False
        self._creates[(project, finding_id)] = at
        return True


@dataclass
class JiraProject:
    base_url: str
    user: str
    token: str
    project_key: str
    http: HttpClient
    issue_type: str = "Task"
    resolve_transition_id: str | None = None
    findings_table: str | None = None
    # finding_id -> the stored record's status; a RESOLVED message closes an issue only when they agree,
    # so a forged or stale closing never hides an open violation.
    stored_status: Callable[[str], str | None] | None = None
    issue_keys: IssueKeys = field(default_factory=MemoryIssueKeys)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _auth: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        basic = base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
        self._auth = {"Authorization": f"Basic {basic}"}

    def _url(self, path: str) -> str:
        return urllib.parse.urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/"))

    def _post(self, path: str, body: Any) -> Any:
        return self.http.request("POST", self._url(path), body, self._auth).json()

    def carries_label(self, key: str, finding_id: str) -> bool:
        """Whether issue `key` carries the finding's label (the one the product gave the issue it created): a
        recorded key is believed only then. An issue Jira no longer shows (404) carries nothing."""
        try:
            answer = self.http.request("GET", self._url(f"/rest/api/3/issue/{key}?fields=labels"), None, self._auth)
        except DeliveryError as exc:
            if exc.status == 404:
                return False
            raise
        issue = answer.json()
        fields = issue.get("fields") if isinstance(issue, dict) else None
        labels = fields.get("labels") if isinstance(fields, dict) else None
        return isinstance(labels, list) and finding_label(finding_id) in labels

    def is_done(self, key: str) -> bool:
        """Whether Jira shows issue `key` in the Done status category (read from the issue, not the lagging search)."""
        answer = self.http.request("GET", self._url(f"/rest/api/3/issue/{key}?fields=status"), None, self._auth)
        issue = answer.json()
        fields = issue.get("fields") if isinstance(issue, dict) else None
        status = fields.get("status") if isinstance(fields, dict) else None
        category = status.get("statusCategory") if isinstance(status, dict) else None
        return isinstance(category, dict) and category.get("key") == "done"

    def find_open_issue(self, finding_id: str) -> str | None:
        """Look-up by the finding's label, never by summary text."""
        jql = f'project = "{self.project_key}" AND labels = "{finding_label(finding_id)}" AND statusCategory != Done'
        answer = self._post("/rest/api/3/search/jql", {"jql": jql, "fields": ["key"], "maxResults": 1})
        issues = answer.get("issues") if isinstance(answer, dict) else None
        first = issues[0] if isinstance(issues, list) and issues else None
        key = str(first.get("key", "")) if isinstance(first, dict) else ""
        return key if JIRA_KEY.match(key) else None

    def send(self, finding: dict[str, Any], target: str | None = None) -> str:
        """Create the finding's issue, or comment on the open one: never two issues for one finding_id.
        The issue is the one recorded when it was created, once Jira shows it carries the finding's label, else
        the one the label search finds (why both, and a record set aside: docs/notifications.md, Jira)."""
        finding_id = finding["finding_id"]
        key = self.issue_keys.open_issue(self.project_key, finding_id)
        foreign = None
        if key and not (JIRA_KEY.match(key) and self.carries_label(key, finding_id)):
            foreign, key = key, None
            self.issue_keys.remember_issue(self.project_key, finding_id, None)
        if not key:
            key = self.find_open_issue(finding_id)
            if key:
                self.issue_keys.remember_issue(self.project_key, finding_id, key)
        outcome = self._deliver(finding, key)
        if foreign:
            return f"recorded issue {foreign} {FOREIGN_ISSUE}, left untouched; {outcome}"
        return outcome

    @staticmethod
    def _held(finding_id: str, when: str) -> DeliveryError:
        # A create is not idempotent: the issue it may have made is left for Jira's search to show.
        return DeliveryError(
            f"a Jira create for finding {finding_id} {when} may have been carried out and Jira's search does not "
            "show its issue yet; left for a later delivery",
            retryable=True,
            held=True,
        )

    def _deliver(self, finding: dict[str, Any], key: str | None) -> str:
        finding_id = finding["finding_id"]
        resolved = finding.get("status") == "RESOLVED"
        if key:
            self._post(f"/rest/api/3/issue/{key}/comment", jira_comment(finding, self.findings_table))
            if resolved and self.resolve_transition_id:
                stored = self.stored_status(finding_id) if self.stored_status else "RESOLVED"
                if stored != "RESOLVED":
                    return f"commented {key}; not transitioned: the stored finding is {stored or 'missing'}"
                try:
                    self._post(
                        f"/rest/api/3/issue/{key}/transitions", {"transition": {"id": self.resolve_transition_id}}
                    )
                except DeliveryError as exc:
                    # Refused because the issue is already Done (a resend after a lost answer, or closed by hand):
                    # the record closes, so a re-detection reaches an open issue, not a comment on a Done one.
                    if exc.status != 400 or not self.is_done(key):
                        raise
                    self.issue_keys.remember_issue(self.project_key, finding_id, None)
                    return f"commented {key}; already Done in Jira"
                self.issue_keys.remember_issue(self.project_key, finding_id, None)
                return f"commented and transitioned {key}"
            return f"commented {key}"
        sent_at = self.issue_keys.create_sent(self.project_key, finding_id)
        if create_pending(sent_at, self.now()):
            raise self._held(finding_id, f"sent at {sent_at:%Y-%m-%dT%H:%M:%SZ}")
        if resolved:
            return "no open issue to resolve"
        issue = jira_issue(finding, self.project_key, self.issue_type, self.findings_table)
        # Recorded before sending, conditionally: a create whose answer is lost is not followed by another one at
        # once, and of two deliveries of the finding at once (SNS and SQS deliver at least once) only one creates.
        if not self.issue_keys.remember_create(self.project_key, finding_id, self.now()):
            raise self._held(finding_id, "by another delivery just now")
        try:
            created = self.http.request(
                "POST", self._url("/rest/api/3/issue"), issue, self._auth, idempotent=False, resend_5xx=False
            )
        except DeliveryError as exc:
            if not exc.maybe_done:
                self.issue_keys.remember_issue(self.project_key, finding_id, None)
            raise
        answer = created.json()
        created_key = str(answer.get("key", "")) if isinstance(answer, dict) else ""
        if not JIRA_KEY.match(created_key):
            raise DeliveryError(
                f"Jira answered without an issue key: {one_line(str(answer))[:200]}", retryable=True, maybe_done=True
            )
        self.issue_keys.remember_issue(self.project_key, finding_id, created_key)
        return f"created {created_key}"


def sns_subject(text: str) -> str:
    """SNS takes a subject only as printable ASCII, one line, under 100 characters."""
    ascii_text = one_line(text).encode("ascii", "replace").decode("ascii")
    return ascii_text[:99] or "mlgov finding"


class PageTopic:
    """On-call pages: the finding published on a KMS-encrypted SNS topic (client made on first use)."""

    def __init__(self, sns: Callable[[], Any], topic_arn: str) -> None:
        self._sns, self._topic = sns, topic_arn

    def send(self, finding: dict[str, Any], target: str | None = None) -> str:
        self._sns().publish(
            TopicArn=self._topic,
            Subject=sns_subject(f"[{finding['severity']}] {finding['title']}"),
            Message=json.dumps(finding, sort_keys=True, default=str),
            MessageAttributes={"severity": {"DataType": "String", "StringValue": finding["severity"]}},
        )
        return "paged on-call"


class Unavailable:
    """A channel that cannot be built right now (its secret could not be read): every send fails,
    retryably, with the reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def send(self, finding: dict[str, Any], target: str | None = None) -> str:
        raise DeliveryError(self.reason, retryable=True)
