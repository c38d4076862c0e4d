"""`mlgov capacity restore` orchestration on fakes: what it changes, in which order, and what it logs."""

from __future__ import annotations

from datetime import UTC, datetime

from mlgov.ops.capacity_restore import RestoreOptions, Restorer, Step
from mlgov_runtime.capacity.check import CapacityChecker
from mlgov_runtime.capacity.logic import CapacityAudit, CapacityPolicy
from mlgov_runtime.core.exemptions import ExemptionPolicy
from tests.clock import Clock
from tests.unit.capacity_fakes import ACCOUNT, REGION, FakeCapacity, FakeRoute, FakeScaler, FakeWarmth

PROD = "endpoint/manga-recommender-prod/variant/AllTraffic"


def audit_of(estate: FakeCapacity, name: str = "manga-recommender-prod") -> CapacityAudit:
    checker = CapacityChecker(
        estate, ACCOUNT, REGION, CapacityPolicy(), ExemptionPolicy(), now=lambda: datetime(2026, 11, 25, tzinfo=UTC)
    )
    return checker.check_endpoint(name)


def run(
    audit: CapacityAudit,
    opts: RestoreOptions,
    route: FakeRoute | None = None,
    warmth: FakeWarmth | None = None,
    scaler: FakeScaler | None = None,
) -> tuple[list[Step], FakeScaler, Clock]:
    logged: list[Step] = []
    scaler = scaler or FakeScaler()
    clock = Clock()
    Restorer(scaler, warmth or FakeWarmth(), route, logged.append, sleep=clock.sleep, clock=clock).run(audit, opts)
    return logged, scaler, clock


def zero_estate(current: int = 1) -> FakeCapacity:
    estate = FakeCapacity()
    estate.endpoint("manga-recommender-prod", current=current)
    estate.target(PROD, 0, high=4)
    estate.schedule(PROD, "business", "cron(0 6 * * ? *)", 2)
    estate.schedule(PROD, "nightly-cost-saver", "cron(0 22 ? * SUN *)", 0)
    return estate


def test_the_minimum_and_every_scheduled_zero_are_put_back_and_each_step_is_logged() -> None:
    steps, scaler, _ = run(audit_of(zero_estate()), RestoreOptions(minimum=1))
    assert scaler.calls == [
        ("register", PROD, 1, 4),
        ("schedule", PROD, "nightly-cost-saver", "cron(0 22 ? * SUN *)", 1),
    ]
    assert [(s.action, s.status) for s in steps] == [
        ("register_scalable_target", "done"),
        ("put_scheduled_action", "done"),
    ]
    assert all(s.at for s in steps)


def test_an_endpoint_without_autoscaling_gets_a_target_and_the_asymmetric_target_tracking_policy() -> None:
    estate = FakeCapacity()
    estate.endpoint("manga-recommender-hotfix", current=3)
    _, scaler, _ = run(audit_of(estate, "manga-recommender-hotfix"), RestoreOptions(minimum=2, max_capacity=10))
    hotfix = "endpoint/manga-recommender-hotfix/variant/AllTraffic"
    assert scaler.calls == [
        ("register", hotfix, 2, 10),
        ("policy", hotfix, "SageMakerVariantInvocationsPerInstance", 70.0, 300, 60),
    ]


def test_a_dry_run_changes_nothing_and_prints_the_plan() -> None:
    route = FakeRoute()
    steps, scaler, _ = run(
        audit_of(zero_estate(current=0)),
        RestoreOptions(minimum=1, fallback_value="bedrock-fallback", dry_run=True),
        route,
    )
    assert scaler.calls == [] and route.switches == []
    assert [s.action for s in steps] == [
        "route_to_fallback",
        "register_scalable_target",
        "put_scheduled_action",
        "wait_in_service",
        "wait_invocations",
        "route_back",
    ]
    assert {s.status for s in steps} == {"planned"}


def test_a_cold_endpoint_is_routed_to_the_fallback_and_back_once_it_serves() -> None:
    route, warmth = FakeRoute("sagemaker"), FakeWarmth(ready_after=2, flowing_after=1)
    steps, _, clock = run(
        audit_of(zero_estate(current=0)),
        RestoreOptions(minimum=1, fallback_value="bedrock-fallback", poll_seconds=15),
        route,
        warmth,
    )
    assert route.switches == ["bedrock-fallback", "sagemaker"]
    assert [(s.action, s.status) for s in steps] == [
        ("route_to_fallback", "done"),
        ("register_scalable_target", "done"),
        ("put_scheduled_action", "done"),
        ("wait_in_service", "done"),
        ("wait_invocations", "done"),
        ("route_back", "done"),
    ]
    assert clock.sleeps == [15, 15, 15]  # two probes before InService, one before invocations flowed
    assert "InvocationsPerInstance 12" in steps[4].detail


def test_a_smoke_invocation_is_sent_when_configured_so_invocations_can_flow() -> None:
    warmth = FakeWarmth()
    steps, _, _ = run(
        audit_of(zero_estate(current=0)),
        RestoreOptions(minimum=1, fallback_value="bedrock-fallback", smoke_body='{"query": "manga like Berserk"}'),
        FakeRoute(),
        warmth,
    )
    assert warmth.smokes == 1 and "smoke_invoke" in [s.action for s in steps]


def test_a_warm_endpoint_keeps_its_traffic() -> None:
    route = FakeRoute()
    steps, _, _ = run(audit_of(zero_estate(current=1)), RestoreOptions(minimum=1, fallback_value="bedrock"), route)
    assert route.switches == []
    assert (steps[0].action, steps[0].status) == ("route_to_fallback", "skipped")


def test_a_route_already_on_the_fallback_is_left_for_whoever_set_it() -> None:
    route = FakeRoute("bedrock-fallback")
    steps, _, _ = run(
        audit_of(zero_estate(current=0)), RestoreOptions(minimum=1, fallback_value="bedrock-fallback"), route
    )
    assert route.switches == []
    assert steps[0].status == "skipped" and "route_back" not in [s.action for s in steps]


def test_an_endpoint_that_never_serves_leaves_recommendations_on_the_fallback_and_says_so() -> None:
    route = FakeRoute("sagemaker")
    steps, _, clock = run(
        audit_of(zero_estate(current=0)),
        RestoreOptions(minimum=1, fallback_value="bedrock-fallback", wait_seconds=60, poll_seconds=15),
        route,
        FakeWarmth(ready_after=99),
    )
    assert route.switches == ["bedrock-fallback"]
    assert [(s.action, s.status) for s in steps[-2:]] == [("wait_in_service", "failed"), ("route_back", "failed")]
    assert "stay on bedrock-fallback" in steps[-1].detail and "'sagemaker'" in steps[-1].detail
    assert clock.now == 60


def test_a_failed_change_stops_the_restore_and_keeps_the_fallback() -> None:
    route = FakeRoute("sagemaker")
    steps, _, _ = run(
        audit_of(zero_estate(current=0)),
        RestoreOptions(minimum=1, fallback_value="bedrock-fallback"),
        route,
        scaler=FakeScaler(fail=True),
    )
    assert route.switches == ["bedrock-fallback"]
    assert (steps[-1].action, steps[-1].status) == ("register_scalable_target", "failed")
    assert "AccessDeniedException" in steps[-1].detail


def test_managed_instance_scaling_at_zero_is_named_as_a_pipeline_change() -> None:
    estate = FakeCapacity()
    estate.scaling_to_zero_instances("manga-ic", "lora", max_instances=2)
    steps, scaler, _ = run(audit_of(estate, "manga-ic"), RestoreOptions(minimum=1))
    assert scaler.calls == []
    assert [(s.action, s.status) for s in steps] == [("needs_pipeline", "needs_pipeline")]
    assert "MinInstanceCount 0" in steps[0].detail


def test_every_change_carries_the_command_that_puts_back_what_was_there() -> None:
    # Given MinCapacity 0 (max 4) and a Sunday-night action to 0
    logged, _, _ = run(audit_of(zero_estate()), RestoreOptions(minimum=1))
    undo = {s.action: s.undo or "" for s in logged if s.status == "done"}
    # Then each undo restores the exact earlier values
    assert undo["register_scalable_target"] == (
        "aws application-autoscaling register-scalable-target --service-namespace sagemaker "
        f"--resource-id {PROD} --scalable-dimension sagemaker:variant:DesiredInstanceCount --min-capacity 0 "
        "--max-capacity 4"
    )
    assert "put-scheduled-action" in undo["put_scheduled_action"]
    assert (
        "--scheduled-action-name nightly-cost-saver --schedule 'cron(0 22 ? * SUN *)'" in undo["put_scheduled_action"]
    )
    assert undo["put_scheduled_action"].endswith("--scalable-target-action MinCapacity=0")


def test_the_way_back_counts_only_the_traffic_of_the_components_that_were_cold() -> None:
    """Another component's traffic says nothing of the restored one's (seventeenth review, hole 7)."""
    from mlgov_runtime.capacity.logic import COPIES_DIMENSION, TargetCapacity

    def component(name: str, current: int | None) -> TargetCapacity:
        rid = f"inference-component/{name}"
        return TargetCapacity(name, "inference-component", rid, COPIES_DIMENSION, True, 1, 4, current)

    audit = CapacityAudit("lora-host", None, ACCOUNT, REGION, status="Updating")  # cold whatever the components say
    audit.capacities = [component("ic-cold", 0), component("ic-warm", 2), component("ic-unread", None)]
    route, warmth = FakeRoute("sagemaker"), FakeWarmth()
    steps, _, _ = run(audit, RestoreOptions(minimum=1, fallback_value="bedrock-fallback"), route, warmth)
    assert [s.status for s in steps if s.action == "wait_invocations"] == ["done"]
    assert warmth.counted == ["ic-cold", "ic-unread"]  # a copy count not read is never warm
    assert route.switches == ["bedrock-fallback", "sagemaker"]
