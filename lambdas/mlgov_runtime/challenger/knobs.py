"""The challenger gate's knobs under `thresholds`, in a module of their own: the endpoint audit reads
challenger_traffic_fraction without loading the challenger's settings."""

from __future__ import annotations

from mlgov_runtime.core.model import setting, settings_model


@settings_model
class Thresholds:
    """The challenger CTR gate's knobs under `thresholds` (spec scenario 3, stage 2)."""

    ctr_promotion_floor: float = setting(default=0.075, gt=0, lt=1)
    challenger_traffic_fraction: float = setting(default=0.1, gt=0, lt=1)
    ctr_test_alpha: float = setting(default=0.01, gt=0, lt=0.5)
    ctr_noninferiority_margin: float = setting(default=0.95, gt=0, le=1)


def check_ramp(ramp: list[tuple[int, float]]) -> None:
    """`challenger.ramp` [[minute, weight], ...], as the challenger and the endpoint audit both read it."""
    minutes, weights = [m for m, _ in ramp], [w for _, w in ramp]
    if minutes != sorted(set(minutes)) or weights != sorted(set(weights)) or any(not 0 < w < 1 for w in weights):
        raise ValueError(f"ramp {ramp}: minutes and weights must both rise, weights between 0 and 1")
