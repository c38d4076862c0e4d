"""The capacity check inside the org-wide scan: one autoscaling read per account/region, its own row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlgov.commands.capacity import capacity_policy
from mlgov.settings import parse_settings
from mlgov_runtime.capacity import endpoint_check
from mlgov_runtime.capacity.check import CapacityChecker
from mlgov_runtime.capacity.logic import KIND_ZERO, CapacityPolicy
from mlgov_runtime.core.checks import CheckContext, EndpointGone
from mlgov_runtime.core.exemptions import ExemptionPolicy
from tests.unit.capacity_fakes import ACCOUNT, REGION, FakeCapacity

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def context(estate: FakeCapacity) -> CheckContext:
    ctx = CheckContext(
        ACCOUNT, REGION, clients=lambda s: None, home_clients=lambda s: None, options={}, source="scheduled", now=NOW
    )
    ctx.preset(
        "capacity.checker",
        CapacityChecker(estate, ACCOUNT, REGION, CapacityPolicy(), ExemptionPolicy(), now=lambda: NOW),
    )
    return ctx


def test_a_scan_reads_autoscaling_once_and_reports_under_its_own_key() -> None:
    estate = FakeCapacity()
    for name, low in (("manga-recommender-prod", 0), ("manga-recommender-ab", 2)):
        estate.endpoint(name)
        estate.target(f"endpoint/{name}/variant/AllTraffic", low)
    ctx = context(estate)
    zero = endpoint_check.check_endpoint(ctx, "manga-recommender-prod")
    fine = endpoint_check.check_endpoint(ctx, "manga-recommender-ab")
    assert estate.calls.count("targets:all") == 1 and "targets" not in estate.calls
    assert "verdict" not in zero.row  # the lineage verdict of the row stays the lineage check's
    assert zero.row["capacity"]["verdict"] == "CAN_SCALE_TO_ZERO" and zero.row["capacity"]["minimum"] == 0
    assert [(f.kind, f.severity, f.source) for f in zero.findings] == [(KIND_ZERO, "CRITICAL", "scheduled")]
    assert fine.findings == [] and not fine.inconclusive


def test_a_deleted_endpoint_leaves_the_scan_and_an_unreadable_one_closes_nothing() -> None:
    estate = FakeCapacity()
    estate.endpoint("manga-recommender-prod")
    ctx = context(estate)
    with pytest.raises(EndpointGone):
        endpoint_check.check_endpoint(ctx, "manga-recommender-hotfix")
    estate.failures.add("config")
    assert endpoint_check.check_endpoint(ctx, "manga-recommender-prod").inconclusive


def test_the_scan_reads_the_same_policy_as_the_cli_from_the_settings() -> None:
    settings = parse_settings({"capacity": {"time_zone": "Asia/Tokyo", "business_hours_min_capacity": 3}})
    assert endpoint_check.policy_from_options(settings.model_dump()) == capacity_policy(settings)
    assert endpoint_check.policy_from_options({}) == CapacityPolicy()
    assert {"application-autoscaling:DescribeScalableTargets", "sagemaker:ListTags"} <= endpoint_check.MEMBER_ACTIONS
