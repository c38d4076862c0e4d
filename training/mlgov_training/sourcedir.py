"""sourcedir.tar.gz for the job's `sagemaker_submit_directory`.

SageMaker's training toolkit downloads that S3 object and opens it as a gzipped tar, so a CDK
directory asset (a zip) cannot serve; build this file and ship it as a file asset. The bytes depend
only on the files' names and contents (sorted, fixed times and owners), so the asset hash changes
only when the code does. Standard library only: `python training/mlgov_training/sourcedir.py OUT`.
"""

from __future__ import annotations

import gzip
import io
import sys
import tarfile
from pathlib import Path

TRAINING_DIR = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


def source_files(training_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in training_dir.rglob("*")
        if p.is_file()
        and not SKIPPED_DIRS.intersection(p.relative_to(training_dir).parts)
        and p.suffix not in {".pyc", ".pyo"}
    )


def build_sourcedir(out: Path, training_dir: Path = TRAINING_DIR) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in source_files(training_dir):
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(training_dir).as_posix())
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buffer.getvalue())
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: sourcedir.py OUT.tar.gz")
    print(build_sourcedir(Path(sys.argv[1])))
