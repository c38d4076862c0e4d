"""What a user installs: the wheel built from a copy of the sources carries the CLI and the Lambda runtime and
no sandbox; installed with its declared dependencies (the pins of requirements*.txt as constraints, from the
package index) into a fresh virtualenv, every `mlgov` command that needs no checkout and no AWS works there,
from a directory outside the checkout, with no AWS credentials. Offline, deselect with `-m "not wheel"`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[2]
# The sandbox (`make demo`) and its test support: never in the wheel.
SANDBOX = {
    "mlgov/sandbox.py",
    "mlgov/emulator.py",
    "mlgov/emulator_sfn.py",
    "mlgov/emulator_map.py",
    "mlgov/estate.py",
    "mlgov/sinks.py",
    "mlgov/approvals_sandbox.py",
    "mlgov/function_url.py",
}
CLI_DEPENDENCIES = {"boto3", "botocore", "pydantic", "numpy", "principalmapper"}
CDK_EXTRA = {"aws-cdk-lib", "constructs", "jsii"}


def sandbox_only(path: str) -> bool:
    return (
        path in SANDBOX or path.startswith("mlgov/scenes/") or re.fullmatch(r"mlgov/\w+_estate\.py", path) is not None
    )


def source_files() -> set[str]:
    found = {p.relative_to(ROOT).as_posix() for p in (ROOT / "mlgov").rglob("*.py")}
    runtime = ROOT / "lambdas"
    found |= {p.relative_to(runtime).as_posix() for p in (runtime / "mlgov_runtime").rglob("*.py")}
    return {f for f in found if "__pycache__" not in f}


def pins() -> dict[str, str]:
    found = {}
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
            if "==" in line and not line.startswith(("#", "-")):
                package, _, version = line.partition("==")
                found[re.sub(r"[-_.]+", "-", package.strip().lower())] = version.strip()
    return found


def run(cmd: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, check=False, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("setuptools", reason="pip cannot build the wheel here: setuptools is not installed")
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("pyproject.toml", "setup.py"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "mlgov", src / "mlgov", ignore=ignore)
    shutil.copytree(ROOT / "lambdas" / "mlgov_runtime", src / "lambdas" / "mlgov_runtime", ignore=ignore)
    # What a build before the sandbox was left out leaves in build/lib: the wheel packs all of build/lib.
    stale = src / "build" / "lib" / "mlgov"
    (stale / "scenes").mkdir(parents=True)
    shutil.copy2(ROOT / "mlgov" / "sandbox.py", stale / "sandbox.py")
    shutil.copy2(ROOT / "mlgov" / "scenes" / "__init__.py", stale / "scenes" / "__init__.py")
    out = tmp_path_factory.mktemp("dist")
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, src])
    assert built.returncode == 0, built.stderr
    (found,) = out.glob("mlgov-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtualenv (no system site-packages, no pip of its own) with the wheel and its dependencies."""
    home = tmp_path_factory.mktemp("venv")
    created = run([sys.executable, "-m", "venv", "--without-pip", home / "venv"])
    assert created.returncode == 0, created.stderr
    # The pins as constraints: pip reads a `-r` inside a constraints file as requirements, so one flat file.
    constraints = home / "constraints.txt"
    constraints.write_text("\n".join(f"{name}=={version}" for name, version in pins().items()) + "\n")
    python = home / "venv" / "bin" / "python"
    installed = run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-cache-dir", "-q", "-c", constraints, wheel]
    )
    assert installed.returncode == 0, f"pip install of the wheel failed (offline? -m 'not wheel'):\n{installed.stderr}"
    return home / "venv"


def clean_env(venv: Path, home: Path) -> dict[str, str]:
    """No PYTHONPATH, no checkout, no AWS credentials or profile files: what a fresh shell has."""
    home.mkdir(exist_ok=True)
    return {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_DEFAULT_REGION": "us-east-1",
    }


# Runs inside the fresh venv: every module the CLI can import, even lazily inside a command, imports there;
# every command path's --help exits 0; the sandbox is not importable.
PROBE = r"""
import argparse, ast, contextlib, importlib, io, json, pkgutil, sys
from pathlib import Path
import mlgov.commands
from mlgov.cli import build_parser, main

def imports(tree, package):
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            yield from ((base, alias.name) for alias in node.names)
        stack.extend(ast.iter_child_nodes(node))

commands = [f"mlgov.commands.{m.name}" for m in pkgutil.iter_modules(mlgov.commands.__path__)]
queue = [(name, None) for name in ["mlgov.cli", *commands]]
seen, failures, own = set(), [], set()
while queue:
    name, attr = queue.pop()
    if (name, attr) in seen or name == "__future__":
        continue
    seen.add((name, attr))
    try:
        module = importlib.import_module(name)
        if attr not in (None, "*") and not hasattr(module, attr):
            importlib.import_module(f"{name}.{attr}")
            queue.append((f"{name}.{attr}", None))
    except Exception as exc:
        failures.append(f"{name}{'.' + attr if attr else ''}: {type(exc).__name__}: {exc}")
        continue
    if attr is None and name.split(".")[0] in ("mlgov", "mlgov_runtime"):
        own.add(module.__file__)
        parts = name.split(".")
        queue.extend((".".join(parts[:i]), None) for i in range(1, len(parts)))
        package = name if module.__file__.endswith("__init__.py") else name.rpartition(".")[0]
        for base, item in imports(ast.parse(Path(module.__file__).read_text()), package):
            queue.append((base, None))
            if item is not None:
                queue.append((base, item))

def paths(parser, prefix):
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice, sub in action.choices.items():
                yield from paths(sub, [*prefix, choice])

helps = {}
for path in paths(build_parser(), []):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*path, "--help"])
    helps[" ".join(path)] = [code, out.getvalue().startswith("usage: mlgov")]
try:
    import mlgov.sandbox
    sandbox = mlgov.sandbox.__file__
except ModuleNotFoundError:
    sandbox = None
try:
    import mlgov.cdk
    cdk = "imported"
except ModuleNotFoundError as exc:
    cdk = str(exc)
print(json.dumps({"failures": failures, "own": sorted(own), "helps": helps, "sandbox": sandbox, "cdk": cdk}))
"""


def test_the_wheel_carries_the_cli_and_the_runtime_and_no_sandbox(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    shipped = {n for n in names if ".dist-info/" not in n}
    expected = {f for f in source_files() if not sandbox_only(f)}
    assert sorted(f for f in shipped if sandbox_only(f)) == []  # also what an older build left in build/lib
    assert sorted(expected - shipped) == []  # every command, every runtime module, mlgov.cdk
    assert sorted(shipped - expected) == []  # no stacks/, tests/, training/, lambdas/ prefix
    assert {"mlgov/cli.py", "mlgov/challenger_simulation.py", "mlgov_runtime/registry.py"} <= shipped
    assert "mlgov = mlgov.cli:main" in entry_points

    requires = [
        Requirement(line.split(":", 1)[1].strip())
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    base = {r.name for r in requires if r.marker is None}
    cdk = {r.name for r in requires if r.marker is not None and r.marker.evaluate({"extra": "cdk"})}
    assert base == CLI_DEPENDENCIES
    assert cdk == CDK_EXTRA
    pinned = pins()
    for requirement in requires:  # every declared range admits the version the project tests with
        assert requirement.specifier.contains(pinned[requirement.name]), (requirement, pinned[requirement.name])


def test_every_command_that_needs_no_checkout_works_from_the_wheel_in_a_fresh_venv(venv: Path, tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = clean_env(venv, tmp_path / "home")
    mlgov = venv / "bin" / "mlgov"
    assert ROOT not in work.parents

    helped = run([mlgov, "--help"], cwd=work, env=env)
    assert helped.returncode == 0, helped.stderr
    for group in ("audit", "challenger", "guardrails", "notify", "retire", "scan", "capacity"):
        assert group in helped.stdout

    (work / "probe.py").write_text(PROBE)
    probed = run([venv / "bin" / "python", "probe.py"], cwd=work, env=env)
    assert probed.returncode == 0, probed.stderr
    report = json.loads(probed.stdout)
    assert report["failures"] == []
    assert report["sandbox"] is None  # the venv sees the wheel, not the checkout
    assert all(str(venv) in path for path in report["own"]), report["own"]
    assert report["cdk"] == "mlgov.cdk needs aws_cdk: pip install 'mlgov[cdk]'"  # the extra is not installed
    assert len(report["helps"]) > 20
    assert {path: result for path, result in report["helps"].items() if result != [0, True]} == {}

    explained = run(
        [mlgov, "guardrails", "explain", "--action", "sagemaker:CreateEndpoint", "--endpoint-name", "manga-hotfix",
         "--principal", "arn:aws:iam::210987654321:role/DataScientist", "--format", "json"],
        cwd=work, env=env,
    )  # fmt: skip
    assert explained.returncode == 3, explained.stderr  # denied
    assert json.loads(explained.stdout)["statement"] == "DenyEndpointWithoutPackageTag"

    simulated = run(
        [mlgov, "challenger", "simulate", "--traffic", "70", "--drop", "0", "--runs", "200", "--seed", "1",
         "--format", "json"],
        cwd=work, env=env,
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    assert sum(json.loads(simulated.stdout)["rates"].values()) == pytest.approx(1.0)

    (work / "finding.json").write_text('{"kind": "UNREGISTERED_ENDPOINT"}')
    refused = run([mlgov, "notify", "send", "--finding-file", "finding.json"], cwd=work, env=env)
    assert refused.returncode == 2  # bad input: one line naming what is missing, before any AWS call
    assert refused.stderr.startswith("mlgov: error: finding.json: finding lacks finding_id"), refused.stderr
    assert "Traceback" not in refused.stderr + explained.stderr + simulated.stderr
