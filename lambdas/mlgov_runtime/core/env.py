"""Per-function settings from environment variables, validated once at cold start.

Plain dataclass parsing rather than pydantic: model construction costs tens of milliseconds
of cold start, and these are a handful of strings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass


class SettingsError(RuntimeError):
    pass


@dataclass(frozen=True)
class EndpointAuditSettings:
    findings_table: str
    findings_topic_arn: str
    idempotency_table: str
    idempotency_ttl_seconds: int = 3600
    exempt_prefix: str = "experiment-"
    exempt_account_ids: frozenset[str] = frozenset()
    exempt_ou_ids: frozenset[str] = frozenset()
    member_audit_role_name: str | None = None


def _required(env: Mapping[str, str], key: str, pattern: str, what: str) -> str:
    value = env.get(key, "")
    if not value:
        raise SettingsError(f"environment variable {key}: missing ({what})")
    if not re.fullmatch(pattern, value):
        raise SettingsError(f"environment variable {key}: {value!r} is not {what}")
    return value


def _csv(env: Mapping[str, str], key: str, pattern: str, what: str) -> frozenset[str]:
    items = frozenset(p.strip() for p in env.get(key, "").split(",") if p.strip())
    for item in items:
        if not re.fullmatch(pattern, item):
            raise SettingsError(f"environment variable {key}: {item!r} is not {what}")
    return items


def load_endpoint_audit_settings(environ: Mapping[str, str] | None = None) -> EndpointAuditSettings:
    env = os.environ if environ is None else environ
    table = r"[a-zA-Z0-9_.-]{3,255}"
    ttl_text = env.get("IDEMPOTENCY_TTL_SECONDS", "3600")
    if not ttl_text.isdigit() or not 60 <= int(ttl_text) <= 604_800:
        raise SettingsError(f"environment variable IDEMPOTENCY_TTL_SECONDS: {ttl_text!r} is not 60..604800 seconds")
    role = env.get("MEMBER_AUDIT_ROLE_NAME") or None
    if role is not None and not re.fullmatch(r"[\w+=,.@-]{1,64}", role):
        raise SettingsError(f"environment variable MEMBER_AUDIT_ROLE_NAME: {role!r} is not an IAM role name")
    return EndpointAuditSettings(
        findings_table=_required(env, "FINDINGS_TABLE_NAME", table, "a DynamoDB table name"),
        findings_topic_arn=_required(
            env, "FINDINGS_TOPIC_ARN", r"arn:aws[a-z-]*:sns:[\w-]+:\d{12}:[\w-]+", "an SNS topic ARN"
        ),
        idempotency_table=_required(env, "IDEMPOTENCY_TABLE_NAME", table, "a DynamoDB table name"),
        idempotency_ttl_seconds=int(ttl_text),
        exempt_prefix=env.get("EXEMPT_ENDPOINT_PREFIX", "experiment-"),
        exempt_account_ids=_csv(env, "EXEMPT_ACCOUNT_IDS", r"\d{12}", "a 12-digit account id"),
        exempt_ou_ids=_csv(env, "EXEMPT_OU_IDS", r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}", "an OU id"),
        member_audit_role_name=role,
    )


@dataclass(frozen=True)
class NotifierSettings:
    secret_name: str
    state_table: str
    routing_json: str
    page_topic_arn: str | None = None
    jira_issue_type: str = "Task"
    jira_resolve_transition_id: str | None = None


def load_notifier_settings(environ: Mapping[str, str] | None = None) -> NotifierSettings:
    from mlgov_runtime.core.routing import routing_from_json

    env = os.environ if environ is None else environ
    routing = _required(env, "ROUTING_JSON", r"\{.*\}", "a JSON object")
    try:
        routing_from_json(routing)
    except (ValueError, KeyError, TypeError) as exc:
        raise SettingsError(f"environment variable ROUTING_JSON: not a routing policy ({exc})") from None
    page = env.get("PAGE_TOPIC_ARN") or None
    if page is not None and not re.fullmatch(r"arn:aws[a-z-]*:sns:[\w-]+:\d{12}:[\w-]+", page):
        raise SettingsError(f"environment variable PAGE_TOPIC_ARN: {page!r} is not an SNS topic ARN")
    return NotifierSettings(
        secret_name=_required(env, "NOTIFIER_SECRET_NAME", r"[\w/+=.@:-]{1,2048}", "a Secrets Manager secret name"),
        state_table=_required(env, "STATE_TABLE_NAME", r"[a-zA-Z0-9_.-]{3,255}", "a DynamoDB table name"),
        routing_json=routing,
        page_topic_arn=page,
        jira_issue_type=env.get("JIRA_ISSUE_TYPE") or "Task",
        jira_resolve_transition_id=env.get("JIRA_RESOLVE_TRANSITION_ID") or None,
    )


@dataclass(frozen=True)
class CoverageSettings:
    catalog_table: str
    watched_group: str
    findings_table: str
    findings_topic_arn: str
    retraining_state_machine_arn: str | None
    snapshot_fallback_uri: str | None = None
    alert_pct: float = 5.0
    page_pct: float = 15.0


def _pct(env: Mapping[str, str], key: str, default: str) -> float:
    text = env.get(key, default)
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"environment variable {key}: {text!r} is not a number") from None
    if not 0 < value <= 100:
        raise SettingsError(f"environment variable {key}: {value} is not in (0, 100]")
    return value


def load_coverage_settings(environ: Mapping[str, str] | None = None) -> CoverageSettings:
    env = os.environ if environ is None else environ
    table = r"[a-zA-Z0-9_.-]{3,255}"
    machine = env.get("RETRAINING_STATE_MACHINE_ARN") or None
    if machine is not None and not re.fullmatch(r"arn:aws[a-z-]*:states:[\w-]+:\d{12}:stateMachine:[\w-]+", machine):
        raise SettingsError(
            f"environment variable RETRAINING_STATE_MACHINE_ARN: {machine!r} is not a state machine ARN"
        )
    fallback = env.get("SNAPSHOT_FALLBACK_URI") or None
    if fallback is not None and not fallback.startswith("s3://"):
        raise SettingsError(f"environment variable SNAPSHOT_FALLBACK_URI: {fallback!r} is not an s3:// URI")
    return CoverageSettings(
        catalog_table=_required(env, "CATALOG_TABLE_NAME", table, "a DynamoDB table name"),
        watched_group=_required(env, "WATCHED_GROUP", r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", "a model package group"),
        findings_table=_required(env, "FINDINGS_TABLE_NAME", table, "a DynamoDB table name"),
        findings_topic_arn=_required(
            env, "FINDINGS_TOPIC_ARN", r"arn:aws[a-z-]*:sns:[\w-]+:\d{12}:[\w-]+", "an SNS topic ARN"
        ),
        retraining_state_machine_arn=machine,
        snapshot_fallback_uri=fallback,
        alert_pct=_pct(env, "COVERAGE_ALERT_PCT", "5"),
        page_pct=_pct(env, "COVERAGE_PAGE_PCT", "15"),
    )


@dataclass(frozen=True)
class RetrainingSettings:
    catalog_table: str
    snapshot_bucket: str
    watched_group: str
    findings_table: str
    findings_topic_arn: str
    thresholds: dict[str, float]
    git_commit_sha: str
    team: str
    intended_use_case: str
    inference_image: str


def load_retraining_settings(environ: Mapping[str, str] | None = None) -> RetrainingSettings:
    import json

    env = os.environ if environ is None else environ
    table = r"[a-zA-Z0-9_.-]{3,255}"
    raw = _required(env, "GATE_THRESHOLDS_JSON", r"\{.*\}", "a JSON object")
    try:
        thresholds = {str(k): float(v) for k, v in json.loads(raw).items()}
    except (ValueError, AttributeError, TypeError):
        raise SettingsError("environment variable GATE_THRESHOLDS_JSON: not an object of numbers") from None
    return RetrainingSettings(
        catalog_table=_required(env, "CATALOG_TABLE_NAME", table, "a DynamoDB table name"),
        snapshot_bucket=_required(env, "SNAPSHOT_BUCKET", r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name"),
        watched_group=_required(env, "WATCHED_GROUP", r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", "a model package group"),
        findings_table=_required(env, "FINDINGS_TABLE_NAME", table, "a DynamoDB table name"),
        findings_topic_arn=_required(
            env, "FINDINGS_TOPIC_ARN", r"arn:aws[a-z-]*:sns:[\w-]+:\d{12}:[\w-]+", "an SNS topic ARN"
        ),
        thresholds=thresholds,
        git_commit_sha=_required(env, "TRAINING_CODE_COMMIT", r"[0-9a-f]{7,40}", "a git commit hash"),
        team=_required(env, "TEAM", r".{1,64}", "a team name"),
        intended_use_case=_required(
            env,
            "INTENDED_USE_CASE",
            r"recommendation|classification|embedding",
            "recommendation, classification or embedding",
        ),
        inference_image=_required(env, "INFERENCE_IMAGE", r"\S{10,512}", "a container image URI"),
    )
