"""The challenger CTR gate's decision on cumulative counts (what-if simulation: `mlgov challenger simulate` checks
its numpy form against it, `make bench` runs it): the CTR test, the sample-ratio check, the guardrails, and the
naive rule kept for comparison. The runtime gate (mlgov_runtime.challenger.gate, per-minute series) shares its
verdict shapes (mlgov_runtime.challenger.decision).

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
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from mlgov_runtime.challenger.decision import (
    CONTINUE,
    INSUFFICIENT_DATA,
    PROMOTE,
    REJECT,
    STOP_INVALID,
    Decision,
    VariantStats,
    sample_ratio_test,
    variant_stats,
)
from mlgov_runtime.challenger.guardrails import GuardrailResult, pct
from mlgov_runtime.challenger.inputs import DecisionConfig, VariantCounts
from mlgov_runtime.challenger.recommendation_metrics import RecommendationMetrics, _period
from mlgov_runtime.challenger.statistics import RateComparison, compare_rates, event_share, log_mixture_lr

# Largest data multiple the "impressions still needed" projection considers.
_MAX_SCALE = 1e6


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


# The guardrails on cumulative counts: they need no minimum sample (their tests are anytime-valid and fire
# only on clear evidence; a breach harms users whatever the split).


def _latency_samples(counts: VariantCounts) -> float:
    # With an average alone, invocations stand in for the sample count.
    return counts.latency_count if counts.latency_count is not None else counts.invocations


def check_guardrails(p: VariantCounts, c: VariantCounts, cfg: DecisionConfig, enough: bool) -> list[GuardrailResult]:
    out: list[GuardrailResult] = []
    g_alpha = cfg.guardrail_alpha
    g_conf = f"{(1 - g_alpha) * 100:g}%"
    prior = cfg.guardrail_prior()

    # Model (5XX) errors per invocation: a 4XX is the caller's malformed request, not the model's.
    if p.invocations > 0 and c.invocations > 0:
        cmp = compare_rates(
            c.errors_5xx, c.invocations, p.errors_5xx, p.invocations, cfg.error_rate_ratio_max, "higher", prior, g_alpha
        )
        rate_c, rate_p = c.errors_5xx / c.invocations, p.errors_5xx / p.invocations
        out.append(
            rate_guardrail(
                "invocation_error_rate",
                cmp,
                rate_c,
                rate_p,
                cfg.error_rate_ratio_max,
                f"Guardrail invocation_error_rate breached: the challenger's 5XX errors are {pct(rate_c)} of "
                f"invocations vs production's {pct(rate_p)} (ratio lower bound {cmp.lower:.3g} > "
                f"{cfg.error_rate_ratio_max:g} with {g_conf} confidence); reject the package and read the challenger "
                "variant's CloudWatch logs for the failing requests.",
            )
        )

    # Model latency: CloudWatch gives averages without a spread, so this is a threshold after a minimum sample.
    lat_c, lat_p = c.average_latency, p.average_latency
    if lat_c is not None and lat_p is not None and lat_p > 0:
        ready = min(_latency_samples(c), _latency_samples(p)) >= cfg.min_latency_samples
        ratio = lat_c / lat_p
        breached = ready and ratio > cfg.latency_ratio_max
        out.append(
            GuardrailResult(
                name="model_latency",
                breached=breached,
                challenger_value=lat_c,
                production_value=lat_p,
                threshold=cfg.latency_ratio_max,
                statistics={"ratio": ratio, "minimum_samples_met": ready},
                reason=(
                    f"Guardrail model_latency breached: the challenger's average ModelLatency is {ratio:.2f}x "
                    f"production's (max {cfg.latency_ratio_max:g}x); reject the package and check the challenger's "
                    "instance type and model size."
                )
                if breached
                else None,
            )
        )

    # JSON-format failures per impression: above an absolute maximum AND worse than production.
    if p.impressions + p.json_failures > 0 and c.impressions + c.json_failures > 0:
        # Failed responses count as exposure, so a challenger whose every response fails still has a rate.
        cmp = compare_rates(
            c.json_failures,
            c.impressions + c.json_failures,
            p.json_failures,
            p.impressions + p.json_failures,
            cfg.json_failure_ratio_max,
            "higher",
            prior,
            g_alpha,
        )
        rate_c = c.json_failures / c.impressions if c.impressions else math.inf
        rate_p = p.json_failures / p.impressions if p.impressions else math.inf
        above = rate_c > cfg.json_failure_rate_max
        result = rate_guardrail(
            "json_failure_rate",
            cmp,
            rate_c,
            rate_p,
            cfg.json_failure_ratio_max,
            f"Guardrail json_failure_rate breached: {pct(rate_c)} of the challenger's impressions failed the "
            f"recommendation schema (max {pct(cfg.json_failure_rate_max)}; production {pct(rate_p)}, ratio lower "
            f"bound {cmp.lower:.3g} with {g_conf} confidence); reject the package and rerun the offline format check.",
            extra_condition=above,
        )
        out.append(result)

    # Language fidelity: mismatches per Japanese query, or per impression when ja query counts are absent.
    use_ja = c.ja_queries is not None and p.ja_queries is not None
    exp_c = c.ja_queries if use_ja and c.ja_queries is not None else c.impressions
    exp_p = p.ja_queries if use_ja and p.ja_queries is not None else p.impressions
    if exp_c > 0 and exp_p > 0:
        cmp = compare_rates(
            c.language_mismatches,
            exp_c,
            p.language_mismatches,
            exp_p,
            cfg.language_mismatch_ratio_max,
            "higher",
            prior,
            g_alpha,
        )
        per = "Japanese queries" if use_ja else "impressions"
        rate_c, rate_p = c.language_mismatches / exp_c, p.language_mismatches / exp_p
        result = rate_guardrail(
            "language_fidelity",
            cmp,
            rate_c,
            rate_p,
            cfg.language_mismatch_ratio_max,
            f"Guardrail language_fidelity breached: the challenger answered {pct(rate_c)} of {per} in the wrong "
            f"language vs production's {pct(rate_p)} (ratio lower bound {cmp.lower:.3g} with {g_conf} confidence); "
            "reject the package and check the Japanese share of its training snapshot.",
        )
        result.statistics["denominator"] = "ja_queries" if use_ja else "impressions"
        out.append(result)

    # Cart adds per impression: the CTR test on a second business metric, with the CTR's minimum sample.
    if c.cart_adds is not None and p.cart_adds is not None and c.impressions > 0 and p.impressions > 0:
        cmp = compare_rates(
            c.cart_adds,
            c.impressions,
            p.cart_adds,
            p.impressions,
            cfg.cart_add_ratio_min,
            "lower",
            cfg.reject_prior(),
            g_alpha,
        )
        rate_c, rate_p = c.cart_adds / c.impressions, p.cart_adds / p.impressions
        result = rate_guardrail(
            "cart_add_rate",
            cmp,
            rate_c,
            rate_p,
            cfg.cart_add_ratio_min,
            f"Guardrail cart_add_rate breached: the challenger's cart-add rate {pct(rate_c)} is below "
            f"production's {pct(rate_p)} (ratio upper bound {cmp.upper:.3g} with {g_conf} confidence); "
            "reject the package: it turns fewer recommendations into cart additions.",
            extra_condition=enough,
        )
        result.statistics["minimum_sample_met"] = enough
        out.append(result)
    return out


def rate_guardrail(
    name: str,
    cmp: RateComparison,
    rate_c: float,
    rate_p: float,
    null_ratio: float,
    reason: str,
    extra_condition: bool = True,
) -> GuardrailResult:
    breached = cmp.beyond_null and extra_condition
    return GuardrailResult(
        name=name,
        breached=breached,
        challenger_value=rate_c,
        production_value=rate_p,
        threshold=null_ratio,
        statistics=cmp.as_dict(),
        reason=reason if breached else None,
    )


def variant_counts(
    metrics: RecommendationMetrics, endpoint: str, variants: Iterable[str], start: datetime, end: datetime
) -> dict[str, VariantCounts]:
    """Cumulative counts per variant over [start, end); zeros when the window is empty (the runtime gate reads
    variant_series; tests check the two reads of one window agree)."""
    names = list(variants)
    if end <= start:
        return {v: VariantCounts(0, 0) for v in names}
    period = _period(start, end)
    queries = [q for i, v in enumerate(names) for q in metrics._queries(endpoint, v, i, period)]
    if metrics._table is not None:
        metrics._check_seal()
    sums = metrics._get(queries, start, end)
    if metrics._table is not None:
        metrics.problems = []
        for i, variant in enumerate(names):
            for minute in metrics._table_minutes(endpoint, variant, start, end).values():
                for key, value in minute.items():
                    if value is not None:  # like CloudWatch: a sum of the datapoints there are
                        sums.setdefault(f"v{i}_{key}", []).append(value)
    out = {}
    for i, variant in enumerate(names):

        def total(key: str, index: int = i) -> float:
            return sum(sums.get(f"v{index}_{key}", []))

        def present(key: str, index: int = i) -> float | None:
            values = sums.get(f"v{index}_{key}", [])
            return sum(values) if values else None

        count = present("latency_count")
        out[variant] = VariantCounts(
            impressions=total("impressions"),
            clicks=total("clicks"),
            invocations=total("invocations"),
            errors_4xx=total("errors_4xx"),
            errors_5xx=total("errors_5xx"),
            latency_sum=present("latency_sum") if count else None,
            latency_count=count or None,
            json_failures=total("json_failures"),
            language_mismatches=total("language_mismatches"),
            cart_adds=present("cart_adds"),
        )
    return out
