"""The org scan's aggregate publishing a first run's findings: calls per finding before (store_and_publish one
by one: the conditional UpdateItem, Publish, the published mark) and after (the same conditional write,
PublishBatch of 10, the mark; then with the per-kind limit that rolls the rest up into the summary),
against the bench's emulator (moto server, 20 ms added to every call), and what that implies for 40,000
findings within the aggregate's 15-minute Lambda timeout.

  BENCH_AGGREGATE_FINDINGS (2000): findings in the measured run.

Implied time = calls x 20 ms / 8 (every call is made 8 at a time). The marks stay one UpdateItem each:
TransactWriteItems (100 a call) would save most of them but conflicts with any concurrent write to its items.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FINDINGS = int(os.environ.get("BENCH_AGGREGATE_FINDINGS", "2000"))
ORG_FINDINGS = 40_000  # a first run over 50 accounts x 2 regions x 200 endpoints
CONCURRENCY = 8
LAMBDA_TIMEOUT_S = 900
KINDS = ("UNREGISTERED_ENDPOINT", "CATALOG_SNAPSHOT_STALE", "ENDPOINT_SINGLE_INSTANCE", "ENDPOINT_WITHOUT_AUTOSCALING")
SLACK_PER_SECOND = 1.0  # Slack's incoming webhooks: about one message per second per channel


def findings(run: str) -> list[Any]:
    from mlgov_runtime.core.findings import Finding

    account, region = "111122223333", "us-east-1"
    return [
        Finding(
            KINDS[i % len(KINDS)],
            "HIGH" if i % len(KINDS) == 0 else "MEDIUM",
            account,
            region,
            f"arn:aws:sagemaker:{region}:{account}:endpoint/{run}-{i:05d}",
            f"Endpoint {run}-{i:05d} serves a model without a registered, approved package",
            "Production variant AllTraffic serves model m, whose container has no ModelPackageName. " * 6,
            "scheduled",
            evidence={"verdict": "UNREGISTERED", "variant": "AllTraffic"},
        )
        for i in range(FINDINGS)
    ]


def _store(url: str, name: str) -> Any:
    import boto3

    from mlgov_runtime.adapters.findings_store import FindingsStore

    session = boto3.session.Session("bench", "bench", region_name="us-east-1")
    ddb, sns = session.client("dynamodb", endpoint_url=url), session.client("sns", endpoint_url=url)
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "finding_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "finding_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return FindingsStore(ddb, sns, name, sns.create_topic(Name=name)["TopicArn"])


def one_by_one(store: Any, found: list[Any]) -> int:
    """Before: store_and_publish each, 8 at a time. The messages that reach the notifier."""
    from concurrent.futures import ThreadPoolExecutor

    from mlgov_runtime.core.findings import store_and_publish

    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        return sum(pool.map(lambda f: store_and_publish(store, f), found))


def batched(limit: int | None) -> Callable[[Any, list[Any]], int]:
    def run(store: Any, found: list[Any]) -> int:
        from mlgov_runtime.org_scan.report import mark_rolled_up, publish_due, split_by_kind, store_all

        due, _ = store_all(store, found, CONCURRENCY)
        single, rolled = split_by_kind(due, limit)
        sent, _ = publish_due(store, single, CONCURRENCY)
        mark_rolled_up(store, rolled, "bench-run")
        return len(sent) + (1 if rolled else 0)  # the summary carries the rolled-up ones

    return run


def measure() -> list[dict[str, Any]]:
    from bench.scan_bench import DELAY_MS, bench_server, control
    from mlgov.settings import Settings

    limit = Settings().org_scan.max_notifications_per_kind
    paths = [
        ("before: store_and_publish one by one", one_by_one),
        ("after: conditional write + PublishBatch + marks", batched(None)),
        (f"after, max_notifications_per_kind {limit}: the rest rolled up", batched(limit)),
    ]
    rows = []
    with bench_server() as url:
        for i, (name, path) in enumerate(paths):
            store = _store(url, f"bench-findings-{i}")
            found = findings(f"ep{i}")
            control(url, f"delay?ms={DELAY_MS}")
            control(url, "reset")
            started = time.perf_counter()
            messages = path(store, found)
            seconds = time.perf_counter() - started
            counts = control(url, "counts")["counts"]
            control(url, "delay?ms=0")
            rows.append({"name": name, "seconds": seconds, "counts": counts, "messages": messages})
    return rows


def section() -> str:
    for path in (str(ROOT), str(ROOT / "lambdas")):
        if path not in sys.path:
            sys.path.insert(0, path)
    from bench.scan_bench import DELAY_MS

    rows = measure()
    scale = ORG_FINDINGS / FINDINGS
    lines = [
        f"Org-scan aggregate publishing a first run: {FINDINGS:,} findings of {len(KINDS)} kinds measured, "
        f"{DELAY_MS} ms per call, {CONCURRENCY} at once; implied for {ORG_FINDINGS:,} findings (the 15-minute "
        "Lambda timeout less its 135 s reserve leaves 765 s to publish):",
        "",
        f"| path | calls/finding | measured ({FINDINGS:,}) | implied ({ORG_FINDINGS:,}) | ratio | "
        "messages to the notifier | Slack at 1/s |",
        "|---|---|---|---|---|---|---|",
    ]
    baseline = None
    for row in rows:
        counts = row["counts"]
        calls = sum(counts.values())
        implied = calls / CONCURRENCY * scale * DELAY_MS / 1000
        baseline = baseline or implied
        messages = row["messages"] if row["messages"] < FINDINGS else round(row["messages"] * scale)
        lines.append(
            f"| {row['name']} | {calls / FINDINGS:.2f} | {row['seconds']:.1f} s | {implied:.0f} s | "
            f"{implied / baseline:.2f}x | {messages:,} | {messages / SLACK_PER_SECOND / 60:,.0f} min |"
        )
    lines.append("")
    for row in rows:
        per_api = ", ".join(f"{op} {n / FINDINGS:.3f}" for op, n in sorted(row["counts"].items()))
        lines.append(f"  {row['name']}: {per_api}")
    return "\n".join(lines)


if __name__ == "__main__":  # alone; `make bench` prints it in the org bench's section
    print(section())
