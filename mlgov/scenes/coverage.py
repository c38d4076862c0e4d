"""Scene: the weekly coverage check on a stale snapshot, then the retraining pipeline's gates."""

from __future__ import annotations

import contextlib
import io
import json
import os
from typing import Any

from mlgov.sandbox import REGION, FakeContext, load_event
from mlgov.scenes import Stage


def show_coverage_and_retraining(session: Any, url: str, resources: dict[str, str]) -> None:
    """Spec scenario 2: the weekly coverage check on a stale snapshot, then the pipeline's gates."""
    from mlgov.catalog_estate import (
        CATALOG_TABLE,
        SNAPSHOT_BUCKET,
        approve_package_on_snapshot,
        catalog_items,
        create_catalog,
        create_snapshot_bucket,
        put_old_snapshot,
    )
    from mlgov.estate import GROUP, TGI_IMAGE, TGI_PINNED, recording_state_machines
    from mlgov.settings import parse_settings
    from mlgov_runtime.core.model import received_environment
    from mlgov_runtime.coverage import settings as coverage_settings
    from mlgov_runtime.retraining import settings as retraining_settings

    ddb, s3, sm, sfn, iam = (
        session.client(x, endpoint_url=url) for x in ("dynamodb", "s3", "sagemaker", "stepfunctions", "iam")
    )
    items = catalog_items()
    create_catalog(ddb, items)
    create_snapshot_bucket(s3, REGION)
    uri = put_old_snapshot(s3, items)
    package = approve_package_on_snapshot(sm, GROUP, uri, TGI_PINNED.format(region=REGION))
    (machine,) = recording_state_machines(iam, sfn, "MlGovRetraining")
    settings = parse_settings(
        {
            "watched_model_package_groups": [GROUP],
            "retraining": {
                "catalog_table_name": CATALOG_TABLE,
                "inference_image": TGI_IMAGE.format(region=REGION),
                "training_code_commit": "3f2a9c1",
            },
        }
    )
    os.environ.update(
        {
            "SNAPSHOT_BUCKET": SNAPSHOT_BUCKET,
            "RETRAINING_STATE_MACHINE_ARN": machine,
            **received_environment(settings, coverage_settings.Received),
            **received_environment(settings, retraining_settings.Received),
        }
    )
    new = sum(1 for it in items if it["added_at"] > "2026-05-02")
    print(
        f"\n== catalog coverage: {len(items)} titles in {CATALOG_TABLE}, {new} added after the approved "
        f"model's snapshot of 2026-05-02"
    )
    print(f"   approved package {package.rsplit('/', 2)[-2]}/{package.rsplit('/', 1)[-1]} was trained on {uri}")
    from mlgov_runtime.coverage import handler as coverage_check
    from mlgov_runtime.retraining import handler as retraining

    weekly = load_event("scheduled_coverage_check.json")
    with contextlib.redirect_stdout(io.StringIO()):
        result = coverage_check.handler(weekly, FakeContext())
        again = coverage_check.handler(weekly, FakeContext())
    print(
        f"   weekly check: gap {result['gap_titles']} of {result['catalog_titles']} titles = "
        f"{result['coverage_gap_pct']}% -> {result['action']}"
    )
    state, _, execution_arn = result["pipeline"].partition(" ")
    print(f"   retraining state machine: {state} execution {execution_arn.rsplit(':', 1)[-1]}")
    print(f"   the same scheduled event delivered again: {again['pipeline'].rsplit(' ', 1)[0]}, no second run")
    print(f"   finding published: {result['finding_published']} (CRITICAL CATALOG_COVERAGE_GAP, pages on-call)")

    key = uri.split("/", 3)[3]
    snapshot = s3.get_object(Bucket=SNAPSHOT_BUCKET, Key=key)["Body"].read()
    s3.delete_object(Bucket=SNAPSHOT_BUCKET, Key=key)
    with contextlib.redirect_stdout(io.StringIO()):
        broken = coverage_check.handler(load_event("scheduled_coverage_check.json"), FakeContext())
    print(f"   a week later the snapshot is gone: {broken['reason']}")

    def stored(field: str) -> str:
        key = {"finding_id": {"S": broken["finding_id"]}}
        return str(ddb.get_item(TableName=resources["FINDINGS_TABLE_NAME"], Key=key)["Item"][field]["S"])

    print(f"   -> COVERAGE_CHECK_FAILED finding {stored('severity')}, {stored('status')}")
    s3.put_object(Bucket=SNAPSHOT_BUCKET, Key=key, Body=snapshot)
    with contextlib.redirect_stdout(io.StringIO()):
        coverage_check.handler(load_event("scheduled_coverage_check.json"), FakeContext())
    print(f"   snapshot restored, the next check runs: that finding is {stored('status')}")
    _alert_only_gap(session, url, resources, items)

    print("\n== retraining: data prep and the data-quality gate on a fresh snapshot")
    with contextlib.redirect_stdout(io.StringIO()):
        prepared = retraining.handler({"step": "prepare", "state": {}}, FakeContext())
        quality = retraining.handler({"step": "quality_gate", "state": {"prepared": prepared}}, FakeContext())
    print(f"   wrote {prepared['snapshot_uri']} (version {prepared['version_id'][:12]}...)")
    for check in quality["checks"]:
        print(f"   [{'pass' if check['passed'] else 'FAIL'}] {check['name']:<20} {check['detail']}")
    print(f"   gate {'passed: training may start' if quality['passed'] else 'failed: the run stops'}")
    # A catalog export that lost most Japanese titles: the gate stops it before any training.
    lost = [it for it in items if it["language"] == "en"][:700]
    s3.put_object(
        Bucket=SNAPSHOT_BUCKET,
        Key=prepared["snapshot_key"],
        Body=b"".join(
            (
                json.dumps({"query": f"manga like {it['title']}", "query_language": "en", "title_id": it["title_id"]})
                + "\n"
            ).encode()
            for it in lost
        ),
    )
    with contextlib.redirect_stdout(io.StringIO()):
        bad = retraining.handler({"step": "quality_gate", "state": {"prepared": prepared}}, FakeContext())
    print("   a broken export (700 English-only pairs) instead:")
    for check in bad["failed"]:
        print(f"   [FAIL] {check['name']:<20} {check['detail']}")


def _alert_only_gap(session: Any, url: str, resources: dict[str, str], items: list[dict[str, Any]]) -> None:
    """A gap between the alert and page thresholds: nothing starts on its own (the default), and the finding
    carries the exact command that starts the retraining pipeline for that gap."""
    from mlgov.catalog_estate import SNAPSHOT_BUCKET, approve_package_on_snapshot, snapshot_body
    from mlgov.estate import TGI_PINNED
    from mlgov_runtime.core import env
    from mlgov_runtime.core.model import variable
    from mlgov_runtime.coverage import handler as coverage_check
    from mlgov_runtime.coverage import settings as coverage_settings

    ddb, s3, sm = (session.client(x, endpoint_url=url) for x in ("dynamodb", "s3", "sagemaker"))
    group = "manga-recommender-weekly"  # its own group, so the rest of the demo keeps its estate
    sm.create_model_package_group(ModelPackageGroupName=group)
    recent = sorted(items, key=lambda it: str(it["added_at"]))[:-160]  # the newest 160 titles missing
    key = "catalog-snapshots/2026-11-20/training.jsonl"
    s3.put_object(Bucket=SNAPSHOT_BUCKET, Key=key, Body=snapshot_body(recent))
    approve_package_on_snapshot(sm, group, f"s3://{SNAPSHOT_BUCKET}/{key}", TGI_PINNED.format(region=REGION))
    name = variable(coverage_settings.Received)  # the coverage check's settings, serving this group instead
    watched = os.environ[name]
    sent = json.loads(watched)
    os.environ[name] = json.dumps(
        {
            **sent,
            "watched_model_package_groups": [group],
            "retraining": {**sent["retraining"], "model_package_group": None},
        }
    )
    env.reset_all()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            result = coverage_check.handler(load_event("scheduled_coverage_check.json"), FakeContext())
    finally:
        os.environ[name] = watched
        env.reset_all()
    stored = ddb.scan(TableName=resources["FINDINGS_TABLE_NAME"])["Items"]
    finding = next(
        f
        for f in (json.loads(item["finding"]["S"]) for item in stored)
        if f["kind"] == "CATALOG_COVERAGE_GAP" and f["resource_arn"].endswith(f"/{group}")
    )
    print(
        f"   group {group}: gap {result['gap_titles']} of {result['catalog_titles']} titles = "
        f"{result['coverage_gap_pct']}% -> {result['action']}: retraining not started (the default; "
        "retraining.start_on_coverage_alert starts it)"
    )
    print(f"   [{finding['severity']:<6}] {finding['kind']}: the finding carries the command that starts it:")
    print(f"     {finding['evidence']['fix_command']}")


def play(stage: Stage) -> None:
    show_coverage_and_retraining(stage.session, stage.url, stage.resources)
