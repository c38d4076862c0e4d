"""Weekly capacity schedules. Pure: the run-time check evaluates live scheduled actions (the campaign construct
derives its own from windows: mlgov/cdk/weekly_schedule.py). Times are minutes of the week from Monday 00:00."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
DAY = 1440
WEEK = 7 * DAY

Timeline = list[tuple[int, int]]  # (minute of the week, level from then on), sorted, first at 0


class ScheduleError(ValueError):
    """A window or schedule that cannot be used; the message says which and why."""


def zone(name: str) -> tzinfo:
    """An IANA zone; UTC needs no tz database (a runtime may ship without one)."""
    if name in ("UTC", "Etc/UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"time zone {name!r} is not an IANA time zone (e.g. Asia/Tokyo, UTC)") from None


def parse_clock(text: str, *, end: bool = False) -> int:
    """'HH:MM' -> minute of the day; '24:00' only as the end of a window."""
    match = re.fullmatch(r"(\d{2}):(\d{2})", text)
    if match and ((int(match[1]) < 24 and int(match[2]) < 60) or (end and text == "24:00")):
        return int(match[1]) * 60 + int(match[2])
    raise ScheduleError(f"time {text!r} is not HH:MM (00:00-23:59{', or 24:00' if end else ''})")


def parse_days(days: Iterable[str]) -> tuple[int, ...]:
    """['MON-FRI', 'SUN'] -> day indexes (MON = 0)."""
    found: set[int] = set()
    for item in days:
        first, _, last = item.strip().upper().partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ScheduleError(f"day {item!r} is not one of {', '.join(DAYS)} or a range such as MON-FRI")
        lo, hi = DAYS.index(first), DAYS.index(last or first)
        if hi < lo:
            raise ScheduleError(f"day range {item!r} runs backwards")
        found.update(range(lo, hi + 1))
    if not found:
        raise ScheduleError("a window needs at least one day")
    return tuple(sorted(found))


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True)
class Window:
    """Some days of the week, from start to end (minutes of the day; end 1440 is midnight)."""

    days: tuple[int, ...]
    start: int
    end: int

    @classmethod
    def parse(cls, days: Sequence[str], start: str, end: str) -> Window:
        window = cls(parse_days(days), parse_clock(start), parse_clock(end, end=True))
        if window.end <= window.start:
            raise ScheduleError(f"window {start}-{end} ends before it starts (split a window that crosses midnight)")
        return window

    def spans(self) -> list[tuple[int, int]]:
        return [(d * DAY + self.start, d * DAY + self.end) for d in self.days]

    def describe(self) -> str:
        names = ",".join(DAYS[d] for d in self.days) if len(self.days) < 7 else "every day"
        return f"{names} {clock(self.start)}-{clock(self.end)}"


# Live scheduled actions: which fixed weekly times a cron expression fires at.
_CRON = re.compile(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)")


def _ints(field: str, low: int, high: int) -> list[int] | None:
    values = []
    for part in field.split(","):
        if not part.isdigit() or not low <= int(part) <= high:
            return None
        values.append(int(part))
    return values


def _cron_days(field: str) -> list[int] | None:
    if field in ("*", "?"):
        return list(range(7))
    days: list[int] = []
    for part in field.upper().split(","):
        names = [DAYS[(int(p) - 2) % 7] if p.isdigit() and 1 <= int(p) <= 7 else p for p in part.split("-")]
        try:
            days.extend(parse_days(["-".join(names)]))
        except ScheduleError:
            return None
    return sorted(set(days))


def weekly_times(expression: str) -> list[int] | None:
    """Minutes of the week (in the action's own time zone) a cron fires at; None when it is not a fixed
    weekly pattern (at(), rate(), day-of-month or month specific, minute steps)."""
    match = _CRON.fullmatch(expression.strip())
    if not match:
        return None
    minute, hour, dom, month, dow, year = match.groups()
    minutes, hours, days = _ints(minute, 0, 59), _ints(hour, 0, 23), _cron_days(dow)
    if minutes is None or hours is None or days is None or month != "*" or year != "*":
        return None
    if dom not in ("*", "?") or (dom == "*" and dow not in ("?", "*")):
        return None
    return sorted(d * DAY + h * 60 + m for d in days for h in hours for m in minutes)


def week_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of the week containing `now`."""
    now = now.astimezone(UTC)
    return datetime.combine(now.date() - timedelta(days=now.weekday()), time(0), tzinfo=UTC)


def to_utc_week(local_minute: int, tz: str, start: datetime) -> int:
    """A minute of the week in `tz` -> the minute of the same week in UTC (for that week's offsets)."""
    day, minute = divmod(local_minute % WEEK, DAY)
    local = datetime.combine(start.date() + timedelta(days=day), time(minute // 60, minute % 60), tzinfo=zone(tz))
    return int((local.astimezone(UTC) - start).total_seconds() // 60) % WEEK


def live_timeline(base: int, events: Iterable[tuple[int, int]]) -> Timeline:
    """Scheduled actions set MinCapacity at their times and it holds until the next one; without any,
    the registered minimum holds all week. Two actions at the same minute: the lower counts."""
    by_minute: dict[int, int] = {}
    for minute, level in events:
        by_minute[minute] = min(level, by_minute.get(minute, level))
    if not by_minute:
        return [(0, base)]
    ordered = sorted(by_minute.items())
    timeline: Timeline = [(0, ordered[-1][1])]  # before the first action of the week: the last one's level
    for minute, level in ordered:
        if minute == 0:
            timeline = [(0, level)]
        elif timeline[-1][1] != level:
            timeline.append((minute, level))
    return timeline


def lowest_in(timeline: Timeline, spans: Iterable[tuple[int, int]]) -> int:
    """The lowest level the timeline reaches inside any of the spans (end exclusive; may wrap the week)."""
    lowest: int | None = None
    for start, end in spans:
        pieces = [(start, end)] if start < end else [(start, WEEK), (0, end)]
        for s, e in pieces:
            if s >= e:
                continue
            levels = [lvl for point, lvl in timeline if s < point < e] + [_level_at(timeline, s)]
            lowest = min([*levels] + ([lowest] if lowest is not None else []))
    if lowest is None:
        raise ScheduleError("no span to evaluate")
    return lowest


def _level_at(timeline: Timeline, minute: int) -> int:
    level = timeline[0][1]
    for point, value in timeline:
        if point > minute:
            break
        level = value
    return level
