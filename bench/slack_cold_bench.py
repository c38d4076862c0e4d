"""The Slack function's cold start, the part Slack's 3 s must also cover: importing its handler module and making
the two clients it calls before answering (Secrets Manager, Lambda), each in a fresh interpreter, with bytecode
(as the deployed asset ships it). Lambda gives a function CPU in proportion to its memory, one vCPU at 1,769 MB;
the estimates scale the measured CPU time by that share (a model: this machine's core stands for Lambda's vCPU,
and the runtime's own start, before the module is imported, is not included).
Alone: `.venv/bin/python bench/slack_cold_bench.py` (`BENCH_SLACK_RUNS`, default 9).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import HANDLER_ENV  # noqa: E402

# One full vCPU at this memory (docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
FULL_VCPU_MB = 1769
MEMORIES = (512, 1024, FULL_VCPU_MB)
# What the Slack function may spend before answering, at worst (its bounded calls and the failure notice):
# handler.ACK_*; the rest of Slack's 3 s is for the cold start.
BEFORE_ANSWER_SECONDS = 2.0

PROBE = """
import json, time
t0 = time.perf_counter()
import botocore.session
t1 = time.perf_counter()
import mlgov_runtime.approvals.handler as h
t2 = time.perf_counter()
h._quick_client("secretsmanager")
h._quick_client("lambda")
t3 = time.perf_counter()
print(json.dumps({"botocore": t1 - t0, "handler": t2 - t0, "clients": t3 - t2, "total": t3 - t0}))
"""


def samples(runs: int) -> dict[str, list[float]]:
    env = {**os.environ, **HANDLER_ENV, "PYTHONPATH": str(ROOT / "lambdas")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-c", PROBE], env=env, check=True, capture_output=True, cwd=ROOT / "lambdas")
    got: dict[str, list[float]] = {}
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE], env=env, check=True, capture_output=True, text=True, cwd=ROOT / "lambdas"
        ).stdout
        for key, value in json.loads(out.strip().splitlines()[-1]).items():
            got.setdefault(key, []).append(value * 1000)
    return got


def section(runs: int) -> str:
    got = samples(runs)
    median = {key: statistics.median(values) for key, values in got.items()}
    lines = [
        f"Slack function cold start (before its first AWS call), median of {runs} fresh interpreters:",
        "| part | here (ms) | min | max |",
        "|---|---|---|---|",
    ]
    names = {
        "botocore": "import botocore.session (its floor)",
        "handler": "import mlgov_runtime.approvals.handler (botocore included)",
        "clients": "create the Secrets Manager and Lambda clients",
        "total": "import + clients",
    }
    for key, name in names.items():
        lines.append(f"| {name} | {median[key]:.0f} | {min(got[key]):.0f} | {max(got[key]):.0f} |")
    room = (3.0 - BEFORE_ANSWER_SECONDS) * 1000
    lines.append(f"Estimated at Lambda's CPU share (scaled by {FULL_VCPU_MB} MB / memory); room left by Slack's 3 s")
    lines.append(f"after the worst case of the calls before the answer: {room:.0f} ms")
    lines.append("| memory | vCPU share | import + clients, estimated (ms) | fits the room |")
    lines.append("|---|---|---|---|")
    for memory in MEMORIES:
        share = min(1.0, memory / FULL_VCPU_MB)
        estimate = median["total"] / share
        lines.append(f"| {memory} MB | {share:.2f} | {estimate:.0f} | {'yes' if estimate < room else 'NO'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(section(int(os.environ.get("BENCH_SLACK_RUNS", "9"))))
