"""The source archive SageMaker unpacks into /opt/ml/code and runs train.py from (no torch needed)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

from mlgov_training.sourcedir import build_sourcedir


def test_the_archive_is_a_gzipped_tar_with_the_entry_point_at_its_root(tmp_path: Path) -> None:
    archive = build_sourcedir(tmp_path / "sourcedir.tar.gz")
    # As the toolkit opens it
    with tarfile.open(archive, mode="r:gz") as tar:
        names = tar.getnames()
    assert {"train.py", "requirements.txt", "mlgov_training/job.py", "mlgov_training/metrics.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_same_code_gives_the_same_bytes(tmp_path: Path) -> None:
    first = build_sourcedir(tmp_path / "a.tar.gz").read_bytes()
    assert build_sourcedir(tmp_path / "b.tar.gz").read_bytes() == first


def test_unpacked_alone_the_entry_point_starts_and_names_a_missing_hyperparameter(tmp_path: Path) -> None:
    with tarfile.open(build_sourcedir(tmp_path / "sourcedir.tar.gz"), mode="r:gz") as tar:
        tar.extractall(tmp_path / "code", filter="data")
    code = tmp_path / "code"
    proc = subprocess.run(
        [sys.executable, "train.py", "--lora_r", "8"],
        cwd=code,
        env={"SM_CHANNEL_TRAIN": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "base_model is required" in proc.stderr
