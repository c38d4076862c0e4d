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
