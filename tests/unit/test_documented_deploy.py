"""The deploy commands README.md and docs/deploy.md print work as written after `make install`: `npx` runs the
CDK CLI that package.json pins (there is no global `cdk`), and every stack they name is one app.py defines."""

from __future__ import annotations

import json
import re
from pathlib import Path

from stacks import constants

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
STACKS = {value for name, value in vars(constants).items() if name.endswith("_STACK_NAME")}


def _shell_lines() -> list[tuple[str, str]]:
    lines = []
    for page in PAGES:
        for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            lines += [(page.name, line.strip()) for line in block.splitlines() if line.strip()]
    return lines


def test_every_documented_cdk_command_runs_the_pinned_cli_through_npx() -> None:
    cdk = [(page, line) for page, line in _shell_lines() if re.match(r"(npx )?cdk ", line)]
    assert cdk and all(line.startswith("npx cdk ") for _, line in cdk), cdk
    pinned = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))["devDependencies"]
    assert re.fullmatch(r"2\.\d+\.\d+", pinned["aws-cdk"]) and "node" in pinned, pinned
    assert '"app": ".venv/bin/python app.py"' in (ROOT / "cdk.json").read_text(encoding="utf-8")


def test_every_documented_deploy_names_a_stack_the_app_defines() -> None:
    named = [(page, m) for page, line in _shell_lines() for m in re.findall(r"npx cdk deploy (\w+)", line)]
    assert {m for _, m in named} >= {"MlGovEndpointAudit", "MlGovGuardrails"}, named
    assert [(page, m) for page, m in named if m not in STACKS] == []
