"""The run's split of its error budget (logic.run_split): recorded in the watch state at the run's first look and
read from there by every later look, so a deploy during a run never re-splits the alpha the run is spending."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mlgov_runtime.challenger import logic
from mlgov_runtime.challenger.config import ChallengerConfig
from mlgov_runtime.challenger.inputs import DecisionConfig, VariantCounts
from tests.unit.test_challenger_logic import NOW, FakeMetrics, FakeSageMaker, Sink, ports, variant
from tests.unit.test_challenger_logic import pkg as package_arn

ENDPOINTS = {"manga-recommender": "prod"}


def _config(**decision: Any) -> ChallengerConfig:
    return ChallengerConfig(endpoints=ENDPOINTS, decision=DecisionConfig(**decision))


def _running(cfg: ChallengerConfig) -> tuple[FakeSageMaker, dict[str, Any]]:
    sm = FakeSageMaker()
    sm.package(2, "Approved", catalog_snapshot_date="2026-10-28")
    sm.model("rec-v2", package_arn(2))
    sm.endpoint("prod", variant("AllTraffic", "rec-v2"))
    arn = sm.package(5, "PendingManualApproval", shadow_ctr_eligible="true")
    return sm, {
        "challenger": logic.start(ports(sm), cfg, {"model_package_arn": arn}, NOW),
        "deployed_at": logic.iso(NOW),
    }


def _look(
    sm: FakeSageMaker, cfg: ChallengerConfig, state: dict[str, Any], wall: int, sink: Sink | None = None
) -> dict[str, Any]:
    minutes = wall - 3  # the look at minute W reads W - 1 - settle minutes
    counts = {
        "AllTraffic": VariantCounts(3150.0 * minutes, 252.0 * minutes),
        state["challenger"]["challenger_variant"]: VariantCounts(350.0 * minutes, 28.0 * minutes),
    }
    return logic.watch(ports(sm, FakeMetrics(counts), sink), cfg, state, NOW + timedelta(minutes=wall, seconds=5))


def test_the_first_look_records_the_split_and_later_looks_carry_it() -> None:
    started = _config(ctr_early_share=0.6)
    sm, state = _running(started)
    first = _look(sm, started, state, 15)
    recorded = first["ctr_split"]
    assert recorded == {name: float(getattr(started.decision, name)) for name in logic.SPLIT_FIELDS}
    assert recorded["ctr_early_share"] == 0.6 and recorded["ctr_early_minutes"] == 30
    redeployed = _config(ctr_early_share=0.0, reject_budget=0.02, alpha=0.05, max_minutes=200)
    second = _look(sm, redeployed, {**state, "watch": first}, 25)
    assert second["ctr_split"] == recorded
    # Small enough to ride along in every look's state (Step Functions: 256 KiB per payload).
    assert len(str(recorded)) < 400


def test_a_deploy_that_adds_an_early_share_mid_run_starts_no_early_test() -> None:
    started = _config()
    sm, state = _running(started)
    state = {**state, "watch": _look(sm, started, state, 15)}
    out = _look(sm, _config(ctr_early_share=0.8), state, 25)  # reads 22 minutes: inside an early window
    test = out["result"]["statistics"]["ctr_test"]
    assert "early_share" not in test and "ctr_early_looks" not in out
    assert test["alpha"] == pytest.approx(started.decision.ctr_reject_alpha)


def test_a_deploy_mid_run_keeps_the_runs_budget_interval_and_window() -> None:
    started = _config()
    sm, state = _running(started)
    state = {**state, "watch": _look(sm, started, state, 15)}
    out = _look(sm, _config(reject_budget=0.05, ctr_reject_share=0.5, alpha=0.1, settle_minutes=6), state, 25)
    stats = out["result"]["statistics"]
    assert stats["reject_budget"] == pytest.approx(0.01)
    assert stats["ctr_reject_alpha"] == pytest.approx(0.007)
    assert stats["guardrail_alpha_each"] == pytest.approx(0.01 * 0.3 / 6)
    assert stats["ctr_ratio"]["confidence"] == pytest.approx(0.99)
    assert out["elapsed_minutes"] == 22  # the run's 2 settle minutes, not the deploy's 6


GOOD = {name: float(getattr(DecisionConfig(ctr_early_share=0.6), name)) for name in logic.SPLIT_FIELDS}


@pytest.mark.parametrize(
    ("split", "named"),
    [
        ({**GOOD, "ctr_early_share": 1.5}, r"ctr_early_share must be in \[0, 1\)"),
        ({**GOOD, "ctr_early_share": "0.6"}, r"ctr_split\.ctr_early_share must be a finite number"),
        ({**GOOD, "reject_budget": True}, r"ctr_split\.reject_budget must be a finite number"),
        ({**GOOD, "alpha": float("nan")}, r"ctr_split\.alpha must be a finite number"),
        ({**GOOD, "reject_budget": 0.0}, r"reject_budget \(0\.0\)"),
        ({**GOOD, "ctr_early_minutes": 5.0}, r"ctr_early_minutes \(5\) must be between"),
        ({**GOOD, "min_minutes": 500.0}, r"max_minutes \(360\.0\) must be finite and >= min_minutes"),
        ({k: v for k, v in GOOD.items() if k != "alpha"}, r"ctr_split must hold exactly"),
        ({**GOOD, "ramp": []}, r"ctr_split must hold exactly"),
        ([0.6, 30], r"ctr_split must hold exactly .*got list"),
    ],
)
def test_an_edited_split_fails_closed_naming_it(split: Any, named: str) -> None:
    cfg = _config(ctr_early_share=0.6)
    sm, state = _running(cfg)
    first = _look(sm, cfg, state, 15)
    changes, sink = list(sm.changes), Sink()
    with pytest.raises(logic.StepError, match=r"watch\.ctr_split") as raised:
        _look(sm, cfg, {**state, "watch": {**first, "ctr_split": split}}, 25, sink)
    assert raised.match(named) and "no verdict" in str(raised.value)
    assert sm.changes == changes and sink.published == []


def test_a_run_in_flight_without_a_record_records_the_split_at_its_next_look() -> None:
    """A run started before the record existed: its next look records the function's split, as its first look
    would have (its earlier looks decided with the same settings unless a deploy came in between)."""
    cfg = _config(ctr_early_share=0.6)
    sm, state = _running(cfg)
    first = _look(sm, cfg, state, 15)
    legacy = {k: v for k, v in first.items() if k != "ctr_split"}
    out = _look(sm, cfg, {**state, "watch": legacy}, 25)
    assert out["ctr_split"] == first["ctr_split"]
    assert [m for m, _ in out["ctr_early_looks"]] == [12, 22]
