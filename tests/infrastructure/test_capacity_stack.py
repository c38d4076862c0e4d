"""The capacity check's construct (shared session app), and the campaign scaling construct (its own app)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from mlgov.cdk import CampaignScaling, CampaignScheduleError, CampaignWindow, CapacityGuard
from mlgov.settings import parse_settings
from stacks.permissions import capacity as p
from stacks.permissions.core import FINDINGS, IDEMPOTENCY
from tests.infrastructure.templates import _one, _role_actions

pytestmark = pytest.mark.infrastructure
BASE = {"logs:CreateLogStream", "logs:PutLogEvents", "kms:Decrypt", "kms:GenerateDataKey"}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_the_check_role_grants_exactly_its_declared_actions(template: Template) -> None:
    # The session app lists exemption OUs, so the OU lookup is granted too.
    assert _role_actions(template, "CapacityCheck") == BASE | XRAY | set(p.ACTIONS) | set(FINDINGS) | set(IDEMPOTENCY)


def test_autoscaling_calls_on_sagemaker_resources_reach_the_check(template: Template) -> None:
    rule = _one(
        template, "AWS::Events::Rule", {"EventPattern": {"source": ["aws.application-autoscaling"]}}, "Capacity"
    )
    detail = rule["EventPattern"]["detail"]
    assert detail["requestParameters"] == {"serviceNamespace": ["sagemaker"]}
    assert {"RegisterScalableTarget", "PutScalingPolicy", "DeleteScalingPolicy", "DeregisterScalableTarget"} <= set(
        detail["eventName"]
    )
    assert detail["errorCode"] == [{"exists": False}]
    [target] = rule["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 8 and "DeadLetterConfig" in target


def test_endpoint_events_and_the_weekly_schedule_reach_the_check(template: Template) -> None:
    rules = {k: v["Properties"] for k, v in template.find_resources("AWS::Events::Rule").items()}
    mine = [r for k, r in rules.items() if k.startswith("Capacity")]
    assert len(mine) == 4
    assert any(r.get("ScheduleExpression") == "cron(0 6 ? * MON *)" for r in mine)
    patterns = [r.get("EventPattern", {}) for r in mine]
    assert {"EndpointStatus": ["IN_SERVICE"]} in [pt.get("detail") for pt in patterns]
    calls = next(pt for pt in patterns if pt.get("source") == ["aws.sagemaker"] and "eventName" in pt["detail"])
    assert {"CreateEndpoint", "UpdateEndpoint", "DeleteEndpoint"} <= set(calls["detail"]["eventName"])


def test_the_function_environment_gives_the_lambda_the_policy_the_cli_uses() -> None:
    from mlgov.commands.capacity import capacity_policy
    from mlgov_runtime.capacity.endpoint_check import policy_from_options
    from mlgov_runtime.capacity.settings import load_capacity_settings
    from stacks.capacity import function_environment

    settings = parse_settings(
        {
            "thresholds": {"min_endpoint_capacity": 2},
            "capacity": {
                "time_zone": "Asia/Tokyo",
                "business_hours": {"days": ["MON", "TUE", "WED", "THU", "FRI"], "start": "07:30", "end": "24:00"},
                "business_hours_min_capacity": 3,
                "overnight_min_capacity": 2,
                "non_production_environments": ["QA"],
                "serverless_cold_start_is_violation": True,
            },
        }
    )
    env = {
        **function_environment(settings),
        "FINDINGS_TABLE_NAME": "mlgov-findings",
        "FINDINGS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:mlgov-findings",
        "IDEMPOTENCY_TABLE_NAME": "mlgov-idempotency",
    }
    policy = load_capacity_settings(env).policy
    assert policy == capacity_policy(settings) == policy_from_options(settings.model_dump())
    assert (policy.floor, policy.business_min, policy.time_zone, policy.non_production) == (
        2,
        3,
        "Asia/Tokyo",
        frozenset({"qa"}),
    )


def test_the_app_guards_every_stack_with_the_capacity_aspect(app: Any) -> None:
    guards = [a for a in cdk.Aspects.of(app).all if isinstance(a, CapacityGuard)]
    assert len(guards) == 1 and guards[0].min_capacity == 1


# -- CampaignScaling on its own small app


@pytest.fixture(scope="module")
def campaign() -> tuple[CampaignScaling, Template]:
    app = cdk.App()
    stack = cdk.Stack(app, "Campaign", env=cdk.Environment(account="123456789012", region="ap-northeast-1"))
    settings = parse_settings({"capacity": {"time_zone": "Asia/Tokyo"}})
    scaling = CampaignScaling.from_settings(
        stack, "MangaScaling", endpoint_name="manga-recommender-prod", variant_name="AllTraffic", settings=settings
    )
    cdk.Aspects.of(app).add(CapacityGuard())
    return scaling, Template.from_stack(stack)


def test_target_tracking_scales_out_after_60_s_and_in_after_300_s(campaign: tuple[CampaignScaling, Template]) -> None:
    policy = _one(campaign[1], "AWS::ApplicationAutoScaling::ScalingPolicy")
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"] == {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}
    assert (config["ScaleOutCooldown"], config["ScaleInCooldown"], config["TargetValue"]) == (60, 300, 70)


def test_the_construct_defaults_are_the_spec_cooldowns_and_minimums() -> None:
    stack = cdk.Stack(cdk.App(), "Defaults")
    CampaignScaling(stack, "Scaling", endpoint_name="manga-recommender-prod")
    template = Template.from_stack(stack)
    config = _one(template, "AWS::ApplicationAutoScaling::ScalingPolicy")["TargetTrackingScalingPolicyConfiguration"]
    assert (config["ScaleOutCooldown"], config["ScaleInCooldown"]) == (60, 300)
    target = _one(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert sorted(a["ScalableTargetAction"]["MinCapacity"] for a in target["ScheduledActions"]) == [1, 2]


def test_manga_monday_business_hours_and_nights_are_scheduled_in_the_settings_time_zone(
    campaign: tuple[CampaignScaling, Template],
) -> None:
    target = _one(campaign[1], "AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["ResourceId"] == "endpoint/manga-recommender-prod/variant/AllTraffic"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 10)
    assert "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint" in str(target["RoleARN"])
    actions = {
        (a["Schedule"], a["ScalableTargetAction"]["MinCapacity"], a["Timezone"]) for a in target["ScheduledActions"]
    }
    assert actions == {
        ("cron(0 0 * * ? *)", 1, "Asia/Tokyo"),
        ("cron(0 6 * * ? *)", 2, "Asia/Tokyo"),
        ("cron(0 8 ? * MON *)", 5, "Asia/Tokyo"),
        ("cron(0 22 ? * MON *)", 2, "Asia/Tokyo"),
    }
    assert all(a["ScalableTargetAction"]["MaxCapacity"] == 10 for a in target["ScheduledActions"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"campaigns": [CampaignWindow("launch", ["MON"], "08:00", "22:00", 12)]}, "above max_capacity 10"),
        ({"campaigns": [CampaignWindow("launch", ["MON"], "22:00", "08:00", 3)]}, "ends before it starts"),
        ({"campaigns": [CampaignWindow("launch", ["MONDAY"], "08:00", "22:00", 3)]}, "day 'MONDAY'"),
        ({"overnight_min": 0}, "below the floor 1"),
        ({"business_hours": "MON-FRI 6:00-24:00"}, "is not HH:MM"),
        ({"time_zone": "Japan/Tokyo"}, "not an IANA time zone"),
    ],
)
def test_a_schedule_that_could_not_hold_is_refused_at_synth_naming_the_construct(
    kwargs: dict[str, Any], message: str
) -> None:
    stack = cdk.Stack(cdk.App(), "Bad")
    with pytest.raises(CampaignScheduleError, match=message) as caught:
        CampaignScaling(stack, "Scaling", endpoint_name="manga-recommender-prod", **kwargs)
    assert str(caught.value).startswith("Bad/Scaling: ")
