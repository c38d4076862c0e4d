"""The verdict names and shapes the runtime gate (gate.py) reports. The cumulative-count form (what-if, bench)
is mlgov/ops/challenger_whatif.py, outside the Lambda asset."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from mlgov_runtime.challenger.guardrails import GuardrailResult
from mlgov_runtime.challenger.inputs import DecisionConfig, VariantCounts
from mlgov_runtime.challenger.statistics import confidence_sequence, log_mixture_lr

CONTINUE = "CONTINUE"
REJECT = "REJECT"
PROMOTE = "PROMOTE"
STOP_INVALID = "STOP_INVALID"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
DECISIONS = (CONTINUE, REJECT, PROMOTE, STOP_INVALID, INSUFFICIENT_DATA)


@dataclass(frozen=True)
class VariantStats:
    impressions: float
    clicks: float
    ctr: float | None
    ctr_lower: float | None
    ctr_upper: float | None


@dataclass(frozen=True)
class Decision:
    decision: str
    reasons: list[str]
    elapsed_minutes: float
    production: VariantStats
    challenger: VariantStats
    statistics: dict[str, Any]
    guardrails: list[GuardrailResult]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: infinities and NaN become null."""
        return _json_safe(
            {
                "decision": self.decision,
                "reasons": list(self.reasons),
                "elapsed_minutes": self.elapsed_minutes,
                "variants": {"production": asdict(self.production), "challenger": asdict(self.challenger)},
                "statistics": self.statistics,
                "guardrails": [asdict(g) for g in self.guardrails],
            }
        )


def sample_ratio_test(impressions_c: float, impressions_p: float, cfg: DecisionConfig) -> dict[str, Any]:
    """Two-sided mixture SPRT that the challenger's impression share is the configured traffic fraction."""
    a, b = cfg.srm_prior()
    w = cfg.traffic_fraction
    log_lr = log_mixture_lr(impressions_c, impressions_p, w, a, b)
    total = impressions_c + impressions_p
    threshold = math.log(1 / cfg.srm_alpha)
    return {
        "log_mixture_lr": log_lr,
        "threshold": threshold,
        "expected_share": w,
        "observed_share": impressions_c / total if total else None,
        "mismatch": log_lr >= threshold,
    }


def variant_stats(v: VariantCounts, cfg: DecisionConfig) -> VariantStats:
    if v.impressions <= 0:
        return VariantStats(v.impressions, v.clicks, None, None, None)
    a, b = cfg.ctr_prior()
    lo, hi = confidence_sequence(v.clicks, v.impressions - v.clicks, a, b, cfg.alpha)
    return VariantStats(v.impressions, v.clicks, v.clicks / v.impressions, lo, hi)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
