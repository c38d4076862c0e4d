"""Notifier state in DynamoDB: when each finding last went to each target, and which SQS
messages already reached which target (so a retried message resends nothing)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mlgov_runtime.core.routing import Delivery

MESSAGE_MARKER_TTL = timedelta(days=4)  # longer than the queue's retention


def _key(*parts: str) -> dict[str, Any]:
    return {"pk": {"S": "#".join(parts)}}


class DynamoDeliveryState:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._ddb = dynamodb
        self._table = table_name

    def last_sent(self, finding_id: str, delivery: Delivery) -> tuple[datetime | None, str | None]:
        item = self._ddb.get_item(
            TableName=self._table, Key=_key("sent", finding_id, delivery.channel, delivery.target), ConsistentRead=True
        ).get("Item")
        if not item:
            return None, None
        return datetime.fromisoformat(item["sent_at"]["S"]), item.get("status", {}).get("S")

    def mark_sent(self, finding_id: str, delivery: Delivery, status: str, now: datetime) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                **_key("sent", finding_id, delivery.channel, delivery.target),
                "sent_at": {"S": now.isoformat()},
                "status": {"S": status},
            },
        )

    def delivered(self, message_id: str, delivery: Delivery) -> bool:
        item = self._ddb.get_item(
            TableName=self._table, Key=_key("msg", message_id, delivery.channel, delivery.target), ConsistentRead=True
        ).get("Item")
        return item is not None

    def mark_delivered(self, message_id: str, delivery: Delivery, now: datetime) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                **_key("msg", message_id, delivery.channel, delivery.target),
                "expiration": {"N": str(int((now + MESSAGE_MARKER_TTL).timestamp()))},
            },
        )
