"""Every registered capability's real AWS calls, recorded under moto with no filter, are exactly
within what it declares (stacks/permissions/<name>.py), which is what its construct grants.
A capability without a scenario here fails: register one when you add a capability."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from mlgov.approvals_sandbox import button_press
from mlgov.cli import sample_finding
from mlgov.sandbox import FakeContext
from mlgov_runtime.registry import CAPABILITIES, Capability, declared_actions
from stacks.permissions.core import iam_action
from tests.conftest import load_event
from tests.integration.conftest import Sandbox, recorded_aws_calls
from tests.integration.test_approvals import approve_directly, running_execution
from tests.integration.test_capacity import CapacityWorld, capacity_world, register_event
from tests.integration.test_coverage_and_retraining import (
    PASSING_EVALUATION,
    World,
    fresh_handler,
    step,
    world,
)
from tests.integration.test_notifier_securityhub import hub
from tests.integration.test_org_scan import OrgWorld, org_world

__all__ = ["capacity_world", "hub", "org_world", "world"]  # fixtures used through request.getfixturevalue

Calls = set[tuple[str, str]]


def _lineage_audit(request: pytest.FixtureRequest) -> Calls:
    sandbox: Sandbox = request.getfixturevalue("sandbox")
    with recorded_aws_calls() as made:
        sandbox.invoke(load_event("scheduled_weekly_scan.json"))
        sandbox.invoke(load_event("cloudtrail_create_endpoint.json"))
    assert ("sagemaker", "DescribeModelPackage") in made
    return made


def _notifier(request: pytest.FixtureRequest) -> Calls:
    from tests.integration.test_notifier_securityhub import Hub

    hub: Hub = request.getfixturevalue("hub")  # the notifier with the Security Hub channel on
    finding = {**sample_finding(), "severity": "CRITICAL"}  # pages too
    resolved = {**finding, "status": "RESOLVED", "severity": "INFO", "detected_at": "2026-12-02T09:00:00Z"}
    # Producers store before they publish: the notifier sends only what agrees with the stored finding.
    hub.store(finding)
    with recorded_aws_calls() as made:
        assert hub.notifier.invoke(json.dumps(finding)) == {"batchItemFailures": []}
    hub.store(resolved)
    with recorded_aws_calls() as later:
        assert hub.notifier.invoke(json.dumps(resolved)) == {"batchItemFailures": []}
    made |= later
    assert ("sns", "Publish") in made
    assert ("securityhub", "BatchImportFindings") in made and ("securityhub", "BatchUpdateFindings") in made
    return made


def _coverage(request: pytest.FixtureRequest) -> Calls:
    request.getfixturevalue("world")
    with recorded_aws_calls() as made:
        fresh_handler("mlgov_runtime.coverage.handler").handler({"id": "perm-check"}, FakeContext())
    assert ("stepfunctions", "StartExecution") in made
    return made


def _retraining(request: pytest.FixtureRequest) -> Calls:
    world_: World = request.getfixturevalue("world")
    pipeline = fresh_handler("mlgov_runtime.retraining.handler")
    training = world_.trained("lora-perm", PASSING_EVALUATION)
    with recorded_aws_calls() as made:
        prepared = step(pipeline, "prepare", {})
        quality = step(pipeline, "quality_gate", {"prepared": prepared})
        offline = step(pipeline, "offline_gate", {"training": training})
        state = {"prepared": prepared, "quality": quality, "training": training, "offline": offline}
        step(pipeline, "register", state)
        step(pipeline, "report_failure", {**state, "failed_stage": "offline_gate", "execution": "perm"})
    assert ("sagemaker", "CreateModelPackage") in made
    return made


def _challenger(request: pytest.FixtureRequest) -> Calls:
    from datetime import timedelta

    from mlgov.challenger_estate import register_candidate
    from tests.integration.test_challenger_handler import ACCOUNT, REGION, T0, _as_role, at, lab_context, traffic

    with lab_context(request.getfixturevalue("monkeypatch")) as lab:
        # One registered by a retraining run (DescribeExecution), one by an allow-listed pipeline role (GetRole).
        worse = lab.register()
        better = register_candidate(
            _as_role(lab, "MlGovDeploymentPipelineCi", "/mlgov-protected/"), REGION, snapshot="2026-11-21"
        )
        event = {
            "id": "perm",
            "account": ACCOUNT,
            "source": "mlgov.retraining",
            "detail-type": "Model Package Registered",
        }
        with recorded_aws_calls() as made:
            lab.handler.handler({**event, "detail": {"model_package_arn": worse}}, FakeContext())
            state = lab.start(worse)
        traffic(lab, state, 20, 3500, 0.05)
        with recorded_aws_calls() as more:
            state = lab.watch_until_verdict(state)
            lab.step("reject", state, at(20))
            lab.step("restore", state, at(21))
            lab.step("report_failure", {**state, "failed_state": "Watch"}, at(22))
            state = lab.start(better)
        traffic(lab, state, 60, 3500, 0.09)
        with recorded_aws_calls() as last:
            state = lab.watch_until_verdict(state)
            lab.step("check_promotion", state, at(61))
        lab.sm.update_model_package(ModelPackageArn=better, ModelApprovalStatus="Approved")  # the approver role's
        with recorded_aws_calls() as promoted:
            state["promotion"] = lab.step("promote", state, at(62))
            lab.step("review", state, (T0 + timedelta(days=8)).isoformat())
    made |= more | last | promoted
    for call in ("StartExecution", "UpdateEndpoint", "UpdateEndpointWeightsAndCapacities", "UpdateModelPackage"):
        assert any(op == call for _, op in made), call
    assert {("stepfunctions", "DescribeExecution"), ("iam", "GetRole")} <= made
    assert ("cloudwatch", "GetMetricData") in made
    return made


def _retirement(request: pytest.FixtureRequest) -> Calls:
    from mlgov.retirement_estate import IDLE, RETURNING
    from tests.integration.test_retirement import retirement_context

    monkeypatch = request.getfixturevalue("monkeypatch")
    with retirement_context(monkeypatch) as world:
        from mlgov_runtime.core import env
        from tests.integration.test_approvals import mac_key, open_request

        execution = running_execution(monkeypatch, IDLE)
        mac_key(monkeypatch)
        env.reset_all()
        open_request(execution, IDLE)
        handler = world.handler()
        arn = world.sm.describe_endpoint(EndpointName=RETURNING)["EndpointArn"]
        with recorded_aws_calls() as made:
            handler.handler(load_event("scheduled_retirement_audit.json"), FakeContext())
            handler.handler(load_event("scheduled_retiring_deadlines.json"), FakeContext())
        world.sm.delete_tags(ResourceArn=arn, TagKeys=["endpoint_purpose"])  # someone removes the tag
        with recorded_aws_calls() as more:
            removed = load_event("cloudtrail_delete_tags_purpose.json")
            removed["detail"]["requestParameters"]["resourceArn"] = arn
            assert handler.handler(removed, FakeContext())["status"] == "retiring tag change reverted"
            state: dict[str, object] = {"endpoint_name": IDLE}
            step = {"state": state, "execution": execution}
            state["prepared"] = handler.step({**step, "step": "prepare"}, FakeContext())
            handler.step({**step, "step": "request_approval", "token": "t"}, FakeContext())
            expired = {**state, "error": {"Error": "States.Timeout"}}
            handler.step({**step, "step": "close_request", "state": expired}, FakeContext())
        approve_directly(world.ddb, execution)  # what the approval service records (its calls, not these)
        with recorded_aws_calls() as last:
            state["idle"] = handler.step({**step, "step": "check_idle"}, FakeContext())
            state["deletion"] = handler.step({**step, "step": "delete"}, FakeContext())
            handler.step({**step, "step": "watch", "state": state}, FakeContext())
    made |= more | last
    assert ("sagemaker", "DeleteEndpoint") in made and ("sagemaker", "AddTags") in made
    assert ("kms", "VerifyMac") in made
    return made


def _approvals(request: pytest.FixtureRequest) -> Calls:
    from mlgov_runtime.approvals import handler
    from tests.integration.test_approvals import BOB, CONTEXT, SECRET, approval_world, iam_event, proven, slack_event

    monkeypatch = request.getfixturevalue("monkeypatch")
    with approval_world(monkeypatch) as world:
        monkeypatch.setattr(handler, "post_json", lambda url, body, **_: 200)  # Slack's side, not AWS
        body = button_press("UBOB", world.request_id, False, "https://hooks.slack.com/actions/T/1/x")
        unknown = iam_event(proven({"request_id": "rq-" + "0" * 20, "decision": "approve"}, BOB), BOB)  # the CLI's
        with recorded_aws_calls() as made:
            handler.handler(unknown, CONTEXT)
            handler.slack(slack_event(body, SECRET), CONTEXT)
    assert ("stepfunctions", "SendTaskFailure") in made and ("dynamodb", "UpdateItem") in made
    assert ("sts", "GetCallerIdentity") in made and ("kms", "GenerateMac") in made
    assert ("lambda", "GetFunctionUrlConfig") in made
    return made


def _capacity(request: pytest.FixtureRequest) -> Calls:
    from mlgov.estate import seed_inference_component_endpoint

    world: CapacityWorld = request.getfixturevalue("capacity_world")
    seed_inference_component_endpoint(world.sm, world.estate)
    with recorded_aws_calls() as made:
        world.invoke(load_event("scheduled_weekly_scan.json"))
        world.invoke(register_event(0, "perm-component", "inference-component/manga-lora-v2"))
    assert ("sagemaker", "DescribeInferenceComponent") in made
    assert ("application-autoscaling", "DescribeScheduledActions") in made
    return made


def _org_scan(request: pytest.FixtureRequest) -> Calls:
    world: OrgWorld = request.getfixturevalue("org_world")
    with recorded_aws_calls() as made:
        world.execute()  # plan, the worker in member accounts and its own, aggregation
        failure = {"error": {"Error": "Lambda.Unknown", "Cause": "perm"}}
        world.coordinator.handler({"step": "report_failure", "stage": "Plan", "state": failure}, FakeContext())
    for call in (("organizations", "ListAccounts"), ("sts", "AssumeRole"), ("dynamodb", "Scan"), ("s3", "PutObject")):
        assert call in made, call
    return made


SCENARIOS: dict[str, Callable[[pytest.FixtureRequest], Calls]] = {
    "lineage_audit": _lineage_audit,
    "notifier": _notifier,
    "coverage": _coverage,
    "retraining": _retraining,
    "challenger": _challenger,
    "org_scan": _org_scan,
    "capacity": _capacity,
    "retirement": _retirement,
    "approvals": _approvals,
}


@pytest.mark.parametrize("capability", CAPABILITIES, ids=lambda c: c.name)
def test_every_aws_call_of_a_capability_is_declared(capability: Capability, request: pytest.FixtureRequest) -> None:
    assert capability.name in SCENARIOS, f"no permission scenario for capability {capability.name}"
    made = SCENARIOS[capability.name](request)
    undeclared = sorted({iam_action(*call) for call in made} - declared_actions(capability))
    assert undeclared == [], f"{capability.name} calls {undeclared} without declaring them"


def test_the_recorder_sees_calls_the_product_did_not_route_through_its_own_clients() -> None:
    # Guards the guard: a filter or a recorder that only wraps the product's clients would miss this.
    import boto3
    from moto import mock_aws

    with mock_aws(), recorded_aws_calls() as made:
        boto3.client("dynamodb", region_name="us-east-1").list_tables()
    assert made == {("dynamodb", "ListTables")}
