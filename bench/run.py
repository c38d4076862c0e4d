"""`make bench`: speed targets measured here, never in unit tests (shared machines are noisy).

- full `cdk synth` of the app (python app.py, cdk-nag included)
- cold import of the audit handler module next to a bare `import boto3`, in fresh interpreters
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

HANDLER_ENV = {
    "FINDINGS_TABLE_NAME": "mlgov-findings",
    "FINDINGS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:mlgov-findings",
    "IDEMPOTENCY_TABLE_NAME": "mlgov-idempotency",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    # As in Lambda: Tracer is active, so the X-Ray SDK import is part of the cost.
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "PYTHONDONTWRITEBYTECODE": "",
}

TIMED_IMPORT = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def timed_import(module: str, runs: int, extra_env: dict[str, str]) -> list[float]:
    env = {**os.environ, **extra_env, "PYTHONPATH": str(ROOT / "lambdas")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # One warm-up run writes .pyc files, as a deployed asset's first import would have them compiled.
    subprocess.run([PY, "-c", f"import {module}"], env=env, check=True, cwd=ROOT / "lambdas")
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [PY, "-c", TIMED_IMPORT.format(module=module)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT / "lambdas",
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return samples


def timed_synth(runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as outdir:
            env = {**os.environ, "CDK_OUTDIR": outdir}
            start = time.perf_counter()
            subprocess.run([PY, "app.py"], env=env, check=True, cwd=ROOT, capture_output=True)
            samples.append(time.perf_counter() - start)
    return samples


def row(name: str, samples: list[float], baseline: float | None = None) -> str:
    med = statistics.median(samples)
    ratio = f"{med / baseline:6.2f}x" if baseline else "   1.00x"
    return f"| {name:<44} | {med * 1000:9.1f} | {min(samples) * 1000:9.1f} | {max(samples) * 1000:9.1f} | {ratio} |"


def main() -> int:
    import_runs = int(os.environ.get("BENCH_IMPORT_RUNS", "7"))
    synth_runs = int(os.environ.get("BENCH_SYNTH_RUNS", "3"))
    print(
        f"Python {sys.version.split()[0]} on {os.cpu_count()} CPUs; medians of {import_runs} imports, "
        f"{synth_runs} synths",
        flush=True,
    )
    print("measuring cold imports ...", file=sys.stderr, flush=True)
    boto3_samples = timed_import("boto3", import_runs, HANDLER_ENV)
    handler_samples = timed_import("handlers.endpoint_audit", import_runs, HANDLER_ENV)
    print("measuring full synth ...", file=sys.stderr, flush=True)
    synth_samples = timed_synth(synth_runs)
    baseline = statistics.median(boto3_samples)
    header = f"| {'measurement':<44} | {'median ms':>9} | {'min ms':>9} | {'max ms':>9} | {'ratio':>7} |"
    print(header)
    print("|" + "-" * 46 + "|" + "-" * 11 + "|" + "-" * 11 + "|" + "-" * 11 + "|" + "-" * 9 + "|")
    print(row("cold import: bare `import boto3` (baseline)", boto3_samples))
    print(row("cold import: handlers.endpoint_audit", handler_samples, baseline))
    print(row("full synth: python app.py (with cdk-nag)", synth_samples, baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
