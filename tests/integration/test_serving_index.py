"""A central registry's rejection re-audits the endpoints of other accounts that serve the package, within
the same invocation (issue 22 item 3): two accounts in moto, the member role between them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlgov.estate import GROUP, SERVING_INDEX, approved_package, create_governance_resources, create_serving_index
from mlgov.org_estate import create_organization, deploy_member_role, member_session
from mlgov.sandbox import function_settings
from tests.conftest import load_event
from tests.integration.conftest import HandlerWorld, runtime_env

REGION = "us-east-1"
ROLE = "MlGovMemberAudit"
INDEX = SERVING_INDEX


@dataclass
class TwoAccounts(HandlerWorld):
    governance: str
    member: str
    package: str
    handler: ModuleType
    sm: Any  # governance (the central registry)
    ddb: Any
    sqs: Any
    resources: dict[str, str]


@pytest.fixture
def two_accounts(monkeypatch: pytest.MonkeyPatch) -> Iterator[TwoAccounts]:
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        session = boto3.session.Session(region_name=REGION)
        governance, ids = create_organization(session, None, ["recsys-prod"])
        member = ids["recsys-prod"]
        sm, ddb, sqs = (boto3.client(s, region_name=REGION) for s in ("sagemaker", "dynamodb", "sqs"))
        # The central registry: one Approved package, its image pinned by digest.
        sm.create_model_package_group(ModelPackageGroupName=GROUP)
        package = approved_package(sm, REGION)
        # The member account serves it.
        there = member_session(session.client("sts"), member, REGION)
        deploy_member_role(there, None, ROLE, governance)
        msm = there.client("sagemaker")
        msm.create_model(
            ModelName="rec-v1",
            ExecutionRoleArn=f"arn:aws:iam::{member}:role/SageMakerExecution",
            PrimaryContainer={"ModelPackageName": package},
        )
        variant = {"VariantName": "AllTraffic", "ModelName": "rec-v1", "InitialInstanceCount": 1}
        msm.create_endpoint_config(
            EndpointConfigName="recs", ProductionVariants=[{**variant, "InstanceType": "ml.m5.large"}]
        )
        msm.create_endpoint(EndpointName="recs-prod", EndpointConfigName="recs")
        resources = create_governance_resources(ddb, boto3.client("sns", region_name=REGION), sqs)
        env = {
            **resources,
            **function_settings({"member_audit_role_name": ROLE, "package_account_ids": [governance]}),
            **create_serving_index(ddb),
            "POWERTOOLS_METRICS_NAMESPACE": "MLGovernance",
        }
        with runtime_env(monkeypatch, env):
            from mlgov_runtime.lineage_audit import handler as module

            yield TwoAccounts(governance, member, package, module, sm, ddb, sqs, resources)
    for key in env:
        os.environ.pop(key, None)


def scan_event(account: str) -> dict[str, Any]:
    event = load_event("scheduled_weekly_scan.json")
    return {**event, "id": f"scan-{account}", "account": account}


def test_a_central_registry_rejection_re_audits_the_member_accounts_endpoint(two_accounts: TwoAccounts) -> None:
    world = two_accounts
    # The weekly audit of the member account finds the endpoint compliant and indexes what it serves.
    scanned = world.invoke(scan_event(world.member))
    assert [(r["endpoint_name"], r["verdict"]) for r in scanned["results"]] == [("recs-prod", "COMPLIANT")]
    assert world.published() == []

    # The registry account rejects the package; its state-change event reaches the governance bus.
    world.sm.update_model_package(ModelPackageArn=world.package, ModelApprovalStatus="Rejected")
    event = load_event("model_package_state_change_rejected.json")
    assert event["detail"]["ModelPackageArn"] == world.package
    result = world.invoke(event)

    [again] = result["serving_elsewhere"]
    assert (again["account_id"], again["endpoint_name"], again["verdict"]) == (world.member, "recs-prod", "UNAPPROVED")
    [finding] = world.published()
    assert finding["account_id"] == world.member and finding["kind"] == "UNREGISTERED_ENDPOINT"
    assert "Rejected" in finding["detail"]


def test_a_package_change_naming_another_accounts_package_re_audits_nothing_elsewhere(
    two_accounts: TwoAccounts,
) -> None:
    from mlgov_runtime.adapters.serving_index import ServingIndex

    world = two_accounts
    world.invoke(scan_event(world.member))
    # The package also serves in the registry account itself (a third place the forgery would reach).
    container = {"model_package_arn": world.package}
    row = {"account_id": world.governance, "region": REGION, "endpoint_name": "recs-central"}
    ServingIndex(world.ddb, INDEX).record({**row, "variants": [{"containers": [container]}]})
    forged = load_event("model_package_state_change_rejected.json")
    # The detail names a package of an account other than the event's: data, not trusted.
    forged = {**forged, "id": "forged-1", "account": world.member}
    result = world.invoke(forged)
    assert result["serving_elsewhere"] == []
