"""The weekly scan's worker and the challenger: a challenger-shaped variant of the governance account, in the
challenger machine's region, is UNDER_EVALUATION only while a RUNNING execution of that machine was started for
it, as the real-time audit judges it; elsewhere no experiment can be verified and the variant stays UNAPPROVED.
The real worker (handler.scan) runs under moto on the challenger lab (the governance account), its result read
back as the aggregate reads it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import boto3
import pytest
from botocore.stub import Stubber

from mlgov.sandbox import FakeContext, function_settings
from mlgov.settings import parse_settings
from mlgov_runtime.lineage_audit.settings import CHALLENGER_MACHINE_ARN
from mlgov_runtime.org_scan import settings as e
from mlgov_runtime.org_scan.logic import Target
from tests.integration.conftest import runtime_env
from tests.integration.test_challenger_handler import ACCOUNT, ENDPOINT, REGION, Lab, at, lab_context, traffic
from tests.integration.test_coverage_and_retraining import fresh_handler
from tests.integration.test_lineage_audit_handler import create_event

BUCKET = "mlgov-org-scan-reports"
MEMBER = "210987654321"


@dataclass
class World:
    lab: Lab
    s3: Any
    kms: Any
    key: str
    runs: int = 0

    def scan(self, account: str = ACCOUNT, region: str = REGION) -> dict[str, Any]:
        """One Map batch through the worker; the endpoint's row as the aggregate reads it (MAC verified)."""
        from mlgov_runtime.adapters.scan_store import KmsMac, S3ScanStore
        from mlgov_runtime.org_scan import handler

        self.runs += 1
        run_id = f"scan-{self.runs}"
        handler.scan(
            {"Items": [{"account_id": account, "region": region}], "BatchInput": {"run_id": run_id}}, FakeContext()
        )
        result = S3ScanStore(self.s3, BUCKET, KmsMac(self.kms, self.key)).result(run_id, Target(account, region))
        assert result is not None and result.status == "OK", result
        [row] = [r for r in result.endpoints if r["endpoint_name"] == ENDPOINT]
        return row


def _worker_environment(key: str, machine: str | None, **context: Any) -> dict[str, str]:
    settings = parse_settings({"org_scan": {"regions": [REGION], "endpoint_concurrency": 2}, **context})
    env = {
        e.REPORT_BUCKET: BUCKET,
        e.MEMBER_ROLE_NAME: "MlGovMemberAudit",
        e.RESULT_MAC_KEY_ID: key,
        **e.environment(settings),
        "POWERTOOLS_METRICS_NAMESPACE": "MLGovernance",
    }
    return {**env, CHALLENGER_MACHINE_ARN: machine} if machine else env


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with lab_context(monkeypatch) as lab:
        s3, kms = boto3.client("s3", region_name=REGION), boto3.client("kms", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
        # As stacks/org_scan.py wires the worker: the challenger machine of this account and region.
        with runtime_env(monkeypatch, _worker_environment(key, lab.machine_arn)):
            yield World(lab, s3, kms, key)


def _serves(row: dict[str, Any], variant: str) -> bool:
    return variant in {v["variant_name"] for v in row["variants"]}


def test_a_running_challenger_in_the_governance_account_is_under_evaluation_in_the_weekly_scan(world: World) -> None:
    state = world.lab.start(world.lab.register())
    row = world.scan()
    assert _serves(row, state["challenger"]["challenger_variant"]), row
    assert row["verdict"] == "UNDER_EVALUATION", row
    assert any(world.lab.machine_arn in r for r in row["reasons"]), row


def test_a_challenger_whose_execution_was_stopped_is_a_violation_in_the_weekly_scan(world: World) -> None:
    state = world.lab.start(world.lab.register())
    world.lab.sfn.stop_execution(executionArn=state["execution"], cause="stopped by an operator")
    row = world.scan()
    assert _serves(row, state["challenger"]["challenger_variant"]), row
    assert row["verdict"] == "UNAPPROVED", row
    assert any("no RUNNING execution of" in r and world.lab.machine_arn in r for r in row["reasons"]), row


@pytest.mark.parametrize("operation", ["list_executions", "describe_execution"])
def test_a_step_functions_the_worker_cannot_read_makes_the_endpoint_an_audit_error(
    world: World, operation: str
) -> None:
    from mlgov_runtime.adapters.aws import context_for

    state = world.lab.start(world.lab.register())
    # The worker's own client (its role): denied, as a role without the grant would be.
    sfn = context_for(None).client(f"stepfunctions@{REGION}")
    listed = world.lab.sfn.list_executions(stateMachineArn=world.lab.machine_arn, statusFilter="RUNNING")
    with Stubber(sfn) as stub:
        if operation == "describe_execution":
            stub.add_response("list_executions", {"executions": listed["executions"]})
        stub.add_client_error(operation, service_error_code="AccessDeniedException", service_message="denied")
        row = world.scan()
    assert _serves(row, state["challenger"]["challenger_variant"]), row
    assert row["verdict"] == "ERROR", row
    assert any("AccessDeniedException" in r and "states:ListExecutions" in r for r in row["reasons"]), row
    assert "lineage" in row.get("inconclusive_checks", []), row  # closes no earlier finding


def test_without_the_machine_the_worker_verifies_nothing_and_the_variant_stays_a_violation(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = world.lab.start(world.lab.register())
    with runtime_env(monkeypatch, {}):
        monkeypatch.delenv(CHALLENGER_MACHINE_ARN)
        row = world.scan()
    assert _serves(row, state["challenger"]["challenger_variant"]), row
    assert row["verdict"] == "UNAPPROVED", row
    assert any("no challenger experiment can be verified from here" in r for r in row["reasons"]), row


def test_a_member_accounts_look_alike_challenger_stays_a_violation(world: World) -> None:
    """The same endpoint, the same RUNNING execution, scanned as a member account's (and as another region's):
    the governance account's experiments vouch for nothing there."""
    from mlgov_runtime.adapters.aws import context_for
    from mlgov_runtime.lineage_audit import endpoint_check
    from mlgov_runtime.org_scan.handler import check_options
    from mlgov_runtime.org_scan.logic import scan_target
    from mlgov_runtime.org_scan.settings import worker_settings

    state = world.lab.start(world.lab.register())
    sm = world.lab.sm

    class Member:
        def client(self, service: str) -> Any:
            return sm

        def endpoint_names(self) -> list[str]:
            return [ENDPOINT]

        def in_region(self, region: str) -> Member:
            raise AssertionError(f"no sweep of other regions expected (asked for {region})")

    class Connector:
        def connect(self, target: Target) -> Member:
            return Member()

    options = check_options(worker_settings.get())
    # A central registry, so the member's packages are refused for nothing but their approval.
    options = {**options, "package_account_ids": [ACCOUNT]}
    asked: list[str] = []

    def home(service: str) -> Any:
        asked.append(service)
        return context_for(None).client(service)  # the worker's own clients

    for target in (Target(MEMBER, REGION), Target(ACCOUNT, "eu-west-1")):
        result = scan_target(
            target,
            Connector(),
            [cast(Any, endpoint_check)],
            options=options,
            source="scheduled",
            now=world.lab.sfn.describe_execution(executionArn=state["execution"])["startDate"],
            concurrency=1,
            home_clients=home,
        )
        [row] = result.endpoints
        assert _serves(row, state["challenger"]["challenger_variant"]), row
        assert row["verdict"] == "UNAPPROVED", (target, row)
        assert any("no challenger experiment can be verified from here" in r for r in row["reasons"]), row
    assert not [s for s in asked if s.startswith("stepfunctions")]


# The ramp's weights and the gate's rejection (twenty-second review, holes 2 and 3): the weekly scan judges them as
# the real-time audit does, both from the same cdk.json.

RAMP = [[10, 0.25], [20, 0.5]]


@pytest.fixture
def ramped(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with lab_context(monkeypatch) as lab:
        s3, kms = boto3.client("s3", region_name=REGION), boto3.client("kms", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
        context: dict[str, Any] = {"challenger": {"ramp": RAMP}}
        audit = function_settings({**context, "experiment_exemptions": {"account_ids": [ACCOUNT]}}, ("lineage_audit",))
        with runtime_env(monkeypatch, {**_worker_environment(key, lab.machine_arn, **context), **audit}):
            yield World(lab, s3, kms, key)


def _realtime(event_id: str) -> dict[str, Any]:
    """The real-time audit of a weight call on the endpoint; its row."""
    handler = fresh_handler("mlgov_runtime.lineage_audit.handler")
    event = create_event(ENDPOINT, event_id)
    event["detail"]["eventName"] = "UpdateEndpointWeightsAndCapacities"
    event["detail"]["requestParameters"] = {"endpointName": ENDPOINT}
    [row] = handler.handler(event, FakeContext())["results"]
    return dict(row)


def _weigh(lab: Lab, state: dict[str, Any], weight: float) -> None:
    ch = state["challenger"]
    lab.sm.update_endpoint_weights_and_capacities(
        EndpointName=ENDPOINT,
        DesiredWeightsAndCapacities=[
            {"VariantName": ch["production_variant"], "DesiredWeight": 1 - weight},
            {"VariantName": ch["challenger_variant"], "DesiredWeight": weight},
        ],
    )


@pytest.mark.parametrize(
    ("weight", "verdict"), [(0.25, "UNDER_EVALUATION"), (0.5, "UNDER_EVALUATION"), (0.6, "UNAPPROVED")]
)
def test_the_weekly_scan_agrees_with_the_real_time_audit_on_a_ramped_challenger(
    ramped: World, weight: float, verdict: str
) -> None:
    state = ramped.lab.start(ramped.lab.register())
    _weigh(ramped.lab, state, weight)  # as ramp_step sets it; 0.6 is above the ramp's largest weight
    scanned, realtime = ramped.scan(), _realtime(f"ramp-{weight}")
    assert scanned["verdict"] == realtime["verdict"] == verdict, (scanned, realtime)
    assert _serves(scanned, state["challenger"]["challenger_variant"]), scanned


def test_the_weekly_scan_agrees_with_the_real_time_audit_on_a_rejected_challenger(ramped: World) -> None:
    lab = ramped.lab
    state = lab.start(lab.register())
    traffic(lab, state, 60, 3500, 0.056)
    state = lab.watch_until_verdict(state)
    assert state["watch"]["decision"] == "REJECT"
    lab.step("reject", state, at(30))  # weight 0, then the package Rejected; the restore still to come
    scanned, realtime = ramped.scan(), _realtime("rejected")
    assert scanned["verdict"] == realtime["verdict"] == "UNDER_EVALUATION", (scanned, realtime)
    assert not realtime["published"], realtime
    # A Rejected variant back on traffic is a violation in both, its run still RUNNING.
    _weigh(lab, state, 0.1)
    scanned, realtime = ramped.scan(), _realtime("rejected-on-traffic")
    assert scanned["verdict"] == realtime["verdict"] == "UNAPPROVED", (scanned, realtime)
