"""The retraining pipeline's announcement (CONTRACTS.md, "Retraining completion event")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from mlgov_runtime.core import events as core_events
from mlgov_runtime.core.arns import PACKAGE_ARN

SOURCE = "mlgov.retraining"
DETAIL_TYPE = "Model Package Registered"


class InvalidEvent(core_events.InvalidEvent):
    pass


@dataclass(frozen=True)
class PackageRegistered:
    # What every log line of its invocation carries.
    LOG_KEYS: ClassVar[tuple[str, ...]] = ("event_id", "model_package_arn")
    event_id: str
    model_package_arn: str
    catalog_snapshot_date: str | None
    pipeline_execution: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def execution_name(self) -> str:
        """One experiment per delivered event: Step Functions refuses a second execution of a name."""
        return ("registered-" + re.sub(r"[^A-Za-z0-9_-]+", "-", self.event_id))[:80]


def parse_registered(event: Mapping[str, Any]) -> PackageRegistered:
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise InvalidEvent(f"not a {SOURCE} '{DETAIL_TYPE}' event")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEvent("event has no detail object")
    arn = detail.get("model_package_arn")
    if not isinstance(arn, str) or not PACKAGE_ARN.fullmatch(arn):
        raise InvalidEvent(f"detail.model_package_arn is not a versioned model package ARN: {arn!r}")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise InvalidEvent("event has no id")
    snapshot = detail.get("catalog_snapshot_date")
    execution = detail.get("execution")
    return PackageRegistered(
        event_id,
        arn,
        snapshot if isinstance(snapshot, str) else None,
        execution if isinstance(execution, str) else None,
    )
