"""The gate as the runtime runs it, over per-minute series of both variants (decision.py: cumulative counts, for
what-if). Rules: docs/challenger.md (Watch, Decisions), docs/challenger-statistics.md. In code order: a gap in any
series of either variant is a gap, never a zero; the impressions/invocations agreement comes first, so forged
custom metrics never reject or promote."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlgov_runtime.challenger import frontload as fl
from mlgov_runtime.challenger import sequential as sq
from mlgov_runtime.challenger.decision import (
    CONTINUE,
    INSUFFICIENT_DATA,
    PROMOTE,
    REJECT,
    STOP_INVALID,
    Decision,
    sample_ratio_test,
    variant_stats,
)
from mlgov_runtime.challenger.guardrails import GuardrailResult, pct
from mlgov_runtime.challenger.inputs import DecisionConfig, VariantCounts
from mlgov_runtime.challenger.statistics import compare_rates

# Runtime only (never from the cumulative simulation): a data problem holds every verdict; the monitor keeps looking.
PAUSED = "PAUSED"


@dataclass(frozen=True)
class SourceWords:
    """How the reasons name where the recommender's counts come from: who could have forged one, where to find
    who wrote it, what to check when one is missing. A parameter of the gate (logic.table_source_words gives the
    table's), so no reason can keep one source's words under the other."""

    forged_by: str
    forged_short: str
    find_writer: str
    check_writer: str
    count: str  # the recommender's count named {key}
    publish_hint: str  # a required count missing
    guardrail_hint: str  # a guardrail's metric missing


CLOUDWATCH_WORDS = SourceWords(
    forged_by="forged with cloudwatch:PutMetricData, or a recommender bug",
    forged_short="forged metrics (cloudwatch:PutMetricData)",
    find_writer="Find who wrote the metric (CloudTrail PutMetricData on the recommendation namespace)",
    check_writer="Check CloudTrail PutMetricData on the recommendation namespace",
    count="the recommender's {key} metric",
    publish_hint="check that the recommender publishes every metric each minute with this endpoint's EndpointName "
    "and VariantName dimensions (a wrong VariantName is the usual cause).",
    guardrail_hint="check that the recommender (custom metrics) and SageMaker (Invocation5XXErrors, ModelLatency) "
    "publish it with this endpoint's EndpointName and VariantName dimensions.",
)

# AWS/SageMaker Invocations is SageMaker's own count, whatever the counts source: never the recommender's to fix.
INVOCATIONS_HINT = (
    "AWS/SageMaker Invocations is published by SageMaker, not the recommender: check that the experiment's variant "
    "and endpoint names are the endpoint's own (aws sagemaker describe-endpoint), that the variant takes traffic "
    "(its weight above 0, clients calling the endpoint), and that SageMaker has published the last minutes yet "
    "(its metrics arrive a few minutes late)."
)

REQUIRED = ("impressions", "clicks", "invocations")
SUMMED = (
    "impressions",
    "clicks",
    "invocations",
    "errors_4xx",
    "errors_5xx",
    "latency_sum",
    "latency_count",
    "json_failures",
    "language_mismatches",
    "cart_adds",
    "distinct_titles",
)
# The series keys each guardrail reads: a key the look queried (present in a series) makes the guardrail configured.
GUARDRAIL_METRICS = {
    "invocation_error_rate": ("errors_5xx",),
    "model_latency": ("latency_sum", "latency_count"),
    "json_failure_rate": ("json_failures",),
    "language_fidelity": ("language_mismatches",),
    "cart_add_rate": ("cart_adds",),
    "recommendation_diversity": ("distinct_titles",),
}

Series = Mapping[str, Sequence[float | None]]
# The ramp's split test is tightest near this binomial variance of routed requests (about 10 min at 3,500/min).
SRM_TARGET_VARIANCE = 3000.0


def _present(series: Series, key: str, i: int) -> bool:
    values = series.get(key)
    return values is not None and i < len(values) and values[i] is not None


def _value(series: Series, key: str, i: int) -> float:
    values = series.get(key)
    return float(values[i] or 0.0) if values is not None and i < len(values) else 0.0


def _validate(name: str, series: Series, minutes: int) -> None:
    for key, values in series.items():
        if len(values) != minutes:
            raise ValueError(f"{name}.{key} has {len(values)} minutes, the window has {minutes}")
        for value in values:
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}.{key} must hold finite numbers >= 0 or None (missing), got {value!r}")


def decide_minutes(
    production: Series,
    challenger: Series,
    minutes: int,
    config: DecisionConfig | None = None,
    weights: Sequence[float | None] | None = None,
    early_looks: Sequence[Sequence[float]] | None = None,
    words: SourceWords = CLOUDWATCH_WORDS,
) -> Decision:
    """The verdict at one look over `minutes` settled minutes since the challenger went live. `weights`: the
    challenger's configured weight per minute when a ramp changed it (None for a minute in which it changed).
    `early_looks`: [minutes read, V] of the earlier looks inside the front-loaded test's window (the watch state);
    None (a one-off look, `mlgov challenger status`) runs only the mixture part of the CTR test. `words`: how the
    reasons name the counts' source."""
    cfg = config or DecisionConfig()
    _validate("production", production, minutes)
    _validate("challenger", challenger, minutes)
    both = (production, challenger)
    aligned = [i for i in range(minutes) if all(_present(s, k, i) for s in both for k in REQUIRED)]
    p = _counts(production, challenger, production, aligned)
    c = _counts(production, challenger, challenger, aligned)
    elapsed = float(minutes)
    stats: dict[str, Any] = {
        "window_minutes": minutes,
        "aligned_minutes": len(aligned),
        "missing_minutes": minutes - len(aligned),
        "reject_budget": cfg.reject_budget,
        "ctr_reject_alpha": cfg.ctr_reject_alpha,
        "guardrail_alpha_each": cfg.guardrail_alpha_each,
    }
    prod_stats, chall_stats = variant_stats(p, cfg), variant_stats(c, cfg)

    def done(decision: str, reasons: list[str], guardrails: list[GuardrailResult] | None = None) -> Decision:
        return Decision(decision, reasons, elapsed, prod_stats, chall_stats, stats, guardrails or [])

    # 1. A required metric that never arrived (or stopped arriving): a data problem, not evidence, and no verdict.
    absent = _silent(both, REQUIRED, minutes, cfg)
    if absent:
        role, key, gap = absent[0]
        source = "AWS/SageMaker Invocations" if key == "invocations" else words.count.format(key=key)
        return _paused(
            done,
            stats,
            absent,
            elapsed,
            cfg,
            f"Data problem: {source} has no datapoint for the {role} variant in the last {gap} min "
            f"({', '.join(f'{r} {k}' for r, k, _ in absent)} missing). Missing data is not zero: "
            f"{_absent_hint(absent, words)}",
        )

    # 2. Clicks never exceed impressions in a minute: more is a forged or broken metric, not a better model.
    excess = _clicks_over_impressions(production, challenger, minutes)
    if excess:
        role, i, clicks, shown = excess
        stats["clicks_check"] = {"variant": role, "minute": i, "clicks": clicks, "impressions": shown}
        return done(
            STOP_INVALID,
            [
                f"Clicks exceed impressions: the {role} variant reports {clicks:,.0f} RecommendationClicks against "
                f"{shown:,.0f} RecommendationImpressions in minute {i} of the window. The recommendation metrics "
                f"cannot be trusted ({words.forged_by}), so the experiment is INVALID: no verdict on the model. "
                f"{words.find_writer} before restarting."
            ],
        )

    # 3. Impressions against SageMaker's own invocation counts: forged or broken custom metrics void the run.
    cross = _crosscheck(p, c, cfg, words)
    stats["impressions_crosscheck"] = cross
    if cross["disagrees"]:
        return done(STOP_INVALID, [cross["reason"]])
    # 3b. ...and against each other: one recommender renders both, so impressions per invocation must agree.
    agree = _ratio_agreement(production, challenger, aligned, minutes - cfg.recent_minutes, cfg, words)
    stats["impressions_agreement"] = agree
    if agree["disagrees"]:
        return done(STOP_INVALID, [agree["reason"]])

    # 3c. A configured guardrail metric that never arrived: the same data problem (a guardrail never reads as 0).
    configured = [
        name for name, keys in GUARDRAIL_METRICS.items() if any(k in s for s in (production, challenger) for k in keys)
    ]
    stats["guardrails_configured"] = configured
    silent = [
        (role, key, gap)
        for name in configured
        for role, key, gap in _silent(both, GUARDRAIL_METRICS[name], minutes, cfg, whole_window=True)
    ]
    if silent:
        role, key, gap = silent[0]
        return _paused(
            done,
            stats,
            silent,
            elapsed,
            cfg,
            f"Data problem: the guardrail metric {key} has no datapoint for the {role} variant in {gap} min "
            f"({', '.join(f'{r} {k}' for r, k, _ in silent)} missing). A guardrail that cannot be evaluated is not "
            f"a pass, so there is no verdict on the model; {words.guardrail_hint}",
        )

    # 4. Sample ratio on invocations (SageMaker routes requests, not impressions). An off split voids the
    # comparison before any breach is read: extra requests aimed at one variant (InvokeEndpoint with TargetVariant)
    # can then only stop a run.
    if weights is not None and any(w != cfg.traffic_fraction for w in weights):
        srm = _srm_ramp(production, challenger, aligned, weights, cfg)
    else:
        srm = _srm(c.invocations, p.invocations, cfg)
    stats["srm"] = srm
    guardrails = _guardrails(production, challenger, aligned, p, c, cfg)
    if srm["mismatch"]:
        return done(STOP_INVALID, [_srm_reason(srm, cfg)], guardrails)

    enough = (
        min(p.impressions, c.impressions) >= cfg.min_impressions_per_variant
        and p.clicks + c.clicks >= cfg.min_clicks_total
        and len(aligned) >= cfg.min_aligned_minutes
    )
    stats["minimum_sample_met"] = enough
    ctr_minutes = [
        sq.Minute(
            _value(challenger, "clicks", i),
            _value(challenger, "impressions", i),
            _value(production, "clicks", i),
            _value(production, "impressions", i),
        )
        for i in aligned
    ]
    target = cfg.ctr_target_variance
    reject = sq.compare_minutes(ctr_minutes, 1.0, "lower", cfg.ctr_late_alpha, target)
    early = None
    if cfg.ctr_early_share and early_looks is not None:
        early = fl.early_look(
            early_looks,
            minutes,
            reject.statistic,
            reject.variance,
            reject.minutes,
            enough,
            cfg.ctr_early_alpha,
            cfg.ctr_early_minutes,
            cfg.settle_minutes,
            cfg.min_aligned_minutes,
        )
    early_rejects = early is not None and early["rejects"]
    interval = sq.compare_minutes(ctr_minutes, cfg.non_inferiority_margin, "higher", cfg.alpha, target)
    recent_from = minutes - cfg.recent_minutes
    recent_minutes = [m for i, m in zip(aligned, ctr_minutes, strict=True) if i >= recent_from]
    recent = sq.point_ratio(recent_minutes)
    # Novelty: the recent window alone must also clear the margin, by recent_z standard errors (a fixed-level check
    # on top of the anytime test, so it only ever removes promotions).
    s_recent, v_recent = sq.residual_sums(recent_minutes, cfg.non_inferiority_margin)
    recent_z = s_recent / math.sqrt(v_recent) if v_recent > 0 else None
    floor_ok = c.ctr is not None and c.ctr >= cfg.ctr_floor
    window_met = elapsed >= cfg.min_minutes
    recent_ok = cfg.recent_minutes == 0 or (recent_z is not None and recent_z >= cfg.recent_z)
    stats["ctr_test"] = {
        **reject.as_dict(),
        "alpha": cfg.ctr_reject_alpha,
        "null_ratio": 1.0,
        "rejects": reject.beyond_null or early_rejects,
    }
    if cfg.ctr_early_share:
        stats["ctr_test"] |= {
            "mixture_alpha": cfg.ctr_late_alpha,
            "mixture_rejects": reject.beyond_null,
            "early_share": cfg.ctr_early_share,
            "early_minutes": cfg.ctr_early_minutes,
            "early": early,
        }
    stats["ctr_ratio"] = {
        "estimate": interval.ratio,
        "lower": interval.lower,
        "upper": interval.upper,
        "confidence": 1 - cfg.alpha,
    }
    stats["promote_test"] = {
        **interval.as_dict(),
        "margin": cfg.non_inferiority_margin,
        "non_inferior": interval.beyond_null,
        "ctr_floor": cfg.ctr_floor,
        "above_floor": floor_ok,
        "recent_minutes": cfg.recent_minutes,
        "recent_ratio": recent,
        "recent_z": recent_z,
        "recent_z_needed": cfg.recent_z,
        "recent_holds": recent_ok,
    }
    stats["minimum_window_met"] = window_met

    # 5. A challenger far better than any model is forged clicks, not evidence (checked on the anytime interval).
    if enough and interval.ratio is not None and interval.lower > cfg.ctr_ratio_plausible_max:
        stats["ctr_plausibility"] = {"lower": interval.lower, "max": cfg.ctr_ratio_plausible_max}
        return done(
            STOP_INVALID,
            [
                f"Implausible CTR: the challenger's CTR ratio is {interval.ratio:.2f} (lower bound "
                f"{interval.lower:.2f} > {cfg.ctr_ratio_plausible_max:g}); no model change does that, so "
                f"RecommendationClicks is forged or broken and the experiment is INVALID. {words.find_writer} before "
                "restarting."
            ],
            guardrails,
        )
    breached = [g for g in guardrails if g.breached]
    if breached:
        return done(REJECT, [g.reason or g.name for g in breached], guardrails)
    # PROMOTE only on guardrails that were evaluated, each over enough of the window.
    need = max(cfg.min_aligned_minutes, cfg.guardrail_min_coverage * len(aligned))
    unevaluated = [
        g.name
        for g in guardrails
        if g.name in configured and not (g.statistics.get("evaluated") and g.statistics.get("minutes", 0) >= need)
    ]
    stats["guardrails_unevaluated"] = unevaluated
    guardrails_ok = not unevaluated
    ctr_text = f"challenger CTR {pct(c.ctr)} vs production {pct(p.ctr)}"
    ratio_text = _ratio_text(interval, f"{(1 - cfg.alpha) * 100:g}%")
    if enough and early_rejects and not reject.beyond_null and early is not None:
        return done(
            REJECT,
            [
                f"The {ctr_text} over {len(aligned)} aligned minutes is lower (front-loaded early test, look "
                f"{early['look']} of the first {cfg.ctr_early_minutes:g} min: z {early['z']:.2f} >= bound "
                f"{early['t_bound']:.2f}, group-sequential at {cfg.ctr_early_alpha:g} of the CTR test's "
                f"{cfg.ctr_reject_alpha:g}; CTR ratio {_num(reject.ratio)}): reject the model package and remove the "
                "challenger variant."
            ],
            guardrails,
        )
    if enough and reject.beyond_null:
        return done(
            REJECT,
            [
                f"The {ctr_text} over {len(aligned)} aligned minutes is lower (minute-level confidence sequence at "
                f"{cfg.ctr_late_alpha:g}: log mixture {reject.log_mixture:.1f} >= {reject.threshold:.1f}; CTR ratio "
                f"{reject.ratio:.3f}, upper bound {reject.upper:.3f} < 1): reject the model package and remove the "
                "challenger variant."
            ],
            guardrails,
        )
    if enough and window_met and interval.beyond_null and floor_ok and recent_ok and guardrails_ok:
        return done(
            PROMOTE,
            [
                f"After {elapsed:g} min the {ctr_text} is non-inferior ({ratio_text}, lower bound >= margin "
                f"{cfg.non_inferiority_margin:g}), holds in the last {cfg.recent_minutes:g} min (ratio {_num(recent)}) "
                f"and is at or above the {pct(cfg.ctr_floor)} floor: promote the challenger."
            ],
            guardrails,
        )
    needed = _needed(interval, reject, elapsed, len(aligned), p, c, cfg)
    stats["needed"] = needed
    over = elapsed >= cfg.max_minutes
    reasons: list[str] = []
    if not enough:
        reasons.append(
            f"Below the minimum sample for a CTR verdict ({c.impressions:g} challenger and {p.impressions:g} "
            f"production impressions, {p.clicks + c.clicks:g} clicks over {len(aligned)} aligned minutes; need "
            f"{cfg.min_impressions_per_variant:g} impressions per variant, {cfg.min_clicks_total:g} clicks and "
            f"{cfg.min_aligned_minutes:g} minutes); keep the experiment running."
        )
    elif interval.beyond_null and not floor_ok:
        reasons.append(
            f"The challenger is non-inferior ({ratio_text}) but its CTR {pct(c.ctr)} is below the "
            f"{pct(cfg.ctr_floor)} floor, so it cannot be promoted automatically; review it manually."
        )
    elif interval.beyond_null and not window_met:
        reasons.append(
            f"Non-inferior so far ({ratio_text}) but the minimum duration is {cfg.min_minutes:g} min (novelty must "
            f"fade) and {elapsed:g} min have passed; keep the experiment running."
        )
    elif interval.beyond_null and not recent_ok:
        reasons.append(
            f"Non-inferior overall ({ratio_text}) but not in the last {cfg.recent_minutes:g} min (ratio "
            f"{_num(recent)}, {_num(recent_z)} standard errors above the margin {cfg.non_inferiority_margin:g}, needs "
            f"{cfg.recent_z:g}): the effect may be fading; "
            "keep the experiment running."
        )
    elif interval.beyond_null and not guardrails_ok:
        reasons.append(
            f"Non-inferior ({ratio_text}) but guardrails {', '.join(unevaluated)} are not yet evaluated on "
            f"{need:g} of {len(aligned)} aligned minutes (their metrics are missing for a variant): no promotion "
            "without them; keep the experiment running and check those metrics."
        )
    else:
        reasons.append(f"No verdict yet after {elapsed:g} min: {ctr_text}, {ratio_text}.")
    if stats["missing_minutes"]:
        reasons.append(f"{stats['missing_minutes']} of {minutes} minutes lack a metric for a variant and are left out.")
    if over:
        reasons.insert(0, f"The {cfg.max_minutes:g}-minute window ended without a CTR verdict.")
        return done(INSUFFICIENT_DATA, reasons, guardrails)
    return done(CONTINUE, reasons, guardrails)


def _silent(
    both: tuple[Series, Series], keys: Sequence[str], minutes: int, cfg: DecisionConfig, whole_window: bool = False
) -> list[tuple[str, str, int]]:
    """(variant, metric, minutes without data) for each metric with no datapoint in the last
    `missing_metric_minutes` of the window (`whole_window`: in the whole window) once the window is that long."""
    if minutes < cfg.missing_metric_minutes:
        return []
    out = []
    for role, s in zip(("production", "challenger"), both, strict=True):
        for key in keys:
            last = max((i for i in range(minutes) if _present(s, key, i)), default=-1)
            gap = minutes - 1 - last
            if (last < 0) if whole_window else (gap >= max(cfg.missing_metric_minutes, 1)):
                out.append((role, key, gap))
    return out


def _paused(
    done: Callable[[str, list[str]], Decision],
    stats: dict[str, Any],
    missing: list[tuple[str, str, int]],
    elapsed: float,
    cfg: DecisionConfig,
    text: str,
) -> Decision:
    """A data problem: PAUSED while the window lasts (later looks judge again once the data is back), then
    INSUFFICIENT_DATA with the data problem: inconclusive, never a rejection of the package."""
    role, key, gap = missing[0]
    stats["data_problem"] = {
        "variant": role,
        "metric": key,
        "minutes_without_data": gap,
        "missing": [{"variant": r, "metric": k, "minutes_without_data": g} for r, k, g in missing],
    }
    if elapsed >= cfg.max_minutes:
        return done(
            INSUFFICIENT_DATA,
            [
                f"The {cfg.max_minutes:g}-minute window ended with the data still missing: inconclusive, the package "
                "is neither rejected nor promoted.",
                text,
            ],
        )
    return done(
        PAUSED,
        [
            text,
            "The experiment is paused: no verdict while the data is missing; the monitor keeps looking and judges "
            f"again once the data arrives, until the {cfg.max_minutes:g}-minute window ends (then inconclusive, "
            "never a rejection).",
        ],
    )


def _counts(production: Series, challenger: Series, series: Series, aligned: list[int]) -> VariantCounts:
    """Sums over the aligned minutes; an optional metric counts only in minutes both variants report it, and is
    None when neither ever does."""
    out: dict[str, float | None] = {}
    for key in SUMMED:
        minutes = [i for i in aligned if _present(production, key, i) and _present(challenger, key, i)]
        out[key] = sum(_value(series, key, i) for i in minutes) if minutes else None
    latency_count = out["latency_count"] or None
    return VariantCounts(
        impressions=out["impressions"] or 0.0,
        clicks=out["clicks"] or 0.0,
        invocations=out["invocations"] or 0.0,
        errors_4xx=out["errors_4xx"] or 0.0,
        errors_5xx=out["errors_5xx"] or 0.0,
        latency_sum=out["latency_sum"] if latency_count else None,
        latency_count=latency_count,
        json_failures=out["json_failures"] or 0.0,
        language_mismatches=out["language_mismatches"] or 0.0,
        cart_adds=out["cart_adds"],
        distinct_titles=out["distinct_titles"],
    )


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _absent_hint(absent: list[tuple[str, str, int]], words: SourceWords) -> str:
    """What to check for the missing required counts: SageMaker's Invocations has its own causes."""
    keys = {key for _, key, _ in absent}
    hints = []
    if keys - {"invocations"}:
        hints.append(words.publish_hint)
    if "invocations" in keys:
        hints.append(INVOCATIONS_HINT)
    return " ".join(hints)


def _crosscheck(p: VariantCounts, c: VariantCounts, cfg: DecisionConfig, words: SourceWords) -> dict[str, Any]:
    lo, hi = cfg.impressions_per_invocation_min, cfg.impressions_per_invocation_max
    out: dict[str, Any] = {"band": [lo, hi], "disagrees": False}
    for role, v in (("production", p), ("challenger", c)):
        out[role] = v.impressions / v.invocations if v.invocations else None
    for role, v in (("production", p), ("challenger", c)):
        per = out[role]
        if v.invocations >= cfg.crosscheck_min_invocations and per is not None and not lo <= per <= hi:
            out["disagrees"] = True
            out["reason"] = (
                f"Impressions disagree with SageMaker: the {role} variant reports {v.impressions:,.0f} "
                f"RecommendationImpressions against {v.invocations:,.0f} AWS/SageMaker Invocations ({per:.2f} per "
                f"invocation, allowed {lo:g}-{hi:g}). The recommendation metrics cannot be trusted "
                f"({words.forged_by}), so the experiment is INVALID: no verdict on the model. {words.find_writer} "
                "before restarting."
            )
            break
        if v.invocations == 0 and v.impressions >= cfg.min_impressions_per_variant and v is not None:
            out["disagrees"] = True
            out["reason"] = (
                f"Impressions disagree with SageMaker: the {role} variant reports {v.impressions:,.0f} impressions "
                f"and no AWS/SageMaker Invocations; the experiment is INVALID (no verdict). {words.find_writer}."
            )
            break
    return out


def _clicks_over_impressions(
    production: Series, challenger: Series, minutes: int
) -> tuple[str, int, float, float] | None:
    for role, s in (("production", production), ("challenger", challenger)):
        for i in range(minutes):
            shown = _present(s, "clicks", i) and _present(s, "impressions", i)
            if shown and _value(s, "clicks", i) > _value(s, "impressions", i):
                return role, i, _value(s, "clicks", i), _value(s, "impressions", i)
    return None


def _per_invocation(series: Series, minutes: list[int]) -> tuple[float, float, float] | None:
    """Impressions per invocation (ratio estimate), its variance from the per-minute residuals, and invocations."""
    n = sum(_value(series, "invocations", i) for i in minutes)
    if n <= 0:
        return None
    r = sum(_value(series, "impressions", i) for i in minutes) / n
    resid = [_value(series, "impressions", i) - r * _value(series, "invocations", i) for i in minutes]
    k = len(resid)
    var = sum(e * e for e in resid) / (n * n) * (k / (k - 1) if k > 1 else 1.0)
    return r, var, n


def _ratio_agreement(
    production: Series,
    challenger: Series,
    aligned: list[int],
    recent_from: float,
    cfg: DecisionConfig,
    words: SourceWords,
) -> dict[str, Any]:
    """Both variants' impressions per invocation, over the window and the recent segment: a log ratio beyond
    log(1 + tolerance) + z standard errors is INVALID (docs/challenger.md, What the gate believes)."""
    used = [i for i in aligned if _value(production, "invocations", i) > 0 and _value(challenger, "invocations", i) > 0]
    out: dict[str, Any] = {
        "tolerance": cfg.impressions_ratio_tolerance,
        "z": cfg.impressions_ratio_z,
        "disagrees": False,
        "segments": {},
    }
    for segment, minutes in (("window", used), ("recent", [i for i in used if i >= recent_from])):
        rp, rc = _per_invocation(production, minutes), _per_invocation(challenger, minutes)
        if rp is None or rc is None or rp[0] <= 0 or rc[0] <= 0:
            continue
        if len(minutes) < cfg.impressions_ratio_min_minutes or min(rp[2], rc[2]) < cfg.crosscheck_min_invocations:
            continue
        gap = math.log(rc[0] / rp[0])
        se = math.sqrt(rc[1] / rc[0] ** 2 + rp[1] / rp[0] ** 2)
        limit = math.log(1 + cfg.impressions_ratio_tolerance) + cfg.impressions_ratio_z * se
        out["segments"][segment] = {
            "minutes": len(minutes),
            "production": rp[0],
            "challenger": rc[0],
            "log_gap": gap,
            "standard_error": se,
            "limit": limit,
        }
        if abs(gap) > limit:
            out["disagrees"] = True
            out["reason"] = (
                f"Impressions per invocation differ between the variants ({segment}, {len(minutes)} min): challenger "
                f"{rc[0]:.3f} vs production {rp[0]:.3f} RecommendationImpressions per AWS/SageMaker Invocation (gap "
                f"{math.expm1(abs(gap)):.1%}, allowed {cfg.impressions_ratio_tolerance:.0%} + "
                f"{cfg.impressions_ratio_z:g} standard errors = {math.expm1(limit):.1%}). One recommender renders "
                f"both, so a gap is {words.forged_short} or a variant that renders a different "
                "number of items; either way the CTR comparison is not like for like and the experiment is INVALID "
                f"(no verdict). {words.check_writer} and the variants' "
                "response sizes before restarting."
            )
            break
    return out


def _srm(invocations_c: float, invocations_p: float, cfg: DecisionConfig) -> dict[str, Any]:
    """The decision's sample-ratio test, on AWS's invocation counts instead of the reported impressions."""
    return {"unit": "invocations", **sample_ratio_test(invocations_c, invocations_p, cfg)}


def _srm_ramp(
    production: Series, challenger: Series, aligned: list[int], weights: Sequence[float | None], cfg: DecisionConfig
) -> dict[str, Any]:
    """The split under a ramp: per minute, the challenger's invocations minus its configured share of them; the
    routing of each request is a coin with the minute's weight, so the binomial variance is exact. Two-sided,
    srm_alpha in all; minutes in which the weight changed are left out (their split is a mix)."""
    s = v = 0.0
    used = 0
    for i in aligned:
        w = weights[i] if i < len(weights) else None
        if w is None:
            continue
        total = _value(production, "invocations", i) + _value(challenger, "invocations", i)
        s += _value(challenger, "invocations", i) - w * total
        v += w * (1 - w) * total
        used += 1
    rho2 = sq.rho_squared(cfg.srm_alpha / 2, SRM_TARGET_VARIANCE)
    mismatch = v > 0 and (sq.crosses(s, v, rho2, cfg.srm_alpha / 2) or sq.crosses(-s, v, rho2, cfg.srm_alpha / 2))
    inv_c = sum(_value(challenger, "invocations", i) for i in aligned)
    inv_all = inv_c + sum(_value(production, "invocations", i) for i in aligned)
    expected = [w for i, w in enumerate(weights) if i in set(aligned) and w is not None]
    return {
        "unit": "invocations",
        "method": "per-minute residual against the ramp's weights",
        "statistic": s,
        "variance": v,
        "minutes": used,
        "log_mixture_lr": max(sq.log_mixture_one_sided(s, v, rho2), sq.log_mixture_one_sided(-s, v, rho2))
        if v > 0
        else 0.0,
        "threshold": math.log(2 / cfg.srm_alpha),
        "expected_share": sum(expected) / len(expected) if expected else None,
        "observed_share": inv_c / inv_all if inv_all else None,
        "mismatch": bool(mismatch),
    }


def _srm_reason(srm: dict[str, Any], cfg: DecisionConfig) -> str:
    return (
        f"Sample-ratio mismatch: the challenger received {pct(srm['observed_share'])} of AWS/SageMaker Invocations, "
        f"not the configured {pct(cfg.traffic_fraction)} (log mixture likelihood ratio {srm['log_mixture_lr']:.1f} "
        f">= {srm['threshold']:.1f}), so the CTR comparison is void; check the endpoint's variant weights "
        "(aws sagemaker describe-endpoint), then restart the experiment."
    )


def _ratio_text(cmp: sq.SequentialComparison, confidence: str) -> str:
    if cmp.ratio is None:
        return "CTR ratio not yet defined"
    return f"CTR ratio {cmp.ratio:.3f}, {confidence} anytime-valid interval {cmp.lower:.3f}-{cmp.upper:.3f}"


def _needed(
    interval: sq.SequentialComparison,
    reject: sq.SequentialComparison,
    elapsed: float,
    aligned: int,
    p: VariantCounts,
    c: VariantCounts,
    cfg: DecisionConfig,
) -> dict[str, Any]:
    """If the per-minute behaviour held: the smallest multiple of the data (S and V scale together) that decides."""
    method = "scale the minute-level statistic and its variance (observed behaviour unchanged)"
    best: tuple[float, str] | None = None
    for cmp, alpha, verdict in ((reject, cfg.ctr_late_alpha, REJECT), (interval, cfg.alpha, PROMOTE)):
        k = sq.needed_scale(cmp.statistic, cmp.variance, alpha, cfg.ctr_target_variance)
        if k is not None and (best is None or k < best[0]):
            best = (k, verdict)
    if best is None or aligned == 0:
        return {"additional_impressions": None, "additional_minutes": None, "verdict": None, "method": method}
    k, verdict = best
    minutes = (k - 1) * elapsed
    if verdict == PROMOTE:
        minutes = max(minutes, cfg.min_minutes - elapsed)
    return {
        "additional_impressions": math.ceil((k - 1) * (p.impressions + c.impressions)),
        "additional_minutes": minutes,
        "verdict": verdict,
        "method": method,
    }


def _guardrails(
    production: Series,
    challenger: Series,
    aligned: list[int],
    p: VariantCounts,
    c: VariantCounts,
    cfg: DecisionConfig,
) -> list[GuardrailResult]:
    g_alpha = cfg.guardrail_alpha_each
    g_conf = f"{(1 - g_alpha) * 100:g}%"
    prior = cfg.guardrail_prior()
    out: list[GuardrailResult] = []

    def minutes_of(events: str, exposure: str) -> list[sq.Minute]:
        keys = (events, exposure)
        return [
            sq.Minute(
                _value(challenger, events, i),
                _value(challenger, exposure, i),
                _value(production, events, i),
                _value(production, exposure, i),
            )
            for i in aligned
            if all(_present(s, k, i) for s in (production, challenger) for k in keys)
        ]

    def skipped(name: str, metric: str) -> GuardrailResult:
        return GuardrailResult(
            name,
            False,
            None,
            None,
            0.0,
            {
                "evaluated": False,
                "why": f"no {metric} datapoints for both variants: not evaluated (missing is not zero)",
            },
        )

    # Errors, JSON failures, language mismatches: rare independent events, the exact mixture test on sums over the
    # minutes both variants report (a metric with no datapoint is not evaluated, never 0). Errors are 5XX only:
    # a 4XX is the caller's malformed request (anyone may send one with TargetVariant), not model evidence.
    for name, events, exposure, null, text in (
        (
            "invocation_error_rate",
            "errors_5xx",
            "invocations",
            cfg.error_rate_ratio_max,
            "5XX errors per invocation; read the challenger variant's CloudWatch logs for the failing requests",
        ),
        (
            "json_failure_rate",
            "json_failures",
            "impressions",
            cfg.json_failure_ratio_max,
            "responses failing the recommendation schema; rerun the offline format check",
        ),
        (
            "language_fidelity",
            "language_mismatches",
            "impressions",
            cfg.language_mismatch_ratio_max,
            "answers in the wrong language; check the Japanese share of its training snapshot",
        ),
    ):
        ms = minutes_of(events, exposure)
        ev_c, ev_p = sum(m.events_c for m in ms), sum(m.events_p for m in ms)
        ex_c, ex_p = sum(m.exposure_c for m in ms), sum(m.exposure_p for m in ms)
        if events == "json_failures":
            ex_c, ex_p = ex_c + ev_c, ex_p + ev_p  # failed responses are exposure too
        if ex_c <= 0 or ex_p <= 0:
            out.append(skipped(name, events))
            continue
        cmp = compare_rates(ev_c, ex_c, ev_p, ex_p, null, "higher", prior, g_alpha)
        rate_c, rate_p = ev_c / ex_c, ev_p / ex_p
        extra = rate_c > cfg.json_failure_rate_max if events == "json_failures" else True
        hit = cmp.beyond_null and extra
        out.append(
            GuardrailResult(
                name,
                hit,
                rate_c,
                rate_p,
                null,
                {**cmp.as_dict(), "evaluated": True, "minutes": len(ms)},
                f"Guardrail {name} breached: challenger {pct(rate_c)} vs production {pct(rate_p)} ({text}; ratio "
                f"lower bound {cmp.lower:.3g} > {null:g} with {g_conf} confidence); reject the package."
                if hit
                else None,
            )
        )

    # Latency: per-minute log ratio of average ModelLatency against log(latency_ratio_max), a sequential test.
    lat = []
    for i in aligned:
        if all(_present(s, k, i) for s in (production, challenger) for k in ("latency_sum", "latency_count")):
            nc, np_ = _value(challenger, "latency_count", i), _value(production, "latency_count", i)
            sc, sp = _value(challenger, "latency_sum", i), _value(production, "latency_sum", i)
            if nc > 0 and np_ > 0 and sc > 0 and sp > 0:
                lat.append(math.log((sc / nc) / (sp / np_)) - math.log(cfg.latency_ratio_max))
    if lat:
        s = sum(lat)
        mean = s / len(lat)
        v = sum((e - mean) ** 2 for e in lat) * len(lat) / max(len(lat) - 1, 1)
        rho2 = sq.rho_squared(g_alpha, cfg.latency_target_variance)
        hit = len(lat) >= cfg.min_aligned_minutes and sq.crosses(s, v, rho2, g_alpha, len(lat) - 1.0)
        ratio = c.average_latency / p.average_latency if c.average_latency and p.average_latency else None
        out.append(
            GuardrailResult(
                "model_latency",
                hit,
                c.average_latency,
                p.average_latency,
                cfg.latency_ratio_max,
                {
                    "ratio": ratio,
                    "minutes": len(lat),
                    "statistic": s,
                    "variance": v,
                    "log_mixture": sq.log_mixture_one_sided(s, v, rho2),
                    "threshold": math.log(1 / g_alpha),
                    "method": "minute-level normal-mixture test on log latency ratio",
                    "evaluated": True,
                },
                f"Guardrail model_latency breached: the challenger's ModelLatency is {ratio:.2f}x production's, above "
                f"{cfg.latency_ratio_max:g}x with {g_conf} confidence over {len(lat)} minutes; reject the package and "
                "check the challenger's instance type and model size."
                if hit and ratio
                else None,
            )
        )
    else:
        out.append(skipped("model_latency", "ModelLatency"))

    # Cart adds and distinct titles per impression: overdispersed like clicks, so minute-level tests.
    for name, events, null, text in (
        ("cart_add_rate", "cart_adds", cfg.cart_add_ratio_min, "it turns fewer recommendations into cart additions"),
        (
            "recommendation_diversity",
            "distinct_titles",
            cfg.diversity_ratio_min,
            "its recommendations cover fewer distinct titles per impression (catalog diversity)",
        ),
    ):
        ms = minutes_of(events, "impressions")
        if not ms:
            out.append(skipped(name, events))
            continue
        seq = sq.compare_minutes(ms, null, "lower", g_alpha, cfg.ctr_target_variance)
        ev_c, ev_p = sum(m.events_c for m in ms), sum(m.events_p for m in ms)
        ex_c, ex_p = sum(m.exposure_c for m in ms), sum(m.exposure_p for m in ms)
        share_c = ev_c / ex_c if ex_c else None
        share_p = ev_p / ex_p if ex_p else None
        hit = seq.beyond_null and len(ms) >= cfg.min_aligned_minutes
        out.append(
            GuardrailResult(
                name,
                hit,
                share_c,
                share_p,
                null,
                {**seq.as_dict(), "evaluated": True, "minutes": len(ms)},
                f"Guardrail {name} breached: challenger {share_c or 0:.4g} vs production {share_p or 0:.4g} per "
                "impression "
                f"(ratio upper bound {seq.upper:.3g} < {null:g} with {g_conf} confidence): {text}; reject the package."
                if hit
                else None,
            )
        )
    return out
