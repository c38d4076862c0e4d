"""The challenger function's environment."""

from __future__ import annotations

from dataclasses import dataclass

from mlgov_runtime.approvals import settings as approvals_env
from mlgov_runtime.challenger.config import ChallengerConfig, config_from_json
from mlgov_runtime.core.env import Env, FindingsChannelEnv, IdempotencyEnv, Lazy, SettingsError, csv, optional, required

CONFIG_JSON = "CHALLENGER_CONFIG_JSON"
STATE_MACHINE_ARN = "CHALLENGER_STATE_MACHINE_ARN"
# Provenance: whose registrations a challenger may start from (challenger/provenance.py).
RETRAINING_STATE_MACHINE_ARN = "CHALLENGER_RETRAINING_STATE_MACHINE_ARN"
PIPELINE_ROLE_ARNS = "CHALLENGER_PIPELINE_ROLE_ARNS"
MACHINE = r"arn:aws[a-z-]*:states:[\w-]+:\d{12}:stateMachine:[\w-]+"


@dataclass(frozen=True, kw_only=True)
class ChallengerSettings(FindingsChannelEnv, IdempotencyEnv):
    config: ChallengerConfig
    state_machine_arn: str
    retraining_state_machine_arn: str | None = None
    pipeline_role_arns: frozenset[str] = frozenset()
    # The human step before a promotion (challenger.require_human_approval): the approvals store, its MAC key
    # (verify only) and who may approve; set by stacks/approvals.py.
    approvals_table: str | None = None
    approvals_mac_key_id: str | None = None
    approvers: dict[str, tuple[str, ...]] | None = None


def load_challenger_settings(env: Env) -> ChallengerSettings:
    try:
        config = config_from_json(required(env, CONFIG_JSON, r"\{.*\}", "a JSON object"))
    except ValueError as exc:
        raise SettingsError(f"environment variable {CONFIG_JSON}: {exc}") from None
    return ChallengerSettings(
        **FindingsChannelEnv.read(env),
        **IdempotencyEnv.read(env),
        config=config,
        state_machine_arn=required(env, STATE_MACHINE_ARN, MACHINE, "a state machine ARN"),
        retraining_state_machine_arn=optional(env, RETRAINING_STATE_MACHINE_ARN, MACHINE, "a state machine ARN"),
        pipeline_role_arns=csv(env, PIPELINE_ROLE_ARNS, r"arn:[\w*-]+:iam::[\d*]+:role/[\w+=,.@/*?-]+", "a role ARN"),
        approvals_table=optional(env, approvals_env.APPROVALS_TABLE_NAME, approvals_env.TABLE, "a DynamoDB table name"),
        approvals_mac_key_id=optional(env, approvals_env.MAC_KEY_ID, approvals_env.KEY_ID, "a KMS key ARN or id"),
        approvers=approvals_env.approvers_from(env.get(approvals_env.APPROVERS_JSON, "")),
    )


settings = Lazy(load_challenger_settings)
