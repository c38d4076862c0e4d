"""The toy's handler: greets the configured endpoints, at most thresholds.max_greetings of them."""

from __future__ import annotations

from typing import Any

from mlgov_runtime.toy.settings import settings


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    got = settings.get()
    return {"greetings": [f"{got.toy.greeting}, {name}" for name in got.toy.endpoints][: got.thresholds.max_greetings]}
