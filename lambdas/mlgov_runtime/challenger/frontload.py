"""The optional front-loaded part of the CTR test (`challenger.ctr_early_share`): a Pocock-type spending boundary at
the early looks, the gate's mixture after; docs/challenger-statistics.md says why and what it costs. Pure Python;
bench/frontload.py is its vectorised twin (tests check both agree). Earlier looks' (minutes read, V) are kept in the
watch state, not recomputed: late-filled minutes would change them, and each boundary rests on what its look had."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from mlgov_runtime.challenger import sequential as sq

# Grid of the recursive integration: odd for Simpson's rule, from LOW to the (capped) bound, as bench/frontload.py.
GRID = 101
LOW = -8.0
CAP = 12.0
_BISECT_STEPS = 50
_SQRT2 = math.sqrt(2)
_SQRT2PI = math.sqrt(2 * math.pi)
_SIMPSON = [(1.0 if j in (0, GRID - 1) else (4.0 if j % 2 else 2.0)) / 3 for j in range(GRID)]
_UNIT = [j / (GRID - 1) for j in range(GRID)]


def pocock_spending(t: float, alpha: float) -> float:
    """Lan-DeMets Pocock-type spending: alpha spent by time fraction t (clipped to [0, 1])."""
    return alpha * math.log1p((math.e - 1) * min(max(t, 0.0), 1.0))


def _upper(z: float) -> float:
    return 0.5 * math.erfc(z / _SQRT2)


def _bisect(prob: Callable[[float], float], target: float, lo: float = 0.0, hi: float = 14.0) -> float:
    """Smallest c in [lo, hi] with prob(c) <= target (prob decreasing in c)."""
    for _ in range(_BISECT_STEPS):
        mid = (lo + hi) / 2
        if prob(mid) > target:
            lo = mid
        else:
            hi = mid
    return hi


def group_sequential_bounds(info: Sequence[float], spent: Sequence[float]) -> list[float]:
    """One-sided z bounds for looks at information `info` (the variance of the sum, increasing) such that a Brownian
    sum under the null first crosses z_k = S_k / sqrt(info_k) > c_k at look k with probability spent_k - spent_(k-1)
    (`spent` cumulative). An increment of zero gives c_k = inf. Bound k depends only on looks 1..k."""
    looks = len(info)
    if looks == 0:
        return []
    # Increments kept positive (conservative: a smaller correlation between looks only raises the later bounds).
    fixed = [max(float(info[0]), 1e-12)]
    for value in info[1:]:
        fixed.append(max(float(value), fixed[-1], fixed[-1] * 1.02))
    steps = [float(spent[0])] + [float(spent[k]) - float(spent[k - 1]) for k in range(1, looks)]
    out = [_bisect(_upper, max(steps[0], 1e-300)) if steps[0] > 0 else math.inf]
    if looks == 1:
        return out
    top = min(out[0], CAP)
    h = (top - LOW) / (GRID - 1)
    grid = [LOW + (top - LOW) * u for u in _UNIT]
    mass = [math.exp(-g * g / 2) / _SQRT2PI * w * h for g, w in zip(grid, _SIMPSON, strict=True)]
    for k in range(1, looks):
        r0, r1 = math.sqrt(fixed[k - 1]), math.sqrt(fixed[k])
        sd = math.sqrt(fixed[k] - fixed[k - 1])
        shifted = [g * r0 for g in grid]
        weights = mass

        def crossing(
            c: float, shifted: list[float] = shifted, weights: list[float] = weights, r1: float = r1, sd: float = sd
        ) -> float:
            top_ = c * r1
            return sum(m * 0.5 * math.erfc((top_ - a) / sd / _SQRT2) for m, a in zip(weights, shifted, strict=True))

        ck = _bisect(crossing, max(steps[k], 1e-300)) if steps[k] > 0 else math.inf
        out.append(ck)
        if k == looks - 1:
            break
        top = min(ck, CAP)
        h = (top - LOW) / (GRID - 1)
        scale = r1 / sd / _SQRT2PI
        new = [LOW + (top - LOW) * u for u in _UNIT]
        dens = []
        for z in new:  # density of z_k on the continuation region
            zr = z * r1
            total = 0.0
            for m, a in zip(weights, shifted, strict=True):
                arg = (zr - a) / sd
                total += m * math.exp(-arg * arg / 2)
            dens.append(total * scale)
        grid, mass = new, [d * w * h for d, w in zip(dens, _SIMPSON, strict=True)]
    return out


def last_minute(early_minutes: float, settle_minutes: float) -> int:
    """Settled minutes the last look inside the early window reads (a look at minute W reads W - 1 - settle)."""
    return int(early_minutes - 1 - settle_minutes)


def first_minute(min_aligned_minutes: float) -> int:
    """The fewest settled minutes an early look reads: enough for a verdict and for the t widening's df."""
    return int(max(min_aligned_minutes, sq.MIN_DF + 1))


def early_look(
    earlier: Sequence[Sequence[float]],
    minutes: int,
    statistic: float,
    variance: float,
    aligned: int,
    enough: bool,
    alpha: float,
    early_minutes: float,
    settle_minutes: float,
    min_aligned_minutes: float,
) -> dict[str, Any] | None:
    """The early boundary at this look, or None when the look is outside the early window (it then spends nothing).
    `earlier`: [minutes read, V] of the earlier early looks; `statistic`: S signed toward a lower challenger CTR."""
    end = last_minute(early_minutes, settle_minutes)
    if not first_minute(min_aligned_minutes) <= minutes <= end:
        return None
    looks = [(float(m), float(v)) for m, v in earlier if float(m) < minutes] + [(float(minutes), float(variance))]
    spent = [pocock_spending(m / end, alpha) for m, _ in looks]
    bound = group_sequential_bounds([v for _, v in looks], spent)[-1]
    df = aligned - 1.0
    widened = sq.t_from_z(bound, max(df, 1.0)) if math.isfinite(bound) else math.inf
    z = statistic / math.sqrt(max(variance, 1e-12))
    rejects = enough and df >= sq.MIN_DF and statistic > 0 and z >= widened
    return {
        "look": len(looks),
        "minutes": minutes,
        "alpha": alpha,
        "spent": spent[-1],
        "z": z,
        "z_bound": bound,
        "t_bound": widened,
        "df": df,
        "rejects": bool(rejects),
        "looks": [[m, v] for m, v in looks],
        "method": "group-sequential boundary, Pocock-type spending over the minutes read, t-widened",
    }
