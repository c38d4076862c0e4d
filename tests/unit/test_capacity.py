"""The capacity rules on an in-memory estate: which endpoints can reach zero, and what the findings say."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlgov.ops.capacity_restore import cold
from mlgov_runtime.capacity.check import CapacityChecker, finding_for, report
from mlgov_runtime.capacity.logic import (
    KIND_COLD_START,
    KIND_ERROR,
    KIND_NO_AUTOSCALING,
    KIND_SINGLE_INSTANCE,
    KIND_ZERO,
    CapacityAudit,
    CapacityPolicy,
    Verdict,
)
from mlgov_runtime.capacity.schedule import Window
from mlgov_runtime.core.exemptions import ExemptionPolicy
from tests.unit.capacity_fakes import ACCOUNT, REGION, FakeCapacity
from tests.unit.fakes import FindingBook

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)  # a Wednesday
PROD = "endpoint/manga-recommender-prod/variant/AllTraffic"


def checker(estate: FakeCapacity, policy: CapacityPolicy | None = None, exempt: frozenset[str] = frozenset()) -> Any:
    return CapacityChecker(
        estate, ACCOUNT, REGION, policy or CapacityPolicy(), ExemptionPolicy("experiment-", exempt), now=lambda: NOW
    )


def business_schedule(estate: FakeCapacity, resource: str = PROD, tz: str | None = None) -> None:
    estate.schedule(resource, "overnight", "cron(0 0 * * ? *)", 1, tz)
    estate.schedule(resource, "business", "cron(0 6 * * ? *)", 2, tz)
    estate.schedule(resource, "manga-monday", "cron(0 8 ? * MON *)", 5, tz)
    estate.schedule(resource, "manga-monday-end", "cron(0 22 ? * MON *)", 2, tz)


@pytest.fixture
def estate() -> FakeCapacity:
    return FakeCapacity()


def test_a_scaled_endpoint_with_business_hours_and_campaign_schedule_is_compliant(estate: FakeCapacity) -> None:
    estate.endpoint("manga-recommender-prod")
    estate.target(PROD, 1)
    business_schedule(estate)
    audit = checker(estate).check_endpoint("manga-recommender-prod")
    assert audit.verdict is Verdict.COMPLIANT, audit.reasons
    assert (audit.minimum, audit.business_hours_minimum) == (1, 2)
    assert [a.min_capacity for a in audit.capacities[0].schedule] == [1, 2, 5, 2]


def test_min_capacity_zero_is_critical_for_production_and_names_the_fix(estate: FakeCapacity) -> None:
    estate.endpoint("manga-recommender-prod")
    estate.target(PROD, 0)
    business_schedule(estate)
    audit = checker(estate).check_endpoint("manga-recommender-prod")
    assert audit.verdict is Verdict.CAN_SCALE_TO_ZERO and audit.minimum == 0
    finding = finding_for(audit, KIND_ZERO, "realtime")
    assert finding.severity == "CRITICAL"
    assert finding.kind == "ENDPOINT_CAN_SCALE_TO_ZERO"
    assert "MinCapacity 0" in finding.detail
    assert "`mlgov capacity restore --endpoint manga-recommender-prod`" in finding.detail
    assert finding.evidence["fix_command"] == "mlgov capacity restore --endpoint manga-recommender-prod"


def test_a_scheduled_action_that_sets_zero_is_a_way_to_zero_even_if_the_minimum_is_one_now(
    estate: FakeCapacity,
) -> None:
    estate.endpoint("manga-recommender-prod")
    estate.target(PROD, 1)
    estate.schedule(PROD, "nightly-cost-saver", "cron(0 22 ? * SUN *)", 0)
    audit = checker(estate).check_endpoint("manga-recommender-prod")
    assert audit.verdict is Verdict.CAN_SCALE_TO_ZERO
    assert "scheduled action nightly-cost-saver (cron(0 22 ? * SUN *) UTC) sets MinCapacity 0" in audit.reasons[0]
    assert audit.minimum == 0


def test_an_endpoint_without_a_scalable_target_has_no_autoscaling_and_one_instance_in_business_hours(
    estate: FakeCapacity,
) -> None:
    estate.endpoint("manga-recommender-hotfix")
    audit = checker(estate).check_endpoint("manga-recommender-hotfix")
    assert audit.verdict is Verdict.NO_AUTOSCALING
    assert set(audit.problems) == {KIND_NO_AUTOSCALING, KIND_SINGLE_INSTANCE}
    assert (
        audit.fix_command(KIND_SINGLE_INSTANCE) == "mlgov capacity restore --endpoint manga-recommender-hotfix --min 2"
    )
    assert finding_for(audit, KIND_NO_AUTOSCALING, "scheduled").severity == "MEDIUM"


def test_a_single_business_hours_instance_is_medium_where_the_settings_ask_for_two(estate: FakeCapacity) -> None:
    estate.endpoint("manga-recommender-ab")
    estate.target("endpoint/manga-recommender-ab/variant/AllTraffic", 1)
    audit = checker(estate).check_endpoint("manga-recommender-ab")
    assert audit.verdict is Verdict.SINGLE_INSTANCE
    assert "Security Hub SageMaker.4" in audit.reasons[0]
    assert finding_for(audit, KIND_SINGLE_INSTANCE, "scheduled").severity == "MEDIUM"
    relaxed = checker(estate, CapacityPolicy(business_min=1)).check_endpoint("manga-recommender-ab")
    assert relaxed.verdict is Verdict.COMPLIANT


def test_business_hours_follow_the_time_zone_of_settings_and_of_each_action(estate: FakeCapacity) -> None:
    # Tokyo business hours, actions written in Tokyo time: 2 from 06:00 JST, so compliant.
    estate.endpoint("manga-recommender-prod")
    estate.target(PROD, 1)
    business_schedule(estate, tz="Asia/Tokyo")
    tokyo = CapacityPolicy(time_zone="Asia/Tokyo")
    assert checker(estate, tokyo).check_endpoint("manga-recommender-prod").verdict is Verdict.COMPLIANT
    # The same actions read as UTC leave 06:00-15:00 JST at 1 instance.
    utc = FakeCapacity()
    utc.endpoint("manga-recommender-prod")
    utc.target(PROD, 1)
    business_schedule(utc)
    assert checker(utc, tokyo).check_endpoint("manga-recommender-prod").verdict is Verdict.SINGLE_INSTANCE


def test_a_non_production_endpoint_is_reported_but_never_paged(estate: FakeCapacity) -> None:
    estate.endpoint("manga-recommender-dev", tags={"environment": "Staging"})
    estate.target("endpoint/manga-recommender-dev/variant/AllTraffic", 0)
    audit = checker(estate).check_endpoint("manga-recommender-dev")
    assert audit.verdict is Verdict.CAN_SCALE_TO_ZERO and not audit.production
    assert finding_for(audit, KIND_ZERO, "scheduled").severity == "MEDIUM"
    assert KIND_SINGLE_INSTANCE not in audit.problems


def test_serverless_variants_carry_a_cold_start_risk_not_a_violation_unless_configured(estate: FakeCapacity) -> None:
    estate.endpoint(
        "manga-recommender-serverless",
        [{"VariantName": "AllTraffic", "ModelName": "m", "ServerlessConfig": {"MemorySizeInMB": 6144}}],
    )
    audit = checker(estate).check_endpoint("manga-recommender-serverless")
    assert audit.verdict is Verdict.COLD_START_RISK and not audit.can_reach_zero
    assert finding_for(audit, KIND_COLD_START, "scheduled").severity == "LOW"
    strict = checker(estate, CapacityPolicy(serverless_is_violation=True))
    assert strict.check_endpoint("manga-recommender-serverless").verdict is Verdict.CAN_SCALE_TO_ZERO
    estate.configs["manga-recommender-serverless-cfg"]["ProductionVariants"][0]["ServerlessConfig"][
        "ProvisionedConcurrency"
    ] = 2
    assert checker(estate).check_endpoint("manga-recommender-serverless").verdict is Verdict.COMPLIANT


def test_managed_instance_scaling_to_zero_in_the_config_can_reach_zero_and_needs_the_pipeline(
    estate: FakeCapacity,
) -> None:
    estate.scaling_to_zero_instances("manga-ic", "manga-ic-lora", max_instances=4)
    audit = checker(estate).check_endpoint("manga-ic")
    assert audit.verdict is Verdict.CAN_SCALE_TO_ZERO
    assert "ManagedInstanceScaling.MinInstanceCount 0 in endpoint config manga-ic-cfg" in audit.reasons[0]
    assert audit.pipeline_fixes == [audit.reasons[0]]


def test_inference_component_copies_follow_the_same_rules(estate: FakeCapacity) -> None:
    variant = {"VariantName": "AllTraffic", "InstanceType": "ml.g5.12xlarge", "InitialInstanceCount": 2}
    estate.endpoint("manga-ic", [variant])
    estate.components["manga-ic"] = ["lora-a", "lora-b"]
    estate.target("inference-component/lora-a", 0)
    audit = checker(estate).check_endpoint("manga-ic")
    assert audit.verdict is Verdict.CAN_SCALE_TO_ZERO
    assert [c.kind for c in audit.capacities] == ["inference-component", "inference-component"]
    assert "inference component lora-a: MinCapacity 0" in audit.reasons[0]
    assert "inference component lora-b: no scalable target" in audit.problems[KIND_NO_AUTOSCALING][0]


def component_host(estate: FakeCapacity, *components: str) -> None:
    variant = {"VariantName": "AllTraffic", "InstanceType": "ml.g5.12xlarge", "InitialInstanceCount": 2}
    estate.endpoint("manga-ic", [variant])
    estate.components["manga-ic"] = list(components)
    for component in components:
        estate.target(f"inference-component/{component}", 1)
        estate.schedule(f"inference-component/{component}", "business", "cron(0 6 * * ? *)", 2)


def test_a_component_below_one_copy_serves_nothing_whatever_its_target_says(estate: FakeCapacity) -> None:
    component_host(estate, "lora-a", "lora-b")
    assert checker(estate).check_endpoint("manga-ic").verdict is Verdict.COMPLIANT
    estate.copies["lora-a"] = {"DesiredCopyCount": 0, "CurrentCopyCount": 0}  # UpdateInferenceComponentRuntimeConfig
    audit = checker(estate).check_endpoint("manga-ic")
    assert audit.verdict is Verdict.CAN_SCALE_TO_ZERO and audit.minimum == 0 and cold(audit)
    [reason] = audit.problems[KIND_ZERO]
    assert reason.startswith("inference component lora-a: 0 copies now, 0 desired")
    assert "update-inference-component-runtime-config --region eu-west-1 --inference-component-name lora-a" in reason
    assert [c.current for c in audit.capacities] == [0, 1]


@pytest.mark.parametrize(
    ("status", "runtime", "zero"),
    [
        ("Creating", {"DesiredCopyCount": 1, "CurrentCopyCount": 0}, False),  # a deployment loading its copy
        ("InService", {"DesiredCopyCount": 1, "CurrentCopyCount": 0}, True),  # its copy never loaded
        ("Updating", {"DesiredCopyCount": 0, "CurrentCopyCount": 1}, True),  # on its way to zero
    ],
)
def test_copies_still_loading_towards_the_floor_are_a_deployment_not_a_zero(
    estate: FakeCapacity, status: str, runtime: dict[str, int], zero: bool
) -> None:
    component_host(estate, "lora-a")
    estate.copies["lora-a"], estate.component_status["lora-a"] = runtime, status
    audit = checker(estate).check_endpoint("manga-ic")
    assert (KIND_ZERO in audit.problems) is zero, audit.reasons
    assert cold(audit) is (runtime["CurrentCopyCount"] == 0)  # loading or not, no copy serves now


def test_a_component_whose_copies_cannot_be_read_is_an_error_never_fixed(estate: FakeCapacity) -> None:
    component_host(estate, "lora-a")
    estate.copies["lora-a"] = None
    audit = checker(estate).check_endpoint("manga-ic")
    assert (
        audit.verdict is Verdict.ERROR
        and "lora-a: its copy count (RuntimeConfig) could not be read" in audit.reasons[0]
    )
    estate.copies.pop("lora-a")
    estate.failures.add("component")
    audit = checker(estate).check_endpoint("manga-ic")
    assert audit.verdict is Verdict.ERROR and "ThrottlingException" in audit.reasons[0]


def test_an_endpoint_with_no_capacity_to_read_is_never_compliant(estate: FakeCapacity) -> None:
    component_host(estate)  # its components deleted
    audit = checker(estate).check_endpoint("manga-ic")
    assert audit.verdict is Verdict.CAN_SCALE_TO_ZERO
    assert "hosts inference components but serves none" in audit.problems[KIND_ZERO][0]
    estate.endpoint("odd", [])
    audit = checker(estate).check_endpoint("odd")
    assert audit.verdict is Verdict.ERROR and "names no variant" in audit.reasons[0]


def test_a_host_created_minutes_ago_waits_for_its_components(estate: FakeCapacity) -> None:
    """A deployment creates the host, then its components: no page in between (each CreateInferenceComponent
    checks it again); an hour later, still none is a host serving nothing."""
    component_host(estate)
    estate.endpoints["manga-ic"]["CreationTime"] = NOW - timedelta(minutes=10)
    audit = checker(estate).check_endpoint("manga-ic")
    assert audit.verdict is Verdict.COMPLIANT and "no inference component yet" in audit.reasons[0]
    estate.endpoints["manga-ic"]["CreationTime"] = NOW - timedelta(hours=1)
    assert checker(estate).check_endpoint("manga-ic").verdict is Verdict.CAN_SCALE_TO_ZERO
    estate.endpoint("odd", [])
    estate.endpoints["odd"]["CreationTime"] = NOW - timedelta(minutes=10)
    audit = checker(estate).check_endpoint("odd")
    assert audit.verdict is Verdict.ERROR and "names no variant" in audit.reasons[0]


def test_a_suspended_target_is_judged_by_what_aws_still_does(estate: FakeCapacity) -> None:
    estate.endpoint("manga-recommender-prod")
    estate.target(PROD, 1)
    business_schedule(estate)
    estate.targets[0]["SuspendedState"] = {"DynamicScalingInSuspended": True}  # keeps instances: harmless
    assert checker(estate).check_endpoint("manga-recommender-prod").verdict is Verdict.COMPLIANT
    estate.targets[0]["SuspendedState"] = {"ScheduledScalingSuspended": True}
    audit = checker(estate).check_endpoint("manga-recommender-prod")
    assert audit.verdict is Verdict.SINGLE_INSTANCE and audit.business_hours_minimum == 1
    assert "minimum 1 (scheduled scaling suspended) during business hours" in audit.problems[KIND_SINGLE_INSTANCE][0]
    assert any(
        "none of its 4 scheduled actions fire" in r and "ScheduledScalingSuspended=false" in r for r in audit.reasons
    )
    estate.schedule(PROD, "nightly-cost-saver", "cron(0 22 ? * SUN *)", 0)  # fires once resumed
    audit = checker(estate).check_endpoint("manga-recommender-prod")
    assert audit.verdict is Verdict.CAN_SCALE_TO_ZERO and audit.minimum == 0
    assert "(suspended; fires once resumed)" in audit.problems[KIND_ZERO][0]
    estate.targets[0]["SuspendedState"] = {"DynamicScalingOutSuspended": True}
    audit = checker(estate).check_endpoint("manga-recommender-prod")
    [why] = audit.problems[KIND_NO_AUTOSCALING]
    assert why.startswith("instance AllTraffic: scale-out suspended") and "register-scalable-target" in why


def test_an_experiment_endpoint_is_skipped_only_in_an_experiment_account(estate: FakeCapacity) -> None:
    estate.endpoint("experiment-lora-r16")
    estate.target("endpoint/experiment-lora-r16/variant/AllTraffic", 0)
    exempt = checker(estate, exempt=frozenset({ACCOUNT})).check_endpoint("experiment-lora-r16")
    assert exempt.verdict is Verdict.EXEMPT and "config" not in estate.calls
    audited = checker(estate).check_endpoint("experiment-lora-r16")
    assert audited.verdict is Verdict.CAN_SCALE_TO_ZERO
    assert "not exempt in account" in audited.reasons[-1]


def test_an_unreadable_endpoint_is_an_error_never_compliant(estate: FakeCapacity) -> None:
    estate.endpoint("manga-recommender-prod")
    estate.failures.add("targets")
    audit = checker(estate).check_endpoint("manga-recommender-prod")
    assert audit.verdict is Verdict.ERROR and audit.found
    assert "ThrottlingException" in audit.reasons[0]
    assert audit.fix_command() == "mlgov capacity audit --endpoint manga-recommender-prod"


def test_a_scan_reads_the_autoscaling_namespace_once_not_per_endpoint(estate: FakeCapacity) -> None:
    for index in range(6):
        estate.endpoint(f"ep-{index}")
        estate.target(f"endpoint/ep-{index}/variant/AllTraffic", 1)
    audits = checker(estate).check_many()
    assert len(audits) == 6
    assert estate.calls.count("targets:all") == 1 and "targets" not in estate.calls
    assert estate.calls.count("policies") == 1 and estate.calls.count("actions") == 1


def test_findings_are_published_once_and_resolved_once_the_endpoint_is_fixed(estate: FakeCapacity) -> None:
    sink = FindingBook()
    estate.endpoint("manga-recommender-prod")
    estate.target(PROD, 0)
    business_schedule(estate)
    check = checker(estate)
    first = report(check.check_endpoint("manga-recommender-prod"), sink, "realtime")
    assert [(f.kind, f.severity) for f in first.published] == [(KIND_ZERO, "CRITICAL")]
    again = report(check.check_endpoint("manga-recommender-prod"), sink, "scheduled")
    assert again.published == []  # seen again: nothing new
    estate.targets[0]["MinCapacity"] = 1
    fixed = report(check.check_endpoint("manga-recommender-prod"), sink, "realtime")
    assert [(f.kind, f.status, f.severity) for f in fixed.published] == [(KIND_ZERO, "RESOLVED", "INFO")]
    assert fixed.published[0].finding_id == first.published[0].finding_id


def test_an_error_closes_nothing_and_a_deleted_endpoint_closes_everything(estate: FakeCapacity) -> None:
    sink = FindingBook()
    estate.endpoint("manga-recommender-prod")
    estate.target(PROD, 0)
    check = checker(estate)
    report(check.check_endpoint("manga-recommender-prod"), sink, "realtime")
    estate.failures.add("targets")
    unreadable = report(check.check_endpoint("manga-recommender-prod"), sink, "realtime")
    assert [(f.kind, f.status) for f in unreadable.published] == [(KIND_ERROR, "OPEN")]
    estate.endpoints["manga-recommender-prod"]["EndpointStatus"] = "Deleting"  # what DeleteEndpoint leaves
    gone = report(check.check_endpoint("manga-recommender-prod"), sink, "realtime")
    assert not gone.audit.found
    assert sorted((f.kind, f.status) for f in gone.published) == [(KIND_ERROR, "RESOLVED"), (KIND_ZERO, "RESOLVED")]
    del estate.endpoints["manga-recommender-prod"]
    assert not check.check_endpoint("manga-recommender-prod").found


def test_a_schedule_that_is_not_weekly_is_named_and_left_out_of_business_hours(estate: FakeCapacity) -> None:
    estate.endpoint("manga-recommender-prod")
    estate.target(PROD, 2)
    estate.schedule(PROD, "xmas", "at(2026-12-24T08:00:00)", 6)
    audit = checker(estate).check_endpoint("manga-recommender-prod")
    assert audit.verdict is Verdict.COMPLIANT
    assert any("xmas (at(2026-12-24T08:00:00)) is not a weekly pattern" in r for r in audit.reasons)


def test_audit_json_carries_the_contract_fields() -> None:
    audit = CapacityAudit("e", None, ACCOUNT, REGION)
    body = audit.settle().to_dict()
    assert {"endpoint_name", "verdict", "minimum", "business_hours_minimum", "capacities"} <= set(body)
    assert body["verdict"] == "COMPLIANT" and body["fix_command"] is None


def test_business_hours_policy_default_is_the_spec_grill(estate: FakeCapacity) -> None:
    assert CapacityPolicy().business_hours == Window.parse(["MON-SUN"], "06:00", "24:00")
    assert (CapacityPolicy().floor, CapacityPolicy().business_min) == (1, 2)


ENV = {
    "FINDINGS_TABLE_NAME": "mlgov-findings",
    "FINDINGS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:mlgov-findings",
    "IDEMPOTENCY_TABLE_NAME": "mlgov-idempotency",
}


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"capacity": {"time_zone": "Mars/Olympus"}}, "mlgov.capacity.time_zone"),
        ({"capacity": {"business_hours": {"days": ["MON"], "start": "06:00"}}}, "mlgov.capacity.business_hours.end"),
        ({"capacity": {"serverless_cold_start_is_violation": "yes"}}, "mlgov.capacity.serverless_cold_start"),
        ({"thresholds": {"min_endpoint_capacity": 0}}, "mlgov.thresholds.min_endpoint_capacity"),
        ({"experiment_exemptions": {"account_ids": ["prod"]}}, "mlgov.experiment_exemptions.account_ids"),
    ],
)
def test_a_bad_environment_fails_at_cold_start_naming_the_setting(changes: dict[str, Any], named: str) -> None:
    """The function validates what it received with the settings' own model: a hand-edited variable fails."""
    from mlgov.sandbox import function_settings
    from mlgov_runtime.capacity.settings import load_capacity_settings
    from mlgov_runtime.core.env import SettingsError

    variable = "MLGOV_CAPACITY_SETTINGS"
    sent = json.loads(function_settings({}, ("capacity",))[variable])
    for section, values in changes.items():
        sent[section] = {**sent[section], **values}
    with pytest.raises(SettingsError, match=f"{variable}: '{named}"):
        load_capacity_settings({**ENV, variable: json.dumps(sent)})


def test_the_default_settings_are_the_default_policy() -> None:
    from mlgov.sandbox import function_settings
    from mlgov_runtime.capacity.settings import load_capacity_settings

    assert load_capacity_settings({**ENV, **function_settings({}, ("capacity",))}).policy == CapacityPolicy()
