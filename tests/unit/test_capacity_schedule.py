"""Weekly capacity schedules: what the campaign construct emits and how live scheduled actions are read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlgov.cdk.weekly_schedule import layered_timeline, weekly_crons
from mlgov.ops.capacity_campaign import ScheduleStore, _raised, above_set, weekly_minimum_at
from mlgov_runtime.capacity.campaign_record import Anchor, RaisedRecord, anchors, overdue, records
from mlgov_runtime.capacity.logic import ScheduledAction, TargetCapacity, scheduled_action
from mlgov_runtime.capacity.schedule import (
    DAY,
    ScheduleError,
    Window,
    live_timeline,
    lowest_in,
    to_utc_week,
    week_start,
    weekly_times,
)

EVERY_DAY = Window.parse(["MON-SUN"], "06:00", "24:00")
MANGA_MONDAY = Window.parse(["MON"], "08:00", "22:00")
MON, TUE, SUN = 0, 1, 6


def level_at(timeline: list[tuple[int, int]], minute: int) -> int:
    return lowest_in(timeline, [(minute, minute + 1)])


def test_manga_monday_on_top_of_business_hours_is_one_scheduled_action_per_change() -> None:
    timeline = layered_timeline(1, [(EVERY_DAY, 2), (MANGA_MONDAY, 5)])
    assert weekly_crons(timeline) == [
        ("cron(0 0 * * ? *)", 1),
        ("cron(0 6 * * ? *)", 2),
        ("cron(0 8 ? * MON *)", 5),
        ("cron(0 22 ? * MON *)", 2),
    ]
    assert level_at(timeline, MON * DAY + 9 * 60) == 5
    assert level_at(timeline, MON * DAY + 23 * 60) == 2
    assert level_at(timeline, TUE * DAY + 3 * 60) == 1


def test_an_overlapping_campaign_that_ends_first_never_drops_the_other_to_the_baseline() -> None:
    # Scheduled actions only set values: ending campaign A at 22:00 must not undo campaign B (until 23:00).
    late = Window.parse(["MON"], "20:00", "23:00")
    timeline = layered_timeline(1, [(EVERY_DAY, 2), (MANGA_MONDAY, 5), (late, 8)])
    assert [level_at(timeline, MON * DAY + h * 60) for h in (19, 21, 22, 23)] == [5, 8, 8, 2]
    assert ("cron(0 22 ? * MON *)", 2) not in weekly_crons(timeline)
    assert layered_timeline(1, [(late, 8), (MANGA_MONDAY, 5), (EVERY_DAY, 2)]) == timeline  # order does not matter


def test_a_flat_week_needs_no_scheduled_action() -> None:
    assert weekly_crons(layered_timeline(2, [])) == []


@pytest.mark.parametrize(
    ("days", "start", "end", "message"),
    [
        (["MON"], "22:00", "08:00", "ends before it starts"),
        (["FUNDAY"], "08:00", "22:00", "is not one of MON"),
        (["FRI-MON"], "08:00", "22:00", "runs backwards"),
        (["MON"], "8:00", "22:00", "is not HH:MM"),
        (["MON"], "24:00", "24:00", "is not HH:MM"),
        ([], "08:00", "22:00", "at least one day"),
    ],
)
def test_a_malformed_window_is_refused_with_the_reason(days: list[str], start: str, end: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Window.parse(days, start, end)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 8 ? * MON *)", [8 * 60]),
        ("cron(30 22 ? * SUN *)", [SUN * DAY + 22 * 60 + 30]),
        ("cron(0 6 * * ? *)", [d * DAY + 360 for d in range(7)]),
        ("cron(0 6 ? * 2-6 *)", [d * DAY + 360 for d in range(5)]),  # AWS numbers days 1 = SUN
        ("cron(0 6,18 ? * MON,FRI *)", [360, 1080, 4 * DAY + 360, 4 * DAY + 1080]),
        ("cron(0 8 1 * ? *)", None),  # day of month: not weekly
        ("cron(0/15 * * * ? *)", None),
        ("rate(5 minutes)", None),
        ("at(2026-12-24T08:00:00)", None),
    ],
)
def test_weekly_times_of_live_schedules(expression: str, expected: list[int] | None) -> None:
    assert weekly_times(expression) == expected


def test_local_times_move_to_the_utc_week_with_that_weeks_offset() -> None:
    start = week_start(datetime(2026, 11, 25, 12, tzinfo=UTC))
    assert start == datetime(2026, 11, 23, tzinfo=UTC)
    # Monday 08:00 in Tokyo is Sunday 23:00 UTC: it wraps to the end of the week.
    assert to_utc_week(8 * 60, "Asia/Tokyo", start) == SUN * DAY + 23 * 60
    summer = week_start(datetime(2026, 7, 1, tzinfo=UTC))
    assert to_utc_week(8 * 60, "America/New_York", start) == 13 * 60  # EST, UTC-5
    assert to_utc_week(8 * 60, "America/New_York", summer) == 12 * 60  # EDT, UTC-4


def test_a_live_schedule_holds_each_level_until_the_next_action_across_the_week_end() -> None:
    # A nightly "cost saver" at Sunday 22:00 that sets 0, raised again Monday 06:00.
    timeline = live_timeline(1, [(SUN * DAY + 22 * 60, 0), (MON * DAY + 6 * 60, 2)])
    assert level_at(timeline, MON * DAY + 3 * 60) == 0  # before Monday's action: Sunday night's level
    assert level_at(timeline, TUE * DAY) == 2
    assert lowest_in(timeline, EVERY_DAY.spans()) == 0  # Sunday 22:00-24:00 is business hours


def test_without_actions_the_registered_minimum_holds_all_week() -> None:
    assert live_timeline(3, []) == [(0, 3)]
    assert lowest_in(live_timeline(3, []), EVERY_DAY.spans()) == 3


def test_a_span_that_wraps_the_week_sees_both_ends() -> None:
    timeline = live_timeline(2, [(60, 1), (120, 2)])  # Monday 01:00-02:00 at 1
    assert lowest_in(timeline, [(SUN * DAY + 23 * 60, 90)]) == 1
    assert lowest_in(timeline, [(SUN * DAY + 23 * 60, 30)]) == 2


def test_a_window_ending_at_sunday_midnight_does_not_reach_into_monday() -> None:
    timeline = live_timeline(2, [(60, 1), (120, 2)])  # Monday 01:00-02:00 at 1
    assert lowest_in(timeline, [(SUN * DAY + 6 * 60, 7 * DAY)]) == 2
    assert lowest_in(timeline, Window.parse(["SUN"], "06:00", "24:00").spans()) == 2


def _variant(*actions: tuple[str, str, str, int], registered: int = 1) -> TargetCapacity:
    cap = TargetCapacity("AllTraffic", "instance", registered=True, min_capacity=registered, max_capacity=8)
    cap.schedule = [ScheduledAction(name, cron, tz, low, None) for name, cron, tz, low in actions]
    return cap


TOKYO_WEEK = (
    ("mlgov-min1-0000-daily", "cron(0 0 * * ? *)", "Asia/Tokyo", 1),
    ("mlgov-min2-0600-daily", "cron(0 6 * * ? *)", "Asia/Tokyo", 2),
    ("mlgov-min5-0800-MON", "cron(0 8 ? * MON *)", "Asia/Tokyo", 5),
    ("mlgov-min2-2200-MON", "cron(0 22 ? * MON *)", "Asia/Tokyo", 2),
)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 12, 7, 4, 0, tzinfo=UTC), 5),  # Monday 13:00 JST: Manga Monday
        (datetime(2026, 12, 7, 13, 0, tzinfo=UTC), 2),  # 22:00 JST: the weekly action of that very minute counts
        (datetime(2026, 12, 7, 15, 30, tzinfo=UTC), 1),  # Tuesday 00:30 JST
        (datetime(2026, 12, 6, 22, 59, tzinfo=UTC), 2),  # Monday 07:59 JST: business hours, not yet Manga Monday
    ],
)
def test_a_campaigns_end_restores_what_the_weekly_schedule_holds_then(moment: datetime, expected: int) -> None:
    assert weekly_minimum_at(_variant(*TOKYO_WEEK), moment, floor=1) == expected


def test_a_campaigns_end_never_goes_below_the_floor_or_one_nor_guesses_an_unreadable_schedule() -> None:
    at_zero = _variant(("nightly", "cron(0 22 ? * SUN *)", "UTC", 0), registered=0)
    assert weekly_minimum_at(at_zero, datetime(2026, 12, 7, 13, 0, tzinfo=UTC), floor=0) == 1
    assert weekly_minimum_at(at_zero, datetime(2026, 12, 7, 13, 0, tzinfo=UTC), floor=2) == 2
    unreadable = _variant(("every-hour", "rate(1 hour)", "UTC", 3), *TOKYO_WEEK)
    assert weekly_minimum_at(unreadable, datetime(2026, 12, 7, 15, 30, tzinfo=UTC), floor=1) == 5
    other_campaign = _variant(("mlgov-campaign-x-in", "at(2026-12-07T12:00:00)", "UTC", 1), *TOKYO_WEEK)
    assert weekly_minimum_at(other_campaign, datetime(2026, 12, 7, 4, 0, tzinfo=UTC), floor=1) == 5


def test_a_campaign_raises_only_the_actions_that_would_lower_it_inside_its_window_and_any_it_cannot_predict() -> None:
    # Manga Monday 08:00-22:00 JST with 30 minutes' lead: from 07:30 JST Monday until 22:00 JST
    cap = _variant(*TOKYO_WEEK, ("every-hour", "rate(1 hour)", "UTC", 3), ("big", "cron(0 9 ? * MON *)", "UTC", 9))
    start, end = datetime(2026, 12, 6, 22, 30, tzinfo=UTC), datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
    raised = {r.action.name: r for r in _raised(cap, 6, 8, start, end)}
    # 08:00 MON JST fires inside; 00:00 and 06:00 JST before; 22:00 JST at the end (the end's own action decides)
    assert set(raised) == {"mlgov-min5-0800-MON", "every-hour"}
    assert raised["mlgov-min5-0800-MON"].fires == ["2026-12-06T23:00:00+00:00"]
    assert raised["every-hour"].fires == ["not a weekly pattern"]
    assert (raised["every-hour"].min_capacity, raised["every-hour"].max_capacity) == (6, None)  # 6 <= the target's 8
    above = {r.action.name: r for r in _raised(cap, 10, 10, start, end)}
    assert above["big"].max_capacity == 10 and above["big"].min_capacity == 10  # Min <= Max once raised past 8
    # 07:30-07:50 JST holds no weekly firing: only the action that cannot be predicted is raised
    assert [r.action.name for r in _raised(cap, 6, 8, start, start + timedelta(minutes=20))] == ["every-hour"]


def test_the_campaigns_record_reads_back_and_the_audit_names_the_end_once_it_is_due() -> None:
    record = RaisedRecord("AllTraffic", "weekly 08:00 MON", 5, None, 6, 6)
    tags = {
        "mlgov:campaign:mm:end": "2026-12-07T13:00:00+00:00",
        "mlgov:campaign:mm:2": "garbage",
        "mlgov:campaign:mm:1": record.encode(),
        "mlgov:campaign:mm-2:1": record.encode(),
    }
    assert record.encode() == "5 - 6 6 AllTraffic weekly 08:00 MON"
    assert records(tags, "mm") == [("mlgov:campaign:mm:1", record), ("mlgov:campaign:mm:2", None)]
    # The end and the minimum are the one-time actions' (tag rights cannot write them), not the :end tag's
    one_time = anchors(
        scheduled_action({"ScheduledActionName": n, "Schedule": s, "ScalableTargetAction": {"MinCapacity": m}})
        for n, s, m in [
            ("mlgov-campaign-mm-out", "at(2026-12-06T22:30:00)", 6),
            ("mlgov-campaign-mm-in", "at(2026-12-07T13:00:00)", 1),
            ("mlgov-campaign-mm-2-in", "cron(0 13 * * ? *)", 1),
            ("weekly 08:00 MON", "cron(0 8 ? * MON *)", 5),
        ]
    )
    assert one_time == {
        "mm": Anchor(6, datetime(2026, 12, 7, 13, 0, tzinfo=UTC)),
        "mm-2": Anchor(None, None),  # an end that does not read as a time: not ended
    }
    assert overdue(tags, "ep", "eu-west-1", datetime(2026, 12, 7, 12, 59, tzinfo=UTC), one_time) == []
    [late] = overdue(tags, "ep", "eu-west-1", datetime(2026, 12, 7, 13, 0, tzinfo=UTC), one_time)
    assert late.command == "mlgov capacity campaign-end --endpoint ep --name mm --region eu-west-1"
    assert f"run {late.command}." in late.reason
    # A campaign in tags only, or one whose records claim another minimum than its -out action's, is not named
    assert overdue(tags, "ep", "eu-west-1", datetime(2026, 12, 8, tzinfo=UTC)) == []
    other = {"mm": Anchor(7, datetime(2026, 12, 7, 13, 0, tzinfo=UTC))}
    assert overdue(tags, "ep", "eu-west-1", datetime(2026, 12, 8, tzinfo=UTC), other) == []
    early = {"mlgov:campaign:mm:end": "2026-12-01T00:00:00+00:00", "mlgov:campaign:mm:1": record.encode()}
    assert overdue(early, "ep", "eu-west-1", datetime(2026, 12, 7, 12, 59, tzinfo=UTC), one_time) == []
    assert RaisedRecord.decode("- 1 6 6 AllTraffic x") is None and RaisedRecord.decode("1 1 6") is None


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("7 - 6 6 AllTraffic a", "MinCapacity 7 before, above the 6"),
        ("1 9 6 8 AllTraffic a", "MaxCapacity 9 before, above the 8"),
        ("1 4 6 - AllTraffic a", "MaxCapacity 4 before, where the campaign set none"),
    ],
)
def test_a_record_saying_the_campaign_lowered_an_action_is_not_what_a_campaign_wrote(value: str, why: str) -> None:
    record = RaisedRecord.decode(value)
    assert record is not None and why in str(above_set(record))


def test_every_record_a_campaign_writes_is_below_what_it_set() -> None:
    cap = _variant(*TOKYO_WEEK, ("every-hour", "rate(1 hour)", "UTC", 3), ("big", "cron(0 9 ? * MON *)", "UTC", 9))
    start, end = datetime(2026, 12, 6, 22, 30, tzinfo=UTC), datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
    capped = _variant(("capped", "cron(0 8 ? * MON *)", "UTC", 2), *TOKYO_WEEK)
    capped.schedule[0] = ScheduledAction("capped", "cron(0 8 ? * MON *)", "UTC", 2, 4)
    written = [
        r.record("AllTraffic")
        for n, h in [(6, 8), (10, 10)]
        for c in (cap, capped)
        for r in _raised(c, n, h, start, end)
    ]
    assert len(written) >= 5 and {r.max_before for r in written} >= {None, 4}
    assert [above_set(r) for r in written] == [None] * len(written), written
    # Equal is no raise but no harm either: putting it back changes nothing
    assert above_set(RaisedRecord("AllTraffic", "a", 6, 6, 6, 6)) is None


class _Calls:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda **kwargs: self.calls.append((name, kwargs))


def test_putting_an_action_back_keeps_its_start_end_and_time_zone_and_drops_a_max_it_did_not_have() -> None:
    aas = _Calls()
    raw = {
        "ScheduledActionName": "a", "ResourceId": "endpoint/e/variant/v", "ScalableDimension": "d",
        "Schedule": "cron(0 8 ? * MON *)", "Timezone": "Asia/Tokyo", "StartTime": datetime(2026, 1, 1, tzinfo=UTC),
        "ScalableTargetAction": {"MinCapacity": 6, "MaxCapacity": 6},
    }  # fmt: skip
    ScheduleStore(aas, None).put(raw, 5, None)
    [(delete, _), (put, kwargs)] = aas.calls
    assert (delete, put) == ("delete_scheduled_action", "put_scheduled_action")
    assert kwargs["ScalableTargetAction"] == {"MinCapacity": 5} and kwargs["Timezone"] == "Asia/Tokyo"
    assert kwargs["StartTime"] == raw["StartTime"] and "EndTime" not in kwargs
    aas.calls.clear()
    ScheduleStore(aas, None).put(raw, 5, 7)
    assert [c for c, _ in aas.calls] == ["put_scheduled_action"]
