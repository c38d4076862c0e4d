"""SageMaker reads for the lineage audit, mapped to the domain's exceptions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlgov_runtime.adapters.errors import error_text, is_not_found
from mlgov_runtime.lineage_audit.logic import ReadFailure, ResourceNotFound


def _translate(exc: Exception, what: str) -> Exception:
    return ResourceNotFound(f"{what} not found") if is_not_found(exc) else ReadFailure(error_text(exc))


class SageMakerLineageReader:
    """Implements mlgov_runtime.lineage_audit.logic.LineageReader over a boto3 SageMaker client."""

    def __init__(self, client: Any) -> None:
        self._sm = client

    def _call(self, what: str, operation: str, **kwargs: Any) -> Mapping[str, Any]:
        try:
            return dict(getattr(self._sm, operation)(**kwargs))
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, what) from exc

    def describe_endpoint(self, name: str) -> Mapping[str, Any]:
        return self._call(f"endpoint {name}", "describe_endpoint", EndpointName=name)

    def describe_endpoint_config(self, name: str) -> Mapping[str, Any]:
        return self._call(f"endpoint configuration {name}", "describe_endpoint_config", EndpointConfigName=name)

    def describe_model(self, name: str) -> Mapping[str, Any]:
        return self._call(f"model {name}", "describe_model", ModelName=name)

    def describe_model_package(self, name_or_arn: str) -> Mapping[str, Any]:
        return self._call(f"model package {name_or_arn}", "describe_model_package", ModelPackageName=name_or_arn)

    def list_endpoint_tags(self, endpoint_arn: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        try:
            for page in self._sm.get_paginator("list_tags").paginate(ResourceArn=endpoint_arn):
                tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"tags of {endpoint_arn}") from exc
        return tags

    def list_endpoint_names(self) -> Iterator[str]:
        try:
            for page in self._sm.get_paginator("list_endpoints").paginate():
                for endpoint in page.get("Endpoints", []):
                    yield str(endpoint["EndpointName"])
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "endpoint list") from exc

    def list_inference_component_names(self, endpoint_name: str) -> Iterator[str]:
        try:
            pages = self._sm.get_paginator("list_inference_components").paginate(EndpointNameEquals=endpoint_name)
            for page in pages:
                for component in page.get("InferenceComponents", []):
                    yield str(component["InferenceComponentName"])
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"inference components of {endpoint_name}") from exc

    def describe_inference_component(self, name: str) -> Mapping[str, Any]:
        return self._call(f"inference component {name}", "describe_inference_component", InferenceComponentName=name)
