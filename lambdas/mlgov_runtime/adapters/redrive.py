"""The notifier's dead-letter queue: park a finding a channel refused (`mlgov notify redrive`,
mlgov/ops/redrive.py, moves it back).

Every message that leaves the dead-letter queue carries the id of the message it started as
(`mlgov_message_id`): the notifier keys its delivery markers on it, so a redriven finding skips
the targets it already reached and goes only where it is still missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

ORIGIN_ATTRIBUTE = "mlgov_message_id"
REJECTED_ATTRIBUTE = "mlgov_rejected"
MAX_ATTRIBUTES = 10  # SQS allows ten message attributes
_ATTRIBUTE_NAME = re.compile(r"(?!(?i:aws\.|amazon\.))[A-Za-z0-9_-][A-Za-z0-9_.-]{0,255}")


def _sendable(name: str, value: str) -> bool:
    """SQS refuses the whole message for one attribute it cannot take: copy only the ones it can."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return bool(value) and _ATTRIBUTE_NAME.fullmatch(name) is not None and ".." not in name


def park(
    sqs: Any,
    dlq_url: str,
    body: str,
    origin_message_id: str,
    reason: str,
    attributes: Mapping[str, str] | None = None,
) -> None:
    """Put a finding a channel refused into the dead-letter queue, with why, for `mlgov notify redrive`."""
    message_attributes: dict[str, Any] = {
        name: {"DataType": "String", "StringValue": value}
        for name, value in (attributes or {}).items()
        if _sendable(name, value) and name not in (ORIGIN_ATTRIBUTE, REJECTED_ATTRIBUTE)
    }
    message_attributes = dict(list(message_attributes.items())[: MAX_ATTRIBUTES - 2])
    message_attributes[ORIGIN_ATTRIBUTE] = {"DataType": "String", "StringValue": origin_message_id}
    message_attributes[REJECTED_ATTRIBUTE] = {"DataType": "String", "StringValue": reason[:1000] or "rejected"}
    sqs.send_message(QueueUrl=dlq_url, MessageBody=body, MessageAttributes=message_attributes)
