"""An in-memory SageMaker + Application Auto Scaling for the capacity rules: the CapacityReader contract."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from mlgov_runtime.capacity.logic import (
    COPIES_DIMENSION,
    VARIANT_DIMENSION,
    CapacityReadError,
    EndpointGone,
    ScheduledAction,
)
from tests.unit.fakes import DescribesEndpoints

ACCOUNT = "111122223333"
REGION = "eu-west-1"


def instance_variant(name: str = "AllTraffic", count: int = 1) -> dict[str, Any]:
    return {"VariantName": name, "ModelName": "m", "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": count}


class FakeCapacity(DescribesEndpoints):
    def __init__(self) -> None:
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.components: dict[str, list[str]] = {}
        self.copies: dict[str, dict[str, Any] | None] = {}  # component -> RuntimeConfig (default one copy)
        self.component_status: dict[str, str] = {}  # default InService
        self.targets: list[dict[str, Any]] = []
        self.policies: list[dict[str, Any]] = []
        self.actions: list[dict[str, Any]] = []
        self.failures: set[str] = set()
        self.calls: list[str] = []

    # -- building the estate
    def endpoint(
        self,
        name: str,
        variants: list[dict[str, Any]] | None = None,
        tags: dict[str, str] | None = None,
        current: int | None = None,
        status: str = "InService",
    ) -> str:
        variants = variants if variants is not None else [instance_variant()]
        arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}"
        live = [
            {"VariantName": v["VariantName"], "CurrentInstanceCount": v.get("InitialInstanceCount", 1)}
            if current is None
            else {"VariantName": v["VariantName"], "CurrentInstanceCount": current}
            for v in variants
            if "InitialInstanceCount" in v
        ]
        self.endpoints[name] = {
            "EndpointName": name,
            "EndpointArn": arn,
            "EndpointConfigName": f"{name}-cfg",
            "EndpointStatus": status,
            "ProductionVariants": live,
        }
        self.configs[f"{name}-cfg"] = {"EndpointConfigName": f"{name}-cfg", "ProductionVariants": variants}
        self.tags[arn] = dict(tags or {})
        return arn

    def target(
        self,
        resource_id: str,
        low: int,
        high: int = 4,
        policy: bool = True,
        dimension: str | None = None,
    ) -> None:
        dimension = dimension or (COPIES_DIMENSION if resource_id.startswith("inference-") else VARIANT_DIMENSION)
        self.targets.append(
            {"ResourceId": resource_id, "ScalableDimension": dimension, "MinCapacity": low, "MaxCapacity": high}
        )
        if policy:
            self.policies.append(
                {"ResourceId": resource_id, "ScalableDimension": dimension, "PolicyName": "invocations"}
            )

    def scaling_to_zero_instances(self, name: str, component: str, max_instances: int) -> None:
        """An endpoint for inference components whose ManagedInstanceScaling may reach 0 instances, serving
        `component` (its copies' target keeps 1)."""
        variant = {
            "VariantName": "AllTraffic",
            "InstanceType": "ml.g5.12xlarge",
            "InitialInstanceCount": 1,
            "ManagedInstanceScaling": {"Status": "ENABLED", "MinInstanceCount": 0, "MaxInstanceCount": max_instances},
        }
        self.endpoint(name, [variant])
        self.components[name] = [component]
        self.target(f"inference-component/{component}", 1)

    def schedule(self, resource_id: str, name: str, cron: str, low: int | None, tz: str | None = None) -> None:
        action: dict[str, Any] = {
            "ScheduledActionName": name,
            "ResourceId": resource_id,
            "ScalableDimension": COPIES_DIMENSION if resource_id.startswith("inference-") else VARIANT_DIMENSION,
            "Schedule": cron,
            "ScalableTargetAction": {} if low is None else {"MinCapacity": low},
        }
        if tz:
            action["Timezone"] = tz
        self.actions.append(action)

    # -- CapacityReader
    def _get(self, what: str, store: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        self.calls.append(what)
        if what in self.failures:
            raise CapacityReadError("AccessDeniedException: not allowed")
        if key not in store:
            raise EndpointGone(f"{what} {key} not found")
        return dict(store[key])

    def list_endpoint_tags(self, endpoint_arn: str) -> dict[str, str]:
        self.calls.append("tags")
        return dict(self.tags.get(endpoint_arn, {}))

    def list_endpoint_names(self) -> Iterator[str]:
        self.calls.append("list")
        yield from self.endpoints

    def inference_components(self, endpoint_name: str) -> list[str]:
        self.calls.append("components")
        return list(self.components.get(endpoint_name, []))

    def describe_inference_component(self, component: str) -> Mapping[str, Any]:
        self.calls.append("component")
        if "component" in self.failures:
            raise CapacityReadError("ThrottlingException: rate exceeded")
        endpoint = next((e for e, names in self.components.items() if component in names), None)
        if endpoint is None:
            raise EndpointGone(f"inference component {component} not found")
        described: dict[str, Any] = {
            "InferenceComponentName": component,
            "EndpointName": endpoint,
            "InferenceComponentStatus": self.component_status.get(component, "InService"),
        }
        runtime = self.copies.get(component, {"DesiredCopyCount": 1, "CurrentCopyCount": 1})
        if runtime is not None:
            described["RuntimeConfig"] = dict(runtime)
        return described

    def endpoint_of_component(self, component: str) -> str:
        return next(e for e, names in self.components.items() if component in names)

    def scalable_targets(self, resource_ids: Sequence[str] | None) -> list[Mapping[str, Any]]:
        self.calls.append("targets" if resource_ids is not None else "targets:all")
        if "targets" in self.failures:
            raise CapacityReadError("ThrottlingException: rate exceeded")
        return [t for t in self.targets if resource_ids is None or t["ResourceId"] in resource_ids]

    def scaling_policies(self, resource_id: str | None) -> list[Mapping[str, Any]]:
        self.calls.append("policies")
        return [p for p in self.policies if resource_id is None or p["ResourceId"] == resource_id]

    def scheduled_actions(self, resource_id: str | None) -> list[Mapping[str, Any]]:
        self.calls.append("actions")
        return [a for a in self.actions if resource_id is None or a["ResourceId"] == resource_id]


class FakeScaler:
    """Records the restore's writes (mlgov.ops.capacity_restore.Scaler)."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail = fail

    def register_scalable_target(self, resource_id: str, dimension: str, min_capacity: int, max_capacity: int) -> None:
        if self.fail:
            raise RuntimeError("AccessDeniedException: not allowed to register")
        self.calls.append(("register", resource_id, min_capacity, max_capacity))

    def put_target_tracking(
        self, resource_id: str, dimension: str, name: str, metric: str, target: float, scale_in: int, scale_out: int
    ) -> None:
        self.calls.append(("policy", resource_id, metric, target, scale_in, scale_out))

    def put_scheduled_action(self, resource_id: str, dimension: str, action: ScheduledAction) -> None:
        self.calls.append(("schedule", resource_id, action.name, action.schedule, action.min_capacity))


class FakeRoute:
    def __init__(self, value: str = "sagemaker") -> None:
        self.value = value
        self.switches: list[str] = []
        self.target = type("Target", (), {"route_key": "recommendation_backend"})()

    def current(self) -> str:
        return self.value

    def switch(self, value: str, why: str) -> str:
        self.switches.append(value)
        self.value = value
        return f"recommendation_backend={value}"


class FakeWarmth:
    """Becomes ready after `ready_after` probes and sees invocations after `flowing_after` probes."""

    def __init__(self, ready_after: int = 0, flowing_after: int = 0) -> None:
        self.ready_after, self.flowing_after = ready_after, flowing_after
        self.probes: list[str] = []
        self.smokes = 0
        self.counted: list[str] = []

    def ready(self, endpoint: str, minimum: int) -> tuple[bool, str]:
        self.probes.append("ready")
        return self.probes.count("ready") > self.ready_after, "InService, instances [1]"

    def invocations(self, endpoint: str, minutes: int = 5, components: Sequence[str] = ()) -> tuple[bool, str]:
        self.probes.append("invocations")
        self.counted = list(components)
        ok = self.probes.count("invocations") > self.flowing_after
        return ok, f"InvocationsPerInstance {12 if ok else 0} in the last 5 min"

    def smoke(self, endpoint: str, body: str, content_type: str) -> str:
        self.smokes += 1
        return "smoke invocation answered"
