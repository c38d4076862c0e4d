"""The functions' asset ships bytecode the Lambda runtime really loads, and synthesizes to one hash."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from stacks import constants as c
from stacks.building_blocks import runtime_python_matches, stage_with_bytecode

pytestmark = pytest.mark.infrastructure

HANDLERS = ("lineage_audit", "capacity", "challenger", "retirement", "org_scan", "notifier")
UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked


def _asset_dirs(app: Any, template: Any) -> set[Path]:
    keys = {str(fn["Properties"]["Code"]["S3Key"]) for fn in template.find_resources("AWS::Lambda::Function").values()}
    return {Path(app.outdir) / f"asset.{key.removesuffix('.zip')}" for key in keys}


def test_the_runtime_python_is_the_one_compiling() -> None:
    # Otherwise the asset silently falls back to source alone: raise LAMBDA_PYTHON with the interpreter.
    assert runtime_python_matches(), (c.LAMBDA_PYTHON, sys.version)


def test_synthesized_asset_has_unchecked_hash_bytecode_for_every_handler(app: Any, synthesized: Any) -> None:
    [asset] = _asset_dirs(app, synthesized[1])  # one asset shared by every function
    tag = sys.implementation.cache_tag
    assert tag == "cpython-" + c.LAMBDA_PYTHON.removeprefix("python").replace(".", "")
    for name in HANDLERS:
        pyc = asset / "mlgov_runtime" / name / "__pycache__" / f"handler.{tag}.pyc"
        header = pyc.read_bytes()[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER, pyc
        assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH, pyc
    sources = {p.relative_to(asset).with_suffix("") for p in asset.rglob("*.py")}
    compiled = {p.parent.parent.relative_to(asset) / p.name.split(".")[0] for p in asset.rglob("*.pyc")}
    assert sources == compiled  # every module, and no stray bytecode of deleted ones


def test_two_synths_give_the_same_asset_hash(tmp_path: Path) -> None:
    # Separate stagings from separate directories: no path of this machine may reach the bytecode.
    source = Path(__file__).resolve().parents[2] / c.LAMBDA_ASSET_DIR
    first = stage_with_bytecode(source, tmp_path / "one")
    second = stage_with_bytecode(source, tmp_path / "two" / "deeper")
    assert first.name == second.name
    assert cdk.FileSystem.fingerprint(str(first)) == cdk.FileSystem.fingerprint(str(second))
    assert os.listdir(first.parent) == [first.name]  # no half-built staging left behind
