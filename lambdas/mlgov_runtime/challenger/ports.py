"""What the challenger logic needs from outside, as protocols: the real adapters
(endpoint_rollout.py, recommendation_metrics.py) and the unit tests' fakes implement them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from mlgov_runtime.challenger.config import RetentionMetric
from mlgov_runtime.core.findings import FindingSink


class NotFound(Exception):
    """An endpoint, config, model or package that does not exist (or this role may not read)."""


class Throttled(Exception):
    """A metrics read throttled past the client's retries: the watch pauses, never a verdict or an end."""

    source: str = "a metrics read"


def endpoint_configs(endpoint: Mapping[str, Any]) -> tuple[str, str]:
    """The config an endpoint serves and the one an update is deploying (PendingDeploymentSummary), or ''."""
    pending = endpoint.get("PendingDeploymentSummary") or {}
    return str(endpoint.get("EndpointConfigName") or ""), str(pending.get("EndpointConfigName") or "")


class Endpoints(Protocol):
    def describe_endpoint(self, name: str) -> Mapping[str, Any]: ...
    def describe_endpoint_config(self, name: str) -> Mapping[str, Any]: ...
    def describe_model(self, name: str) -> Mapping[str, Any]: ...
    def create_model(self, name: str, package_arn: str, role_arn: str, tags: dict[str, str]) -> None:
        """Idempotent: a model of that name from the same package already existing is fine."""
        ...

    def create_endpoint_config(
        self, name: str, base: Mapping[str, Any], variants: list[dict[str, Any]], tags: dict[str, str]
    ) -> None:
        """A config like `base` (encryption, data capture, ...) with these production variants; idempotent."""
        ...

    def update_endpoint(self, endpoint: str, config: str) -> None: ...
    def set_weights(self, endpoint: str, weights: dict[str, float]) -> None: ...
    def endpoint_tags(self, endpoint_arn: str) -> dict[str, str]: ...
    def tag_endpoint(self, endpoint_arn: str, tags: dict[str, str]) -> None: ...


class Registry(Protocol):
    def describe_package(self, arn: str) -> Mapping[str, Any]: ...
    def reject_package(self, arn: str, description: str) -> None: ...
    def write_package_metadata(self, arn: str, metadata: dict[str, str]) -> None:
        """Replace the package's CustomerMetadataProperties with `metadata` (pass every key to keep)."""
        ...


class Metrics(Protocol):
    def variant_series(
        self, endpoint: str, variants: Iterable[str], start: datetime, end: datetime
    ) -> dict[str, dict[str, list[float | None]]]:
        """Per-minute values per variant and metric; None where CloudWatch has no datapoint."""
        ...

    def endpoint_statistic(
        self, metric: RetentionMetric, endpoint: str, start: datetime, end: datetime
    ) -> float | None: ...


@dataclass
class Ports:
    endpoints: Endpoints
    registry: Registry
    metrics: Metrics
    findings: FindingSink
    account_id: str
    region: str
    # ModelRejectionEvent with the reason as a dimension (Powertools EMF in Lambda).
    emit_rejection: Callable[[str], None] = lambda reason: None
    # Why a package's origin is not verified, or None (challenger/provenance.py); unset, nothing is verified.
    provenance: Callable[[Mapping[str, Any]], str | None] = lambda package: "no provenance check is configured."
