"""`make demo` as a user runs it (the checkout's sandbox): a fresh process, every capability's scene to the end."""

from __future__ import annotations

import os
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
    # Issue 27: a coverage gap between the thresholds carries the command that starts retraining.
    assert "-> alert: retraining not started" in run.stdout
    assert "aws stepfunctions start-execution --state-machine-arn" in run.stdout
    assert len(CAPABILITIES) >= 8
