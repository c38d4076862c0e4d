"""Findings: stored in DynamoDB (one item per finding_id) and published on the SNS channel.

Sizes end to end: docs/notifications.md (the item keeps the whole finding; SNS a cut one above MESSAGE_BODY_BYTES).

An item remembers the fingerprint it last published (docs/notifications.md).
Many findings at once (the org scan) go out with PublishBatch, ten a call; a finding SNS did not
take stays stored-but-unpublished.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from botocore.exceptions import ClientError

from mlgov_runtime.adapters.notifiers import sns_subject
from mlgov_runtime.core.findings import STATUS_OPEN, STATUS_RESOLVED, Finding, utc_now_iso

# SNS PublishBatch: at most 10 entries, and 262,144 bytes for one message and for the batch's sum,
# bodies and attributes counted (topics at the default MaximumMessageSize).
BATCH_ENTRIES = 10
BATCH_BYTES = 262_144


# A body over this is cut (evidence first, then detail) so that the message and its attributes always fit.
MESSAGE_BODY_BYTES = BATCH_BYTES - 4_096


def _body(finding: Finding) -> str:
    """The finding as JSON, within MESSAGE_BODY_BYTES: a message SNS refuses would fail every publish of it,
    and the next run's, for good. The stored item keeps the whole finding."""
    body = finding.to_dict()
    text = json.dumps(body, sort_keys=True, default=str)
    if len(text.encode("utf-8")) <= MESSAGE_BODY_BYTES:
        return text
    where = f"too large for one SNS message; the whole finding is item {finding.finding_id} in the findings table"
    body["evidence"] = {"truncated": where}
    text = json.dumps(body, sort_keys=True, default=str)
    detail = str(body.get("detail", ""))
    while len(text.encode("utf-8")) > MESSAGE_BODY_BYTES and detail:
        # JSON escapes make a character cost 1-6 bytes: shrink by the measured ratio until it fits.
        detail = detail[: int(len(detail) * MESSAGE_BODY_BYTES / len(text.encode("utf-8"))) - 64]
        body["detail"] = detail + " [cut]"
        text = json.dumps(body, sort_keys=True, default=str)
    return text


def _message(finding: Finding) -> dict[str, Any]:
    return {
        "Subject": sns_subject(finding.title),  # a title can hold non-ASCII or a newline: SNS refuses both
        "Message": _body(finding),
        "MessageAttributes": {
            "kind": {"DataType": "String", "StringValue": finding.kind},
            "severity": {"DataType": "String", "StringValue": finding.severity},
            "status": {"DataType": "String", "StringValue": finding.status},
            "account_id": {"DataType": "String", "StringValue": finding.account_id},
        },
    }


def message_bytes(message: dict[str, Any]) -> int:
    """What SNS counts against its size limit: the body and every attribute's name, type and value
    (the subject too, to stay on the safe side)."""
    size = len(message["Message"].encode("utf-8")) + len(message["Subject"].encode("utf-8"))
    for name, value in message["MessageAttributes"].items():
        size += len(name.encode("utf-8")) + len(value["DataType"]) + len(value["StringValue"].encode("utf-8"))
    return size


def batches(findings: Sequence[Finding]) -> Iterator[list[tuple[Finding, dict[str, Any]]]]:
    """Findings with their messages in PublishBatch groups: <= 10 entries, <= 256 KiB in all, one id once
    (a finding and its repeat in one batch would race for the same mark)."""
    group: list[tuple[Finding, dict[str, Any]]] = []
    size = 0
    for finding in findings:
        message = _message(finding)
        n = message_bytes(message)
        ids = {f.finding_id for f, _ in group}
        if group and (len(group) == BATCH_ENTRIES or size + n > BATCH_BYTES or finding.finding_id in ids):
            yield group
            group, size = [], 0
        group.append((finding, message))
        size += n
    if group:
        yield group


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
            ":source": {"S": finding.source},
            ":finding": {"S": json.dumps(finding.to_dict(), sort_keys=True, default=str)},
            ":fp": {"S": fingerprint},
            ":now": {"S": now},
            ":one": {"N": "1"},
        }
        update = (
            "SET kind = :kind, severity = :severity, #status = :status, account_id = :account, "
            "#region = :region, resource_arn = :arn, title = :title, #source = :source, "
            "finding = :finding, fingerprint = :fp, last_detected_at = :now, "
            "first_detected_at = if_not_exists(first_detected_at, :now) ADD detection_count :one "
            # The detail lives once, in `finding`: a second copy halved the finding an item (400 KB) can hold.
            # Items written before kept a `detail` attribute; it goes at their next update.
            "REMOVE detail"
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
        self._sns.publish(TopicArn=self._topic, **_message(finding))
        self.mark_published([finding])

    def publish_batch(self, findings: Sequence[Finding]) -> list[Finding]:
        """Publish with PublishBatch (groups within SNS's limits) and mark each that went out; those. One SNS
        refused stays stored-but-unpublished: the next run publishes it."""
        sent: list[Finding] = []
        for group in batches(findings):
            entries = [{"Id": str(i), **message} for i, (_, message) in enumerate(group)]
            answer = self._sns.publish_batch(TopicArn=self._topic, PublishBatchRequestEntries=entries)
            ok = {entry["Id"] for entry in answer.get("Successful", [])}
            went = [finding for i, (finding, _) in enumerate(group) if str(i) in ok]
            self.mark_published(went)
            sent += went
        return sent

    def mark_published(self, findings: Sequence[Finding], rolled_up_in: str | None = None) -> None:
        """Remember these versions as told (`rolled_up_in`: through that run's summary, not one message each).
        One UpdateItem each: no transaction, so no conflict with a detector writing the same item meanwhile."""
        now = utc_now_iso()
        for finding in findings:
            values = {":fp": {"S": finding.fingerprint()}, ":now": {"S": now}}
            expression = "SET published_fingerprint = :fp, published_at = :now"
            if rolled_up_in:
                values[":run"] = {"S": rolled_up_in}
                expression += ", rolled_up_in = :run"
            else:
                expression += " REMOVE rolled_up_in"
            self._ddb.update_item(
                TableName=self._table,
                Key={"finding_id": {"S": finding.finding_id}},
                UpdateExpression=expression,
                ExpressionAttributeValues=values,
            )

    def get(self, finding_id: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(TableName=self._table, Key={"finding_id": {"S": finding_id}}).get("Item")
        if not item:
            return None
        return {k: next(iter(v.values())) for k, v in item.items()}

    def _scan_kinds(
        self, kinds: Iterable[str], condition: str, values: dict[str, Any], projection: str, names: dict[str, str]
    ) -> Iterator[dict[str, Any]]:
        """Every item of these kinds that also meets `condition` (a filtered Scan, page by page)."""
        wanted = sorted(set(kinds))
        if not wanted:
            return
        values = {**values, **{f":k{i}": {"S": kind} for i, kind in enumerate(wanted)}}
        pages = self._ddb.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression=f"kind IN ({', '.join(f':k{i}' for i in range(len(wanted)))}) AND {condition}",
            ProjectionExpression=projection,
            ExpressionAttributeValues=values,
            **({"ExpressionAttributeNames": names} if names else {}),
        )
        for page in pages:
            yield from page.get("Items", [])

    def open_findings(self, kinds: Iterable[str]) -> Iterator[dict[str, Any]]:
        """Every OPEN finding of these kinds (a scan closes the ones it no longer sees)."""
        for item in self._scan_kinds(
            kinds,
            "#status = :open",
            {":open": {"S": STATUS_OPEN}},
            "finding_id, kind, severity, account_id, #region, resource_arn, title",
            {"#status": "status", "#region": "region"},
        ):
            yield {k: next(iter(v.values())) for k, v in item.items()}

    def unpublished(self, kinds: Iterable[str], detected_before: str) -> Iterator[Finding]:
        """Findings of these kinds stored but never published in their stored version (a run that ran out
        of time, a crash between store and publish), last detected before `detected_before`."""
        for item in self._scan_kinds(
            kinds,
            "last_detected_at < :before AND "
            "(attribute_not_exists(published_fingerprint) OR published_fingerprint <> fingerprint)",
            {":before": {"S": detected_before}},
            "finding_id, finding",
            {},
        ):
            stored = item.get("finding", {}).get("S")
            if stored:
                yield finding_from_stored(json.loads(stored))


def finding_from_stored(body: dict[str, Any]) -> Finding:
    """The Finding a stored `finding` attribute holds (its fingerprint is the stored one: JSON in, JSON out)."""
    fields = Finding.__dataclass_fields__
    return Finding(**{k: v for k, v in body.items() if k in fields})


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
