"""The front-loaded CTR test of the bench (bench/frontload.py): its group-sequential boundary spends exactly the
alpha it is given, look by look."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from statistics import NormalDist

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import frontload as fl


def test_erfc_matches_the_standard_library_in_the_tails() -> None:
    xs = np.linspace(-6, 6, 241)
    got = fl.erfc(xs)
    want = np.array([math.erfc(x) for x in xs])
    assert np.all(np.abs(got / want - 1) < 2e-7)


def test_one_look_spends_its_alpha_at_the_normal_quantile() -> None:
    for alpha in (0.0035, 0.025, 0.2):
        bound = fl.group_sequential_bounds(np.array([[5.0]]), [alpha])[0, 0]
        assert abs(bound - NormalDist().inv_cdf(1 - alpha)) < 1e-6


def _two_look_level(c1: float, c2: float, t: float) -> float:
    """P(Z1 > c1 or Z2 > c2) for Brownian z-scores at information t and 1, by direct quadrature over Z1."""
    phi = NormalDist()
    h = 1e-3
    miss = 0.0
    for i in range(int((c1 + 10) / h)):
        z1 = -10 + (i + 0.5) * h
        # Z2 = sqrt(t) Z1 + sqrt(1 - t) N
        miss += phi.pdf(z1) * phi.cdf((c2 - math.sqrt(t) * z1) / math.sqrt(1 - t)) * h
    return 1 - miss


def test_two_looks_spend_exactly_the_cumulative_alpha() -> None:
    for t, spent in ((0.5, (0.002, 0.007)), (0.26, (0.0013, 0.0035)), (0.9, (0.001, 0.005))):
        c1, c2 = fl.group_sequential_bounds(np.array([[t * 27, 27.0]]), list(spent))[0]
        assert abs(c1 - NormalDist().inv_cdf(1 - spent[0])) < 1e-6
        assert abs(_two_look_level(c1, c2, t) - spent[1]) < 2e-5


def test_the_gates_early_looks_spend_the_pocock_schedule_look_by_look() -> None:
    # The bench's early looks read 7, 12, 17, 22, 27 settled minutes; a second run has a ramp's information.
    info = np.array([[7, 12, 17, 22, 27.0], [0.63, 1.275, 2.21, 3.275, 4.525]])
    minutes = np.array([7, 12, 17, 22, 27.0])
    spent = fl.pocock_spending(minutes / 27, 0.0035)
    bounds = fl.group_sequential_bounds(info, spent)
    assert not np.allclose(bounds[0], bounds[1])  # the correlation between looks comes from the information
    rng = np.random.default_rng(3)
    paths = 1_000_000
    for run in range(2):
        w = np.cumsum(rng.standard_normal((paths, 5)) * np.sqrt(np.diff(info[run], prepend=0)), axis=1)
        crossed = np.maximum.accumulate(w / np.sqrt(info[run]) > bounds[run], axis=1).mean(axis=0)
        # Binomial standard error at 0.0035 and 1e6 paths is 6e-5.
        assert np.all(np.abs(crossed - spent) < 3e-4), (run, crossed, spent)


def test_a_zero_increment_gives_no_boundary_and_keeps_the_rest() -> None:
    bounds = fl.group_sequential_bounds(np.array([[1.0, 2.0, 3.0]]), [0.0, 0.0, 0.01])[0]
    assert np.isinf(bounds[0]) and np.isinf(bounds[1])
    assert abs(bounds[2] - NormalDist().inv_cdf(0.99)) < 1e-3


def test_no_early_share_is_the_gate_and_shares_add_power_early() -> None:
    import gate_bench as gb

    rng = np.random.default_rng(11)
    wall, looks = gb.look_schedule(300, rng, horizon=30)
    data = gb.simulate(gb.Traffic(minutes=30), 0.85, 300, rng)
    st = gb.look_stats(data, looks)
    gate = gb.run_gate(data, looks)["reject"]
    assert np.array_equal(gb.frontloaded_reject(st, wall, looks, 0.0), gate)
    front = gb.frontloaded_reject(st, wall, looks, 0.8)
    assert (front >= 0).sum() > (gate >= 0).sum()
