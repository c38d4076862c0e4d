"""The org-wide scan's state machine: its shape (CDK assertions: Distributed Map, ItemReader, ItemBatcher,
MaxConcurrency, ToleratedFailurePercentage, ResultWriter) and its paths, executed by moto's Step Functions
interpreter on the synthesized definition; the member role stack, its trust evaluated independently.

moto 5.2.5's interpreter has no ItemBatcher (its grammar lacks the field), so the executed copy drops it
and each child gets one item; it reads ToleratedFailurePercentage only as a decimal literal (10.0, not 10);
it ignores ToleratedFailurePercentage and never fails a Map for failed children (that path is pinned by the
definition's shape); its ResultWriter writes only a manifest; Lambda tasks answer from moto's
lambda-simple result queue, in order. Everything else is the definition as synthesized.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from typing import Any, cast

import boto3
import pytest
import requests
from aws_cdk import Stack
from aws_cdk.assertions import Match, Template
from moto import mock_aws

from mlgov.member_actions import member_actions
from mlgov.policy_eval import lps
from stacks.constants import MEMBER_ROLE_STACK_NAME
from stacks.permissions import org_scan as p
from tests.infrastructure.templates import (
    ACCOUNT,
    FUNCTION_BASE_ACTIONS,
    _role_actions,
    concrete,
    role_arn_of,
    states_with_tokens,
)

pytestmark = pytest.mark.infrastructure
REGION = "us-east-1"
GOVERNANCE = "123456789012"
ORG = "o-abcdefghij"


def _machine(template: Template) -> dict[str, Any]:
    [machine] = [
        m for k, m in template.find_resources("AWS::StepFunctions::StateMachine").items() if k.startswith("OrgScan")
    ]
    return dict(machine)


def _text(template: Template) -> str:
    parts = _machine(template)["Properties"]["DefinitionString"]["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else f"<<{json.dumps(p, sort_keys=True)}>>" for p in parts)


def _states(template: Template) -> dict[str, Any]:
    return states_with_tokens(_text(template))


def test_the_scan_is_a_distributed_map_over_the_planned_targets(template: Template) -> None:
    states = _states(template)
    assert states["PlanScan"]["Next"] == "ScanAccounts" and states["PlanScan"]["ResultPath"] == "$.plan"
    scan = states["ScanAccounts"]
    assert scan["Type"] == "Map"
    assert scan["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert scan["ItemReader"]["Resource"].endswith(":states:::s3:getObject")
    assert scan["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
    assert scan["ItemReader"]["Parameters"]["Key.$"] == "$.plan.targets_key"
    # Settings' defaults: 20 batches in flight, 10 % of failed workers tolerated, 5 account/regions a batch
    assert (scan["MaxConcurrency"], scan["ToleratedFailurePercentage"]) == (20, 10)
    assert scan["ItemBatcher"] == {"MaxItemsPerBatch": 5, "BatchInput": {"run_id.$": "$.plan.run_id"}}
    writer = scan["ResultWriter"]
    assert writer["Resource"].endswith(":states:::s3:putObject")
    assert writer["Parameters"]["Prefix"] == "org-scan/map-results"
    [worker] = scan["ItemProcessor"]["States"].values()
    assert worker["Type"] == "Task" and "Parameters" not in worker and worker["Retry"]


def test_a_failed_map_still_aggregates_and_every_failure_reports_then_fails(template: Template) -> None:
    states = _states(template)
    [catch] = states["ScanAccounts"]["Catch"]
    assert (catch["Next"], catch["ResultPath"]) == ("Aggregate", "$.map_error")
    assert states["Aggregate"]["Next"] == "AllWorkersRan?"
    assert states["AllWorkersRan?"]["Choices"][0]["Next"] == "ScanIncomplete"
    for stage in ("PlanScan", "Aggregate"):
        [catch] = states[stage]["Catch"]
        assert states[catch["Next"]]["Next"] == "ScanFailed", stage


def test_the_weekly_schedule_starts_the_scan_with_retries_and_a_dead_letter_queue(template: Template) -> None:
    rules = {k: r for k, r in template.find_resources("AWS::Events::Rule").items() if k.startswith("OrgScan")}
    [rule] = rules.values()
    assert rule["Properties"]["ScheduleExpression"] == "cron(0 6 ? * MON *)"
    [target] = rule["Properties"]["Targets"]
    assert "OrgScanOrgScanStateMachine" in json.dumps(target["Arn"])
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 8 and "DeadLetterConfig" in target
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "ExecutionsFailed", "Namespace": "AWS/States", "Dimensions": Match.any_value()},
    )


def test_each_function_holds_exactly_its_declared_actions(template: Template) -> None:
    # The session app binds exemptions to an OU, so the worker may resolve OUs too.
    assert _role_actions(template, "OrgScanWorker") == FUNCTION_BASE_ACTIONS | p.WORKER
    assert _role_actions(template, "OrgScanCoordinator") == FUNCTION_BASE_ACTIONS | p.PLAN | p.AGGREGATE


def test_only_the_worker_reads_the_running_executions_of_the_challenger_machine_and_nothing_else(
    template: Template,
) -> None:
    """The verifier behind UNDER_EVALUATION in the weekly scan, as in the audit Lambda: ListExecutions on the
    challenger state machine, DescribeExecution on its executions, and the worker told that machine's ARN."""
    [machine] = [
        r["Properties"]["StateMachineName"]
        for r in template.find_resources("AWS::StepFunctions::StateMachine").values()
        if r["Properties"].get("StateMachineName") == "mlgov-challenger"
    ]
    prefix = f"arn:aws:states:{REGION}:{GOVERNANCE}"

    def states_statements(role_prefix: str) -> list[tuple[Any, Any]]:
        return sorted(
            (s["Action"], s["Resource"])
            for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
            if logical_id.startswith(role_prefix)
            for s in (concrete(x) for x in policy["Properties"]["PolicyDocument"]["Statement"])
            if "states:" in str(s["Action"])
        )

    assert states_statements("OrgScanWorker") == [
        ("states:DescribeExecution", f"{prefix}:execution:{machine}:*"),
        ("states:ListExecutions", f"{prefix}:stateMachine:{machine}"),
    ]
    assert states_statements("OrgScanCoordinator") == []
    [worker] = [
        f["Properties"]
        for k, f in template.find_resources("AWS::Lambda::Function").items()
        if k.startswith("OrgScanWorker")
    ]
    assert (
        concrete(worker["Environment"]["Variables"]["CHALLENGER_STATE_MACHINE_ARN"])
        == f"{prefix}:stateMachine:{machine}"
    )
    [coordinator] = [
        f["Properties"]
        for k, f in template.find_resources("AWS::Lambda::Function").items()
        if k.startswith("OrgScanCoordinator")
    ]
    assert "CHALLENGER_STATE_MACHINE_ARN" not in coordinator["Environment"]["Variables"]
    assert not {a for a in p.MEMBER_READ if a.startswith("states:")}  # the member role reads no experiment


def test_every_role_the_member_role_trusts_exists_with_that_name_on_the_protected_path(template: Template) -> None:
    from stacks.member_role_stack import trusted_role_arns

    trusted = trusted_role_arns("123456789012", "us-east-1", "aws", "/mlgov-protected/")
    roles = {}
    for role in template.find_resources("AWS::IAM::Role").values():
        name = role["Properties"].get("RoleName")
        if isinstance(name, dict):  # "<prefix>-${AWS::Region}"
            name = "".join(p if isinstance(p, str) else "us-east-1" for p in name["Fn::Join"][1])
        if name:
            roles[f"arn:aws:iam::123456789012:role{role['Properties'].get('Path', '/')}{name}"] = role
    # On the protected path: the member role trusts these exact ARNs, and only role admins create roles there.
    assert set(trusted) <= set(roles), sorted(set(trusted) - set(roles))
    assert len(trusted) == 3


def test_the_report_bucket_is_encrypted_logged_and_expires_old_runs(template: Template) -> None:
    [bucket] = [b for k, b in template.find_resources("AWS::S3::Bucket").items() if k.startswith("OrgScanReportBucket")]
    props = bucket["Properties"]
    assert (
        props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
            "SSEAlgorithm"
        ]
        == "aws:kms"
    )
    assert "LoggingConfiguration" in props
    rules = {r["Prefix"]: r["ExpirationInDays"] for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules == {"org-scan/runs/": 400, "org-scan/map-results/": 30}


# -- the member role


def _member(app: Any) -> dict[str, Any]:
    return dict(Template.from_stack(app.node.find_child(MEMBER_ROLE_STACK_NAME)).to_json())


def test_the_member_role_grants_exactly_the_registered_checks_reads(app: Any) -> None:
    resources = _member(app)["Resources"]
    [policy] = [r for r in resources.values() if r["Type"] == "AWS::IAM::Policy"]
    granted = set()
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow"
        granted |= set([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    assert granted == member_actions()
    assert all(a.split(":")[1].startswith(("Describe", "List", "Get")) for a in granted)


def _trust(app: Any) -> dict[str, Any]:
    template = _member(app)
    [role] = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    text = json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    for ref, value in (
        ("GovernanceAccountId", GOVERNANCE),
        ("OrganizationId", ORG),
        ("GovernanceRegion", REGION),
        ("AWS::Partition", "aws"),
    ):
        text = text.replace(json.dumps({"Ref": ref}), json.dumps(value))
    document: dict[str, Any] = json.loads(text)
    for statement in document["Statement"]:  # Fn::Join of plain strings, now that the refs are values
        principal = statement["Principal"]["AWS"]
        if isinstance(principal, dict):
            statement["Principal"]["AWS"] = "".join(principal["Fn::Join"][1])
        for operator in statement.get("Condition", {}).values():
            for key, value in operator.items():
                values = value if isinstance(value, list) else [value]
                joined = ["".join(v["Fn::Join"][1]) if isinstance(v, dict) else v for v in values]
                operator[key] = joined if isinstance(value, list) else joined[0]
    return document


def _may_assume(trust: dict[str, Any], principal_arn: str, org_id: str) -> bool:
    from principalmapper.common.nodes import Node

    node = Node(principal_arn, "AROAEXAMPLE", [], [], {}, None, 0, False, False, None, False, {})
    member_role = "arn:aws:iam::222222222222:role/MlGovMemberAudit"
    context = {
        "aws:PrincipalArn": principal_arn,
        "aws:PrincipalAccount": principal_arn.split(":")[4],
        "aws:PrincipalOrgID": org_id,
    }
    result = lps.resource_policy_authorization(node, "222222222222", trust, "sts:AssumeRole", member_role, context)
    return result is not lps.ResourcePolicyEvalResult.NO_MATCH and result is not lps.ResourcePolicyEvalResult.DENY_MATCH


@pytest.mark.parametrize(
    ("principal", "org", "allowed"),
    [
        (f"arn:aws:iam::{GOVERNANCE}:role/mlgov-protected/mlgov-org-scan-worker-us-east-1", ORG, True),
        (f"arn:aws:iam::{GOVERNANCE}:role/mlgov-protected/mlgov-endpoint-audit-us-east-1", ORG, True),
        # The capacity check judges forwarded member-account events with the same role.
        (f"arn:aws:iam::{GOVERNANCE}:role/mlgov-protected/mlgov-capacity-check-us-east-1", ORG, True),
        (f"arn:aws:iam::{GOVERNANCE}:role/mlgov-capacity-check-us-east-1", ORG, False),
        (f"arn:aws:iam::{GOVERNANCE}:role/DataScientist", ORG, False),  # another role of the governance account
        (f"arn:aws:iam::{GOVERNANCE}:role/mlgov-protected/mlgov-org-scan-worker-us-east-1", "o-otherorgxyz", False),
        ("arn:aws:iam::999999999999:role/mlgov-protected/mlgov-org-scan-worker-us-east-1", ORG, False),
        # A role anyone who may create roles can name so: the root path is not protected.
        (f"arn:aws:iam::{GOVERNANCE}:role/mlgov-org-scan-worker-us-east-1", ORG, False),
        (f"arn:aws:iam::{GOVERNANCE}:role/mlgov-endpoint-audit-us-east-1", ORG, False),
        (f"arn:aws:iam::{GOVERNANCE}:role/mlgov-endpoint-audit-attacker", ORG, False),
        (f"arn:aws:iam::{GOVERNANCE}:role/mlgov-protected/mlgov-endpoint-audit-x", ORG, False),
        (f"arn:aws:iam::{GOVERNANCE}:role/mlgov-protected/mlgov-org-scan-worker-us-east-1/x", ORG, False),
    ],
)
def test_only_the_scan_audit_and_capacity_roles_of_the_governance_account_may_assume_the_member_role(
    app: Any, principal: str, org: str, allowed: bool
) -> None:
    # Evaluated by principalmapper's local policy simulation, not by reading the JSON shape.
    assert _may_assume(_trust(app), principal, org) is allowed


def test_the_member_stack_needs_no_bootstrap_and_takes_the_governance_account_as_a_parameter(app: Any) -> None:
    template = _member(app)
    assert "BootstrapVersion" not in template.get("Parameters", {})
    assert set(template["Parameters"]) == {"GovernanceAccountId", "OrganizationId", "GovernanceRegion"}
    assert not [r for r in template["Resources"].values() if r["Type"] == "AWS::CDK::Metadata" and "Assets" in r]


def test_the_stackset_deploys_the_member_role_to_the_target_ous_with_auto_deployment() -> None:
    from app import build_app
    from stacks.constants import MEMBER_ROLE_STACKSET_STACK_NAME

    app = build_app(
        context={
            "mlgov": {
                "organization_id": ORG,
                "org_scan": {"governance_account_id": GOVERNANCE, "member_role_target_ou_ids": ["ou-ab12-prodwork"]},
            }
        }
    )
    template = Template.from_stack(cast(Stack, app.node.find_child(MEMBER_ROLE_STACKSET_STACK_NAME)))
    [props] = [
        s["Properties"]
        for s in template.find_resources("AWS::CloudFormation::StackSet").values()
        if s["Properties"]["StackSetName"] == "mlgov-member-role"
    ]
    assert props["PermissionModel"] == "SERVICE_MANAGED"
    assert props["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert props["StackInstancesGroup"][0]["DeploymentTargets"] == {
        "OrganizationalUnitIds": ["ou-ab12-prodwork"],
        # Where the product runs only who deploys writes stacks (DenyProductStackChanges): no instance there
        "Accounts": [GOVERNANCE],
        "AccountFilterType": "DIFFERENCE",
    }
    body = json.loads(props["TemplateBody"])
    assert [r["Properties"]["RoleName"] for r in body["Resources"].values() if r["Type"] == "AWS::IAM::Role"] == [
        "MlGovMemberAudit"
    ]
    assert {x["ParameterKey"]: x["ParameterValue"] for x in props["Parameters"]} == {
        "GovernanceAccountId": GOVERNANCE,
        "OrganizationId": ORG,
        "GovernanceRegion": {"Ref": "AWS::Region"},  # no governance_region set: the StackSet stack's own
    }


# -- the definition, executed by moto


def _executable(template: Template, functions: dict[str, str], bucket: str, broken: str | None = None) -> str:
    text = _text(template)
    while "<<" in text:
        start = text.index("<<")
        token = json.loads(text[start + 2 : text.index(">>", start)])
        flat = json.dumps(token)
        if "OrgScanCoordinator" in flat:
            value = functions["coordinator"]
        elif "OrgScanWorker" in flat:
            value = functions["worker"]
        elif "AWS::Partition" in flat:
            value = "aws"
        elif "OrgScanReportBucket" in flat:
            value = bucket
        else:
            value = "placeholder"
        text = text[:start] + value + text[text.index(">>", start) + 2 :]
    definition = json.loads(text)
    scan = definition["States"]["ScanAccounts"]
    scan.pop("ItemBatcher")  # not in moto's grammar
    # moto's grammar takes a NUMBER token here, which an integer literal is not
    scan["ToleratedFailurePercentage"] = float(scan["ToleratedFailurePercentage"])
    # A task that fails: moto's simple Lambda answers for any function, so the failing step becomes an SQS
    # send to a queue that does not exist (its error goes through the same Retry/Catch).
    failing = {
        "Resource": "arn:aws:states:::sqs:sendMessage",
        "Parameters": {"QueueUrl": f"https://sqs.{REGION}.amazonaws.com/123456789012/missing", "MessageBody": "x"},
    }
    if broken == "plan":
        definition["States"]["PlanScan"].update(failing)
    return json.dumps(definition)


TARGETS = [{"account_id": a, "region": REGION} for a in ("111111111111", "222222222222", "333333333333")]


def _run(
    template: Template, lambda_results: list[dict[str, Any]], broken: str | None = None
) -> tuple[str, list[str], Any]:
    config: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        zipped = io.BytesIO()
        with zipfile.ZipFile(zipped, "w") as archive:
            archive.writestr("handler.py", "def handler(e, c):\n    return e\n")
        lam = boto3.client("lambda", region_name=REGION)
        functions = {
            name: lam.create_function(
                FunctionName=name,
                Runtime="python3.11",
                Role=role,
                Handler="handler.handler",
                Code={"ZipFile": zipped.getvalue()},
            )["FunctionArn"]
            for name in ("coordinator", "worker")
        }
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="reports")
        s3.put_object(Bucket="reports", Key="org-scan/runs/weekly/targets.json", Body=json.dumps(TARGETS))
        answer = requests.post(
            "http://motoapi.amazonaws.com/moto-api/static/lambda-simple/response",
            json={"results": [json.dumps(r) for r in lambda_results], "region": REGION},
            timeout=5,
        )
        assert answer.status_code == 201
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name="org-scan", roleArn=role, definition=_executable(template, functions, "reports", broken)
        )
        execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="weekly", input="{}")
        deadline = time.monotonic() + 300  # a bound for a loaded machine; terminal states end it at once
        while time.monotonic() < deadline:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING":
                break
            time.sleep(0.05)
        events = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
        entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
        return described["status"], entered, json.loads(described.get("output") or "{}")


PLAN = {"run_id": "weekly", "bucket": "reports", "targets_key": "org-scan/runs/weekly/targets.json", "targets": 3}
WORKER = {"run_id": "weekly", "results": [{"status": "OK"}]}
REPORT = {"status": "PARTIAL", "status_line": "2 of 3 account/regions reached", "report": "s3://reports/r.json"}


def test_a_scan_maps_every_planned_target_then_aggregates_once(template: Template) -> None:
    status, entered, output = _run(template, [PLAN, WORKER, WORKER, WORKER, REPORT])
    assert status == "SUCCEEDED", entered
    assert entered == ["PlanScan", "ScanAccounts", "Aggregate", "AllWorkersRan?", "ScanComplete"]
    # One child per item read from S3: the three worker answers were taken, so Aggregate got the report's
    assert output["report"]["status_line"] == "2 of 3 account/regions reached"
    assert output["map"]["ResultWriterDetails"]["Key"].endswith("manifest.json")


def test_when_planning_fails_a_finding_is_reported_and_no_account_is_scanned(template: Template) -> None:
    status, entered, _ = _run(template, [{"finding_id": "f"}], broken="plan")
    assert status == "FAILED"
    assert "ScanAccounts" not in entered and entered[-2:] == ["ReportPlanFailure", "ScanFailed"]


def test_when_the_map_fails_the_report_is_still_written_and_the_run_fails(template: Template) -> None:
    # moto ignores ToleratedFailurePercentage (it says so) and never fails a Map for failed children, so
    # the Map fails here the other way it can: its ItemReader finds no targets object.
    lost = {**PLAN, "targets_key": "org-scan/runs/weekly/missing.json"}
    status, entered, output = _run(template, [lost, {**REPORT, "status": "FAILED"}])
    assert status == "FAILED"
    assert entered[-3:] == ["Aggregate", "AllWorkersRan?", "ScanIncomplete"]
    assert output == {}  # a failed execution has no output; the report (written by Aggregate) is the record


# -- who may write a run, and sign it (evaluated by principalmapper, intrinsics made plain values)


def _bucket_policy(template: Template) -> dict[str, Any]:
    [policy] = [
        p["Properties"]["PolicyDocument"]
        for k, p in template.find_resources("AWS::S3::BucketPolicy").items()
        if k.startswith("OrgScanReportBucket")
    ]
    return cast(dict[str, Any], concrete(policy))


def _decide(document: dict[str, Any], action: str, resource: str, principal: str) -> str:
    from mlgov.policy_eval import evaluate

    context = {"aws:PrincipalArn": principal, "aws:SecureTransport": "true", "aws:PrincipalAccount": ACCOUNT}
    return evaluate({"resource": document}, action, resource, context).decision


@pytest.mark.parametrize(
    ("who", "action", "key", "expected"),
    [
        ("OrgScanWorker", "s3:PutObject", "org-scan/runs/r1/results/222222222222-us-east-1.json", "Allow"),
        ("OrgScanCoordinator", "s3:PutObject", "org-scan/runs/r1/results/222222222222-us-east-1.json", "Deny"),
        ("DataScientist", "s3:PutObject", "org-scan/runs/r1/results/222222222222-us-east-1.json", "Deny"),
        ("DataScientist", "s3:DeleteObjectVersion", "org-scan/runs/r1/results/222222222222-us-east-1.json", "Deny"),
        ("DataScientist", "s3:PutObject", "org-scan/runs/r1/targets.json", "Deny"),
        ("DataScientist", "s3:PutObject", "org-scan/latest.json", "Deny"),
        ("OrgScanCoordinator", "s3:PutObject", "org-scan/runs/r1/targets.json", "Allow"),
        ("OrgScanCoordinator", "s3:PutObject", "org-scan/latest.json", "Allow"),
        ("OrgScanOrgScanStateMachineRole", "s3:PutObject", "org-scan/map-results/m/manifest.json", "Allow"),
        ("DataScientist", "s3:GetObject", "org-scan/runs/r1/report.json", "Allow"),  # reading is IAM's to grant
    ],
)
def test_only_the_worker_writes_results_and_only_the_scan_writes_a_run(
    template: Template, who: str, action: str, key: str, expected: str
) -> None:
    principal = f"arn:aws:iam::{ACCOUNT}:role/DataScientist" if who == "DataScientist" else role_arn_of(template, who)
    resource = f"arn:aws:s3:::bucket/{key}"
    document = _bucket_policy(template)
    for statement in document["Statement"]:  # the bucket's own ARN, whatever its generated name
        statement["Resource"] = [
            re.sub(r"arn:aws:OrgScanReportBucket\w+:Arn", "arn:aws:s3:::bucket", r)
            for r in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
        ]
    assert _decide(document, action, resource, principal) == expected


def test_the_report_bucket_keeps_every_version(template: Template) -> None:
    [bucket] = [b for k, b in template.find_resources("AWS::S3::Bucket").items() if k.startswith("OrgScanReportBucket")]
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}


@pytest.mark.parametrize(
    ("who", "action", "expected"),
    [
        ("OrgScanWorker", "kms:GenerateMac", "Allow"),
        ("OrgScanCoordinator", "kms:GenerateMac", "Allow"),
        ("DataScientist", "kms:GenerateMac", "Deny"),
        ("LineageAudit", "kms:GenerateMac", "Deny"),  # another product role: not the scan's
    ],
)
def test_only_the_scans_roles_may_sign_with_the_result_key(
    template: Template, who: str, action: str, expected: str
) -> None:
    [key] = [
        k for name, k in template.find_resources("AWS::KMS::Key").items() if name.startswith("OrgScanResultMacKey")
    ]
    assert key["Properties"]["KeySpec"] == "HMAC_256" and key["Properties"]["KeyUsage"] == "GENERATE_VERIFY_MAC"
    principal = f"arn:aws:iam::{ACCOUNT}:role/DataScientist" if who == "DataScientist" else role_arn_of(template, who)
    document = concrete(key["Properties"]["KeyPolicy"])
    assert _decide(document, action, "*", principal) == expected


# -- event forwarding from member accounts (issue: audited within a minute in every account)


def test_every_member_account_and_scan_region_forwards_sagemaker_events_to_the_governance_bus() -> None:
    from app import build_app
    from mlgov_runtime.org_scan import forwarding
    from stacks.constants import MEMBER_ROLE_STACKSET_STACK_NAME

    app = build_app(
        context={
            "mlgov": {
                "organization_id": ORG,
                "org_scan": {
                    "governance_account_id": GOVERNANCE,
                    "governance_region": "eu-west-1",
                    "regions": ["eu-west-1", "us-east-1"],
                    "member_role_target_ou_ids": ["ou-ab12-prodwork"],
                },
            }
        }
    )
    template = Template.from_stack(cast(Stack, app.node.find_child(MEMBER_ROLE_STACKSET_STACK_NAME)))
    sets = {
        s["Properties"]["StackSetName"]: s["Properties"]
        for s in template.find_resources("AWS::CloudFormation::StackSet").values()
    }
    props = sets["mlgov-member-event-forwarding"]
    assert props["AutoDeployment"]["Enabled"] is True
    [group] = props["StackInstancesGroup"]
    assert group["Regions"] == ["eu-west-1", "us-east-1"]  # rules are regional: every scanned region
    assert group["DeploymentTargets"]["OrganizationalUnitIds"] == ["ou-ab12-prodwork"]
    assert (group["DeploymentTargets"]["Accounts"], group["DeploymentTargets"]["AccountFilterType"]) == (
        [GOVERNANCE],
        "DIFFERENCE",
    )
    assert {x["ParameterKey"]: x["ParameterValue"] for x in props["Parameters"]} == {
        "GovernanceAccountId": GOVERNANCE,
        "GovernanceRegion": "eu-west-1",
    }
    body = json.loads(props["TemplateBody"])
    [rule] = [r for r in body["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    assert rule["Properties"]["Name"] == forwarding.RULE_NAME and rule["Properties"]["State"] == "ENABLED"
    pattern = rule["Properties"]["EventPattern"]
    assert "aws.sagemaker" in pattern["source"]
    assert {
        "SageMaker Endpoint State Change",
        "SageMaker Model Package State Change",
        "AWS API Call via CloudTrail",
    } <= set(pattern["detail-type"])
    [target] = rule["Properties"]["Targets"]
    assert "".join(str(p) for p in target["Arn"]["Fn::Join"][1]).endswith(":event-bus/default")
    assert "RoleArn" in target  # a cross-account bus allowed by organization needs a role
    [role] = [r for r in body["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    # Not in the governance account: its own rules hear its events.
    assert all(r.get("Condition") == "IsMemberAccount" for r in body["Resources"].values())


def test_the_member_role_may_read_only_the_forwarding_rule(app: Any) -> None:
    from mlgov_runtime.org_scan import forwarding

    resources = _member(app)["Resources"]
    [policy] = [r for r in resources.values() if r["Type"] == "AWS::IAM::Policy"]
    [statement] = [
        s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s.get("Sid") == "ReadEventForwarding"
    ]
    assert sorted(statement["Action"]) == ["events:DescribeRule", "events:ListTargetsByRule"]
    assert "".join(str(p) for p in statement["Resource"]["Fn::Join"][1]).endswith(f":rule/{forwarding.RULE_NAME}")


def test_the_coordinator_reads_the_per_kind_notification_limit_from_the_settings(template: Template) -> None:
    from mlgov.settings import Settings

    [coordinator] = [
        f for k, f in template.find_resources("AWS::Lambda::Function").items() if k.startswith("OrgScanCoordinator")
    ]
    sent = json.loads(coordinator["Properties"]["Environment"]["Variables"]["MLGOV_ORG_SCAN_SETTINGS"])
    assert sent["org_scan"]["max_notifications_per_kind"] == Settings().org_scan.max_notifications_per_kind == 25


def test_both_scan_functions_receive_the_settings_as_one_variable_the_checks_read_back(template: Template) -> None:
    from mlgov_runtime.org_scan.settings import load_worker_settings

    functions = template.find_resources("AWS::Lambda::Function")
    for prefix in ("OrgScanCoordinator", "OrgScanWorker"):
        [env] = [f["Properties"]["Environment"]["Variables"] for k, f in functions.items() if k.startswith(prefix)]
        assert [k for k in env if k.startswith("MLGOV_")] == ["MLGOV_ORG_SCAN_SETTINGS"]
        old = {"SCAN_SCOPE_JSON", "CHECK_OPTIONS_JSON", "ENDPOINT_CONCURRENCY", "COST_PURPOSE_TAG_KEY"}
        assert not old & set(env), prefix
    wiring = {"REPORT_BUCKET": "b-report", "MEMBER_ROLE_NAME": "MlGovMemberAudit", "RESULT_MAC_KEY_ID": "alias/mac"}
    got = load_worker_settings({**wiring, "MLGOV_ORG_SCAN_SETTINGS": env["MLGOV_ORG_SCAN_SETTINGS"]})
    options = got.check_options  # as the session's cdk.json set them (tests/infrastructure/conftest.py)
    assert options["experiment_exemptions"]["organizational_unit_ids"] == ["ou-ab12-cdef3456"]
    assert options["thresholds"] == {
        "min_endpoint_capacity": 1,
        "snapshot_max_age_days": 60,
        "challenger_traffic_fraction": 0.1,
    }
    assert options["challenger_ramp"] == []  # challenger.ramp unset: the share stays the fraction
    assert got.endpoint_concurrency == 16


def test_with_the_member_stackset_deployed_the_audit_and_capacity_roles_assume_its_role() -> None:
    # member_audit_role_name unset: the StackSet's role (MlGovMemberAudit) is the one the real-time functions assume.
    from app import build_app
    from stacks.constants import AUDIT_STACK_NAME

    scan = {"member_role_target_ou_ids": ["ou-abcd-11111111"], "governance_account_id": "111111111111"}
    app = build_app(context={"mlgov": {"organization_id": ORG, "org_scan": scan}})
    template = Template.from_stack(cast(Stack, app.node.find_child(AUDIT_STACK_NAME)))
    assuming = {
        logical_id
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "sts:AssumeRole" in statement["Action"] and "role/MlGovMemberAudit" in json.dumps(statement)
    }
    assert any(k.startswith("Capacity") for k in assuming) and any(k.startswith("LineageAudit") for k in assuming)
    variables = [
        fn["Properties"]["Environment"]["Variables"]
        for logical_id, fn in template.find_resources("AWS::Lambda::Function").items()
        if logical_id.startswith("LineageAudit")
    ]
    assert any("MlGovMemberAudit" in json.dumps(v) for v in variables), variables


def test_every_role_that_assumes_the_member_audit_role_is_kept_to_the_organization() -> None:
    # An event naming an account outside the organization must not get the audit or capacity check a session
    # there (a role of that name in an attacker's account would otherwise answer with made-up endpoints).
    from app import build_app
    from stacks.constants import AUDIT_STACK_NAME

    app = build_app(context={"mlgov": {"organization_id": ORG, "member_audit_role_name": "MlGovMemberAudit"}})
    template = Template.from_stack(cast(Stack, app.node.find_child(AUDIT_STACK_NAME)))
    assuming = {}
    for logical_id, policy in template.find_resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "sts:AssumeRole" in statement["Action"] and "role/MlGovMemberAudit" in json.dumps(statement):
                assuming[logical_id] = statement.get("Condition")
    assert any(k.startswith("Capacity") for k in assuming) and any(k.startswith("LineageAudit") for k in assuming)
    assert all(c == {"StringEquals": {"aws:ResourceOrgID": ORG}} for c in assuming.values()), assuming
