"""SageMaker capacity reads: SageMaker, Application Auto Scaling (the CLI's writes: mlgov/ops/capacity_writers.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlgov_runtime.adapters.errors import error_text, is_not_found
from mlgov_runtime.adapters.mapped_calls import MappedCalls, SageMakerEndpointReads
from mlgov_runtime.capacity.logic import CapacityReadError, EndpointGone

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

    def describe_inference_component(self, component: str) -> Mapping[str, Any]:
        return self.call(
            f"inference component {component}", "describe_inference_component", InferenceComponentName=component
        )

    def endpoint_of_component(self, component: str) -> str:
        return str(self.describe_inference_component(component)["EndpointName"])

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
