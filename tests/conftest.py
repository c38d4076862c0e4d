"""Shared test set-up: fake credentials so nothing can reach a real AWS account."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

EVENTS = Path(__file__).parent / "events"

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_DEV": "false",
    }
)
os.environ.pop("AWS_PROFILE", None)

# moto 5.2.5 lacks UpdateEndpoint and inference components; every test runs on the extended emulator.
from mlgov.emulator import install  # noqa: E402

install()
os.environ.pop("AWS_ENDPOINT_URL", None)


# An offline evaluation of a trained candidate that passes every gate threshold.
PASSING_EVALUATION = {
    "eval_loss": 0.11,
    "catalog_coverage_per_1000_sessions": 212,
    "long_tail_exposure": 0.31,
    "json_format_failure_rate": 0.012,
    "safety_violations": 0,
    "mrr_at_10": 0.41,
    "cold_start_recommendations": ["MNG-01790"],
}


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


@pytest.fixture
def event_fixture() -> Any:
    return load_event


@pytest.fixture(autouse=True)
def _service_log_levels() -> Iterator[None]:
    """Powertools configures a service's logger once per process, at the level of the test that first loads it: a
    scene run in-process (POWERTOOLS_LOG_LEVEL=CRITICAL) would silence that service for every later test."""
    loggers = logging.Logger.manager.loggerDict
    before = {name: log.level for name, log in loggers.items() if isinstance(log, logging.Logger)}
    yield
    for name, log in list(loggers.items()):
        if not isinstance(log, logging.Logger):
            continue
        if name in before:
            log.setLevel(before[name])
        elif getattr(log, "init", False):  # configured by Powertools during this test: its default level
            log.setLevel(logging.INFO)
