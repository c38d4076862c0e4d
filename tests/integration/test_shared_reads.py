"""Every registered check on every endpoint under moto, each AWS call recorded: the checks of one
endpoint share one read of each resource (endpoint, config, model, tags, package, pins), so no API
is called twice for the same resource in one scan, and `mlgov audit`'s concurrent worker reads the
same way."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.client
import pytest
from moto import mock_aws

from mlgov import emulator
from mlgov.estate import GROUP, approved_package
from mlgov.ops.audit_many import audit_many
from mlgov.settings import Settings, check_options
from mlgov_runtime.adapters.member_accounts import MemberAccounts
from mlgov_runtime.core.exemptions import ExemptionPolicy
from mlgov_runtime.lineage_audit.audit import EndpointAuditor
from mlgov_runtime.org_scan.logic import Target, scan_target
from mlgov_runtime.registry import endpoint_checks

ACCOUNT = "123456789012"
REGION = "us-east-1"
ENDPOINTS = 12
PACKAGES = 3
PER_ACCOUNT = {"ListEndpoints", "DescribeScalableTargets", "DescribeScalingPolicies", "DescribeScheduledActions"}


class Recorder:
    """Every botocore call made while active: (operation, its parameters)."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()

    def operations(self) -> Counter[str]:
        return Counter(op for (op, _), n in self.calls.items() for _ in range(n))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    emulator.install()
    recorder = Recorder()
    client_class: Any = botocore.client.BaseClient
    original = client_class._make_api_call

    def recording(client: Any, operation: str, params: dict[str, Any]) -> Any:
        with recorder.lock:
            recorder.calls[(operation, json.dumps(params, sort_keys=True, default=str))] += 1
        if operation == "DescribeModelPackage":
            time.sleep(0.02)  # a round trip: threads asking for one package at once overlap, as in AWS
        return original(client, operation, params)

    with mock_aws():
        sm = boto3.client("sagemaker", region_name=REGION)
        sm.create_model_package_group(ModelPackageGroupName=GROUP)
        packages = [approved_package(sm, REGION, {"catalog_snapshot_date": "2026-11-02"}) for _ in range(PACKAGES)]
        for i in range(ENDPOINTS):
            name, package = f"rec-{i:02d}", packages[i % PACKAGES]
            sm.create_model(
                ModelName=name,
                ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution",
                PrimaryContainer={"ModelPackageName": package},
            )
            variant = {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1}
            sm.create_endpoint_config(
                EndpointConfigName=name, ProductionVariants=[{**variant, "InstanceType": "ml.g4dn.xlarge"}]
            )
            sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
        yield recorder


def _twice(recorder: Recorder) -> dict[tuple[str, str], int]:
    return {key: n for key, n in recorder.calls.items() if n > 1 and key[0] not in PER_ACCOUNT}


def test_every_check_together_reads_each_resource_once_per_scan(recorded: Recorder) -> None:
    settings = Settings()
    connector = MemberAccounts(own_account=ACCOUNT, role_name="unused", pool=8)
    home = connector.connect(Target(ACCOUNT, REGION))
    checks = endpoint_checks()
    assert {c.NAME for c in checks} >= {"lineage", "capacity", "snapshot"}
    result = scan_target(
        Target(ACCOUNT, REGION),
        connector,
        checks,
        options=check_options(settings),
        source="scheduled",
        now=datetime(2026, 11, 30, tzinfo=UTC),
        concurrency=4,
        home_clients=home.client,
    )
    assert len(result.endpoints) == ENDPOINTS
    assert {r["verdict"] for r in result.endpoints} <= {"COMPLIANT", "ERROR", "UNREGISTERED", "UNAPPROVED"}
    assert not [r for r in result.endpoints if r.get("check_errors")]
    assert _twice(recorded) == {}
    ops = recorded.operations()
    for op in ("DescribeEndpoint", "DescribeEndpointConfig", "DescribeModel", "ListTags"):
        assert ops[op] == ENDPOINTS, (op, ops)
    assert ops["DescribeModelPackage"] <= PACKAGES
    assert ops["ListInferenceComponents"] == 0, ops  # every variant names a model: none can be hosted


def test_the_concurrent_audit_describes_each_package_and_its_pins_once(recorded: Recorder) -> None:
    from mlgov_runtime.adapters.artifacts import StorePins
    from mlgov_runtime.adapters.sagemaker import SageMakerLineageReader

    auditor = EndpointAuditor(
        SageMakerLineageReader(boto3.client("sagemaker", region_name=REGION)),
        ACCOUNT,
        REGION,
        ExemptionPolicy("experiment-", frozenset(), frozenset()),
        pins=StorePins(boto3.client("s3", region_name=REGION), lambda r: boto3.client("ecr", region_name=r)),
    )
    audits = audit_many(auditor, concurrency=6)
    assert [a.endpoint_name for a in audits] == [f"rec-{i:02d}" for i in range(ENDPOINTS)]
    assert _twice(recorded) == {}
    assert recorded.operations()["DescribeModelPackage"] <= PACKAGES
    assert recorded.operations()["ListInferenceComponents"] == 0


def test_the_audit_lists_components_only_where_a_variant_names_no_model(recorded: Recorder) -> None:
    from mlgov_runtime.adapters.sagemaker import SageMakerLineageReader

    sm = boto3.client("sagemaker", region_name=REGION)
    variant = {"VariantName": "AllTraffic", "InitialInstanceCount": 1, "InstanceType": "ml.g4dn.xlarge"}
    sm.create_endpoint_config(EndpointConfigName="rec-ic", ProductionVariants=[variant])
    sm.create_endpoint(EndpointName="rec-ic", EndpointConfigName="rec-ic")
    recorded.calls.clear()
    auditor = EndpointAuditor(
        SageMakerLineageReader(sm), ACCOUNT, REGION, ExemptionPolicy("experiment-", frozenset(), frozenset())
    )
    audits = {a.endpoint_name: a for a in audit_many(auditor, concurrency=4)}
    assert len(audits) == ENDPOINTS + 1
    listed = [json.loads(p) for (op, p) in recorded.calls if op == "ListInferenceComponents"]
    assert listed == [{"EndpointNameEquals": "rec-ic"}]
    assert audits["rec-ic"].verdict.value == "NO_MODEL"
