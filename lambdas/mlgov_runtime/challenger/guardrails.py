"""One guardrail's result (model errors, latency, JSON failures, language fidelity, cart adds, diversity), with the
text that explains a breach and what to do about it; gate.py judges them on per-minute series,
mlgov/ops/challenger_whatif.py on cumulative counts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GuardrailResult:
    name: str
    breached: bool
    challenger_value: float | None
    production_value: float | None
    threshold: float
    statistics: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


def pct(value: float | None) -> str:
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value * 100:.2f}%"
