"""Coverage check and retraining steps under moto, on the sandbox's catalog."""

from __future__ import annotations

import importlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlgov.catalog_estate import (
    CATALOG_TABLE,
    SNAPSHOT_BUCKET,
    approve_package_on_snapshot,
    catalog_items,
    create_catalog,
    create_snapshot_bucket,
    put_old_snapshot,
)
from mlgov.cli import main
from mlgov.emulator import push_image
from mlgov.estate import TGI_IMAGE, create_governance_resources, drain_findings, recording_state_machines
from mlgov.sandbox import FakeContext, load_event
from mlgov.settings import parse_settings
from mlgov_runtime.adapters.catalog import snapshot_chunks
from mlgov_runtime.core.model import received_environment
from mlgov_runtime.coverage import settings as coverage_settings
from mlgov_runtime.coverage.logic import SnapshotFormatError, title_id_batches
from mlgov_runtime.retraining import settings as retraining_settings
from mlgov_runtime.retraining.registration import check_customer_metadata, evaluation_metrics_of
from tests.conftest import PASSING_EVALUATION
from tests.settings_files import NO_SETTINGS

REGION = "us-east-1"
GROUP = "manga-recommender"


@dataclass
class World:
    ddb: Any
    s3: Any
    sm: Any
    sfn: Any
    sqs: Any
    resources: dict[str, str]
    machine_arn: str
    snapshot_uri: str
    items: list[dict[str, Any]]
    inference_image: str = ""
    image_digest: str = ""

    def training_output(self, job: str, body: bytes = b"lora adapter v1") -> str:
        """The model.tar.gz a training job wrote (what registration copies and pins)."""
        key = f"training-output/{job}/output/model.tar.gz"
        self.s3.put_object(Bucket=SNAPSHOT_BUCKET, Key=key, Body=body)
        return f"s3://{SNAPSHOT_BUCKET}/{key}"

    def trained(self, job: str, evaluation: dict[str, Any]) -> dict[str, str]:
        """A finished training job as the state machine hands it on; its evaluation.json where the gate reads it."""
        key = f"evaluations/{job}/evaluation.json"
        self.s3.put_object(Bucket=SNAPSHOT_BUCKET, Key=key, Body=json.dumps(evaluation))
        return {
            "job_name": job,
            "job_arn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{job}",
            "model_artifacts": self.training_output(job),
        }

    def published(self) -> list[dict[str, Any]]:
        return drain_findings(self.sqs, self.resources["FINDINGS_QUEUE_URL"])


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        c = {
            s: boto3.client(s, region_name=REGION)
            for s in ("dynamodb", "s3", "sagemaker", "stepfunctions", "sqs", "sns", "iam", "ecr")
        }
        inference_image, digest = push_image(c["ecr"], "tgi-inference", "3.0.1")
        items = catalog_items()
        create_catalog(c["dynamodb"], items)
        create_snapshot_bucket(c["s3"], REGION)
        uri = put_old_snapshot(c["s3"], items)
        c["sagemaker"].create_model_package_group(ModelPackageGroupName=GROUP)
        approve_package_on_snapshot(c["sagemaker"], GROUP, uri, TGI_IMAGE.format(region=REGION))
        resources = create_governance_resources(c["dynamodb"], c["sns"], c["sqs"])
        (machine,) = recording_state_machines(c["iam"], c["stepfunctions"], "retraining")
        settings = parse_settings(
            {
                "watched_model_package_groups": [GROUP],
                "retraining": {
                    "catalog_table_name": CATALOG_TABLE,
                    "inference_image": inference_image,
                    "training_code_commit": "3f2a9c1",
                },
            }
        )
        env = {
            "SNAPSHOT_BUCKET": SNAPSHOT_BUCKET,
            "RETRAINING_STATE_MACHINE_ARN": machine,
            "FINDINGS_TABLE_NAME": resources["FINDINGS_TABLE_NAME"],
            "FINDINGS_TOPIC_ARN": resources["FINDINGS_TOPIC_ARN"],
            **received_environment(settings, coverage_settings.Received),
            **received_environment(settings, retraining_settings.Received),
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        from mlgov_runtime.adapters import aws

        aws.context_for.cache_clear()
        yield World(
            c["dynamodb"],
            c["s3"],
            c["sagemaker"],
            c["stepfunctions"],
            c["sqs"],
            resources,
            machine,
            uri,
            items,
            inference_image,
            digest,
        )
        aws.context_for.cache_clear()


def fresh_handler(name: str) -> ModuleType:
    """The handler module, its settings read afresh from the environment this test set."""
    from mlgov_runtime.core import env

    env.reset_all()
    return importlib.import_module(name)


def test_weekly_check_finds_the_22_percent_gap_pages_and_starts_one_retraining(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = fresh_handler("mlgov_runtime.coverage.handler")
    result = handler.handler({"detail-type": "Scheduled Event"}, FakeContext())
    out = capsys.readouterr().out
    assert (result["catalog_titles"], result["gap_titles"], result["coverage_gap_pct"]) == (1800, 400, 22.22)
    assert result["action"] == "retrain_and_page"
    assert result["snapshot_source"].startswith("training_data_s3_uri of arn:aws:sagemaker")
    assert result["pipeline"].startswith("started ")
    assert '"CatalogCoverageGapPct":[22.22]' in out.replace(" ", "")
    [finding] = world.published()
    assert finding["kind"] == "CATALOG_COVERAGE_GAP" and finding["severity"] == "CRITICAL"
    assert finding["evidence"]["orphan_titles"] == 20
    # The next week, with the run still going: no second run, no second page.
    again = handler.handler({"detail-type": "Scheduled Event"}, FakeContext())
    assert again["pipeline"].startswith("already running ")
    assert world.published() == []
    running = world.sfn.list_executions(stateMachineArn=world.machine_arn)["executions"]
    assert len(running) == 1


def test_a_scheduled_event_delivered_twice_starts_one_run_even_after_the_first_ended(world: World) -> None:
    handler = fresh_handler("mlgov_runtime.coverage.handler")
    event = load_event("scheduled_coverage_check.json", event_id="0e9a7c55-3b1d-4c2a-8f61-7d2e94b0c813")
    first = handler.handler(event, FakeContext())
    execution = world.machine_arn.replace(":stateMachine:", ":execution:")
    assert first["pipeline"] == f"started {execution}:coverage-gap-0e9a7c55-3b1d-4c2a-8f61-7d2e94b0c813"
    world.sfn.stop_execution(executionArn=first["pipeline"].split(" ", 1)[1])
    again = handler.handler(event, FakeContext())
    assert again["pipeline"].startswith("already started ")
    assert len(world.sfn.list_executions(stateMachineArn=world.machine_arn)["executions"]) == 1


@pytest.mark.parametrize(
    ("event_id", "expected"),
    [
        ("5c4b3a29-1807-4f6e-9d5c-4b3a2f1e0d9c", "coverage-gap-5c4b3a29-1807-4f6e-9d5c-4b3a2f1e0d9c"),
        (None, "coverage-gap-2026-11-23"),
        ("manual run: 2026/11/23 #2", "coverage-gap-manual-run-2026-11-23-2"),
        ("x" * 100, "coverage-gap-" + "x" * 45),
    ],
)
def test_execution_names_fit_the_training_job_name_rules(world: World, event_id: str | None, expected: str) -> None:
    from datetime import date

    name = fresh_handler("mlgov_runtime.coverage.handler").execution_name(event_id, date(2026, 11, 23))
    assert name == expected
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", f"lora-{name}")


def test_a_check_that_cannot_run_is_a_finding_and_closes_once_it_runs_again(world: World) -> None:
    # Given the approved package's snapshot is gone
    key = world.snapshot_uri.split("/", 3)[3]
    body = world.s3.get_object(Bucket=SNAPSHOT_BUCKET, Key=key)["Body"].read()
    world.s3.delete_object(Bucket=SNAPSHOT_BUCKET, Key=key)
    handler = fresh_handler("mlgov_runtime.coverage.handler")
    # When the weekly check runs, twice
    result = handler.handler({}, FakeContext())
    assert handler.handler({}, FakeContext())["status"] == "error"
    # Then it says why, and one HIGH finding goes out (not one per week)
    assert result["status"] == "error" and "does not exist" in result["reason"]
    [failed] = world.published()
    assert (failed["kind"], failed["severity"], failed["status"]) == ("COVERAGE_CHECK_FAILED", "HIGH", "OPEN")
    assert world.snapshot_uri in failed["detail"] and "gap is unknown" in failed["title"]
    # And once the snapshot is back, the failure is closed and the gap reported
    world.s3.put_object(Bucket=SNAPSHOT_BUCKET, Key=key, Body=body)
    assert handler.handler({}, FakeContext())["coverage_gap_pct"] == 22.22
    by_kind = {f["kind"]: f for f in world.published()}
    assert by_kind["COVERAGE_CHECK_FAILED"]["status"] == "RESOLVED"
    assert by_kind["CATALOG_COVERAGE_GAP"]["severity"] == "CRITICAL"


def test_a_check_after_a_check_that_ran_publishes_no_closing(world: World) -> None:
    handler = fresh_handler("mlgov_runtime.coverage.handler")
    handler.handler({}, FakeContext())
    assert [f["kind"] for f in world.published()] == ["CATALOG_COVERAGE_GAP"]


@pytest.mark.parametrize(
    ("break_catalog", "reason"),
    [
        (lambda ddb: ddb.delete_table(TableName=CATALOG_TABLE), f"catalog table {CATALOG_TABLE} does not exist"),
        (
            lambda ddb: [
                ddb.delete_item(TableName=CATALOG_TABLE, Key={"title_id": item["title_id"]})
                for page in ddb.get_paginator("scan").paginate(TableName=CATALOG_TABLE)
                for item in page["Items"]
            ],
            f"catalog table {CATALOG_TABLE} has no titles",
        ),
    ],
    ids=["missing table", "empty table"],
)
def test_a_missing_or_empty_catalog_is_not_a_zero_gap(world: World, break_catalog: Any, reason: str) -> None:
    break_catalog(world.ddb)
    result = fresh_handler("mlgov_runtime.coverage.handler").handler({}, FakeContext())
    assert result["status"] == "error" and result["reason"].startswith(reason)
    [failed] = world.published()
    assert failed["kind"] == "COVERAGE_CHECK_FAILED" and reason in failed["detail"]


def test_cli_coverage_names_a_missing_catalog_table(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["coverage", "--catalog-table", "no-such-table", "--snapshot-uri", world.snapshot_uri])
    assert code == 2
    assert "catalog table no-such-table does not exist" in capsys.readouterr().err


def test_cli_coverage_prints_the_contract_json_and_exits_3(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "coverage",
            "--catalog-table",
            CATALOG_TABLE,
            "--snapshot-uri",
            world.snapshot_uri,
            "--region",
            REGION,
            "--format",
            "json",
            "--config",
            NO_SETTINGS,
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 3
    assert report == {
        "catalog_titles": 1800,
        "snapshot_titles": 1420,
        "gap_titles": 400,
        "coverage_gap_pct": 22.22,
        "action": "retrain_and_page",
        "gap_title_sample": report["gap_title_sample"],
    }
    assert len(report["gap_title_sample"]) == 20 and report["gap_title_sample"][0] == "MNG-01400"


def test_cli_coverage_table_shows_progress_on_stderr_and_json_stays_clean(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["coverage", "--catalog-table", CATALOG_TABLE, "--snapshot-uri", world.snapshot_uri, "--region", REGION]
    assert main([*base, "--format", "table"]) == 3
    table = capsys.readouterr()
    assert "gap              400 titles = 22.22%" in table.out
    assert f"catalog: 1,800 titles; streaming {world.snapshot_uri}" in table.err
    assert "snapshot: 100% (" in table.err
    assert main([*base, "--format", "json"]) == 3
    quiet = capsys.readouterr()
    assert json.loads(quiet.out)["gap_titles"] == 400 and quiet.err == ""


def test_a_malformed_snapshot_stops_the_reader_thread(world: World) -> None:
    # Given a snapshot of many small chunks whose third line is not a training pair
    lines = [json.dumps({"query": "q", "query_language": "en", "title_id": f"MNG-{i:05d}"}) for i in range(2000)]
    lines[2] = '{"query": "q"}'
    world.s3.put_object(Bucket=SNAPSHOT_BUCKET, Key="bad/training.jsonl", Body="\n".join(lines).encode())

    def check() -> str:
        try:
            list(title_id_batches(snapshot_chunks(world.s3, f"s3://{SNAPSHOT_BUCKET}/bad/training.jsonl", 256, 1)))
        except SnapshotFormatError as exc:
            return str(exc)
        return "no error"

    # When the check fails on it
    assert check().startswith("snapshot line 3:")
    # Then the reader does not stay blocked on its full buffer (it would, in a warm Lambda, for good)
    # (joined, not timed: a busy machine may take long to schedule it; a blocked reader never ends)
    for reader in [t for t in threading.enumerate() if t.name == "snapshot-reader"]:
        reader.join(timeout=120)
    assert not readers_alive()


def readers_alive() -> bool:
    return any(t.name == "snapshot-reader" for t in threading.enumerate())


def test_cli_coverage_refuses_a_bad_uri(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coverage", "--catalog-table", "manga-catalog", "--snapshot-uri", "http://x/y"]) == 2
    assert "s3://bucket/key" in capsys.readouterr().err


def step(module: ModuleType, name: str, state: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = module.handler({"step": name, "state": state}, FakeContext())
    return result


def test_prepare_then_quality_gate_pass_on_a_full_catalog(world: World) -> None:
    pipeline = fresh_handler("mlgov_runtime.retraining.handler")
    prepared = step(pipeline, "prepare", {})
    assert prepared["snapshot_key"].startswith("catalog-snapshots/") and prepared["version_id"]
    assert prepared["catalog_titles"] == 1800
    quality = step(pipeline, "quality_gate", {"prepared": prepared})
    assert quality["passed"], quality["failed"]
    assert quality["rows"] == 1800 * 28 and quality["last_snapshot_date"] == "2026-05-02"
    checks = {c["name"]: c for c in quality["checks"]}
    assert checks["new_title_coverage"]["observed"] == 1.0


def test_prepare_also_writes_the_base_contract_path(world: World) -> None:
    # CONTRACTS: a snapshot at catalog-snapshots/YYYY-MM-DD/training.jsonl; the run's own key is what it trains on.
    prepared = step(fresh_handler("mlgov_runtime.retraining.handler"), "prepare", {})
    day_key = f"catalog-snapshots/{prepared['snapshot_date']}/training.jsonl"
    assert prepared["snapshot_key"] != day_key
    day = world.s3.get_object(Bucket=SNAPSHOT_BUCKET, Key=day_key)["Body"].read()
    run = world.s3.get_object(Bucket=SNAPSHOT_BUCKET, Key=prepared["snapshot_key"])["Body"].read()
    assert day == run and len(day.splitlines()) == 1800 * 28


def test_quality_gate_removes_orphans_and_fails_a_partial_catalog_read(world: World) -> None:
    pipeline = fresh_handler("mlgov_runtime.retraining.handler")
    prepared = step(pipeline, "prepare", {})
    # Titles deleted from the catalog after data prep, and a truncated read: 1,000 titles left.
    for item in world.items[1000:]:
        world.ddb.delete_item(TableName=CATALOG_TABLE, Key={"title_id": {"S": item["title_id"]}})
    quality = step(pipeline, "quality_gate", {"prepared": prepared})
    assert not quality["passed"]
    failed = {c["name"] for c in quality["failed"]}
    assert failed == {"row_count"}
    orphans = next(c for c in quality["checks"] if c["name"] == "orphan_title_ids")
    assert orphans["observed"] == 800
    assert quality["version_id"] != prepared["version_id"]  # the cleaned snapshot is a new object version
    body = world.s3.get_object(Bucket=SNAPSHOT_BUCKET, Key=prepared["snapshot_key"])["Body"].read()
    assert body.count(b"\n") == 1000 * 28


def test_offline_gate_and_registration_write_the_metadata_schema(world: World) -> None:
    pipeline = fresh_handler("mlgov_runtime.retraining.handler")
    prepared = step(pipeline, "prepare", {})
    quality = step(pipeline, "quality_gate", {"prepared": prepared})
    training = world.trained("lora-exec-1", PASSING_EVALUATION)
    offline = step(pipeline, "offline_gate", {"training": training})
    assert offline["passed"], offline["failed"]
    execution = "arn:aws:states:us-east-1:123456789012:execution:RetrainingStateMachine:exec-1"
    state = {"execution": execution, "prepared": prepared, "quality": quality, "training": training, "offline": offline}
    registered = step(pipeline, "register", state)
    package = world.sm.describe_model_package(ModelPackageName=registered["model_package_arn"])
    meta = package["CustomerMetadataProperties"]
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    # The run that registered it, for the challenger's provenance check (its output names the package)
    assert meta["retraining_execution_arn"] == execution
    assert meta["catalog_snapshot_date"] == prepared["snapshot_date"]
    assert meta["training_data_s3_uri"] == prepared["snapshot_uri"]
    assert meta["training_data_version"] == quality["version_id"]
    # One key per metric (SageMaker allows no JSON in a value), every entry within its rule
    assert meta["eval:mrr_at_10"] == "0.41" and (evaluation_metrics_of(meta) or {})["mrr_at_10"] == 0.41
    check_customer_metadata(meta)
    # Pins: the package names a write-once copy, its image by digest, the copy's ETag, version and checksum.
    [container] = package["InferenceSpecification"]["Containers"]
    copy = f"approved-models/{GROUP}/lora-exec-1/model.tar.gz"
    assert container["ModelDataUrl"] == f"s3://{SNAPSHOT_BUCKET}/{copy}"
    assert container["ImageDigest"] == world.image_digest
    head = world.s3.head_object(Bucket=SNAPSHOT_BUCKET, Key=copy, ChecksumMode="ENABLED")
    assert container["ModelDataETag"] == head["ETag"].strip('"')
    assert meta["model_data_version_id"] == head["VersionId"]
    assert meta["model_data_checksum"] == f"SHA256:{head['ChecksumSHA256']}"
    # The write-once copy is never replaced: registering the same job again (a retried step) keeps the copy and
    # returns the package it made.
    again = step(pipeline, "register", state)
    assert again["model_package_arn"] == registered["model_package_arn"]
    assert world.s3.head_object(Bucket=SNAPSHOT_BUCKET, Key=copy)["VersionId"] == head["VersionId"]
    listed = world.sm.list_model_packages(ModelPackageGroupName=GROUP, ModelApprovalStatus="PendingManualApproval")[
        "ModelPackageSummaryList"
    ]
    assert [p["ModelPackageArn"] for p in listed] == [registered["model_package_arn"]]
    assert {
        "training_job_arn",
        "git_commit_sha",
        "trained_at_utc",
        "shadow_ctr_eligible",
        "intended_use_case",
        "team",
        "approved_by",
    } <= set(meta)


def test_a_failed_gate_becomes_a_finding_naming_the_check(world: World) -> None:
    pipeline = fresh_handler("mlgov_runtime.retraining.handler")
    failed = [
        {
            "name": "ja_query_fraction",
            "passed": False,
            "observed": 0.1,
            "required": ">= 0.25",
            "detail": "10.0% of queries are Japanese, 15.0% below the floor",
        }
    ]
    result = step(
        pipeline,
        "report_failure",
        {"failed_stage": "data_quality_gate", "execution": "exec-1", "quality": {"passed": False, "failed": failed}},
    )
    [finding] = world.published()
    assert finding["kind"] == "RETRAINING_FAILED" and finding["finding_id"] == result["finding_id"]
    assert "ja_query_fraction" in finding["title"] and "15.0% below" in finding["detail"]


def registration_metadata(world: World, job: str) -> dict[str, Any]:
    """What `mlgov register --metadata-file` takes for a package trained by `job`, every field present."""
    return {
        "training_job_arn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{job}",
        "git_commit_sha": "3f2a9c1",
        "training_data_s3_uri": world.snapshot_uri,
        "training_data_version": "v7",
        "trained_at_utc": "2026-11-20T04:00:00Z",
        "catalog_snapshot_date": "2026-11-18",
        "evaluation_metrics": {"eval_loss": 0.11},
        "shadow_ctr_eligible": False,
        "intended_use_case": "recommendation",
        "team": "recsys",
        "approved_by": "pending-manual-approval",
    }


def test_mlgov_register_refuses_a_missing_field_by_name_and_registers_a_complete_one(
    world: World, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    meta = registration_metadata(world, "lora-manual-1")
    del meta["catalog_snapshot_date"]
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(meta))
    args = [
        "register",
        "--group",
        GROUP,
        "--metadata-file",
        str(path),
        "--model-data-url",
        world.training_output("lora-manual-1"),
        "--image",
        world.inference_image,
        "--region",
        REGION,
        "--format",
        "json",
    ]
    assert main(args) == 2
    assert "lacks catalog_snapshot_date" in capsys.readouterr().err
    path.write_text(json.dumps({**meta, "catalog_snapshot_date": "2026-11-18"}))
    assert main(args) == 0
    arn = json.loads(capsys.readouterr().out)["model_package_arn"]
    described = world.sm.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert described["CustomerMetadataProperties"]["catalog_snapshot_date"] == "2026-11-18"
    [container] = described["InferenceSpecification"]["Containers"]
    assert container["ImageDigest"] == world.image_digest and container["ModelDataETag"]
    assert described["CustomerMetadataProperties"]["model_data_version_id"]


def test_mlgov_register_refuses_what_it_cannot_pin(
    world: World, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(registration_metadata(world, "lora-manual-2")))
    base = ["register", "--group", GROUP, "--metadata-file", str(path), "--region", REGION]
    before = len(world.sm.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"])
    missing_tag = world.inference_image.rsplit(":", 1)[0] + ":no-such-tag"
    assert main([*base, "--model-data-url", world.training_output("m2"), "--image", missing_tag]) == 2
    assert "cannot resolve image" in capsys.readouterr().err
    gone = f"s3://{SNAPSHOT_BUCKET}/training-output/never-written/model.tar.gz"
    assert main([*base, "--model-data-url", gone, "--image", world.inference_image]) == 2
    assert "cannot read model data" in capsys.readouterr().err
    assert len(world.sm.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]) == before
