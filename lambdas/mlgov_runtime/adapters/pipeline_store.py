"""S3 for the retraining pipeline: snapshots (versioned bucket) and evaluation results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError


class S3PipelineStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def put(self, key: str, body: bytes) -> str:
        answer = self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/x-ndjson")
        return str(answer.get("VersionId") or "")

    def lines(self, key: str, version_id: str | None = None) -> Iterator[bytes]:
        pinned = {"VersionId": version_id} if version_id else {}
        body = self._s3.get_object(Bucket=self.bucket, Key=key, **pinned)["Body"]
        yield from body.iter_lines(chunk_size=1024 * 1024, keepends=True)

    def get_json(self, key: str) -> Any:
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(f"s3://{self.bucket}/{key} does not exist") from None
            raise
        return json.loads(body)
