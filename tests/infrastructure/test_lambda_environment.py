"""Lambda refuses an environment over 4 KB only at deploy: synth refuses it first, naming the function and
its largest variables."""

from __future__ import annotations

import pytest
from aws_cdk import App, Duration, Stack

from mlgov.settings import SettingsError
from stacks.building_blocks import TOKEN_BYTES, GovernedFunction, environment_bytes


def _function(environment: dict[str, str]) -> None:
    stack = Stack(App(), "EnvTest")
    GovernedFunction(
        stack,
        "Big",
        description="environment size check",
        handler="mlgov_runtime.core.entry.handler",
        environment=environment,
        statements=[],
        log_retention_days=30,
        timeout=Duration.seconds(10),
    )


def test_an_environment_over_four_kilobytes_is_refused_at_synth_naming_the_largest_variable() -> None:
    with pytest.raises(SettingsError) as refused:
        _function({"MLGOV_NOTIFIER_SETTINGS": "x" * 3_900, "OTHER": "y" * 200})
    text = str(refused.value)
    assert "EnvTest/Big" in text and "MLGOV_NOTIFIER_SETTINGS (3,923 bytes)" in text and "4,096" in text


def test_references_count_as_resolved_names_so_a_near_limit_environment_with_them_is_refused() -> None:
    stack = Stack(App(), "Tokens")
    arn = stack.format_arn(service="sns", resource="topic")  # an unresolved reference at synth
    sizes = environment_bytes({"TOPIC": arn, "PLAIN": "abc"})
    assert sizes["PLAIN"] == 8 and sizes["TOPIC"] >= 5 + TOKEN_BYTES
    with pytest.raises(SettingsError):
        _function({"TOPIC": arn, "BIG": "x" * (4_096 - 5 - 30 - TOKEN_BYTES)})


def test_an_environment_within_the_limit_synthesizes() -> None:
    _function({"MLGOV_NOTIFIER_SETTINGS": "x" * 3_000})
