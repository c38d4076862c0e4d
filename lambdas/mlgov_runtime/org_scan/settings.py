"""The org-wide scan functions' environment: the coordinator (plan, aggregate, failure) and the worker."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mlgov_runtime.core.env import (
    Env,
    FindingsChannelEnv,
    Lazy,
    ObservabilityEnv,
    SettingsError,
    number,
    optional,
    required,
)
from mlgov_runtime.core.model import all_match, setting, settings_model

REPORT_BUCKET = "REPORT_BUCKET"
MEMBER_ROLE_NAME = "MEMBER_ROLE_NAME"
SCAN_SCOPE_JSON = "SCAN_SCOPE_JSON"
CHECK_OPTIONS_JSON = "CHECK_OPTIONS_JSON"
ENDPOINT_CONCURRENCY = "ENDPOINT_CONCURRENCY"
RESULT_MAC_KEY_ID = "RESULT_MAC_KEY_ID"  # the KMS HMAC key that signs targets.json and every result
COST_PURPOSE_TAG_KEY = "COST_PURPOSE_TAG_KEY"
MAX_NOTIFICATIONS_PER_KIND = "MAX_NOTIFICATIONS_PER_KIND"

BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
KMS_KEY = r"(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/)?[0-9a-f-]{36}|alias/[\w/-]{1,250}"
ROLE_NAME = r"[\w+=,.@-]{1,64}"


def _json_object(env: Env, key: str) -> dict[str, Any]:
    raw = required(env, key, r"\{.*\}", "a JSON object")
    try:
        value = json.loads(raw)
    except ValueError:
        raise SettingsError(f"environment variable {key}: not valid JSON") from None
    if not isinstance(value, dict):
        raise SettingsError(f"environment variable {key}: not a JSON object")
    return value


@settings_model
class Thresholds:
    """The snapshot-age check's knob under `thresholds`."""

    snapshot_age_review_days: int = setting(default=60, ge=1)  # earlier name of snapshot_max_age_days
    snapshot_max_age_days: int = setting(default=60, ge=1)  # an endpoint's training catalog may be this old

    @classmethod
    def prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        """cdk.json files written for the earlier name keep working."""
        if "snapshot_age_review_days" in data:
            old = data["snapshot_age_review_days"]
            if data.get("snapshot_max_age_days", old) != old:
                raise ValueError(
                    "snapshot_age_review_days (the earlier name) and snapshot_max_age_days disagree; "
                    "keep only snapshot_max_age_days"
                )
            return {**data, "snapshot_max_age_days": old}
        return data


ACCOUNT_ID = r"\d{12}"
REGION_NAME = r"[a-z]{2}(-[a-z]+)+-\d"
OU = r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}"


def _accounts(value: list[str]) -> list[str]:
    """Checked: each a 12-digit AWS account id."""
    return all_match(value, ACCOUNT_ID, "a 12-digit AWS account id")


def _ous(value: list[str]) -> list[str]:
    """Checked: each an OU id (ou-xxxx-xxxxxxxx)."""
    return all_match(value, OU, "an OU id (ou-xxxx-xxxxxxxx)")


def _targets(value: list[str]) -> list[str]:
    """Checked: each an OU or root id."""
    return all_match(value, rf"({OU}|r-[0-9a-z]{{4,32}})", "an OU or root id")


def _regions(value: list[str]) -> list[str]:
    """Checked: each an AWS region name (e.g. eu-west-1)."""
    return all_match(value, REGION_NAME, "an AWS region name (e.g. eu-west-1)")


def _tags(value: dict[str, str]) -> dict[str, str]:
    """Checked: tag keys."""
    all_match(list(value), r"[\w.:/=+@ -]{1,128}", "a tag key")
    return value


@settings_model
class OrgScan:
    """The weekly org-wide scan (weekly_scan_schedule): every registered per-endpoint check in every ACTIVE
    account of the organization x these regions, on a Step Functions Distributed Map. Filters combine (AND)."""

    regions: list[str] = setting(factory=list, check=_regions)  # empty: the region the stack is deployed to
    account_ids: list[str] = setting(factory=list, check=_accounts)  # only these accounts (empty: all)
    organizational_unit_ids: list[str] = setting(factory=list, check=_ous)  # only accounts under these OUs
    account_tags: dict[str, str] = setting(factory=dict, check=_tags)  # only accounts carrying all these tags
    exclude_account_ids: list[str] = setting(factory=list, check=_accounts)
    max_concurrency: int = setting(default=20, ge=1, le=1000)  # Map batches in flight
    tolerated_failure_percentage: float = setting(default=10, ge=0, le=100)  # failed workers before the Map fails
    targets_per_batch: int = setting(default=5, ge=1, le=100)  # account/regions per worker invocation
    endpoint_concurrency: int = setting(default=16, ge=1, le=64)  # endpoints checked at once per account/region
    report_retention_days: int = setting(default=400, ge=1, le=3650)
    # Per run, findings of one kind (opened, and resolved) sent one by one; the rest roll up into the summary.
    max_notifications_per_kind: int = setting(default=25, ge=1, le=10_000)
    # The member role stack: which account's scan/audit roles it trusts, and where the StackSet deploys it.
    governance_account_id: str | None = setting(default=None, pattern=r"^\d{12}$")
    member_role_target_ou_ids: list[str] = setting(factory=list, check=_targets)
    # The region the governance stack runs in: its scan and audit roles are named for it, and member
    # accounts forward SageMaker events to its bus (null: the region the StackSet stack is deployed to).
    governance_region: str | None = setting(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")

    def scope(self, default_region: str) -> dict[str, object]:
        """What the planner reads (mlgov_runtime.org_scan.logic.Scope)."""
        return {
            "regions": self.regions or [default_region],
            "account_ids": self.account_ids,
            "organizational_unit_ids": self.organizational_unit_ids,
            "account_tags": self.account_tags,
            "exclude_account_ids": self.exclude_account_ids,
        }


Section = OrgScan


@dataclass(frozen=True, kw_only=True)
class CoordinatorSettings(FindingsChannelEnv):
    report_bucket: str
    member_role_name: str
    scope: dict[str, Any]  # mlgov_runtime.org_scan.logic.Scope as a dict
    result_mac_key_id: str
    purpose_tag_key: str = "endpoint_purpose"  # the report's hosting cost is grouped by it
    max_notifications_per_kind: int = 25  # org_scan.max_notifications_per_kind


def load_coordinator_settings(env: Env) -> CoordinatorSettings:
    scope = _json_object(env, SCAN_SCOPE_JSON)
    if not scope.get("regions"):
        raise SettingsError(f"environment variable {SCAN_SCOPE_JSON}: names no region")
    return CoordinatorSettings(
        **FindingsChannelEnv.read(env),
        report_bucket=required(env, REPORT_BUCKET, BUCKET, "an S3 bucket name"),
        member_role_name=required(env, MEMBER_ROLE_NAME, ROLE_NAME, "an IAM role name"),
        scope=scope,
        result_mac_key_id=required(env, RESULT_MAC_KEY_ID, KMS_KEY, "a KMS key id or ARN"),
        purpose_tag_key=optional(env, COST_PURPOSE_TAG_KEY, r"[\w.:/=+@-]{1,128}", "a tag key") or "endpoint_purpose",
        max_notifications_per_kind=int(number(env, MAX_NOTIFICATIONS_PER_KIND, "25", 0, 10_000)),
    )


@dataclass(frozen=True, kw_only=True)
class WorkerSettings(ObservabilityEnv):
    report_bucket: str
    member_role_name: str
    check_options: dict[str, Any]
    endpoint_concurrency: int
    result_mac_key_id: str
    serving_index_table: str | None = None  # the lineage audit's index of who serves which package


def load_worker_settings(env: Env) -> WorkerSettings:
    return WorkerSettings(
        **ObservabilityEnv.read(env),
        report_bucket=required(env, REPORT_BUCKET, BUCKET, "an S3 bucket name"),
        member_role_name=required(env, MEMBER_ROLE_NAME, ROLE_NAME, "an IAM role name"),
        check_options=_json_object(env, CHECK_OPTIONS_JSON),
        endpoint_concurrency=int(number(env, ENDPOINT_CONCURRENCY, "16", 0, 64)),
        result_mac_key_id=required(env, RESULT_MAC_KEY_ID, KMS_KEY, "a KMS key id or ARN"),
        serving_index_table=optional(env, "SERVING_INDEX_TABLE_NAME", r"[\w.-]{3,255}", "a DynamoDB table name"),
    )


coordinator_settings = Lazy(load_coordinator_settings)
worker_settings = Lazy(load_worker_settings)
