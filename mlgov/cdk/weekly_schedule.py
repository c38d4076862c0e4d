"""Weekly minimums as scheduled actions, for the campaign construct at synth (pure; the run-time check reads live
actions with mlgov_runtime.capacity.schedule). Times are minutes of the week from Monday 00:00."""

from __future__ import annotations

from collections.abc import Sequence

from mlgov_runtime.capacity.schedule import DAY, DAYS, WEEK, Timeline, Window


def layered_timeline(base: int, layers: Sequence[tuple[Window, int]]) -> Timeline:
    """The minimum at every minute of the week: the highest level of the windows covering it, else base.
    Overlapping windows therefore never lower each other."""
    spans = [(s, e, level) for window, level in layers for s, e in window.spans()]
    points = sorted({0} | {s for s, _, _ in spans} | {e % WEEK for _, e, _ in spans})
    timeline: Timeline = []
    for point in points:
        level = max([lvl for s, e, lvl in spans if s <= point < e], default=base)
        if not timeline or timeline[-1][1] != level:
            timeline.append((point, level))
    return timeline


def weekly_crons(timeline: Timeline) -> list[tuple[str, int]]:
    """One `cron(M H ? * DAYS *)` per time of day and level at which the level changes."""
    if len({level for _, level in timeline}) < 2:
        return []
    grouped: dict[tuple[int, int], list[int]] = {}
    for index, (point, level) in enumerate(timeline):
        if index == 0 and point == 0 and timeline[-1][1] == level:
            continue  # the week wraps into the same level: no change at Monday 00:00
        day, minute = divmod(point, DAY)
        grouped.setdefault((minute, level), []).append(day)
    return [
        (
            f"cron({minute % 60} {minute // 60} * * ? *)"
            if len(days) == 7
            else f"cron({minute % 60} {minute // 60} ? * {','.join(DAYS[d] for d in days)} *)",
            level,
        )
        for (minute, level), days in sorted(grouped.items(), key=lambda kv: (kv[1][0], kv[0][0]))
    ]
