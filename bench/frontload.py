"""A front-loaded variant of the gate's CTR test, for the owner's choice of where to spend the CTR level: the
vectorised twin of the runtime's optional lambdas/mlgov_runtime/challenger/frontload.py (`challenger.ctr_early_share`;
tests/unit/test_challenger_frontload.py checks both give the same boundaries and verdicts).

The CTR alpha is split: an early part is spent at the looks up to minute 30 by a group-sequential boundary on the
gate's own minute-level residual statistic z = S / sqrt(V) (Lan-DeMets Pocock-type spending over the minutes read,
the boundaries recomputed per run from the variance each look sees, so a ramp or overdispersion sets the looks'
correlation; always a Student t widening on the minutes read, since over a few minutes the binomial variance can
be the larger by chance while overdispersion makes the true one larger still), and the rest by the gate's
normal-mixture boundary over the whole 6 hours. REJECT when either crosses: the union keeps the total at alpha.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

# Grid of the recursive integration (Armitage-McPherson-Rowe): odd for Simpson's rule, from LOW to the bound.
GRID = 101
LOW = -8.0
_CHUNK = 200  # runs per block of the (runs, grid, grid) kernel


def erfc(x: np.ndarray) -> np.ndarray:
    """Complementary error function, relative error < 1.2e-7 everywhere (Chebyshev fit; numpy only, vectorised)."""
    x = np.asarray(x, dtype=float)
    z = np.abs(x)
    t = 1 / (1 + 0.5 * z)
    poly = (
        -z * z
        - 1.26551223
        + t
        * (
            1.00002368
            + t
            * (
                0.37409196
                + t
                * (
                    0.09678418
                    + t
                    * (
                        -0.18628806
                        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))
                    )
                )
            )
        )
    )
    ans = t * np.exp(poly)
    return np.where(x >= 0, ans, 2 - ans)


def upper_tail(z: np.ndarray) -> np.ndarray:
    """P(N(0,1) > z)."""
    return 0.5 * erfc(np.asarray(z, dtype=float) / math.sqrt(2))


def pocock_spending(t: np.ndarray, alpha: float) -> np.ndarray:
    """Lan-DeMets Pocock-type spending: alpha spent by information (here: time) fraction t."""
    return alpha * np.log1p((math.e - 1) * np.clip(t, 0, 1))


def power_spending(t: np.ndarray, alpha: float, power: float) -> np.ndarray:
    """Power-family spending alpha t^power: power > 1 keeps most of it for the last early look."""
    return alpha * np.clip(t, 0, 1) ** power


def _simpson(n: int) -> np.ndarray:
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4, 2
    return w / 3


def _bisect(
    prob: Callable[[np.ndarray], np.ndarray], target: np.ndarray, lo: float = 0.0, hi: float = 14.0, steps: int = 50
) -> np.ndarray:
    """Smallest c in [lo, hi] with prob(c) <= target (prob decreasing in c), per run."""
    lo_, hi_ = np.full(target.shape, lo), np.full(target.shape, hi)
    for _ in range(steps):
        mid = (lo_ + hi_) / 2
        over = prob(mid) > target
        lo_, hi_ = np.where(over, mid, lo_), np.where(over, hi_, mid)
    return hi_


def group_sequential_bounds(info: npt.ArrayLike, spent: npt.ArrayLike) -> np.ndarray:
    """One-sided z bounds (runs, K) for looks at information info (runs, K) (the variance of the sum, increasing)
    such that a Brownian sum under the null first crosses z_k = S_k / sqrt(info_k) > c_k at look k with probability
    spent_k - spent_(k-1) (spent: cumulative alpha, (K,) or (runs, K)). An increment of zero gives c_k = inf."""
    info = np.atleast_2d(np.asarray(info, dtype=float))
    runs, k_looks = info.shape
    spent = np.broadcast_to(np.asarray(spent, dtype=float), info.shape)
    step = np.diff(spent, axis=1, prepend=0.0)
    # Increments kept positive (conservative: a smaller correlation between looks only raises the later bounds).
    info = np.maximum.accumulate(info, axis=1)
    for k in range(1, k_looks):
        info[:, k] = np.maximum(info[:, k], info[:, k - 1] * 1.02)
    out = np.empty_like(info)
    w = _simpson(GRID)
    first = step[:, 0]
    out[:, 0] = np.where(first > 0, _bisect(upper_tail, np.maximum(first, 1e-300)), np.inf)
    if k_looks == 1:
        return out
    for lo_run in range(0, runs, _CHUNK):
        sl = slice(lo_run, min(lo_run + _CHUNK, runs))
        n = sl.stop - sl.start
        c = np.minimum(out[sl, 0], 12.0)
        grid = LOW + (c - LOW)[:, None] * np.linspace(0, 1, GRID)[None, :]
        mass = np.exp(-grid * grid / 2) / math.sqrt(2 * math.pi) * w[None, :] * ((c - LOW) / (GRID - 1))[:, None]
        for k in range(1, k_looks):
            i0, i1 = info[sl, k - 1], info[sl, k]
            r0, r1, sd = np.sqrt(i0)[:, None], np.sqrt(i1)[:, None], np.sqrt(i1 - i0)[:, None]
            target = step[sl, k]

            def crossing(cc: np.ndarray, grid=grid, mass=mass, r0=r0, r1=r1, sd=sd) -> np.ndarray:
                return (mass * upper_tail((cc[:, None] * r1 - grid * r0) / sd)).sum(axis=1)

            ck = np.where(target > 0, _bisect(crossing, np.maximum(target, 1e-300)), np.inf)
            out[sl, k] = ck
            if k == k_looks - 1:
                break
            top = np.minimum(ck, 12.0)
            new = LOW + (top - LOW)[:, None] * np.linspace(0, 1, GRID)[None, :]
            dens = np.empty((n, GRID))
            for j in range(GRID):  # density of z_k on the continuation region
                arg = (new[:, j : j + 1] * r1 - grid * r0) / sd
                dens[:, j] = (mass * np.exp(-arg * arg / 2)).sum(axis=1) * (r1 / sd)[:, 0] / math.sqrt(2 * math.pi)
            grid, mass = new, dens * w[None, :] * ((top - LOW) / (GRID - 1))[:, None]
    return out


def early_reject(
    s: np.ndarray,
    v: np.ndarray,
    df: np.ndarray,
    enough: np.ndarray,
    minutes_read: np.ndarray,
    alpha: float,
    min_df: float,
    power: float | None = None,
) -> np.ndarray:
    """Where the early boundary rejects (runs, K) at the early looks given: s the statistic signed toward the
    tested side, v its variance, df inf where the model variance holds it (else the t widening's df, and below
    min_df no rejection, as the gate). Time fraction for spending: minutes read over the last early look's."""
    from mlgov_runtime.challenger.sequential import t_from_z

    t = minutes_read / np.maximum(minutes_read[:, -1:], 1)
    spent = pocock_spending(t, alpha) if power is None else power_spending(t, alpha, power)
    bounds = group_sequential_bounds(v, spent)
    finite = np.isfinite(df) & np.isfinite(bounds)
    widened = np.where(finite, np.vectorize(t_from_z)(np.where(finite, bounds, 0.0), np.maximum(df, 1)), bounds)
    z = s / np.sqrt(np.maximum(v, 1e-12))
    ok = enough & np.where(np.isfinite(df), df >= min_df, True)
    return ok & (s > 0) & (z >= widened)
