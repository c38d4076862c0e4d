"""Fuzz: the weekly coverage check's handler on events of any shape (EventBridge delivers a scheduled
event; a person may invoke it by hand with anything) always finishes with a result, never a crash."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgov.sandbox import FakeContext
from tests.integration.test_coverage_and_retraining import World, fresh_handler, world
from tests.strategies import FUZZ, Tally, json_values, nasty_text

__all__ = ["world"]

events = st.one_of(
    json_values,
    st.fixed_dictionaries({"id": st.one_of(nasty_text, json_values), "detail-type": json_values}),
)


def test_fuzz_coverage_check_events(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    tally = Tally("coverage check events (scheduled or by hand)")
    handler = fresh_handler("mlgov_runtime.coverage.handler")

    @settings(FUZZ, max_examples=25)
    @given(events)
    def check(event: Any) -> None:
        tally.generated += 1
        with tally.recording():
            result = handler.handler(event, FakeContext())
        assert isinstance(result, dict) and ("coverage_gap_pct" in result or result.get("status") == "error")

    check()
    tally.finish(capsys, at_least=20)
