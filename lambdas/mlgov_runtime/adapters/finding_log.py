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

    def entries(self, finding_id: str) -> list[dict[str, Any]]:
        item = self._ddb.get_item(TableName=self._table, Key={"finding_id": {"S": finding_id}}).get("Item", {})
        return [json.loads(e["S"]) for e in item.get("remediation_log", {}).get("L", [])]
