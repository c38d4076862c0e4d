"""What a function does with an edited `MLGOV_<CAP>_SETTINGS` (only the deployer may edit it, but see hole 1:
anyone who drives the stack is the deployer). Types and bounds are checked again at cold start, and so is the
cross-key rule synth applies to pipeline roles (on the protected path), with the same validator
(mlgov_runtime.core.model.protected_path_problem): an edit that makes every role a pipeline role fails the cold
start naming the key, so the provenance check never believes any role's registration."""

from __future__ import annotations

import json

import pytest

from mlgov.settings import Challenger, Thresholds, parse_settings
from mlgov.settings import SettingsError as SynthSettingsError
from mlgov_runtime.challenger.settings import Received, environment, load_challenger_settings
from mlgov_runtime.core.env import SettingsError
from mlgov_runtime.core.model import received, received_environment, variable

ANY_ROLE = "arn:*:iam::*:role/*"
PROTECTED = "arn:*:iam::*:role/mlgov-protected/MlGovDeploymentPipeline*"


def test_synth_refuses_a_pipeline_role_off_the_protected_path() -> None:
    try:
        parse_settings({"guardrails": {"pipeline_role_arns": [ANY_ROLE]}})
    except (SynthSettingsError, ValueError) as exc:
        assert "pipeline_role_arns" in str(exc)
    else:  # pragma: no cover - the control fails loudly
        raise AssertionError("synth accepted a pipeline role off the protected path")


@pytest.mark.parametrize(
    "roles",
    [
        [ANY_ROLE],
        [PROTECTED, ANY_ROLE],  # one edited entry among good ones
        ["arn:*:iam::*:role/other/mlgov-protected/MlGovDeploymentPipeline*"],  # the path's name deeper down
    ],
)
def test_the_function_refuses_the_same_edit_at_cold_start_naming_the_key(roles: list[str]) -> None:
    edited = environment(Challenger(), Thresholds(), roles)
    with pytest.raises(SettingsError, match=r"'mlgov\.guardrails\.pipeline_role_arns': .*not on the protected path"):
        received(edited, Received)


def test_the_whole_cold_start_fails_not_only_the_model() -> None:
    env = {
        **environment(Challenger(), Thresholds(), [ANY_ROLE]),
        "CHALLENGER_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:mlgov-challenger",
        "IDEMPOTENCY_TABLE_NAME": "mlgov-idempotency",
        "FINDINGS_TABLE_NAME": "mlgov-findings",
        "FINDINGS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:mlgov-findings",
    }
    with pytest.raises(SettingsError, match="pipeline_role_arns"):
        load_challenger_settings(env)


def test_an_edited_protected_path_is_held_to_the_same_rule() -> None:
    sent = json.loads(environment(Challenger(), Thresholds(), [PROTECTED])[variable(Received)])
    sent["guardrails"]["protected_role_path"] = "/"  # no path at all: refused by its pattern, as at synth
    with pytest.raises(SettingsError, match="protected_role_path"):
        received({variable(Received): json.dumps(sent)}, Received)


def test_the_settings_synth_sends_load_cleanly() -> None:
    settings = parse_settings({})
    got = received(received_environment(settings, Received), Received)
    assert got.guardrails.pipeline_role_arns == [PROTECTED]
    assert got.guardrails.protected_role_path == settings.guardrails.protected_role_path
