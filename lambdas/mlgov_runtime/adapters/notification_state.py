"""Notifier state in DynamoDB: what last went to each target for each finding (when, status,
fingerprint), which SQS messages already reached which target (so a retried or redriven
message resends nothing), and the Jira issue created for each finding until it is closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from mlgov_runtime.adapters.notifiers import SEARCH_SETTLE
from mlgov_runtime.core.routing import Delivery, Sent

# Longer than the notifier queues keep a message (14 days): a finding redriven from the
# dead-letter queue on its last day still skips the targets it reached.
MESSAGE_MARKER_TTL = timedelta(days=15)


def _key(*parts: str) -> dict[str, Any]:
    return {"pk": {"S": "#".join(parts)}}


class DynamoDeliveryState:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._ddb = dynamodb
        self._table = table_name

    def last_sent(self, finding_id: str, delivery: Delivery) -> Sent | None:
        item = self._ddb.get_item(
            TableName=self._table, Key=_key("sent", finding_id, delivery.channel, delivery.target), ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return Sent(
            datetime.fromisoformat(item["sent_at"]["S"]),
            item.get("status", {}).get("S", ""),
            item.get("fingerprint", {}).get("S"),
        )

    def mark_sent(self, finding_id: str, delivery: Delivery, sent: Sent) -> None:
        item = {
            **_key("sent", finding_id, delivery.channel, delivery.target),
            "sent_at": {"S": sent.at.isoformat()},
            "status": {"S": sent.status},
        }
        if sent.fingerprint:
            item["fingerprint"] = {"S": sent.fingerprint}
        self._ddb.put_item(TableName=self._table, Item=item)

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

    def open_issue(self, project: str, finding_id: str) -> str | None:
        item = self._ddb.get_item(
            TableName=self._table, Key=_key("jira", project, finding_id), ConsistentRead=True
        ).get("Item")
        key = (item or {}).get("issue_key", {}).get("S")
        return str(key) if key and (item or {}).get("open", {}).get("BOOL") else None

    def remember_issue(self, project: str, finding_id: str, key: str | None) -> None:
        # A put either way (the role has no DeleteItem): a closed issue's record says so.
        item: dict[str, Any] = {**_key("jira", project, finding_id), "open": {"BOOL": bool(key)}}
        if key:
            item["issue_key"] = {"S": key}
        self._ddb.put_item(TableName=self._table, Item=item)

    def create_sent(self, project: str, finding_id: str) -> datetime | None:
        item = self._ddb.get_item(
            TableName=self._table, Key=_key("jira", project, finding_id), ConsistentRead=True
        ).get("Item")
        raw = (item or {}).get("create_sent_at", {}).get("S")
        try:
            at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            return None
        return at if at is not None and at.tzinfo is not None else None

    def remember_create(self, project: str, finding_id: str, at: datetime) -> bool:
        at = at.astimezone(UTC)
        item = {**_key("jira", project, finding_id), "open": {"BOOL": False}, "create_sent_at": {"S": at.isoformat()}}
        # ISO times in UTC compare as strings do; an issue recorded open is never created again. A marker no
        # notifier wrote (not a string, not UTC, further ahead than SEARCH_SETTLE) counts as expired, and a record
        # open_issue reads as no issue (no string key) as closed: neither holds the finding's create for good.
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression=(
                    "(attribute_not_exists(create_sent_at) OR NOT attribute_type(create_sent_at, :string) "
                    "OR NOT contains(create_sent_at, :utc) OR create_sent_at < :settled OR create_sent_at > :ahead) "
                    "AND NOT (#open = :open AND attribute_type(issue_key, :string) AND size(issue_key) > :zero)"
                ),
                ExpressionAttributeNames={"#open": "open"},
                ExpressionAttributeValues={
                    ":string": {"S": "S"},
                    ":utc": {"S": "+00:00"},
                    ":settled": {"S": (at - SEARCH_SETTLE).isoformat()},
                    ":ahead": {"S": (at + SEARCH_SETTLE).isoformat()},
                    ":open": {"BOOL": True},
                    ":zero": {"N": "0"},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
