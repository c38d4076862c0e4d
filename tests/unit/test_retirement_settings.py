"""Retirement settings: cdk.json validation, and the functions' environment carrying exactly what the CLI
decides with."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlgov.ops.sent_settings import policy_from_env, retirement_environment
from mlgov.settings import SettingsError, parse_settings
from mlgov_runtime.core.env import SettingsError as EnvError
from mlgov_runtime.core.model import variable
from mlgov_runtime.retirement.logic import ErrorMetric
from mlgov_runtime.retirement.settings import Received, load_step_settings

SETTINGS_JSON = variable(Received)

CHANNEL = {
    "FINDINGS_TABLE_NAME": "mlgov-findings",
    "FINDINGS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:mlgov-findings",
}


def environment(raw: dict[str, Any]) -> dict[str, str]:
    settings = parse_settings(raw)
    return retirement_environment(settings)


def test_cdk_json_values_reach_the_functions() -> None:
    env = environment(
        {
            "thresholds": {"stale_invocation_window_hours": 48, "retiring_deadline_days": 14},
            "retirement": {
                "managed_by_values": ["pipeline-a", "pipeline-b"],
                "endpoint_name_prefixes": [],
                "owner_tag_keys": ["oncall"],
                "on_retiring_tag_change": "flag",
                "hourly_price_usd": {"ml.inf2.xlarge": 0.99},
                "client_error_metrics": [
                    {"namespace": "Api/Gateway", "metric_name": "5XX", "dimension_name": "Target"}
                ],
            },
        }
    )
    policy = policy_from_env(env)
    assert policy.watch_tag_values == {"pipeline-a", "pipeline-b"} and policy.name_prefixes == ()
    assert (policy.stale_window_hours, policy.retiring_deadline_days) == (48, 14)
    assert policy.owner_tag_keys == ("oncall",)
    assert policy.hourly_prices["ml.inf2.xlarge"] == 0.99 and policy.hourly_prices["ml.g4dn.2xlarge"] == 0.94
    step = load_step_settings({**env, **CHANNEL})
    assert step.tag_change_response == "flag"
    assert step.error_metrics == (ErrorMetric("Api/Gateway", "5XX", "Target"),)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"retirement": {"audit_schedule": "cron(0 7 1 * * *)"}}, "mlgov.retirement.audit_schedule"),
        ({"retirement": {"on_retiring_tag_change": "delete"}}, "mlgov.retirement.on_retiring_tag_change"),
        ({"retirement": {"hourly_price_usd": {"g4dn.2xlarge": 1}}}, "mlgov.retirement.hourly_price_usd"),
        ({"retirement": {"approval_expiry_hours": 0}}, "mlgov.retirement.approval_expiry_hours"),
        ({"thresholds": {"cost_anomaly_usd": 0}}, "mlgov.thresholds.cost_anomaly_usd"),
        ({"retirement": {"cost_anomaly_monitor_arn": "monitor-1"}}, "mlgov.retirement.cost_anomaly_monitor_arn"),
    ],
)
def test_a_bad_retirement_setting_names_its_key(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
        parse_settings(raw)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"retirement": {"on_retiring_tag_change": "ignore"}}, "mlgov.retirement.on_retiring_tag_change"),
        ({"thresholds": {"stale_invocation_window_hours": 0}}, "mlgov.thresholds.stale_invocation_window_hours"),
        ({"retirement": {"client_error_metrics": [{"metric": "x"}]}}, r"mlgov.retirement.client_error_metrics\[0\]"),
        ({"retirement": {"hourly_price_usd": {"ml.g5.xlarge": -1}}}, "mlgov.retirement.hourly_price_usd"),
        ({"retirement": {"managed_by_values": "pipeline"}}, "mlgov.retirement.managed_by_values"),
        ({"retirement": {"owner_tag_keys": [], "surprise": 1}}, "mlgov.retirement.surprise"),
    ],
)
def test_a_bad_environment_fails_at_cold_start_naming_the_setting(change: dict[str, Any], named: str) -> None:
    """The function validates what it received with the same model: a hand-edited variable fails at cold
    start, naming the setting."""
    sent = json.loads(environment({})[SETTINGS_JSON])
    for section, values in change.items():
        sent[section] = {**sent[section], **values}
    with pytest.raises(EnvError, match=f"{SETTINGS_JSON}.*{named}"):
        load_step_settings({SETTINGS_JSON: json.dumps(sent), **CHANNEL})


def test_the_functions_receive_one_variable_holding_exactly_their_settings() -> None:
    env = environment({"thresholds": {"ctr_test_alpha": 0.02}})
    assert list(env) == [SETTINGS_JSON] == ["MLGOV_RETIREMENT_SETTINGS"]
    sent = json.loads(env[SETTINGS_JSON])
    assert set(sent) == {"retirement", "thresholds", "watched_model_package_groups", "idempotency_ttl_seconds"}
    assert set(sent["thresholds"]) == {
        "stale_invocation_window_hours",
        "deletion_safety_window_hours",
        "retiring_deadline_days",
        "cost_anomaly_usd",
    }


def test_a_window_the_function_would_refuse_is_refused_at_synth() -> None:
    with pytest.raises(SettingsError, match=r"mlgov\.thresholds\.deletion_safety_window_hours"):
        parse_settings({"thresholds": {"deletion_safety_window_hours": 48}})


def test_a_function_without_its_settings_refuses_to_start() -> None:
    with pytest.raises(EnvError, match="MLGOV_RETIREMENT_SETTINGS: missing"):
        load_step_settings(CHANNEL)


def test_the_event_functions_take_the_idempotency_window_from_their_one_variable() -> None:
    from mlgov_runtime.retirement.settings import load_event_settings

    env = environment({"idempotency_ttl_seconds": 7200})
    got = load_event_settings({**env, **CHANNEL, "IDEMPOTENCY_TABLE_NAME": "idem"})
    assert got.idempotency_ttl_seconds == 7200
    sent = json.loads(env[SETTINGS_JSON])
    sent["idempotency_ttl_seconds"] = 30  # below the 60-second floor: a hand edit
    with pytest.raises(EnvError, match=f"{SETTINGS_JSON}.*idempotency_ttl_seconds"):
        load_event_settings({SETTINGS_JSON: json.dumps(sent), **CHANNEL, "IDEMPOTENCY_TABLE_NAME": "idem"})
