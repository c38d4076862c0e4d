"""The operator commands and a scalable target whose scale-out or schedule is suspended (seventeenth review, hole 4):
`mlgov capacity restore` registers with every suspension off (RegisterScalableTarget keeps a SuspendedState it is not
given), also where the minimum is already right; `mlgov capacity campaign` refuses a target whose scheduled scaling
is suspended (exit 2, naming the fix) and never reads an unreadable state as "not suspended"."""

from __future__ import annotations

import json
from typing import Any

import botocore.client
import pytest
from botocore.exceptions import ClientError

from tests.integration.test_capacity import (
    CAMPAIGN,
    PROD,
    PROD_TARGET,
    REGION,
    VARIANT_DIMENSION,
    CapacityWorld,
    _campaign_actions,
    campaign_clock,
    capacity_world,
    run_cli,
    set_min,
)
from tests.settings_files import NO_SETTINGS

__all__ = ["campaign_clock", "capacity_world"]
RESTORE = ("capacity", "restore", "--endpoint", PROD, "--region", REGION, "--format", "json", "--config", NO_SETTINGS)


def _suspend(world: CapacityWorld, **flags: bool) -> None:
    world.aas.register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=PROD_TARGET, ScalableDimension=VARIANT_DIMENSION, SuspendedState=flags
    )


def _state(world: CapacityWorld) -> dict[str, Any]:
    [target] = world.aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[PROD_TARGET])[
        "ScalableTargets"
    ]
    return {"min": target["MinCapacity"], **target.get("SuspendedState", {})}


def _throttle_describe_targets_after(monkeypatch: pytest.MonkeyPatch, calls: int) -> None:
    """DescribeScalableTargets answers `calls` times (the audit's reads), then is throttled."""
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)
    seen: list[str] = []

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        if name == "DescribeScalableTargets":
            seen.append(name)
            if len(seen) > calls:
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "injected"}}, name)
        return original(self, name, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)


def test_restore_registers_with_every_suspension_off(capacity_world: CapacityWorld) -> None:
    world = capacity_world
    set_min(world, 0)
    _suspend(world, DynamicScalingOutSuspended=True, ScheduledScalingSuspended=True, DynamicScalingInSuspended=True)
    code, out, err = run_cli(*RESTORE)
    body = json.loads(out)
    assert code == 0, err
    [step] = [s for s in body["steps"] if s["action"] == "register_scalable_target"]
    assert (
        step["status"] == "done"
        and "resuming DynamicScalingOutSuspended and ScheduledScalingSuspended" in (step["detail"])
    ), step
    # The undo puts back exactly what was, suspensions included.
    assert "--suspended-state DynamicScalingOutSuspended=true,ScheduledScalingSuspended=true" in step["undo"]
    assert _state(world) == {
        "min": 1,
        "DynamicScalingInSuspended": False,
        "DynamicScalingOutSuspended": False,
        "ScheduledScalingSuspended": False,
    }


def test_restore_resumes_a_suspended_target_whose_minimum_is_already_right(capacity_world: CapacityWorld) -> None:
    world = capacity_world
    set_min(world, 2)
    _suspend(world, ScheduledScalingSuspended=True)
    _, out, _ = run_cli(*RESTORE, "--dry-run")
    [step] = [s for s in json.loads(out)["steps"] if s["action"] == "register_scalable_target"]
    assert step["status"] == "planned" and step["detail"].endswith("MinCapacity 2, MaxCapacity 4, resuming "
                                                                     "ScheduledScalingSuspended"), step  # fmt: skip
    assert _state(world)["ScheduledScalingSuspended"] is True  # a dry run changes nothing
    run_cli(*RESTORE)
    assert _state(world) == {
        "min": 2,  # kept: the minimum was already above the floor
        "DynamicScalingInSuspended": False,
        "DynamicScalingOutSuspended": False,
        "ScheduledScalingSuspended": False,
    }


def test_a_restore_that_cannot_read_the_suspended_state_changes_nothing(
    capacity_world: CapacityWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = capacity_world
    set_min(world, 0)
    _throttle_describe_targets_after(monkeypatch, 1)
    code, _, err = run_cli(*RESTORE)
    assert code == 1 and "SuspendedState" in err and "nothing was changed" in err, (code, err)
    monkeypatch.undo()
    assert _state(world)["min"] == 0


def test_a_campaign_on_a_suspended_schedule_is_refused_naming_the_fix(
    capacity_world: CapacityWorld, campaign_clock: None
) -> None:
    world = capacity_world
    _suspend(world, ScheduledScalingSuspended=True)
    code, out, err = run_cli(*CAMPAIGN)
    assert code == 2 and out == "", (code, out, err)
    assert "ScheduledScalingSuspended" in err and "nothing was scheduled" in err
    assert f"mlgov capacity restore --endpoint {PROD}" in err and "--suspended-state" in err
    assert _campaign_actions(world) == {}
    arn = world.sm.describe_endpoint(EndpointName=PROD)["EndpointArn"]
    assert not [t for t in world.sm.list_tags(ResourceArn=arn)["Tags"] if t["Key"].startswith("mlgov:campaign:")]


def test_a_campaign_with_scale_out_suspended_warns(capacity_world: CapacityWorld, campaign_clock: None) -> None:
    _suspend(capacity_world, DynamicScalingOutSuspended=True)
    code, _, err = run_cli(*CAMPAIGN, "--dry-run")
    assert code == 0 and "warning: the scalable target" in err and "DynamicScalingOutSuspended" in err, (code, err)


def test_a_campaign_that_cannot_read_the_suspended_state_schedules_nothing(
    capacity_world: CapacityWorld, campaign_clock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = capacity_world
    _throttle_describe_targets_after(monkeypatch, 1)
    code, _, err = run_cli(*CAMPAIGN)
    assert code == 1 and "SuspendedState" in err and "ThrottlingException" in err, (code, err)
    monkeypatch.undo()
    assert _campaign_actions(world) == {}
