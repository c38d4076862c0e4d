"""The statistics of the challenger gate: a Beta-binomial mixture likelihood ratio on how events split between
two variants, read as an anytime-valid confidence sequence for their rate ratio (the reasoning is in
decision.py). Pure functions; the decision, the runtime gate and the guardrails all build on them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Bisection steps for interval ends: 2**-60 of the search range, far below any reported digit.
_BISECT_STEPS = 60


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
