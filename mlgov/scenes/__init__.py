"""One sandbox scene per capability that has one (mlgov/scenes/<name>.py), played by `make demo` in
registry order. A scene gets the stage: the emulator, the seeded estate and what earlier scenes found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stage:
    session: Any
    url: str
    sm: Any
    ddb: Any
    sqs: Any
    estate: Any
    resources: dict[str, str]
    findings: list[dict[str, Any]] = field(default_factory=list)  # published by the lineage audit scene
    mismatches: int = 0  # verdicts that differ from what the estate expects


def defaults_config() -> str:
    """A cdk.json with no `mlgov` settings, for scenes that run on the defaults (an absent --config is an error)."""
    import json
    import tempfile
    from pathlib import Path

    global _DEFAULTS_CONFIG
    if _DEFAULTS_CONFIG is None or not Path(_DEFAULTS_CONFIG).exists():
        path = Path(tempfile.mkdtemp(prefix="mlgov-demo-")) / "cdk.json"
        path.write_text(json.dumps({"context": {}}))
        _DEFAULTS_CONFIG = str(path)
    return _DEFAULTS_CONFIG


_DEFAULTS_CONFIG: str | None = None


def run_cli(stage: Stage, settings: dict[str, Any], *argv: str) -> tuple[int, str, str]:
    """`mlgov ARGV` against the stage, from a folder whose cdk.json holds these `mlgov` settings."""
    import json
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from mlgov.sandbox import REGION

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "cdk.json"
        config.write_text(json.dumps({"context": {"mlgov": settings}}))
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox"}
        run = subprocess.run(
            [sys.executable, "-m", "mlgov.cli", *argv, "--endpoint-url", stage.url, "--region", REGION],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            cwd=tmp,
        )
    return run.returncode, run.stdout, run.stderr


def print_cli(argv: list[str], code: int, out: str, err: str) -> None:
    """The command line and its output as the demo shows it."""
    import shlex
    import textwrap

    print(f"\n   $ mlgov {shlex.join(argv)}")
    for line in (out + err).rstrip().splitlines():
        lead = " " * (len(line) - len(line.lstrip()))
        print(textwrap.fill(line, 118, initial_indent="     ", subsequent_indent="     " + lead + "  "))
    print(f"     exit code {code}")
