"""The challenger function's environment."""

from __future__ import annotations

from dataclasses import dataclass

from mlgov_runtime.challenger.config import ChallengerConfig, config_from_json
from mlgov_runtime.core.env import Env, FindingsChannelEnv, IdempotencyEnv, Lazy, SettingsError, csv, optional, required
from mlgov_runtime.core.model import setting, settings_model

CONFIG_JSON = "CHALLENGER_CONFIG_JSON"
STATE_MACHINE_ARN = "CHALLENGER_STATE_MACHINE_ARN"
# Provenance: whose registrations a challenger may start from (challenger/provenance.py).
RETRAINING_STATE_MACHINE_ARN = "CHALLENGER_RETRAINING_STATE_MACHINE_ARN"
PIPELINE_ROLE_ARNS = "CHALLENGER_PIPELINE_ROLE_ARNS"
MACHINE = r"arn:aws[a-z-]*:states:[\w-]+:\d{12}:stateMachine:[\w-]+"


@settings_model
class Thresholds:
    """The challenger CTR gate's knobs under `thresholds` (spec scenario 3, stage 2)."""

    ctr_promotion_floor: float = setting(0.075, gt=0, lt=1)
    challenger_traffic_fraction: float = setting(0.1, gt=0, lt=1)
    ctr_test_alpha: float = setting(0.01, gt=0, lt=0.5)
    ctr_noninferiority_margin: float = setting(0.95, gt=0, le=1)


@dataclass(frozen=True, kw_only=True)
class ChallengerSettings(FindingsChannelEnv, IdempotencyEnv):
    config: ChallengerConfig
    state_machine_arn: str
    retraining_state_machine_arn: str | None = None
    pipeline_role_arns: frozenset[str] = frozenset()


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
    )


settings = Lazy(load_challenger_settings)
