"""The challenger gate's construct: the state machine's shape (CDK assertions on the synthesized ASL), its
decisions executed by moto's Step Functions interpreter, and the roles the guardrails must let act.

Under moto's interpreter the Lambda tasks do not run the handler: each answers, in order, from moto's
lambda-simple result queue (the handler steps themselves are tested in tests/integration/test_challenger_handler.py).
Wait states are set to 0 seconds. The ApprovePackage state is NOT swapped: it is the definition's own
aws-sdk:sagemaker:updateModelPackage call, executed against moto's SageMaker.
"""

from __future__ import annotations

import json
import time
from typing import Any, cast

import boto3
import pytest
from aws_cdk.assertions import Template
from moto import mock_aws

from mlgov.emulator import install
from mlgov.policy_eval import evaluate
from mlgov.settings import parse_settings
from stacks.challenger import role_for
from stacks.guardrail_policies import guardrail_policies
from tests.infrastructure.templates import (
    _role_actions,
    answering_function,
    assert_every_task_retries_and_reports,
    unused_answers,
)

pytestmark = pytest.mark.infrastructure
REGION = "us-east-1"
ACCOUNT = "123456789012"


def _definition(template: Template) -> str:
    [machine] = [v for k, v in template.find_resources("AWS::StepFunctions::StateMachine").items() if "Challenger" in k]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else f"<<{json.dumps(p, sort_keys=True)}>>" for p in parts)


def _resolved(template: Template, function_arn: str) -> dict[str, Any]:
    text = _definition(template)
    while "<<" in text:
        start = text.index("<<")
        token = json.loads(text[start + 2 : text.index(">>", start)])
        value = function_arn if "Fn::GetAtt" in token else "aws"  # the function, or AWS::Partition
        text = text[:start] + value + text[text.index(">>", start) + 2 :]
    definition: dict[str, Any] = json.loads(text)
    return definition


def _states(template: Template) -> dict[str, Any]:
    states: dict[str, Any] = _resolved(template, "arn:aws:lambda:us-east-1:123456789012:function:steps")["States"]
    return states


# -- shape


def test_the_watch_loop_looks_every_five_minutes_and_decides_on_every_look(template: Template) -> None:
    states = _states(template)
    assert states["ChallengerLive"]["Next"] == "WatchInterval"
    assert states["WatchInterval"] == {"Type": "Wait", "Seconds": 300, "Next": "Watch"}
    assert states["Watch"]["Parameters"] == {
        "step": "watch",
        "state.$": "$",
        "now.$": "$$.State.EnteredTime",
        "execution.$": "$$.Execution.Id",
    }
    choices = {c["StringEquals"]: c["Next"] for c in states["Decision"]["Choices"]}
    assert choices == {
        "CONTINUE": "WatchInterval",
        "PAUSED": "WatchInterval",
        "REJECT": "Reject",
        "PROMOTE": "CheckPromotion",
    }
    assert states["Decision"]["Default"] == "EndExperiment"  # STOP_INVALID, INSUFFICIENT_DATA, ABANDONED


def test_approval_is_the_state_machines_own_sdk_call_after_a_rejection_check(template: Template) -> None:
    states = _states(template)
    approve = states["ApprovePackage"]
    assert approve["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:updateModelPackage"
    assert approve["Parameters"]["ModelApprovalStatus"] == "Approved"
    assert approve["Parameters"]["ApprovalDescription.$"] == "$.watch.approval_description"
    [entry] = [s for s, v in states.items() if v.get("Next") == "ApprovePackage" or _chooses(v, "ApprovePackage")]
    assert entry == "Approvable?"
    assert states["Approvable?"]["Choices"][0]["BooleanEquals"] is True
    assert states["Promote"]["Next"] == "PromotedStatus"
    assert states["WaitForReview"] == {"Type": "Wait", "Seconds": 7 * 24 * 3600, "Next": "Review"}


def _chooses(state: dict[str, Any], target: str) -> bool:
    return any(c.get("Next") == target for c in state.get("Choices", []))


def test_every_task_retries_and_every_failure_reaches_the_finding(template: Template) -> None:
    states = _states(template)
    assert_every_task_retries_and_reports(states, 13, "ChallengerFailed")
    for prefix in ("Deployment", "WeightsApplied", "Restored", "Promoted"):
        failed = {c["StringEquals"]: c["Next"] for c in states[f"{prefix}InService?"]["Choices"]}
        assert failed["Failed"] == f"{prefix}EndpointFailed"


def test_every_step_is_retried_when_its_answer_was_lost(template: Template) -> None:
    # A step whose call went through with its answer lost finishes on its retry (twenty-second review, holes 1 and
    # 4): the retry must happen for botocore's timeouts too, not only for ClientError.
    from stacks.challenger import LOST_ANSWER_ERRORS

    states = _states(template)
    steps = [s for s in states.values() if s.get("Parameters", {}).get("step")]
    assert len(steps) >= 10
    for state in steps:
        assert any(r["ErrorEquals"] == LOST_ANSWER_ERRORS for r in state["Retry"]), state["Parameters"]["step"]
    assert "ReadTimeoutError" in LOST_ANSWER_ERRORS


def test_the_registered_event_reaches_the_events_function_with_retries_and_a_dlq(template: Template) -> None:
    rules = [v for k, v in template.find_resources("AWS::Events::Rule").items() if k.startswith("Challenger")]
    patterns = [rule["Properties"]["EventPattern"] for rule in rules]
    assert {"source": ["mlgov.retraining"], "detail-type": ["Model Package Registered"]} in patterns
    # ...and a watched group's package approved: the re-approval check (CHALLENGER_REAPPROVED_WITHOUT_COMMENT)
    assert {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": ["manga-recommender"], "ModelApprovalStatus": ["Approved"]},
    } in patterns
    assert len(rules) == 2
    for rule in rules:
        [target] = rule["Properties"]["Targets"]
        # Never the Steps function: a rule's constant Input would reach a step (hole: rule target steps)
        assert "ChallengerEventsFunction" in json.dumps(target["Arn"])
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 8
    [steps] = [k for k in template.find_resources("AWS::Lambda::Function") if k.startswith("ChallengerStepsFunction")]
    invokers = template.find_resources("AWS::Lambda::Permission")
    assert not [p for p in invokers.values() if steps in json.dumps(p["Properties"]["FunctionName"])]


def test_one_dashboard_per_watched_endpoint(template: Template) -> None:
    dashboards = template.find_resources("AWS::CloudWatch::Dashboard")
    names = [d["Properties"]["DashboardName"] for k, d in dashboards.items() if k.startswith("Challenger")]
    assert names == ["mlgov-challenger-manga-recommender-prod"]
    body = json.dumps(dashboards[next(k for k in dashboards if k.startswith("Challenger"))]["Properties"])
    for metric in ("RecommendationClicks", "RecommendationImpressions", "Invocation5XXErrors", "ModelRejectionEvent"):
        assert metric in body


# -- roles and the guardrails


def _role(template: Template, prefix: str) -> tuple[str, str]:
    [role] = [v for k, v in template.find_resources("AWS::IAM::Role").items() if k.startswith(prefix)]
    return role["Properties"]["Path"], role["Properties"]["RoleName"]


def test_only_the_state_machine_may_approve_under_the_guardrails(template: Template) -> None:
    # Given the synthesized roles and the SCPs built from the same default settings
    settings = parse_settings({})
    policies = {p.name: p.document for p in guardrail_policies(settings)}
    machine = "arn:aws:iam::{}:role{}{}".format(ACCOUNT, *_role(template, "ChallengerStateMachineRole"))
    steps = "arn:aws:iam::{}:role{}{}".format(ACCOUNT, *_role(template, "ChallengerStepsRole"))
    package = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/manga-recommender/7"
    endpoint = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/manga-recommender-prod"

    def decide(principal: str, action: str, resource: str, **ctx: Any) -> str:
        context = {"aws:PrincipalArn": principal, "aws:PrincipalAccount": ACCOUNT, **ctx}
        return evaluate(policies, action, resource, context).decision

    approved = {"sagemaker:ModelApprovalStatus": "Approved"}
    # Then the state machine's role is an approver and the Lambda's is not
    assert decide(machine, "sagemaker:UpdateModelPackage", package, **approved) == "Allow"
    assert decide(steps, "sagemaker:UpdateModelPackage", package, **approved) == "Deny"
    # And the Lambda's role is the pipeline: it may change what the endpoint serves
    assert decide(steps, "sagemaker:UpdateEndpoint", endpoint) == "Allow"
    assert decide(machine, "sagemaker:UpdateEndpoint", endpoint) == "Deny"


def test_the_functions_own_policy_rejects_but_never_approves(template: Template) -> None:
    [policy] = [
        v for k, v in template.find_resources("AWS::IAM::Policy").items() if k.startswith("ChallengerStepsPolicy")
    ]
    document = {"own": policy["Properties"]["PolicyDocument"]}
    package = "arn:aws:sagemaker:us-east-1:123456789012:model-package/manga-recommender/7"
    resolved = json.loads(
        json.dumps(document)
        .replace('{"Ref": "AWS::Partition"}', '"aws"')
        .replace('{"Ref": "AWS::Region"}', '"us-east-1"')
    )

    def decision(status: str | None) -> str:
        ctx = {"sagemaker:ModelApprovalStatus": status} if status else {}
        return evaluate(_flatten(resolved), "sagemaker:UpdateModelPackage", package, ctx, default_allow=False).decision

    assert (decision("Rejected"), decision(None), decision("Approved")) == ("Allow", "Allow", "Deny")


def _flatten(document: dict[str, Any]) -> dict[str, Any]:
    """Fn::Join resources as plain ARNs (this account, us-east-1)."""
    text = json.dumps(document)
    while '{"Fn::Join": ["", [' in text:
        start = text.index('{"Fn::Join": ["", [')
        depth, end = 0, start
        for end in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                break
        joined = json.loads(text[start : end + 1])["Fn::Join"][1]
        plain = "".join(
            p if isinstance(p, str) else {"AWS::AccountId": ACCOUNT}.get(p.get("Ref", ""), "x") for p in joined
        )
        text = text[:start] + json.dumps(plain) + text[end + 1 :]
    flat: dict[str, Any] = json.loads(text)
    return flat


def test_each_function_grants_exactly_its_declared_actions(template: Template) -> None:
    from stacks.permissions.challenger import ACTIONS, EVENTS_ACTIONS, STEPS_ACTIONS

    common = {"logs:CreateLogStream", "logs:PutLogEvents", "kms:Decrypt", "kms:GenerateDataKey"}
    xray = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert _role_actions(template, "ChallengerSteps") - common - xray == set(STEPS_ACTIONS)
    assert _role_actions(template, "ChallengerEvents") - common - xray == set(EVENTS_ACTIONS)
    assert EVENTS_ACTIONS | STEPS_ACTIONS == ACTIONS


def test_a_wildcard_pattern_gives_the_role_a_name_of_its_own() -> None:
    patterns = ["arn:*:iam::*:role/mlgov-protected/MlGovModelApprover", "arn:*:iam::*:role/team/MlGovApprover*"]
    assert role_for(patterns, "Challenger", "approver_role_arns") == ("/team/", "MlGovApproverChallenger")
    assert role_for(patterns[:1], "Challenger", "approver_role_arns") == ("/mlgov-protected/", "MlGovModelApprover")
    with pytest.raises(ValueError, match="approver_role_arns"):
        role_for(["arn:*:iam::*:role/*/Approver"], "Challenger", "approver_role_arns")


# -- logic, executed by moto's interpreter

LIVE = {"status": "InService", "config": "c", "failure_reason": None, "at": "2026-11-28T12:01:00Z"}


def _challenger(package: str) -> dict[str, Any]:
    return {
        "refused": False,
        "model_package_arn": package,
        "endpoint_name": "manga-recommender-prod",
        "production_variant": "AllTraffic",
        "challenger_variant": "challenger-v5",
    }


def _run(template: Template, answers: list[dict[str, Any]], package: str | None = None) -> tuple[str, list[str], Any]:
    install()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        sm = boto3.client("sagemaker", region_name=REGION)
        sm.create_model_package_group(ModelPackageGroupName="manga-recommender")
        arn = sm.create_model_package(
            ModelPackageGroupName="manga-recommender",
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/tgi:1"}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        )["ModelPackageArn"]
        answers = json.loads(json.dumps(answers).replace("PACKAGE", package or arn))
        fn, role = answering_function("steps", answers)
        definition = _resolved(template, fn)
        for state in definition["States"].values():
            if state["Type"] == "Wait":
                state["Seconds"] = 0
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(name="challenger", roleArn=role, definition=json.dumps(definition))
        execution = sfn.start_execution(
            stateMachineArn=machine["stateMachineArn"], input=json.dumps({"model_package_arn": arn})
        )
        for _ in range(400):
            status = sfn.describe_execution(executionArn=execution["executionArn"])["status"]
            if status != "RUNNING":
                break
            time.sleep(0.05)
        events = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
        entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
        if status == "RUNNING":  # looping on echoed answers: stop it before it eats the next test's
            sfn.stop_execution(executionArn=execution["executionArn"])
        assert unused_answers() == [], f"Lambda answers left unused: the run took another path ({entered})"
        return status, entered, sm.describe_model_package(ModelPackageName=arn)


def _watch(decision: str) -> dict[str, Any]:
    return {"decision": decision, "approval_description": f"{decision} by the gate", "elapsed_minutes": 35}


def test_a_refused_start_ends_there(template: Template) -> None:
    status, entered, _ = _run(template, [{"refused": True, "reason": "not eligible"}])
    assert status == "SUCCEEDED" and entered == ["Start", "DeployChallenger", "Started?", "NotStarted"]


def test_a_rejection_restores_production_and_never_approves(template: Template) -> None:
    answers = [
        _challenger("PACKAGE"),
        LIVE,
        _watch("CONTINUE"),
        _watch("REJECT"),
        {"reason": "ctr_test"},
        LIVE,
        {"config": "restored", "changed": True},
        LIVE,
    ]
    status, entered, package = _run(template, answers)
    assert status == "SUCCEEDED", entered
    assert entered.count("Watch") == 2
    assert entered[entered.index("Reject") :] == [
        "Reject",
        "WeightsAppliedStatus",
        "WeightsAppliedInService?",
        "RestoreProduction",
        "RestoredStatus",
        "RestoredInService?",
        "Outcome",
        "ChallengerRejected",
    ]
    assert "ApprovePackage" not in entered
    assert package["ModelApprovalStatus"] == "PendingManualApproval"  # the Lambda step (answered here) rejects


def test_a_promotion_is_approved_by_the_state_machine_then_deployed_then_reviewed(template: Template) -> None:
    answers = [
        _challenger("PACKAGE"),
        {"status": "Updating", "at": "2026-11-28T12:00:30Z"},
        LIVE,
        _watch("PROMOTE"),
        {"approvable": True, "status": "PendingManualApproval"},
        {"promoted_at": "2026-11-28T12:40:00Z"},
        LIVE,
        {"production_7day_retention_delta": 0.01},
    ]
    status, entered, package = _run(template, answers)
    assert status == "SUCCEEDED", entered
    assert entered.count("DeploymentWait") == 1  # polled again while Updating
    assert entered[-5:] == ["PromotedStatus", "PromotedInService?", "WaitForReview", "Review", "PromotedAndReviewed"]
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["ApprovalDescription"] == "PROMOTE by the gate"


def test_a_package_rejected_during_the_run_is_never_approved(template: Template) -> None:
    answers = [_challenger("PACKAGE"), LIVE, _watch("PROMOTE"), {"approvable": False, "status": "Rejected"}]
    status, entered, package = _run(template, answers)
    assert status == "FAILED" and entered[-1] == "PackageRejectedMeanwhile"
    assert "ApprovePackage" not in entered and package["ModelApprovalStatus"] == "PendingManualApproval"


@pytest.mark.parametrize(
    ("decision", "last"), [("INSUFFICIENT_DATA", "EndedWithoutVerdict"), ("STOP_INVALID", "StoppedSampleRatioMismatch")]
)
def test_no_verdict_ends_the_experiment_and_restores_production(template: Template, decision: str, last: str) -> None:
    answers = [_challenger("PACKAGE"), LIVE, _watch(decision), {"outcome": decision}, LIVE, {"changed": True}, LIVE]
    status, entered, package = _run(template, answers)
    assert status == "SUCCEEDED" and entered[-1] == last
    assert "RestoreProduction" in entered and "Reject" not in entered and "ApprovePackage" not in entered
    assert package["ModelApprovalStatus"] == "PendingManualApproval"


def test_an_endpoint_changed_under_the_experiment_fails_without_restoring(template: Template) -> None:
    answers = [_challenger("PACKAGE"), LIVE, _watch("ABANDONED"), {"outcome": "ABANDONED"}]
    status, entered, _ = _run(template, answers)
    assert status == "FAILED" and entered[-2:] == ["EndpointStillOurs?", "ExperimentAbandoned"]
    assert "RestoreProduction" not in entered


def test_a_failed_deployment_reports_and_fails(template: Template) -> None:
    failed = {"status": "Failed", "failure_reason": "capacity", "at": "2026-11-28T12:05:00Z"}
    answers = [_challenger("PACKAGE"), failed, {"finding_id": "f"}]
    status, entered, _ = _run(template, answers)
    assert status == "FAILED"
    assert entered[-4:] == ["DeploymentEndpointFailed", "DeploymentWhere", "ReportFailure", "ChallengerFailed"]


def test_settings_the_model_cannot_check_alone_fail_the_synth_by_name() -> None:
    from mlgov.settings import SettingsError
    from stacks.challenger import check_settings

    check_settings(parse_settings({}))
    with pytest.raises(SettingsError, match=r"'mlgov.challenger.endpoints': group other is not in watched"):
        check_settings(parse_settings({"challenger": {"endpoints": {"other": "other-prod"}}}))
    with pytest.raises(SettingsError, match="json_failure_rate_max must be between 0 and 1"):
        check_settings(parse_settings({"thresholds": {"max_json_failure_rate": 0}}))
    with pytest.raises(SettingsError, match="min_minutes 400 is above max_minutes 360"):
        parse_settings({"challenger": {"min_minutes": 400}})


def test_every_step_receives_its_execution_from_the_context_object(template: Template) -> None:
    # The function verifies it (DescribeExecution) before acting: a step acts only inside a running execution.
    tasks = {k: v for k, v in _states(template).items() if "step" in (v.get("Parameters") or {})}
    assert len(tasks) >= 10
    for name, state in tasks.items():
        assert state["Parameters"]["execution.$"] == "$$.Execution.Id", name


def test_the_function_knows_the_retraining_machine_and_may_read_only_its_and_its_own_executions(
    template: Template,
) -> None:
    [function] = [
        v for k, v in template.find_resources("AWS::Lambda::Function").items() if k.startswith("ChallengerSteps")
    ]
    env = function["Properties"]["Environment"]["Variables"]
    assert "RetrainingStateMachine" in json.dumps(env["CHALLENGER_RETRAINING_STATE_MACHINE_ARN"])
    sent = json.loads(env["MLGOV_CHALLENGER_SETTINGS"])
    # Its approvers travel in its own variable, not the approval service's (4 KB for all of them).
    assert set(sent["approvals"]) == {"approvers"} and "MLGOV_APPROVALS_SETTINGS" not in env
    assert sent["guardrails"] == {
        "pipeline_role_arns": ["arn:*:iam::*:role/mlgov-protected/MlGovDeploymentPipeline*"],
        "protected_role_path": "/mlgov-protected/",  # the function re-checks the roles are on it at cold start
        # The counts table's writers, which the watch compares with the table's policy (the table source)
        "metric_writer_role_arns": ["arn:*:iam::*:role/mlgov-protected/MlGovRecommenderMetrics*"],
        "break_glass_role_arns": [],
        # and who deploys, whom alone the table's ControlsOnlyByDeploy may exempt (mlgov.guardrails.deploying_roles)
        "deployer_role_arns": ["arn:*:iam::*:role/cdk-hnb659fds-cfn-exec-role-*"],
        "role_admin_arns": ["arn:*:iam::*:role/mlgov-protected/MlGovRoleAdmin"],
    }
    policies = template.find_resources("AWS::IAM::Policy")
    statements = [
        s
        for k, p in policies.items()
        if k.startswith("ChallengerSteps")
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    described = [s for s in statements if "states:DescribeExecution" in json.dumps(s["Action"])]
    assert described and all(":execution:" in json.dumps(s["Resource"]) for s in described)
    roles = [s for s in statements if "iam:GetRole" in json.dumps(s["Action"])]
    assert roles and all("mlgov-protected/MlGovDeploymentPipeline*" in json.dumps(s["Resource"]) for s in roles)


@pytest.fixture(scope="module")
def human_template() -> Template:
    from aws_cdk import Stack

    from app import build_app
    from stacks.constants import AUDIT_STACK_NAME

    approver = "arn:aws:sts::123456789012:assumed-role/ModelApprovers/*"
    app = build_app(
        context={
            "mlgov": {
                "challenger": {"require_human_approval": True, "approval_expiry_hours": 12},
                "approvals": {"approvers": {"challenger": [approver]}},
            }
        }
    )
    return Template.from_stack(cast(Stack, app.node.find_child(AUDIT_STACK_NAME)))


def test_with_a_human_step_promote_waits_on_a_token_and_only_a_verified_record_approves(
    human_template: Template,
) -> None:
    states = _states(human_template)
    choices = {c["StringEquals"]: c["Next"] for c in states["Decision"]["Choices"]}
    assert choices["PROMOTE"] == "WaitForApproval"
    wait = states["WaitForApproval"]
    assert wait["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")
    assert wait["TimeoutSeconds"] == 12 * 3600
    assert wait["Parameters"]["Payload"]["token.$"] == "$$.Task.Token"
    assert not any("States.Timeout" in r["ErrorEquals"] for r in wait.get("Retry", []))
    assert [c["Next"] for c in wait["Catch"]] == ["NotApproved"]
    assert states["WaitForApproval"]["Next"] == "VerifyApproval"
    verified = states["ApprovalVerified?"]
    assert verified["Choices"] == [
        {"Variable": "$.human_approval.approved", "BooleanEquals": True, "Next": "CheckPromotion"}
    ]
    assert verified["Default"] == "NotApproved"
    approve = states["ApprovePackage"]["Parameters"]
    assert approve["ApprovalDescription.$"] == "$.human_approval.approval_description"
    # The token passes through these states: execution data never reaches the logs
    [machine] = [
        v for k, v in human_template.find_resources("AWS::StepFunctions::StateMachine").items() if "Challenger" in k
    ]
    assert machine["Properties"]["LoggingConfiguration"]["IncludeExecutionData"] is False
    # Only the approval service answers the challenger machine's tokens; the challenger verifies MACs only
    service = _role_actions(human_template, "ApprovalsService")
    assert {"states:SendTaskSuccess", "states:SendTaskFailure", "states:DescribeExecution"} <= service
    steps = _role_actions(human_template, "ChallengerSteps")
    assert "kms:VerifyMac" in steps and "kms:GenerateMac" not in steps
    assert not {"states:SendTaskSuccess", "states:SendTaskFailure"} & steps


def test_the_human_step_needs_someone_who_may_approve() -> None:
    from mlgov.settings import SettingsError, check_challenger

    with pytest.raises(SettingsError, match=r"approvals\.approvers\.challenger"):
        check_challenger(parse_settings({"challenger": {"require_human_approval": True}}))


def test_the_challenger_alarm_counts_stopped_and_timed_out_runs_as_well_as_failed_ones(template: Template) -> None:
    """A StopExecution or the machine's timeout runs no Catch (no CHALLENGER_FAILED finding) and may leave the
    challenger variant serving: the alarm counts them with the failures."""
    [alarm] = [
        r["Properties"]
        for k, r in template.find_resources("AWS::CloudWatch::Alarm").items()
        if k.startswith("ChallengerChallengerFailedAlarm")
    ]
    metrics = {q["Id"]: q for q in alarm["Metrics"]}
    summed = metrics[next(i for i, q in metrics.items() if "Expression" in q)]["Expression"]
    names = {q["MetricStat"]["Metric"]["MetricName"]: i for i, q in metrics.items() if "MetricStat" in q}
    assert set(names) == {"ExecutionsFailed", "ExecutionsAborted", "ExecutionsTimedOut"}
    for metric_id in names.values():
        assert f"FILL({metric_id}, 0)" in summed
        assert metrics[metric_id]["MetricStat"]["Metric"]["Namespace"] == "AWS/States"
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


# -- challenger.metrics.source "table": the recommender's counts in the product's own table


def _counts_tables(template: Template) -> dict[str, Any]:
    from mlgov_runtime.challenger.config import COUNTS_TABLE

    return {
        k: v
        for k, v in template.find_resources("AWS::DynamoDB::Table").items()
        if v["Properties"].get("TableName") == COUNTS_TABLE
    }


@pytest.fixture(scope="module")
def table_template() -> Template:
    from app import build_app
    from stacks.constants import AUDIT_STACK_NAME

    app = build_app(context={"mlgov": {"challenger": {"metrics": {"source": "table"}}}})
    stack: Any = app.node.find_child(AUDIT_STACK_NAME)
    return Template.from_stack(stack)


def _statements_naming(template: Template, logical: str) -> dict[str, list[dict[str, Any]]]:
    """Per role policy: its statements whose resources name the resource `logical` (a Ref or GetAtt of it)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for policy_id, policy in template.find_resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if logical in json.dumps(statement.get("Resource")):
                found.setdefault(policy_id, []).append(statement)
    return found


def test_the_counts_table_exists_only_when_the_gate_reads_counts_from_it(
    template: Template, table_template: Template
) -> None:
    # Given the default source (CloudWatch): no table, and the function reads no table it has no use for
    assert _counts_tables(template) == {}
    assert "dynamodb:Query" not in _role_actions(template, "ChallengerSteps")
    # When the source is the table: one table keyed by series and minute, with the product's table conventions
    [(_, table)] = _counts_tables(table_template).items()
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "series", "KeyType": "HASH"},
        {"AttributeName": "minute", "KeyType": "RANGE"},
    ]
    assert {"AttributeName": "minute", "AttributeType": "N"} in props["AttributeDefinitions"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEType"] == "KMS" and "GovernanceKey" in json.dumps(props["SSESpecification"])
    assert props["DeletionProtectionEnabled"] is True and table["DeletionPolicy"] == "Retain"
    assert {s["Sid"] for s in props["ResourcePolicy"]["PolicyDocument"]["Statement"]} == {
        "OnlyMetricWritersWrite",
        "ControlsOnlyByDeploy",
    }

    # And the dashboard's header says the graphs are not what the gate reads (only in table mode)
    from mlgov_runtime.challenger.config import COUNTS_TABLE

    def headers(t: Template) -> str:
        return json.dumps(list(t.find_resources("AWS::CloudWatch::Dashboard").values()))

    assert COUNTS_TABLE in headers(table_template) and COUNTS_TABLE not in headers(template)


def test_the_watch_may_only_query_the_counts_table_and_read_its_policy(table_template: Template) -> None:
    [logical] = _counts_tables(table_template)
    naming = _statements_naming(table_template, logical)
    # Only the Steps function (the watch) is granted anything on the table: Query, and GetResourcePolicy (the seal
    # it checks before believing a count)
    assert list(naming) == [k for k in naming if k.startswith("ChallengerSteps")] and len(naming) == 1
    [statements] = naming.values()
    assert statements == [
        {
            "Sid": "ReadRecommendationCounts",
            "Action": ["dynamodb:GetResourcePolicy", "dynamodb:Query"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [logical, "Arn"]},
        }
    ]


def test_a_counts_table_nobody_may_write_fails_the_synth_naming_both_settings() -> None:
    from app import build_app
    from mlgov.settings import SettingsError

    context = {"challenger": {"metrics": {"source": "table"}}, "guardrails": {"metric_writer_role_arns": []}}
    with pytest.raises(
        SettingsError,
        match=r"'mlgov.challenger.metrics.source' is \"table\" but 'mlgov.guardrails.metric_writer_role_arns' names "
        "nobody",
    ):
        build_app(context={"mlgov": context})
    # The CloudWatch source does not need the table's writers (the SCP's namespace statement has nothing to keep)
    parse_settings({"guardrails": {"metric_writer_role_arns": []}})


def test_a_counts_table_nobody_deploys_fails_the_synth_naming_the_settings() -> None:
    """With no one who deploys, the table would carry no ControlsOnlyByDeploy and every look would fail its seal."""
    from app import build_app
    from mlgov.settings import SettingsError

    nobody: dict[str, list[str]] = {"deployer_role_arns": [], "role_admin_arns": [], "break_glass_role_arns": []}
    context = {"challenger": {"metrics": {"source": "table"}}, "guardrails": nobody}
    with pytest.raises(SettingsError, match=r"'mlgov.guardrails.deployer_role_arns', 'role_admin_arns' and "):
        build_app(context={"mlgov": context})
    # One of the three is enough, and the CloudWatch source needs none of them for the table
    for key in nobody:
        some = {**nobody, key: ["arn:*:iam::*:role/mlgov-protected/MlGovRoleAdmin"]}
        parse_settings({"challenger": {"metrics": {"source": "table"}}, "guardrails": some})
    parse_settings({"guardrails": nobody})
