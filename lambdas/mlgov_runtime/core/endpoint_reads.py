"""The SageMaker endpoint reads every endpoint check makes (the lineage audit, capacity); each check's reader
port adds its own and raises its own exceptions. Same names as core.checks.SHARED_READS: one read serves all."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol


class EndpointReads(Protocol):
    def describe_endpoint(self, name: str) -> Mapping[str, Any]: ...
    def describe_endpoint_config(self, name: str) -> Mapping[str, Any]: ...
    def list_endpoint_tags(self, endpoint_arn: str) -> dict[str, str]: ...
    def list_endpoint_names(self) -> Iterable[str]: ...
