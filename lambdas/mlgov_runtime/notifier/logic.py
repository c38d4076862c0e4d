"""Deliver one finding to every channel its route names, each on its own (the notifier Lambda and `mlgov notify
send`). Outcomes: `ok`, `failed` (retryable), `rejected` (for good), `already delivered`, `suppressed`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from mlgov_runtime.adapters.http import DeliveryError
from mlgov_runtime.core.findings import SEVERITIES, SOURCES, STATUS_OPEN, STATUS_RESOLVED
from mlgov_runtime.core.routing import Delivery, RoutingPolicy, Sent
from mlgov_runtime.notifier.messages import one_line

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
# finding_id becomes the Jira label mlgov-<finding_id> and a JQL string: no spaces, no quotes.
FINDING_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
KIND = re.compile(r"[A-Z][A-Z0-9_]{1,63}")
ACCOUNT_ID = re.compile(r"\d{12}")
REGION = re.compile(r"[a-z]{2,4}(-[a-z]+)+-\d{1,2}")
ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")
MAX_TEXT = 200_000  # per field: a finding is a message, not a data dump (evidence holds the detail)
MIN_DELIVERY_SECONDS = 3.0  # a delivery is not started with less time than this left


class InvalidFinding(ValueError):
    pass


class Channel(Protocol):
    def send(self, finding: dict[str, Any], target: str) -> str:
        """Deliver; return what happened in a few words. Raise on failure (DeliveryError says whether
        a retry can help)."""
        ...


class DeliveryState(Protocol):
    def last_sent(self, finding_id: str, delivery: Delivery) -> Sent | None: ...
    def mark_sent(self, finding_id: str, delivery: Delivery, sent: Sent) -> None: ...
    def delivered(self, message_id: str, delivery: Delivery) -> bool: ...
    def mark_delivered(self, message_id: str, delivery: Delivery, now: datetime) -> None: ...


@dataclass
class DeliveryReport:
    outcomes: dict[str, str] = field(default_factory=dict)
    errors: dict[str, DeliveryError] = field(default_factory=dict)  # failed or rejected, by delivery key

    @property
    def failed(self) -> list[str]:
        return [k for k, v in self.outcomes.items() if v.startswith("failed")]

    @property
    def rejected(self) -> list[str]:
        return [k for k, v in self.outcomes.items() if v.startswith("rejected")]

    @property
    def sent(self) -> int:
        return sum(1 for v in self.outcomes.values() if v.startswith("ok"))


def _text(finding: dict[str, Any], key: str) -> str:
    value = finding.get(key)
    if value is None or value == "":
        raise InvalidFinding(f"finding lacks {key}")
    if not isinstance(value, str):
        raise InvalidFinding(f"finding {key} must be a string, got {type(value).__name__}")
    if not one_line(value):
        raise InvalidFinding(f"finding {key} is blank")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidFinding(f"finding {key} is not valid Unicode text (it holds a lone surrogate)") from None
    if len(value) > MAX_TEXT:
        raise InvalidFinding(f"finding {key} is longer than {MAX_TEXT:,} characters")
    return value


def validate_finding(finding: Any) -> dict[str, Any]:
    """The CONTRACTS.md shape, with types: anything else is refused with one line naming the field."""
    if not isinstance(finding, dict):
        raise InvalidFinding(f"a finding is a JSON object, got {type(finding).__name__}")
    missing = [k for k in REQUIRED_FINDING_KEYS if finding.get(k) is None or finding.get(k) == ""]
    if missing:
        raise InvalidFinding(f"finding lacks {', '.join(missing)}")
    text = {k: _text(finding, k) for k in REQUIRED_FINDING_KEYS}
    checks = (
        (
            "finding_id",
            FINDING_ID.fullmatch(text["finding_id"]),
            "letters, digits, . _ - (at most 128; it becomes a Jira label)",
        ),
        ("kind", KIND.fullmatch(text["kind"]), "UPPER_SNAKE_CASE"),
        ("severity", text["severity"] in SEVERITIES, " | ".join(SEVERITIES)),
        ("source", text["source"] in SOURCES, " | ".join(SOURCES)),
        ("account_id", ACCOUNT_ID.fullmatch(text["account_id"]), "a 12-digit AWS account id"),
        ("region", REGION.fullmatch(text["region"]), "an AWS region name"),
        (
            "detected_at",
            ISO_UTC.fullmatch(text["detected_at"]),
            "an ISO-8601 time with a zone, e.g. 2026-11-27T09:00:00Z",
        ),
        ("resource_arn", text["resource_arn"].startswith("arn:") and len(text["resource_arn"]) <= 2048, "an ARN"),
    )
    for key, ok, what in checks:
        if not ok:
            raise InvalidFinding(f"finding {key} {_shown(text[key])} is not {what}")
    status = finding.get("status", STATUS_OPEN)
    if status not in (STATUS_OPEN, STATUS_RESOLVED):
        raise InvalidFinding(f"finding status {_shown(status)} is not {STATUS_OPEN} | {STATUS_RESOLVED}")
    if not isinstance(finding.get("evidence", {}), dict):
        raise InvalidFinding(f"finding evidence must be a JSON object, got {type(finding['evidence']).__name__}")
    return finding


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def finding_fingerprint(finding: Mapping[str, Any]) -> str:
    """Changes when what the finding says changes (severity, status, evidence), not when it is seen again."""
    material = json.dumps(
        {
            "severity": finding.get("severity"),
            "status": finding.get("status", STATUS_OPEN),
            "evidence": finding.get("evidence", {}),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


def deliver_finding(
    finding: dict[str, Any],
    deliveries: list[Delivery],
    channels: Mapping[str, Channel],
    state: DeliveryState,
    policy: RoutingPolicy,
    message_id: str,
    now: datetime,
    *,
    remaining: Callable[[], float] | None = None,
    failing: MutableMapping[str, str] | None = None,
    stored_status: Callable[[str], str | None] | None = None,
) -> DeliveryReport:
    """Each target on its own; a retry skips what went out. `failing`: targets already failing in this batch.
    `stored_status`: producers store first, so a message disagreeing with the store is stale or forged: not sent.
    """
    report = DeliveryReport()
    status = finding.get("status", STATUS_OPEN)
    fingerprint = finding_fingerprint(finding)
    stored: str | None = None
    if stored_status is not None:
        try:
            stored = stored_status(finding["finding_id"])
        except Exception:  # an unreadable store is no evidence either way: deliver what the message says
            stored = None
    for delivery in deliveries:
        key = delivery.key
        if state.delivered(message_id, delivery):
            report.outcomes[key] = "already delivered"
            continue
        if stored in (STATUS_OPEN, STATUS_RESOLVED) and stored != status:
            report.outcomes[key] = f"suppressed: stale, the stored finding is {stored} and this message {status}"
            state.mark_delivered(message_id, delivery, now)
            continue
        if policy.suppressed(finding, fingerprint, state.last_sent(finding["finding_id"], delivery), now):
            report.outcomes[key] = "suppressed: same finding within the de-duplication window"
            state.mark_delivered(message_id, delivery, now)
            continue
        channel = channels.get(delivery.channel)
        error: DeliveryError | None = None
        if channel is None:
            error = DeliveryError(f"channel {delivery.channel} is not configured", objection="not configured")
        elif failing is not None and key in failing:
            error = DeliveryError(f"not tried: {key} already failed in this batch ({failing[key]})", retryable=True)
        elif remaining is not None and remaining() < MIN_DELIVERY_SECONDS:
            error = DeliveryError("not tried: out of time in this invocation, left for a later one", retryable=True)
        else:
            try:
                outcome = channel.send(finding, delivery.target)
            except DeliveryError as exc:
                error = exc
            except Exception as exc:  # each channel on its own: one outage never blocks another
                error = DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True)
        if error is not None:
            report.errors[key] = error
            report.outcomes[key] = f"{'failed' if error.retryable else 'rejected'}: {error}"
            # A hold is one finding's own wait, not an outage: the batch's other findings still go to the target.
            if error.retryable and not error.held and failing is not None and key not in failing:
                failing[key] = str(error)[:200]
            continue
        state.mark_sent(finding["finding_id"], delivery, Sent(now, status, fingerprint))
        state.mark_delivered(message_id, delivery, now)
        report.outcomes[key] = f"ok: {outcome}"
    return report
