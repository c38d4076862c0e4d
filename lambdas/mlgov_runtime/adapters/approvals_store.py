"""The approvals store (DynamoDB, KMS-encrypted): the only place a task token is kept. Reads return the
request without its token; only a successful conditional decision hands the token to its caller."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from botocore.exceptions import ClientError

from mlgov_runtime.approvals.logic import PENDING, ApprovalRequest, TaskGone

_FIELDS = ("decision", "subject", "execution_arn", "requested_by", "requested_at", "expires_at", "status")
_OPTIONAL = ("decided_by", "decided_at", "channel", "comment")


class DynamoApprovals:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._ddb, self._table = dynamodb, table

    def create(self, request: ApprovalRequest, token: str, expires_epoch: int) -> None:
        """Once per request id: a retried step does not overwrite a decision already taken."""
        item = {k: {"S": str(getattr(request, k))} for k in ("request_id", *_FIELDS)}
        item["task_token"] = {"S": token}
        item["expiration"] = {"N": str(expires_epoch)}
        try:
            self._ddb.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(request_id)")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    @staticmethod
    def _request(item: dict[str, Any]) -> ApprovalRequest:
        values = {k: item[k]["S"] for k in ("request_id", *_FIELDS)}
        values.update({k: item[k]["S"] for k in _OPTIONAL if k in item})
        return ApprovalRequest(**values)

    def get(self, request_id: str) -> ApprovalRequest | None:
        item = self._ddb.get_item(TableName=self._table, Key={"request_id": {"S": request_id}}, ConsistentRead=True)
        return self._request(item["Item"]) if "Item" in item else None

    def settle(
        self, request_id: str, status: str, decided_by: str, decided_at: str, channel: str, comment: str
    ) -> str | None:
        try:
            answer = self._ddb.update_item(
                TableName=self._table,
                Key={"request_id": {"S": request_id}},
                UpdateExpression="SET #s = :s, decided_by = :by, decided_at = :at, channel = :ch, #c = :c",
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status", "#c": "comment"},
                ExpressionAttributeValues={
                    ":s": {"S": status},
                    ":by": {"S": decided_by},
                    ":at": {"S": decided_at},
                    ":ch": {"S": channel},
                    ":c": {"S": comment},
                    ":pending": {"S": PENDING},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return str(answer["Attributes"]["task_token"]["S"])


class StepFunctionsAnswers:
    def __init__(self, sfn: Any) -> None:
        self._sfn = sfn

    def _call(self, method: str, **kwargs: Any) -> None:
        try:
            getattr(self._sfn, method)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
                raise TaskGone(code) from None
            raise

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        self._call("send_task_success", taskToken=token, output=json.dumps(output))

    def fail(self, token: str, error: str, cause: str) -> None:
        self._call("send_task_failure", taskToken=token, error=error, cause=cause[:32768])


def signing_secret(secretsmanager: Any, arn: str) -> str:
    return str(secretsmanager.get_secret_value(SecretId=arn)["SecretString"])


def post_json(url: str, body: dict[str, Any], timeout: float = 5.0) -> int:
    """One POST (Slack's response_url); the status (0: unreachable), never raising: the decision stands."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


class ExecutionReader:
    """DescribeExecution, for steps that verify they belong to a running execution of their own machine."""

    def __init__(self, sfn: Any) -> None:
        self._sfn = sfn

    def describe(self, execution_arn: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self._sfn.describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("ExecutionDoesNotExist", "InvalidArn"):
                return None
            raise
        return found
