"""The restore's and the campaign's writes (Application Auto Scaling) and the restore's warmth checks (SageMaker,
CloudWatch, SageMaker runtime): only the operators' CLI runs them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from mlgov_runtime.capacity.autoscaling import NAMESPACE
from mlgov_runtime.capacity.logic import ScheduledAction

# RegisterScalableTarget leaves a SuspendedState it is not given as it was: every registration here resumes all.
RESUMED = {"DynamicScalingInSuspended": False, "DynamicScalingOutSuspended": False, "ScheduledScalingSuspended": False}
# The suspensions that take capacity away (scale-in suspended only keeps it).
HARMFUL_SUSPENSIONS = ("DynamicScalingOutSuspended", "ScheduledScalingSuspended")


def suspensions(autoscaling: Any, resource_id: str, dimension: str) -> list[str]:
    """The harmful SuspendedState flags set on a scalable target ([] when none, or not registered); a failed
    read raises (never "not suspended")."""
    targets = autoscaling.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=[resource_id], ScalableDimension=dimension
    )["ScalableTargets"]
    state = (targets[0].get("SuspendedState") or {}) if targets else {}
    return [flag for flag in HARMFUL_SUSPENSIONS if state.get(flag) is True]


def resume_command(resource_id: str, dimension: str) -> str:
    flags = ",".join(f"{k}=false" for k in RESUMED)
    return (
        f"aws application-autoscaling register-scalable-target --service-namespace {NAMESPACE} --resource-id "
        f"{resource_id} --scalable-dimension {dimension} --suspended-state {flags}"
    )


class AutoscalingWriter:
    """The restore's writes (mlgov.ops.capacity_restore.Scaler). Omitting RoleARN lets Application
    Auto Scaling use its SageMaker service-linked role."""

    def __init__(self, autoscaling: Any) -> None:
        self._aas = autoscaling

    def register_scalable_target(self, resource_id: str, dimension: str, min_capacity: int, max_capacity: int) -> None:
        self._aas.register_scalable_target(
            ServiceNamespace=NAMESPACE,
            ResourceId=resource_id,
            ScalableDimension=dimension,
            MinCapacity=min_capacity,
            MaxCapacity=max_capacity,
            SuspendedState=RESUMED,
        )

    def put_target_tracking(
        self, resource_id: str, dimension: str, name: str, metric: str, target: float, scale_in: int, scale_out: int
    ) -> None:
        self._aas.put_scaling_policy(
            PolicyName=name,
            ServiceNamespace=NAMESPACE,
            ResourceId=resource_id,
            ScalableDimension=dimension,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": target,
                "PredefinedMetricSpecification": {"PredefinedMetricType": metric},
                "ScaleInCooldown": scale_in,
                "ScaleOutCooldown": scale_out,
            },
        )

    def put_scheduled_action(self, resource_id: str, dimension: str, action: ScheduledAction) -> None:
        target = {"MinCapacity": action.min_capacity}
        if action.max_capacity is not None:
            target["MaxCapacity"] = action.max_capacity
        kwargs: dict[str, Any] = {"Timezone": action.timezone} if action.timezone else {}
        self._aas.put_scheduled_action(
            ServiceNamespace=NAMESPACE,
            ScheduledActionName=action.name,
            ResourceId=resource_id,
            ScalableDimension=dimension,
            Schedule=action.schedule,
            ScalableTargetAction=target,
            **kwargs,
        )


class EndpointWarmth:
    """Is a restored endpoint serving again? (mlgov.ops.capacity_restore.Warmth)"""

    def __init__(self, sagemaker: Any, cloudwatch: Any, runtime: Any | None = None) -> None:
        self._sm, self._cw, self._runtime = sagemaker, cloudwatch, runtime

    def _components(self, endpoint: str) -> list[str]:
        return [
            c["InferenceComponentName"]
            for page in self._sm.get_paginator("list_inference_components").paginate(EndpointNameEquals=endpoint)
            for c in page.get("InferenceComponents", [])
        ]

    def ready(self, endpoint: str, minimum: int) -> tuple[bool, str]:
        """InService, every variant's instances and every inference component's CurrentCopyCount at least
        `minimum` (an instance host serves nothing for a component whose copies have not loaded)."""
        described = self._sm.describe_endpoint(EndpointName=endpoint)
        counts = [int(v.get("CurrentInstanceCount", 0)) for v in described.get("ProductionVariants", [])]
        status = described.get("EndpointStatus")
        ok = status == "InService" and all(c >= minimum for c in counts)
        copies: dict[str, int | None] = {}
        for name in self._components(endpoint):
            runtime = self._sm.describe_inference_component(InferenceComponentName=name).get("RuntimeConfig") or {}
            current = runtime.get("CurrentCopyCount")
            copies[name] = int(current) if isinstance(current, int) else None  # missing is never ready
        ok = ok and all(c is not None and c >= minimum for c in copies.values())
        text = f"{status}, instances {counts}"
        if copies:
            text += ", copies " + ", ".join(f"{n} {'unknown' if c is None else c}" for n, c in copies.items())
        return ok, text

    def invocations(self, endpoint: str, minutes: int = 5, components: Sequence[str] = ()) -> tuple[bool, str]:
        """Sum of InvocationsPerInstance over the last minutes, per variant (CloudWatch matches every dimension),
        and Invocations per inference component. With `components` (the ones that were cold), only theirs: another
        component's traffic, which the host's variant metric also counts, says nothing of theirs."""
        now = datetime.now(UTC)

        def recent_sum(metric: str, dimensions: dict[str, str]) -> float:
            points = self._cw.get_metric_statistics(
                Namespace="AWS/SageMaker",
                MetricName=metric,
                Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
                StartTime=now - timedelta(minutes=minutes),
                EndTime=now,
                Period=60,
                Statistics=["Sum"],
            ).get("Datapoints", [])
            return sum(float(p.get("Sum", 0)) for p in points)

        if components:
            per = {c: recent_sum("Invocations", {"InferenceComponentName": c}) for c in components}
            text = ", ".join(f"Invocations {n:g} on {c}" for c, n in per.items())
            return sum(per.values()) > 0, f"{text} (the component(s) that were cold) in the last {minutes} min"
        variants = [v["VariantName"] for v in self._sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]]
        total = sum(
            recent_sum("InvocationsPerInstance", {"EndpointName": endpoint, "VariantName": v}) for v in variants
        )
        # An endpoint serving through inference components reports its traffic per InferenceComponentName.
        listed = self._components(endpoint)
        variant_total = total
        total += sum(recent_sum("Invocations", {"InferenceComponentName": c}) for c in listed)
        text = f"InvocationsPerInstance {variant_total:g}"
        if listed:
            text += f", Invocations {total - variant_total:g} on {len(listed)} inference component(s)"
        return total > 0, f"{text} in the last {minutes} min"

    def smoke(self, endpoint: str, body: str, content_type: str) -> str:
        if self._runtime is None:
            raise RuntimeError("no sagemaker-runtime client for the smoke test")
        answer = self._runtime.invoke_endpoint(EndpointName=endpoint, Body=body.encode(), ContentType=content_type)
        return f"smoke invocation answered ({answer.get('ContentType', 'no content type')})"
