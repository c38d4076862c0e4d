"""`mlgov scan` from the operator's machine: the account/regions scanned here (the weekly scan runs them on its
state machine's Distributed Map), the run's id and the exit code."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from mlgov_runtime.org_scan.logic import Target, TargetResult


def scan_targets(
    targets: Iterable[Target], scan_one: Callable[[Target], TargetResult], concurrency: int = 1
) -> list[TargetResult]:
    """Several account/regions, `concurrency` at a time, results in target order."""
    targets = list(targets)
    if concurrency <= 1 or len(targets) <= 1:
        return [scan_one(t) for t in targets]
    with ThreadPoolExecutor(max_workers=min(concurrency, len(targets)), thread_name_prefix="scan-target") as pool:
        return list(pool.map(scan_one, targets))


def has_problems(report: Mapping[str, Any]) -> bool:
    """Exit 3 for `mlgov scan`: a violation, an endpoint or account/region that could not be verified,
    or any open finding."""
    s = report["summary"]
    return bool(s["violations"] or s["errors"] or s["account_regions_unreachable"] or s["findings_open"])


def scan_run_id(now: datetime) -> str:
    return now.strftime("scan-%Y%m%dT%H%M%SZ")
