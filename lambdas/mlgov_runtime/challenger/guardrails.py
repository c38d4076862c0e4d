"""The challenger's guardrails on cumulative counts (model errors, latency, JSON failures, language fidelity, cart
adds), each with the text that explains a breach and what to do about it. They need no minimum sample: their
tests are anytime-valid and fire only on clear evidence (a breach harms users whatever the split)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mlgov_runtime.challenger.inputs import DecisionConfig, VariantCounts
from mlgov_runtime.challenger.statistics import RateComparison, compare_rates


@dataclass(frozen=True)
class GuardrailResult:
    name: str
    breached: bool
    challenger_value: float | None
    production_value: float | None
    threshold: float
    statistics: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


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
        ready = min(c.latency_samples, p.latency_samples) >= cfg.min_latency_samples
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


def pct(value: float | None) -> str:
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value * 100:.2f}%"
