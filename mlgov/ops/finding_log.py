"""Remediation steps appended to stored findings (the `remediation_log` list of their items)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError


class FindingLog:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._ddb, self._table = dynamodb, table_name

    def append(self, finding_id: str, entry: dict[str, Any]) -> bool:
        """False when no finding with this id is stored (nothing to log to)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"finding_id": {"S": finding_id}},
                UpdateExpression="SET remediation_log = list_append(if_not_exists(remediation_log, :empty), :entry)",
                ConditionExpression="attribute_exists(finding_id)",
                ExpressionAttributeValues={
                    ":empty": {"L": []},
                    ":entry": {"L": [{"S": json.dumps(entry, sort_keys=True, default=str)}]},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    PROBE_ID = "mlgov-preflight-probe"  # never stored: the probe's condition fails before anything is written

    def probe(self) -> str | None:
        """Can this caller write to the table? None if so, else why not. UpdateItem on an absent key under
        attribute_exists: DynamoDB checks the table and the caller's dynamodb:UpdateItem before the condition,
        so ConditionalCheckFailed proves both and writes nothing."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"finding_id": {"S": self.PROBE_ID}},
                UpdateExpression="SET probe = :p",
                ConditionExpression="attribute_exists(finding_id)",
                ExpressionAttributeValues={":p": {"S": "x"}},
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "ConditionalCheckFailedException":
                return None
            return f"{error.get('Code')}: {error.get('Message')}"
        return "the probe item exists in the table (it should never be stored); delete it"

    def entries(self, finding_id: str) -> list[dict[str, Any]]:
        item = self._ddb.get_item(TableName=self._table, Key={"finding_id": {"S": finding_id}}).get("Item", {})
        return [json.loads(e["S"]) for e in item.get("remediation_log", {}).get("L", [])]
