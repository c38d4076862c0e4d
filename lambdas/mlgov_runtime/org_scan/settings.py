"""The org-wide scan's settings, received as one JSON variable (`Received`), validated at cold start."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mlgov_runtime.capacity.settings import Capacity
from mlgov_runtime.capacity.settings import Thresholds as CapacityKnobs
from mlgov_runtime.challenger.knobs import Thresholds as ChallengerKnobs
from mlgov_runtime.core.env import (
    Env,
    FindingsChannelEnv,
    Lazy,
    ObservabilityEnv,
    SettingsError,
    optional,
    required,
)
from mlgov_runtime.core.model import all_match, dump, received, received_environment, setting, settings_model, variable
from mlgov_runtime.core.shared_settings import shared
from mlgov_runtime.lineage_audit.settings import CHALLENGER_MACHINE_ARN, MACHINE, ExperimentExemptions, Ramp
from mlgov_runtime.retirement.settings import Retirement
from mlgov_runtime.retraining.settings import Retraining

REPORT_BUCKET = "REPORT_BUCKET"
MEMBER_ROLE_NAME = "MEMBER_ROLE_NAME"
RESULT_MAC_KEY_ID = "RESULT_MAC_KEY_ID"  # the KMS HMAC key that signs targets.json and every result
# Lambda allows 4 KB for all of a function's variables, names included; the coordinator's others (bucket,
# role, key ARN, findings table and topic, Powertools) take up to about 600 bytes once deployed.
SETTINGS_MAX_BYTES = 3400

BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
KMS_KEY = r"(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/)?[0-9a-f-]{36}|alias/[\w/-]{1,250}"
ROLE_NAME = r"[\w+=,.@-]{1,64}"


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


def _knob(model: type, name: str) -> Any:
    """The field `name` of another settings model, with its default and rules (declared there, once)."""
    spec = next(f for f in dataclasses.fields(model) if f.name == name)
    return dataclasses.field(default=spec.default, metadata=spec.metadata)


@settings_model
class CheckKnobs:
    """`thresholds` as the scan receives it: the knobs its per-endpoint checks judge by (the earlier name
    snapshot_age_review_days was resolved at synth and is not sent)."""

    min_endpoint_capacity: int = _knob(CapacityKnobs, "min_endpoint_capacity")
    snapshot_max_age_days: int = _knob(Thresholds, "snapshot_max_age_days")
    challenger_traffic_fraction: float = _knob(ChallengerKnobs, "challenger_traffic_fraction")


@settings_model
class CatalogTable:
    """From `retraining`: the catalog table the snapshot-age finding names."""

    catalog_table_name: str = _knob(Retraining, "catalog_table_name")


@settings_model
class Received:
    """What the org-wide scan's functions receive from the settings: its own section, and the sections the
    per-endpoint checks judge by (their `CheckContext.options`)."""

    org_scan: OrgScan = setting(factory=OrgScan)
    thresholds: CheckKnobs = setting(factory=CheckKnobs)
    experiment_exemptions: ExperimentExemptions = setting(factory=ExperimentExemptions)
    challenger: Ramp = setting(factory=Ramp)
    watched_model_package_groups: list[str] = shared("watched_model_package_groups")
    package_account_ids: list[str] = shared("package_account_ids")
    retraining: CatalogTable = setting(factory=CatalogTable)
    capacity: Capacity = setting(factory=Capacity)
    retirement: Retirement = setting(factory=Retirement)


def environment(settings: Any) -> dict[str, str]:
    """The scan functions' settings variable; refused, naming what to shorten, when Lambda could not carry it."""
    sent = received_environment(settings, Received)
    size = len(sent[variable(Received)].encode())
    if size > SETTINGS_MAX_BYTES:
        sections = json_sizes(sent[variable(Received)])
        biggest = ", ".join(f"{k} {n:,}" for k, n in sorted(sections.items(), key=lambda kv: -kv[1])[:3])
        raise SettingsError(
            f"cdk.json context 'mlgov': the settings the org scan receives take {size:,} bytes, more than the "
            f"{SETTINGS_MAX_BYTES:,} its functions' environment can carry (Lambda allows 4 KB in all); shorten "
            f"lists in capacity/retirement (largest: {biggest} bytes)"
        )
    return sent


def json_sizes(text: str) -> dict[str, int]:
    """Bytes per top-level key of a settings variable."""
    import json

    return {k: len(json.dumps(v, separators=(",", ":")).encode()) for k, v in json.loads(text).items()}


def check_options(got: Any) -> dict[str, Any]:
    """The checks' `CheckContext.options`, from the CLI's settings or what the scan received: the same."""
    data = dump(got, Received)
    return {
        "thresholds": data["thresholds"],
        "experiment_exemptions": data["experiment_exemptions"],
        "challenger_ramp": data["challenger"]["ramp"],
        "watched_model_package_groups": data["watched_model_package_groups"],
        "package_account_ids": data["package_account_ids"],
        "catalog_table_name": data["retraining"]["catalog_table_name"],
        "capacity": data["capacity"],
        "retirement": data["retirement"],
    }


@dataclass(frozen=True, kw_only=True)
class CoordinatorSettings(FindingsChannelEnv):
    report_bucket: str
    member_role_name: str
    scope: dict[str, Any]  # mlgov_runtime.org_scan.logic.Scope as a dict
    result_mac_key_id: str
    purpose_tag_key: str = "endpoint_purpose"  # the report's hosting cost is grouped by it
    max_notifications_per_kind: int = 25  # org_scan.max_notifications_per_kind


def load_coordinator_settings(env: Env) -> CoordinatorSettings:
    got = received(env, Received)
    # org_scan.regions empty: the region the stack (and so this function) is deployed to.
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    if not got.org_scan.regions and not region:
        raise SettingsError(f"environment variable {variable(Received)}: 'mlgov.org_scan.regions': names no region")
    scope = got.org_scan.scope(region)
    return CoordinatorSettings(
        **FindingsChannelEnv.read(env),
        report_bucket=required(env, REPORT_BUCKET, BUCKET, "an S3 bucket name"),
        member_role_name=required(env, MEMBER_ROLE_NAME, ROLE_NAME, "an IAM role name"),
        scope=scope,
        result_mac_key_id=required(env, RESULT_MAC_KEY_ID, KMS_KEY, "a KMS key id or ARN"),
        purpose_tag_key=got.retirement.purpose_tag_key,
        max_notifications_per_kind=got.org_scan.max_notifications_per_kind,
    )


@dataclass(frozen=True, kw_only=True)
class WorkerSettings(ObservabilityEnv):
    report_bucket: str
    member_role_name: str
    check_options: dict[str, Any]
    endpoint_concurrency: int
    result_mac_key_id: str
    serving_index_table: str | None = None  # the lineage audit's index of who serves which package
    # Whose bus member accounts forward to (None: this function's region, where the governance stack runs).
    governance_region: str | None = None
    # Its RUNNING executions make a challenger of this account/region UNDER_EVALUATION (None: never).
    challenger_state_machine_arn: str | None = None
    # org_scan.regions, else this function's
    scan_regions: tuple[str, ...] = ()


def load_worker_settings(env: Env) -> WorkerSettings:
    got = received(env, Received)
    return WorkerSettings(
        **ObservabilityEnv.read(env),
        report_bucket=required(env, REPORT_BUCKET, BUCKET, "an S3 bucket name"),
        member_role_name=required(env, MEMBER_ROLE_NAME, ROLE_NAME, "an IAM role name"),
        check_options=check_options(got),
        endpoint_concurrency=got.org_scan.endpoint_concurrency,
        result_mac_key_id=required(env, RESULT_MAC_KEY_ID, KMS_KEY, "a KMS key id or ARN"),
        serving_index_table=optional(env, "SERVING_INDEX_TABLE_NAME", r"[\w.-]{3,255}", "a DynamoDB table name"),
        governance_region=got.org_scan.governance_region,
        challenger_state_machine_arn=optional(env, CHALLENGER_MACHINE_ARN, MACHINE, "a state machine ARN"),
        scan_regions=tuple(
            got.org_scan.regions or [r for r in (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),) if r]
        ),
    )


coordinator_settings = Lazy(load_coordinator_settings)
worker_settings = Lazy(load_worker_settings)
