"""`mlgov guardrails explain` as a user runs it: the installed entry point, from a directory outside the
checkout, with no PYTHONPATH (issue 21, item 1: it used to import the uninstalled stacks/ folder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ENTRY_POINT = Path(sys.executable).with_name("mlgov")
CHECKOUT = Path(__file__).resolve().parents[2]


def run_installed(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH", "PYTHONHOME")}
    return subprocess.run(
        [str(ENTRY_POINT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_installed_cli_explains_a_guardrail_from_outside_the_checkout(tmp_path: Path) -> None:
    assert ENTRY_POINT.exists(), f"no installed entry point next to {sys.executable}"
    assert CHECKOUT not in tmp_path.parents
    (tmp_path / "cdk.json").write_text(json.dumps({"app": "python3 app.py", "context": {"mlgov": {}}}))
    result = run_installed(
        tmp_path,
        "guardrails",
        "explain",
        "--action",
        "sagemaker:CreateEndpoint",
        "--principal",
        "arn:aws:iam::210987654321:role/DataScientist",
        "--format",
        "json",
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 3, result.stderr
    report = json.loads(result.stdout)
    assert report["decision"] == "Deny"
    assert report["statement"] == "DenyEndpointWithoutPackageTag"


def test_the_installed_package_carries_the_policy_builder_and_not_the_cdk_app(tmp_path: Path) -> None:
    code = "import mlgov.guardrails, importlib.util; print(importlib.util.find_spec('stacks') is None)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
