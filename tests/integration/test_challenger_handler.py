"""The challenger Lambda's steps under moto with the emulator (UpdateEndpoint, partial UpdateModelPackage):
the real handler, adapters and CloudWatch reads, called in the order the state machine calls them, with
`now` as the state machine passes it ($$.State.EnteredTime), so 30 minutes of traffic take no time."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlgov.challenger_estate import (
    VariantTraffic,
    put_retention,
    put_traffic,
    register_candidate,
    registration_event,
)
from mlgov.emulator import install
from mlgov.estate import GROUP, create_governance_resources, drain_findings, recording_state_machines, seed_estate
from mlgov.ops.sent_settings import challenger_environment as environment
from mlgov.sandbox import FakeContext
from mlgov.settings import Challenger, Thresholds
from tests.integration.conftest import pending_package
from tests.integration.test_coverage_and_retraining import fresh_handler

REGION = "us-east-1"
ACCOUNT = "123456789012"
ENDPOINT = "manga-recommender-prod"
T0 = datetime(2026, 11, 20, 9, 0, 12, tzinfo=UTC)  # when the state machine started the experiment


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


@dataclass
class Lab:
    sm: Any
    cw: Any
    sqs: Any
    sfn: Any
    handler: ModuleType
    resources: dict[str, str]
    machine_arn: str
    retraining_arn: str

    def step(self, name: str, state: dict[str, Any], now: str) -> dict[str, Any]:
        # As the state machine passes it: the execution from the context object ($$.Execution.Id).
        event = {"step": name, "state": state, "now": now, "execution": state["execution"]}
        result: dict[str, Any] = self.handler.step(event, FakeContext())
        return result

    def register(self, **kw: Any) -> str:
        """A candidate registered by a SUCCEEDED run of the retraining state machine, as the pipeline does."""
        return register_candidate(self.sm, REGION, retraining=(self.sfn, self.retraining_arn), **kw)

    def published(self) -> list[dict[str, Any]]:
        return drain_findings(self.sqs, self.resources["FINDINGS_QUEUE_URL"])

    def package(self, arn: str) -> dict[str, Any]:
        return dict(self.sm.describe_model_package(ModelPackageName=arn))

    def variants(self) -> dict[str, Any]:
        endpoint = self.sm.describe_endpoint(EndpointName=ENDPOINT)
        config = self.sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        return {v["VariantName"]: v for v in config["ProductionVariants"]}

    def variants_package(self, variant: str) -> str:
        model = self.sm.describe_model(ModelName=self.variants()[variant]["ModelName"])
        return str(model["PrimaryContainer"]["ModelPackageName"])

    def start(self, arn: str, **request: Any) -> dict[str, Any]:
        """start -> endpoint_status (InService at once in the emulator) -> the state the watch loop gets."""
        from mlgov_runtime.challenger.handler import watched_endpoint
        from mlgov_runtime.challenger.settings import settings as challenger_settings

        # What start_experiment records: the endpoint the run will change (the lineage audit believes that one only).
        endpoint = watched_endpoint(challenger_settings.get().config.endpoints, arn)
        run_input = {"model_package_arn": arn, **({"endpoint_name": endpoint} if endpoint else {}), **request}
        run_input["source"] = "test"
        execution = self.sfn.start_execution(stateMachineArn=self.machine_arn, input=json.dumps(run_input))
        state: dict[str, Any] = {"execution": execution["executionArn"], "input": run_input}
        state["challenger"] = self.step("start", state, at(0))
        if state["challenger"]["refused"]:
            return state
        state["endpoint_status"] = self.step("endpoint_status", state, at(1))
        assert state["endpoint_status"]["status"] == "InService"
        state["deployed_at"] = state["endpoint_status"]["at"]
        return state

    def watch_until_verdict(self, state: dict[str, Any], every: int = 5, limit: int = 400) -> dict[str, Any]:
        minute = 1 + every
        while minute <= limit:
            state["watch"] = self.step("watch", state, at(minute))
            if state["watch"]["decision"] != "CONTINUE":
                return state
            minute += every
        raise AssertionError("no verdict")


PIPELINE_ROLES = ["arn:*:iam::*:role/mlgov-protected/MlGovDeploymentPipeline*"]


def settings_env(approvers: dict[str, list[str]] | None = None, **challenger: Any) -> str:
    """The challenger function's MLGOV_CHALLENGER_SETTINGS with these `challenger` settings and approvers."""
    sent = environment(Challenger(**challenger), Thresholds(), PIPELINE_ROLES, approvers)
    return sent["MLGOV_CHALLENGER_SETTINGS"]


@contextlib.contextmanager
def lab_context(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """The seeded estate, the findings channel and the challenger function's environment, under moto."""
    install()
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        c = {s: boto3.client(s, region_name=REGION) for s in ("sagemaker", "cloudwatch", "sqs", "sns", "dynamodb")}
        seed_estate(c["sagemaker"], ACCOUNT, REGION)
        resources = create_governance_resources(c["dynamodb"], c["sns"], c["sqs"])
        iam, sfn = boto3.client("iam", region_name=REGION), boto3.client("stepfunctions", region_name=REGION)
        machine, retraining = recording_state_machines(iam, sfn, "mlgov-challenger", "mlgov-retraining")
        env = {
            **{k: v for k, v in resources.items() if k != "FINDINGS_QUEUE_URL"},
            "MLGOV_CHALLENGER_SETTINGS": settings_env(),
            "CHALLENGER_STATE_MACHINE_ARN": machine,
            "CHALLENGER_RETRAINING_STATE_MACHINE_ARN": retraining,
            "POWERTOOLS_METRICS_NAMESPACE": "MLGovernance",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        from mlgov_runtime.adapters import aws

        aws.context_for.cache_clear()
        handler = fresh_handler("mlgov_runtime.challenger.handler")
        yield Lab(c["sagemaker"], c["cloudwatch"], c["sqs"], sfn, handler, resources, machine, retraining)
        aws.context_for.cache_clear()


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    with lab_context(monkeypatch) as value:
        yield value


def traffic(lab: Lab, state: dict[str, Any], minutes: int, per_minute: float, challenger_ctr: float, **kw: Any) -> None:
    ch = state["challenger"]
    put_traffic(
        lab.cw,
        ENDPOINT,
        {
            ch["production_variant"]: VariantTraffic(0.9),
            ch["challenger_variant"]: VariantTraffic(0.1, ctr=challenger_ctr, **kw),
        },
        T0 + timedelta(minutes=2),
        minutes,
        per_minute,
        seed=7,
    )


def test_a_worse_challenger_is_rejected_in_the_registry_and_loses_its_traffic(lab: Lab) -> None:
    # Given an eligible candidate deployed on the production endpoint at 10%
    arn = lab.register()
    state = lab.start(arn)
    ch = state["challenger"]
    assert set(lab.variants()) == {"AllTraffic", ch["challenger_variant"]}
    assert lab.variants()[ch["challenger_variant"]]["InitialVariantWeight"] == pytest.approx(0.1)
    # When its CTR is 30% lower at 3,500 impressions/min
    traffic(lab, state, 60, 3500, 0.056)
    state = lab.watch_until_verdict(state)
    # Then the gate rejects it within minutes
    assert state["watch"]["decision"] == "REJECT"
    assert state["watch"]["elapsed_minutes"] <= 15
    state["rejected"] = lab.step("reject", state, at(30))
    # And the registry says Rejected with both CTRs, intervals, impressions, duration and the test
    package = lab.package(arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    text = package["ApprovalDescription"]
    assert len(text) <= 1024
    for part in ("challenger CTR", "production CTR", "impressions", "min on manga-recommender-prod", "CTR test"):
        assert part in text, part
    # And the metadata survived the rejection
    assert package["CustomerMetadataProperties"]["catalog_snapshot_date"] == "2026-11-20"
    # And the challenger's weight went to 0 at once
    live = {v["VariantName"]: v for v in lab.sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]}
    assert live[ch["challenger_variant"]]["CurrentWeight"] == 0
    # And restoring leaves production alone at full weight
    state["endpoint_status"] = lab.step("endpoint_status", state, at(31))
    lab.step("restore", state, at(32))
    assert list(lab.variants()) == ["AllTraffic"]
    assert lab.variants()["AllTraffic"]["ModelName"] == "manga-rec-v2"
    # And one HIGH CHALLENGER_REJECTED finding links the dashboard
    [finding] = lab.published()
    assert (finding["kind"], finding["severity"]) == ("CHALLENGER_REJECTED", "HIGH")
    assert "dashboards/dashboard/mlgov-challenger-manga-recommender-prod" in finding["evidence"]["dashboard_url"]
    assert finding["evidence"]["decided_by"].startswith("CTR test")


def test_a_better_challenger_is_promoted_and_reviewed(lab: Lab) -> None:
    arn = lab.register()
    state = lab.start(arn)
    ch = state["challenger"]
    traffic(lab, state, 120, 3500, 0.088)
    state = lab.watch_until_verdict(state)
    assert state["watch"]["decision"] == "PROMOTE"
    assert state["watch"]["elapsed_minutes"] >= 30
    assert lab.step("check_promotion", state, at(60)) == {"approvable": True, "status": "PendingManualApproval"}
    # ApprovePackage is the state machine's own SDK call (its approver role); here the same call.
    lab.sm.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription=state["watch"]["approval_description"]
    )
    state["promotion"] = lab.step("promote", state, at(61))
    # The production variant (name, instances) now serves the challenger's model alone
    assert list(lab.variants()) == ["AllTraffic"]
    assert lab.variants()["AllTraffic"]["ModelName"] == ch["challenger_model"]
    assert lab.variants()["AllTraffic"]["InitialVariantWeight"] == 1.0
    # And the endpoint's ModelPackageName claim follows
    tags = lab.sm.list_tags(ResourceArn=ch["endpoint_arn"])["Tags"]
    assert {"Key": "ModelPackageName", "Value": arn} in tags
    # Seven days later: retention 0.40 before the challenger, 0.37 after (7.5% lower)
    put_retention(lab.cw, ENDPOINT, T0 - timedelta(days=7), 7, 0.40)
    put_retention(lab.cw, ENDPOINT, T0 + timedelta(hours=2), 7, 0.37)
    review = lab.step("review", state, at(61 + 7 * 24 * 60))
    assert review["production_7day_retention_delta"] == pytest.approx(-0.075)
    metadata = lab.package(arn)["CustomerMetadataProperties"]
    assert metadata["production_7day_retention_delta"] == "-0.0750"
    assert metadata["shadow_ctr_eligible"] == "true"
    [finding] = lab.published()
    assert finding["kind"] == "CHALLENGER_RETENTION_REGRESSION"
    assert f"mlgov rollback --endpoint {ENDPOINT} --group {GROUP}" in finding["detail"]


def test_at_the_specs_traffic_the_window_ends_without_a_verdict(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the spec's 30-minute window and ~70 recommendation impressions a minute
    monkeypatch.setenv("MLGOV_CHALLENGER_SETTINGS", settings_env(max_minutes=30, min_minutes=30))
    lab.handler = fresh_handler("mlgov_runtime.challenger.handler")
    arn = lab.register()
    state = lab.start(arn)
    traffic(lab, state, 40, 70, 0.08)
    state = lab.watch_until_verdict(state)
    assert state["watch"]["decision"] == "INSUFFICIENT_DATA"
    ended = lab.step("end", state, at(40))
    # Then nothing is promoted or rejected, the challenger loses its traffic, and the finding says how much more
    assert lab.package(arn)["ModelApprovalStatus"] == "PendingManualApproval"
    live = {v["VariantName"]: v for v in lab.sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]}
    assert live[state["challenger"]["challenger_variant"]]["CurrentWeight"] == 0
    [finding] = lab.published()
    assert finding["finding_id"] == ended["finding_id"]
    assert (finding["kind"], finding["severity"]) == ("CHALLENGER_INSUFFICIENT_DATA", "MEDIUM")
    needed = finding["evidence"]["needed"]["additional_impressions"]
    assert needed is None or needed > 0
    assert "more impressions" in finding["detail"] or "would settle it" in finding["detail"]


def test_a_split_that_does_not_follow_the_weights_stops_without_judging_the_model(lab: Lab) -> None:
    arn = lab.register()
    state = lab.start(arn)
    ch = state["challenger"]
    # The recommender tags a third of impressions with the challenger's VariantName while weights say 10%
    put_traffic(
        lab.cw,
        ENDPOINT,
        {ch["production_variant"]: VariantTraffic(0.67), ch["challenger_variant"]: VariantTraffic(0.33)},
        T0 + timedelta(minutes=2),
        30,
        3500,
    )
    state = lab.watch_until_verdict(state)
    assert state["watch"]["decision"] == "STOP_INVALID"
    lab.step("end", state, at(20))
    assert lab.package(arn)["ModelApprovalStatus"] == "PendingManualApproval"
    [finding] = lab.published()
    assert finding["kind"] == "CHALLENGER_INVALID"
    assert "fix the traffic split, not the model" in finding["detail"]


@pytest.mark.parametrize(
    ("metadata", "why"),
    [
        ({"shadow_ctr_eligible": "false"}, "did not pass the offline gate"),
        ({}, "no shadow_ctr_eligible metadata"),
    ],
)
def test_a_package_the_offline_gate_did_not_pass_never_reaches_the_endpoint(
    lab: Lab, metadata: dict[str, str], why: str
) -> None:
    arn = pending_package(
        lab.sm,
        GROUP,
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/tgi:1",
        {"catalog_snapshot_date": "2026-11-20", **metadata},
    )
    state = lab.start(arn)
    assert state["challenger"]["refused"] is True
    assert why in state["challenger"]["reason"]
    assert list(lab.variants()) == ["AllTraffic"]
    [finding] = lab.published()
    assert (finding["kind"], finding["severity"]) == ("CHALLENGER_START_REFUSED", "MEDIUM")


def test_a_rejected_package_never_starts_again_and_is_never_approved(lab: Lab) -> None:
    arn = lab.register()
    lab.sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected", ApprovalDescription="CTR -15%")
    assert "is Rejected" in lab.start(arn)["challenger"]["reason"]
    # And a package rejected while its experiment ran is not approvable when the gate would promote it
    other = lab.register(snapshot="2026-11-21")
    state = lab.start(other)
    lab.sm.update_model_package(ModelPackageArn=other, ModelApprovalStatus="Rejected", ApprovalDescription="by hand")
    assert lab.step("check_promotion", state, at(40)) == {"approvable": False, "status": "Rejected"}


def test_an_endpoint_changed_under_the_experiment_ends_it_without_touching_anything(lab: Lab) -> None:
    arn = lab.register()
    state = lab.start(arn)
    lab.sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName=state["challenger"]["previous_config"])
    state["watch"] = lab.step("watch", state, at(10))
    assert state["watch"]["decision"] == "ABANDONED"
    lab.step("end", state, at(10))
    [finding] = lab.published()
    assert finding["kind"] == "CHALLENGER_FAILED"
    assert "changed under the experiment" in finding["detail"]


def test_a_failed_step_takes_the_challengers_traffic_away_and_says_how_to_restore(lab: Lab) -> None:
    arn = lab.register()
    state = lab.start(arn)
    state.update(failed_state="Watch", error={"Error": "States.Timeout", "Cause": "Lambda timed out"})
    result = lab.step("report_failure", state, at(12))
    assert "weight was set to 0" in result["traffic"]
    [finding] = lab.published()
    assert finding["kind"] == "CHALLENGER_FAILED"
    assert f"--endpoint-config-name {state['challenger']['previous_config']}" in finding["detail"]


def test_the_registered_event_starts_one_experiment_however_often_it_is_delivered(lab: Lab) -> None:
    arn = lab.register()
    event = registration_event(arn, "2026-11-20", "7bf73129-1428-4cd3-a780-95db273d1602", ACCOUNT, "arn:exec")
    first = lab.handler.handler(event, FakeContext())
    again = lab.handler.handler(event, FakeContext())
    assert first["status"] == "started"
    assert again == first  # the idempotency record answers
    executions = lab.sfn.list_executions(stateMachineArn=lab.machine_arn)["executions"]
    assert len(executions) == 1
    run_input = json.loads(lab.sfn.describe_execution(executionArn=executions[0]["executionArn"])["input"])
    assert run_input["model_package_arn"] == arn and run_input["source"] == "event"
    # The endpoint the run will change is in its input: what the lineage audit's running-experiment check believes
    assert run_input["endpoint_name"] == "manga-recommender-prod"


def test_an_event_that_is_not_a_registration_is_refused_without_starting_anything(lab: Lab) -> None:
    result = lab.handler.handler({"id": "x", "source": "mlgov.retraining", "detail-type": "Other"}, FakeContext())
    assert result["status"] == "rejected"
    assert lab.sfn.list_executions(stateMachineArn=lab.machine_arn)["executions"] == []


# -- provenance (issue 20 item 1) and the catalog snapshot (issue 27 item 2)


def refusal(lab: Lab, arn: str) -> tuple[dict[str, Any], dict[str, Any]]:
    state = lab.start(arn)
    assert state["challenger"]["refused"] is True
    assert list(lab.variants()) == ["AllTraffic"]  # nothing deployed
    [finding] = lab.published()
    assert finding["kind"] == "CHALLENGER_START_REFUSED"
    return state["challenger"], finding


def test_a_forged_registration_event_for_a_package_no_pipeline_run_registered_deploys_nothing(lab: Lab) -> None:
    # Given a package anyone may register (eligible metadata, PendingManualApproval) and an event naming it
    arn = register_candidate(lab.sm, REGION)
    event = registration_event(arn, "2026-11-20", "forged-1", ACCOUNT)
    assert lab.handler.handler(event, FakeContext())["status"] == "started"
    # When the experiment's start step runs, Then it refuses: no retraining run recorded it, no pipeline role made it
    ch, finding = refusal(lab, arn)
    assert ch["refusal"] == "provenance"
    assert "not by a pipeline role" in ch["reason"]
    assert finding["severity"] == "HIGH" and finding["evidence"]["refusal"] == "provenance"
    assert "retraining_execution_arn" in finding["detail"] and "describe-model-package" in finding["detail"]


def test_metadata_naming_a_real_run_that_registered_another_package_is_refused(lab: Lab) -> None:
    genuine = lab.register()
    execution = lab.package(genuine)["CustomerMetadataProperties"]["retraining_execution_arn"]
    forged = pending_package(
        lab.sm,
        GROUP,
        "111111111111.dkr.ecr.us-east-1.amazonaws.com/evil:1",
        {**lab.package(genuine)["CustomerMetadataProperties"], "retraining_execution_arn": execution},
    )
    ch, _ = refusal(lab, forged)
    assert f"registered {genuine}, not {forged}" in ch["reason"]


def test_a_run_that_has_not_succeeded_vouches_for_nothing(lab: Lab) -> None:
    running = lab.sfn.start_execution(stateMachineArn=lab.retraining_arn, input="{}")["executionArn"]
    arn = register_candidate(lab.sm, REGION)
    lab.sm.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"retraining_execution_arn": running})
    ch, _ = refusal(lab, arn)
    assert "is RUNNING, not SUCCEEDED" in ch["reason"]


def _as_role(lab: Lab, name: str, path: str) -> Any:
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    creds = boto3.client("sts", region_name=REGION).assume_role(RoleArn=role, RoleSessionName="pipeline")
    c = creds["Credentials"]
    return boto3.client(
        "sagemaker",
        region_name=REGION,
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
    )


def test_a_package_an_allow_listed_pipeline_role_created_may_start(lab: Lab) -> None:
    arn = register_candidate(_as_role(lab, "MlGovDeploymentPipelineCi", "/mlgov-protected/"), REGION)
    assert lab.package(arn)["CreatedBy"]["IamIdentity"]["Arn"].endswith(
        ":assumed-role/MlGovDeploymentPipelineCi/pipeline"
    )
    assert lab.start(arn)["challenger"]["refused"] is False


def test_the_same_role_name_off_the_protected_path_is_not_the_pipeline(lab: Lab) -> None:
    arn = register_candidate(_as_role(lab, "MlGovDeploymentPipelineCi", "/"), REGION)
    ch, _ = refusal(lab, arn)
    assert "not an allow-listed pipeline role" in ch["reason"]


def test_an_event_from_another_account_starts_nothing_and_is_reported(lab: Lab) -> None:
    arn = lab.register()
    event = {
        "id": "from-elsewhere",
        "account": "210987654321",
        "source": "mlgov.retraining",
        "detail-type": "Model Package Registered",
        "detail": {"model_package_arn": arn},
    }
    result = lab.handler.handler(event, FakeContext())
    assert result["status"] == "refused" and "210987654321" in result["reason"]
    assert lab.sfn.list_executions(stateMachineArn=lab.machine_arn)["executions"] == []
    [finding] = lab.published()
    assert (finding["kind"], finding["severity"]) == ("CHALLENGER_START_REFUSED", "HIGH")
    assert finding["evidence"]["refusal"] == "event_account"


def test_a_candidate_on_an_older_catalog_snapshot_than_production_is_refused(lab: Lab) -> None:
    # Production (v2) was trained on the 2026-10-28 snapshot
    arn = lab.register(snapshot="2026-09-30")
    ch, finding = refusal(lab, arn)
    assert ch["refusal"] == "older_snapshot"
    assert "2026-09-30, older than production's 2026-10-28" in ch["reason"]
    assert "allow_older_catalog_snapshot" in finding["detail"]


def test_an_older_snapshot_starts_when_the_setting_allows_it(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGOV_CHALLENGER_SETTINGS", settings_env(allow_older_catalog_snapshot=True))
    lab.handler = fresh_handler("mlgov_runtime.challenger.handler")
    assert lab.start(lab.register(snapshot="2026-09-30"))["challenger"]["refused"] is False


# -- steps act only on their own execution's experiment (issue 20 item 2)


def test_a_step_invoked_with_a_made_up_execution_does_nothing(lab: Lab) -> None:
    live = lab.variants_package("AllTraffic")
    forged = {
        "execution": "arn:aws:states:us-east-1:123456789012:execution:mlgov-challenger:made-up",
        "challenger": {
            "model_package_arn": live,
            "endpoint_name": ENDPOINT,
            "production_variant": "AllTraffic",
            "challenger_variant": "AllTraffic",
            "traffic_fraction": 0.1,
        },
        "watch": {"result": {}},
    }
    with pytest.raises(Exception, match="does not exist; a step runs only inside its own execution"):
        lab.step("reject", forged, at(1))
    assert lab.package(live)["ModelApprovalStatus"] == "Approved"
    assert lab.published() == []


def test_a_step_naming_another_package_than_its_execution_was_started_for_does_nothing(lab: Lab) -> None:
    # Given a real experiment, running
    state = lab.start(lab.register())
    live = lab.variants_package("AllTraffic")
    # When someone invokes reject with that execution but the live package in the state
    forged = {**state, "challenger": {**state["challenger"], "model_package_arn": live}}
    forged["watch"] = {"result": {}}
    with pytest.raises(Exception, match="does not match execution"):
        lab.step("reject", forged, at(5))
    # Then production's package is untouched, and so is the experiment
    assert lab.package(live)["ModelApprovalStatus"] == "Approved"
    assert lab.variants()[state["challenger"]["challenger_variant"]]["InitialVariantWeight"] == pytest.approx(0.1)


def test_a_step_of_an_execution_that_is_not_running_does_nothing(lab: Lab) -> None:
    state = lab.start(lab.register())
    lab.sfn.stop_execution(executionArn=state["execution"])
    with pytest.raises(Exception, match="is ABORTED, not RUNNING"):
        lab.step("restore", state, at(5))
    assert len(lab.variants()) == 2


def test_an_execution_of_another_state_machine_is_not_this_gates(lab: Lab) -> None:
    arn = lab.register()
    other = lab.sfn.start_execution(stateMachineArn=lab.retraining_arn, input=json.dumps({"model_package_arn": arn}))[
        "executionArn"
    ]
    with pytest.raises(Exception, match=r"belongs to .*mlgov-retraining"):
        lab.step("start", {"execution": other, "input": {"model_package_arn": arn}}, at(0))
    assert list(lab.variants()) == ["AllTraffic"]


def test_promote_with_a_model_that_does_not_serve_the_package_is_refused(lab: Lab) -> None:
    arn = lab.register()
    state = lab.start(arn)
    lab.sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="gate")
    forged = {**state, "challenger": {**state["challenger"], "challenger_model": "manga-rec-raw"}}
    with pytest.raises(Exception, match="does not serve"):
        lab.step("promote", forged, at(40))
    assert len(lab.variants()) == 2


class _Dropping:
    """CloudWatch as the gate sees it when one variant's metric is published under another dimension upstream:
    those datapoints never arrive."""

    def __init__(self, cw: Any, variant: str, metric: str) -> None:
        self._cw, self._variant, self._metric = cw, variant, metric

    def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> None:
        kept = [
            d
            for d in MetricData
            if not (
                d["MetricName"] == self._metric and {"Name": "VariantName", "Value": self._variant} in d["Dimensions"]
            )
        ]
        if kept:
            self._cw.put_metric_data(Namespace=Namespace, MetricData=kept)


def _traffic_from(lab: Lab, state: dict[str, Any], first: int, minutes: int, ctr: float, drop: str | None) -> None:
    ch = state["challenger"]
    cw = _Dropping(lab.cw, ch["challenger_variant"], drop) if drop else lab.cw
    put_traffic(
        cw,
        ENDPOINT,
        {ch["production_variant"]: VariantTraffic(0.9), ch["challenger_variant"]: VariantTraffic(0.1, ctr=ctr)},
        T0 + timedelta(minutes=2 + first),
        minutes,
        3500,
        seed=first,
    )


def test_clicks_that_never_arrive_pause_the_experiment_and_it_judges_again_once_they_do(lab: Lab) -> None:
    # Given a challenger 30% worse whose clicks never reach CloudWatch (a wrong VariantName upstream)
    arn = lab.register()
    state = lab.start(arn)
    _traffic_from(lab, state, 0, 30, 0.056, drop="RecommendationClicks")
    # When the gate looks for 30 minutes
    for minute in range(6, 32, 5):
        state["watch"] = lab.step("watch", state, at(minute))
        # Then it never reads that as 0 clicks: no verdict at any look, PAUSED once the metric is overdue
        assert state["watch"]["decision"] in ("CONTINUE", "PAUSED")
    watch = state["watch"]
    assert watch["decision"] == "PAUSED" and watch["paused"] is True
    assert watch["result"]["statistics"]["data_problem"]["variant"] == "challenger"
    assert watch["result"]["statistics"]["data_problem"]["metric"] == "clicks"
    # And the package is untouched and keeps its traffic; the data problem is its own finding, sent once
    assert lab.package(arn)["ModelApprovalStatus"] == "PendingManualApproval"
    live = {v["VariantName"]: v for v in lab.sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]}
    assert live[state["challenger"]["challenger_variant"]]["CurrentWeight"] == pytest.approx(0.1)
    [finding] = lab.published()
    assert (finding["kind"], finding["status"], finding["evidence"]["outcome"]) == (
        "CHALLENGER_DATA_MISSING",
        "OPEN",
        "paused",
    )
    assert "aws cloudwatch list-metrics" in finding["detail"] and "PAUSED" in finding["detail"]
    # When the upstream fix lands and the clicks arrive from minute 30 on
    _traffic_from(lab, state, 30, 60, 0.056, drop=None)
    minute = 36
    while state["watch"]["decision"] in ("CONTINUE", "PAUSED") and minute < 100:
        state["watch"] = lab.step("watch", state, at(minute))
        minute += 5
    # Then the run goes on and judges the data that arrived: the worse challenger is rejected on real clicks
    assert state["watch"]["decision"] == "REJECT"
    assert "data_problem" not in state["watch"]["result"]["statistics"]
    assert state["watch"]["result"]["statistics"]["missing_minutes"] >= 28
    # And the data finding was resolved when the data came back
    resolved = [m for m in lab.published() if m["kind"] == "CHALLENGER_DATA_MISSING"]
    assert [m["status"] for m in resolved] == ["RESOLVED"]
    assert resolved[0]["finding_id"] == finding["finding_id"]


def test_a_metric_missing_until_the_window_ends_is_inconclusive_never_a_rejection(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLGOV_CHALLENGER_SETTINGS", settings_env(max_minutes=30, min_minutes=30))
    lab.handler = fresh_handler("mlgov_runtime.challenger.handler")
    arn = lab.register()
    state = lab.start(arn)
    # Given the challenger's clicks never arrive during the whole 30-minute window
    _traffic_from(lab, state, 0, 40, 0.056, drop="RecommendationClicks")
    minute = 6
    while (state.setdefault("watch", {"decision": "CONTINUE"}))["decision"] in ("CONTINUE", "PAUSED"):
        state["watch"] = lab.step("watch", state, at(minute))
        minute += 5
    # Then the window ends inconclusive with the data problem, never REJECT
    assert state["watch"]["decision"] == "INSUFFICIENT_DATA"
    assert state["watch"]["result"]["statistics"]["data_problem"]["metric"] == "clicks"
    ended = lab.step("end", state, at(minute))
    assert lab.package(arn)["ModelApprovalStatus"] == "PendingManualApproval"
    last = lab.published()[-1]
    assert last["finding_id"] == ended["finding_id"]
    assert (last["kind"], last["evidence"]["outcome"]) == ("CHALLENGER_DATA_MISSING", "inconclusive")
    assert "Nothing was rejected or promoted" in last["detail"] and "mlgov challenger start --package" in last["detail"]
