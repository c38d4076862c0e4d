"""boto3 calls whose botocore errors become the calling capability's own exceptions. Each capability's adapter
says how an error maps (not found, or could not be read); the calls, the pages and SageMaker's endpoint reads
are the same for all of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

# (error, what was being read) -> the capability's exception; None lets the botocore error through unchanged.
ErrorMap = Callable[[Exception, str], Exception | None]


class MappedCalls:
    def __init__(self, client: Any, error_map: ErrorMap) -> None:
        self.client = client
        self._error_map = error_map

    def _raise(self, exc: Exception, what: str) -> NoReturn:
        mapped = self._error_map(exc, what)
        if mapped is None:
            raise exc
        raise mapped from exc

    def call(self, what: str, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One API call's answer; `what` names its subject in the error."""
        try:
            return dict(getattr(self.client, operation)(**kwargs))
        except (ClientError, BotoCoreError) as exc:
            self._raise(exc, what)

    def items(self, what: str, operation: str, key: str, **kwargs: Any) -> Iterator[Mapping[str, Any]]:
        """The items under `key` of every page, read page by page as they are consumed."""
        try:
            for page in self.client.get_paginator(operation).paginate(**kwargs):
                yield from page.get(key, [])
        except (ClientError, BotoCoreError) as exc:
            self._raise(exc, what)


class SageMakerEndpointReads(MappedCalls):
    """The endpoint reads every capability's SageMaker adapter makes, raising the capability's exceptions."""

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        return self.call(f"endpoint {name}", "describe_endpoint", EndpointName=name)

    def describe_endpoint_config(self, name: str) -> dict[str, Any]:
        return self.call(f"endpoint configuration {name}", "describe_endpoint_config", EndpointConfigName=name)

    def describe_model(self, name: str) -> dict[str, Any]:
        return self.call(f"model {name}", "describe_model", ModelName=name)

    def list_endpoint_tags(self, endpoint_arn: str) -> dict[str, str]:
        tags = self.items(f"tags of {endpoint_arn}", "list_tags", "Tags", ResourceArn=endpoint_arn)
        return {t["Key"]: t["Value"] for t in tags}

    def list_endpoint_names(self, **filters: Any) -> Iterator[str]:
        """The names of the region's endpoints (ListEndpoints filters as keywords), read page by page."""
        for endpoint in self.items("endpoint list", "list_endpoints", "Endpoints", **filters):
            yield str(endpoint["EndpointName"])

    def list_inference_component_names(self, endpoint_name: str) -> Iterator[str]:
        """The inference components on the endpoint, read page by page."""
        found = self.items(
            f"inference components of {endpoint_name}",
            "list_inference_components",
            "InferenceComponents",
            EndpointNameEquals=endpoint_name,
        )
        for component in found:
            yield str(component["InferenceComponentName"])
