"""The org scan's synthesized definition run plan -> Distributed Map -> aggregate by mlgov.emulator_map
(ItemReader, ItemBatcher, MaxConcurrency, tolerated failures and ResultWriter as Step Functions documents
them), with the real coordinator and worker handlers against member accounts in moto."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from aws_cdk.assertions import Template

from mlgov.emulator_map import (
    InProcessFunction,
    Machine,
    MapState,
    Unsupported,
    batches,
    cool_down,
    definition_from_template,
    exceeds,
    map_state,
    waves_wall_seconds,
)
from mlgov.scenes.org_scan import run_scan
from mlgov.settings import parse_settings
from mlgov_runtime.core.model import variable
from mlgov_runtime.org_scan import settings as e
from tests.integration.test_org_scan import BUCKET, REGION, OrgWorld, _environment, org_world

pytestmark = pytest.mark.infrastructure
__all__ = ["org_world"]  # the fixture, from the org scan's integration tests

OTHER_REGION = "us-west-2"
GOVERNANCE = "123456789012"
COORDINATOR = f"arn:aws:lambda:{REGION}:{GOVERNANCE}:function:OrgScanCoordinator"
WORKER = f"arn:aws:lambda:{REGION}:{GOVERNANCE}:function:OrgScanWorker"


@pytest.fixture(scope="module")
def synthesized_definition(template: Template) -> dict[str, Any]:
    return definition_from_template(
        template.to_json(),
        "OrgScan",
        {"OrgScanCoordinator": COORDINATOR, "OrgScanWorker": WORKER, "OrgScanReportBucket": BUCKET},
    )


@pytest.fixture
def world(org_world: OrgWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[OrgWorld]:
    """Two member accounts x two regions: staging (member role) and sandbox (no member role)."""
    accounts = [org_world.account("staging"), org_world.account("sandbox")]
    scan = {"regions": [REGION, OTHER_REGION], "account_ids": accounts, "endpoint_concurrency": 4}
    for key, value in e.environment(parse_settings({"org_scan": scan})).items():
        monkeypatch.setenv(key, value)
    cool_down()
    yield org_world
    cool_down()


def _machine(world: OrgWorld, definition: dict[str, Any], tolerated: float | None = None) -> Machine:
    """The definition with the functions' handlers and environments (the integration tests' own)."""
    if tolerated is not None:
        definition = json.loads(json.dumps(definition))
        definition["States"]["ScanAccounts"]["ToleratedFailurePercentage"] = tolerated
    environment = _environment(world.org, world.resources) | {
        key: os.environ[key] for key in (variable(e.Received), e.RESULT_MAC_KEY_ID)
    }
    functions = {
        COORDINATOR: InProcessFunction("mlgov_runtime.org_scan.handler.handler", environment, COORDINATOR),
        WORKER: InProcessFunction("mlgov_runtime.org_scan.handler.scan", environment, WORKER),
    }
    return Machine(definition, functions, world.s3)


def _report(world: OrgWorld, run_id: str) -> dict[str, Any]:
    key = f"org-scan/runs/{run_id}/report.json"
    report: dict[str, Any] = json.loads(world.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return report


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    """What a run found: without the run's own id and times, what changed since the last run and what
    was published (a second run of the same estate publishes nothing new)."""
    out = {k: v for k, v in report.items() if k not in ("run", "change", "published")}
    out["accounts"] = [{k: v for k, v in a.items() if k != "seconds"} for a in report["accounts"]]
    out["unreachable"] = [{k: v for k, v in a.items() if k != "seconds"} for a in report["unreachable"]]
    return out


def _crash_worker_for(monkeypatch: pytest.MonkeyPatch, accounts: set[str]) -> None:
    """The worker crashes (as a timed-out or out-of-memory invocation would) on these accounts' targets."""
    from mlgov_runtime.adapters.member_accounts import MemberAccounts

    connect = MemberAccounts.connect

    def crashing(self: MemberAccounts, target: Any) -> Any:
        if target.account_id in accounts:
            raise RuntimeError(f"worker crashed on {target.key}")
        return connect(self, target)

    monkeypatch.setattr(MemberAccounts, "connect", crashing)


def test_the_synthesized_map_is_read_as_deployed(synthesized_definition: dict[str, Any]) -> None:
    from mlgov.settings import Settings

    o = Settings().org_scan
    spec = map_state(synthesized_definition)
    assert (spec.reader_bucket, spec.reader_key, spec.reader_key_is_path) == (BUCKET, "$.plan.targets_key", True)
    assert spec.max_items_per_batch == o.targets_per_batch and spec.max_concurrency == o.max_concurrency
    assert spec.tolerated_percentage == o.tolerated_failure_percentage and spec.tolerated_count is None
    assert spec.batch_input == {"run_id.$": "$.plan.run_id"}
    assert (spec.writer_bucket, spec.writer_prefix) == (BUCKET, "org-scan/map-results")


def test_the_map_scans_every_target_and_the_report_equals_the_hand_driven_scan(
    world: OrgWorld, synthesized_definition: dict[str, Any]
) -> None:
    # Given staging (role) and sandbox (no role) in two regions: four account/regions
    machine = _machine(world, synthesized_definition)
    # When the synthesized state machine runs plan -> Map -> aggregate
    run = machine.start("scan-map-1")
    # Then it completes: the sandbox account's targets are the worker's ERROR rows, not failed children
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert run.entered == ["PlanScan", "ScanAccounts", "Aggregate", "AllWorkersRan?", "ScanComplete"]
    [map_run] = run.map_runs
    assert map_run.items == 4 and map_run.failed_items == 0
    assert [len(c.items) for c in map_run.children] == [len(b) for b in batches(range(4), 5)]
    assert all(c.input["BatchInput"] == {"run_id": "scan-map-1"} for c in map_run.children)
    # And the ResultWriter's manifest is what the aggregate was handed
    manifest = json.loads(world.s3.get_object(Bucket=BUCKET, Key=map_run.manifest_key)["Body"].read())
    assert run.output["map"]["ResultWriterDetails"] == {"Bucket": BUCKET, "Key": map_run.manifest_key}
    assert manifest["ResultFiles"]["FAILED"] == [] and len(manifest["ResultFiles"]["SUCCEEDED"]) == 1
    report = _report(world, "scan-map-1")
    rows = {(a["account_id"], a["region"]): a["status"] for a in report["accounts"]}
    sandbox, staging = world.account("sandbox"), world.account("staging")
    assert rows == {
        (staging, REGION): "OK",
        (staging, OTHER_REGION): "OK",
        (sandbox, REGION): "ERROR",
        (sandbox, OTHER_REGION): "ERROR",
    }
    # And the report is what driving plan, worker and aggregate by hand gives for the same estate
    cool_down()
    by_hand = run_scan(world.s3, "scan-hand-1")["body"]
    assert _comparable(report) == _comparable(by_hand)


def test_a_failed_worker_within_the_tolerance_leaves_an_error_row_from_the_result_writer(
    world: OrgWorld, synthesized_definition: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given one target per batch, and the worker crashing on staging's targets: 2 of 4 items fail
    definition = json.loads(json.dumps(synthesized_definition))
    definition["States"]["ScanAccounts"]["ItemBatcher"]["MaxItemsPerBatch"] = 1
    _crash_worker_for(monkeypatch, {world.account("staging")})
    # When 50% are tolerated
    run = _machine(world, definition, tolerated=50).start("scan-map-2")
    # Then the Map succeeds, its FAILED file names the failed children, and their rows say the worker failed
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    [map_run] = run.map_runs
    assert (map_run.items, map_run.failed_items, len(map_run.children)) == (4, 2, 4)
    report = _report(world, "scan-map-2")
    staging = [a for a in report["accounts"] if a["account_id"] == world.account("staging")]
    assert [a["reason_code"] for a in staging] == ["WORKER_FAILED", "WORKER_FAILED"]
    assert all("RuntimeError" in a["reason"] and "worker crashed" in a["reason"] for a in staging)


def test_past_the_deployed_tolerance_the_map_fails_the_report_is_written_and_the_run_fails(
    world: OrgWorld, synthesized_definition: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the deployed 10% tolerance and the worker crashing on every target of the one batch of four
    # (a crash on only some would leave the results of the targets it scanned before, in plan order)
    _crash_worker_for(monkeypatch, {world.account("staging"), world.account("sandbox")})
    run = _machine(world, synthesized_definition).start("scan-map-3")
    # Then the Map fails (4 of 4 items), the aggregate still writes the report, and the run fails
    assert run.status == "FAILED" and run.error == "ScanIncomplete"
    assert run.entered == ["PlanScan", "ScanAccounts", "Aggregate", "AllWorkersRan?", "ScanIncomplete"]
    [map_run] = run.map_runs
    assert map_run.failed and map_run.failed_items == 4
    report = _report(world, "scan-map-3")
    assert {a["reason_code"] for a in report["accounts"]} == {"NO_RESULT"}
    assert report["status"] != "COMPLETE"


@pytest.mark.parametrize(
    ("failed", "total", "percentage", "count", "fails"),
    [(1, 10, 10, None, False), (2, 10, 10, None, True), (0, 0, 0, None, False), (1, 4, 0, None, True),
     (3, 4, 100, 2, True), (2, 4, 100, 2, False)],
)  # fmt: skip
def test_the_tolerated_failure_rule_is_exceeds_not_reaches(
    failed: int, total: int, percentage: float, count: int | None, fails: bool
) -> None:
    state = MapState("m", {}, "b", "k", False, 1, {}, 1, percentage, count, "b", "p")
    assert exceeds(state, failed, total) is fails


def test_waves_start_each_child_when_a_slot_frees() -> None:
    assert waves_wall_seconds([5, 5, 5], 20) == 5
    assert waves_wall_seconds([5, 5, 5], 2) == 10
    assert waves_wall_seconds([4, 1, 1, 1], 2) == 4


def test_a_definition_the_emulation_cannot_honour_is_refused(synthesized_definition: dict[str, Any]) -> None:
    definition = json.loads(json.dumps(synthesized_definition))
    definition["States"]["ScanAccounts"]["ItemSelector"] = {"x.$": "$$.Map.Item.Value"}
    with pytest.raises(Unsupported, match="ItemSelector"):
        map_state(definition)
    definition["States"]["ScanAccounts"].pop("ItemSelector")
    definition["States"]["ScanAccounts"]["ItemReader"]["ReaderConfig"]["InputType"] = "CSV"
    with pytest.raises(Unsupported, match="JSON only"):
        map_state(definition)
