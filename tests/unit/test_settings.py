from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlgov.sandbox import function_settings
from mlgov.settings import SettingsError, load_settings_file, parse_settings
from mlgov_runtime.core.env import SettingsError as FunctionSettingsError
from mlgov_runtime.lineage_audit.settings import load_endpoint_audit_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_spec_thresholds() -> None:
    t = parse_settings({}).thresholds
    assert (t.coverage_gap_alert_pct, t.coverage_gap_page_pct, t.min_training_pairs) == (5.0, 15.0, 50_000)
    assert (t.min_ja_query_fraction, t.ctr_promotion_floor, t.min_endpoint_capacity) == (0.25, 0.075, 1)


def _within(expected: Any, actual: Any, path: str) -> None:
    if isinstance(expected, dict):
        for key, value in expected.items():
            _within(value, actual[key], f"{path}.{key}")
    else:
        assert actual == expected, f"{path}: cdk.json says {expected!r}, loaded {actual!r}"


def test_the_shipped_cdk_json_is_valid_and_every_value_in_it_is_what_loads() -> None:
    # Reads the file itself: a missing cdk.json must fail here, not pass on the defaults.
    raw = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]["mlgov"]
    assert raw, "cdk.json ships no mlgov settings"
    settings = load_settings_file(ROOT / "cdk.json")
    _within(raw, settings.model_dump(), "mlgov")


@pytest.mark.parametrize(
    ("raw", "key", "hint"),
    [
        ({"thresholds": {"coverage_gap_alert_pct": "lots"}}, "mlgov.thresholds.coverage_gap_alert_pct", "number"),
        (
            {"thresholds": {"min_endpoint_capacity": 0}},
            "mlgov.thresholds.min_endpoint_capacity",
            "greater than or equal to 1",
        ),
        ({"experiment_exemptions": {"account_ids": ["prod"]}}, "mlgov.experiment_exemptions.account_ids", "12-digit"),
        (
            {"experiment_exemptions": {"organizational_unit_ids": ["dev"]}},
            "mlgov.experiment_exemptions.organizational_unit_ids",
            "OU id",
        ),
        ({"alert_routing": {"page_severities": ["URGENT"]}}, "mlgov.alert_routing.page_severities.0", "CRITICAL"),
        ({"log_retention_days": 10}, "mlgov.log_retention_days", "90"),
        ({"thresholds": {"coverage_gap_alert_pct": 20}}, "coverage_gap_page_pct", ">= coverage_gap_alert_pct"),
        ({"watched_groups": []}, "mlgov.watched_groups", "unknown setting"),
        # Issue 11, item 7: each of these synthesized before, or crashed with a traceback.
        ({"watched_model_package_groups": []}, "mlgov.watched_model_package_groups", "lists no group"),
        ({"watched_model_package_groups": ["a", "b"]}, "mlgov.retraining.model_package_group", "lists 2 groups (a, b)"),
        (
            {"watched_model_package_groups": ["a", "b"], "retraining": {"model_package_group": "c"}},
            "mlgov.retraining.model_package_group",
            "'c' is not one of watched_model_package_groups (a, b)",
        ),
        ({"weekly_scan_schedule": "cron(banana)"}, "mlgov.weekly_scan_schedule", "6 fields"),
        ({"retraining": {"coverage_schedule": "rate(0 minutes)"}}, "mlgov.retraining.coverage_schedule", "at least 1"),
        ({"weekly_scan_schedule": "cron(0 6 * * MON *)"}, "mlgov.weekly_scan_schedule", "must be ?"),
        ({"weekly_scan_schedule": "rate(1 minutes)"}, "mlgov.weekly_scan_schedule", "rate(1 minute)"),
        ({"weekly_scan_schedule": "cron(0 25 ? * MON *)"}, "mlgov.weekly_scan_schedule", "hours field"),
        (
            {"alert_routing": {"routes": [{"kinds": ["UNREGISTERED_ENDPONT"], "jira": True}]}},
            "mlgov.alert_routing.routes.0.kinds",
            "not a finding kind; known: UNREGISTERED_ENDPOINT",
        ),
        ({"alert_routing": {"routes": []}}, "mlgov.alert_routing.routes", "is empty"),
        ({"alert_routing": {"routes": [{"kinds": ["*"]}]}}, "mlgov.alert_routing.routes.0", "sends nowhere"),
        ({"alert_routing": {"jira_issue_type": "   "}}, "mlgov.alert_routing.jira_issue_type", "Jira issue type"),
        ({"thresholds": {"min_training_pairs": True}}, "mlgov.thresholds.min_training_pairs", "valid integer"),
        ({"thresholds": {"coverage_gap_alert_pct": True}}, "mlgov.thresholds.coverage_gap_alert_pct", "valid number"),
        ({"alert_routing": {"routes": [{"jira": "yes"}]}}, "mlgov.alert_routing.routes.0.jira", "valid boolean"),
        ({"thresholds": {"min_training_pairs": "50000"}}, "mlgov.thresholds.min_training_pairs", "valid integer"),
    ],
)
def test_a_bad_value_fails_with_one_line_naming_the_key(raw: dict[str, Any], key: str, hint: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw)
    message = str(caught.value)
    assert "\n" not in message
    assert f"'{key}'" in message or key in message
    assert hint in message


def test_a_cdk_json_that_is_not_json_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "cdk.json"
    bad.write_text("{ nope")
    with pytest.raises(SettingsError, match="not valid JSON"):
        load_settings_file(bad)
    assert load_settings_file(tmp_path / "absent.json") == parse_settings({})
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps({"context": {"mlgov": {"experiment_exemptions": {"account_ids": ["123456789012"]}}}}))
    assert load_settings_file(ok).experiment_exemptions.account_ids == ["123456789012"]


def test_function_settings_name_the_missing_variable() -> None:
    with pytest.raises(FunctionSettingsError, match="FINDINGS_TABLE_NAME"):
        load_endpoint_audit_settings(
            {"FINDINGS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t", "IDEMPOTENCY_TABLE_NAME": "x"}
        )
    ok = load_endpoint_audit_settings(
        {
            "FINDINGS_TABLE_NAME": "findings",
            "FINDINGS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
            "IDEMPOTENCY_TABLE_NAME": "idem",
            **function_settings({"experiment_exemptions": {"account_ids": ["111122223333", "444455556666"]}}),
        }
    )
    assert ok.exemptions.account_ids == frozenset({"111122223333", "444455556666"})


@pytest.mark.parametrize(
    "schedule",
    [
        "cron(0 5 ? * MON *)",
        "cron(0/15 * * * ? *)",
        "cron(0 18 ? * MON-FRI *)",
        "cron(0 8 1 * ? *)",
        "cron(0 10 ? * 6L 2026-2027)",
        "cron(15 10 ? * 6#3 *)",
        "cron(0 0 L * ? *)",
        "cron(0 0 15W * ? *)",
        "cron(0 0 1 JAN,JUL ? *)",
        "rate(1 day)",
        "rate(12 hours)",
    ],
)
def test_valid_eventbridge_schedules_pass(schedule: str) -> None:
    assert parse_settings({"weekly_scan_schedule": schedule}).weekly_scan_schedule == schedule


def test_the_default_route_goes_to_security_slack_channel() -> None:
    routing = parse_settings({"alert_routing": {"security_slack_channel": "#sec-alerts"}}).alert_routing
    assert (routing.routes[0].kinds, routing.routes[0].slack_channel, routing.routes[0].jira) == (
        ["*"],
        "#sec-alerts",
        True,
    )
    assert {r.slack_channel for r in routing.routes} == {"#sec-alerts"}
    explicit = parse_settings(
        {"alert_routing": {"routes": [{"kinds": ["CATALOG_COVERAGE_GAP"], "slack_channel": "#recsys"}]}}
    )
    assert [r.slack_channel for r in explicit.alert_routing.routes] == ["#recsys"]


def test_every_kind_a_registered_capability_emits_can_be_routed() -> None:
    from mlgov_runtime.registry import CAPABILITIES

    kinds = sorted({k for c in CAPABILITIES for k in c.kinds})
    assert kinds, "the registry declares no finding kinds"
    routes = [{"kinds": kinds, "min_severity": "LOW", "jira": True}]
    assert parse_settings({"alert_routing": {"routes": routes}}).alert_routing.routes[0].kinds == kinds


@pytest.mark.parametrize(
    ("content", "hint"),
    [
        (b"[1, 2]", "not a JSON array"),
        (b'{"context": []}', "'context' must be a JSON object"),
        (b'{"context": {"mlgov": 5}}', "must be an object"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_a_cdk_json_of_the_wrong_shape_is_one_line_naming_the_file(tmp_path: Path, content: bytes, hint: str) -> None:
    path = tmp_path / "cdk.json"
    path.write_bytes(content)
    with pytest.raises(SettingsError) as caught:
        load_settings_file(path)
    assert hint in str(caught.value) and "\n" not in str(caught.value)


def test_a_directory_named_as_cdk_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="is a directory"):
        load_settings_file(tmp_path)


def test_the_retraining_group_is_the_only_watched_group_or_the_one_named() -> None:
    solo = {"watched_model_package_groups": ["solo"], "challenger": {"endpoints": {"solo": "solo-prod"}}}
    assert parse_settings(solo).retraining_group == "solo"
    several = {
        "watched_model_package_groups": ["a", "b"],
        "retraining": {"model_package_group": "b"},
        "challenger": {"endpoints": {}},
    }
    assert parse_settings(several).retraining_group == "b"


# -- issue 21 item 4: one validation for synth and the CLI; nothing silently falls back to defaults


def test_a_challenger_group_that_is_not_watched_is_refused_by_parse_settings_itself() -> None:
    # parse_settings is what both `cdk synth` (app.build_app) and the CLI (load_settings_file) call.
    with pytest.raises(SettingsError, match="group manga-ranker is not in watched_model_package_groups"):
        parse_settings({"challenger": {"endpoints": {"manga-ranker": "manga-ranker-prod"}}})
    with pytest.raises(SettingsError, match=r"group manga-recommender \(the default; set challenger.endpoints\)"):
        parse_settings({"watched_model_package_groups": ["solo"]})


@pytest.mark.parametrize("key", ["mlgvo", "MLGOV", "mlgov ", "ml_gov", "mlgv", "mglov"])
def test_a_context_key_that_looks_like_a_misspelt_mlgov_is_refused(tmp_path: Path, key: str) -> None:
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"context": {key: {"log_retention_days": 30}}}))
    with pytest.raises(SettingsError, match="looks like a misspelt 'mlgov'"):
        load_settings_file(path)


@pytest.mark.parametrize("key", ["@aws-cdk/core:newStyleStackSynthesis", "acknowledged-issue-numbers", "mlops", "x"])
def test_other_context_keys_are_left_to_cdk(tmp_path: Path, key: str) -> None:
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"context": {key: True, "mlgov": {"log_retention_days": 30}}}))
    assert load_settings_file(path).log_retention_days == 30


def test_an_explicit_settings_path_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no such file"):
        load_settings_file(tmp_path / "cdk.jsn", explicit=True)
    assert load_settings_file(tmp_path / "cdk.json").log_retention_days == 90  # the default file may be absent
