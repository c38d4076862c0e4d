"""Handler + adapters against moto (mock_aws), with the estate `make demo` uses."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from moto import mock_aws

from mlgov.estate import Estate, create_governance_resources, seed_estate
from mlgov.sandbox import FakeContext, function_settings

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class Sandbox:
    estate: Estate
    resources: dict[str, str]
    handler_module: ModuleType
    sm: Any
    ddb: Any
    sqs: Any

    def invoke(self, event: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.handler_module.handler(event, FakeContext())
        return result

    def published(self) -> list[dict[str, Any]]:
        """Drain the queue subscribed to the findings topic."""
        found: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.resources["FINDINGS_QUEUE_URL"], MaxNumberOfMessages=10)
            if not batch.get("Messages"):
                return found
            for message in batch["Messages"]:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.resources["FINDINGS_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"]
                )

    def stored(self) -> list[dict[str, Any]]:
        items = self.ddb.scan(TableName=self.resources["FINDINGS_TABLE_NAME"])["Items"]
        return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        sm = boto3.client("sagemaker", region_name=REGION)
        ddb = boto3.client("dynamodb", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        estate = seed_estate(sm, ACCOUNT, REGION)
        resources = create_governance_resources(ddb, boto3.client("sns", region_name=REGION), sqs)
        for key, value in resources.items():
            monkeypatch.setenv(key, value)
        for key, value in function_settings({"experiment_exemptions": {"account_ids": [ACCOUNT]}}).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "MLGovernance")
        from mlgov_runtime.adapters import aws

        aws.context_for.cache_clear()
        from mlgov_runtime.core import env
        from mlgov_runtime.lineage_audit import handler as module

        env.reset_all()
        yield Sandbox(estate, resources, module, sm, ddb, sqs)
        aws.context_for.cache_clear()
        env.reset_all()


@contextlib.contextmanager
def recorded_aws_calls() -> Iterator[set[tuple[str, str]]]:
    """(service, operation) of every AWS call made in the block, by any botocore client: the
    product's, Powertools' (idempotency, parameters) and anything else. No filter."""
    made: set[tuple[str, str]] = set()
    client_class: Any = BaseClient
    original = client_class._make_api_call

    def recording(self: Any, operation_name: str, api_params: Any) -> Any:
        made.add((self.meta.service_model.service_name, operation_name))
        return original(self, operation_name, api_params)

    client_class._make_api_call = recording
    try:
        yield made
    finally:
        client_class._make_api_call = original
