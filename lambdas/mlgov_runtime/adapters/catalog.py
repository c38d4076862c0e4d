"""The live catalog (DynamoDB) and training snapshots (S3 JSON Lines)."""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from mlgov_runtime.coverage.logic import CHUNK_BYTES

S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$")


class SnapshotUnreadable(Exception):
    """The snapshot cannot be read; the message says which object and why."""


class SnapshotNotFound(SnapshotUnreadable):
    pass


class SnapshotBucketNotFound(SnapshotNotFound):
    """The bucket itself is not there (a typo in it, or another account/region)."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    match = S3_URI.match(uri)
    if not match:
        bucket, slash, key = uri.removeprefix("s3://").partition("/")
        if uri.startswith("s3://") and slash and key:
            raise ValueError(
                f"{uri!r}: bucket {bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)"
            )
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    return match.group(1), match.group(2)


class CatalogUnavailable(Exception):
    pass


def catalog_title_ids(
    ddb: Any, table: str, segments: int = 4, progress: Callable[[int], None] | None = None
) -> set[str]:
    """Every title_id, by a parallel scan that projects only the key. Ids go into one set page by
    page: a million-title catalog never sits in memory as a million item dicts. `progress(titles)`
    is called after each page."""
    ids: set[str] = set()
    lock = threading.Lock()

    def segment(number: int) -> None:
        for items in _scan_pages(ddb, table, number, segments, "title_id"):
            page = [_title_id(item, table) for item in items]
            with lock:
                ids.update(page)
                if progress:
                    progress(len(ids))

    with ThreadPoolExecutor(max_workers=segments) as pool:
        list(pool.map(segment, range(segments)))  # list() re-raises a segment's error here
    if not ids:
        raise CatalogUnavailable(f"catalog table {table} has no titles: nothing to compare the snapshot with")
    return ids


def _title_id(item: Any, table: str) -> str:
    """The item's title_id, a non-empty string (CONTRACTS.md); anything else names the problem."""
    value = item.get("title_id") if isinstance(item, dict) else None
    if not isinstance(value, dict) or not value:
        raise CatalogUnavailable(
            f"catalog table {table}: an item has no title_id attribute; the catalog's partition key must be "
            "named title_id (a string, CONTRACTS.md)"
        )
    kind, text = next(iter(value.items()))
    if kind != "S" or not isinstance(text, str) or not text:
        raise CatalogUnavailable(
            f"catalog table {table}: title_id is of DynamoDB type {kind}, not a string (S); CONTRACTS.md wants "
            "title_id as a string"
        )
    return text


def scan_catalog(ddb: Any, table: str, segments: int = 4) -> list[dict[str, Any]]:
    """Every catalog item, segment by segment (the order of a segment's pages is kept)."""

    def segment(number: int) -> list[dict[str, Any]]:
        return [item for items in _scan_pages(ddb, table, number, segments) for item in items]

    with ThreadPoolExecutor(max_workers=segments) as pool:
        return [item for part in pool.map(segment, range(segments)) for item in part]


def _scan_pages(
    ddb: Any, table: str, number: int, segments: int, projection: str | None = None
) -> Iterator[list[dict[str, Any]]]:
    kwargs: dict[str, Any] = {"TableName": table, "Segment": number, "TotalSegments": segments}
    if projection:
        kwargs["ProjectionExpression"] = projection
    try:
        for page in ddb.get_paginator("scan").paginate(**kwargs):
            yield page.get("Items", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise CatalogUnavailable(f"catalog table {table} does not exist") from None
        raise


def snapshot_chunks(
    s3: Any,
    uri: str,
    chunk_bytes: int = CHUNK_BYTES,
    prefetch: int = 4,
    progress: Callable[[int, int], None] | None = None,
    version_id: str | None = None,
) -> Iterator[bytes]:
    """Stream the snapshot in chunks. A reader thread keeps up to `prefetch` chunks ahead, so the
    network read overlaps the parsing instead of alternating with it. `progress(read, total)` is
    called after each chunk. A consumer that stops early (a malformed line) stops the reader too:
    in a warm Lambda a blocked thread would otherwise keep its connection and chunks for good."""
    bucket, key = parse_s3_uri(uri)
    try:
        answer = s3.get_object(Bucket=bucket, Key=key, **({"VersionId": version_id} if version_id else {}))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if version_id and error.get("Code") in ("NoSuchVersion", "InvalidArgument", "NoSuchKey", "404"):
            raise SnapshotNotFound(
                f"snapshot {uri} version {version_id} (training_data_version) does not exist ({error.get('Code')}); "
                "the newest is not measured instead"
            ) from None
        if error.get("Code") == "NoSuchBucket":
            raise SnapshotBucketNotFound(f"snapshot {uri} does not exist: no bucket {bucket}") from None
        if error.get("Code") in ("NoSuchKey", "404"):
            raise SnapshotNotFound(f"snapshot {uri} does not exist") from None
        if error.get("Code") in ("AccessDenied", "403"):
            # Without s3:ListBucket, S3 answers a missing key with 403 too; a KMS key the role may not
            # use also lands here, with its own message.
            raise SnapshotUnreadable(
                f"snapshot {uri} cannot be read: AccessDenied ({error.get('Message', 'no message')}); "
                "the object does not exist, or this role may not read it (s3:GetObject, and kms:Decrypt "
                "for a KMS-encrypted object)"
            ) from None
        raise
    body, total = answer["Body"], int(answer.get("ContentLength") or 0)
    buffer: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=prefetch)
    stop = threading.Event()

    def put(item: bytes | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for chunk in body.iter_chunks(chunk_bytes):
                if not put(chunk):
                    return
            put(None)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)
        finally:
            body.close()

    reader = threading.Thread(target=read, name="snapshot-reader", daemon=True)
    reader.start()
    done = 0
    try:
        while True:
            item = buffer.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            done += len(item)
            if progress:
                progress(done, total)
            yield item
    finally:
        stop.set()
