"""Monte Carlo check of the challenger gate (decide) against the spec's naive 5-minute rule.

Each run simulates per-minute impressions (Poisson at the given rate, each one the challenger's with probability
w = traffic_fraction) and clicks Binomial(impressions, CTR): production CTR 0.08 (the spec's region: 7.5% floor,
~16 clicks per ~200 challenger impressions in 30 minutes), challenger CTR 0.08 x (1 - drop). The monitor calls the
gate every `look_every` minutes on cumulative counts and stops at its first verdict other than CONTINUE.

The naive rule runs on the same simulated counts at the same looks, to the end of the simulated minutes: it
rejects at the first look where the cumulative challenger CTR < 0.9 x cumulative production CTR (a look where a
variant has no impressions yet does not reject).

decide() costs ~0.4 ms in pure Python; `decide_counts` computes the same statistics with numpy for many runs at
once, for counts with no guardrail events (a unit test checks it agrees with decide()).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mlgov_runtime.challenger.decision import CONTINUE, DECISIONS, INSUFFICIENT_DATA, PROMOTE, REJECT, STOP_INVALID
from mlgov_runtime.challenger.inputs import DecisionConfig

BASE_CTR = 0.08
CODE = {name: code for code, name in enumerate(DECISIONS)}
Floats = npt.NDArray[np.float64]
Codes = npt.NDArray[np.int8]

_lgamma = np.vectorize(math.lgamma, otypes=[np.float64])


def _log_beta(a: Floats | float, b: Floats | float) -> Floats:
    return np.asarray(_lgamma(a) + _lgamma(b) - _lgamma(a + b), dtype=np.float64)


def log_mixture_lr(k: Floats, j: Floats, theta0: Floats | float, a: float, b: float) -> Floats:
    """decision.log_mixture_lr, elementwise (same operations in the same order)."""
    theta = np.broadcast_to(np.asarray(theta0, dtype=np.float64), np.shape(k))
    with np.errstate(divide="ignore", invalid="ignore"):
        clicks = np.where(k > 0, np.where(theta > 0, k * np.log(theta), -np.inf), 0.0)
        misses = np.where(j > 0, np.where(theta < 1, j * np.log1p(-theta), -np.inf), 0.0)
    null = clicks + misses
    out = _log_beta(a + k, b + j) - _log_beta(a, b) - null
    return np.where(np.isneginf(null), np.inf, out)


def _event_share(ratio: float, exposure_c: Floats, exposure_p: Floats) -> Floats:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(ratio * exposure_c / (ratio * exposure_c + exposure_p), dtype=np.float64)


def _beyond_null(
    events_c: Floats,
    exposure_c: Floats,
    events_p: Floats,
    exposure_p: Floats,
    null_ratio: float,
    lower: bool,
    prior: tuple[float, float],
    alpha: float,
) -> npt.NDArray[np.bool_]:
    """decision.compare_rates(...).beyond_null, elementwise."""
    theta0 = _event_share(null_ratio, exposure_c, exposure_p)
    valid = (exposure_c > 0) & (exposure_p > 0)
    theta0 = np.where(valid, theta0, 0.5)
    log_lr = log_mixture_lr(events_c, events_p, theta0, *prior)
    total = events_c + events_p
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.where(total > 0, events_c / np.where(total > 0, total, 1.0), theta0)
    side = observed < theta0 if lower else observed > theta0
    return np.asarray(valid & side & (log_lr >= math.log(1 / alpha)))


def decide_counts(
    impressions_p: Floats,
    clicks_p: Floats,
    impressions_c: Floats,
    clicks_c: Floats,
    elapsed_minutes: Floats | float,
    config: DecisionConfig,
) -> Codes:
    """decide() for many looks at once, as codes into DECISIONS, for counts without guardrail events."""
    cfg = config
    n_p, x_p = np.asarray(impressions_p, np.float64), np.asarray(clicks_p, np.float64)
    n_c, x_c = np.asarray(impressions_c, np.float64), np.asarray(clicks_c, np.float64)
    elapsed = np.broadcast_to(np.asarray(elapsed_minutes, np.float64), n_c.shape)
    srm = log_mixture_lr(n_c, n_p, cfg.traffic_fraction, *cfg.srm_prior()) >= math.log(1 / cfg.srm_alpha)
    enough = (np.minimum(n_p, n_c) >= cfg.min_impressions_per_variant) & (x_p + x_c >= cfg.min_clicks_total)
    reject = enough & _beyond_null(x_c, n_c, x_p, n_p, 1.0, True, cfg.reject_prior(), cfg.alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        floor_ok = (n_c > 0) & (x_c / np.where(n_c > 0, n_c, 1.0) >= cfg.ctr_floor)
    non_inferior = _beyond_null(x_c, n_c, x_p, n_p, cfg.non_inferiority_margin, False, cfg.interval_prior(), cfg.alpha)
    promote = enough & (elapsed >= cfg.min_minutes) & non_inferior & floor_ok
    out = np.full(n_c.shape, CODE[CONTINUE], dtype=np.int8)
    out[elapsed >= cfg.max_minutes] = CODE[INSUFFICIENT_DATA]
    out[promote] = CODE[PROMOTE]
    out[reject] = CODE[REJECT]
    out[srm] = CODE[STOP_INVALID]
    return out


def naive_counts(impressions_p: Floats, clicks_p: Floats, impressions_c: Floats, clicks_c: Floats) -> Codes:
    """challenger_whatif.naive_rule, elementwise."""
    ok = (impressions_p > 0) & (impressions_c > 0)
    lower = 10 * clicks_c * impressions_p < 9 * clicks_p * impressions_c
    return np.where(ok & lower, CODE[REJECT], CODE[CONTINUE]).astype(np.int8)


@dataclass(frozen=True)
class SimulationResult:
    traffic_per_min: float
    drop: float
    runs: int
    minutes: int
    look_every: int
    # Share of runs ending in each decision; CONTINUE means still undecided when the simulated minutes ran out.
    rates: dict[str, float]
    # Over the runs that rejected (None when none did).
    median_minutes_to_reject: float | None
    # Share of all runs rejected by each look (cumulative).
    reject_by_minute: dict[int, float]
    naive_reject_rate: float
    naive_median_minutes_to_reject: float | None
    config: dict[str, Any] = field(default_factory=dict)


def simulate(
    traffic_per_min: float,
    drop: float,
    runs: int,
    config: DecisionConfig | None = None,
    minutes: int = 30,
    look_every: int = 5,
    seed: int = 0,
    base_ctr: float = BASE_CTR,
    chunk: int = 20_000,
) -> SimulationResult:
    """Decisions of `runs` independent challenger experiments (see the module docstring)."""
    cfg = config or DecisionConfig()
    if runs < 1 or minutes < 1 or look_every < 1 or traffic_per_min <= 0 or not 0 <= drop < 1:
        raise ValueError("simulate needs runs, minutes, look_every, traffic_per_min > 0 and 0 <= drop < 1")
    looks = list(range(look_every, minutes + 1, look_every))
    if looks[-1] != minutes:
        looks.append(minutes)
    look_idx = np.asarray(looks) - 1
    look_minutes = np.asarray(looks, dtype=np.float64)
    rng = np.random.default_rng(seed)
    w = cfg.traffic_fraction
    finals, reject_at, naive_at = [], [], []
    for start in range(0, runs, chunk):
        size = min(chunk, runs - start)
        # An impression is the challenger's with probability w, so the two streams are independent Poisson.
        imp_c = rng.poisson(w * traffic_per_min, (size, minutes))
        imp_p = rng.poisson((1 - w) * traffic_per_min, (size, minutes))
        clk_c = rng.binomial(imp_c, base_ctr * (1 - drop))
        clk_p = rng.binomial(imp_p, base_ctr)
        n_c, n_p = (np.cumsum(a, axis=1)[:, look_idx].astype(np.float64) for a in (imp_c, imp_p))
        x_c, x_p = (np.cumsum(a, axis=1)[:, look_idx].astype(np.float64) for a in (clk_c, clk_p))
        codes = decide_counts(n_p, x_p, n_c, x_c, look_minutes[None, :], cfg)
        terminal = codes != CODE[CONTINUE]
        first = np.where(terminal.any(axis=1), terminal.argmax(axis=1), -1)
        final = np.where(first >= 0, codes[np.arange(size), np.maximum(first, 0)], CODE[CONTINUE])
        finals.append(final)
        reject_at.append(np.where(final == CODE[REJECT], look_minutes[np.maximum(first, 0)], np.nan))
        naive = naive_counts(n_p, x_p, n_c, x_c) == CODE[REJECT]
        naive_at.append(np.where(naive.any(axis=1), look_minutes[naive.argmax(axis=1)], np.nan))
    final_all = np.concatenate(finals)
    rejected = np.concatenate(reject_at)
    naive_all = np.concatenate(naive_at)
    rates = {name: float(np.mean(final_all == CODE[name])) for name in DECISIONS}
    return SimulationResult(
        traffic_per_min=traffic_per_min,
        drop=drop,
        runs=runs,
        minutes=minutes,
        look_every=look_every,
        rates=rates,
        median_minutes_to_reject=_median(rejected),
        reject_by_minute={m: float(np.mean(rejected <= m)) for m in looks},
        naive_reject_rate=float(np.mean(~np.isnan(naive_all))),
        naive_median_minutes_to_reject=_median(naive_all),
        config={"max_minutes": cfg.max_minutes, "alpha": cfg.alpha, "traffic_fraction": w},
    )


def _median(minutes: Floats) -> float | None:
    hit = minutes[~np.isnan(minutes)]
    return float(np.median(hit)) if hit.size else None
