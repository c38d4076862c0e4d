"""The challenger function's environment."""

from __future__ import annotations

from dataclasses import dataclass

from mlgov_runtime.challenger.config import ChallengerConfig, config_from_json
from mlgov_runtime.core.env import Env, FindingsChannelEnv, IdempotencyEnv, Lazy, SettingsError, required

CONFIG_JSON = "CHALLENGER_CONFIG_JSON"
STATE_MACHINE_ARN = "CHALLENGER_STATE_MACHINE_ARN"


@dataclass(frozen=True, kw_only=True)
class ChallengerSettings(FindingsChannelEnv, IdempotencyEnv):
    config: ChallengerConfig
    state_machine_arn: str


def load_challenger_settings(env: Env) -> ChallengerSettings:
    try:
        config = config_from_json(required(env, CONFIG_JSON, r"\{.*\}", "a JSON object"))
    except ValueError as exc:
        raise SettingsError(f"environment variable {CONFIG_JSON}: {exc}") from None
    return ChallengerSettings(
        **FindingsChannelEnv.read(env),
        **IdempotencyEnv.read(env),
        config=config,
        state_machine_arn=required(
            env, STATE_MACHINE_ARN, r"arn:aws[a-z-]*:states:[\w-]+:\d{12}:stateMachine:[\w-]+", "a state machine ARN"
        ),
    )


settings = Lazy(load_challenger_settings)
