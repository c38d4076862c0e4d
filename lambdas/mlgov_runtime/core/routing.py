"""Which channels a finding goes to, and whether a repeat within the window is suppressed. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

SEVERITY_ORDER = {"INFO": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}


@dataclass(frozen=True)
class Route:
    kinds: tuple[str, ...] = ("*",)
    min_severity: str = "LOW"
    slack_channel: str | None = None
    jira: bool = False

    def matches(self, finding: dict[str, Any]) -> bool:
        kind_ok = "*" in self.kinds or finding.get("kind") in self.kinds
        severity = finding.get("severity", "INFO")
        # A resolution is INFO, but it closes what the route once opened: route it like the open finding.
        if finding.get("status") == "RESOLVED":
            return kind_ok
        return kind_ok and SEVERITY_ORDER.get(severity, 0) >= SEVERITY_ORDER[self.min_severity]


@dataclass(frozen=True)
class Delivery:
    channel: str  # slack | jira | page | securityhub
    target: str  # Slack channel name, Jira project key, or "on-call"

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.target}"


@dataclass(frozen=True)
class Sent:
    """What last went to one target for one finding_id."""

    at: datetime
    status: str
    fingerprint: str | None = None  # None: recorded before fingerprints were kept


@dataclass(frozen=True)
class RoutingPolicy:
    routes: tuple[Route, ...] = field(default_factory=tuple)
    jira_project_key: str = "MLGOV"
    page_severities: frozenset[str] = frozenset({"CRITICAL"})
    dedupe_window: timedelta = timedelta(hours=1)
    # Every finding, open or resolved, also goes to Security Hub (alert_routing.security_hub).
    security_hub: bool = False

    def deliveries(self, finding: dict[str, Any]) -> list[Delivery]:
        out: list[Delivery] = []
        for route in self.routes:
            if not route.matches(finding):
                continue
            if route.slack_channel:
                out.append(Delivery("slack", route.slack_channel))
            if route.jira:
                out.append(Delivery("jira", self.jira_project_key))
        if finding.get("severity") in self.page_severities and finding.get("status", "OPEN") == "OPEN":
            out.append(Delivery("page", "on-call"))
        if self.security_hub:
            out.append(Delivery("securityhub", "hub"))
        return list(dict.fromkeys(out))  # keep order, drop repeats

    def suppressed(self, finding: dict[str, Any], fingerprint: str, last: Sent | None, now: datetime) -> bool:
        """A repeat of the same finding inside the window sends nothing new. A change of status or of
        fingerprint (severity, evidence: HIGH -> CRITICAL, UNAPPROVED -> UNREGISTERED) always sends."""
        if last is None or last.status != finding.get("status", "OPEN") or last.fingerprint != fingerprint:
            return False
        return now - last.at < self.dedupe_window
