"""SageMaker and CloudWatch for endpoint retirement, mapped to the retirement logic's types and errors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlgov_runtime.adapters.cloudwatch import MAX_DATAPOINTS, CloudWatchMetrics, MetricSeries, MetricsUnavailable
from mlgov_runtime.adapters.errors import error_text, is_not_found
from mlgov_runtime.adapters.mapped_calls import MappedCalls, SageMakerEndpointReads
from mlgov_runtime.adapters.registry import latest_approved_package
from mlgov_runtime.retirement.logic import (
    ApprovedVersion,
    EndpointGone,
    EndpointView,
    ErrorMetric,
    ReadFailure,
    Variant,
    WriteFailure,
    iso,
    package_version,
)

SAGEMAKER_NAMESPACE = "AWS/SageMaker"


def _failure(exc: Exception, what: str) -> Exception:
    return EndpointGone(f"{what} not found") if is_not_found(exc) else ReadFailure(f"{what}: {error_text(exc)}")


def _write_failure(exc: Exception, what: str) -> Exception:
    """`what` names the write (call and change): refused or unanswered is a WriteFailure, never a read's."""
    return (
        EndpointGone(f"{what}: endpoint not found") if is_not_found(exc) else WriteFailure(f"{what}: {error_text(exc)}")
    )


def _utc(value: Any) -> datetime | None:
    return value.astimezone(UTC) if isinstance(value, datetime) else None


def _plain(data: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe copy of an API answer without its response metadata."""
    body = {k: v for k, v in data.items() if k != "ResponseMetadata"}
    loaded: dict[str, Any] = json.loads(json.dumps(body, default=str))
    return loaded


class SageMakerEndpoints:
    """Implements the retirement ports (EndpointReader, Endpoints, DeletableEndpoints) over boto3."""

    def __init__(self, client: Any) -> None:
        self._sm = client
        self._calls = SageMakerEndpointReads(client, _failure)
        self._writes = MappedCalls(client, _write_failure)
        self._approved: dict[str, ApprovedVersion | None] = {}

    def list_in_service(self) -> Iterator[str]:
        return self._calls.list_endpoint_names(StatusEquals="InService")

    def _package_refs(self, endpoint: str, variant: Mapping[str, Any]) -> tuple[str, ...]:
        models = [variant["ModelName"]] if variant.get("ModelName") else self._component_models(endpoint, variant)
        refs: list[str] = []
        for model_name in models:
            try:
                model = self._calls.call(f"model {model_name}", "describe_model", ModelName=model_name)
            except EndpointGone:
                raise ReadFailure(f"model {model_name} of variant {variant.get('VariantName')} not found") from None
            containers = [model["PrimaryContainer"]] if model.get("PrimaryContainer") else model.get("Containers", [])
            refs += [str(c.get("ModelPackageName", "")) for c in containers]
        return tuple(refs)

    def _component_models(self, endpoint: str, variant: Mapping[str, Any]) -> list[str]:
        """Models an inference-component endpoint serves through its components on this variant."""
        names: list[str] = []
        try:
            pages = self._sm.get_paginator("list_inference_components").paginate(
                EndpointNameEquals=endpoint, VariantNameEquals=variant.get("VariantName", "")
            )
            for page in pages:
                for component in page.get("InferenceComponents", []):
                    described = self._sm.describe_inference_component(
                        InferenceComponentName=component["InferenceComponentName"]
                    )
                    model = (described.get("Specification") or {}).get("ModelName")
                    if model:
                        names.append(str(model))
        except (ClientError, BotoCoreError) as exc:
            raise ReadFailure(f"inference components of {endpoint}: {exc}") from exc
        return names

    def describe(self, name: str) -> EndpointView:
        endpoint = self._calls.call(f"endpoint {name}", "describe_endpoint", EndpointName=name)
        config_name = str(endpoint.get("EndpointConfigName", ""))
        try:
            config = self._calls.call(
                f"endpoint config {config_name}", "describe_endpoint_config", EndpointConfigName=config_name
            )
        except EndpointGone:
            raise ReadFailure(f"endpoint config {config_name} of {name} not found") from None
        counts = {v["VariantName"]: v.get("CurrentInstanceCount") for v in endpoint.get("ProductionVariants", [])}
        variants = []
        for shadow, key in ((False, "ProductionVariants"), (True, "ShadowProductionVariants")):
            for v in config.get(key, []):
                count = counts.get(v["VariantName"]) or v.get("InitialInstanceCount") or 1
                variants.append(
                    Variant(
                        name=str(v["VariantName"]),
                        instance_type=v.get("InstanceType"),
                        instance_count=int(count),
                        package_refs=self._package_refs(name, v),
                        serverless="ServerlessConfig" in v,
                        shadow=shadow,
                    )
                )
        arn = str(endpoint["EndpointArn"])
        # A variant without a model hosts inference components, whose traffic is counted per component.
        hosts_components = any(not v.get("ModelName") for v in config.get("ProductionVariants", []))
        return EndpointView(
            name=name,
            arn=arn,
            status=str(endpoint.get("EndpointStatus", "")),
            config_name=config_name,
            created_at=_utc(endpoint.get("CreationTime")),
            variants=tuple(variants),
            tags=self._calls.list_endpoint_tags(arn),
            components=tuple(self.component_names(name)) if hosts_components else (),
            modified_at=_utc(endpoint.get("LastModifiedTime")),
        )

    def current_approved(self, group: str) -> ApprovedVersion | None:
        if group not in self._approved:
            try:
                package = latest_approved_package(self._sm, group)
            except (ClientError, BotoCoreError) as exc:
                raise _failure(exc, f"Approved packages of {group}") from exc
            parsed = package_version(str(package["ModelPackageArn"])) if package else None
            since = _utc(package.get("LastModifiedTime")) or _utc(package.get("CreationTime")) if package else None
            self._approved[group] = (
                ApprovedVersion(parsed[0], parsed[1], str(package["ModelPackageArn"]), since)
                if package and parsed
                else None
            )
        return self._approved[group]

    def tag(self, name: str, key: str, value: str) -> None:
        """Raises EndpointGone, ReadFailure (the endpoint unreadable) or WriteFailure (AddTags refused)."""
        arn = str(self._calls.call(f"endpoint {name}", "describe_endpoint", EndpointName=name)["EndpointArn"])
        self._writes.call(
            f"AddTags {key}={value} on {name}", "add_tags", ResourceArn=arn, Tags=[{"Key": key, "Value": value}]
        )

    def snapshot(self, name: str) -> dict[str, Any]:
        endpoint = self._calls.call(f"endpoint {name}", "describe_endpoint", EndpointName=name)
        config_name = str(endpoint["EndpointConfigName"])
        config = self._calls.call(
            f"endpoint config {config_name}", "describe_endpoint_config", EndpointConfigName=config_name
        )
        models = []
        for variant in config.get("ProductionVariants", []) + config.get("ShadowProductionVariants", []):
            if variant.get("ModelName"):
                model = self._calls.call(
                    f"model {variant['ModelName']}", "describe_model", ModelName=variant["ModelName"]
                )
                models.append(_plain(model))
        return {
            "endpoint_name": name,
            "endpoint_arn": endpoint["EndpointArn"],
            "endpoint_config_name": config_name,
            "endpoint_config": _plain(config),
            "models": models,
            "tags": self._calls.list_endpoint_tags(str(endpoint["EndpointArn"])),
        }

    def component_names(self, name: str) -> list[str]:
        """The inference components on the endpoint (their traffic is reported per component)."""
        return list(self._calls.list_inference_component_names(name))

    def delete(self, name: str) -> None:
        """Deletes the endpoint only; its config and models stay for re-creation."""
        self._calls.call(f"endpoint {name}", "delete_endpoint", EndpointName=name)

    def create(self, name: str, config_name: str, tags: Mapping[str, str]) -> str:
        answer = self._calls.call(
            f"endpoint {name}",
            "create_endpoint",
            EndpointName=name,
            EndpointConfigName=config_name,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        return str(answer["EndpointArn"])


def _invocations(dimensions: Mapping[str, str]) -> MetricSeries:
    return MetricSeries(SAGEMAKER_NAMESPACE, "Invocations", dimensions)


class EndpointMetrics:
    """Invocations and client errors per endpoint, on the general CloudWatch reader."""

    def __init__(self, metrics: CloudWatchMetrics) -> None:
        self._cw = metrics

    def invocations(self, endpoint_name: str, variant_names: Iterable[str], start: datetime, end: datetime) -> int:
        """Every variant: the configured ones and any that published Invocations lately (a variant
        removed by a config update still counts). Invocations are published per EndpointName+VariantName."""
        try:
            variants = set(variant_names) | self._cw.dimension_values(
                _invocations({"EndpointName": endpoint_name}), "VariantName"
            )
            return round(
                sum(
                    self._cw.sum(_invocations({"EndpointName": endpoint_name, "VariantName": variant}), start, end)
                    for variant in sorted(variants)
                )
            )
        except MetricsUnavailable as exc:
            raise ReadFailure(f"invocations of {endpoint_name}: {exc}") from exc

    def component_invocations(self, component_names: Iterable[str], start: datetime, end: datetime) -> int:
        """SageMaker reports an inference component's Invocations per InferenceComponentName (AWS/SageMaker);
        an endpoint serving through components can read zero per variant while it is busy."""
        try:
            return round(
                sum(
                    self._cw.sum(_invocations({"InferenceComponentName": name}), start, end)
                    for name in sorted(set(component_names))
                )
            )
        except MetricsUnavailable as exc:
            raise ReadFailure(f"inference component invocations: {exc}") from exc

    def hourly_invocations(
        self,
        endpoint_name: str,
        variant_names: Iterable[str],
        components: Iterable[str],
        start: datetime,
        end: datetime,
    ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
        """AWS/SageMaker Invocations by UTC hour, per variant and per inference component, read at the finest
        period the window allows and bucketed here (the same hours in CloudWatch and emulators)."""
        span = (end - start).total_seconds()
        period = next((p for p in (60, 300, 3600) if span / p <= MAX_DATAPOINTS), 3600)

        def by_hour(dimensions: dict[str, str]) -> dict[str, float]:
            hours: dict[str, float] = {}
            for at, value in self._cw.datapoints(_invocations(dimensions), start, end, period):
                key = iso(at.astimezone(UTC).replace(minute=0, second=0, microsecond=0))
                hours[key] = hours.get(key, 0.0) + value
            return hours

        try:
            variants = set(variant_names) | self._cw.dimension_values(
                _invocations({"EndpointName": endpoint_name}), "VariantName"
            )
            per_variant = {v: by_hour({"EndpointName": endpoint_name, "VariantName": v}) for v in sorted(variants)}
            per_component = {c: by_hour({"InferenceComponentName": c}) for c in sorted(set(components))}
        except MetricsUnavailable as exc:
            raise ReadFailure(f"hourly invocations of {endpoint_name}: {exc}") from exc
        return (
            {k: v for k, v in per_variant.items() if v or k in set(variant_names)},
            per_component,
        )

    def errors(
        self, endpoint_name: str, metrics: Iterable[ErrorMetric], start: datetime, end: datetime
    ) -> dict[str, int]:
        try:
            return {
                m.label: round(
                    self._cw.sum(
                        MetricSeries(m.namespace, m.metric_name, {m.dimension_name: endpoint_name}), start, end
                    )
                )
                for m in metrics
            }
        except MetricsUnavailable as exc:
            raise ReadFailure(f"client errors naming {endpoint_name}: {exc}") from exc
