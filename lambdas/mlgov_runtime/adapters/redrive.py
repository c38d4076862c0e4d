"""Move messages from a dead-letter queue back to its source queue, without losing any:
each message is deleted from the DLQ only after the source queue accepted it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def redrive(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    moved = 0
    while limit is None or moved < limit:
        batch = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10 if limit is None else max(1, min(10, limit - moved)),
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            attributes = message.get("MessageAttributes") or {}
            kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": message["Body"]}
            if attributes:
                kwargs["MessageAttributes"] = attributes
            sqs.send_message(**kwargs)
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
            if progress:
                progress(moved)
    return moved
