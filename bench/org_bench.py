"""The org-wide scan beyond one machine, in simulation: an organization of member accounts x regions x
endpoints seeded in the bench's emulator (moto server with mlgov's extensions, 20 ms added to every API
call), scanned by the synthesized state machine (plan -> Distributed Map -> aggregate, run by
mlgov.emulator_map with the real coordinator and worker handlers; members reached through the member
role), then the wall time that implies for 50 accounts x 2 regions x 200 endpoints at the deployed
MaxConcurrency and under an API-rate bound.

  BENCH_ORG_ACCOUNTS (6), BENCH_ORG_REGIONS (2), BENCH_ORG_ENDPOINTS (200): the simulated organization.

In one process the handlers take turns (mlgov.emulator_map says why), so the Map's wall time here is the
sum of its batches; each batch's own busy time is measured, and the wall time in Lambda (one sandbox per
batch, MaxConcurrency at once) is computed from those times.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
ACCOUNTS = int(os.environ.get("BENCH_ORG_ACCOUNTS", "6"))
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1")[: int(os.environ.get("BENCH_ORG_REGIONS", "2"))]
ENDPOINTS = int(os.environ.get("BENCH_ORG_ENDPOINTS", "200"))
ROLE = "MlGovMemberAudit"
BUCKET = "mlgov-org-scan-reports"
GOAL_MINUTES = 10.0
# The organization the issue sizes: 50 accounts x 2 regions x 200 endpoints.
ORG_ACCOUNTS, ORG_REGIONS, ORG_ENDPOINTS = 50, 2, 200
# SageMaker documents no request rate for its Describe*/List* operations: its quotas page
# (https://docs.aws.amazon.com/general/latest/gr/sagemaker.html) lists resource and instance counts only,
# and AWS's answer to a "Rate exceeded" on ListTags names no number. Assumed: this many calls per second per
# operation per account and region, sustained (the SDK's adaptive retries hold a worker to it).
ASSUMED_TPS_PER_OPERATION = 10.0


def synthesized_definition(functions: dict[str, str]) -> dict[str, Any]:
    """The org scan's state machine definition from a synth of the app (its settings: cdk.json's)."""
    from aws_cdk import Stack
    from aws_cdk.assertions import Template

    from app import build_app
    from mlgov.emulator_map import definition_from_template
    from stacks.constants import AUDIT_STACK_NAME

    stack = cast(Stack, build_app().node.find_child(AUDIT_STACK_NAME))
    template = Template.from_stack(stack).to_json()
    return definition_from_template(template, "OrgScan", {**functions, "OrgScanReportBucket": BUCKET})


def seed_organization(url: str) -> tuple[str, list[str]]:
    """Member accounts (through Organizations), the member role in each, ENDPOINTS endpoints in each of
    REGIONS; (governance account, member account ids)."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    from bench.scan_bench import seed
    from mlgov.org_estate import create_organization, deploy_member_role, member_session

    session = boto3.session.Session("bench", "bench", region_name=REGIONS[0])
    governance, ids = create_organization(session, url, [f"member{i:02d}" for i in range(ACCOUNTS)])
    sts = session.client("sts", endpoint_url=url)

    def one(account: str) -> None:
        deploy_member_role(member_session(sts, account, REGIONS[0]), url, ROLE, governance)
        for region in REGIONS:
            sm = member_session(sts, account, region).client("sagemaker", endpoint_url=url)
            seed(url, ENDPOINTS, sm=sm, account=account, region=region)

    with ThreadPoolExecutor(max_workers=2) as pool:  # each seed runs 8 threads of its own
        list(pool.map(one, ids.values()))
    return governance, list(ids.values())


def _environment(url: str, governance: str) -> dict[str, str]:
    """The coordinator's and worker's environment, as the stack sets it, against the emulator."""
    import boto3

    from mlgov.estate import create_governance_resources
    from mlgov.settings import parse_settings
    from mlgov_runtime.org_scan import settings as e

    session = boto3.session.Session("bench", "bench", region_name=REGIONS[0])
    clients = {s: session.client(s, endpoint_url=url) for s in ("dynamodb", "sns", "sqs", "s3", "kms")}
    resources = create_governance_resources(clients["dynamodb"], clients["sns"], clients["sqs"])
    clients["s3"].create_bucket(Bucket=BUCKET)
    clients["s3"].put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    mac = clients["kms"].create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    scan = {"regions": list(REGIONS), "exclude_account_ids": [governance]}
    return {
        **{k: v for k, v in resources.items() if k != "FINDINGS_QUEUE_URL"},
        e.REPORT_BUCKET: BUCKET,
        e.MEMBER_ROLE_NAME: ROLE,
        **e.environment(parse_settings({"org_scan": scan})),
        e.RESULT_MAC_KEY_ID: mac,
        "POWERTOOLS_METRICS_NAMESPACE": "MLGovernance",
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def _process_env(url: str) -> None:
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": REGIONS[0],
            "AWS_REGION": REGIONS[0],
        }
    )
    os.environ.pop("AWS_SESSION_TOKEN", None)


def measure() -> dict[str, Any]:
    """One run of the synthesized state machine over the seeded organization, 20 ms per call."""
    import boto3

    from bench.scan_bench import DELAY_MS, bench_server, control
    from mlgov.emulator_map import InProcessFunction, Machine, cool_down
    from mlgov_runtime.org_scan.report import aggregate

    with bench_server() as url:
        _process_env(url)
        print(
            f"seeding {ACCOUNTS} accounts x {len(REGIONS)} regions x {ENDPOINTS} endpoints ...",
            file=sys.stderr,
            flush=True,
        )
        governance, _members = seed_organization(url)
        environment = _environment(url, governance)
        arn = f"arn:aws:lambda:{REGIONS[0]}:{governance}:function"
        functions = {
            f"{arn}:OrgScanCoordinator": InProcessFunction(
                "mlgov_runtime.org_scan.handler.handler", environment, f"{arn}:OrgScanCoordinator"
            ),
            f"{arn}:OrgScanWorker": InProcessFunction(
                "mlgov_runtime.org_scan.handler.scan", environment, f"{arn}:OrgScanWorker"
            ),
        }
        print("synthesizing the org scan's state machine ...", file=sys.stderr, flush=True)
        definition = synthesized_definition(
            {"OrgScanCoordinator": f"{arn}:OrgScanCoordinator", "OrgScanWorker": f"{arn}:OrgScanWorker"}
        )
        s3 = boto3.client("s3", endpoint_url=url, region_name=REGIONS[0])
        machine = Machine(definition, functions, s3)
        control(url, f"delay?ms={DELAY_MS}")
        control(url, "reset")
        print("running plan -> Distributed Map -> aggregate ...", file=sys.stderr, flush=True)
        cool_down()
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # EMF lines
            run = machine.start("bench-org-1")
        wall = time.perf_counter() - started
        counts = control(url, "counts")["counts"]
        control(url, "delay?ms=0")
        cool_down()
        if run.status != "SUCCEEDED":
            raise RuntimeError(f"the org scan failed: {run.error}: {run.cause}")
        report = json.loads(s3.get_object(Bucket=BUCKET, Key="org-scan/runs/bench-org-1/report.json")["Body"].read())
    [map_run] = run.map_runs
    return {
        "wall": wall,
        "map": map_run,
        "report": report,
        "counts": counts,
        "delay_ms": DELAY_MS,
        "plan": run.seconds["PlanScan"],
        "aggregate": run.seconds["Aggregate"],
        "publish": inspect.signature(aggregate).parameters["concurrency"].default,
    }


def section() -> str:
    for path in (str(ROOT), str(ROOT / "lambdas")):
        if path not in sys.path:
            sys.path.insert(0, path)
    import warnings

    warnings.filterwarnings("ignore", message="No application metrics to publish")
    from bench.aggregate_bench import section as aggregate_section
    from mlgov.emulator_map import waves_wall_seconds
    from mlgov.settings import Settings

    started = time.perf_counter()
    found = measure()
    o = Settings().org_scan
    map_run, report = found["map"], found["report"]
    spec = map_run.state
    targets = list(report["accounts"])
    per_target = [float(a["seconds"]) for a in targets]
    endpoints = sum(int(a["endpoints"]) for a in targets)
    busy = [c.busy_seconds for c in map_run.children]
    lambda_map = waves_wall_seconds(busy, spec.max_concurrency)
    # What a batch costs beyond its targets' own scans (assume-role, result signing and writing, index).
    overhead = max(0.0, (sum(busy) - sum(per_target)) / len(targets))
    sagemaker = {op: n for op, n in found["counts"].items() if op.startswith("sagemaker:")}
    per_endpoint = {op: n / endpoints for op, n in sagemaker.items()}
    busiest_op, busiest = max(per_endpoint.items(), key=lambda kv: kv[1])
    lines = [
        f"Org scan through the synthesized Distributed Map (mlgov.emulator_map, the real handlers), "
        f"{ACCOUNTS} accounts x {len(REGIONS)} regions x {ENDPOINTS} endpoints, {found['delay_ms']} ms per API call:",
        f"  {report['status_line']}, {endpoints:,} endpoints; run {found['wall']:.1f} s: plan {found['plan']:.1f} s "
        f"(cold start included), Map {map_run.wall_seconds:.1f} s, aggregate {found['aggregate']:.1f} s",
        f"  Map: {map_run.items} items in {len(map_run.children)} batch(es) of <= {spec.max_items_per_batch}, "
        f"MaxConcurrency {spec.max_concurrency}, {map_run.failed_items} failed; here the handlers take turns, so "
        f"its {map_run.wall_seconds:.1f} s is the batches' sum",
        f"  per account/region worker time ({ENDPOINTS} endpoints): median {statistics.median(per_target):.1f} s, "
        f"p95 {_p95(per_target):.1f} s (n={len(per_target)}); per batch: " + ", ".join(f"{b:.1f}" for b in busy) + " s",
        f"  the same Map in Lambda (one sandbox per batch, {spec.max_concurrency} at once): {lambda_map:.1f} s",
    ]
    # 50 x 2 x 200 on the deployed Map: batches of targets_per_batch in series, MaxConcurrency at once.
    org_targets = ORG_ACCOUNTS * ORG_REGIONS
    org_endpoints = org_targets * ORG_ENDPOINTS
    batch_count = -(-org_targets // o.targets_per_batch)
    waves = -(-batch_count // o.max_concurrency)
    target_s = _p95(per_target) * ORG_ENDPOINTS / ENDPOINTS + overhead
    rate_s = ORG_ENDPOINTS * busiest / ASSUMED_TPS_PER_OPERATION + overhead
    map_s = waves * o.targets_per_batch * target_s
    map_bound_s = waves * o.targets_per_batch * max(target_s, rate_s)
    # The aggregate stores and publishes every finding, `publish` at once: it grows with the findings (at
    # most org_scan.max_notifications_per_kind of a kind are published, the rest only marked: see the table).
    findings = int(report["summary"]["findings_open"])
    calls = sum(found["counts"].get(op, 0) for op in ("dynamodb:UpdateItem", "sns:Publish", "sns:PublishBatch"))
    per_finding = calls / max(1, findings)
    org_findings = findings * org_endpoints / endpoints
    aggregate_here = found["aggregate"] * org_findings / max(1, findings)
    aggregate_latency = org_findings * per_finding * found["delay_ms"] / 1000 / found["publish"]
    wall_latency = found["plan"] + map_bound_s + aggregate_latency
    wall_here = found["plan"] + map_bound_s + aggregate_here
    lines += [
        f"Org of {ORG_ACCOUNTS} accounts x {ORG_REGIONS} regions x {ORG_ENDPOINTS} endpoints ({org_targets} "
        f"account/regions, {org_endpoints:,} endpoints), deployed Map: MaxConcurrency {o.max_concurrency}, "
        f"{o.targets_per_batch} per batch:",
        f"  Map: {batch_count} batches -> {waves} wave(s) x {o.targets_per_batch} account/regions in series x "
        f"{target_s:.1f} s (p95 above + {overhead:.2f} s per target) = {map_s:.0f} s; under an API-rate bound "
        f"(the busiest SageMaker operation, {busiest_op}, {busiest:.2f} calls per endpoint at an assumed "
        f"{ASSUMED_TPS_PER_OPERATION:g}/s per account/region: SageMaker's quotas page lists no Describe/List rate) "
        f"{rate_s:.1f} s per account/region -> {map_bound_s:.0f} s",
        f"  aggregate: {findings:,} findings here ({findings / endpoints:.2f} per endpoint, a first run), "
        f"{per_finding:.2f} DynamoDB/SNS calls each, {found['publish']} at once: {org_findings:,.0f} findings "
        f"-> {aggregate_latency:.0f} s at {found['delay_ms']} ms per call; {aggregate_here:.0f} s at this "
        f"emulator's measured rate ({found['aggregate'] / max(1, findings) * 1000:.0f} ms per finding, CPU-bound)",
        f"  wall: plan {found['plan']:.0f} s + Map {map_bound_s:.0f} s + aggregate = {wall_latency / 60:.1f} min "
        f"at {found['delay_ms']} ms per call (goal < {GOAL_MINUTES:g} min: "
        f"{'met' if wall_latency < GOAL_MINUTES * 60 else 'MISSED'}); {wall_here / 60:.1f} min at this emulator's "
        f"rate{' (the aggregate alone past its 15-minute Lambda timeout)' if aggregate_here > 900 else ''}",
        f"(org bench total {time.perf_counter() - started:.0f} s)",
        "",
        aggregate_section(),
    ]
    return "\n".join(lines)


def main() -> int:
    print(section())
    return 0


if __name__ == "__main__":
    sys.exit(main())
