"""The generated reference pages (docs/reference/: settings, CLI, findings) match the code: a change to a setting, a
command or a finding kind without `python docs/gen.py` fails here, naming the stale page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_reference_pages_are_current() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "gen.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr or run.stdout


def test_the_findings_reference_lists_every_registered_kind() -> None:
    from mlgov_runtime.registry import CAPABILITIES

    page = (ROOT / "docs" / "reference" / "findings.md").read_text(encoding="utf-8")
    missing = [k for c in CAPABILITIES for k in c.kinds if f"| `{k}` |" not in page]
    assert not missing, missing
