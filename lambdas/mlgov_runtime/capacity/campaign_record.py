"""What `mlgov capacity campaign` records on the endpoint (tags) so that `mlgov capacity campaign-end` can put the
raised weekly actions back and the audit can say when that end is overdue.

`mlgov:campaign:<name>:end` (UTC, ISO) and `mlgov:campaign:<name>:<i>`: `<min before> <max before|-> <min set>
<max set|-> <variant> <action name>`. Tags are claims; they count only as far as the campaign's one-time actions
`mlgov-campaign-<name>-out`/`-in` (which tag rights cannot write) anchor them (docs/trust-model.md).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlgov_runtime.capacity.logic import ScheduledAction

PREFIX = "mlgov:campaign:"
ACTION_PREFIX = "mlgov-campaign-"


@dataclass(frozen=True)
class RaisedRecord:
    variant: str
    action: str
    min_before: int
    max_before: int | None
    min_set: int
    max_set: int | None

    def encode(self) -> str:
        def n(v: int | None) -> str:
            return "-" if v is None else str(v)

        return f"{self.min_before} {n(self.max_before)} {self.min_set} {n(self.max_set)} {self.variant} {self.action}"

    @staticmethod
    def decode(value: str) -> RaisedRecord | None:
        parts = value.split(" ", 5)
        if len(parts) != 6 or not all(re.fullmatch(r"\d+|-", p) for p in parts[:4]) or "-" in (parts[0], parts[2]):
            return None

        def n(v: str) -> int | None:
            return None if v == "-" else int(v)

        return RaisedRecord(parts[4], parts[5], int(parts[0]), n(parts[1]), int(parts[2]), n(parts[3]))


def records(tags: Mapping[str, str], campaign: str) -> list[tuple[str, RaisedRecord | None]]:
    """(tag key, record or None when unreadable) of every raised action the campaign recorded, in order."""
    found = []
    for key, value in tags.items():
        rest = key.removeprefix(f"{PREFIX}{campaign}:")
        if rest != key and rest.isdigit():
            found.append((int(rest), key, RaisedRecord.decode(value)))
    return [(key, rec) for _, key, rec in sorted(found)]


@dataclass(frozen=True)
class Overdue:
    """A campaign whose end has passed while its raised weekly actions are still recorded."""

    campaign: str
    reason: str
    command: str  # what puts them back


@dataclass(frozen=True)
class Anchor:
    """A campaign's one-time scheduled actions as Application Auto Scaling holds them: a one-time action stays
    listed after it runs, until campaign-end deletes it."""

    min_set: int | None = None  # the -out action's MinCapacity; None without one
    end: datetime | None = None  # the -in action's at(); None without one or when it does not read

    def believes(self, rec: RaisedRecord | None) -> bool:
        return rec is not None and self.min_set is not None and rec.min_set == self.min_set


def at_time(schedule: str) -> datetime | None:
    """The moment of an `at(yyyy-mm-ddThh:mm:ss)` schedule (UTC), or None."""
    match = re.fullmatch(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)", schedule.strip())
    if match is None:
        return None
    try:
        return datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
    except ValueError:
        return None


def anchors(actions: Iterable[ScheduledAction]) -> dict[str, Anchor]:
    """Campaign name -> its anchor, from an endpoint's scheduled actions. Of two -in actions (two variants) the
    later end counts: ending early is what a forgery would want."""
    found: dict[str, Anchor] = {}
    for action in actions:
        name, schedule, min_capacity = action.name, action.schedule, action.min_capacity
        for side in ("out", "in"):
            campaign = name.removeprefix(ACTION_PREFIX).removesuffix(f"-{side}")
            if not name.startswith(ACTION_PREFIX) or not name.endswith(f"-{side}") or not campaign:
                continue
            old = found.get(campaign, Anchor())
            if side == "out":
                found[campaign] = Anchor(min_capacity if old.min_set is None else old.min_set, old.end)
            else:
                end = at_time(schedule)
                later = end if old.end is None or (end is not None and end > old.end) else old.end
                found[campaign] = Anchor(old.min_set, later)
    return found


def overdue(
    tags: Mapping[str, str], endpoint: str, region: str, now: datetime, anchored: Mapping[str, Anchor] | None = None
) -> list[Overdue]:
    """One per campaign whose end (its -in action's) has passed while raised weekly actions it set are still
    recorded; a campaign without its one-time actions is not named."""
    found = []
    for campaign, anchor in sorted((anchored or {}).items()):
        end = anchor.end
        if end is not None and end <= now and any(anchor.believes(rec) for _, rec in records(tags, campaign)):
            when = f"at {end.astimezone(UTC).isoformat()}"
            # A tag key may hold spaces: quoted, the command still names this campaign.
            name = shlex.quote(campaign)
            command = f"mlgov capacity campaign-end --endpoint {endpoint} --name {name} --region {region}"
            reason = (
                f"Campaign {campaign} ended {when} and its raised weekly scheduled actions are not put back yet: "
                f"run {command}."
            )
            found.append(Overdue(campaign, reason, command))
    return found
