"""Handler + adapters against moto (mock_aws), with the estate `make demo` uses."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from moto import mock_aws

from mlgov.estate import Estate, create_governance_resources, drain_findings, seed_estate
from mlgov.sandbox import FakeContext, function_settings

ACCOUNT = "123456789012"
REGION = "us-east-1"
# What every handler fixture sets beside the governance resources.
HANDLER_ENV = {
    **function_settings({"experiment_exemptions": {"account_ids": [ACCOUNT]}}),
    "POWERTOOLS_METRICS_NAMESPACE": "MLGovernance",
}


def pending_package(sm: Any, group: str, image: str, metadata: Mapping[str, str]) -> str:
    """A package registered PendingManualApproval in `group`, one container of `image` serving JSON; its ARN."""
    arn: str = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": image}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        CustomerMetadataProperties=dict(metadata),
    )["ModelPackageArn"]
    return arn


class HandlerWorld:
    """A capability's handler under moto, with the governance resources its findings go to."""

    handler: Any
    resources: dict[str, str]
    sqs: Any

    def invoke(self, event: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.handler.handler(event, FakeContext())
        return result

    def published(self) -> list[dict[str, Any]]:
        """Drain the queue subscribed to the findings topic."""
        return drain_findings(self.sqs, self.resources["FINDINGS_QUEUE_URL"])


@dataclass
class Sandbox(HandlerWorld):
    estate: Estate
    resources: dict[str, str]
    handler: ModuleType
    sm: Any
    ddb: Any
    sqs: Any

    def stored(self) -> list[dict[str, Any]]:
        items = self.ddb.scan(TableName=self.resources["FINDINGS_TABLE_NAME"])["Items"]
        return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]


@contextlib.contextmanager
def runtime_env(monkeypatch: pytest.MonkeyPatch, values: Mapping[str, str]) -> Iterator[None]:
    """The runtime's environment for one test: set, with the runtime's cached clients and settings forgotten
    before and after, so every handler reads what this test set."""
    from mlgov_runtime.adapters import aws
    from mlgov_runtime.core import env

    for key, value in values.items():
        monkeypatch.setenv(key, value)
    aws.context_for.cache_clear()
    env.reset_all()
    try:
        yield
    finally:
        aws.context_for.cache_clear()
        env.reset_all()


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        sm = boto3.client("sagemaker", region_name=REGION)
        ddb = boto3.client("dynamodb", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        estate = seed_estate(sm, ACCOUNT, REGION)
        resources = create_governance_resources(ddb, boto3.client("sns", region_name=REGION), sqs)
        with runtime_env(monkeypatch, {**resources, **HANDLER_ENV}):
            from mlgov_runtime.lineage_audit import handler as module

            yield Sandbox(estate, resources, module, sm, ddb, sqs)


def service_and_operation(client: Any, operation_name: str) -> tuple[str, ...]:
    return (client.meta.service_model.service_name, operation_name)


@contextlib.contextmanager
def recorded_aws_calls(
    describe: Callable[[Any, str], tuple[str, ...]] = service_and_operation,
) -> Iterator[set[Any]]:
    """(service, operation), or what `describe` makes of (client, operation), of every AWS call made in the
    block, by any botocore client: the product's, Powertools' (idempotency, parameters) and anything else.
    No filter."""
    made: set[Any] = set()
    client_class: Any = BaseClient
    original = client_class._make_api_call

    def recording(self: Any, operation_name: str, api_params: Any) -> Any:
        made.add(describe(self, operation_name))
        return original(self, operation_name, api_params)

    client_class._make_api_call = recording
    try:
        yield made
    finally:
        client_class._make_api_call = original
