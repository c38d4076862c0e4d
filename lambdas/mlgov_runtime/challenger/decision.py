"""The challenger CTR gate's cumulative-count form (what-if simulation: `mlgov challenger simulate`), and the
shapes and settings the runtime gate (gate.py, per-minute series) shares with it.

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
import numbers
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

CONTINUE = "CONTINUE"
REJECT = "REJECT"
PROMOTE = "PROMOTE"
STOP_INVALID = "STOP_INVALID"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
DECISIONS = (CONTINUE, REJECT, PROMOTE, STOP_INVALID, INSUFFICIENT_DATA)

# Bisection steps for interval ends: 2**-60 of the search range, far below any reported digit.
_BISECT_STEPS = 60
# Largest data multiple the "impressions still needed" projection considers.
_MAX_SCALE = 1e6


@dataclass(frozen=True)
class VariantCounts:
    """Cumulative counts for one production variant since the challenger started (CloudWatch sums)."""

    impressions: float
    clicks: float
    invocations: float = 0
    errors_4xx: float = 0
    errors_5xx: float = 0
    latency_sum: float | None = None
    latency_count: float | None = None
    latency_avg: float | None = None
    json_failures: float = 0
    language_mismatches: float = 0
    ja_queries: float | None = None
    cart_adds: float | None = None
    distinct_titles: float | None = None

    def __post_init__(self) -> None:
        # numpy or Decimal counts become plain int/float, so the arithmetic and to_dict() stay plain Python.
        for key, value in vars(self).items():
            if isinstance(value, bool) or value is None or type(value) in (int, float):
                continue
            if isinstance(value, numbers.Integral):
                object.__setattr__(self, key, int(value))
            elif isinstance(value, numbers.Real | Decimal):
                object.__setattr__(self, key, float(value))

    @property
    def ctr(self) -> float | None:
        return self.clicks / self.impressions if self.impressions > 0 else None

    @property
    def errors(self) -> float:
        return self.errors_4xx + self.errors_5xx

    @property
    def average_latency(self) -> float | None:
        if self.latency_sum is not None and self.latency_count:
            return self.latency_sum / self.latency_count
        return self.latency_avg

    @property
    def latency_samples(self) -> float:
        # With an average alone, invocations stand in for the sample count.
        return self.latency_count if self.latency_count is not None else self.invocations

    def validate(self, name: str) -> None:
        for key, value in asdict(self).items():
            if value is None:
                continue
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"{name}.{key} must be a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"{name}.{key} must not be negative, got {value}")
        pairs = [
            ("clicks", self.clicks, "impressions", self.impressions),
            ("errors_4xx + errors_5xx", self.errors, "invocations", self.invocations),
        ]
        if self.cart_adds is not None:
            pairs.append(("cart_adds", self.cart_adds, "impressions", self.impressions))
        if self.ja_queries is not None:
            pairs.append(("language_mismatches", self.language_mismatches, "ja_queries", self.ja_queries))
        if self.latency_sum is not None and self.latency_count is None:
            raise ValueError(f"{name}.latency_sum needs latency_count to make an average")
        for part, part_value, whole, whole_value in pairs:
            if part_value > whole_value:
                raise ValueError(
                    f"{name}.{part} ({part_value:g}) exceeds {name}.{whole} ({whole_value:g}); "
                    "the counts must cover the same period"
                )


@dataclass(frozen=True)
class DecisionConfig:
    """Thresholds of the gate. Ratios are challenger / production."""

    alpha: float = 0.01
    traffic_fraction: float = 0.1
    non_inferiority_margin: float = 0.95
    ctr_floor: float = 0.075
    srm_alpha: float = 0.001
    # PROMOTE waits this long (novelty must fade) and the effect must also hold over the last recent_minutes.
    min_minutes: float = 120
    recent_minutes: float = 60
    recent_z: float = 1.0
    # 6 h: promotion at margin 0.95 needs ~3 h at 3,500 impressions/min; slower endpoints end INSUFFICIENT_DATA.
    max_minutes: float = 360
    min_impressions_per_variant: float = 1000
    min_clicks_total: float = 100
    # The CTR test's prior on the ratio (about 0.75-0.90): most power for drops of 10-30%, tuned by
    # bench/challenger_bench.py; any prior keeps the false-rejection bound, it only moves power between drop sizes.
    reject_prior_ratio: float = 0.82
    reject_prior_log_sd: float = 0.05
    # The ratio interval's prior (it decides PROMOTE): centred on equal CTR, where non-inferiority is decided.
    interval_prior_ratio: float = 1.0
    interval_prior_log_sd: float = 0.05
    # SRM prior: standard deviation of the challenger's impression share under a mismatch.
    srm_prior_sd: float = 0.02
    # Per-variant CTR interval prior: a Beta centred on the floor.
    ctr_prior_sd: float = 0.03
    # Level of each rate guardrail (errors, JSON, language, cart adds): an identical challenger is falsely
    # rejected with probability at most alpha + 4 x guardrail_alpha.
    guardrail_alpha: float = 0.001
    guardrail_prior_ratio: float = 2.0
    guardrail_prior_log_sd: float = 0.7
    error_rate_ratio_max: float = 1.0
    latency_ratio_max: float = 1.5
    min_latency_samples: float = 100
    json_failure_rate_max: float = 0.05
    json_failure_ratio_max: float = 1.0
    language_mismatch_ratio_max: float = 1.0
    cart_add_ratio_min: float = 1.0
    # The runtime's minute-level gate (gate.py). Every way to REJECT shares reject_budget under A/A over the whole
    # window: the CTR test spends ctr_reject_share of it, the six guardrails the rest in equal parts.
    reject_budget: float = 0.01
    ctr_reject_share: float = 0.7
    # Variance of the CTR residual sum at which the confidence sequence is tightest (about 20 min at 3,500
    # impressions/min and CTR 8 %, 10 % traffic); any value keeps the error bound, it only moves power in time.
    ctr_target_variance: float = 300.0
    latency_target_variance: float = 0.5
    min_aligned_minutes: float = 5
    diversity_ratio_min: float = 0.9
    # A required metric without any datapoint for this long is a data problem, not zero.
    missing_metric_minutes: float = 10
    # RecommendationImpressions per AWS/SageMaker Invocation allowed per variant (a response carries 1-20).
    impressions_per_invocation_min: float = 0.5
    impressions_per_invocation_max: float = 20.0
    crosscheck_min_invocations: float = 100
    # Looks read only minutes at least this old: CloudWatch may still fill the newest ones.
    settle_minutes: float = 2
    # Both variants are served by one recommender, so their impressions per AWS/SageMaker Invocation must agree:
    # a relative gap beyond the tolerance plus impressions_ratio_z standard errors (per-minute dispersion) over the
    # window or the recent segment is INVALID (forged or broken impressions would move the CTR ratio by as much).
    impressions_ratio_tolerance: float = 0.02
    impressions_ratio_z: float = 5.0
    impressions_ratio_min_minutes: float = 10
    # A challenger whose anytime-valid CTR ratio interval lies wholly above this is implausible (forged clicks):
    # INVALID, never PROMOTE.
    ctr_ratio_plausible_max: float = 2.0
    # PROMOTE needs every configured guardrail evaluated on at least this share of the aligned minutes.
    guardrail_min_coverage: float = 0.5
    # Optional traffic ramp: ((minutes since live, challenger weight), ...), taken by a look that finds no verdict
    # and no guardrail breached, e.g. ((10, 0.25), (20, 0.5)). Empty: the split stays at traffic_fraction.
    ramp: tuple[tuple[float, float], ...] = ()

    @property
    def ctr_reject_alpha(self) -> float:
        return self.reject_budget * self.ctr_reject_share

    @property
    def guardrail_alpha_each(self) -> float:
        return self.reject_budget * (1 - self.ctr_reject_share) / 6

    def __post_init__(self) -> None:
        steps = tuple((float(m), float(w)) for m, w in (self.ramp or ()))
        object.__setattr__(self, "ramp", steps)
        previous_minute, previous_weight = 0.0, self.traffic_fraction
        for minute, weight in steps:
            if not (minute > previous_minute and previous_weight < weight < 1):
                raise ValueError(
                    f"DecisionConfig.ramp: steps must rise in minutes and weight, above traffic_fraction and below 1; "
                    f"got {list(steps)}"
                )
            previous_minute, previous_weight = minute, weight
        if not 0 < self.reject_budget < 1 or not 0 < self.ctr_reject_share < 1:
            raise ValueError(
                f"DecisionConfig.reject_budget ({self.reject_budget}) and ctr_reject_share ({self.ctr_reject_share}) "
                "must be between 0 and 1 (exclusive)"
            )
        if not 0 < self.guardrail_min_coverage <= 1:
            raise ValueError(
                f"DecisionConfig.guardrail_min_coverage must be in (0, 1], got {self.guardrail_min_coverage}"
            )
        if not self.impressions_per_invocation_min < self.impressions_per_invocation_max:
            raise ValueError(
                "DecisionConfig.impressions_per_invocation_min must be below impressions_per_invocation_max"
            )
        for name in (
            "ctr_target_variance",
            "latency_target_variance",
            "diversity_ratio_min",
            "impressions_per_invocation_max",
            "impressions_ratio_z",
            "ctr_ratio_plausible_max",
        ):
            if not getattr(self, name) > 0 or not math.isfinite(getattr(self, name)):
                raise ValueError(f"DecisionConfig.{name} must be a positive number, got {getattr(self, name)}")
        for name in (
            "recent_minutes",
            "recent_z",
            "min_aligned_minutes",
            "missing_metric_minutes",
            "settle_minutes",
            "impressions_per_invocation_min",
            "crosscheck_min_invocations",
            "impressions_ratio_tolerance",
            "impressions_ratio_min_minutes",
        ):
            if not getattr(self, name) >= 0:
                raise ValueError(f"DecisionConfig.{name} must not be negative, got {getattr(self, name)}")
        for name in ("alpha", "traffic_fraction", "srm_alpha", "guardrail_alpha", "ctr_floor", "json_failure_rate_max"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ValueError(f"DecisionConfig.{name} must be between 0 and 1 (exclusive), got {value}")
        for name in (
            "non_inferiority_margin",
            "reject_prior_ratio",
            "interval_prior_ratio",
            "guardrail_prior_ratio",
            "reject_prior_log_sd",
            "interval_prior_log_sd",
            "guardrail_prior_log_sd",
            "srm_prior_sd",
            "ctr_prior_sd",
            "error_rate_ratio_max",
            "latency_ratio_max",
            "json_failure_ratio_max",
            "language_mismatch_ratio_max",
            "cart_add_ratio_min",
        ):
            value = getattr(self, name)
            if not value > 0 or not math.isfinite(value):
                raise ValueError(f"DecisionConfig.{name} must be a positive number, got {value}")
        for name in ("min_minutes", "min_impressions_per_variant", "min_clicks_total", "min_latency_samples"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"DecisionConfig.{name} must not be negative, got {getattr(self, name)}")
        if not self.min_minutes <= self.max_minutes < math.inf:
            raise ValueError(
                f"DecisionConfig.max_minutes ({self.max_minutes}) must be finite and "
                f">= min_minutes ({self.min_minutes})"
            )
        # Building every prior once turns an impossible spread into a config error, not a failure mid-run.
        self.reject_prior()
        self.interval_prior()
        self.guardrail_prior()
        self.srm_prior()
        self.ctr_prior()

    def reject_prior(self) -> tuple[float, float]:
        return ratio_prior(self.reject_prior_ratio, self.reject_prior_log_sd, self.traffic_fraction, "reject_prior")

    def interval_prior(self) -> tuple[float, float]:
        return ratio_prior(
            self.interval_prior_ratio, self.interval_prior_log_sd, self.traffic_fraction, "interval_prior"
        )

    def guardrail_prior(self) -> tuple[float, float]:
        return ratio_prior(
            self.guardrail_prior_ratio, self.guardrail_prior_log_sd, self.traffic_fraction, "guardrail_prior"
        )

    def srm_prior(self) -> tuple[float, float]:
        return beta_from_moments(self.traffic_fraction, self.srm_prior_sd, "srm_prior_sd")

    def ctr_prior(self) -> tuple[float, float]:
        return beta_from_moments(self.ctr_floor, self.ctr_prior_sd, "ctr_prior_sd")


@dataclass(frozen=True)
class VariantStats:
    impressions: float
    clicks: float
    ctr: float | None
    ctr_lower: float | None
    ctr_upper: float | None


@dataclass(frozen=True)
class GuardrailResult:
    name: str
    breached: bool
    challenger_value: float | None
    production_value: float | None
    threshold: float
    statistics: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


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
# Beta-binomial mixture: the only statistics the gate uses.


def log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def beta_from_moments(mean: float, sd: float, what: str) -> tuple[float, float]:
    concentration = mean * (1 - mean) / (sd * sd) - 1
    if concentration <= 0:
        raise ValueError(f"DecisionConfig.{what}={sd} is too wide for a Beta prior with mean {mean:.4g}")
    return mean * concentration, (1 - mean) * concentration


def ratio_prior(center_ratio: float, log_sd: float, share: float, name: str) -> tuple[float, float]:
    """Beta prior on the challenger's share of events, centred on a rate ratio, with log_sd its spread in
    log-ratio (delta method: d theta / d log r = theta (1 - theta))."""
    mean = event_share(center_ratio, share, 1 - share)
    return beta_from_moments(mean, mean * (1 - mean) * log_sd, f"{name}_log_sd")


def event_share(ratio: float, challenger_exposure: float, production_exposure: float) -> float:
    """Probability that an event is the challenger's when its rate is `ratio` x production's."""
    return ratio * challenger_exposure / (ratio * challenger_exposure + production_exposure)


def log_likelihood(k: float, j: float, theta: float) -> float:
    """log theta^k (1-theta)^j, with 0 log 0 = 0."""
    out = 0.0
    if k:
        if theta <= 0:
            return -math.inf
        out += k * math.log(theta)
    if j:
        if theta >= 1:
            return -math.inf
        out += j * math.log1p(-theta)
    return out


def log_mixture_lr(k: float, j: float, theta0: float, a: float, b: float) -> float:
    """log of  B(a+k, b+j)/B(a, b)  /  theta0^k (1-theta0)^j : evidence against theta = theta0."""
    null = log_likelihood(k, j, theta0)
    if null == -math.inf:
        return math.inf
    return log_beta(a + k, b + j) - log_beta(a, b) - null


def confidence_sequence(k: float, j: float, a: float, b: float, alpha: float) -> tuple[float, float]:
    """{theta : log_mixture_lr(theta) < log(1/alpha)}, an interval around k/(k+j) (the log-likelihood is
    concave), valid simultaneously over all looks with probability >= 1 - alpha."""
    if k + j == 0:
        return 0.0, 1.0
    level = log_beta(a + k, b + j) - log_beta(a, b) + math.log(alpha)
    mle = k / (k + j)

    def inside(theta: float) -> bool:
        return log_likelihood(k, j, theta) > level

    lower = 0.0
    if k > 0:
        lo, hi = 0.0, mle
        for _ in range(_BISECT_STEPS):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if inside(mid) else (mid, hi)
        lower = lo
    upper = 1.0
    if j > 0:
        lo, hi = mle, 1.0
        for _ in range(_BISECT_STEPS):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if inside(mid) else (lo, mid)
        upper = hi
    return lower, upper


def share_to_ratio(theta: float, challenger_exposure: float, production_exposure: float) -> float:
    if theta >= 1:
        return math.inf
    return theta * production_exposure / ((1 - theta) * challenger_exposure)


@dataclass(frozen=True)
class RateComparison:
    """Challenger/production rate ratio of one event type, tested sequentially against a null ratio."""

    ratio: float | None
    lower: float
    upper: float
    log_lr: float
    threshold: float
    beyond_null: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "ratio_lower": self.lower,
            "ratio_upper": self.upper,
            "log_mixture_lr": self.log_lr,
            "threshold": self.threshold,
        }


def compare_rates(
    events_c: float,
    exposure_c: float,
    events_p: float,
    exposure_p: float,
    null_ratio: float,
    direction: str,
    prior: tuple[float, float],
    alpha: float,
) -> RateComparison:
    """direction "lower": is the challenger's rate below null_ratio x production's; "higher": above it."""
    a, b = prior
    threshold = math.log(1 / alpha)
    if exposure_c <= 0 or exposure_p <= 0:
        return RateComparison(None, 0.0, math.inf, 0.0, threshold, False)
    theta0 = event_share(null_ratio, exposure_c, exposure_p)
    log_lr = log_mixture_lr(events_c, events_p, theta0, a, b)
    total = events_c + events_p
    observed = events_c / total if total else theta0
    side = observed < theta0 if direction == "lower" else observed > theta0
    lo, hi = confidence_sequence(events_c, events_p, a, b, alpha)
    ratio = share_to_ratio(observed, exposure_c, exposure_p) if total else None
    return RateComparison(
        ratio=ratio,
        lower=share_to_ratio(lo, exposure_c, exposure_p),
        upper=share_to_ratio(hi, exposure_c, exposure_p),
        log_lr=log_lr,
        threshold=threshold,
        beyond_null=side and log_lr >= threshold,
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
    prod_stats = _variant_stats(p, cfg)
    chall_stats = _variant_stats(c, cfg)

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
    guardrails = _guardrails(p, c, cfg, enough)

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
    ctr_text = f"challenger CTR {_pct(c.ctr)} vs production {_pct(p.ctr)}"
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
            f"{cfg.non_inferiority_margin:g}) and at or above the {_pct(cfg.ctr_floor)} floor: promote the challenger."
        )
        return _done(PROMOTE, reasons, elapsed_minutes, prod_stats, chall_stats, statistics, guardrails)

    needed = estimate_needed(p, c, elapsed_minutes, cfg)
    statistics["needed"] = needed
    over = elapsed_minutes >= cfg.max_minutes
    if not enough:
        reasons.append(_minimum_sample_reason(p, c, cfg))
    elif interval.beyond_null and not floor_ok:
        reasons.append(
            f"The challenger is non-inferior to production ({ratio_text}) but its CTR {_pct(c.ctr)} is below the "
            f"{_pct(cfg.ctr_floor)} floor, so it cannot be promoted automatically; review it manually."
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


def _variant_stats(v: VariantCounts, cfg: DecisionConfig) -> VariantStats:
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


def _guardrails(p: VariantCounts, c: VariantCounts, cfg: DecisionConfig, enough: bool) -> list[GuardrailResult]:
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
            _rate_guardrail(
                "invocation_error_rate",
                cmp,
                rate_c,
                rate_p,
                cfg.error_rate_ratio_max,
                f"Guardrail invocation_error_rate breached: the challenger's 5XX errors are {_pct(rate_c)} of "
                f"invocations vs production's {_pct(rate_p)} (ratio lower bound {cmp.lower:.3g} > "
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
        result = _rate_guardrail(
            "json_failure_rate",
            cmp,
            rate_c,
            rate_p,
            cfg.json_failure_ratio_max,
            f"Guardrail json_failure_rate breached: {_pct(rate_c)} of the challenger's impressions failed the "
            f"recommendation schema (max {_pct(cfg.json_failure_rate_max)}; production {_pct(rate_p)}, ratio lower "
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
        result = _rate_guardrail(
            "language_fidelity",
            cmp,
            rate_c,
            rate_p,
            cfg.language_mismatch_ratio_max,
            f"Guardrail language_fidelity breached: the challenger answered {_pct(rate_c)} of {per} in the wrong "
            f"language vs production's {_pct(rate_p)} (ratio lower bound {cmp.lower:.3g} with {g_conf} confidence); "
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
        breached = enough and cmp.beyond_null
        out.append(
            GuardrailResult(
                name="cart_add_rate",
                breached=breached,
                challenger_value=rate_c,
                production_value=rate_p,
                threshold=cfg.cart_add_ratio_min,
                statistics={**cmp.as_dict(), "minimum_sample_met": enough},
                reason=(
                    f"Guardrail cart_add_rate breached: the challenger's cart-add rate {_pct(rate_c)} is below "
                    f"production's {_pct(rate_p)} (ratio upper bound {cmp.upper:.3g} with {g_conf} confidence); "
                    "reject the package: it turns fewer recommendations into cart additions."
                )
                if breached
                else None,
            )
        )
    return out


def _rate_guardrail(
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
        f"Sample-ratio mismatch: the challenger received {_pct(srm['observed_share'])} of impressions, not the "
        f"configured {_pct(cfg.traffic_fraction)} (log mixture likelihood ratio {srm['log_mixture_lr']:.1f} >= "
        f"{srm['threshold']:.1f}), so the CTR comparison is void; check the endpoint's variant weights and the "
        "VariantName dimension on the recommendation metrics, then restart the experiment."
    )


def _ratio_text(cmp: RateComparison, confidence: str) -> str:
    if cmp.ratio is None:
        return "CTR ratio not yet defined"
    return f"CTR ratio {cmp.ratio:.3f}, {confidence} anytime-valid interval {cmp.lower:.3f}-{cmp.upper:.3f}"


def _pct(value: float | None) -> str:
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value * 100:.2f}%"


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
