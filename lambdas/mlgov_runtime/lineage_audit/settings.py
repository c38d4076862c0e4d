"""The endpoint audit function's environment."""

from __future__ import annotations

from dataclasses import dataclass

from mlgov_runtime.core.env import GROUP, Env, FindingsChannelEnv, IdempotencyEnv, Lazy, SettingsError, csv, optional
from mlgov_runtime.core.model import all_match, setting, settings_model

OU_ID = r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}"


def _accounts(value: list[str]) -> list[str]:
    return all_match(value, r"\d{12}", "a 12-digit AWS account id")


def _ous(value: list[str]) -> list[str]:
    return all_match(value, OU_ID, "an OU id (ou-xxxx-xxxxxxxx)")


@settings_model
class ExperimentExemptions:
    """Experiment endpoints skip the registry gate, but only in the accounts/OUs listed here."""

    endpoint_name_prefix: str = setting(default="experiment-", pattern=r"^[a-zA-Z0-9-]{1,40}$")
    account_ids: list[str] = setting(factory=list, check=_accounts)
    organizational_unit_ids: list[str] = setting(factory=list, check=_ous)


Section = ExperimentExemptions


@dataclass(frozen=True, kw_only=True)
class EndpointAuditSettings(FindingsChannelEnv, IdempotencyEnv):
    exempt_prefix: str = "experiment-"
    exempt_account_ids: frozenset[str] = frozenset()
    exempt_ou_ids: frozenset[str] = frozenset()
    member_audit_role_name: str | None = None
    # Approved packages may serve only from these groups (empty: any) and accounts (besides the endpoint's).
    allowed_package_groups: frozenset[str] = frozenset()
    allowed_package_accounts: frozenset[str] = frozenset()
    challenger_traffic_fraction: float = 0.0  # 0: no candidate is ever "under evaluation"
    serving_index_table: str | None = None  # which endpoints serve which package (None: not kept)


def _fraction(env: Env, key: str) -> float:
    text = env.get(key, "0")
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"environment variable {key}: {text!r} is not a number") from None
    if not 0 <= value < 1:
        raise SettingsError(f"environment variable {key}: {value} is not in [0, 1)")
    return value


def load_endpoint_audit_settings(env: Env) -> EndpointAuditSettings:
    return EndpointAuditSettings(
        **FindingsChannelEnv.read(env),
        **IdempotencyEnv.read(env),
        exempt_prefix=env.get("EXEMPT_ENDPOINT_PREFIX", "experiment-"),
        exempt_account_ids=csv(env, "EXEMPT_ACCOUNT_IDS", r"\d{12}", "a 12-digit account id"),
        exempt_ou_ids=csv(env, "EXEMPT_OU_IDS", r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}", "an OU id"),
        member_audit_role_name=optional(env, "MEMBER_AUDIT_ROLE_NAME", r"[\w+=,.@-]{1,64}", "an IAM role name"),
        allowed_package_groups=csv(env, "ALLOWED_PACKAGE_GROUPS", GROUP, "a model package group name"),
        allowed_package_accounts=csv(env, "ALLOWED_PACKAGE_ACCOUNT_IDS", r"\d{12}", "a 12-digit account id"),
        challenger_traffic_fraction=_fraction(env, "CHALLENGER_TRAFFIC_FRACTION"),
        serving_index_table=optional(env, "SERVING_INDEX_TABLE_NAME", r"[\w.-]{3,255}", "a DynamoDB table name"),
    )


settings = Lazy(load_endpoint_audit_settings)
