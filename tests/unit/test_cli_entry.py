"""The ways a user starts the CLI: `mlgov --version` names what is installed (what a bug report needs), and
`python -m mlgov` runs the same CLI as the `mlgov` entry point, from any directory."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from mlgov.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_version_names_the_installed_distribution_and_exits_0() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--version"]) == 0
    assert out.getvalue().strip() == f"mlgov {version('mlgov')}"


def test_python_dash_m_mlgov_runs_the_cli_from_outside_the_checkout(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "lambdas")])}
    done = subprocess.run(
        [sys.executable, "-m", "mlgov", "audt"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    # The same parser as the entry point: a usage error is one line on stderr and exit 2.
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("mlgov: error: mlgov: argument command: invalid choice: 'audt'"), done.stderr
    assert done.stdout == ""
