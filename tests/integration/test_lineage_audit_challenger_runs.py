"""The lineage audit's challenger verifier under moto: which RUNNING challenger executions vouch for a
challenger-shaped variant, and a Step Functions that cannot be read is never an answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from mlgov.estate import recording_state_machines
from mlgov_runtime.adapters.challenger_runs import StepFunctionsChallengerRuns
from mlgov_runtime.lineage_audit.logic import ReadFailure
from mlgov_runtime.lineage_audit.settings import CHALLENGER_MACHINE_ARN
from mlgov_runtime.lineage_audit.settings import settings as audit_settings
from tests.integration.conftest import Sandbox

REGION, ACCOUNT = "us-east-1", "123456789012"
PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/manga-recommender/8"
ENDPOINT = "manga-recommender-prod"


@pytest.fixture
def sfn() -> Iterator[tuple[Any, str]]:
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        client = boto3.client("stepfunctions", region_name=REGION)
        [machine] = recording_state_machines(boto3.client("iam", region_name=REGION), client, "mlgov-challenger")
        yield client, machine


def _start(sfn: Any, machine: str, **run_input: Any) -> str:
    return str(sfn.start_execution(stateMachineArn=machine, input=json.dumps(run_input))["executionArn"])


def test_a_running_execution_started_for_the_package_vouches_for_its_challenger_variant(
    sfn: tuple[Any, str],
) -> None:
    client, machine = sfn
    _start(client, machine, model_package_arn=PACKAGE, endpoint_name=ENDPOINT, source="test")
    runs = StepFunctionsChallengerRuns(client, machine)
    assert runs.running(ENDPOINT, PACKAGE, "challenger-v8")
    # The challenger names its variant after the package's version: another variant is not the run's.
    assert not runs.running(ENDPOINT, PACKAGE, "challenger-v9")
    assert not runs.running(ENDPOINT, PACKAGE.replace("/8", "/7"), "challenger-v7")


def test_an_execution_that_names_its_endpoint_vouches_for_that_endpoint_only(sfn: tuple[Any, str]) -> None:
    client, machine = sfn
    _start(client, machine, model_package_arn=PACKAGE, endpoint_name="manga-recommender-staging")
    runs = StepFunctionsChallengerRuns(client, machine)
    assert runs.running("manga-recommender-staging", PACKAGE, "challenger-v8")
    assert not runs.running(ENDPOINT, PACKAGE, "challenger-v8")


def test_a_stopped_execution_or_none_at_all_vouches_for_nothing(sfn: tuple[Any, str]) -> None:
    client, machine = sfn
    assert not StepFunctionsChallengerRuns(client, machine).running(ENDPOINT, PACKAGE, "challenger-v8")
    execution = _start(client, machine, model_package_arn=PACKAGE, endpoint_name=ENDPOINT)
    client.stop_execution(executionArn=execution, cause="stopped by an operator")
    assert client.describe_execution(executionArn=execution)["status"] == "ABORTED"
    assert not StepFunctionsChallengerRuns(client, machine).running(ENDPOINT, PACKAGE, "challenger-v8")


def test_another_machines_execution_vouches_for_nothing(sfn: tuple[Any, str]) -> None:
    client, machine = sfn
    [other] = recording_state_machines(
        boto3.client("iam", region_name=REGION), client, "look-alike", role_name="look-alike-role"
    )
    _start(client, other, model_package_arn=PACKAGE, endpoint_name=ENDPOINT)
    assert not StepFunctionsChallengerRuns(client, machine).running(ENDPOINT, PACKAGE, "challenger-v8")


def test_no_challenger_state_machine_means_no_running_experiment(sfn: tuple[Any, str]) -> None:
    client, machine = sfn
    missing = machine.replace("mlgov-challenger", "mlgov-challenger-gone")
    assert not StepFunctionsChallengerRuns(client, missing).running(ENDPOINT, PACKAGE, "challenger-v8")


def test_the_running_executions_are_read_once_per_audit_run(sfn: tuple[Any, str]) -> None:
    client, machine = sfn
    _start(client, machine, model_package_arn=PACKAGE, endpoint_name=ENDPOINT)
    runs = StepFunctionsChallengerRuns(client, machine)
    calls: list[str] = []
    client.meta.events.register("before-call.sfn.*", lambda model, **_: calls.append(model.name))
    for _ in range(3):
        assert runs.running(ENDPOINT, PACKAGE, "challenger-v8")
    assert calls == ["ListExecutions", "DescribeExecution"]


def test_an_execution_that_ended_between_list_and_describe_vouches_for_nothing(sfn: tuple[Any, str]) -> None:
    # Stubber: moto cannot time an execution out; the machine's 7.5-day timeout ends it as TIMED_OUT.
    client, machine = sfn
    execution = f"{machine.replace(':stateMachine:', ':execution:')}:registered-8"
    with Stubber(client) as stub:
        listed = {"executionArn": execution, "stateMachineArn": machine, "name": "registered-8"}
        listed |= {"status": "RUNNING", "startDate": "2026-11-20T09:00:00Z"}
        stub.add_response("list_executions", {"executions": [listed]})
        described = {**listed, "status": "TIMED_OUT", "input": json.dumps({"model_package_arn": PACKAGE})}
        stub.add_response("describe_execution", described)
        assert not StepFunctionsChallengerRuns(client, machine).running(ENDPOINT, PACKAGE, "challenger-v8")


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("list_executions", "AccessDeniedException"),
        ("list_executions", "ThrottlingException"),
        ("describe_execution", "AccessDeniedException"),
    ],
)
def test_a_step_functions_that_cannot_be_read_is_a_read_failure_never_an_answer(
    sfn: tuple[Any, str], operation: str, code: str
) -> None:
    client, machine = sfn
    execution = f"{machine.replace(':stateMachine:', ':execution:')}:registered-8"
    listed = {"executionArn": execution, "stateMachineArn": machine, "name": "registered-8", "status": "RUNNING"}
    listed["startDate"] = "2026-11-20T09:00:00Z"
    with Stubber(client) as stub:
        if operation == "describe_execution":
            stub.add_response("list_executions", {"executions": [listed]})
        stub.add_client_error(operation, service_error_code=code, service_message="denied or throttled")
        with pytest.raises(ReadFailure, match=code):
            StepFunctionsChallengerRuns(client, machine).running(ENDPOINT, PACKAGE, "challenger-v8")


def test_the_audit_function_verifies_runs_only_where_the_challenger_runs(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production wiring: the machine from CHALLENGER_STATE_MACHINE_ARN (stacks/lineage_audit.py sets it), a
    verifier for an endpoint of this account and the machine's region, none elsewhere (no challenger runs there)."""
    from mlgov_runtime.core import env
    from mlgov_runtime.lineage_audit.events import AuditRequest

    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:mlgov-challenger"
    monkeypatch.setenv(CHALLENGER_MACHINE_ARN, machine)
    env.reset_all()
    settings = audit_settings.get()
    assert settings.challenger_state_machine_arn == machine

    def request(account: str, region: str) -> AuditRequest:
        return AuditRequest("evt-1", "cloudtrail", account, region, ENDPOINT, "UpdateEndpoint")

    here = sandbox.handler._challenger_runs(request(ACCOUNT, REGION), ACCOUNT, settings)
    assert isinstance(here, StepFunctionsChallengerRuns) and here.machine_arn == machine
    assert sandbox.handler._challenger_runs(request("210987654321", REGION), ACCOUNT, settings) is None
    assert sandbox.handler._challenger_runs(request(ACCOUNT, "eu-west-1"), ACCOUNT, settings) is None
    assert (
        sandbox.handler._challenger_runs(
            request(ACCOUNT, REGION), ACCOUNT, replace(settings, challenger_state_machine_arn=None)
        )
        is None
    )
    monkeypatch.setenv(CHALLENGER_MACHINE_ARN, "arn:aws:lambda:us-east-1:123456789012:function:x")
    env.reset_all()
    with pytest.raises(Exception, match=CHALLENGER_MACHINE_ARN):
        audit_settings.get()
