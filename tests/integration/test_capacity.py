"""The capacity check end to end under moto (application-autoscaling targets, policies and scheduled
actions are real there): events in, findings stored and published, `mlgov capacity audit|restore`.

moto 5.2.5 has no AppConfig data plane or StartDeployment: mlgov.emulator adds them, so the route adapter
runs for real. moto refuses the inference-component scalable dimension: `allow_component_targets` lifts
that one enum check in-process (inference components themselves come from mlgov.emulator)."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from mlgov.capacity_estate import seed_capacity
from mlgov.cli import main as cli
from mlgov.emulator import install, seed_route
from mlgov.estate import Estate, create_governance_resources, seed_estate
from mlgov.ops.appconfig import AppConfigRoute, RouteError, RouteTarget
from mlgov.ops.finding_log import FindingLog
from mlgov.sandbox import emf_metric
from mlgov_runtime.capacity.logic import COPIES_DIMENSION
from mlgov_runtime.core.findings import finding_id
from tests.conftest import load_event
from tests.integration.conftest import ACCOUNT, HANDLER_ENV, REGION, HandlerWorld, runtime_env
from tests.settings_files import NO_SETTINGS

PROD = "manga-recommender-prod"
PROD_TARGET = f"endpoint/{PROD}/variant/AllTraffic"
VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def allow_component_targets() -> None:
    """moto validates the scalable dimension against a list without inference-component copies."""
    from moto.applicationautoscaling import models, responses

    patched: Any = models
    if getattr(patched, "_mlgov_components", False):
        return
    response_cls: Any = responses.ApplicationAutoScalingResponse
    original_valid, original_validate = patched._target_params_are_valid, response_cls._validate_params

    def valid(namespace: str, r_id: str, dimension: str) -> bool:
        if namespace == "sagemaker" and dimension == COPIES_DIMENSION and r_id.startswith("inference-component/"):
            return True
        return bool(original_valid(namespace, r_id, dimension))

    def validate_params(self: Any) -> None:
        if self._get_param("ScalableDimension") != COPIES_DIMENSION:
            original_validate(self)

    patched._target_params_are_valid = valid
    response_cls._validate_params = validate_params
    patched._mlgov_components = True


@dataclass
class CapacityWorld(HandlerWorld):
    estate: Estate
    expected: dict[str, str]
    resources: dict[str, str]
    sm: Any
    aas: Any
    ddb: Any
    sqs: Any
    handler: Any


@pytest.fixture
def capacity_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[CapacityWorld]:
    install()
    allow_component_targets()
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        sm = boto3.client("sagemaker", region_name=REGION)
        aas = boto3.client("application-autoscaling", region_name=REGION)
        ddb, sqs = boto3.client("dynamodb", region_name=REGION), boto3.client("sqs", region_name=REGION)
        estate = seed_estate(sm, ACCOUNT, REGION)
        expected = seed_capacity(aas)
        resources = create_governance_resources(ddb, boto3.client("sns", region_name=REGION), sqs)
        with runtime_env(monkeypatch, {**resources, **HANDLER_ENV}):
            from mlgov_runtime.capacity import handler

            yield CapacityWorld(estate, expected, resources, sm, aas, ddb, sqs, handler)


def register_event(min_capacity: int, event_id: str, resource: str = PROD_TARGET) -> dict[str, Any]:
    event = load_event("cloudtrail_register_scalable_target.json")
    event["id"] = event_id
    event["detail"]["requestParameters"].update(resourceId=resource, minCapacity=min_capacity)
    return event


def set_min(
    world: CapacityWorld, low: int, resource: str = PROD_TARGET, dimension: str = VARIANT_DIMENSION, high: int = 4
) -> None:
    world.aas.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=dimension,
        MinCapacity=low,
        MaxCapacity=high,
    )


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli(list(args))
    return code, out.getvalue(), err.getvalue()


def test_the_weekly_check_gives_every_estate_endpoint_its_expected_verdict(capacity_world: CapacityWorld) -> None:
    result = capacity_world.invoke(load_event("scheduled_weekly_scan.json"))
    verdicts = {r["endpoint_name"]: r["verdict"] for r in result["results"]}
    assert {name: verdicts[name] for name in capacity_world.expected} == capacity_world.expected
    kinds = {(f["kind"], f["severity"]) for f in capacity_world.published()}
    assert ("ENDPOINT_CAN_SCALE_TO_ZERO", "CRITICAL") in kinds
    assert ("ENDPOINT_SINGLE_INSTANCE", "MEDIUM") in kinds
    assert ("SERVERLESS_COLD_START_RISK", "LOW") in kinds


def test_min_capacity_set_to_zero_is_a_critical_finding_with_its_fix_and_metric(
    capacity_world: CapacityWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    set_min(capacity_world, 0)
    result = capacity_world.invoke(register_event(0, "rst-0"))
    assert emf_metric(capsys.readouterr().out, "EndpointCanScaleToZero") == 1
    [checked] = result["results"]
    assert (checked["endpoint_name"], checked["verdict"], checked["minimum"]) == (PROD, "CAN_SCALE_TO_ZERO", 0)
    [published] = capacity_world.published()
    assert (published["kind"], published["severity"], published["source"]) == (
        "ENDPOINT_CAN_SCALE_TO_ZERO",
        "CRITICAL",
        "realtime",
    )
    assert published["evidence"]["fix_command"] == f"mlgov capacity restore --endpoint {PROD}"
    assert published["resource_arn"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{PROD}"


def test_the_same_event_delivered_twice_is_checked_once(capacity_world: CapacityWorld) -> None:
    set_min(capacity_world, 0)
    first = capacity_world.invoke(register_event(0, "dup-1"))
    second = capacity_world.invoke(register_event(0, "dup-1"))
    assert first == second
    assert len(capacity_world.published()) == 1


def test_an_inference_component_target_at_zero_is_traced_to_its_endpoint(capacity_world: CapacityWorld) -> None:
    from mlgov.estate import seed_inference_component_endpoint

    host = seed_inference_component_endpoint(capacity_world.sm, capacity_world.estate)
    set_min(capacity_world, 0, "inference-component/manga-lora-v2", COPIES_DIMENSION, high=2)
    result = capacity_world.invoke(register_event(0, "ic-0", "inference-component/manga-lora-v2"))
    [checked] = result["results"]
    assert (checked["endpoint_name"], checked["verdict"]) == (host, "CAN_SCALE_TO_ZERO")
    assert any("inference component manga-lora-v2: MinCapacity 0" in r for r in checked["reasons"])
    assert any("inference component manga-lora-hotfix: no scalable target" in r for r in checked["reasons"])


def test_capacity_audit_prints_json_objects_with_endpoint_name_and_verdict_and_exits_3(
    capacity_world: CapacityWorld,
) -> None:
    code, out, _ = run_cli("capacity", "audit", "--region", REGION, "--format", "json", "--config", NO_SETTINGS)
    assert code == 3
    rows = json.loads(out)
    assert isinstance(rows, list)
    by_name = {r["endpoint_name"]: r for r in rows}
    assert by_name["manga-recommender-canary"]["verdict"] == "CAN_SCALE_TO_ZERO"
    assert by_name[PROD]["verdict"] == "COMPLIANT" and by_name[PROD]["business_hours_minimum"] == 2
    schedule = [a["schedule"] for a in by_name[PROD]["capacities"][0]["scheduled_actions"]]
    assert "cron(0 8 ? * MON *)" in schedule


def test_capacity_audit_of_safe_endpoints_exits_0_and_the_table_shows_minimum_and_schedule(
    capacity_world: CapacityWorld,
) -> None:
    code, out, _ = run_cli("capacity", "audit", "--region", REGION, "--endpoint", PROD, "--config", NO_SETTINGS)
    assert code == 0
    header, row = out.splitlines()[:2]
    assert header.split()[:5] == ["ENDPOINT", "VERDICT", "MIN", "BIZ", "MIN"]
    assert row.split()[:4] == [PROD, "COMPLIANT", "1", "2"]
    assert "MON 08:00->5" in row and "daily 06:00->2" in row


def test_restore_puts_the_minimum_back_logs_each_step_to_the_finding_and_the_next_event_resolves_it(
    capacity_world: CapacityWorld,
) -> None:
    world = capacity_world
    set_min(world, 0)
    world.invoke(register_event(0, "incident"))
    [opened] = world.published()
    code, out, _ = run_cli(
        "capacity", "restore", "--endpoint", PROD, "--region", REGION, "--format", "json",
        "--findings-table", world.resources["FINDINGS_TABLE_NAME"], "--config", NO_SETTINGS,
    )  # fmt: skip
    body = json.loads(out)
    assert code == 0, body
    assert (body["verdict_before"], body["verdict"], body["minimum"]) == ("CAN_SCALE_TO_ZERO", "COMPLIANT", 1)
    assert [(s["action"], s["status"]) for s in body["steps"]] == [("register_scalable_target", "done")]
    assert body["findings_logged"] == [opened["finding_id"]]
    [target] = world.aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[PROD_TARGET])[
        "ScalableTargets"
    ]
    assert target["MinCapacity"] == 1
    log = FindingLog(world.ddb, world.resources["FINDINGS_TABLE_NAME"]).entries(opened["finding_id"])
    assert [(e["action"], e["status"]) for e in log] == [("register_scalable_target", "done")]
    # The restore's own RegisterScalableTarget reaches the Lambda through CloudTrail:
    world.invoke(register_event(1, "restored"))
    [resolved] = world.published()
    assert (resolved["finding_id"], resolved["status"], resolved["severity"]) == (
        opened["finding_id"],
        "RESOLVED",
        "INFO",
    )


def test_restore_raises_scheduled_actions_that_would_drop_to_zero_again(capacity_world: CapacityWorld) -> None:
    code, out, _ = run_cli(
        "capacity", "restore", "--endpoint", "manga-recommender-v0", "--region", REGION, "--format", "json",
        "--config", NO_SETTINGS,
    )  # fmt: skip
    assert code == 0, out
    [action] = capacity_world.aas.describe_scheduled_actions(
        ServiceNamespace="sagemaker", ResourceId="endpoint/manga-recommender-v0/variant/AllTraffic"
    )["ScheduledActions"]
    assert (action["ScheduledActionName"], action["ScalableTargetAction"]["MinCapacity"]) == ("nightly-cost-saver", 1)
    assert action["Schedule"] == "cron(0 22 ? * SUN *)"


def test_a_dry_run_prints_the_plan_changes_nothing_and_still_exits_3(capacity_world: CapacityWorld) -> None:
    code, out, err = run_cli(
        "capacity", "restore", "--endpoint", "manga-recommender-canary", "--dry-run", "--region", REGION,
        "--config", NO_SETTINGS,
    )  # fmt: skip
    assert code == 3
    assert "dry run: nothing changed" in out and " -> " not in out, out  # no "NO_AUTOSCALING -> NO_AUTOSCALING"
    assert "[planned       ] register_scalable_target" in err
    [target] = capacity_world.aas.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=["endpoint/manga-recommender-canary/variant/AllTraffic"]
    )["ScalableTargets"]
    assert target["MinCapacity"] == 0


def test_restore_refuses_a_minimum_below_the_floor_and_an_unknown_endpoint(capacity_world: CapacityWorld) -> None:
    code, _, err = run_cli("capacity", "restore", "--endpoint", PROD, "--min", "0", "--region", REGION)
    assert code == 2 and "--min 0" in err
    code, _, err = run_cli("capacity", "restore", "--endpoint", "nope", "--region", REGION, "--config", NO_SETTINGS)
    assert code == 2 and "does not exist" in err


# -- AppConfig route (mlgov.emulator serves AppConfig deployments and the AppConfigData data plane)

ROUTE_DOCUMENT = {"recommendation_backend": "sagemaker", "bedrock_model": "claude-3-sonnet"}


@dataclass
class RouteWorld:
    appconfig: Any
    ids: dict[str, str]
    route: AppConfigRoute
    sleeps: list[float]

    def deployment(self, number: int) -> Any:
        return self.appconfig.get_deployment(
            ApplicationId=self.ids["application_id"], EnvironmentId=self.ids["environment_id"], DeploymentNumber=number
        )

    def version(self, number: int) -> Any:
        return self.appconfig.get_hosted_configuration_version(
            ApplicationId=self.ids["application_id"],
            ConfigurationProfileId=self.ids["configuration_profile_id"],
            VersionNumber=number,
        )


def route_world(document: dict[str, Any], monitors: list[dict[str, str]] | None = None) -> RouteWorld:
    """The route seeded with `document` (configuration version 1, deployment 1) and the product's adapter on it;
    the adapter's sleeps are recorded, not slept. Call inside mock_aws with the emulator installed."""
    appconfig = boto3.client("appconfig", region_name=REGION)
    ids = seed_route(appconfig, document, monitors)
    target = RouteTarget(ids["application_id"], ids["environment_id"], ids["configuration_profile_id"])
    sleeps: list[float] = []
    route = AppConfigRoute(appconfig, boto3.client("appconfigdata", region_name=REGION), target, sleep=sleeps.append)
    return RouteWorld(appconfig, ids, route, sleeps)


@pytest.fixture
def appconfig_aws() -> Iterator[None]:
    install()
    with mock_aws():
        yield


@pytest.mark.usefixtures("appconfig_aws")
def test_the_route_switch_writes_a_version_deploys_it_and_waits_until_it_is_delivered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlgov import emulator

    world = route_world(ROUTE_DOCUMENT)
    # Given a deployment that says DEPLOYING once, then BAKING (delivered to every client) for a while
    monkeypatch.setattr(emulator, "DEPLOYMENT_POLLS", 1)
    monkeypatch.setattr(emulator, "BAKING_POLLS", 3)
    assert world.route.current() == "sagemaker"
    detail = world.route.switch("bedrock-fallback", "manga-recommender-prod is cold")
    # Then it returns at BAKING after one poll interval, without waiting for the bake to end
    assert detail == "recommendation_backend=bedrock-fallback (configuration version 2, deployment 2 BAKING)"
    assert world.sleeps == [5.0]
    version = world.version(2)
    assert json.loads(version["Content"].read()) == {**ROUTE_DOCUMENT, "recommendation_backend": "bedrock-fallback"}
    assert (version["ContentType"], version["Description"]) == ("application/json", "manga-recommender-prod is cold")
    deployment = world.deployment(2)
    assert (deployment["State"], deployment["DeploymentStrategyId"]) == ("BAKING", "AppConfig.AllAtOnce")
    assert (deployment["ConfigurationVersion"], deployment["Description"]) == ("2", "manga-recommender-prod is cold")
    assert world.route.current() == "bedrock-fallback"  # what clients read while it bakes


@pytest.mark.usefixtures("appconfig_aws")
def test_a_rolled_back_route_switch_fails_and_clients_keep_the_previous_route(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgov import emulator

    world = route_world(ROUTE_DOCUMENT)
    monkeypatch.setattr(emulator, "DEPLOYMENT_POLLS", 2)
    emulator.fail_next_deployment(world.ids["application_id"], world.ids["environment_id"], "alarm recommender-errors")
    with pytest.raises(RouteError, match="deployment 2 of recommendation_backend=bedrock-fallback was ROLLED_BACK"):
        world.route.switch("bedrock-fallback", "manga-recommender-prod is cold")
    assert world.deployment(2)["State"] == "ROLLED_BACK"
    assert world.route.current() == "sagemaker"


@pytest.mark.usefixtures("appconfig_aws")
def test_a_route_document_without_the_key_is_refused_before_anything_is_written() -> None:
    world = route_world({"other": "x"})
    with pytest.raises(RouteError, match="no key 'recommendation_backend'"):
        world.route.switch("bedrock-fallback", "cold")
    # Nothing written: no second configuration version, no second deployment.
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        world.version(2)
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        world.deployment(2)


def test_restore_of_a_cold_endpoint_routes_to_the_fallback_and_back_once_invocations_flow(
    capacity_world: CapacityWorld, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    world = capacity_world
    set_min(world, 0)
    world.sm.update_endpoint_weights_and_capacities(
        EndpointName=PROD, DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 0}]
    )
    route = route_world(ROUTE_DOCUMENT)
    config = tmp_path / "cdk.json"
    route_settings = {**route.ids, "endpoints": [PROD]}
    config.write_text(json.dumps({"context": {"mlgov": {"capacity": {"fallback_route": route_settings}}}}))
    from mlgov.ops.capacity_writers import AutoscalingWriter

    register = AutoscalingWriter.register_scalable_target

    def scale_to_minimum(self: Any, resource_id: str, dimension: str, low: int, high: int) -> None:
        # What Application Auto Scaling does after a new minimum above the current count; then traffic flows.
        register(self, resource_id, dimension, low, high)
        world.sm.update_endpoint_weights_and_capacities(
            EndpointName=PROD, DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": low}]
        )
        boto3.client("cloudwatch", region_name=REGION).put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[{
                "MetricName": "InvocationsPerInstance", "Value": 14, "Timestamp": datetime.now(UTC),
                "Dimensions": [{"Name": "EndpointName", "Value": PROD}, {"Name": "VariantName", "Value": "AllTraffic"}],
            }],
        )  # fmt: skip

    monkeypatch.setattr(AutoscalingWriter, "register_scalable_target", scale_to_minimum)
    code, out, _ = run_cli(
        "capacity", "restore", "--endpoint", PROD, "--region", REGION, "--format", "json", "--config", str(config),
    )  # fmt: skip
    body = json.loads(out)
    assert code == 0, body
    # Two deployments on the real route: to the fallback, then back; clients read sagemaker again.
    written = [json.loads(route.version(n)["Content"].read())["recommendation_backend"] for n in (2, 3)]
    assert written == ["bedrock-fallback", "sagemaker"]
    assert [route.deployment(n)["State"] for n in (2, 3)] == ["COMPLETE", "COMPLETE"]
    assert route.route.current() == "sagemaker"
    assert [(s["action"], s["status"]) for s in body["steps"]] == [
        ("route_to_fallback", "done"),
        ("register_scalable_target", "done"),
        ("wait_in_service", "done"),
        ("wait_invocations", "done"),
        ("route_back", "done"),
    ]
    assert "InvocationsPerInstance 14" in body["steps"][3]["detail"]


def test_the_remediation_log_needs_a_stored_finding(capacity_world: CapacityWorld) -> None:
    log = FindingLog(capacity_world.ddb, capacity_world.resources["FINDINGS_TABLE_NAME"])
    assert not log.append(finding_id("ENDPOINT_CAN_SCALE_TO_ZERO", ACCOUNT, REGION, "arn:none"), {"step": 1})


def test_events_it_cannot_check_are_rejected_or_skipped_with_the_reason(capacity_world: CapacityWorld) -> None:
    other = register_event(0, "foreign")
    other["detail"]["recipientAccountId"] = other["account"] = "999999999999"
    skipped = capacity_world.invoke(other)
    assert skipped["status"] == "skipped" and "MEMBER_AUDIT_ROLE_NAME is not set" in skipped["reason"]
    ecs = register_event(0, "ecs")
    ecs["detail"]["requestParameters"]["serviceNamespace"] = "ecs"
    assert capacity_world.invoke(ecs) == {
        "status": "rejected",
        "reason": "RegisterScalableTarget for namespace 'ecs', not sagemaker",
    }
    assert capacity_world.published() == []


def test_targets_are_read_50_resource_ids_at_a_time(capacity_world: CapacityWorld) -> None:
    from mlgov_runtime.capacity.autoscaling import AutoscalingReader

    ids = [f"endpoint/manga-recommender-prod/variant/v{i}" for i in range(120)]
    for rid in ids[::40]:
        set_min(capacity_world, 1, rid)
    calls: list[int] = []
    client = boto3.client("application-autoscaling", region_name=REGION)
    client.meta.events.register(
        "provide-client-params.application-autoscaling.DescribeScalableTargets",
        lambda params, **_: calls.append(len(params["ResourceIds"])),
    )
    found = AutoscalingReader(capacity_world.sm, client).scalable_targets(ids)
    assert calls == [50, 50, 20]
    assert sorted(t["ResourceId"] for t in found) == sorted(ids[::40])


# -- restore: dependencies first, and what a failure after a change leaves


def _min_capacity(world: CapacityWorld, resource: str = PROD_TARGET) -> int:
    [target] = world.aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])[
        "ScalableTargets"
    ]
    return int(target["MinCapacity"])


def test_restore_with_a_wrong_findings_table_changes_nothing_and_says_why(capacity_world: CapacityWorld) -> None:
    # Given an endpoint at MinCapacity 0 and a findings table name that does not exist
    set_min(capacity_world, 0)
    code, out, err = run_cli(
        "capacity", "restore", "--endpoint", PROD, "--region", REGION, "--findings-table", "mlgov-findingz",
        "--config", NO_SETTINGS,
    )  # fmt: skip
    # Then nothing is changed: the log it could not write is refused before the first change
    assert code == 2 and out == ""
    assert "nothing was changed: findings table mlgov-findingz cannot be written (ResourceNotFoundException" in err
    assert _min_capacity(capacity_world) == 0


def test_a_failure_after_a_change_names_the_change_and_its_undo_command(
    capacity_world: CapacityWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from mlgov.ops.capacity_writers import AutoscalingWriter

    # Given an endpoint with no scalable target, and PutScalingPolicy denied to this caller
    world = capacity_world
    resource = "endpoint/manga-recommender-hotfix/variant/AllTraffic"
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not authorized to PutScalingPolicy"}},
        "PutScalingPolicy",
    )

    def put_target_tracking(self: Any, *args: Any) -> None:
        raise denied

    monkeypatch.setattr(AutoscalingWriter, "put_target_tracking", put_target_tracking)
    code, out, err = run_cli(
        "capacity", "restore", "--endpoint", "manga-recommender-hotfix", "--region", REGION, "--format", "json",
        "--config", NO_SETTINGS,
    )  # fmt: skip
    body = json.loads(out)
    assert code == 3
    steps = {s["action"]: s for s in body["steps"]}
    assert steps["register_scalable_target"]["status"] == "done" and steps["put_scaling_policy"]["status"] == "failed"
    # Then the change that was made is named with the exact command that puts it back
    undo = (
        "aws application-autoscaling deregister-scalable-target --service-namespace sagemaker "
        f"--resource-id {resource} --scalable-dimension {VARIANT_DIMENSION}"
    )
    assert "these changes were made before the failure" in err and undo in err
    assert steps["register_scalable_target"]["undo"] == undo
    assert _min_capacity(world, resource) == 1


# -- serverless provisioned concurrency (the emulator takes its scalable dimension)

PROVISIONED = "sagemaker:variant:DesiredProvisionedConcurrency"


def _serverless_with_provisioned_concurrency(world: CapacityWorld, minimum: int) -> str:
    world.sm.create_endpoint_config(
        EndpointConfigName="manga-rec-pc-cfg",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "manga-rec-v1",
                "ServerlessConfig": {"MemorySizeInMB": 6144, "MaxConcurrency": 20, "ProvisionedConcurrency": 5},
            }
        ],
    )
    world.sm.create_endpoint(EndpointName="manga-rec-pc", EndpointConfigName="manga-rec-pc-cfg")
    resource = "endpoint/manga-rec-pc/variant/AllTraffic"
    set_min(world, minimum, resource, PROVISIONED, high=10)
    return resource


def _pc_cli(verb: str) -> tuple[int, str]:
    """`mlgov capacity <verb>` of the serverless endpoint with provisioned concurrency, as JSON: (exit, stdout)."""
    code, out, _ = run_cli(
        "capacity", verb, "--endpoint", "manga-rec-pc", "--region", REGION, "--format", "json", "--config", NO_SETTINGS
    )
    return code, out


def test_provisioned_concurrency_that_autoscales_to_zero_is_a_cold_start_risk(capacity_world: CapacityWorld) -> None:
    # Given a serverless variant with ProvisionedConcurrency 5 whose scalable target lets it fall to 0
    _serverless_with_provisioned_concurrency(capacity_world, 0)
    code, out = _pc_cli("audit")
    [audit] = json.loads(out)
    assert code == 0  # a cold-start risk, not a violation (unless serverless_cold_start_is_violation)
    assert (
        audit["verdict"] == "COLD_START_RISK"
        and audit["fix_command"] == "mlgov capacity restore --endpoint manga-rec-pc"
    )
    assert "provisioned concurrency autoscales to 0" in audit["reasons"][0] and PROVISIONED in audit["reasons"][0]


def test_restore_raises_provisioned_concurrency_to_the_minimum(capacity_world: CapacityWorld) -> None:
    resource = _serverless_with_provisioned_concurrency(capacity_world, 0)
    code, out = _pc_cli("restore")
    body = json.loads(out)
    assert (body["verdict_before"], body["verdict"]) == ("COLD_START_RISK", "COMPLIANT"), body
    [target] = capacity_world.aas.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource], ScalableDimension=PROVISIONED
    )["ScalableTargets"]
    assert target["MinCapacity"] == 1 and code == 0
    [policy] = capacity_world.aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)[
        "ScalingPolicies"
    ]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "SageMakerVariantProvisionedConcurrencyUtilization"
    )
    assert tracking["TargetValue"] == 0.5


def test_provisioned_concurrency_kept_above_zero_is_compliant(capacity_world: CapacityWorld) -> None:
    _serverless_with_provisioned_concurrency(capacity_world, 2)
    _, out = _pc_cli("audit")
    assert json.loads(out)[0]["verdict"] == "COMPLIANT"


# -- mlgov capacity campaign (spec scenario 4, follow-up 3)

CAMPAIGN = (
    "capacity", "campaign", "--endpoint", PROD, "--name", "manga-monday", "--peak", "380",
    "--start", "2026-12-07T08:00:00+09:00", "--end", "2026-12-07T22:00:00+09:00", "--region", REGION,
    "--config", NO_SETTINGS,
)  # fmt: skip


@pytest.fixture
def campaign_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgov.commands import capacity as command

    monkeypatch.setattr(command, "_campaign_now", lambda: datetime(2026, 12, 4, 12, 0, tzinfo=UTC))


def _campaign_actions(world: CapacityWorld) -> dict[str, Any]:
    found = world.aas.describe_scheduled_actions(ServiceNamespace="sagemaker", ResourceId=PROD_TARGET)
    return {a["ScheduledActionName"]: a for a in found["ScheduledActions"] if "campaign" in a["ScheduledActionName"]}


def test_campaign_dry_run_computes_the_instances_for_the_peak_and_changes_nothing(
    capacity_world: CapacityWorld, campaign_clock: None
) -> None:
    code, out, err = run_cli(*CAMPAIGN, "--dry-run", "--format", "json")
    plan = json.loads(out)
    # 380 invocations/min at the policy's 70 per instance: 5.4, so 6 instances, from 30 minutes before the start
    assert code == 0 and plan["instances"] == 6 and plan["formula"] == "max(1, ceil(380 / 70)) = 6"
    assert plan["scale_out_at"] == "2026-12-06T22:30:00+00:00" and plan["scale_in_at"] == "2026-12-07T13:00:00+00:00"
    out_action, in_action = plan["scheduled_actions"]
    assert (out_action["schedule"], out_action["min_capacity"]) == ("at(2026-12-06T22:30:00)", 6)
    # The end puts back what the weekly schedule holds at 13:00 UTC Monday (Manga Monday's 5), not the 1 read now.
    assert (in_action["schedule"], in_action["min_capacity"]) == ("at(2026-12-07T13:00:00)", 5)
    # The weekly actions that fire inside the window lower the campaign's minimum: each one is named.
    assert "mlgov-min1-0000-daily sets MinCapacity 1 at 2026-12-07T00:00:00+00:00" in err, err
    assert "mlgov-min2-0600-daily sets MinCapacity 2" in err and "mlgov-min5-0800-MON sets" in err
    assert plan["scheduled"] == [] and _campaign_actions(capacity_world) == {}


def test_campaign_schedules_the_scale_out_and_the_scale_in(capacity_world: CapacityWorld, campaign_clock: None) -> None:
    code, out, _ = run_cli(*CAMPAIGN)
    assert code == 0 and "scheduled mlgov-campaign-manga-monday-out" in out
    actions = _campaign_actions(capacity_world)
    scale_out = actions["mlgov-campaign-manga-monday-out"]
    assert scale_out["Schedule"] == "at(2026-12-06T22:30:00)" and scale_out["ScalableTargetAction"]["MinCapacity"] == 6
    assert scale_out["ScalableTargetAction"]["MaxCapacity"] >= 6
    assert actions["mlgov-campaign-manga-monday-in"]["ScalableTargetAction"]["MinCapacity"] == 5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # The way out names this endpoint and the instances the campaign would have scheduled (6, as planned).
        (
            {"--start": "2026-12-04T12:10:00Z"},
            f"not in the future: scale now with mlgov capacity restore --endpoint {PROD} --min 6",
        ),
        ({"--end": "2026-12-07T07:00:00+09:00"}, "ends"),
        ({"--peak": "nan"}, "argument --peak: 'nan' is not a number above 0"),
        ({"--peak": "0"}, "argument --peak: '0' is not a number above 0"),
        ({"--endpoint": "manga-recommender-hotfix"}, "has no scalable target"),
        ({"--start": "2026-12-07 08:00"}, "has no UTC offset"),
    ],
)
def test_campaign_refuses_what_it_cannot_schedule_and_changes_nothing(
    capacity_world: CapacityWorld, campaign_clock: None, change: dict[str, str], message: str
) -> None:
    argv = list(CAMPAIGN)
    for flag, value in change.items():
        argv[argv.index(flag) + 1] = value
    code, out, err = run_cli(*argv)
    assert code == 2 and out == "" and message in err, err
    assert _campaign_actions(capacity_world) == {}


# -- the weekly actions a campaign raises, and campaign-end putting them back

CAMPAIGN_END_CMD = ("capacity", "campaign-end", "--endpoint", PROD, "--name", "manga-monday", "--region", REGION,
                    "--config", NO_SETTINGS)  # fmt: skip


def _weekly(world: CapacityWorld) -> dict[str, dict[str, Any]]:
    """Every weekly action of the variant as AWS describes it, less the fields AWS sets itself."""
    found = world.aas.describe_scheduled_actions(ServiceNamespace="sagemaker", ResourceId=PROD_TARGET)
    return {
        a["ScheduledActionName"]: {k: v for k, v in a.items() if k not in ("CreationTime", "ScheduledActionARN")}
        for a in found["ScheduledActions"]
        if not a["Schedule"].startswith("at(")
    }


def _prod_tags(world: CapacityWorld) -> dict[str, str]:
    arn = world.sm.describe_endpoint(EndpointName=PROD)["EndpointArn"]
    return {t["Key"]: t["Value"] for t in world.sm.list_tags(ResourceArn=arn)["Tags"]}


def _campaign_tags(world: CapacityWorld) -> dict[str, str]:
    return {k: v for k, v in _prod_tags(world).items() if k.startswith("mlgov:campaign:")}


def _clock(monkeypatch: pytest.MonkeyPatch, now: datetime) -> None:
    from mlgov.commands import capacity as command

    monkeypatch.setattr(command, "_campaign_now", lambda: now)


@pytest.fixture
def bounded_action(capacity_world: CapacityWorld) -> None:
    """One weekly action with its own MaxCapacity, start and end, so that putting it back has all to keep."""
    capacity_world.aas.put_scheduled_action(
        ServiceNamespace="sagemaker",
        ScheduledActionName="mlgov-min2-0600-daily",
        ResourceId=PROD_TARGET,
        ScalableDimension=VARIANT_DIMENSION,
        Schedule="cron(0 6 * * ? *)",
        Timezone="UTC",
        StartTime=datetime(2026, 11, 1, tzinfo=UTC),
        EndTime=datetime(2027, 6, 1, tzinfo=UTC),
        ScalableTargetAction={"MinCapacity": 2, "MaxCapacity": 3},
    )


def test_the_campaign_raises_the_weekly_actions_it_overlaps_and_its_end_puts_them_back_exactly(
    capacity_world: CapacityWorld, campaign_clock: None, bounded_action: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = capacity_world
    before = _weekly(world)
    # Given the runbook's Manga Monday campaign of 6 scheduled
    code, out, err = run_cli(*CAMPAIGN, "--format", "json")
    plan = json.loads(out)
    assert code == 0, err
    # Then the three weekly actions that fire inside it are raised to 6, each with its MaxCapacity >= 6, and the one
    # that fires after it (22:00 UTC Monday) is left alone
    raised = {"mlgov-min1-0000-daily", "mlgov-min2-0600-daily", "mlgov-min5-0800-MON"}
    assert set(plan["raised"]) == raised == {r["name"] for r in plan["raised_actions"]}
    during = _weekly(world)
    for name in raised:
        held = during[name]["ScalableTargetAction"]
        assert held["MinCapacity"] == 6 and held.get("MaxCapacity", 4) >= 6, (name, held)
        assert {k: v for k, v in during[name].items() if k != "ScalableTargetAction"} == {
            k: v for k, v in before[name].items() if k != "ScalableTargetAction"
        }
    assert during["mlgov-min2-2200-MON"] == before["mlgov-min2-2200-MON"]
    assert _prod_tags(world)["mlgov:campaign:manga-monday:end"] == "2026-12-07T13:00:00+00:00"
    # And the same campaign cannot be recorded twice (its raised values would pass for the originals)
    code, _, err = run_cli(*CAMPAIGN)
    assert code == 2 and "already recorded" in err

    # When the end is asked for before the campaign's end, it is refused
    _clock(monkeypatch, datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    code, _, err = run_cli(*CAMPAIGN_END_CMD)
    assert code == 2 and "runs until 2026-12-07T13:00:00+00:00" in err and "--cancel" in err
    assert _weekly(world) == during

    # When the campaign is over, the audit names the command that puts the week back
    _clock(monkeypatch, datetime(2026, 12, 7, 14, 0, tzinfo=UTC))
    audit = ("capacity", "audit", "--endpoint", PROD, "--region", REGION, "--format", "json", "--config", NO_SETTINGS)
    from mlgov_runtime.capacity import check

    monkeypatch.setattr(check, "datetime", _FixedDatetime)
    [row] = json.loads(run_cli(*audit)[1])
    hint = f"run mlgov capacity campaign-end --endpoint {PROD} --name manga-monday"
    assert any(hint in r for r in row["reasons"]), row["reasons"]

    # And a dry run of the end changes nothing
    code, out, err = run_cli(*CAMPAIGN_END_CMD, "--dry-run", "--format", "json")
    assert code == 0 and {r["name"] for r in json.loads(out)["restored"]} == raised, err
    assert _weekly(world) == during and "mlgov:campaign:manga-monday:end" in _prod_tags(world)

    # When the end runs, every weekly action is back exactly (name, schedule, time zone, start, end, min, max)
    code, out, err = run_cli(*CAMPAIGN_END_CMD, "--format", "json")
    assert code == 0, err
    assert _weekly(world) == before
    assert not _campaign_tags(world)
    assert _campaign_actions(world) == {} and set(json.loads(out)["removed_actions"]) == {
        "mlgov-campaign-manga-monday-out",
        "mlgov-campaign-manga-monday-in",
    }
    [row] = json.loads(run_cli(*audit)[1])
    assert not any("campaign-end" in r for r in row["reasons"])


class _FixedDatetime(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


class _CheckClock(datetime):
    """The capacity check's clock (the Lambda's checker reads datetime.now), set by the test."""

    at = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return cls.at


def test_a_campaign_left_running_after_its_end_is_a_finding_that_names_campaign_end_and_resolves_after_it(
    capacity_world: CapacityWorld, campaign_clock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.capacity import check

    world = capacity_world
    monkeypatch.setattr(check, "datetime", _CheckClock)
    # Given the Manga Monday campaign (ends 2026-12-07 13:00 UTC) raised the weekly actions it overlaps
    assert run_cli(*CAMPAIGN)[0] == 0
    command = f"mlgov capacity campaign-end --endpoint {PROD} --name manga-monday --region {REGION}"

    # When the capacity check runs before the end, there is no finding
    monkeypatch.setattr(_CheckClock, "at", datetime(2026, 12, 7, 12, 59, tzinfo=UTC))
    [checked] = world.invoke(register_event(1, "during"))["results"]
    assert checked["verdict"] == "COMPLIANT" and world.published() == []

    # When it runs after the end and campaign-end has not: a MEDIUM finding with the exact command, verdict unchanged
    monkeypatch.setattr(_CheckClock, "at", datetime(2026, 12, 7, 14, 0, tzinfo=UTC))
    [checked] = world.invoke(register_event(1, "overdue"))["results"]
    assert checked["verdict"] == "COMPLIANT"
    [opened] = world.published()
    assert (opened["kind"], opened["severity"], opened["status"]) == ("CAPACITY_CAMPAIGN_END_OVERDUE", "MEDIUM", "OPEN")
    assert opened["evidence"]["fix_command"] == command and f"`{command}`" in opened["detail"]
    # And seen again, it publishes nothing new; the CLI audit shows it and still exits 0 (cost, not risk)
    world.invoke(register_event(1, "overdue-again"))
    assert world.published() == []
    audit = ("capacity", "audit", "--endpoint", PROD, "--region", REGION, "--format", "json", "--config", NO_SETTINGS)
    code, out, _ = run_cli(*audit)
    [row] = json.loads(out)
    assert code == 0 and row["verdict"] == "COMPLIANT" and row["findings"] == ["CAPACITY_CAMPAIGN_END_OVERDUE"]
    assert row["fix_command"] == command

    # When campaign-end runs, the next check resolves the finding
    _clock(monkeypatch, datetime(2026, 12, 7, 14, 0, tzinfo=UTC))
    code, _, err = run_cli(*CAMPAIGN_END_CMD)
    assert code == 0, err
    world.invoke(register_event(1, "ended"))
    [resolved] = world.published()
    assert (resolved["finding_id"], resolved["kind"], resolved["status"]) == (
        opened["finding_id"],
        "CAPACITY_CAMPAIGN_END_OVERDUE",
        "RESOLVED",
    )


def test_a_campaign_dry_run_shows_the_raises_and_changes_nothing(
    capacity_world: CapacityWorld, campaign_clock: None
) -> None:
    before = _weekly(capacity_world)
    code, out, _ = run_cli(*CAMPAIGN, "--dry-run", "--format", "json")
    plan = json.loads(out)
    assert code == 0 and plan["raised"] == [] and plan["scheduled"] == []
    shown = {r["name"]: (r["min_capacity_before"], r["min_capacity"]) for r in plan["raised_actions"]}
    assert shown == {"mlgov-min1-0000-daily": (1, 6), "mlgov-min2-0600-daily": (2, 6), "mlgov-min5-0800-MON": (5, 6)}
    assert _weekly(capacity_world) == before and not _campaign_tags(capacity_world)
    code, out, _ = run_cli(*CAMPAIGN, "--dry-run")
    assert "would raise weekly mlgov-min1-0000-daily: cron(0 0 * * ? *) UTC MinCapacity 1 -> 6" in out
    assert "dry run: nothing changed" in out


def test_a_throttled_second_raise_names_what_changed_and_the_cancel_undoes_it(
    capacity_world: CapacityWorld, campaign_clock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov.ops.capacity_campaign import ScheduleStore

    world = capacity_world
    before = _weekly(world)
    original, calls = ScheduleStore.put, []

    def put(self: Any, raw: dict[str, Any], low: int, high: int | None) -> None:
        calls.append(raw["ScheduledActionName"])
        if len(calls) == 2:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "PutScheduledAction"
            )
        original(self, raw, low, high)

    monkeypatch.setattr(ScheduleStore, "put", put)
    # When the second PutScheduledAction is throttled
    code, out, err = run_cli(*CAMPAIGN)
    # Then it fails, naming what it changed, the one command that undoes it all and each change's own undo
    assert code == 1 and out == ""
    assert "raising mlgov-min2-0600-daily to MinCapacity 6 failed: " in err and "ThrottlingException" in err, err
    assert (
        "changed before the failure: the campaign's record (endpoint tags), mlgov-campaign-manga-monday-out, "
        "mlgov-campaign-manga-monday-in, raised mlgov-min1-0000-daily;"
    ) in err
    assert f"mlgov capacity campaign-end --endpoint {PROD} --name manga-monday --cancel" in err
    assert (
        "aws application-autoscaling put-scheduled-action --service-namespace sagemaker --scheduled-action-name "
        f"mlgov-min1-0000-daily --resource-id {PROD_TARGET} --scalable-dimension {VARIANT_DIMENSION} "
        "--schedule 'cron(0 0 * * ? *)' --scalable-target-action MinCapacity=1 --timezone UTC"
    ) in err
    assert _weekly(world)["mlgov-min1-0000-daily"]["ScalableTargetAction"]["MinCapacity"] == 6
    # The one-time actions come before any raise: they are what campaign-end believes the record by
    assert set(_campaign_actions(world)) == {"mlgov-campaign-manga-monday-out", "mlgov-campaign-manga-monday-in"}
    # And the cancel it names puts the week back exactly
    monkeypatch.setattr(ScheduleStore, "put", original)
    code, out, err = run_cli(*CAMPAIGN_END_CMD, "--cancel", "--format", "json")
    assert code == 0, err
    assert [r["name"] for r in json.loads(out)["restored"]] == ["mlgov-min1-0000-daily"]
    assert _weekly(world) == before and not _campaign_tags(world) and _campaign_actions(world) == {}


def test_the_end_leaves_an_action_changed_since_and_never_goes_below_the_floor(
    capacity_world: CapacityWorld, campaign_clock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = capacity_world
    assert run_cli(*CAMPAIGN)[0] == 0
    # Given someone set the 06:00 action to 4 during the campaign, and a forged record claims 08:00 MON was 0
    world.aas.put_scheduled_action(
        ServiceNamespace="sagemaker", ScheduledActionName="mlgov-min2-0600-daily", ResourceId=PROD_TARGET,
        ScalableDimension=VARIANT_DIMENSION, Schedule="cron(0 6 * * ? *)", Timezone="UTC",
        ScalableTargetAction={"MinCapacity": 4},
    )  # fmt: skip
    arn = world.sm.describe_endpoint(EndpointName=PROD)["EndpointArn"]
    [(key, value)] = [(k, v) for k, v in _campaign_tags(world).items() if v.endswith(" mlgov-min5-0800-MON")]
    assert value == "5 - 6 6 AllTraffic mlgov-min5-0800-MON"  # was 5 and no MaxCapacity; the campaign set 6/6
    world.sm.add_tags(ResourceArn=arn, Tags=[{"Key": key, "Value": "0" + value[1:]}])
    _clock(monkeypatch, datetime(2026, 12, 7, 14, 0, tzinfo=UTC))
    code, out, err = run_cli(*CAMPAIGN_END_CMD, "--format", "json")
    body = json.loads(out)
    assert code == 0, err
    # Then the changed one is left as it is and said so; the forged one stops at the floor (1), never 0
    assert _weekly(world)["mlgov-min2-0600-daily"]["ScalableTargetAction"] == {"MinCapacity": 4}
    assert "mlgov-min2-0600-daily not put back: it holds MinCapacity 4" in err
    assert _weekly(world)["mlgov-min5-0800-MON"]["ScalableTargetAction"] == {"MinCapacity": 1}
    assert {r["name"]: r.get("clamped_to_floor") for r in body["restored"]}["mlgov-min5-0800-MON"] is True
    assert _weekly(world)["mlgov-min1-0000-daily"]["ScalableTargetAction"] == {"MinCapacity": 1}
