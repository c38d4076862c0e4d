"""`mlgov notify send|test`: the notifier's delivery state kept in memory for one run."""

from __future__ import annotations

from datetime import datetime

from mlgov_runtime.core.routing import Delivery, Sent


class MemoryState:
    """State for one CLI run (the Lambda keeps it in DynamoDB)."""

    def __init__(self) -> None:
        self.sent: dict[tuple[str, Delivery], Sent] = {}
        self.messages: set[tuple[str, Delivery]] = set()

    def last_sent(self, finding_id: str, delivery: Delivery) -> Sent | None:
        return self.sent.get((finding_id, delivery))

    def mark_sent(self, finding_id: str, delivery: Delivery, sent: Sent) -> None:
        self.sent[(finding_id, delivery)] = sent

    def delivered(self, message_id: str, delivery: Delivery) -> bool:
        return (message_id, delivery) in self.messages

    def mark_delivered(self, message_id: str, delivery: Delivery, now: datetime) -> None:
        self.messages.add((message_id, delivery))
