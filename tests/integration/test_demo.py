"""`make demo` as a user runs it (the checkout's sandbox): a fresh process, every capability's scene to the end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from mlgov_runtime.registry import CAPABILITIES

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_plays_every_scene_and_agrees_with_the_estate() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "lambdas")])}
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name, None)
    # A fresh process: nothing the test session patched (mock_aws, emulator extensions) is there.
    run = subprocess.run(
        [sys.executable, "-m", "mlgov.sandbox"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    scenes = [line for line in run.stdout.splitlines() if line.startswith("== ")]
    for heading in (
        "== real-time audit",
        "== endpoint retirement",
        "== org-wide scan",
        "== mlgov audit --format table",
        "== guardrails",
        "== emulator stopped",
    ):
        assert any(line.startswith(heading) for line in scenes), (heading, scenes)
    # The retirement scene reaches both approved deletions (issue 23's approvals, issue 27's gates).
    assert "approved by arn:aws:sts::123456789012:assumed-role/MLOpsApprover/bob (via cli)" in run.stdout
    assert "Retired: SUCCEEDED" in run.stdout
    # Issue 20: a proof an approver made for another approval service decides nothing here.
    assert "a proof bob made for another approval service" in run.stdout
    assert re.search(r"replayed here -> HTTP 403: caller not verified: .*SignatureDoesNotMatch", run.stdout)
    # A Slack press end to end: acknowledged at once, decided by the press worker, the deletion names the channel.
    assert (
        "deleted after approval by arn:aws:sts::123456789012:assumed-role/MLOpsApprover/bob (via slack)" in run.stdout
    )
    # Issue 27: a coverage gap between the thresholds carries the command that starts retraining.
    assert "-> alert: retraining not started" in run.stdout
    assert "aws stepfunctions start-execution --state-machine-arn" in run.stdout
    # Issue 27: with no previous version the fallback's share steps up through AppConfig, each step delivered and
    # read back; a step AppConfig rolls back (its monitor alarm fired) stops the shift with exit 5.
    fallback = run.stdout[run.stdout.index("-- gradual fallback") :]
    assert "--fallback-percent 10,50 --step-minutes 0" in fallback
    assert "10% to the fallback: delivered" in fallback and "50% to the fallback: delivered" in fallback
    assert "fallback_percent 0 -> 50 (shifted)" in fallback
    assert '"fallback_percent": 50}' in fallback.split("--fallback-percent 75,100")[0]
    stopped = fallback[fallback.index("--fallback-percent 75,100") :]
    assert "75% to the fallback: failed: deployment 4 of fallback_percent=75 was ROLLED_BACK" in stopped
    assert "the shift stopped: clients read fallback_percent=50" in stopped and "exit code 5" in stopped
    assert "Rollback initiated by CloudWatch alarm" in stopped
    # Issue 27: a challenger whose recommendations collapse onto fewer titles is rejected by the diversity guardrail.
    assert "(diversity collapse)" in run.stdout
    assert re.search(r"finding CHALLENGER_REJECTED \(HIGH\): .* guardrail recommendation_diversity", run.stdout)
    # Counts from the product's table: the CloudWatch namespace's forged 10 % CTR is not read, the table's 30 % drop
    # is rejected
    table = run.stdout.split("challenger.metrics.source table")[1].split("\n-- ")[0]
    assert "not read" in table and re.search(r"REJECT +challenger +[45]\.\d+%", table), table
    assert re.search(r"registry: v\d+ Rejected", table), table
    # Commands the demo shows carry its real values, never a <placeholder> to fill in.
    shown = [line.strip() for line in run.stdout.splitlines() if line.strip().startswith(("$ mlgov", "== mlgov"))]
    assert shown and not [line for line in shown if re.search(r"<[A-Za-z][A-Za-z _-]*>", line)], shown
    assert re.search(r"== mlgov scan --accounts \d{12},999999999999 --region us-east-1 ", run.stdout)
    queues = r"http://127\.0\.0\.1:\d+/\d{12}/mlgov-notifier"
    assert re.search(
        rf"\$ mlgov notify redrive --region us-east-1 --dlq-url {queues}-dlq --queue-url {queues} ", run.stdout
    )
    # An Approved version with a tag-only image, and one with uncompressed model data: each verdict with its fix.
    for name, verdict, fix in (
        ("manga-recommender-tagonly", "UNPINNED_IMAGE", "put-image-tag-mutability --image-tag-mutability IMMUTABLE"),
        ("manga-recommender-uncompressed", "UNPINNED_MODEL_DATA", "package the model as one model.tar.gz"),
    ):
        assert re.search(rf"^   {name} +{verdict} ", run.stdout, re.MULTILINE), name
        one = run.stdout.split(f"== mlgov audit --endpoint {name} --format table")[1].split("\n== ")[0]
        assert re.search(rf"^   {name} +{verdict} ", one, re.MULTILINE) and fix in one, one
        assert f"Next: `mlgov audit --endpoint {name} --region us-east-1 --format json`" in one, one
        assert "exit code 3" in one, one
    assert len(CAPABILITIES) >= 8
