"""The challenger CTR gate's decision on cumulative counts (what-if simulation: `mlgov challenger simulate`): the
CTR test, the sample-ratio check, the naive rule kept for comparison, and the verdict shapes the runtime gate
(gate.py, per-minute series) shares. Layers below it: statistics.py (the mixture primitives), inputs.py (counts
and thresholds), guardrails.py (the guardrails and their explanations).

Test: a mixture SPRT on the click split conditional on impressions, read as a confidence sequence. Given the
impressions, each click is the challenger's with probability theta = r*n_c / (r*n_c + n_p) (r = CTR ratio); a
Beta prior on theta mixes the likelihood ratio, so {theta: LR < 1/alpha} is a 1-alpha confidence sequence for r
valid at every look however often the monitor reads (Ville's inequality) and with no horizon to fix in advance,
which a group-sequential design needs but a window that must follow from traffic does not have. REJECT when a
sequence whose prior favours drops lies below r = 1; PROMOTE when one centred on r = 1 lies above the margin (each
error, rejecting a good challenger or promoting a worse one, is at most alpha); rate guardrails reuse the construction.

Modelling assumptions: clicks are rare per impression (the Poisson split overstates the variance by 1/(1-CTR),
so the test is conservative), and impressions are independent; impressions clustered within one response and
correlated clicks make the split overdispersed, which a sample-ratio or A/A check on real traffic would show.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from mlgov_runtime.challenger.guardrails import GuardrailResult, check_guardrails, pct
from mlgov_runtime.challenger.inputs import DecisionConfig, VariantCounts
from mlgov_runtime.challenger.statistics import (
    RateComparison,
    compare_rates,
    confidence_sequence,
    event_share,
    log_mixture_lr,
)

CONTINUE = "CONTINUE"
REJECT = "REJECT"
PROMOTE = "PROMOTE"
STOP_INVALID = "STOP_INVALID"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
DECISIONS = (CONTINUE, REJECT, PROMOTE, STOP_INVALID, INSUFFICIENT_DATA)

# Largest data multiple the "impressions still needed" projection considers.
_MAX_SCALE = 1e6


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


# ---------------------------------------------------------------------------------------------------------------
# The decision.


def decide(
    production: VariantCounts,
    challenger: VariantCounts,
    elapsed_minutes: float,
    config: DecisionConfig | None = None,
) -> Decision:
    """The gate's verdict at one monitor look. Precedence: guardrail REJECT > STOP_INVALID > CTR REJECT >
    PROMOTE > INSUFFICIENT_DATA (window over) > CONTINUE. Guardrails need no minimum sample: their tests
    are anytime-valid and only fire on clear evidence (a breach harms users whatever the split); CTR verdicts
    wait for the minimum sample, PROMOTE also for the minimum window."""
    cfg = config or DecisionConfig()
    production.validate("production")
    challenger.validate("challenger")
    if not isinstance(elapsed_minutes, int | float) or not math.isfinite(elapsed_minutes) or elapsed_minutes < 0:
        raise ValueError(f"elapsed_minutes must be a finite number >= 0, got {elapsed_minutes!r}")

    p, c = production, challenger
    alpha = cfg.alpha
    confidence = f"{(1 - alpha) * 100:g}%"
    prod_stats = variant_stats(p, cfg)
    chall_stats = variant_stats(c, cfg)

    # CTR: the rejection test (power-tuned prior) and the ratio interval (its lower end decides PROMOTE).
    reject = compare_rates(c.clicks, c.impressions, p.clicks, p.impressions, 1.0, "lower", cfg.reject_prior(), alpha)
    interval = compare_rates(
        c.clicks,
        c.impressions,
        p.clicks,
        p.impressions,
        cfg.non_inferiority_margin,
        "higher",
        cfg.interval_prior(),
        alpha,
    )
    srm = sample_ratio_test(c.impressions, p.impressions, cfg)
    enough = _minimum_sample(p, c, cfg)
    floor_ok = c.ctr is not None and c.ctr >= cfg.ctr_floor
    guardrails = check_guardrails(p, c, cfg, enough)

    statistics: dict[str, Any] = {
        "ctr_test": {
            **reject.as_dict(),
            "alpha": alpha,
            "null_ratio": 1.0,
            "prior_beta": list(cfg.reject_prior()),
            "rejects": reject.beyond_null,
        },
        "ctr_ratio": {
            "estimate": interval.ratio,
            "lower": interval.lower,
            "upper": interval.upper,
            "confidence": 1 - alpha,
            "prior_beta": list(cfg.interval_prior()),
        },
        "promote_test": {
            "log_mixture_lr_at_margin": interval.log_lr,
            "threshold": interval.threshold,
            "margin": cfg.non_inferiority_margin,
            "non_inferior": interval.beyond_null,
            "ctr_floor": cfg.ctr_floor,
            "above_floor": floor_ok,
        },
        "srm": srm,
        "minimum_sample_met": enough,
        "minimum_window_met": elapsed_minutes >= cfg.min_minutes,
    }

    ratio_text = _ratio_text(interval, confidence)
    ctr_text = f"challenger CTR {pct(c.ctr)} vs production {pct(p.ctr)}"
    reasons: list[str] = []
    breached = [g for g in guardrails if g.breached]
    if breached:
        reasons = [g.reason or g.name for g in breached]
        if srm["mismatch"]:
            reasons.append(_srm_reason(srm, cfg))
        return _done(REJECT, reasons, elapsed_minutes, prod_stats, chall_stats, statistics, guardrails)
    if srm["mismatch"]:
        reasons.append(_srm_reason(srm, cfg))
        return _done(STOP_INVALID, reasons, elapsed_minutes, prod_stats, chall_stats, statistics, guardrails)
    if enough and reject.beyond_null:
        reasons.append(
            f"The {ctr_text} is lower with {confidence} anytime-valid confidence (log mixture likelihood ratio "
            f"{reject.log_lr:.1f} >= {reject.threshold:.1f}; CTR ratio {reject.ratio:.3f}, upper bound "
            f"{reject.upper:.3f} < 1): reject the model package and remove the challenger variant."
        )
        return _done(REJECT, reasons, elapsed_minutes, prod_stats, chall_stats, statistics, guardrails)
    window_met = elapsed_minutes >= cfg.min_minutes
    if enough and window_met and interval.beyond_null and floor_ok:
        reasons.append(
            f"After {elapsed_minutes:g} min the {ctr_text} is non-inferior ({ratio_text}, lower bound >= margin "
            f"{cfg.non_inferiority_margin:g}) and at or above the {pct(cfg.ctr_floor)} floor: promote the challenger."
        )
        return _done(PROMOTE, reasons, elapsed_minutes, prod_stats, chall_stats, statistics, guardrails)

    needed = estimate_needed(p, c, elapsed_minutes, cfg)
    statistics["needed"] = needed
    over = elapsed_minutes >= cfg.max_minutes
    if not enough:
        reasons.append(_minimum_sample_reason(p, c, cfg))
    elif interval.beyond_null and not floor_ok:
        reasons.append(
            f"The challenger is non-inferior to production ({ratio_text}) but its CTR {pct(c.ctr)} is below the "
            f"{pct(cfg.ctr_floor)} floor, so it cannot be promoted automatically; review it manually."
        )
    elif interval.beyond_null and not window_met:
        reasons.append(
            f"Promotion criteria are met ({ratio_text}) but the minimum window is {cfg.min_minutes:g} min and "
            f"{elapsed_minutes:g} min have passed; keep the experiment running."
        )
    else:
        reasons.append(f"No verdict yet after {elapsed_minutes:g} min: {ctr_text}, {ratio_text}.")
    reasons.append(_needed_reason(needed, over))
    if over:
        reasons.insert(0, f"The {cfg.max_minutes:g}-minute window ended without a CTR verdict.")
        return _done(INSUFFICIENT_DATA, reasons, elapsed_minutes, prod_stats, chall_stats, statistics, guardrails)
    return _done(CONTINUE, reasons, elapsed_minutes, prod_stats, chall_stats, statistics, guardrails)


def naive_rule(production: VariantCounts, challenger: VariantCounts) -> str:
    """The spec's fast-fail rule, for comparison only: REJECT when challenger CTR < 0.9 x production CTR."""
    if production.impressions <= 0 or challenger.impressions <= 0:
        return CONTINUE
    # Cross-multiplied with integers 10 and 9, so a CTR of exactly 0.9 x production's is not a rejection.
    lower = 10 * challenger.clicks * production.impressions < 9 * production.clicks * challenger.impressions
    return REJECT if lower else CONTINUE


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


def estimate_needed(
    production: VariantCounts, challenger: VariantCounts, elapsed_minutes: float, cfg: DecisionConfig
) -> dict[str, Any]:
    """Impressions still needed for a CTR verdict if the observed CTRs held: the smallest multiple k of the
    current counts (impressions and clicks both scaled) at which REJECT or PROMOTE would fire, found by
    doubling then bisection. Minutes assume the current traffic rate. None when no amount of data at the
    observed CTRs decides (ratio exactly at a boundary, or non-inferior but below the floor) or when nothing
    has been observed yet."""
    p, c = production, challenger
    method = "scale current counts (observed CTRs unchanged) to the smallest multiple that gives a verdict"
    none: dict[str, Any] = {"additional_impressions": None, "additional_minutes": None, "verdict": None}
    if p.impressions <= 0 or c.impressions <= 0 or p.clicks + c.clicks <= 0:
        return {**none, "method": method}
    floor_ok = c.ctr is not None and c.ctr >= cfg.ctr_floor

    threshold = math.log(1 / cfg.alpha)
    reject_a, reject_b = cfg.reject_prior()
    interval_a, interval_b = cfg.interval_prior()
    # Scaling keeps the shares, so the observed click share and both null shares are fixed.
    share = c.clicks / (c.clicks + p.clicks)
    theta_1 = event_share(1.0, c.impressions, p.impressions)
    theta_m = event_share(cfg.non_inferiority_margin, c.impressions, p.impressions)

    def verdict(k: float) -> str | None:
        n_c, n_p, x_c, x_p = c.impressions * k, p.impressions * k, c.clicks * k, p.clicks * k
        if min(n_c, n_p) < cfg.min_impressions_per_variant or x_c + x_p < cfg.min_clicks_total:
            return None
        if share < theta_1 and log_mixture_lr(x_c, x_p, theta_1, reject_a, reject_b) >= threshold:
            return REJECT
        if floor_ok and share > theta_m and log_mixture_lr(x_c, x_p, theta_m, interval_a, interval_b) >= threshold:
            return PROMOTE
        return None

    hi = 1.0
    while verdict(hi) is None:
        hi *= 2
        if hi > _MAX_SCALE:
            return {**none, "method": method}
    lo = hi / 2 if hi > 1 else 1.0
    if hi > 1:
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if verdict(mid) is not None else (mid, hi)
    outcome = verdict(hi)
    total = p.impressions + c.impressions
    minutes = (hi - 1) * elapsed_minutes
    if outcome == PROMOTE:
        minutes = max(minutes, cfg.min_minutes - elapsed_minutes)
    return {
        "additional_impressions": math.ceil((hi - 1) * total),
        "additional_minutes": minutes if elapsed_minutes > 0 else None,
        "verdict": outcome,
        "method": method,
    }


def variant_stats(v: VariantCounts, cfg: DecisionConfig) -> VariantStats:
    if v.impressions <= 0:
        return VariantStats(v.impressions, v.clicks, None, None, None)
    a, b = cfg.ctr_prior()
    lo, hi = confidence_sequence(v.clicks, v.impressions - v.clicks, a, b, cfg.alpha)
    return VariantStats(v.impressions, v.clicks, v.clicks / v.impressions, lo, hi)


def _minimum_sample(p: VariantCounts, c: VariantCounts, cfg: DecisionConfig) -> bool:
    return (
        min(p.impressions, c.impressions) >= cfg.min_impressions_per_variant
        and p.clicks + c.clicks >= cfg.min_clicks_total
    )


def _minimum_sample_reason(p: VariantCounts, c: VariantCounts, cfg: DecisionConfig) -> str:
    if p.impressions <= 0 or c.impressions <= 0:
        missing = " and ".join(n for n, v in (("production", p), ("challenger", c)) if v.impressions <= 0)
        return (
            f"No impressions recorded yet for {missing}; if this persists past the first minutes, check that the "
            "recommender emits RecommendationImpressions with this endpoint's VariantName dimension."
        )
    return (
        f"Below the minimum sample for a CTR verdict ({c.impressions:g} challenger and {p.impressions:g} production "
        f"impressions, {p.clicks + c.clicks:g} clicks; need {cfg.min_impressions_per_variant:g} impressions per "
        f"variant and {cfg.min_clicks_total:g} clicks); keep the experiment running."
    )


def _needed_reason(needed: dict[str, Any], over: bool) -> str:
    more = needed.get("additional_impressions")
    if more is None:
        return (
            "More data at the observed CTRs would not settle it (no clicks yet, or the ratio sits at a decision "
            "boundary); "
            + ("decide manually or restart with a larger traffic weight." if over else "keep the experiment running.")
        )
    minutes = needed.get("additional_minutes")
    when = f" (about {minutes:.3g} more minutes at the current traffic)" if minutes is not None else ""
    verdict = needed.get("verdict")
    head = (
        f"If the observed CTRs held, a {verdict} verdict would need about {more:,} more impressions{when}; "
        if more > 0
        else f"A {verdict} verdict is in reach{when}; "
    )
    return head + (
        "extend max_minutes, raise the challenger's traffic weight, or review manually."
        if over
        else "keep the experiment running."
    )


def _srm_reason(srm: dict[str, Any], cfg: DecisionConfig) -> str:
    return (
        f"Sample-ratio mismatch: the challenger received {pct(srm['observed_share'])} of impressions, not the "
        f"configured {pct(cfg.traffic_fraction)} (log mixture likelihood ratio {srm['log_mixture_lr']:.1f} >= "
        f"{srm['threshold']:.1f}), so the CTR comparison is void; check the endpoint's variant weights and the "
        "VariantName dimension on the recommendation metrics, then restart the experiment."
    )


def _ratio_text(cmp: RateComparison, confidence: str) -> str:
    if cmp.ratio is None:
        return "CTR ratio not yet defined"
    return f"CTR ratio {cmp.ratio:.3f}, {confidence} anytime-valid interval {cmp.lower:.3f}-{cmp.upper:.3f}"


def _done(
    decision: str,
    reasons: list[str],
    elapsed: float,
    prod: VariantStats,
    chall: VariantStats,
    statistics: dict[str, Any],
    guardrails: list[GuardrailResult],
) -> Decision:
    return Decision(decision, reasons, elapsed, prod, chall, statistics, guardrails)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
