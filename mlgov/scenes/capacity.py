"""Scene: the capacity guard. The weekly check over the estate's autoscaling; then the incident of spec
scenario 4 (a deployment sets MinCapacity=0), paged as CRITICAL and fixed by `mlgov capacity restore`."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mlgov.sandbox import ACCOUNT, REGION, FakeContext, emf_metric, handler_environment, load_event
from mlgov.scenes import Stage

PROD = "manga-recommender-prod"


def _drain(stage: Stage) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while batch := stage.sqs.receive_message(
        QueueUrl=stage.resources["FINDINGS_QUEUE_URL"], MaxNumberOfMessages=10
    ).get("Messages"):
        for message in batch:
            found.append(json.loads(message["Body"]))
            stage.sqs.delete_message(
                QueueUrl=stage.resources["FINDINGS_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"]
            )
    return found


def _invoke(handler: Any, event: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result: dict[str, Any] = handler.handler(event, FakeContext())
    return result, emf_metric(out.getvalue(), "EndpointCanScaleToZero")


def _register_event(min_capacity: int) -> dict[str, Any]:
    event = load_event("cloudtrail_register_scalable_target.json")
    event["detail"]["requestParameters"].update(minCapacity=min_capacity)
    return event


def _cli(stage: Stage, *args: str) -> tuple[int, str, str]:
    from mlgov.cli import main as cli

    out, err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "cdk.json"  # the demo account is an experiment account, as for `mlgov audit`
        config.write_text(json.dumps({"context": {"mlgov": {"experiment_exemptions": {"account_ids": [ACCOUNT]}}}}))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli([*args, "--endpoint-url", stage.url, "--region", REGION, "--config", str(config)])
    return code, out.getvalue(), err.getvalue()


def play(stage: Stage) -> None:
    from mlgov.capacity_estate import register, seed_capacity
    from mlgov_runtime.core.env import reset_all

    os.environ.update(handler_environment(stage.url, stage.resources, ACCOUNT))
    reset_all()
    from mlgov_runtime.capacity import handler

    aas = stage.session.client("application-autoscaling", endpoint_url=stage.url)
    expected = seed_capacity(aas)
    _drain(stage)
    print("\n== capacity guard (spec scenario 4): the weekly check of every endpoint's minimum")
    print(f"   seeded autoscaling: {PROD} 1..4 with target tracking, 2 in business hours, Manga Monday 5;")
    print("   canary MinCapacity 0; v0 a Sunday-night action to 0; ab one instance per variant; experiment at 0")
    weekly, _ = _invoke(handler, load_event("scheduled_weekly_scan.json"))
    print(f"   {'ENDPOINT':<30} {'VERDICT':<18} {'MIN':<4} FIRST REASON")
    for row in weekly["results"]:
        want = expected.get(row["endpoint_name"])
        if want and want != row["verdict"]:
            stage.mismatches += 1
        reason = (row["reasons"] or [""])[0]
        minimum = "-" if row["minimum"] is None else str(row["minimum"])
        print(f"   {row['endpoint_name']:<30} {row['verdict']:<18} {minimum:<4} {reason[:70]}")
    published = _drain(stage)
    by_severity = {s: sum(f["severity"] == s for f in published) for s in ("CRITICAL", "MEDIUM", "LOW")}
    print(f"   findings published: {by_severity['CRITICAL']} CRITICAL (paged), {by_severity['MEDIUM']} MEDIUM, "
          f"{by_severity['LOW']} LOW")  # fmt: skip

    print(f"\n== incident: a deployment sets MinCapacity=0 on {PROD}")
    register(aas, PROD, 0)
    result, metric = _invoke(handler, _register_event(0))
    [row] = result["results"]
    [finding] = _drain(stage)
    print(
        f"   CloudTrail RegisterScalableTarget -> capacity Lambda: {row['verdict']}, EndpointCanScaleToZero={metric:g}"
    )
    print(f"   [{finding['severity']}] {finding['kind']}: {finding['title']}")
    print(f"   the finding names its fix: {finding['evidence']['fix_command']}")
    table = stage.resources["FINDINGS_TABLE_NAME"]
    print(f"\n   $ mlgov capacity restore --endpoint {PROD} --findings-table mlgov-findingz   (a typo)")
    code, _, err = _cli(stage, "capacity", "restore", "--endpoint", PROD, "--findings-table", "mlgov-findingz")
    print(f"     {err.strip()[:200]}\n     exit code {code}: checked before the first change, MinCapacity still 0")
    print(f"\n   $ mlgov capacity restore --endpoint {PROD} --findings-table {table}")
    code, out, err = _cli(stage, "capacity", "restore", "--endpoint", PROD, "--findings-table", table)
    for line in (err + out).splitlines():
        print(f"     {line}")
    print(f"     exit code {code}")
    closed, _ = _invoke(handler, _register_event(1))
    [resolution] = _drain(stage)
    item = stage.ddb.get_item(TableName=table, Key={"finding_id": {"S": finding["finding_id"]}})["Item"]
    steps = [json.loads(e["S"]) for e in item.get("remediation_log", {}).get("L", [])]
    print(
        f"   the restore's own RegisterScalableTarget -> capacity Lambda: {closed['results'][0]['verdict']}; "
        f"finding {resolution['status']} ({resolution['severity']}), its log: "
        + ", ".join(f"{s['action']} {s['status']}" for s in steps)
    )

    print("\n== mlgov capacity audit --format table")
    code, out, _ = _cli(stage, "capacity", "audit", "--format", "table")
    for line in out.splitlines():
        print(f"   {line[:150]}")
    print(f"   exit code {code} (3 = an endpoint can reach zero)")

    from datetime import UTC, datetime, timedelta

    start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=23, minute=0, second=0, microsecond=0)
    window = ["--start", start.isoformat(), "--end", (start + timedelta(hours=14)).isoformat()]
    print("\n== campaign runbook (follow-up 3): instances for the expected peak, scheduled for the window")
    for extra in (["--dry-run"], []):
        argv = ["capacity", "campaign", "--endpoint", PROD, "--name", "manga-monday", "--peak", "380", *window]
        print(f"   $ mlgov {' '.join(argv + extra)}")
        code, out, err = _cli(stage, *argv, *extra)
        for line in (err + out).splitlines():
            print(f"     {line}")
        print(f"     exit code {code}")
    print("\n== campaign end: the weekly actions it raised go back as they were (--cancel: before its end)")
    argv = ["capacity", "campaign-end", "--endpoint", PROD, "--name", "manga-monday", "--cancel"]
    print(f"   $ mlgov {' '.join(argv)}")
    code, out, err = _cli(stage, *argv)
    for line in (err + out).splitlines():
        print(f"     {line}")
    print(f"     exit code {code}")
