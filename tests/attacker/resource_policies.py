"""The governance stack's synthesized resource policies, applied to a boto3 client's calls as AWS applies them.

moto keeps resource policies but does not enforce them. `act_as` makes a client call as one principal: each call
is first judged by the synthesized policy (evaluated by principalmapper, intrinsics made plain values) for that
principal, its identity policies assumed to allow it (a developer with PowerUserAccess); an explicit deny answers
AccessDenied as AWS does, anything else goes on to moto.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

from botocore.exceptions import ClientError

from mlgov.policy_eval import evaluate
from tests.infrastructure.templates import ACCOUNT, concrete

# Whoever the governance account's IAM lets do everything (PowerUserAccess): what no resource policy names.
DEVELOPER = f"arn:aws:iam::{ACCOUNT}:role/Developer"
OPERATOR = f"arn:aws:iam::{ACCOUNT}:role/mlgov-protected/MlGovOperator"
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-us-east-1"

# API operations whose IAM action has another name.
_ACTIONS = {"s3:CopyObject": "s3:PutObject", "s3:DeleteObjects": "s3:DeleteObject", "s3:HeadObject": "s3:GetObject"}
_DENIED = {"s3": "AccessDenied"}


def _resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def role_arn(template: dict[str, Any], prefix: str) -> str:
    """A product role's ARN as `concrete` names it (after its logical id)."""
    [logical] = [k for k in _resources(template, "AWS::IAM::Role") if k.startswith(prefix)]
    return f"arn:aws:iam::{ACCOUNT}:role/{logical}"


def secret_policy(template: dict[str, Any], secret_prefix: str) -> dict[str, Any]:
    [policy] = [
        p["Properties"]["ResourcePolicy"]
        for p in _resources(template, "AWS::SecretsManager::ResourcePolicy").values()
        if p["Properties"]["SecretId"].get("Ref", "").startswith(secret_prefix)
    ]
    return cast(dict[str, Any], concrete(policy))


def table_policy(template: dict[str, Any], table_prefix: str) -> dict[str, Any]:
    [table] = [t for k, t in _resources(template, "AWS::DynamoDB::Table").items() if k.startswith(table_prefix)]
    return cast(dict[str, Any], concrete(table["Properties"]["ResourcePolicy"]["PolicyDocument"]))


def bucket_policy(template: dict[str, Any], bucket_prefix: str, bucket_name: str) -> dict[str, Any]:
    """The bucket's policy, its own ARN (a GetAtt) made the ARN of `bucket_name`."""
    [policy] = [
        p["Properties"]["PolicyDocument"]
        for k, p in _resources(template, "AWS::S3::BucketPolicy").items()
        if k.startswith(f"{bucket_prefix}Policy")
    ]
    text = json.dumps(concrete(policy))
    return cast(
        dict[str, Any], json.loads(re.sub(rf"arn:aws:{bucket_prefix}\w*:Arn", f"arn:aws:s3:::{bucket_name}", text))
    )


def _resource_arn(service: str, region: str, params: dict[str, Any]) -> str:
    if service == "s3":
        return f"arn:aws:s3:::{params['Bucket']}" + (f"/{params['Key']}" if "Key" in params else "")
    if service == "dynamodb":
        if "ResourceArn" in params:  # PutResourcePolicy, DeleteResourcePolicy, GetResourcePolicy, tagging
            return str(params["ResourceArn"])
        return f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{params.get('TableName', '*')}"
    secret = str(params.get("SecretId", "*"))
    return secret if secret.startswith("arn:") else f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{secret}"


# PartiQL: the statement's verb is the action, the table it names the resource.
_PARTIQL = re.compile(r'\s*(SELECT|INSERT|UPDATE|DELETE)\b.*?\b(?:FROM|INTO|UPDATE|DELETE)?\s*"([^"]+)"', re.I | re.S)
# TransactWriteItems has no IAM action of its own: each item is authorized as its own operation.
_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def _dynamodb_requests(region: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]] | None:
    """(action, resource) of each authorization a multi-table or PartiQL call needs, as the Service
    Authorization Reference maps them; None for a call that names one table as TableName."""
    table = lambda name: f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}"  # noqa: E731
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [(f"dynamodb:{operation}", table(name)) for name in params["RequestItems"]]
    if operation == "TransactWriteItems":
        return [
            (f"dynamodb:{_TRANSACT[kind]}", table(body["TableName"]))
            for item in params["TransactItems"]
            for kind, body in item.items()
        ]
    statements = {
        "ExecuteStatement": [params.get("Statement", "")],
        "BatchExecuteStatement": [s["Statement"] for s in params.get("Statements", [])],
        "ExecuteTransaction": [s["Statement"] for s in params.get("TransactStatements", [])],
    }.get(operation)
    if statements is None:
        return None
    requests = []
    for statement in statements:
        found = _PARTIQL.match(statement)
        assert found, f"a PartiQL statement this harness cannot read: {statement!r}"
        requests.append((f"dynamodb:PartiQL{found[1].capitalize()}", table(found[2])))
    return requests


def decide(policy: dict[str, Any], principal: str, action: str, resource: str, **keys: str) -> str:
    context = {
        "aws:PrincipalArn": principal,
        "aws:PrincipalAccount": ACCOUNT,
        "aws:PrincipalIsAWSService": "false",  # in every request AWS authorizes; a role is no service
        "aws:SecureTransport": "true",
        **keys,
    }
    return evaluate({"resource": policy}, action, resource, context).decision


def act_as(client: Any, principal: str, policy: dict[str, Any]) -> Any:
    """`client`, its calls made as `principal` under `policy` (see the module's doc)."""
    service = client.meta.service_model.signing_name
    region = client.meta.region_name

    def check(params: dict[str, Any], model: Any, **_: Any) -> None:
        action = f"{service}:{model.name}"
        requests = (_dynamodb_requests(region, model.name, params) if service == "dynamodb" else None) or [
            (_ACTIONS.get(action, action), _resource_arn(service, region, params))
        ]
        keys = {"s3:if-none-match": params["IfNoneMatch"]} if "IfNoneMatch" in params else {}
        for action, resource in requests:
            if decide(policy, principal, action, resource, **keys) == "Deny":
                message = (
                    f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
                    "with an explicit deny in a resource-based policy"
                )
                error: Any = {"Error": {"Code": _DENIED.get(service, "AccessDeniedException"), "Message": message}}
                raise ClientError(error, model.name)

    client.meta.events.register(f"before-parameter-build.{client.meta.service_model.service_id.hyphenize()}", check)
    return client
