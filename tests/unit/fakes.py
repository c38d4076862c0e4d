"""An in-memory SageMaker for the verdict logic and an in-memory findings store: same contracts as the real
reader and store."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from mlgov_runtime.core.findings import STATUS_OPEN, STATUS_RESOLVED, Finding
from mlgov_runtime.lineage_audit.logic import ReadFailure, ResourceNotFound

ACCOUNT = "111122223333"
REGION = "eu-west-1"
GROUP_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/manga-recommender"


def package_arn(version: int) -> str:
    return f"{GROUP_ARN}/{version}"


class DescribesEndpoints:
    """DescribeEndpoint and DescribeEndpointConfig over the fake's dicts, through its own `_get` (which records
    the call and raises the reader's errors)."""

    endpoints: dict[str, dict[str, Any]]
    configs: dict[str, dict[str, Any]]

    def _get(self, kind: str, store: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        raise NotImplementedError

    def describe_endpoint(self, name: str) -> Mapping[str, Any]:
        return self._get("endpoint", self.endpoints, name)

    def describe_endpoint_config(self, name: str) -> Mapping[str, Any]:
        return self._get("config", self.configs, name)


class SageMakerStores:
    """What an in-memory SageMaker keeps: endpoints, endpoint configs, models, registry packages and tags by ARN."""

    def __init__(self) -> None:
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.packages: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, dict[str, str]] = {}


class FakeSageMaker(SageMakerStores, DescribesEndpoints):
    def __init__(self) -> None:
        super().__init__()
        self.components: dict[str, dict[str, Any]] = {}
        self.failures: dict[tuple[str, str], Exception] = {}
        self.calls: list[tuple[str, str]] = []

    # -- building the estate
    def package(self, version: int, status: str) -> str:
        arn = package_arn(version)
        self.packages[arn] = {"ModelPackageArn": arn, "ModelApprovalStatus": status}
        return arn

    def model(self, name: str, *containers: dict[str, Any], primary: bool = True) -> None:
        if primary and len(containers) == 1:
            self.models[name] = {"ModelName": name, "PrimaryContainer": containers[0]}
        else:
            self.models[name] = {"ModelName": name, "Containers": list(containers)}

    def endpoint(
        self,
        name: str,
        variants: list[dict[str, Any]],
        shadow: list[dict[str, Any]] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}"
        self.endpoints[name] = {"EndpointName": name, "EndpointArn": arn, "EndpointConfigName": f"{name}-cfg"}
        config: dict[str, Any] = {"EndpointConfigName": f"{name}-cfg", "ProductionVariants": variants}
        if shadow:
            config["ShadowProductionVariants"] = shadow
        self.configs[f"{name}-cfg"] = config
        self.tags[arn] = dict(tags or {})

    def component(self, name: str, endpoint: str, specification: dict[str, Any], variant: str = "main") -> None:
        self.components[name] = {
            "InferenceComponentName": name,
            "EndpointName": endpoint,
            "VariantName": variant,
            "Specification": specification,
        }

    # -- LineageReader
    def _get(self, kind: str, store: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        self.calls.append((kind, key))
        if (kind, key) in self.failures:
            raise self.failures[(kind, key)]
        if key not in store:
            raise ResourceNotFound(f"{kind} {key} not found")
        return dict(store[key])

    def describe_model(self, name: str) -> Mapping[str, Any]:
        return self._get("model", self.models, name)

    def describe_model_package(self, name_or_arn: str) -> Mapping[str, Any]:
        return self._get("package", self.packages, name_or_arn)

    def list_endpoint_tags(self, endpoint_arn: str) -> dict[str, str]:
        self.calls.append(("tags", endpoint_arn))
        return dict(self.tags.get(endpoint_arn, {}))

    def list_endpoint_names(self) -> Iterator[str]:
        yield from self.endpoints

    def list_inference_component_names(self, endpoint_name: str) -> Iterator[str]:
        self.calls.append(("components", endpoint_name))
        if ("components", endpoint_name) in self.failures:
            raise self.failures[("components", endpoint_name)]
        yield from (n for n, c in self.components.items() if c["EndpointName"] == endpoint_name)

    def describe_inference_component(self, name: str) -> Mapping[str, Any]:
        return self._get("component", self.components, name)

    def fail(self, kind: str, key: str, message: str = "ThrottlingException: Rate exceeded") -> None:
        self.failures[(kind, key)] = ReadFailure(message)


class PagedTable:
    """A DynamoDB table as a parallel Scan pages it: item i belongs to segment i % TotalSegments, at
    most `page_items` items per page, each page built only when asked for (as botocore does)."""

    def __init__(self, count: int, page_items: int = 5000, failure: Exception | None = None) -> None:
        self.count, self.page_items, self.failure = count, page_items, failure
        self.requests: list[dict[str, Any]] = []

    @staticmethod
    def title_id(i: int) -> str:
        return f"MNG-{i:07d}"

    def get_paginator(self, operation: str) -> PagedTable:
        assert operation == "scan", operation
        return self

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.requests.append(kwargs)
        if self.failure:
            raise self.failure
        mine = range(kwargs["Segment"], self.count, kwargs["TotalSegments"])
        for start in range(0, len(mine), self.page_items):
            yield {"Items": [{"title_id": {"S": self.title_id(i)}} for i in mine[start : start + self.page_items]]}


class FindingBook:
    """The findings store's contract (adapters/findings_store.py): a version is published once; RESOLVED closes
    what is open, or a closing whose publication did not go out."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.published: list[Finding] = []

    def record(self, finding: Finding) -> bool:
        item = self.items.get(finding.finding_id)
        if finding.status == STATUS_RESOLVED and (
            item is None or (item["status"] != STATUS_OPEN and item.get("published") == item["fingerprint"])
        ):
            return False
        body = finding.to_dict()
        stored = {**(item or {}), **body, "finding": json.dumps(body), "fingerprint": finding.fingerprint()}
        self.items[finding.finding_id] = stored
        return bool(stored.get("published") != finding.fingerprint())

    def publish(self, finding: Finding) -> None:
        self.published.append(finding)
        self.items[finding.finding_id]["published"] = finding.fingerprint()

    def get(self, finding_id: str) -> dict[str, Any] | None:
        return self.items.get(finding_id)

    def open_findings(self, kinds: Iterable[str]) -> list[dict[str, Any]]:
        wanted = set(kinds)
        return [i for i in self.items.values() if i["status"] == STATUS_OPEN and i["kind"] in wanted]

    def kinds(self) -> list[tuple[str, str]]:
        return [(f.kind, f.status) for f in self.published]
