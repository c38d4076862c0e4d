"""Fuzz: any cdk.json `mlgov` value either loads, or fails with one SettingsError line naming a key.
What loads is usable: the notifier's routing round-trips, every schedule is a valid EventBridge one."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgov.settings import Settings, SettingsError, parse_settings, schedule_problem
from mlgov_runtime.core.env import SettingsError as FunctionSettingsError
from mlgov_runtime.core.model import received_environment
from mlgov_runtime.notifier.settings import Received, load_notifier_settings
from tests.strategies import FUZZ, Tally, json_values, nasty_text


def leaf_paths(value: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(value, dict) and value:
        return [p for key, child in value.items() for p in leaf_paths(child, (*path, key))] + ([path] if path else [])
    return [path]


DEFAULTS = Settings().model_dump(mode="json")
PATHS = sorted(leaf_paths(DEFAULTS))
near_misses = st.sampled_from(
    [
        "cron(banana)",
        "rate(0 minutes)",
        "rate(1 minutes)",
        "cron(0 6 * * MON *)",
        "cron(0 6 ? * MON)",
        "cron(60 6 ? * MON *)",
        "cron(0 6 ? * MON#6 *)",
        "rate(-1 days)",
        [],
        [""],
        ["a", "b"],
        [{"kinds": ["*"]}],
        [{"kinds": ["NOT_A_KIND"], "jira": True}],
        [{"kinds": [], "jira": True}],
        True,
        False,
        0,
        -1,
        1e308,
        "50000",
        "#",
        "   ",
    ]
)


def with_value(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(DEFAULTS)
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return raw


SCHEDULES = [p for p in PATHS if p[-1].endswith("schedule")]
cron_parts = st.sampled_from(
    ["0", "*", "?", "MON", "L", "6#3", "1-5", "*/5", "0/15", "15W", "JAN", "99", "-", "#", "LW"]
)
schedules = st.one_of(
    st.lists(cron_parts, max_size=7).map(lambda parts: f"cron({' '.join(parts)})"),
    st.tuples(st.integers(-2, 3), st.sampled_from(["minute", "minutes", "hour", "hours", "day", "days", "weeks"])).map(
        lambda t: f"rate({t[0]} {t[1]})"
    ),
)
raw_settings = st.one_of(
    st.builds(with_value, st.sampled_from(PATHS), st.one_of(json_values, near_misses, nasty_text)),
    st.builds(with_value, st.sampled_from(SCHEDULES), st.one_of(schedules, nasty_text)),
    json_values,
    st.dictionaries(st.sampled_from([p[0] for p in PATHS] + ["typo"]), json_values, max_size=3),
)


def test_fuzz_settings_never_crash_and_what_loads_is_usable(capsys: pytest.CaptureFixture[str]) -> None:
    tally = Tally("settings (cdk.json mlgov context)")

    @settings(FUZZ, max_examples=400)
    @given(raw_settings)
    def check(raw: Any) -> None:
        tally.generated += 1
        try:
            with tally.recording(SettingsError):
                loaded = parse_settings(raw)
        except SettingsError as exc:
            assert "\n" not in str(exc) and "mlgov" in str(exc), str(exc)
            return
        assert schedule_problem(loaded.weekly_scan_schedule) is None
        assert schedule_problem(loaded.retraining.coverage_schedule) is None
        env = {**received_environment(loaded, Received), "NOTIFIER_SECRET_NAME": "s", "STATE_TABLE_NAME": "state"}
        try:
            load_notifier_settings(env)
        except FunctionSettingsError as exc:  # what synth accepts, the function must accept too
            tally.unhandled.append(f"the notifier refuses a routing synth accepted: {exc}")
            raise

    check()
    tally.finish(capsys, at_least=300)
