"""SageMaker capacity reads and the restore's writes: SageMaker, Application Auto Scaling, CloudWatch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from mlgov_runtime.adapters.errors import error_text, is_not_found
from mlgov_runtime.adapters.mapped_calls import MappedCalls, SageMakerEndpointReads
from mlgov_runtime.capacity.logic import CapacityReadError, EndpointGone, ScheduledAction

NAMESPACE = "sagemaker"


def _translate(exc: Exception, what: str) -> Exception:
    return EndpointGone(f"{what} not found") if is_not_found(exc) else CapacityReadError(error_text(exc))


class AutoscalingReader(SageMakerEndpointReads):
    """Implements mlgov_runtime.capacity.logic.CapacityReader."""

    def __init__(self, sagemaker: Any, autoscaling: Any) -> None:
        super().__init__(sagemaker, _translate)
        self._aas = MappedCalls(autoscaling, _translate)

    def inference_components(self, endpoint_name: str) -> list[str]:
        return list(self.list_inference_component_names(endpoint_name))

    def endpoint_of_component(self, component: str) -> str:
        described = self.call(
            f"inference component {component}", "describe_inference_component", InferenceComponentName=component
        )
        return str(described["EndpointName"])

    def scalable_targets(self, resource_ids: Sequence[str] | None) -> list[Mapping[str, Any]]:
        if resource_ids is None:
            return self._targets()
        ids = list(resource_ids)  # the API takes at most 50 ids per call
        return [t for start in range(0, len(ids), 50) for t in self._targets(ResourceIds=ids[start : start + 50])]

    def _targets(self, **kwargs: Any) -> list[Mapping[str, Any]]:
        found = self._aas.items(
            "scalable targets", "describe_scalable_targets", "ScalableTargets", ServiceNamespace=NAMESPACE, **kwargs
        )
        return list(found)

    def scaling_policies(self, resource_id: str | None) -> list[Mapping[str, Any]]:
        kwargs: dict[str, Any] = {"ServiceNamespace": NAMESPACE}
        if resource_id is not None:
            kwargs["ResourceId"] = resource_id
        return list(self._aas.items("scaling policies", "describe_scaling_policies", "ScalingPolicies", **kwargs))

    def scheduled_actions(self, resource_id: str | None) -> list[Mapping[str, Any]]:
        kwargs: dict[str, Any] = {"ServiceNamespace": NAMESPACE}
        if resource_id is not None:
            kwargs["ResourceId"] = resource_id
        return list(self._aas.items("scheduled actions", "describe_scheduled_actions", "ScheduledActions", **kwargs))


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

    def ready(self, endpoint: str, minimum: int) -> tuple[bool, str]:
        described = self._sm.describe_endpoint(EndpointName=endpoint)
        counts = [int(v.get("CurrentInstanceCount", 0)) for v in described.get("ProductionVariants", [])]
        status = described.get("EndpointStatus")
        ok = status == "InService" and all(c >= minimum for c in counts)
        return ok, f"{status}, instances {counts}"

    def invocations(self, endpoint: str, minutes: int = 5) -> tuple[bool, str]:
        """Sum of InvocationsPerInstance over the last minutes, per variant (CloudWatch matches every dimension)."""
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

        variants = [v["VariantName"] for v in self._sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]]
        total = sum(
            recent_sum("InvocationsPerInstance", {"EndpointName": endpoint, "VariantName": v}) for v in variants
        )
        # An endpoint serving through inference components reports its traffic per InferenceComponentName.
        components = [
            c["InferenceComponentName"]
            for page in self._sm.get_paginator("list_inference_components").paginate(EndpointNameEquals=endpoint)
            for c in page.get("InferenceComponents", [])
        ]
        variant_total = total
        total += sum(recent_sum("Invocations", {"InferenceComponentName": c}) for c in components)
        text = f"InvocationsPerInstance {variant_total:g}"
        if components:
            text += f", Invocations {total - variant_total:g} on {len(components)} inference component(s)"
        return total > 0, f"{text} in the last {minutes} min"

    def smoke(self, endpoint: str, body: str, content_type: str) -> str:
        if self._runtime is None:
            raise RuntimeError("no sagemaker-runtime client for the smoke test")
        answer = self._runtime.invoke_endpoint(EndpointName=endpoint, Body=body.encode(), ContentType=content_type)
        return f"smoke invocation answered ({answer.get('ContentType', 'no content type')})"
