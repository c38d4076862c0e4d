"""One model per setting: the pydantic model cdk.json is validated with (synth, CLI) is derived from the
capability's dataclass, and the function validates what it received against that same dataclass. Both
sides must agree: what synth accepts the function accepts, and a bad value is refused on both sides,
naming the same key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlgov.settings import SettingsError, parse_settings, received_model
from mlgov_runtime.core.env import SettingsError as FunctionSettingsError
from mlgov_runtime.core.model import received, received_environment, variable
from mlgov_runtime.registry import CAPABILITIES, Capability

RECEIVING = [
    c
    for c in CAPABILITIES
    if c.name
    in (
        "lineage_audit",
        "capacity",
        "coverage",
        "retraining",
        "retirement",
        "notifier",
        "challenger",
        "approvals",
        "org_scan",
    )
]

CONTEXT: dict[str, Any] = {
    "watched_model_package_groups": ["manga-recommender", "manga-ranker"],
    "package_account_ids": ["111122223333"],
    "member_audit_role_name": "AuditRole",
    "experiment_exemptions": {"account_ids": ["444455556666"]},
    "retraining": {"model_package_group": "manga-ranker", "managed_spot": True, "max_wait_hours": 20},
    "org_scan": {"regions": ["eu-west-1", "ap-northeast-1"], "exclude_account_ids": ["999988887777"]},
    "capacity": {"campaigns": [], "time_zone": "Asia/Tokyo"},
    "retirement": {"hourly_price_usd": {"ml.g5.xlarge": 1.5}, "on_retiring_tag_change": "flag"},
    "challenger": {"require_human_approval": True, "min_minutes": 60, "ramp": [[10, 0.25], [20, 0.5]]},
    "approvals": {
        "approvers": {"challenger": ["arn:aws:iam::111122223333:role/Approver"]},
        "slack_approvers": {"UBOB": ["arn:aws:iam::111122223333:role/Bob"]},
    },
    "guardrails": {"pipeline_role_arns": ["arn:aws:iam::111122223333:role/mlgov-protected/Pipeline"]},
    "alert_routing": {"jira_resolve_transition_id": "31", "security_hub": True},
    "thresholds": {
        "min_endpoint_capacity": 2,
        "coverage_gap_page_pct": 20,
        "stale_invocation_window_hours": 48,
        "snapshot_max_age_days": 30,
    },
}


@pytest.mark.parametrize("capability", RECEIVING, ids=lambda c: c.name)
def test_what_synth_sends_the_function_reads_back_unchanged(capability: Capability) -> None:
    settings = parse_settings(CONTEXT)
    model = received_model(capability)
    env = received_environment(settings, model)
    got: Any = received(env, model)
    name = variable(model)
    assert json.loads(received_environment(got, model)[name]) == json.loads(env[name])  # the same values


# (section, values to merge, the key both sides must name)
BAD = [
    ("retirement", {"approval_expiry_hours": 0}, "retirement.approval_expiry_hours"),
    ("retirement", {"audit_schedule": "cron(0 7 1 * * *)"}, "retirement.audit_schedule"),
    ("retirement", {"client_error_metrics": [{"namespace": "A"}]}, "retirement.client_error_metrics"),
    ("retirement", {"on_retiring_tag_change": "delete"}, "retirement.on_retiring_tag_change"),
    ("retirement", {"managed_by_values": "one"}, "retirement.managed_by_values"),
    ("capacity", {"overnight_min_capacity": 5}, "capacity"),
    ("capacity", {"max_capacity": True}, "capacity.max_capacity"),
    ("capacity", {"business_hours": {"days": ["MON"], "start": "09:00", "end": "08:00"}}, "capacity.business_hours"),
    ("experiment_exemptions", {"account_ids": ["prod"]}, "experiment_exemptions.account_ids"),
    ("experiment_exemptions", {"endpoint_prefix": "x-"}, "experiment_exemptions.endpoint_prefix"),
    ("retraining", {"instance_count": 1.5}, "retraining.instance_count"),
    ("retraining", {"lora": {"r": 0}}, "retraining.lora.r"),
    ("alert_routing", {"jira_issue_type": " Task"}, "alert_routing.jira_issue_type"),
    ("alert_routing", {"jira_resolve_transition_id": "next"}, "alert_routing.jira_resolve_transition_id"),
    ("alert_routing", {"routes": []}, "alert_routing.routes"),
    ("alert_routing", {"routes": [{"kinds": ["*"]}]}, "alert_routing.routes"),
    ("alert_routing", {"page_severities": ["URGENT"]}, "alert_routing.page_severities"),
    ("challenger", {"min_minutes": 500, "max_minutes": 400}, "challenger"),
    ("challenger", {"srm_alpha": 0.5}, "challenger.srm_alpha"),
    ("challenger", {"ramp": [[20, 0.5], [10, 0.25]]}, "challenger"),
    ("challenger", {"ramp": [[10, 0.25, 1]]}, "challenger.ramp"),
    ("challenger", {"metrics": {"clicks": ""}}, "challenger.metrics.clicks"),
    ("approvals", {"approvers": {"retirement": ["bob"]}}, "approvals.approvers"),
    ("approvals", {"approvers": {"deletion": ["arn:aws:iam::111122223333:role/Approver"]}}, "approvals.approvers"),
    ("approvals", {"slack_approvers": {"UBOB": "arn:aws:iam::111122223333:role/*"}}, "approvals.slack_approvers"),
    ("approvals", {"slack_approvers": {"bob": "arn:aws:iam::111122223333:role/Bob"}}, "approvals.slack_approvers"),
    ("org_scan", {"endpoint_concurrency": 65}, "org_scan.endpoint_concurrency"),
    ("org_scan", {"regions": ["moon"]}, "org_scan.regions"),
    ("org_scan", {"account_tags": {"": "x"}}, "org_scan.account_tags"),
    ("retraining", {"catalog_table_name": "a"}, "retraining.catalog_table_name"),
    ("thresholds", {"snapshot_max_age_days": 0}, "thresholds.snapshot_max_age_days"),
    ("guardrails", {"pipeline_role_arns": ["pipeline"]}, "guardrails.pipeline_role_arns"),
    ("thresholds", {"max_json_failure_rate": 1.5}, "thresholds.max_json_failure_rate"),
    ("thresholds", {"ctr_test_alpha": 0.5}, "thresholds.ctr_test_alpha"),
    ("thresholds", {"coverage_gap_alert_pct": 30}, "thresholds.coverage_gap_page_pct"),
    ("thresholds", {"deletion_safety_window_hours": 25}, "thresholds.deletion_safety_window_hours"),
]


@pytest.mark.parametrize(("section", "values", "key"), BAD, ids=[b[2] + str(i) for i, b in enumerate(BAD)])
def test_a_bad_value_is_refused_at_synth_and_at_cold_start_naming_the_same_key(
    section: str, values: dict[str, Any], key: str
) -> None:
    with pytest.raises(SettingsError, match=f"'mlgov\\.{key}"):
        parse_settings({**CONTEXT, section: {**CONTEXT.get(section, {}), **values}})
    settings = parse_settings(CONTEXT)
    for capability in RECEIVING:
        model = received_model(capability)
        name = variable(model)
        sent = json.loads(received_environment(settings, model)[name])
        if section not in sent or not set(values) <= set(sent[section]):  # not what this function receives
            continue
        sent[section] = {**sent[section], **values}
        with pytest.raises(FunctionSettingsError, match=f"{name}: 'mlgov\\.{key}"):
            received({name: json.dumps(sent)}, model)


def _heavy_retirement(prices: int) -> dict[str, Any]:
    return {"hourly_price_usd": {f"ml.g5.{n}xlarge": 1.5 for n in range(prices)}}


def test_the_org_scan_settings_fit_a_lambda_environment_or_synth_names_what_to_shorten() -> None:
    from mlgov_runtime.org_scan.settings import SETTINGS_MAX_BYTES, environment

    # Given a heavy but real estate: four regions, five excluded accounts, a long price list
    heavy = {
        **CONTEXT,
        "org_scan": {"regions": ["us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"]},
        "retirement": _heavy_retirement(20),
    }
    [(name, text)] = environment(parse_settings(heavy)).items()
    assert name == "MLGOV_ORG_SCAN_SETTINGS" and len(text.encode()) <= SETTINGS_MAX_BYTES
    # When the price list grows past what 4 KB of environment can carry, synth refuses, naming the biggest parts
    with pytest.raises(FunctionSettingsError, match=r"shorten lists in capacity/retirement \(largest: retirement "):
        environment(parse_settings({**heavy, "retirement": _heavy_retirement(80)}))
