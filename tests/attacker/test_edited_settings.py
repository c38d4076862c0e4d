"""What a function does with an edited `MLGOV_<CAP>_SETTINGS` (only the deployer may edit it, but see hole 1:
anyone who drives the stack is the deployer). Types and bounds are checked again at cold start; the cross-key
rule synth applies to pipeline roles (on the protected path) is not, so an edit that makes every role a
pipeline role loads cleanly and the provenance check then believes any role's registration."""

from __future__ import annotations

from mlgov.settings import Challenger, Thresholds, parse_settings
from mlgov.settings import SettingsError as SynthSettingsError
from mlgov_runtime.challenger.settings import Received, environment
from mlgov_runtime.core.model import received

ANY_ROLE = "arn:*:iam::*:role/*"


def test_synth_refuses_a_pipeline_role_off_the_protected_path() -> None:
    try:
        parse_settings({"guardrails": {"pipeline_role_arns": [ANY_ROLE]}})
    except (SynthSettingsError, ValueError) as exc:
        assert "pipeline_role_arns" in str(exc)
    else:  # pragma: no cover - the control fails loudly
        raise AssertionError("synth accepted a pipeline role off the protected path")


def test_the_function_loads_the_same_edit_without_a_word() -> None:
    edited = environment(Challenger(), Thresholds(), [ANY_ROLE])
    got = received(edited, Received)
    assert got.guardrails.pipeline_role_arns == [ANY_ROLE]
