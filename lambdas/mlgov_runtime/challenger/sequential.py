"""Minute-level sequential tests: a time-uniform normal-mixture confidence sequence on a sum of per-minute
residuals, the variance estimated from the per-minute series itself (pure Python; why: docs/challenger-statistics.md).

Each aligned minute t gives e_t(r) = x_c,t - theta_t(r) (x_c,t + x_p,t), theta_t(r) = r n_c,t / (r n_c,t + n_p,t),
of mean 0 when the challenger's rate is r x production's whatever the minute's split or level. S = sum e_t is
tested with Robbins' normal mixture on V = sum e_t^2, floored at the Poisson variance. Validity is asymptotic
(time-uniform CLT, Waudby-Smith et al. 2021): checked by bench/challenger_bench.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_BISECT_STEPS = 50
# Ratios searched for interval ends: beyond these a ratio is reported as 0 or inf.
_RATIO_LO, _RATIO_HI = 1e-3, 1e3


def rho_squared(alpha: float, target_variance: float) -> float:
    """Mixture precision that makes the boundary tightest when V reaches target_variance (Howard et al. 2021)."""
    a = 2 * math.log(1 / alpha)
    return (a + math.log(a + 1)) / target_variance


def log_mixture_one_sided(s: float, v: float, rho2: float) -> float:
    """log of the half-normal mixture of exp(l S - l^2 V / 2) over l >= 0: a nonnegative supermartingale under the
    null (mean <= 0), so P(it ever reaches 1/alpha) <= alpha (Ville). Large only when S > 0."""
    d = 1 + rho2 * v
    z = math.sqrt(rho2) * s / math.sqrt(d)
    # log(2 Phi(z)) without underflow for very negative z.
    tail = math.log(math.erfc(-z / math.sqrt(2))) if z > -30 else -(z * z) / 2 - math.log(-z * math.sqrt(math.pi / 2))
    return -0.5 * math.log(d) + z * z / 2 + tail


def boundary_z(v: float, rho2: float, alpha: float) -> float:
    """The z = S / sqrt(V) at which the one-sided mixture reaches 1/alpha for this V."""
    root_v = math.sqrt(v)
    level = math.log(1 / alpha)
    lo, hi = 0.0, 1.0
    while log_mixture_one_sided(hi * root_v, v, rho2) < level:
        hi *= 2
    for _ in range(_BISECT_STEPS):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if log_mixture_one_sided(mid * root_v, v, rho2) >= level else (mid, hi)
    return hi


def t_from_z(z: float, df: float) -> float:
    """Student t quantile with the normal quantile z's tail (Cornish-Fisher, Abramowitz-Stegun 26.7.5; within a
    few per mille for df >= 9, where it is used)."""
    z2 = z * z
    g1 = (z2 + 1) * z / 4
    g2 = ((5 * z2 + 16) * z2 + 3) * z / 96
    g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384
    g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


# Below this many degrees of freedom an estimated variance is too uncertain to reject on.
MIN_DF = 9


def crosses(s: float, v: float, rho2: float, alpha: float, df: float | None = None) -> bool:
    """Whether S has crossed the boundary. With df (the variance was estimated from df+1 minutes), the boundary's
    z is widened to the Student t quantile of the same tail: an estimated variance is itself noisy, and the normal
    boundary would then err far more often than alpha at the extreme levels the gate uses."""
    if s <= 0 or v <= 0:
        return False
    if log_mixture_one_sided(s, v, rho2) < math.log(1 / alpha):
        return False
    if df is None:
        return True
    if df < MIN_DF:
        return False
    return s / math.sqrt(v) >= t_from_z(boundary_z(v, rho2, alpha), df)


@dataclass(frozen=True)
class Minute:
    """One aligned minute of a rate comparison: events and exposures of both variants."""

    events_c: float
    exposure_c: float
    events_p: float
    exposure_p: float


def _share(ratio: float, m: Minute) -> float:
    return ratio * m.exposure_c / (ratio * m.exposure_c + m.exposure_p)


def residual_stats(minutes: Sequence[Minute], ratio: float) -> tuple[float, float, float | None]:
    """(S, V, df): S = sum of e_t(ratio); V = max(n/(n-1) sum (e_t - mean)^2, sum theta(1-theta) m_t); df = n - 1
    when the estimated variance is the larger (else None: the Poisson-split model holds it). Centring keeps V from
    growing with the effect itself (which would cost power); the model floor keeps a few quiet minutes from making
    the boundary narrower than the exact model's."""
    s = sq = v_model = 0.0
    n = 0
    for m in minutes:
        if m.exposure_c <= 0 or m.exposure_p <= 0:
            continue
        theta = _share(ratio, m)
        total = m.events_c + m.events_p
        e = m.events_c - theta * total
        s += e
        sq += e * e
        n += 1
        v_model += theta * (1 - theta) * total
    v_emp = (sq - s * s / n) * n / (n - 1) if n > 1 else 0.0
    if v_emp > v_model:
        return s, v_emp, float(n - 1)
    return s, v_model, None


def residual_sums(minutes: Sequence[Minute], ratio: float) -> tuple[float, float]:
    s, v, _df = residual_stats(minutes, ratio)
    return s, v


@dataclass(frozen=True)
class SequentialComparison:
    """Challenger/production rate ratio from minute-level residuals, tested against a null ratio."""

    ratio: float | None
    lower: float
    upper: float
    statistic: float  # S at the null ratio, signed toward the tested side
    variance: float
    log_mixture: float
    threshold: float
    beyond_null: bool
    minutes: int
    df: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "ratio": self.ratio,
            "ratio_lower": self.lower,
            "ratio_upper": self.upper,
            "statistic": self.statistic,
            "variance": self.variance,
            "log_mixture": self.log_mixture,
            "threshold": self.threshold,
            "minutes": self.minutes,
            "variance_source": "per-minute series" if self.df is not None else "Poisson-split model",
            "method": "minute-level normal-mixture confidence sequence (empirical variance)",
        }


def point_ratio(minutes: Sequence[Minute]) -> float | None:
    """The ratio r at which S(r) = 0 (a Mantel-Haenszel-like estimate that respects per-minute splits)."""
    used = [m for m in minutes if m.exposure_c > 0 and m.exposure_p > 0]
    if not used or sum(m.events_c + m.events_p for m in used) == 0:
        return None
    if sum(m.events_p for m in used) == 0:
        return math.inf
    if sum(m.events_c for m in used) == 0:
        return 0.0
    lo, hi = math.log(_RATIO_LO), math.log(_RATIO_HI)
    for _ in range(_BISECT_STEPS):
        mid = (lo + hi) / 2
        s, _v = residual_sums(used, math.exp(mid))
        lo, hi = (mid, hi) if s > 0 else (lo, mid)
    return math.exp((lo + hi) / 2)


def compare_minutes(
    minutes: Sequence[Minute], null_ratio: float, direction: str, alpha: float, target_variance: float
) -> SequentialComparison:
    """direction "lower": is the challenger's rate below null_ratio x production's; "higher": above it.
    The interval is the set of ratios neither side rejects at alpha each."""
    rho2 = rho_squared(alpha, target_variance)
    threshold = math.log(1 / alpha)
    used = [m for m in minutes if m.exposure_c > 0 and m.exposure_p > 0]
    sign = -1.0 if direction == "lower" else 1.0
    s, v, df = residual_stats(used, null_ratio)
    log_m = log_mixture_one_sided(sign * s, v, rho2)
    beyond = bool(used) and crosses(sign * s, v, rho2, alpha, df)

    def rejected_above(log_r: float) -> bool:  # evidence the ratio is below exp(log_r)
        s_, v_, df_ = residual_stats(used, math.exp(log_r))
        return crosses(-s_, v_, rho2, alpha, df_)

    def rejected_below(log_r: float) -> bool:  # evidence the ratio is above exp(log_r)
        s_, v_, df_ = residual_stats(used, math.exp(log_r))
        return crosses(s_, v_, rho2, alpha, df_)

    estimate = point_ratio(used)
    lower, upper = 0.0, math.inf
    if estimate is not None and 0 < estimate < math.inf:
        centre = math.log(estimate)
        lower = _edge(centre, -1.0, rejected_below, 0.0)
        upper = _edge(centre, 1.0, rejected_above, math.inf)
    return SequentialComparison(estimate, lower, upper, sign * s, v, log_m, threshold, beyond, len(used), df)


def _edge(centre: float, direction: float, rejected: Callable[[float], bool], none: float) -> float:
    """The nearest ratio from the estimate outward that the test rejects (log grid, then bisection): the set of
    unrejected ratios need not be convex when the variance source changes with the ratio, so no global bisection."""
    step = 0.05
    previous = centre
    for k in range(1, 200):
        point = centre + direction * step * k * (1 + k / 20)
        if not math.log(_RATIO_LO) <= point <= math.log(_RATIO_HI):
            return none
        if rejected(point):
            lo, hi = previous, point
            for _ in range(30):
                mid = (lo + hi) / 2
                lo, hi = (lo, mid) if rejected(mid) else (mid, hi)
            return math.exp(hi)
        previous = point
    return none


def needed_scale(s: float, v: float, alpha: float, target_variance: float) -> float | None:
    """Smallest multiple k of the current data (S and V both scale with k) at which the boundary is crossed,
    or None when S has the wrong sign or k would exceed 1e6."""
    if s <= 0 or v <= 0:
        return None
    rho2 = rho_squared(alpha, target_variance)
    if crosses(s, v, rho2, alpha):
        return 1.0
    hi = 2.0
    while not crosses(hi * s, hi * v, rho2, alpha):
        hi *= 2
        if hi > 1e6:
            return None
    lo = hi / 2
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if crosses(mid * s, mid * v, rho2, alpha) else (mid, hi)
    return hi
