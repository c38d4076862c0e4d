"""Endpoint retirement in the synthesized stack: the deletion state machine's shape (CDK assertions),
and its decisions when the synthesized definition runs under moto's Step Functions interpreter with its
Lambda steps answered by the real step handler in this process (mlgov.emulator_sfn), on spec scenario
5's estate. Only the one-hour wait between client-error checks is shortened (to 0 s); everything else is
the definition as synthesized. The operator's side goes through the CLI: `mlgov retire request`,
`approve` and `deny`, with the token read from the published finding as the on-call would."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Match, Template
from moto import mock_aws

from mlgov.approvals_sandbox import ApprovalUrls, approval_urls, button_press, create_approvals_table, post, slack_post
from mlgov.cli import main
from mlgov.emulator_sfn import entered, executable_definition, lambdas_in_process, wait_for
from mlgov.estate import drain_findings
from mlgov.ops.sent_settings import retirement_environment
from mlgov.retirement_estate import (
    IDLE,
    MACHINE,
    RETURNING,
    STALE,
    open_retirement_world,
    put_invocations,
)
from mlgov.sandbox import emf_values
from mlgov.settings import parse_settings
from mlgov.sinks import Sink, start_sink
from mlgov_runtime.retirement.logic import INVOCATIONS_SETTLE
from stacks.permissions import retirement as p
from tests.infrastructure.templates import FUNCTION_BASE_ACTIONS, _one, _role_actions
from tests.settings_files import NO_SETTINGS

pytestmark = pytest.mark.infrastructure
ACCOUNT, REGION = "123456789012", "us-east-1"

APPROVALS = "mlgov-approvals"


def _states(template: Template) -> dict[str, Any]:
    definition = json.loads(
        executable_definition(template.to_json(), MACHINE, {"RetirementSteps": "arn:aws:lambda:::function:steps"})
    )
    states: dict[str, Any] = definition["States"]
    return states


# -- shape


def test_approval_waits_on_a_task_token_that_expires_and_deletion_comes_straight_after(template: Template) -> None:
    states = _states(template)
    assert states["Prepare"]["Next"] == "Eligible?"
    assert states["Eligible?"]["Choices"][0]["Next"] == "WaitForApproval"
    assert states["Eligible?"]["Default"] == "CloseRequest"
    approval = states["WaitForApproval"]
    assert approval["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert approval["Parameters"]["Payload"]["token.$"] == "$$.Task.Token"
    assert approval["TimeoutSeconds"] == 72 * 3600  # retirement.approval_expiry_hours
    assert all("States.Timeout" not in r["ErrorEquals"] for r in approval["Retry"])  # expiry is never retried
    assert approval["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "CloseRequest"}]
    # Between the approval and the step that checks invocations and deletes: only a first live check and the wait
    # for CloudWatch to settle every minute up to it (the final check's window reaches back through it)
    assert approval["Next"] == "CheckIdle"
    assert states["CheckIdle"]["Parameters"]["step"] == "check_idle"
    assert states["CheckIdle"]["ResultPath"] == "$.idle"
    assert states["CheckIdle"]["Catch"] == approval["Catch"]
    assert states["CheckIdle"]["Next"] == "Idle?"
    assert states["Idle?"]["Choices"] == [
        {"Variable": "$.idle.outcome", "StringEquals": "idle", "Next": "LetMetricsSettle"}
    ]
    assert states["Idle?"]["Default"] == "DeletionAborted"
    assert states["LetMetricsSettle"] == {
        "Type": "Wait",
        "Seconds": int(INVOCATIONS_SETTLE.total_seconds()),
        "Next": "DeleteIfIdle",
    }
    assert states["DeleteIfIdle"]["Catch"] == approval["Catch"]
    assert states["DeleteIfIdle"]["Next"] == "Deleted?"
    assert states["Deleted?"]["Default"] == "DeletionAborted"
    assert states["CloseRequest"]["Next"] == "NotDeleted"


def test_after_deletion_clients_are_watched_hourly_until_the_count_runs_out(template: Template) -> None:
    states = _states(template)
    assert states["Deleted?"]["Choices"][0] == {
        "Variable": "$.deletion.outcome",
        "StringEquals": "deleted",
        "Next": "StillWatching?",
    }
    assert states["StillWatching?"]["Choices"][0]["Next"] == "WaitAnHour"
    assert states["WaitAnHour"] == {"Type": "Wait", "Seconds": 3600, "Next": "WatchClients"}
    assert states["WatchClients"]["ResultPath"] == "$.deletion.watch"
    assert states["WatchClients"]["Next"] == "StillWatching?"


STEP_COMMON = FUNCTION_BASE_ACTIONS


def test_each_role_holds_exactly_its_declared_actions_and_only_the_steps_may_delete(template: Template) -> None:
    assert _role_actions(template, "RetirementAudit") == STEP_COMMON | p.AUDIT_ACTIONS
    assert _role_actions(template, "RetirementSteps") == STEP_COMMON | p.STEP_ACTIONS
    assert "sagemaker:DeleteEndpoint" not in _role_actions(template, "RetirementAudit")


def _statement(template: Template, prefix: str, sid: str) -> dict[str, Any]:
    for logical_id, policy in template.find_resources("AWS::IAM::Policy").items():
        if logical_id.startswith(prefix):
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if statement.get("Sid") == sid:
                    return dict(statement)
    raise AssertionError(f"no statement {sid} under {prefix}")


def test_the_approval_service_reads_its_own_url_and_no_other_functions(template: Template) -> None:
    """Each identity proof must name the host of the service's own URL, which the service reads from Lambda: on
    its own function only, and with no URL in its environment (that would be a CloudFormation cycle)."""
    readers = {
        logical_id: statement
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "lambda:GetFunctionUrlConfig" in json.dumps(statement["Action"])
    }
    [(policy_id, read)] = readers.items()
    functions = template.find_resources("AWS::Lambda::Function")
    [service] = [k for k in functions if k.startswith(policy_id.split("Policy")[0] + "Function")]
    assert read["Action"] == "lambda:GetFunctionUrlConfig" and read["Sid"] == "ReadOwnUrl"
    assert read["Resource"] == {"Fn::GetAtt": [service, "Arn"]}
    variables = functions[service]["Properties"]["Environment"]["Variables"]
    assert not any("Url" in json.dumps(value) or "lambda-url" in json.dumps(value) for value in variables.values())


def test_only_endpoints_tagged_retiring_can_be_deleted_and_only_that_tag_written(template: Template) -> None:
    delete = _statement(template, "RetirementSteps", "DeleteRetiringEndpoints")
    assert delete["Action"] == "sagemaker:DeleteEndpoint"
    assert delete["Condition"] == {"StringEquals": {"aws:ResourceTag/endpoint_purpose": "retiring"}}
    tag = _statement(template, "RetirementAudit", "TagRetiring")
    assert tag["Condition"] == {
        "StringEquals": {"aws:RequestTag/endpoint_purpose": "retiring"},
        "ForAllValues:StringEquals": {"aws:TagKeys": ["endpoint_purpose"]},
    }


def test_cost_anomaly_detection_alerts_the_ops_topic_at_200_usd_and_20_percent(template: Template) -> None:
    monitor = _one(template, "AWS::CE::AnomalyMonitor")
    assert (monitor["MonitorType"], monitor["MonitorDimension"]) == ("DIMENSIONAL", "SERVICE")
    subscription = _one(template, "AWS::CE::AnomalySubscription")
    assert subscription["Frequency"] == "IMMEDIATE"
    [monitor_arn] = subscription["MonitorArnList"]
    assert monitor_arn["Fn::GetAtt"][0].startswith("RetirementServiceCostMonitor")
    [subscriber] = subscription["Subscribers"]
    assert subscriber["Type"] == "SNS" and "OpsAlarmTopic" in json.dumps(subscriber["Address"])
    assert json.loads(subscription["ThresholdExpression"]) == {
        "And": [
            {
                "Dimensions": {
                    "Key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE",
                    "MatchOptions": ["GREATER_THAN_OR_EQUAL"],
                    "Values": ["200"],
                }
            },
            {
                "Dimensions": {
                    "Key": "ANOMALY_TOTAL_IMPACT_PERCENTAGE",
                    "MatchOptions": ["GREATER_THAN_OR_EQUAL"],
                    "Values": ["20"],
                }
            },
        ]
    }
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Sid": "CostAnomalyAlerts", "Principal": {"Service": "costalerts.amazonaws.com"}}
                        )
                    ]
                )
            }
        },
    )


def test_schedules_and_tag_changes_reach_the_audit_function_with_their_task(template: Template) -> None:
    rules = {
        k: v["Properties"]
        for k, v in template.find_resources("AWS::Events::Rule").items()
        if k.startswith("Retirement")
    }
    by_name = {next(n for n in ("Monthly", "Daily", "Tag") if n in k): v for k, v in rules.items()}
    assert by_name["Monthly"]["ScheduleExpression"] == "cron(0 7 1 * ? *)"
    assert '"task":"stale_audit"' in by_name["Monthly"]["Targets"][0]["InputTransformer"]["InputTemplate"]
    assert by_name["Monthly"]["Targets"][0]["InputTransformer"]["InputPathsMap"]["id"] == "$.id"
    assert by_name["Daily"]["ScheduleExpression"] == "cron(0 8 * * ? *)"
    pattern = by_name["Tag"]["EventPattern"]
    assert pattern["detail"]["eventName"] == ["AddTags", "DeleteTags"]
    assert pattern["detail"]["requestParameters"] == {"resourceArn": [{"wildcard": "arn:*:sagemaker:*:*:endpoint/*"}]}
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "SafetyAbortEndpointDeletion", "Threshold": 1}
    )
    assert "RetirementStateMachineArn" in json.dumps(template.to_json()["Outputs"])


# -- decisions, under moto's interpreter with the real step handler


REQUESTER = "arn:aws:sts::123456789012:assumed-role/MLOps/requester"
BOB = "arn:aws:sts::123456789012:assumed-role/MLOpsApprover/bob"
MALLORY = "arn:aws:sts::123456789012:assumed-role/Outsider/mallory"
# alias -> (access key id, secret, session token), issued by the emulator's STS in the fixture: STS answers
# the approval service's identity proofs with these principals.
KEYS: dict[str, tuple[str, str, str]] = {}
PEOPLE = {"AKIABOB": BOB, "AKIAMALLORY": MALLORY, "AKIAREQUESTER": REQUESTER}


def _assume(iam: Any, sts: Any, arn: str) -> tuple[str, str, str]:
    _, role, session = arn.rsplit(":", 1)[1].split("/")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}")
    got = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName=session)["Credentials"]
    return got["AccessKeyId"], got["SecretAccessKey"], got["SessionToken"]


SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@dataclass
class Machine:
    sfn: Any
    sm: Any
    cw: Any
    sqs: Any
    ddb: Any
    arn: str
    resources: dict[str, str]
    calls: list[dict[str, Any]]
    urls: ApprovalUrls
    slack_sink: Sink
    monkeypatch: pytest.MonkeyPatch
    drained: list[dict[str, Any]] = field(default_factory=list)  # every finding published so far

    def published(self) -> list[dict[str, Any]]:
        found = drain_findings(self.sqs, self.resources["FINDINGS_QUEUE_URL"])
        self.drained += found
        return found

    def cli(self, *argv: str, key: str | None = None, output: str = "json") -> tuple[int, str]:
        """The CLI, signing as the access key `key` (its default credentials when None)."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.ExitStack() as stack:
            if key:
                patch = stack.enter_context(pytest.MonkeyPatch.context())
                akid, secret, token = KEYS[key]
                patch.setenv("AWS_ACCESS_KEY_ID", akid)
                patch.setenv("AWS_SECRET_ACCESS_KEY", secret)
                patch.setenv("AWS_SESSION_TOKEN", token)
                patch.delenv("AWS_SECURITY_TOKEN", raising=False)
            stack.enter_context(contextlib.redirect_stdout(out))
            stack.enter_context(contextlib.redirect_stderr(err))
            code = main([*argv, "--config", NO_SETTINGS, "--format", output])
        return code, out.getvalue() + err.getvalue()

    def decide(self, verb: str, request_id: str, key: str = "AKIABOB", *extra: str) -> tuple[int, str]:
        return self.cli("retire", verb, "--request", request_id, "--approval-url", self.urls.iam.url, *extra, key=key)

    def request(self, endpoint: str) -> str:
        code, out = self.cli(
            "retire",
            "request",
            "--endpoint",
            endpoint,
            "--reason",
            "v2 serves everyone",
            "--approval-url",
            self.urls.iam.url,
            key="AKIAREQUESTER",
        )
        assert code == 0, out
        execution: str = json.loads(out)["execution_arn"]
        wait_for(self.sfn, execution, lambda h: any(e["type"] == "TaskSubmitted" for e in h))
        return execution

    def request_id(self) -> str:
        """From the published ENDPOINT_RETIRING finding, as Slack/Jira show it."""
        requests = [
            f["evidence"]["retiring"]["request"]
            for f in self.published()
            if f["kind"] == "ENDPOINT_RETIRING" and f["evidence"]["retiring"].get("request")
        ]
        assert requests, "no approval request was published"
        return str(requests[-1]["request_id"])

    def record(self, request_id: str) -> dict[str, Any]:
        item = self.ddb.get_item(TableName=APPROVALS, Key={"request_id": {"S": request_id}})["Item"]
        return {k: next(iter(v.values())) for k, v in item.items()}

    def finish(self, execution: str) -> tuple[str, list[str]]:
        history = wait_for(self.sfn, execution, lambda h: False)
        return self.sfn.describe_execution(executionArn=execution)["status"], entered(history)

    def endpoints(self) -> set[str]:
        return {e["EndpointName"] for e in self.sm.list_endpoints()["Endpoints"]}


def _machine_name(template: Template) -> str:
    [props] = [
        v["Properties"]
        for k, v in template.to_json()["Resources"].items()
        if k.startswith(MACHINE) and v["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    return str(props["StateMachineName"])


@pytest.fixture
def machine(template: Template, monkeypatch: pytest.MonkeyPatch) -> Iterator[Machine]:
    config: Any = {
        "stepfunctions": {"execute_state_machine": True},
        "lambda": {"use_docker": False},
        "core": {"reset_boto3_session": False},
    }
    with mock_aws(config=config), start_sink("slack") as slack_sink:
        now = datetime.now(UTC)
        world = open_retirement_world(ACCOUNT, REGION, now)
        c, resources, mac_key = world.clients, world.resources, world.mac_key
        create_approvals_table(c["dynamodb"], APPROVALS)
        KEYS.clear()
        KEYS.update({alias: _assume(c["iam"], c["sts"], arn) for alias, arn in PEOPLE.items()})
        identities = {KEYS[alias][0]: (KEYS[alias][1], arn) for alias, arn in PEOPLE.items()}
        secret = c["secretsmanager"].create_secret(Name="slack-signing", SecretString=SIGNING_SECRET)["ARN"]
        settings = parse_settings(
            {
                "approvals": {"approvers": {"retirement": [BOB, REQUESTER]}, "slack_approvers": {"UBOB": BOB}},
                "retirement": {"post_retirement_watch_hours": 2},
            }
        )
        name = _machine_name(template)
        environment = {
            **retirement_environment(settings),
            "FINDINGS_TABLE_NAME": resources["FINDINGS_TABLE_NAME"],
            "FINDINGS_TOPIC_ARN": resources["FINDINGS_TOPIC_ARN"],
            "POWERTOOLS_METRICS_NAMESPACE": "MLGovernance",
            "APPROVALS_TABLE_NAME": APPROVALS,
            "RETIREMENT_STATE_MACHINE_NAME": name,
            "APPROVALS_MAC_KEY_ID": mac_key,
            **settings.approvals.environment(),
        }
        # The approval service's environment (it runs behind the local function URLs in this process).
        for key, value in {
            **settings.approvals.environment(),
            "APPROVALS_TABLE_NAME": APPROVALS,
            "SLACK_SIGNING_SECRET_ARN": secret,
            "SLACK_RESPONSE_URL_PREFIX": slack_sink.url + "/",
            "APPROVALS_MAC_KEY_ID": mac_key,
        }.items():
            monkeypatch.setenv(key, value)
        arn = world.deletion_machine(template.to_json(), name, environment)
        monkeypatch.setenv("RETIREMENT_STATE_MACHINE_ARN", arn)
        from mlgov_runtime.adapters import aws
        from mlgov_runtime.approvals import handler as approvals_handler
        from mlgov_runtime.core import env

        env.reset_all()
        approvals_handler._secret.clear()
        approvals_handler._sts.clear()
        aws.context_for.cache_clear()
        with lambdas_in_process() as calls, approval_urls(identities) as urls:
            yield Machine(
                c["stepfunctions"],
                c["sagemaker"],
                c["cloudwatch"],
                c["sqs"],
                c["dynamodb"],
                arn,
                resources,
                calls,
                urls,
                slack_sink,
                monkeypatch,
            )
        aws.context_for.cache_clear()


def test_an_idle_endpoint_is_deleted_after_approval_keeping_its_config_and_models(machine: Machine) -> None:
    execution = machine.request(IDLE)
    request_id = machine.request_id()
    code, out = machine.decide("approve", request_id)
    assert code == 0, out
    assert json.loads(out)["by"] == BOB  # the signed caller, not a name the client sent
    status, path = machine.finish(execution)
    assert status == "SUCCEEDED", path
    assert path == [
        "Prepare",
        "Eligible?",
        "WaitForApproval",
        "CheckIdle",
        "Idle?",
        "LetMetricsSettle",
        "DeleteIfIdle",
        "Deleted?",
        "StillWatching?",
        *["WaitAnHour", "WatchClients", "StillWatching?"] * 2,  # retirement.post_retirement_watch_hours
        "Retired",
    ]
    assert IDLE not in machine.endpoints()
    assert machine.sm.describe_endpoint_config(EndpointConfigName=f"{IDLE}-config")  # kept
    assert machine.sm.describe_model(ModelName="manga-rec-retire-v1")  # kept
    closing = next(f for f in machine.published() if f["status"] == "RESOLVED" and f["kind"] == "ENDPOINT_RETIRING")
    assert f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{IDLE}" in closing["detail"]
    assert closing["evidence"]["wasted_usd"] == pytest.approx(0.94 * 24 * 30, abs=0.1)  # since v2's approval
    recorded = closing["evidence"]["retiring"]["recreate"]
    assert recorded["endpoint_config"]["ProductionVariants"][0]["InstanceType"] == "ml.g4dn.2xlarge"
    assert recorded["models"][0]["PrimaryContainer"]["ModelPackageName"].endswith("manga-recommender/1")
    assert recorded["tags"]["endpoint_purpose"] == "retiring"
    assert closing["title"] == f"Endpoint {IDLE} deleted after approval by {BOB} (via cli)"
    record = machine.record(request_id)
    assert (record["status"], record["decided_by"], record["channel"]) == ("APPROVED", BOB, "cli")


def test_the_request_names_the_approve_and_deny_commands_with_its_own_request_id(machine: Machine) -> None:
    argv = ("retire", "request", "--endpoint", IDLE, "--reason", "v2 serves everyone")
    code, out = machine.cli(*argv, "--approval-url", machine.urls.iam.url, key="AKIAREQUESTER", output="table")
    assert code == 0, out
    execution = out.split(": ", 1)[1].split()[0]  # "Deletion of E requested by P: <execution ARN>"
    wait_for(machine.sfn, execution, lambda h: any(e["type"] == "TaskSubmitted" for e in h))
    request_id = machine.request_id()
    assert f"`mlgov retire approve --request {request_id}`" in out
    assert f"`mlgov retire deny --request {request_id} --reason TEXT`" in out
    assert "--request ID" not in out


def test_invocations_that_appear_while_the_request_waits_abort_the_deletion(
    machine: Machine, capsys: pytest.CaptureFixture[str]
) -> None:
    execution = machine.request(RETURNING)  # no invocations for 36 h: a candidate
    request_id = machine.request_id()
    # A cached mobile client comes back. Stamped a minute back, as SageMaker stamps a minute's datapoint at its
    # start: the emulator compares whole seconds, so one stamped in the second of the check would not count.
    put_invocations(machine.cw, RETURNING, 3, datetime.now(UTC) - timedelta(minutes=1))
    code, out = machine.decide("approve", request_id)
    assert code == 0, out
    status, path = machine.finish(execution)
    assert (status, path[-3:]) == ("FAILED", ["CheckIdle", "Idle?", "DeletionAborted"])
    assert RETURNING in machine.endpoints()  # nothing deleted, though it is tagged retiring
    findings = machine.published()
    abort = next(f for f in findings if f["kind"] == "SAFETY_ABORT_ENDPOINT_DELETION")
    assert "3 invocations in the last 1 h" in abort["title"]
    assert f"`mlgov retire request --endpoint {RETURNING}`" in abort["detail"]
    retiring = next(f for f in reversed(findings) if f["kind"] == "ENDPOINT_RETIRING")
    assert retiring["status"] == "OPEN" and "Deletion aborted" in retiring["detail"]
    assert emf_values(capsys.readouterr().out, "SafetyAbortEndpointDeletion") == [1.0]


def test_a_denied_request_deletes_nothing(machine: Machine) -> None:
    execution = machine.request(IDLE)
    code, out = machine.decide("deny", machine.request_id(), "AKIABOB", "--reason", "mobile 3.2 still pins it")
    assert code == 0, out
    status, path = machine.finish(execution)
    assert (status, path[-3:]) == ("FAILED", ["WaitForApproval", "CloseRequest", "NotDeleted"])
    assert "DeleteIfIdle" not in path and IDLE in machine.endpoints()
    retiring = [f for f in machine.published() if f["kind"] == "ENDPOINT_RETIRING"][-1]
    # moto 5.2.5 drops send_task_failure's cause (the reason); Step Functions passes it on, see the unit test.
    assert "Deletion denied" in retiring["detail"] and retiring["evidence"]["retiring"]["request"] is None
    code, out = machine.decide("approve", "rq-00000000000000000000")
    assert code == 2 and "no approval request rq-00000000000000000000" in out
    code, out = machine.cli("retire", "approve", "--token", "AAAAKgAAAAIAAAAA")
    assert code == 2 and "pass --request ID" in out


def test_a_stale_endpoint_with_traffic_never_reaches_approval(machine: Machine) -> None:
    execution = machine.sfn.start_execution(
        stateMachineArn=machine.arn, input=json.dumps({"endpoint_name": STALE, "requested_by": "direct"})
    )["executionArn"]
    status, path = machine.finish(execution)
    assert (status, path) == ("FAILED", ["Prepare", "Eligible?", "CloseRequest", "NotDeleted"])
    assert STALE in machine.endpoints()
    assert [c["step"] for c in machine.calls] == ["prepare", "close_request"]


# -- who may approve (issue 23): the approval service, behind its function URLs


def test_the_requester_cannot_approve_their_own_request(machine: Machine) -> None:
    execution = machine.request(IDLE)  # requested as REQUESTER, who is also a listed approver
    request_id = machine.request_id()
    code, out = machine.decide("approve", request_id, "AKIAREQUESTER")
    assert code == 2 and "is the same person as the requester" in out and "another approver must decide" in out
    assert machine.record(request_id)["status"] == "PENDING"
    assert machine.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"  # still waiting
    assert IDLE in machine.endpoints()


def test_an_unlisted_approver_is_refused_and_an_unsigned_request_never_reaches_the_service(machine: Machine) -> None:
    execution = machine.request(IDLE)
    request_id = machine.request_id()
    code, out = machine.decide("approve", request_id, "AKIAMALLORY")
    assert code == 2 and f"{MALLORY} is not an approver for retirement decisions" in out
    body = json.dumps({"request_id": request_id, "decision": "approve", "comment": "", "approved_by": BOB}).encode()
    assert post(machine.urls.iam.url, body, {"Content-Type": "application/json"})[0] == 403  # unsigned
    forged = {
        "Authorization": f"AWS4-HMAC-SHA256 Credential={KEYS['AKIABOB'][0]}/20261204/us-east-1/lambda/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}",
        "X-Amz-Date": "20261204T120000Z",
    }
    assert post(machine.urls.iam.url, body, forged)[0] == 403
    assert (
        machine.urls.iam.refused[-2:] == ["unsigned", "signature expired"]
        or "signature mismatch" in machine.urls.iam.refused[-1]
    )
    assert machine.record(request_id)["status"] == "PENDING"
    assert machine.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"


def _press(
    machine: Machine,
    request_id: str,
    *,
    user: str = "UBOB",
    approve: bool = True,
    secret: str | None = SIGNING_SECRET,
    signed_at: float | None = None,
) -> tuple[int, dict[str, Any]]:
    body = button_press(user, request_id, approve, machine.slack_sink.url + "/actions/T1/1/abc", endpoint=IDLE)
    return slack_post(machine.urls.slack.url, body, secret, signed_at)


@pytest.mark.parametrize(
    ("secret", "age", "why"),
    [
        (None, 0, "unsigned"),
        ("not-the-signing-secret", 0, "bad signature"),
        (SIGNING_SECRET, 301, "stale"),
    ],
)
def test_a_slack_request_with_a_bad_missing_or_old_signature_changes_nothing(
    machine: Machine, secret: str | None, age: int, why: str
) -> None:
    execution = machine.request(IDLE)
    request_id = machine.request_id()
    status, answer = _press(machine, request_id, secret=secret, signed_at=time.time() - age)
    assert status == 401 and why in answer["error"]
    assert machine.record(request_id)["status"] == "PENDING"
    assert machine.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    assert machine.slack_sink.requests == []  # nothing said in Slack either


def test_a_signed_button_press_approves_once_replaces_the_buttons_and_a_replay_has_no_second_effect(
    machine: Machine,
) -> None:
    execution = machine.request(IDLE)
    request_id = machine.request_id()
    # Slack gets its answer at once; the press worker decides and tells the outcome through the response_url
    status, answer = _press(machine, request_id, user="UNOBODY")  # signed, but not a mapped approver
    assert status == 200 and answer["status"] == "accepted"
    assert machine.record(request_id)["status"] == "PENDING"
    status, answer = _press(machine, request_id)
    assert status == 200 and answer["status"] == "accepted"
    assert (machine.record(request_id)["status"], machine.record(request_id)["channel"]) == ("APPROVED", "slack")
    status, _ = _press(machine, request_id)  # the same press again, freshly signed: a replay
    assert status == 200
    final, path = machine.finish(execution)
    assert final == "SUCCEEDED" and path.count("DeleteIfIdle") == 1 and IDLE not in machine.endpoints()
    record = machine.record(request_id)
    assert (record["status"], record["decided_by"], record["channel"]) == ("APPROVED", BOB, "slack")
    refusal, outcome, replay = (r.body for r in machine.slack_sink.delivered)
    assert "not mapped to an approver" in refusal["text"]
    assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False  # buttons stay
    assert outcome["replace_original"] is True and "Approved by ubob" in outcome["text"] and BOB in outcome["text"]
    assert f"retirement of {IDLE} in account {ACCOUNT}, {REGION}." in outcome["text"]
    assert replay["replace_original"] is False and "already approved by" in replay["text"]
    closing = next(f for f in machine.published() if f["status"] == "RESOLVED" and f["kind"] == "ENDPOINT_RETIRING")
    assert closing["title"] == f"Endpoint {IDLE} deleted after approval by {BOB} (via slack)"


@contextlib.contextmanager
def _answers_unreachable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Inside: the approval service's SendTaskSuccess gets no answer (every attempt); everything else reaches the
    emulator, and Step Functions answers again afterwards."""
    from botocore.exceptions import EndpointConnectionError

    from mlgov_runtime.approvals import handler

    def unreachable(request: Any, **kwargs: Any) -> None:
        raise EndpointConnectionError(endpoint_url=str(request.url))

    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda seconds: None)  # botocore's own retry backoff
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    client = handler._decide_client("stepfunctions")  # the service's answers client
    client.meta.events.register_first("before-send.states.SendTaskSuccess", unreachable)
    try:
        yield
    finally:
        client.meta.events.unregister("before-send.states.SendTaskSuccess", unreachable)


def test_an_approval_whose_step_was_not_told_is_delivered_by_running_the_same_command_again(
    machine: Machine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The approval service's SendTaskSuccess gets no answer for bob's first `mlgov retire approve`: the decision
    is recorded, the step still waits, and the CLI says to run the same command again; that run tells the step
    (the deletion goes ahead) and a third changes nothing."""
    execution = machine.request(IDLE)
    request_id = machine.request_id()
    with _answers_unreachable(monkeypatch):
        code, out = machine.decide("approve", request_id)
    # Then: exit 1, one line that says it is recorded, the step not told, and the exact command to run again
    assert code == 1 and "Traceback" not in out and len(out.strip().splitlines()) == 1, out
    assert out.startswith("mlgov: error: approved and recorded, but the waiting step was not told"), out
    assert f"run `mlgov retire approve --request {request_id}` again (as {BOB}) to tell it" in out, out
    assert machine.record(request_id)["status"] == "APPROVED" and "answered" not in machine.record(request_id)
    assert machine.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"  # still waiting
    # When bob runs the same command again
    code, out = machine.decide("approve", request_id)
    assert code == 0, out
    answer = json.loads(out)
    assert (answer["again"], answer["answered"], answer["by"]) == (True, True, BOB), answer
    status, path = machine.finish(execution)
    assert status == "SUCCEEDED" and "DeleteIfIdle" in path and IDLE not in machine.endpoints(), path
    assert machine.record(request_id)["answered"] == "answered"
    # A third run: decided and delivered, nothing changes
    code, out = machine.decide("approve", request_id)
    assert code == 2 and "already approved by" in out and "nothing changed" in out, out


def test_a_recorded_approvals_second_run_says_it_was_now_delivered(
    machine: Machine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line a person reads (table output) on the run that delivers: recorded when, and now told."""
    execution = machine.request(IDLE)
    request_id = machine.request_id()
    argv = ("retire", "approve", "--request", request_id, "--approval-url", machine.urls.iam.url)
    with _answers_unreachable(monkeypatch):
        assert machine.cli(*argv, key="AKIABOB", output="table")[0] == 1
    code, out = machine.cli(*argv, key="AKIABOB", output="table")
    at = machine.record(request_id)["decided_at"]
    assert code == 0 and out.strip() == (
        f"approved by {BOB} (via cli): recorded at {at} and now delivered to the waiting step: the live "
        "invocation check runs now; the endpoint is deleted only if nothing called it."
    ), out
    assert machine.finish(execution)[0] == "SUCCEEDED"


def test_a_run_again_after_the_execution_ended_says_so_plainly_and_marks_the_record(
    machine: Machine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The execution ended between the lost answer and the second run (stopped here; expiry is the same to the
    service): Step Functions answers TaskTimedOut for its token (moto accepts it, so the client says it here)."""
    from botocore.exceptions import ClientError

    from mlgov_runtime.approvals import handler

    execution = machine.request(IDLE)
    request_id = machine.request_id()
    argv = ("retire", "approve", "--request", request_id, "--approval-url", machine.urls.iam.url)
    with _answers_unreachable(monkeypatch):
        assert machine.cli(*argv, key="AKIABOB", output="table")[0] == 1
    machine.sfn.stop_execution(executionArn=execution)

    def closed(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "Task Timed Out"}}, "SendTaskSuccess")

    monkeypatch.setattr(handler._decide_client("stepfunctions"), "send_task_success", closed)
    code, out = machine.cli(*argv, key="AKIABOB", output="table")
    assert code == 0, out
    assert "Step Functions no longer waits on this request (TaskTimedOut): the request expired or its execution" in out
    assert f"`mlgov retire request --endpoint {IDLE}` asks again" in out, out
    assert machine.record(request_id)["answered"] == "gone:TaskTimedOut"
    code, out = machine.cli(*argv, key="AKIABOB", output="table")  # marked: nothing is answered again
    assert code == 2 and "already approved by" in out, out


def test_a_task_token_is_absent_from_every_message_record_and_log_line(
    machine: Machine, template: Template, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    execution = machine.request(IDLE)
    request_id = machine.request_id()
    _press(machine, request_id, user="UNOBODY")
    machine.decide("approve", request_id, "AKIAMALLORY")
    _press(machine, request_id)
    machine.finish(execution)
    token = machine.record(request_id)["task_token"]
    assert len(token) > 20  # the store is the one place it is kept
    machine.published()
    seen: list[str] = [json.dumps(f) for f in machine.drained]  # every finding published on the channel
    for table in machine.ddb.list_tables()["TableNames"]:
        if table != APPROVALS:
            seen += [json.dumps(item) for item in machine.ddb.scan(TableName=table)["Items"]]
    seen += [json.dumps(r.body) for r in machine.slack_sink.requests]
    seen += [json.dumps(e) for e in machine.urls.iam.events + machine.urls.slack.events]
    output = capfd.readouterr()
    seen += output.out.splitlines() + output.err.splitlines()  # every log line of the handlers and the CLI
    history = machine.sfn.get_execution_history(executionArn=execution)["events"]
    # Every log record of the handlers with all its fields (Powertools binds its stream before capture starts).
    seen += [json.dumps(r.__dict__, default=str) for r in caplog.records]
    assert len(machine.drained) >= 3 and len(caplog.records) >= 9
    assert any("ENDPOINT_RETIRING" in line for line in seen) and any(request_id in line for line in seen)
    assert [line for line in seen if token in line] == []
    # Step results that carry on in the execution's state never hold the token either.
    outputs = [e.get("taskSucceededEventDetails", {}).get("output", "") for e in history]
    assert not [o for o in outputs if token in o]
    for props in template.find_resources("AWS::StepFunctions::StateMachine").values():
        definition = json.dumps(props["Properties"]["DefinitionString"])
        if "$$.Task.Token" in definition:
            assert props["Properties"]["LoggingConfiguration"]["IncludeExecutionData"] is False


def test_a_direct_invocation_of_the_delete_step_with_a_forged_state_deletes_nothing(machine: Machine) -> None:
    from mlgov.emulator_sfn import _Context, _run_handler

    waiting = machine.request(IDLE)  # a real running execution, waiting for its approval
    machine.request_id()
    environment = machine.sfn.describe_state_machine(stateMachineArn=machine.arn) and dict(
        boto3.client("lambda", region_name=REGION).get_function_configuration(FunctionName="retirement-steps")[
            "Environment"
        ]["Variables"]
    )
    context = _Context(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:retirement-steps", "retirement-steps")
    forged_state = {"endpoint_name": IDLE, "approval": {"approved_by": BOB}, "prepared": {"eligible": True}}
    other = machine.arn.replace(":stateMachine:", ":execution:").rsplit(":", 2)[0] + ":OtherMachine:x"
    for execution, why in [
        ("", "is not an execution of"),
        (other, "is not an execution of"),
        (machine.arn.replace(":stateMachine:", ":execution:") + ":made-up", "is not running"),
        (waiting, "is PENDING, not APPROVED"),  # its own, running, but nobody approved it
    ]:
        event = {"step": "delete", "execution": execution, "state": forged_state}
        result = _run_handler("mlgov_runtime.retirement.handler.step", environment, event, context)
        assert result["outcome"] == "refused" and why in result["reason"], result
    stale = {"step": "delete", "execution": waiting, "state": {**forged_state, "endpoint_name": RETURNING}}
    result = _run_handler("mlgov_runtime.retirement.handler.step", environment, stale, context)
    assert result["outcome"] == "refused" and f"started for '{IDLE}', not '{RETURNING}'" in result["reason"]
    assert {IDLE, RETURNING} <= machine.endpoints()


def test_only_the_approval_service_answers_tokens_and_slack_buttons_add_a_signature_checked_url() -> None:
    from stacks.retirement import standalone_template

    template = Template.from_json(standalone_template(parse_settings({"approvals": {"slack_buttons": True}})))
    urls = {u["Properties"]["AuthType"] for u in template.find_resources("AWS::Lambda::Url").values()}
    assert urls == {"AWS_IAM", "NONE"}  # the CLI's (SigV4) and Slack's (its signature, checked in the function)
    answerers = {
        logical_id
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "states:SendTaskSuccess" in json.dumps(statement["Action"])
    }
    # Slack's unauthenticated URL only checks the signature and hands the press off; its worker decides
    assert sorted(a.split("Policy")[0] for a in answerers) == ["ApprovalsPressWorker", "ApprovalsService"]
    slack_env = _one(template, "AWS::Lambda::Function", prefix="ApprovalsSlack")["Environment"]["Variables"]
    assert "SLACK_SIGNING_SECRET_ARN" in slack_env and not any("TOKEN" in k for k in slack_env)
    assert "SLACK_WORKER_FUNCTION_NAME" in slack_env
    assert _role_actions(template, "ApprovalsSlack") - STEP_COMMON == {
        "secretsmanager:GetSecretValue",
        "lambda:InvokeFunction",
    }
    worker = _one(template, "AWS::Lambda::Function", prefix="ApprovalsPressWorker")
    assert "SLACK_SIGNING_SECRET_ARN" in worker["Environment"]["Variables"]  # it checks the signature again
    assert not any("PressWorker" in json.dumps(u) for u in template.find_resources("AWS::Lambda::Url").values())
    # Lambda drops a hand-off older than 10 minutes; the worker refuses presses signed longer ago than 15
    assert _one(template, "AWS::Lambda::EventInvokeConfig")["MaximumEventAgeInSeconds"] == 600
    assert _role_actions(template, "ApprovalsPressWorker") - STEP_COMMON == {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "secretsmanager:GetSecretValue",
        "kms:GenerateMac",
        "kms:VerifyMac",
    }


@pytest.mark.parametrize(
    ("verb", "outcome"),
    [("approve", f"after approval by {BOB} (via cli)"), ("deny", f"Deletion denied by {BOB} (via cli)")],
)
def test_the_decision_reaches_jira_as_a_comment_on_the_retirement_issue(
    machine: Machine, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, verb: str, outcome: str
) -> None:
    """Issue 23: Jira gets the outcome the buttons show, on the issue the request opened (one issue per finding)."""
    execution = machine.request(IDLE)
    extra = ("--reason", "mobile 3.2 still pins it") if verb == "deny" else ()
    code, out = machine.decide(verb, machine.request_id(), "AKIABOB", *extra)
    assert code == 0, out
    machine.finish(execution)
    machine.published()
    retiring = [f for f in machine.drained if f["kind"] == "ENDPOINT_RETIRING"]
    with start_sink("jira", projects={"OPS"}) as jira:
        for key, value in {"URL": jira.url, "USER": "bot@example.com", "TOKEN": "t", "PROJECT": "OPS"}.items():
            monkeypatch.setenv(f"MLGOV_JIRA_{key}", value)
        for n, finding in enumerate(retiring):
            path = tmp_path / f"finding-{n}.json"
            path.write_text(json.dumps(finding))
            with contextlib.redirect_stdout(io.StringIO()):
                assert main(
                    ["notify", "send", "--finding-file", str(path), "--channel", "jira", "--config", NO_SETTINGS]
                ) in (0, 3)
    [key] = jira.issues  # the request and its outcome: one Jira issue
    said = json.dumps(jira.comments.get(key, []))
    assert outcome in said, said
