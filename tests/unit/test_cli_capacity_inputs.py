"""`mlgov capacity campaign` refuses a peak or per-instance rate that is no positive number when it parses the
command line, before any AWS call, so the user hears about the number first (not about a missing scalable target)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from mlgov.cli import main

CAMPAIGN = [
    "capacity",
    "campaign",
    "--endpoint",
    "manga-recommender-prod",
    "--name",
    "manga-monday",
    "--start",
    "2026-12-14T08:00+09:00",
    "--end",
    "2026-12-14T22:00+09:00",
    "--dry-run",
    "--region",
    "us-east-1",
    "--endpoint-url",
    "http://127.0.0.1:9",  # nothing answers there: a parse error must come first
]


@pytest.mark.parametrize(
    ("option", "value"),
    [("--peak", "-3"), ("--peak", "0"), ("--peak", "nan"), ("--peak", "inf"), ("--peak-rps", "0"), ("--peak", "x")],
)
def test_a_peak_that_is_no_positive_number_is_a_usage_error_naming_it(option: str, value: str) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main([*CAMPAIGN, option, value]) == 2
    line = err.getvalue().strip()
    assert line.count("\n") == 0, line
    assert f"argument {option}: '{value}' is not a number above 0" in line, line


def test_a_per_instance_rate_of_zero_is_refused_the_same_way() -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main([*CAMPAIGN, "--peak", "380", "--per-instance", "0"]) == 2
    assert "argument --per-instance: '0' is not a number above 0" in err.getvalue(), err.getvalue()


@pytest.mark.parametrize("value", ["-5", "0", "nan", "1441"])
def test_restore_refuses_a_wait_it_cannot_keep_before_changing_anything(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A negative, zero or NaN wait was taken as given, and the restore went ahead on it.
    monkeypatch.chdir(tmp_path)  # no cdk.json: the default settings
    restore = ["capacity", "restore", "--endpoint", "manga-recommender-prod", "--wait-minutes", value]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main([*restore, "--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:9"]) == 2
    assert f"--wait-minutes {float(value):g}: must be above 0 and at most 1440" in err.getvalue(), err.getvalue()
