"""The notifier's settings: the `alert_routing` section, declared once; the function receives it as one JSON
variable (`Received`) and reads its routing, Jira issue type and transition and Security Hub switch from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from mlgov_runtime.core.env import (
    FINDINGS_TABLE_NAME,
    TABLE,
    TOPIC_ARN,
    Env,
    Lazy,
    ObservabilityEnv,
    optional,
    required,
)
from mlgov_runtime.core.model import (
    PROTECTED_ROLE_PATH,
    ROLE_PATH,
    KeyProblem,
    all_match,
    protected_path_problem,
    received,
    setting,
    settings_model,
)

if TYPE_CHECKING:
    from mlgov_runtime.core.routing import RoutingPolicy

NOTIFIER_QUEUE_URL = "NOTIFIER_QUEUE_URL"
QUEUE_URL = r"https?://[\w.:-]+/\d{12}/[\w-]{1,80}(\.fifo)?"


SEVERITY = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]
SLACK_CHANNEL = r"^#[a-z0-9_-]{1,80}$"
DEFAULT_SECURITY_CHANNEL = "#ml-governance-security"


def finding_kinds() -> tuple[str, ...]:
    """Every kind a registered capability emits (the registry's Capability.kinds)."""
    from mlgov_runtime.registry import CAPABILITIES

    return tuple(dict.fromkeys(kind for capability in CAPABILITIES for kind in capability.kinds))


def _kinds(value: list[str]) -> list[str]:
    """Checked: each a finding kind, or * for all."""
    known = finding_kinds()
    for kind in value:
        if kind != "*" and kind not in known:
            raise ValueError(f"{kind!r} is not a finding kind; known: {', '.join(known)}, or * for all")
    return value


@settings_model
class RouteSetting:
    """Findings of these kinds at or above this severity go to this Slack channel and/or Jira."""

    kinds: list[str] = setting(factory=lambda: ["*"], min_length=1, check=_kinds)
    min_severity: SEVERITY = "MEDIUM"
    slack_channel: str | None = setting(default=None, pattern=SLACK_CHANNEL)
    jira: bool = False

    def check(self) -> None:
        if not self.slack_channel and not self.jira:
            raise ValueError("a route needs slack_channel, jira: true, or both (this one sends nowhere)")


def _some_route(value: list[RouteSetting]) -> list[RouteSetting]:
    """Checked: at least one route."""
    if not value:
        raise ValueError(
            "is empty: findings would reach no Slack channel and no Jira project (leave the key out "
            "for the default route, or add a route)"
        )
    return value


def _issue_type(value: str) -> str:
    """Checked: a Jira issue type, without leading or trailing spaces."""
    if not value.strip() or value != value.strip():
        raise ValueError("must name a Jira issue type (e.g. Task), without leading or trailing spaces")
    return value


ROLE_ARN = r"arn:(aws[a-z-]*|\*):iam::(\d{12}|\*):role/[\w+=,.@/*-]{1,512}"


def _redrive_roles(value: list[str]) -> list[str]:
    """Checked: each an IAM role ARN on guardrails.protected_role_path (wildcards allowed in the name)."""
    return all_match(value, ROLE_ARN, "an IAM role ARN (wildcards allowed)")


@settings_model
class AlertRouting:
    # The Slack channel of the default route (used when `routes` is not given).
    security_slack_channel: str = setting(default=DEFAULT_SECURITY_CHANNEL, pattern=SLACK_CHANNEL)
    jira_project_key: str = setting(default="MLGOV", pattern=r"^[A-Z][A-Z0-9]{1,9}$")
    # Besides the findings topic, only these principals may put messages on the notifier queue
    # (`mlgov notify redrive`): a message from anyone else could close or drown real findings. On the protected
    # path (guardrails.protected_role_path), like every exempt role: a root-path name anyone may create.
    redrive_role_arns: list[str] = setting(
        factory=lambda: ["arn:*:iam::*:role/mlgov-protected/*"], check=_redrive_roles
    )
    jira_issue_type: str = setting(default="Task", min_length=1, max_length=255, check=_issue_type)
    jira_resolve_transition_id: str | None = setting(default=None, pattern=r"^\d{1,6}$")
    page_severities: list[SEVERITY] = setting(factory=lambda: ["CRITICAL"])
    routes: list[RouteSetting] = setting(check=_some_route)
    dedupe_window_minutes: int = setting(default=60, ge=0, le=7 * 24 * 60)
    # Every finding also as an ASFF record in Security Hub of the governance account (docs/notifications.md).
    security_hub: bool = False

    @classmethod
    def prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Without `routes`: every kind at MEDIUM or above to security_slack_channel and Jira."""
        if "routes" not in data:
            channel = data.get("security_slack_channel", DEFAULT_SECURITY_CHANNEL)
            route = {"kinds": ["*"], "min_severity": "MEDIUM", "slack_channel": channel, "jira": True}
            summary = {"kinds": ["SCAN_SUMMARY"], "min_severity": "INFO", "slack_channel": channel, "jira": False}
            return {**data, "routes": [route, summary]}
        return data


Section = AlertRouting


@settings_model
class ProtectedPath:
    """From `guardrails`: the path the redrive roles must sit on."""

    protected_role_path: str = setting(default=PROTECTED_ROLE_PATH, pattern=ROLE_PATH)


@settings_model
class Received:
    """What the notifier receives from the settings. The redrive roles are checked again at cold start, as at
    synth: an edited variable naming a role off the protected path fails the start, naming the key."""

    alert_routing: AlertRouting
    guardrails: ProtectedPath = setting(factory=ProtectedPath)

    def check(self) -> None:
        problem = protected_path_problem(self.alert_routing.redrive_role_arns, self.guardrails.protected_role_path)
        if problem:
            raise KeyProblem("alert_routing.redrive_role_arns", problem)


def routing_from(r: AlertRouting) -> RoutingPolicy:
    """The routing policy of a validated `alert_routing` (the function's, and the CLI's)."""
    from mlgov_runtime.core.routing import Route, RoutingPolicy

    return RoutingPolicy(
        routes=tuple(Route(tuple(x.kinds), x.min_severity, x.slack_channel, bool(x.jira)) for x in r.routes),
        jira_project_key=r.jira_project_key,
        page_severities=frozenset(r.page_severities),
        dedupe_window=timedelta(minutes=r.dedupe_window_minutes),
        security_hub=r.security_hub,
    )


@dataclass(frozen=True, kw_only=True)
class NotifierSettings(ObservabilityEnv):
    secret_name: str
    state_table: str
    routing: RoutingPolicy
    page_topic_arn: str | None = None
    jira_issue_type: str = "Task"
    jira_resolve_transition_id: str | None = None
    # Where a finding a channel refused is parked for `mlgov notify redrive` (the notifier's DLQ), and the
    # queue it goes back to: both named in the redrive command a refusal's log line gives.
    dead_letter_queue_url: str | None = None
    queue_url: str | None = None
    # Named in a message that had to be cut, as where the full finding is.
    findings_table: str | None = None


def load_notifier_settings(env: Env) -> NotifierSettings:
    r = received(env, Received).alert_routing
    return NotifierSettings(
        **ObservabilityEnv.read(env),
        secret_name=required(env, "NOTIFIER_SECRET_NAME", r"[\w/+=.@:-]{1,2048}", "a Secrets Manager secret name"),
        state_table=required(env, "STATE_TABLE_NAME", TABLE, "a DynamoDB table name"),
        routing=routing_from(r),
        page_topic_arn=optional(env, "PAGE_TOPIC_ARN", TOPIC_ARN, "an SNS topic ARN"),
        jira_issue_type=r.jira_issue_type,
        jira_resolve_transition_id=r.jira_resolve_transition_id,
        dead_letter_queue_url=optional(env, "DEAD_LETTER_QUEUE_URL", QUEUE_URL, "an SQS queue URL"),
        queue_url=optional(env, NOTIFIER_QUEUE_URL, QUEUE_URL, "an SQS queue URL"),
        findings_table=optional(env, FINDINGS_TABLE_NAME, TABLE, "a DynamoDB table name"),
    )


settings = Lazy(load_notifier_settings)
