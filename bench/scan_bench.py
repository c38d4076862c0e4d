"""`mlgov audit` and the org scan's worker on one account of 500, then 2,000 endpoints (BENCH_SCAN_SIZES) next to
Cloud Custodian 0.9.53's plain `sagemaker-endpoint` inventory of the same estate, on the same moto server (with
mlgov's emulator extensions), with 20 ms added to every API call: ratios in one run, and the API calls each made
per endpoint, per API, as the server counted them.

  python bench/scan_bench.py serve PORT                  the emulator behind a delay-and-count middleware
  python bench/scan_bench.py ours URL audit|lineage|all  one scan of the account; prints JSON

The middleware's control paths: POST /_bench/delay?ms=N, POST /_bench/reset, GET /_bench/counts.
Custodian runs from its own venv (.bench/c7n-venv, created here: pip install c7n==0.9.53).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
C7N_VENV = ROOT / ".bench" / "c7n-venv"
C7N_VERSION = "0.9.53"
ACCOUNT = "123456789012"
REGION = "us-east-1"
ENDPOINTS = int(os.environ.get("BENCH_SCAN_ENDPOINTS", "2000"))
PACKAGES = 20
_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class DelayAndCount:
    """WSGI middleware: sleep `delay` seconds before every AWS call (as a network round trip would,
    the GIL released) and count calls per service:operation."""

    def __init__(self, app: WsgiApp) -> None:
        self.app, self.delay = app, 0.0
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def _operation(self, environ: dict[str, Any]) -> str:
        service = _SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
        name = service.group(1) if service else "?"
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return f"{name}:{target.rsplit('.', 1)[-1]}"
        if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            action = urllib.parse.parse_qs(body.decode()).get("Action", ["?"])[0]
            return f"{name}:{action}"
        return f"{name}:{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_bench/"):
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            with self.lock:
                if path == "/_bench/delay":
                    self.delay = float(query["ms"][0]) / 1000
                elif path == "/_bench/reset":
                    self.counts.clear()
                body = json.dumps({"delay_ms": self.delay * 1000, "counts": dict(self.counts)}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if not path.startswith("/moto-api"):
            with self.lock:
                self.counts[self._operation(environ)] += 1
            if self.delay:
                time.sleep(self.delay)
        return self.app(environ, start_response)


def serve(port: int) -> None:
    from werkzeug.serving import run_simple

    from mlgov import emulator

    emulator.install()
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

    app = DelayAndCount(DomainDispatcherApplication(create_backend_app))
    run_simple("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)


@contextlib.contextmanager
def bench_server() -> Iterator[str]:
    from mlgov.sandbox import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "serve", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'lambdas'}:{ROOT}"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("bench server did not start")
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def control(url: str, path: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{url}/_bench/{path}", method="POST" if "counts" not in path else "GET")
    with urllib.request.urlopen(request, timeout=10) as answer:
        data: dict[str, Any] = json.loads(answer.read())
        return data


def seed(
    url: str,
    endpoints: int = ENDPOINTS,
    start: int = 0,
    packages: list[str] | None = None,
    *,
    sm: Any = None,
    account: str = ACCOUNT,
    region: str = REGION,
) -> list[str]:
    """Endpoints `start`..`endpoints`-1, each with its own config and model, the models on 20 Approved
    packages (created on the first call; pass them back to grow the estate). `sm`: another account's or
    region's SageMaker client (default: the bench account's, in us-east-1)."""
    import boto3

    from mlgov.estate import GROUP, approved_package

    sm = sm or boto3.client(
        "sagemaker", endpoint_url=url, region_name=REGION, aws_access_key_id="bench", aws_secret_access_key="bench"
    )
    if packages is None:
        sm.create_model_package_group(ModelPackageGroupName=GROUP)
    packages = packages or [
        approved_package(sm, region, {"catalog_snapshot_date": "2026-11-02"}) for _ in range(PACKAGES)
    ]

    def one(i: int) -> None:
        package = packages[i % PACKAGES]
        name = f"rec-{i:04d}"
        sm.create_model(
            ModelName=name,
            ExecutionRoleArn=f"arn:aws:iam::{account}:role/SageMakerExecution",
            PrimaryContainer={"ModelPackageName": package},
        )
        sm.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": name,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.g4dn.xlarge",
                }
            ],
        )
        sm.create_endpoint(
            EndpointName=name, EndpointConfigName=name, Tags=[{"Key": "ModelPackageName", "Value": package}]
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(start, endpoints)))
    return packages


def ours(url: str, mode: str) -> dict[str, Any]:
    """One scan of the account as the worker runs it (the clock starts after the imports)."""
    from datetime import UTC, datetime

    from mlgov.settings import Settings, check_options
    from mlgov_runtime.adapters.member_accounts import MemberAccounts
    from mlgov_runtime.lineage_audit import endpoint_check
    from mlgov_runtime.org_scan.logic import Target, scan_target
    from mlgov_runtime.registry import endpoint_checks

    settings = Settings()
    concurrency = settings.org_scan.endpoint_concurrency
    if mode == "audit":
        return _audit_cli(url, concurrency)
    checks: list[Any] = [endpoint_check] if mode == "lineage" else endpoint_checks()
    started = time.perf_counter()
    connector = MemberAccounts(own_account=ACCOUNT, role_name="unused", endpoint_url=url, pool=concurrency + 2)
    home = connector.connect(Target(ACCOUNT, REGION))
    result = scan_target(
        Target(ACCOUNT, REGION),
        connector,
        checks,
        options=check_options(settings),
        source="cli",
        now=datetime.now(UTC),
        concurrency=concurrency,
        home_clients=home.client,
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "endpoints": len(result.endpoints),
        "verdicts": dict(Counter(r["verdict"] for r in result.endpoints)),
        "concurrency": concurrency,
    }


def _audit_cli(url: str, concurrency: int) -> dict[str, Any]:
    """`mlgov audit --format json` as a user runs it, in this process (the clock starts after the imports)."""
    from mlgov.cli import main as mlgov

    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        mlgov(["audit", "--endpoint-url", url, "--region", REGION, "--format", "json"])
    seconds = time.perf_counter() - started
    report = json.loads(out.getvalue())
    return {
        "seconds": seconds,
        "endpoints": len(report["endpoints"]),
        "verdicts": dict(Counter(r["verdict"] for r in report["endpoints"])),
        "concurrency": concurrency,
    }


C7N_POLICY = "policies:\n  - name: sagemaker-endpoints\n    resource: aws.sagemaker-endpoint\n"


def ensure_c7n() -> tuple[Path | None, str]:
    """Custodian's own venv, created on first use; (custodian path, note)."""
    custodian = C7N_VENV / "bin" / "custodian"
    if custodian.exists():
        return custodian, ""
    print(f"installing c7n=={C7N_VERSION} into {C7N_VENV} ...", file=sys.stderr, flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(C7N_VENV)], check=True, capture_output=True)
        subprocess.run(
            [str(C7N_VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", f"c7n=={C7N_VERSION}"],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] if isinstance(exc.stderr, str) else []
        return None, f"c7n=={C7N_VERSION} could not be installed ({' '.join(tail) or exc}); Custodian rows skipped"
    return custodian, ""


def c7n(custodian: Path, url: str) -> dict[str, Any]:
    """One `custodian run` of the plain inventory; its own execution duration (start-up excluded)."""
    with tempfile.TemporaryDirectory() as out:
        policy = Path(out) / "policy.yml"
        policy.write_text(C7N_POLICY)
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": REGION,
        }
        env.pop("PYTHONPATH", None)
        subprocess.run(
            [str(custodian), "run", "-s", out, "--region", REGION, "--cache-period", "0", str(policy)],
            check=True,
            capture_output=True,
            env=env,
        )
        metadata = json.loads((Path(out) / "sagemaker-endpoints" / "metadata.json").read_text())
        resources = json.loads((Path(out) / "sagemaker-endpoints" / "resources.json").read_text())
        return {"seconds": float(metadata["execution"]["duration"]), "endpoints": len(resources)}


def _ours_process(url: str, mode: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'lambdas'}:{ROOT}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "ours", url, mode],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def _per_endpoint(counts: dict[str, int], endpoints: int) -> str:
    return ", ".join(f"{op} {n / endpoints:.2f}" for op, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


SIZES = tuple(int(n) for n in os.environ.get("BENCH_SCAN_SIZES", "500,2000").split(","))
DELAY_MS = 20
LABELS = {
    "custodian": f"Custodian {C7N_VERSION} sagemaker-endpoint inventory",
    "audit": "`mlgov audit` (lineage audit, the CLI)",
    "lineage": "`mlgov scan` worker, lineage check only",
    "all": "`mlgov scan` worker, every registered check",
}


def measure(runs: int) -> tuple[list[str], list[str], dict[int, float]]:
    """Table rows, notes (calls per endpoint per API) and the every-check worker's median seconds per size."""
    sys.path.insert(0, str(ROOT))
    custodian, note = ensure_c7n()
    rows: list[str] = []
    notes: list[str] = []
    worker: dict[int, float] = {}
    with bench_server() as url:
        packages: list[str] | None = None
        seeded = 0
        for size in SIZES:
            print(f"seeding {size:,} endpoints ...", file=sys.stderr, flush=True)
            packages = seed(url, size, seeded, packages)
            seeded = size
            control(url, f"delay?ms={DELAY_MS}")
            tools: list[tuple[str, Callable[[], dict[str, Any]]]] = [
                ("audit", lambda: _ours_process(url, "audit")),
                ("all", lambda: _ours_process(url, "all")),
            ]
            if custodian:
                tools.insert(0, ("custodian", lambda found=custodian: c7n(found, url)))  # type: ignore[misc]
            medians: dict[str, list[float]] = {}
            for name, run in tools:
                print(f"measuring {name}, {size:,} endpoints, {DELAY_MS} ms per call ...", file=sys.stderr, flush=True)
                samples = []
                for _ in range(runs):
                    control(url, "reset")
                    answer = run()
                    assert answer["endpoints"] == size, (name, answer)
                    samples.append(answer["seconds"])
                counts = control(url, "counts")["counts"]
                control(url, "delay?ms=0")
                medians[name] = samples
                total = sum(counts.values()) / size
                notes.append(f"  {size:,} endpoints, {name}: {total:.2f} in all; {_per_endpoint(counts, size)}")
                control(url, f"delay?ms={DELAY_MS}")
            control(url, "delay?ms=0")
            base = medians.get("custodian")
            for name, timed in medians.items():
                med = statistics.median(timed)
                ratio = f"{med / statistics.median(base):.2f}x" if base else "-"
                label = f"{LABELS[name]}, {size:,} endpoints"
                rows.append(f"| {label:<62} | {med:9.2f} | {min(timed):8.2f} | {max(timed):8.2f} | {ratio:>7} |")
            worker[size] = statistics.median(medians["all"])
    if note:
        notes.append(note)
    return rows, notes, worker


HEADER = (
    f"| {f'one account, {DELAY_MS} ms per API call':<62} | {'median s':>9} | {'min s':>8} | {'max s':>8} "
    f"| {'ratio':>7} |"
)
RULE = "|" + "-" * 64 + "|" + "-" * 11 + "|" + "-" * 10 + "|" + "-" * 10 + "|" + "-" * 9 + "|"

# SageMaker publishes no per-operation rate for Describe*/ListTags (its quotas page lists resource counts,
# not API rates); this is the assumed sustained rate per operation per account and region.
ASSUMED_DESCRIBE_TPS = 10.0


def org_estimate(worker: dict[int, float]) -> list[str]:
    """50 accounts x 2 regions x 200 endpoints on the deployed Distributed Map, from the measured worker."""
    from mlgov.settings import Settings

    o = Settings().org_scan
    accounts, regions, per_target = 50, 2, 200
    size = min(worker, key=lambda n: abs(n - 200))  # the measured size nearest an account/region's
    per_endpoint = worker[size] / size
    target_s = per_endpoint * per_target
    # Each member account/region has its own API rate: the busiest per-endpoint API (1 call each) bounds it.
    throttled_s = max(target_s, per_target / ASSUMED_DESCRIBE_TPS)
    targets = accounts * regions
    batches = -(-targets // o.targets_per_batch)
    waves = -(-batches // o.max_concurrency)
    wall = waves * o.targets_per_batch * throttled_s
    return [
        f"Org of {accounts} accounts x {regions} regions x {per_target} endpoints ({targets} account/regions), "
        f"from the measured worker ({worker[size]:.2f} s for {size:,} endpoints, {per_endpoint * 1000:.1f} ms each):",
        f"  one account/region of {per_target}: {target_s:.1f} s measured-rate, {throttled_s:.1f} s at an assumed "
        f"{ASSUMED_DESCRIBE_TPS:g} calls/s per Describe API per account/region (SageMaker documents no such rate)",
        f"  Map: {batches} batches of {o.targets_per_batch} targets, MaxConcurrency {o.max_concurrency} -> {waves} "
        f"wave(s) x {o.targets_per_batch} targets in series -> wall time ~{wall / 60:.1f} min (goal < 10 min)",
    ]


def section(runs: int) -> str:
    started = time.perf_counter()
    rows, notes, worker = measure(runs)
    lines = [HEADER, RULE, *rows, "", "API calls per endpoint per API, counted by the server:", *notes, ""]
    lines += org_estimate(worker)
    lines.append(f"(scan bench total {time.perf_counter() - started:.0f} s)")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        serve(int(argv[1]))
        return 0
    if argv[:1] == ["ours"]:
        print(json.dumps(ours(argv[1], argv[2])))
        return 0
    print(section(int(os.environ.get("BENCH_SCAN_RUNS", "1"))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
