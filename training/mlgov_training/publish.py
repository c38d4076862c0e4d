"""Where evaluation.json goes: always SM_OUTPUT_DATA_DIR (kept in the job's output.tar.gz), and the
`evaluation_s3_uri` the offline gate reads, or a local path instead when MLGOV_EVALUATION_LOCAL_PATH
is set (tests, local runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVALUATION_FILE = "evaluation.json"


def evaluation_bytes(evaluation: dict[str, Any]) -> bytes:
    return (json.dumps(evaluation, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not key or key.endswith("/"):
        raise ValueError(f"{uri!r} names no object")
    return bucket, key


def local_target(override: str) -> Path:
    """A file path, a file:// URI, or a directory (existing, or written with a trailing slash)."""
    text = override[len("file://") :] if override.startswith("file://") else override
    path = Path(text)
    return path / EVALUATION_FILE if text.endswith("/") or path.is_dir() else path


def write_evaluation(
    evaluation: dict[str, Any],
    output_data_dir: Path,
    s3_uri: str,
    local_override: str | None,
    s3_client: Any = None,
) -> list[str]:
    """Writes every copy and returns where they went; an S3 failure raises, so the job fails."""
    body = evaluation_bytes(evaluation)
    output_data_dir.mkdir(parents=True, exist_ok=True)
    (output_data_dir / EVALUATION_FILE).write_bytes(body)
    written = [str(output_data_dir / EVALUATION_FILE)]
    if local_override:
        target = local_target(local_override)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        written.append(str(target))
    elif s3_uri:
        bucket, key = split_s3_uri(s3_uri)
        if s3_client is None:
            import boto3  # in every SageMaker training image; only this branch needs it

            s3_client = boto3.client("s3")
        s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        written.append(s3_uri)
    return written
