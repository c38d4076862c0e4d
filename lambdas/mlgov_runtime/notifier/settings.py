"""The notifier function's environment."""

from __future__ import annotations

from dataclasses import dataclass

from mlgov_runtime.core.env import (
    FINDINGS_TABLE_NAME,
    TABLE,
    TOPIC_ARN,
    Env,
    Lazy,
    ObservabilityEnv,
    SettingsError,
    optional,
    required,
)

QUEUE_URL = r"https?://[\w.:-]+/\d{12}/[\w-]{1,80}(\.fifo)?"


@dataclass(frozen=True, kw_only=True)
class NotifierSettings(ObservabilityEnv):
    secret_name: str
    state_table: str
    routing_json: str
    page_topic_arn: str | None = None
    jira_issue_type: str = "Task"
    jira_resolve_transition_id: str | None = None
    # Where a finding a channel refused is parked for `mlgov notify redrive` (the notifier's DLQ).
    dead_letter_queue_url: str | None = None
    # Named in a message that had to be cut, as where the full finding is.
    findings_table: str | None = None
    # Set when alert_routing.security_hub is on: the account whose hub (in this function's region) imports.
    security_hub_account_id: str | None = None


def load_notifier_settings(env: Env) -> NotifierSettings:
    from mlgov_runtime.core.routing import routing_from_json

    routing = required(env, "ROUTING_JSON", r"\{.*\}", "a JSON object")
    try:
        routing_from_json(routing)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SettingsError(f"environment variable ROUTING_JSON: not a routing policy ({exc})") from None
    return NotifierSettings(
        **ObservabilityEnv.read(env),
        secret_name=required(env, "NOTIFIER_SECRET_NAME", r"[\w/+=.@:-]{1,2048}", "a Secrets Manager secret name"),
        state_table=required(env, "STATE_TABLE_NAME", TABLE, "a DynamoDB table name"),
        routing_json=routing,
        page_topic_arn=optional(env, "PAGE_TOPIC_ARN", TOPIC_ARN, "an SNS topic ARN"),
        jira_issue_type=optional(env, "JIRA_ISSUE_TYPE", r"\S(.{0,253}\S)?", "a Jira issue type name") or "Task",
        jira_resolve_transition_id=optional(env, "JIRA_RESOLVE_TRANSITION_ID", r"\d{1,6}", "a Jira transition id"),
        dead_letter_queue_url=optional(env, "DEAD_LETTER_QUEUE_URL", QUEUE_URL, "an SQS queue URL"),
        findings_table=optional(env, FINDINGS_TABLE_NAME, TABLE, "a DynamoDB table name"),
        security_hub_account_id=optional(env, "SECURITY_HUB_ACCOUNT_ID", r"\d{12}", "an AWS account id"),
    )


settings = Lazy(load_notifier_settings)
