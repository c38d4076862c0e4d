"""Cold import of each handler as Lambda runs it: a read-only asset, with and without shipped bytecode.

Lambda cannot write __pycache__ into its read-only /var/task, so an asset without bytecode compiles
every imported module on every cold start. This compares a source-only copy of lambdas/ with the asset
synth builds (stacks.building_blocks.stage_with_bytecode: unchecked-hash .pyc), each import in a fresh
interpreter with PYTHONDONTWRITEBYTECODE=1, timed by `-X importtime` (the mlgov_runtime modules' own
cumulative time; boto3 and Powertools come precompiled with the runtime and its layer, as here).
Alone: `.venv/bin/python bench/bytecode_bench.py` (`BENCH_BYTECODE_RUNS`, default 9).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import HANDLER_ENV  # noqa: E402
from stacks.building_blocks import runtime_python_matches, stage_with_bytecode  # noqa: E402

CAPABILITIES = ("lineage_audit", "capacity", "challenger", "retirement", "org_scan", "notifier")
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)")


def import_ms(asset: Path, module: str) -> tuple[float, float]:
    """(the whole import, the mlgov_runtime modules' own time: where compiling from source lands)."""
    env = {**os.environ, **HANDLER_ENV, "PYTHONPATH": str(asset), "PYTHONDONTWRITEBYTECODE": "1"}
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        cwd=asset,
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    entries = [m for m in map(LINE.match, err.splitlines()) if m and m.group(4).startswith("mlgov_runtime")]
    # Cumulative time of the top-level entries: the package, its subpackage, the handler and all under them.
    total = sum(int(m.group(2)) for m in entries if len(m.group(3)) == 1)
    own = sum(int(m.group(1)) for m in entries)
    if not total:
        raise RuntimeError(f"no importtime entry for {module}:\n{err}")
    return total / 1000, own / 1000


def section(runs: int) -> str:
    if not runtime_python_matches():
        return "bytecode bench skipped: this Python is not the Lambda runtime's (stacks/constants.py)"
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source"
        shutil.copytree(ROOT / "lambdas", source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        compiled = stage_with_bytecode(ROOT / "lambdas", Path(tmp) / "compiled")
        samples: dict[str, tuple[list[tuple[float, float]], ...]] = {name: ([], []) for name in CAPABILITIES}
        for _ in range(runs):  # interleaved: load on a shared machine hits both sides alike
            for name in CAPABILITIES:
                module = f"mlgov_runtime.{name}.handler"
                samples[name][0].append(import_ms(source, module))
                samples[name][1].append(import_ms(compiled, module))
        if any(source.rglob("*.pyc")):
            raise RuntimeError("the source-only copy gained bytecode; the comparison is void")
    lines = [
        f"Cold import of mlgov_runtime per handler, median of {runs} fresh interpreters, read-only asset:",
        "whole import (boto3 and Powertools included) and mlgov_runtime modules' own time (compiling lands there)",
        "| handler | whole: source only | whole: with bytecode | saved | own: source only | own: with bytecode |",
        "|---|---|---|---|---|---|",
    ]
    for name, (plain, with_pyc) in samples.items():
        a, b = (statistics.median(s[0] for s in side) for side in (plain, with_pyc))
        oa, ob = (statistics.median(s[1] for s in side) for side in (plain, with_pyc))
        lines.append(
            f"| {name} | {a:.0f} ms | {b:.0f} ms | {a - b:.0f} ms ({(a - b) / a:.0%}) | {oa:.0f} ms | {ob:.0f} ms |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(section(int(os.environ.get("BENCH_BYTECODE_RUNS", "9"))))
