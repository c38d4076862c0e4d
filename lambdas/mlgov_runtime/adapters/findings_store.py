"""Findings: stored in DynamoDB (one item per finding_id) and published on the SNS channel.

Publication is crash-safe: an item remembers the fingerprint it last published, so a retry
after a crash between store and publish publishes again, and a plain re-detection does not.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from botocore.exceptions import ClientError

from mlgov_runtime.core.findings import STATUS_OPEN, STATUS_RESOLVED, Finding, utc_now_iso


class FindingsStore:
    def __init__(self, dynamodb: Any, sns: Any, table_name: str, topic_arn: str) -> None:
        self._ddb = dynamodb
        self._sns = sns
        self._table = table_name
        self._topic = topic_arn

    def record(self, finding: Finding) -> bool:
        """Store the finding. True when this version of it has not been published yet.

        A RESOLVED finding only updates an existing item: there is nothing to close otherwise.
        """
        fingerprint = finding.fingerprint()
        now = utc_now_iso()
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":kind": {"S": finding.kind},
            ":severity": {"S": finding.severity},
            ":status": {"S": finding.status},
            ":account": {"S": finding.account_id},
            ":region": {"S": finding.region},
            ":arn": {"S": finding.resource_arn},
            ":title": {"S": finding.title},
            ":detail": {"S": finding.detail},
            ":source": {"S": finding.source},
            ":finding": {"S": json.dumps(finding.to_dict(), sort_keys=True, default=str)},
            ":fp": {"S": fingerprint},
            ":now": {"S": now},
            ":one": {"N": "1"},
        }
        update = (
            "SET kind = :kind, severity = :severity, #status = :status, account_id = :account, "
            "#region = :region, resource_arn = :arn, title = :title, detail = :detail, #source = :source, "
            "finding = :finding, fingerprint = :fp, last_detected_at = :now, "
            "first_detected_at = if_not_exists(first_detected_at, :now) ADD detection_count :one"
        )
        names.update({"#region": "region", "#source": "source"})
        kwargs: dict[str, Any] = {}
        if finding.status == STATUS_RESOLVED:
            # Close only what is open, or a closing whose publication did not go out.
            kwargs["ConditionExpression"] = (
                "attribute_exists(finding_id) AND (#status = :open OR attribute_not_exists(published_fingerprint) "
                "OR published_fingerprint <> fingerprint)"
            )
            values[":open"] = {"S": STATUS_OPEN}
        try:
            item = self._ddb.update_item(
                TableName=self._table,
                Key={"finding_id": {"S": finding.finding_id}},
                UpdateExpression=update,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
                **kwargs,
            ).get("Attributes", {})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return item.get("published_fingerprint", {}).get("S") != fingerprint

    def publish(self, finding: Finding) -> None:
        body = finding.to_dict()
        self._sns.publish(
            TopicArn=self._topic,
            Subject=finding.title[:99],
            Message=json.dumps(body, sort_keys=True, default=str),
            MessageAttributes={
                "kind": {"DataType": "String", "StringValue": finding.kind},
                "severity": {"DataType": "String", "StringValue": finding.severity},
                "status": {"DataType": "String", "StringValue": finding.status},
                "account_id": {"DataType": "String", "StringValue": finding.account_id},
            },
        )
        self._ddb.update_item(
            TableName=self._table,
            Key={"finding_id": {"S": finding.finding_id}},
            UpdateExpression="SET published_fingerprint = :fp, published_at = :now",
            ExpressionAttributeValues={":fp": {"S": finding.fingerprint()}, ":now": {"S": utc_now_iso()}},
        )

    def get(self, finding_id: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(TableName=self._table, Key={"finding_id": {"S": finding_id}}).get("Item")
        if not item:
            return None
        return {k: next(iter(v.values())) for k, v in item.items()}

    def open_findings(self, kinds: Iterable[str]) -> Iterator[dict[str, Any]]:
        """Every OPEN finding of these kinds (a scan closes the ones it no longer sees)."""
        wanted = sorted(set(kinds))
        if not wanted:
            return
        values: dict[str, Any] = {":open": {"S": STATUS_OPEN}}
        values.update({f":k{i}": {"S": kind} for i, kind in enumerate(wanted)})
        pages = self._ddb.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression=f"#status = :open AND kind IN ({', '.join(f':k{i}' for i in range(len(wanted)))})",
            ProjectionExpression="finding_id, kind, severity, account_id, #region, resource_arn, title",
            ExpressionAttributeNames={"#status": "status", "#region": "region"},
            ExpressionAttributeValues=values,
        )
        for page in pages:
            for item in page.get("Items", []):
                yield {k: next(iter(v.values())) for k, v in item.items()}


def stored_status(dynamodb: Any, table_name: str, finding_id: str) -> str | None:
    """The status of the finding as the producers stored it (OPEN / RESOLVED), or None when absent."""
    item = dynamodb.get_item(
        TableName=table_name,
        Key={"finding_id": {"S": finding_id}},
        ProjectionExpression="#status",
        ExpressionAttributeNames={"#status": "status"},
        ConsistentRead=True,
    ).get("Item")
    return str(item["status"]["S"]) if item and "status" in item else None


class ChannelSettings(Protocol):
    @property
    def findings_table(self) -> str: ...
    @property
    def findings_topic_arn(self) -> str: ...


def channel_store(settings: ChannelSettings) -> FindingsStore:
    """The findings table and topic of this function's own (governance) account: every producer's store."""
    from mlgov_runtime.adapters.aws import context_for

    home = context_for(None)
    return FindingsStore(
        home.client("dynamodb"), home.client("sns"), settings.findings_table, settings.findings_topic_arn
    )
