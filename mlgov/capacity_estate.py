"""Autoscaling for the seeded estate (mlgov.estate): what `make demo` and the integration tests check for
capacity, and the verdict each endpoint must get."""

from __future__ import annotations

from typing import Any

VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def resource_id(endpoint: str, variant: str = "AllTraffic") -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def register(aas: Any, endpoint: str, low: int, high: int = 4, variant: str = "AllTraffic") -> None:
    aas.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource_id(endpoint, variant),
        ScalableDimension=VARIANT_DIMENSION,
        MinCapacity=low,
        MaxCapacity=high,
    )


def track(aas: Any, endpoint: str, variant: str = "AllTraffic") -> None:
    aas.put_scaling_policy(
        PolicyName="invocations-per-instance",
        ServiceNamespace="sagemaker",
        ResourceId=resource_id(endpoint, variant),
        ScalableDimension=VARIANT_DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 70.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleOutCooldown": 60,
            "ScaleInCooldown": 300,
        },
    )


def schedule(aas: Any, endpoint: str, name: str, cron: str, low: int, tz: str = "UTC") -> None:
    aas.put_scheduled_action(
        ServiceNamespace="sagemaker",
        ScheduledActionName=name,
        ResourceId=resource_id(endpoint),
        ScalableDimension=VARIANT_DIMENSION,
        Schedule=cron,
        Timezone=tz,
        ScalableTargetAction={"MinCapacity": low},
    )


def seed_capacity(aas: Any) -> dict[str, str]:
    """Scalable targets, policies and schedules on the seeded endpoints; endpoint -> expected verdict."""
    prod = "manga-recommender-prod"
    register(aas, prod, 1)
    track(aas, prod)
    # What CampaignScaling deploys with the default settings: 1 overnight, 2 in business hours, Manga Monday 5.
    for name, cron, low in (
        ("mlgov-min1-0000-daily", "cron(0 0 * * ? *)", 1),
        ("mlgov-min2-0600-daily", "cron(0 6 * * ? *)", 2),
        ("mlgov-min5-0800-MON", "cron(0 8 ? * MON *)", 5),
        ("mlgov-min2-2200-MON", "cron(0 22 ? * MON *)", 2),
    ):
        schedule(aas, prod, name, cron, low)
    register(aas, "manga-recommender-canary", 0, 2)  # the spec's MinCapacity=0
    track(aas, "manga-recommender-canary")
    for variant in ("champion", "challenger"):  # one instance each in business hours
        register(aas, "manga-recommender-ab", 1, variant=variant)
        track(aas, "manga-recommender-ab", variant)
    register(aas, "manga-recommender-v0", 1)
    track(aas, "manga-recommender-v0")
    schedule(aas, "manga-recommender-v0", "nightly-cost-saver", "cron(0 22 ? * SUN *)", 0)
    register(aas, "experiment-lora-r16", 0, 1)  # an experiment in an experiment account
    return {
        prod: "COMPLIANT",
        "manga-recommender-canary": "CAN_SCALE_TO_ZERO",
        "manga-recommender-ab": "SINGLE_INSTANCE",
        "manga-recommender-v0": "CAN_SCALE_TO_ZERO",
        "experiment-lora-r16": "EXEMPT",
        "manga-recommender-serverless": "COLD_START_RISK",
        "manga-recommender-hotfix": "NO_AUTOSCALING",
        "manga-recommender-spoofed": "NO_AUTOSCALING",
        "manga-recommender-orphaned": "NO_AUTOSCALING",
    }
