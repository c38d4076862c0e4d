"""`mlgov notify redrive`: move messages from the notifier's dead-letter queue back to the notifier queue
without losing any (each is deleted from the dead-letter queue only after the notifier queue accepted it), and
only those a trusted producer sent. The notifier parks them with mlgov_runtime.adapters.redrive.park."""

from __future__ import annotations

import contextlib
import fnmatch
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlgov.ops.refusal import is_refused
from mlgov_runtime.adapters.redrive import MAX_ATTRIBUTES, ORIGIN_ATTRIBUTE, REJECTED_ATTRIBUTE

# The queue policy statements (stacks/building_blocks.py, stacks/notifier.py) that name who may send.
PRODUCER_STATEMENTS = ("OnlyItsProducersSend", "OnlyTheFindingsTopicSends")


def producer_role_patterns(sqs: Any, queue_urls: Iterable[str]) -> list[str]:
    """The role ARNs (wildcards allowed) the queues' own policies let send: the notifier, which parks
    findings in its dead-letter queue, and the redrive roles, whose messages may come back there."""
    patterns: list[str] = []
    for url in queue_urls:
        text = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {}).get("Policy")
        for statement in json.loads(text or "{}").get("Statement", []):
            if statement.get("Sid") not in PRODUCER_STATEMENTS:
                continue
            for block in (statement.get("Condition") or {}).values():
                value = block.get("aws:PrincipalArn", [])
                patterns += [value] if isinstance(value, str) else list(value)
    return list(dict.fromkeys(patterns))


def role_ids(iam: Any, patterns: Iterable[str]) -> dict[str, str]:
    """The unique ids (AROA...) of this account's roles that match the ARN patterns: SQS's SenderId of a
    message an assumed role sent starts with it."""
    found: dict[str, str] = {}
    for pattern in patterns:
        name = pattern.split(":role", 1)[-1].split("*", 1)[0]  # the path and name before any wildcard
        prefix = name[: name.rfind("/") + 1] or "/"
        for page in iam.get_paginator("list_roles").paginate(PathPrefix=prefix):
            for role in page.get("Roles", []):
                # ARN patterns carry "*" for partition and account: match the role's ARN against them.
                if fnmatch.fnmatchcase(role["Arn"], pattern):
                    found[role["RoleId"]] = role["Arn"]
    return found


@dataclass
class Kept:
    message_id: str
    sender_id: str
    why: str


@dataclass
class RedriveOutcome:
    moved: int = 0
    kept: list[Kept] = field(default_factory=list)


class RedriveStopped(Exception):
    """A call failed part-way. `outcome` holds what moved and was kept before it; `in_flight` the message that
    call was about (None for a receive); `sent` whether that message already went back to the notifier queue
    (its DeleteMessage failed: it is in both queues); `maybe_sent` whether a failed SendMessage may have been
    taken (its answer lost, or a server error: not AWS's refusal)."""

    def __init__(self, step: str, cause: Exception, outcome: RedriveOutcome, in_flight: str | None, sent: bool):
        super().__init__(f"{step}: {cause}")
        self.step, self.cause, self.outcome, self.in_flight, self.sent = step, cause, outcome, in_flight, sent
        self.maybe_sent = step == "SendMessage" and not is_refused(cause)


def sender_allowed(sender_id: str, allowed: Mapping[str, str]) -> bool:
    return bool(sender_id) and (sender_id in allowed or sender_id.split(":", 1)[0] in allowed)


def redrive(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    senders: Mapping[str, str] | None = None,
    outcome: RedriveOutcome | None = None,
) -> int:
    """Move messages back; with `senders` (principal id -> who), only those a trusted producer sent: the
    others stay in the dead-letter queue, listed in `outcome.kept`. A failed call raises RedriveStopped with
    what was done before it."""
    outcome = outcome if outcome is not None else RedriveOutcome()
    kept_receipts: dict[str, str] = {}
    step, in_flight, sent = "ReceiveMessage", None, False
    try:
        while limit is None or outcome.moved < limit:
            step, in_flight, sent = "ReceiveMessage", None, False
            batch = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=10 if limit is None else max(1, min(10, limit - outcome.moved)),
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["SenderId"],
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                if senders is not None:
                    sender = (message.get("Attributes") or {}).get("SenderId", "")
                    if not sender_allowed(sender, senders):
                        if message["MessageId"] not in kept_receipts:
                            outcome.kept.append(
                                Kept(message["MessageId"], sender or "unknown", "not sent by the notifier's roles")
                            )
                        kept_receipts[message["MessageId"]] = message["ReceiptHandle"]
                        continue
                attributes = dict(message.get("MessageAttributes") or {})
                attributes.pop(REJECTED_ATTRIBUTE, None)
                if ORIGIN_ATTRIBUTE not in attributes and len(attributes) < MAX_ATTRIBUTES:
                    attributes[ORIGIN_ATTRIBUTE] = {"DataType": "String", "StringValue": message["MessageId"]}
                kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": message["Body"]}
                if attributes:
                    kwargs["MessageAttributes"] = attributes
                step, in_flight, sent = "SendMessage", message["MessageId"], False
                sqs.send_message(**kwargs)
                step, sent = "DeleteMessage", True
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
                outcome.moved += 1
                if progress:
                    progress(outcome.moved)
        step, in_flight, sent = "ChangeMessageVisibility", None, False
        _show(sqs, dlq_url, kept_receipts.values())
    except (ClientError, BotoCoreError) as exc:
        if step != "ChangeMessageVisibility":
            with contextlib.suppress(ClientError, BotoCoreError):  # best effort: the failure is what is reported
                _show(sqs, dlq_url, kept_receipts.values())
        raise RedriveStopped(step, exc, outcome, in_flight, sent) from exc
    return outcome.moved


def _show(sqs: Any, dlq_url: str, receipts: Iterable[str]) -> None:
    """The kept messages visible again at once, for whoever inspects them."""
    for receipt in receipts:
        sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=receipt, VisibilityTimeout=0)
