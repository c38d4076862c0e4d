"""What the challenger gate decides on: each variant's counts since the challenger started, and the gate's
thresholds (its priors built from the statistics)."""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from decimal import Decimal

from mlgov_runtime.challenger.sequential import MIN_DF
from mlgov_runtime.challenger.statistics import beta_from_moments, ratio_prior


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
    """Thresholds of the gate. Ratios are challenger / production. A knob the `challenger` settings section also
    has is explained there (challenger/settings.py); `ramp` is its list as (minutes since live, weight) pairs."""

    alpha: float = 0.01
    traffic_fraction: float = 0.1
    non_inferiority_margin: float = 0.95
    ctr_floor: float = 0.075
    srm_alpha: float = 0.001
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
    impressions_per_invocation_min: float = 0.5
    impressions_per_invocation_max: float = 20.0
    crosscheck_min_invocations: float = 100
    settle_minutes: float = 2
    impressions_ratio_tolerance: float = 0.02
    impressions_ratio_z: float = 5.0
    impressions_ratio_min_minutes: float = 10
    ctr_ratio_plausible_max: float = 2.0
    guardrail_min_coverage: float = 0.5
    ramp: tuple[tuple[float, float], ...] = ()
    ctr_early_share: float = 0.0
    ctr_early_minutes: float = 30

    @property
    def ctr_reject_alpha(self) -> float:
        return self.reject_budget * self.ctr_reject_share

    @property
    def ctr_late_alpha(self) -> float:
        """The CTR test's alpha left to the mixture over the whole window (all of it without an early share)."""
        if not self.ctr_early_share:
            return self.ctr_reject_alpha
        return self.ctr_reject_alpha * (1 - self.ctr_early_share)

    @property
    def ctr_early_alpha(self) -> float:
        return self.ctr_reject_alpha * self.ctr_early_share

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
        if not 0 <= self.ctr_early_share < 1:
            raise ValueError(
                f"DecisionConfig.ctr_early_share must be in [0, 1) (0: no front-loaded test; the mixture needs some "
                f"of the alpha for the rest of the window), got {self.ctr_early_share}"
            )
        if self.ctr_early_share:
            fewest = max(self.min_aligned_minutes, MIN_DF + 1) + 1 + self.settle_minutes
            if not fewest <= self.ctr_early_minutes <= self.max_minutes:
                raise ValueError(
                    f"DecisionConfig.ctr_early_minutes ({self.ctr_early_minutes:g}) must be between {fewest:g} and "
                    f"max_minutes ({self.max_minutes:g}): an early look must read at least "
                    f"{max(self.min_aligned_minutes, MIN_DF + 1):g} settled minutes (a look at minute W reads W - 1 - "
                    f"settle_minutes), or the early share would never be spent"
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
