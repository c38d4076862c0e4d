"""Retirement settings: cdk.json validation, and the functions' environment carrying exactly what the CLI
decides with."""

from __future__ import annotations

from typing import Any

import pytest

from mlgov.settings import SettingsError, parse_settings
from mlgov_runtime.core.env import SettingsError as EnvError
from mlgov_runtime.retirement.logic import ErrorMetric
from mlgov_runtime.retirement.settings import load_step_settings, policy_from_env

CHANNEL = {
    "FINDINGS_TABLE_NAME": "mlgov-findings",
    "FINDINGS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:mlgov-findings",
}


def environment(raw: dict[str, Any]) -> dict[str, str]:
    settings = parse_settings(raw)
    return settings.retirement.environment(settings.thresholds, settings.watched_model_package_groups)


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
        ({"TAG_CHANGE_RESPONSE": "ignore"}, "TAG_CHANGE_RESPONSE"),
        ({"STALE_WINDOW_HOURS": "0"}, "STALE_WINDOW_HOURS"),
        ({"CLIENT_ERROR_METRICS_JSON": '[{"metric": "x"}]'}, "CLIENT_ERROR_METRICS_JSON"),
        ({"HOURLY_PRICES_JSON": '{"ml.g5.xlarge": -1}'}, "HOURLY_PRICES_JSON"),
    ],
)
def test_a_bad_environment_fails_at_cold_start_naming_the_variable(change: dict[str, str], named: str) -> None:
    with pytest.raises(EnvError, match=named):
        load_step_settings({**environment({}), **CHANNEL, **change})
