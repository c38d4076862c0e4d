"""The approvals store (DynamoDB, KMS-encrypted): the only place a task token is kept. Reads return the
request without its token; only a successful conditional decision hands the token to its caller."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlgov_runtime.approvals.logic import PENDING, AnswerFailed, ApprovalRequest, MalformedRecord, TaskGone

_FIELDS = ("decision", "subject", "execution_arn", "requested_by", "requested_at", "expires_at", "status")
_OPTIONAL = ("decided_by", "decided_at", "channel", "comment", "requester_mac", "decision_mac", "bound", "decided_via")


DELIVERED = "answered"  # the mark of an answer Step Functions took (else gone:<code>)


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _token(item: dict[str, Any], request_id: str) -> str:
    """The task token a record holds; one missing or not a string (written out of band) is refused by name, never
    handed to Step Functions or shown."""
    value = item.get("task_token")
    if not (isinstance(value, dict) and isinstance(value.get("S"), str)):
        kind = next(iter(value), "?") if isinstance(value, dict) and value else type(value).__name__
        raise MalformedRecord(
            request_id, "task_token", "is missing" if value is None else f"is of type {kind}, not a string (S)"
        )
    return str(value["S"])


class DynamoApprovals:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._ddb, self._table = dynamodb, table

    def open(self, request: ApprovalRequest, expires_epoch: int) -> bool:
        """The approval service opens a request for its verified requester (with the requester MAC), before
        the execution exists; False if the id is taken."""
        item = {k: {"S": str(getattr(request, k))} for k in ("request_id", *_FIELDS)}
        item["requester_mac"] = {"S": str(request.requester_mac)}
        item["expiration"] = {"N": str(expires_epoch)}
        return self._put_new(item)

    def _put_new(self, item: dict[str, Any]) -> bool:
        """Writes the item unless its request id is taken (then False: the first record stays)."""
        try:
            self._ddb.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(request_id)")
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            return False
        return True

    @staticmethod
    def _token_item(request: ApprovalRequest, token: str, expires_epoch: int) -> dict[str, Any]:
        item = {k: {"S": str(getattr(request, k))} for k in ("request_id", *_FIELDS)}
        item["bound"] = {"S": str(request.bound or "")}
        item["task_token"] = {"S": token}
        item["expiration"] = {"N": str(expires_epoch)}
        return item

    def create(self, request: ApprovalRequest, token: str, expires_epoch: int) -> None:
        """The waiting step attaches its token to the request the service opened (never its requester). With
        no opened request it writes one without a requester, which can never be approved. A retried step
        replaces only the token of its own undecided request (`_retoken`), never a decision."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"request_id": {"S": request.request_id}},
                UpdateExpression=(
                    "SET task_token = :t, expires_at = :e, requested_at = :r, expiration = :x, bound = :b"
                ),
                ConditionExpression="attribute_exists(request_id) AND attribute_not_exists(task_token)",
                ExpressionAttributeValues={
                    ":t": {"S": token},
                    ":e": {"S": request.expires_at},
                    ":r": {"S": request.requested_at},
                    ":x": {"N": str(expires_epoch)},
                    ":b": {"S": str(request.bound or "")},
                },
            )
            return
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
        if self._retoken(request, token):
            return
        item = self._token_item(request, token, expires_epoch)
        item["requested_by"] = {"S": ""}
        self._put_new(item)

    def open_with_token(self, request: ApprovalRequest, token: str, expires_epoch: int) -> ApprovalRequest:
        """A request the product itself opens (a challenger promotion), with its waiting step's token; once: a
        retried step keeps the first record (its decision), and only its own token while undecided. Returns the
        stored request."""
        if not self._put_new(self._token_item(request, token, expires_epoch)):
            self._retoken(request, token)
        return self.get(request.request_id) or request

    def _retoken(self, request: ApprovalRequest, token: str) -> bool:
        """A waiting step retried by Step Functions waits on a new token (the first attempt's is dead): it replaces
        the stored one while the same execution's request is still undecided. False when there is nothing to
        replace (no record, no token yet, another execution, or decided: the decision stays)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"request_id": {"S": request.request_id}},
                UpdateExpression="SET task_token = :t",
                ConditionExpression="attribute_exists(task_token) AND #s = :pending AND execution_arn = :ex",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":t": {"S": token},
                    ":pending": {"S": PENDING},
                    ":ex": {"S": request.execution_arn},
                },
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            return False
        return True

    @staticmethod
    def _request(item: dict[str, Any], request_id: str) -> ApprovalRequest:
        """The request a record holds; MalformedRecord naming the record and field when one is missing or is not
        a string (S)."""
        values: dict[str, str] = {}
        for k in ("request_id", *_FIELDS, *_OPTIONAL):
            if k not in item:
                if k in _OPTIONAL:
                    continue
                raise MalformedRecord(request_id, k, "is missing")
            value = item[k]
            if not (isinstance(value, dict) and isinstance(value.get("S"), str)):
                kind = next(iter(value), "?") if isinstance(value, dict) else type(value).__name__
                raise MalformedRecord(request_id, k, f"is of type {kind}, not a string (S)")
            values[k] = value["S"]
        return ApprovalRequest(**values)

    def get(self, request_id: str) -> ApprovalRequest | None:
        item = self._ddb.get_item(TableName=self._table, Key={"request_id": {"S": request_id}}, ConsistentRead=True)
        return self._request(item["Item"], request_id) if "Item" in item else None

    def settle(
        self,
        request_id: str,
        status: str,
        decided_by: str,
        decided_at: str,
        channel: str,
        comment: str,
        mac: str,
        via: str = "",
    ) -> str | None:
        try:
            answer = self._ddb.update_item(
                TableName=self._table,
                Key={"request_id": {"S": request_id}},
                UpdateExpression=(
                    "SET #s = :s, decided_by = :by, decided_at = :at, channel = :ch, #c = :c, decision_mac = :m"
                    + (", decided_via = :via" if via else "")
                ),
                ConditionExpression="#s = :pending AND attribute_exists(task_token)",
                ExpressionAttributeNames={"#s": "status", "#c": "comment"},
                ExpressionAttributeValues={
                    ":s": {"S": status},
                    ":by": {"S": decided_by},
                    ":at": {"S": decided_at},
                    ":ch": {"S": channel},
                    ":c": {"S": comment},
                    ":m": {"S": mac},
                    ":pending": {"S": PENDING},
                    **({":via": {"S": via}} if via else {}),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return None
            raise
        return _token(answer.get("Attributes", {}), request_id)

    def reclaim(self, request_id: str, status: str, decided_by: str, channel: str, mac: str = "") -> str | None:
        """The token again for the decision recorded as (status, decided_by, channel), with decision MAC `mac` when
        given (a write whose reply was lost), whose answer was never marked delivered or refused (a retry of the same
        press); counts the retries. None otherwise."""
        same = {":m": {"S": mac}} if mac else {}
        try:
            answer = self._ddb.update_item(
                TableName=self._table,
                Key={"request_id": {"S": request_id}},
                UpdateExpression="SET answer_retries = if_not_exists(answer_retries, :zero) + :one",
                ConditionExpression=(
                    "#s = :s AND decided_by = :by AND channel = :ch AND attribute_not_exists(answered) "
                    "AND attribute_exists(task_token)" + (" AND decision_mac = :m" if mac else "")
                ),
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":s": {"S": status},
                    ":by": {"S": decided_by},
                    ":ch": {"S": channel},
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                    **same,
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return None
            raise
        return _token(answer.get("Attributes", {}), request_id)

    def answered(self, request_id: str, how: str) -> None:
        """Never raising: the answer is already given; an unmarked one only lets a retry of the same press answer
        again, which Step Functions refuses once the task is closed. A delivery is never overwritten by a closed
        mark (two runs of one press in flight: the second finds the task the first answered closed)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"request_id": {"S": request_id}},
                UpdateExpression="SET answered = :a",
                ConditionExpression=(
                    "attribute_exists(request_id) AND (attribute_not_exists(answered) OR answered <> :done)"
                ),
                ExpressionAttributeValues={":a": {"S": how}, ":done": {"S": DELIVERED}},
            )
        except (ClientError, BotoCoreError):
            return


class KmsMacs:
    """HMAC_SHA_256 with the approvals MAC key (kms:GenerateMac: the service role only)."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms, self._key = kms, key_id

    def generate(self, message: bytes) -> str:
        answer = self._kms.generate_mac(KeyId=self._key, Message=message, MacAlgorithm="HMAC_SHA_256")
        return base64.b64encode(answer["Mac"]).decode()

    def verify(self, message: bytes, mac: str) -> bool:
        try:
            raw = base64.b64decode(mac, validate=True)
            answer = self._kms.verify_mac(KeyId=self._key, Message=message, MacAlgorithm="HMAC_SHA_256", Mac=raw)
        except (ValueError, TypeError):
            return False
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "KMSInvalidMacException":
                return False
            raise
        return bool(answer.get("MacValid"))


RETRYABLE = ("ThrottlingException", "ServiceUnavailable", "InternalFailure", "RequestLimitExceeded", "InternalError")


class StepFunctionsAnswers:
    """Answers a token after its decision is recorded: throttling and transient errors are retried with
    backoff; what still fails raises AnswerFailed (reported to the caller and logged), never a silent stall."""

    def __init__(self, sfn: Any, sleep: Callable[[float], None] = time.sleep, attempts: int = 5) -> None:
        self._sfn, self._sleep, self._attempts = sfn, sleep, attempts

    def _call(self, method: str, **kwargs: Any) -> None:
        for attempt in range(self._attempts):
            try:
                getattr(self._sfn, method)(**kwargs)
                return
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
                    raise TaskGone(code) from None
                if code not in RETRYABLE or attempt == self._attempts - 1:
                    raise AnswerFailed(f"{method} failed after {attempt + 1} attempt(s): {code}") from None
                self._sleep(0.2 * 2**attempt)
            except BotoCoreError as exc:
                # No answer at all (connection error, read timeout), after botocore's own retries: the decision
                # is written, so it is reported as not delivered, never raised as if nothing had been recorded.
                raise AnswerFailed(f"{method} got no answer: {type(exc).__name__}") from None

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


def hand_off(lambda_client: Any, function: str, payload: dict[str, Any]) -> str:
    """One asynchronous invoke (InvocationType=Event): "" once Lambda has queued the event, else why not.
    Never raising: the caller still has to answer Slack in time."""
    try:
        answer = lambda_client.invoke(
            FunctionName=function, InvocationType="Event", Payload=json.dumps(payload).encode()
        )
    except ClientError as exc:
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    except BotoCoreError as exc:  # connect or read timeout, endpoint unreachable
        return type(exc).__name__
    status = int(answer.get("StatusCode") or 0)
    return "" if status == 202 else f"Lambda answered {status}, not 202"


def own_function_url(lambda_client: Any, function_name: str) -> str:
    """The function URL Lambda serves `function_name` at (GetFunctionUrlConfig): what the approval service
    checks proofs against, never a host named in its event."""
    return str(lambda_client.get_function_url_config(FunctionName=function_name)["FunctionUrl"])


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
