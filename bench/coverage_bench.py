"""Coverage gap on a 1,000,000-title catalog and snapshot, next to merely reading the snapshot.

Run as a script (one measurement per process, so peak RSS is this measurement's own):
  python bench/coverage_bench.py MODE SNAPSHOT [S3_URL]
MODE: read-file | coverage-file | read-s3 | coverage-s3 | read-s3-paced | coverage-s3-paced
      | floor-scan | floor-sets | catalog-ids | catalog-items
"-paced" caps the S3 stream at PACED_MB_S (a single S3 GET stream's typical rate from Lambda;
a model of the network, not a measurement of AWS): it shows whether parsing keeps up with the read.
The two "floor" modes time the irreducible parts of any pure-Python check, with no I/O in the timed
part: "floor-scan" one regex pass over the snapshot already in memory (the ids stay bytes, no sets);
"floor-sets" the set work on ids already extracted as fresh, never-hashed strings.
"catalog-ids" / "catalog-items": the catalog scan's own memory, 1,000,000 items served page by page
by an in-process table (tests/unit/fakes.py; botocore's parsing is not in it): the coverage
check's id set, and the full items that data prep keeps. SNAPSHOT is ignored for these.
Prints: seconds peak_rss_mib gap_titles
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

TITLES = 1_000_000
PACED_MB_S = 90.0
MISSING = 50_000  # the snapshot lacks 5% of the catalog


def make_snapshot(path: Path) -> None:
    """~90 MB of JSON Lines: one pair per covered title, plus 1% orphans."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(MISSING, TITLES + TITLES // 100):
            title = f"MNG-{i:07d}" if i < TITLES else f"MNG-DELETED-{i:07d}"
            language = "ja" if i % 3 == 0 else "en"
            query = f"「作品{i % 977}」みたいな漫画を教えて" if language == "ja" else f"manga like title {i % 977}"
            out.write(
                json.dumps({"query": query, "query_language": language, "title_id": title}, ensure_ascii=False) + "\n"
            )


def catalog() -> set[str]:
    return {f"MNG-{i:07d}" for i in range(TITLES)}


def file_chunks(path: str) -> Iterator[bytes]:
    from mlgov_runtime.coverage.logic import CHUNK_BYTES

    with open(path, "rb") as handle:
        while block := handle.read(CHUNK_BYTES):
            yield block


def pace_s3_reads(mb_per_s: float) -> None:
    """Sleep as a network would after each chunk (sleeping releases the GIL, as socket reads do)."""
    from botocore.response import StreamingBody

    original = StreamingBody.iter_chunks

    def paced(self: StreamingBody, chunk_size: int = 1024) -> Iterator[bytes]:
        for chunk in original(self, chunk_size):
            time.sleep(len(chunk) / (mb_per_s * 1e6))
            yield chunk

    StreamingBody.iter_chunks = paced  # type: ignore[method-assign]


def floor(mode: str, snapshot: str) -> tuple[float, int]:
    """(seconds, gap) of one irreducible part; everything it needs is prepared before the clock starts."""
    from mlgov_runtime.coverage.logic import _TITLE_ID, CoverageThresholds, coverage_gap, title_id_batches

    blocks = list(file_chunks(snapshot))
    if mode == "floor-scan":
        start = time.perf_counter()
        for block in blocks:
            _TITLE_ID.findall(block)
        return time.perf_counter() - start, -1
    batches = list(title_id_batches(blocks))  # str objects cache their hash only once it is computed
    titles = catalog()
    start = time.perf_counter()
    gap = coverage_gap(titles, batches, CoverageThresholds()).gap_titles
    return time.perf_counter() - start, gap


def streamed(mode: str, snapshot: str, s3_url: str) -> tuple[float, int]:
    """(seconds, gap) of reading, or of the whole check, on the snapshot streamed from S3 or a file."""
    from mlgov_runtime.coverage.logic import CoverageThresholds, coverage_gap, title_id_batches

    if "-s3" in mode:
        import boto3

        if mode.endswith("-paced"):
            pace_s3_reads(PACED_MB_S)

        from mlgov_runtime.adapters.catalog import snapshot_chunks

        s3 = boto3.client(
            "s3",
            endpoint_url=s3_url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )

        def chunks() -> Iterator[bytes]:
            return snapshot_chunks(s3, snapshot)
    else:

        def chunks() -> Iterator[bytes]:
            return file_chunks(snapshot)

    if mode.startswith("read"):
        start = time.perf_counter()
        for _ in chunks():
            pass
        return time.perf_counter() - start, -1
    titles = catalog()  # the DynamoDB scan is not part of this measurement
    start = time.perf_counter()
    gap = coverage_gap(titles, title_id_batches(chunks()), CoverageThresholds()).gap_titles
    return time.perf_counter() - start, gap


def catalog_scan(mode: str) -> float:
    from mlgov_runtime.adapters.catalog import catalog_title_ids, scan_catalog
    from tests.unit.fakes import PagedTable

    table = PagedTable(TITLES)
    start = time.perf_counter()
    if mode == "catalog-ids":
        catalog_title_ids(table, "catalog")
    else:
        scan_catalog(table, "catalog")
    return time.perf_counter() - start


def main() -> None:
    mode, snapshot = sys.argv[1], sys.argv[2]
    if mode.startswith("catalog"):
        seconds, gap = catalog_scan(mode), -1
    elif mode.startswith("floor"):
        seconds, gap = floor(mode, snapshot)
    else:
        seconds, gap = streamed(mode, snapshot, sys.argv[3] if len(sys.argv) > 3 else "")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds:.4f} {peak:.1f} {gap}")


if __name__ == "__main__":
    main()
