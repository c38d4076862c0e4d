"""The endpoint audit's settings: the `experiment_exemptions` section (declared here; capacity reads it too)
and what the audit receives (`Received`), as one JSON variable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlgov_runtime.challenger.knobs import Thresholds as ChallengerKnobs
from mlgov_runtime.challenger.knobs import check_ramp
from mlgov_runtime.core.env import Env, FindingsChannelEnv, IdempotencyEnv, Lazy, optional
from mlgov_runtime.core.exemptions import ExemptionPolicy
from mlgov_runtime.core.model import all_match, received, setting, settings_model
from mlgov_runtime.core.shared_settings import shared

OU_ID = r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}"
# The challenger state machine whose RUNNING executions make a candidate UNDER_EVALUATION (stacks/lineage_audit.py).
CHALLENGER_MACHINE_ARN = "CHALLENGER_STATE_MACHINE_ARN"
MACHINE = r"arn:aws[\w-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[\w-]{1,80}"


def _accounts(value: list[str]) -> list[str]:
    """Checked: each a 12-digit AWS account id."""
    return all_match(value, r"\d{12}", "a 12-digit AWS account id")


def _ous(value: list[str]) -> list[str]:
    """Checked: each an OU id (ou-xxxx-xxxxxxxx)."""
    return all_match(value, OU_ID, "an OU id (ou-xxxx-xxxxxxxx)")


@settings_model
class ExperimentExemptions:
    """Experiment endpoints skip the registry gate, but only in the accounts/OUs listed here."""

    endpoint_name_prefix: str = setting(default="experiment-", pattern=r"^[a-zA-Z0-9-]{1,40}$")
    account_ids: list[str] = setting(factory=list, check=_accounts)
    organizational_unit_ids: list[str] = setting(factory=list, check=_ous)

    def policy(self) -> ExemptionPolicy:
        return ExemptionPolicy(
            self.endpoint_name_prefix, frozenset(self.account_ids), frozenset(self.organizational_unit_ids)
        )


Section = ExperimentExemptions


@settings_model
class Ramp:
    """From `challenger`: its ramp's steps [[minute, weight], ...], checked as the challenger's settings do."""

    ramp: list[tuple[int, float]] = setting(factory=list, max_length=10)

    def check(self) -> None:
        check_ramp(self.ramp)


def evaluation_share(fraction: float, ramp: list[Any]) -> float:
    """The largest share a challenger may take: the fraction it starts on, or its ramp's largest weight."""
    return max([fraction, *(float(w) for _, w in ramp)])


@settings_model
class Received:
    """What the endpoint audit receives from the settings."""

    experiment_exemptions: ExperimentExemptions = setting(factory=ExperimentExemptions)
    watched_model_package_groups: list[str] = shared("watched_model_package_groups")
    package_account_ids: list[str] = shared("package_account_ids")
    member_audit_role_name: str | None = shared("member_audit_role_name")
    idempotency_ttl_seconds: int = shared("idempotency_ttl_seconds")
    thresholds: ChallengerKnobs = setting(factory=ChallengerKnobs)  # challenger_traffic_fraction
    challenger: Ramp = setting(factory=Ramp)


@dataclass(frozen=True, kw_only=True)
class EndpointAuditSettings(FindingsChannelEnv, IdempotencyEnv):
    exemptions: ExemptionPolicy
    member_audit_role_name: str | None = None
    # Approved packages may serve only from these groups (empty: any) and accounts (besides the endpoint's).
    allowed_package_groups: frozenset[str] = frozenset()
    allowed_package_accounts: frozenset[str] = frozenset()
    challenger_share: float = 0.0  # evaluation_share; 0: no candidate is ever "under evaluation"
    serving_index_table: str | None = None  # which endpoints serve which package (None: not kept)
    # Without it no candidate is ever "under evaluation": no running experiment can be verified.
    challenger_state_machine_arn: str | None = None


def load_endpoint_audit_settings(env: Env) -> EndpointAuditSettings:
    channel = FindingsChannelEnv.read(env)
    got = received(env, Received)
    return EndpointAuditSettings(
        **channel,
        **IdempotencyEnv.with_ttl(env, got.idempotency_ttl_seconds),
        exemptions=got.experiment_exemptions.policy(),
        member_audit_role_name=got.member_audit_role_name,
        allowed_package_groups=frozenset(got.watched_model_package_groups),
        allowed_package_accounts=frozenset(got.package_account_ids),
        challenger_share=evaluation_share(got.thresholds.challenger_traffic_fraction, got.challenger.ramp),
        serving_index_table=optional(env, "SERVING_INDEX_TABLE_NAME", r"[\w.-]{3,255}", "a DynamoDB table name"),
        challenger_state_machine_arn=optional(env, CHALLENGER_MACHINE_ARN, MACHINE, "a state machine ARN"),
    )


settings = Lazy(load_endpoint_audit_settings)
