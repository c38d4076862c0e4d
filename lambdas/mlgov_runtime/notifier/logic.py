"""Deliver one finding to every channel its route names, each channel on its own.

Shared by the notifier Lambda and `mlgov notify send`. Channels, state and clock are injected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from mlgov_runtime.core.routing import Delivery, RoutingPolicy

REQUIRED_FINDING_KEYS = (
    "finding_id",
    "kind",
    "severity",
    "account_id",
    "region",
    "resource_arn",
    "title",
    "detail",
    "detected_at",
    "source",
)


class InvalidFinding(ValueError):
    pass


class Channel(Protocol):
    def send(self, finding: dict[str, Any], target: str) -> str:
        """Deliver; return what happened in a few words. Raise on failure."""
        ...


class DeliveryState(Protocol):
    def last_sent(self, finding_id: str, delivery: Delivery) -> tuple[datetime | None, str | None]: ...
    def mark_sent(self, finding_id: str, delivery: Delivery, status: str, now: datetime) -> None: ...
    def delivered(self, message_id: str, delivery: Delivery) -> bool: ...
    def mark_delivered(self, message_id: str, delivery: Delivery, now: datetime) -> None: ...


class MemoryState:
    """State for one CLI run (the Lambda keeps it in DynamoDB)."""

    def __init__(self) -> None:
        self.sent: dict[tuple[str, Delivery], tuple[datetime, str]] = {}
        self.messages: set[tuple[str, Delivery]] = set()

    def last_sent(self, finding_id: str, delivery: Delivery) -> tuple[datetime | None, str | None]:
        return self.sent.get((finding_id, delivery), (None, None))

    def mark_sent(self, finding_id: str, delivery: Delivery, status: str, now: datetime) -> None:
        self.sent[(finding_id, delivery)] = (now, status)

    def delivered(self, message_id: str, delivery: Delivery) -> bool:
        return (message_id, delivery) in self.messages

    def mark_delivered(self, message_id: str, delivery: Delivery, now: datetime) -> None:
        self.messages.add((message_id, delivery))


@dataclass
class DeliveryReport:
    outcomes: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> list[str]:
        return [k for k, v in self.outcomes.items() if v.startswith("failed")]


def validate_finding(finding: Any) -> dict[str, Any]:
    if not isinstance(finding, dict):
        raise InvalidFinding(f"a finding is a JSON object, got {type(finding).__name__}")
    missing = [k for k in REQUIRED_FINDING_KEYS if not finding.get(k)]
    if missing:
        raise InvalidFinding(f"finding lacks {', '.join(missing)}")
    return finding


def deliver_finding(
    finding: dict[str, Any],
    deliveries: list[Delivery],
    channels: Mapping[str, Channel],
    state: DeliveryState,
    policy: RoutingPolicy,
    message_id: str,
    now: datetime,
) -> DeliveryReport:
    """Every delivery is tried even when another fails; a retry of the same message skips
    what already went out, so a crash mid-way resends nothing twice."""
    report = DeliveryReport()
    status = finding.get("status", "OPEN")
    for delivery in deliveries:
        key = f"{delivery.channel}:{delivery.target}"
        if state.delivered(message_id, delivery):
            report.outcomes[key] = "already delivered"
            continue
        last_at, last_status = state.last_sent(finding["finding_id"], delivery)
        if policy.suppressed(finding, last_at, last_status, now):
            report.outcomes[key] = "suppressed: same finding within the de-duplication window"
            state.mark_delivered(message_id, delivery, now)
            continue
        channel = channels.get(delivery.channel)
        if channel is None:
            report.outcomes[key] = f"failed: channel {delivery.channel} is not configured"
            continue
        try:
            outcome = channel.send(finding, delivery.target)
        except Exception as exc:  # each channel on its own: one outage never blocks another
            report.outcomes[key] = f"failed: {exc}"
            continue
        state.mark_sent(finding["finding_id"], delivery, status, now)
        state.mark_delivered(message_id, delivery, now)
        report.outcomes[key] = f"ok: {outcome}"
    return report
