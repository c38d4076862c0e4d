"""Small look-ups in a synthesized template, shared by the per-capability stack tests."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Template


def _one(template: Template, type_: str, props: dict[str, Any] | None = None, prefix: str = "") -> dict[str, Any]:
    found = {
        k: v
        for k, v in template.find_resources(type_, {"Properties": props} if props else None).items()
        if k.startswith(prefix)
    }
    assert len(found) == 1, f"expected one {type_} under {prefix or 'the stack'}, found {len(found)}"
    return next(iter(found.values()))["Properties"]


def _role_actions(template: Template, prefix: str) -> set[str]:
    actions: set[str] = set()
    for logical_id, policy in template.find_resources("AWS::IAM::Policy").items():
        if not logical_id.startswith(prefix):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            value = statement["Action"]
            actions.update([value] if isinstance(value, str) else value)
    return actions


# What every product function's role holds besides its capability's actions: its log stream, its key, tracing.
FUNCTION_BASE_ACTIONS = frozenset(
    {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
)

ACCOUNT, REGION = "123456789012", "us-east-1"


def concrete(value: Any) -> Any:
    """A template fragment with its intrinsics made plain values (roles' ARNs named after their logical
    ids), so an independent evaluator can judge the policy."""
    if isinstance(value, list):
        return [concrete(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}.get(
            value["Ref"], f"ref-{value['Ref']}"
        )
    if "Fn::GetAtt" in value:
        logical, attribute = value["Fn::GetAtt"]
        if attribute == "Arn" and "Role" in logical:
            return f"arn:aws:iam::{ACCOUNT}:role/{logical}"
        return f"arn:aws:{logical}:{attribute}"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(concrete(p)) for p in parts)
    return {k: concrete(v) for k, v in value.items()}


def role_arn_of(template: Template, prefix: str) -> str:
    [logical] = [k for k in template.find_resources("AWS::IAM::Role") if k.startswith(prefix)]
    return f"arn:aws:iam::{ACCOUNT}:role/{logical}"


def states_with_tokens(definition: str) -> dict[str, Any]:
    """The States of a synthesized definition, its CloudFormation references (<<...>>) read as TOKEN."""
    while "<<" in definition:
        start = definition.index("<<")
        definition = definition[:start] + "TOKEN" + definition[definition.index(">>", start) + 2 :]
    states: dict[str, Any] = json.loads(definition)["States"]
    return states


def answering_function(name: str, answers: list[dict[str, Any]]) -> tuple[str, str]:
    """(function ARN, its role ARN) of a Lambda function on moto's lambda-simple backend that answers each
    invocation with the next of `answers`; answers a failed test left behind are dropped first."""
    import io
    import zipfile

    import boto3
    import requests
    from moto.awslambda_simple.models import lambda_simple_backends

    role = boto3.client("iam", region_name=REGION).create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("handler.py", "def handler(e, c):\n    return e\n")
    fn = boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": zipped.getvalue()},
    )["FunctionArn"]
    lambda_simple_backends[ACCOUNT][REGION].lambda_simple_results_queue.clear()
    queued = requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/lambda-simple/response",
        json={"results": [json.dumps(a) for a in answers], "region": REGION},
        timeout=5,
    )
    assert queued.status_code == 201
    return fn, role["Role"]["Arn"]


def unused_answers() -> list[Any]:
    """The answers queued by answering_function that no invocation took."""
    from moto.awslambda_simple.models import lambda_simple_backends

    return list(lambda_simple_backends[ACCOUNT][REGION].lambda_simple_results_queue)


def assert_every_task_retries_and_reports(states: dict[str, Any], tasks_expected: int, failed: str) -> None:
    """Every Task state but ReportFailure retries, and catches everything into $.error on a path that
    reaches ReportFailure (a finding), which ends in the `failed` state."""
    tasks = [n for n, s in states.items() if s["Type"] == "Task" and n != "ReportFailure"]
    assert len(tasks) == tasks_expected
    for name in tasks:
        assert states[name].get("Retry"), name
        [catch] = states[name]["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"] and catch["ResultPath"] == "$.error"
        assert states[catch["Next"]]["Next"] == "ReportFailure", name
    assert states["ReportFailure"]["Next"] == failed
