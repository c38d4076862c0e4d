"""`mlgov coverage`: the catalog coverage gap of a training snapshot."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from mlgov.commands import common


def table_name(value: str) -> str:
    if not re.fullmatch(r"[a-zA-Z0-9_.-]{3,255}", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a DynamoDB table name (3-255 letters, digits, _ . -)")
    return value


def cmd_coverage(args: argparse.Namespace) -> int:
    from mlgov_runtime.adapters.catalog import (
        CatalogUnavailable,
        SnapshotUnreadable,
        catalog_title_ids,
        parse_s3_uri,
        snapshot_chunks,
    )
    from mlgov_runtime.coverage.logic import CoverageThresholds, SnapshotFormatError, coverage_gap, title_id_batches

    try:
        parse_s3_uri(args.snapshot_uri)
    except ValueError as exc:
        raise common.UsageError(str(exc)) from None
    t = common.load_settings(args).thresholds
    aws = common.aws_context(args)
    # Progress goes to stderr: for people (table output, or a terminal), never into the JSON.
    progress = common.ReadProgress(enabled=args.format == "table" or sys.stderr.isatty())
    try:
        progress.say(f"reading catalog {args.catalog_table} ...")
        catalog = catalog_title_ids(aws.client("dynamodb"), args.catalog_table, progress=progress.titles)
        progress.say(f"catalog: {len(catalog):,} titles; streaming {args.snapshot_uri} ...")
        report = coverage_gap(
            catalog,
            title_id_batches(snapshot_chunks(aws.client("s3"), args.snapshot_uri, progress=progress.bytes)),
            CoverageThresholds(t.coverage_gap_alert_pct, t.coverage_gap_page_pct),
        )
    except SnapshotFormatError as exc:
        raise common.UsageError(f"snapshot {args.snapshot_uri}: {exc}") from None
    except (SnapshotUnreadable, CatalogUnavailable) as exc:
        raise common.UsageError(f"{exc}{_where_to_look(exc, args)}") from None
    body = report.to_dict()
    if args.format == "json":
        print(json.dumps(body, indent=2))
    else:
        print(f"catalog titles   {report.catalog_titles}")
        print(f"snapshot titles  {report.snapshot_titles} ({report.orphan_titles} no longer in the catalog)")
        print(f"gap              {report.gap_titles} titles = {report.coverage_gap_pct}%")
        print(
            f"action           {report.action} (alert > {t.coverage_gap_alert_pct}%, "
            f"retrain and page > {t.coverage_gap_page_pct}%)"
        )
        if report.gap_title_sample:
            print(f"gap sample       {', '.join(report.gap_title_sample[:10])}")
    return common.EXIT_OK if report.action == "none" else common.EXIT_VIOLATIONS


def _where_to_look(exc: Exception, args: argparse.Namespace) -> str:
    """The listing that shows the right name, for a table or snapshot that is not there."""
    from mlgov_runtime.adapters.catalog import (
        CatalogUnavailable,
        SnapshotBucketNotFound,
        SnapshotNotFound,
        parse_s3_uri,
    )

    region = f" --region {args.region}" if args.region else ""
    if isinstance(exc, CatalogUnavailable) and "does not exist" in str(exc):
        return f" (`aws dynamodb list-tables{region}` lists the tables; --catalog-table names the catalog)"
    if isinstance(exc, SnapshotBucketNotFound):
        return f" (`aws s3 ls{region}` lists the buckets; --snapshot-uri names the snapshot)"
    if isinstance(exc, SnapshotNotFound):
        bucket, key = parse_s3_uri(args.snapshot_uri)
        folder = key.rsplit("/", 2)[0] + "/" if key.count("/") >= 2 else ""
        return f" (`aws s3 ls s3://{bucket}/{folder}` lists the snapshots there)"
    return ""


def register(sub: Any) -> None:
    coverage = common.command(sub, "coverage", cmd_coverage, help="catalog coverage gap of a training snapshot")
    coverage.add_argument(
        "--catalog-table", type=table_name, required=True, help="DynamoDB catalog table (title_id key)"
    )
    coverage.add_argument("--snapshot-uri", required=True, help="s3://bucket/catalog-snapshots/DATE/training.jsonl")
