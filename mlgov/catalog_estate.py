"""A manga catalog and training snapshots for the sandbox and the tests (spec scenario 2):
~1,800 titles, the last ~400 added after the approved model's snapshot was taken."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from mlgov.estate import create_table
from mlgov_runtime.retraining.registration import encode_evaluation_metrics
from mlgov_runtime.retraining.training_data import build_training_pairs

CATALOG_TABLE = "manga-catalog"
SNAPSHOT_BUCKET = "manga-training"
OLD_SNAPSHOT_DATE = date(2026, 5, 2)


def catalog_items(titles: int = 1800, new_titles: int = 400) -> list[dict[str, Any]]:
    items = []
    for i in range(titles):
        is_new = i >= titles - new_titles
        added = OLD_SNAPSHOT_DATE + timedelta(days=1 + i % 200) if is_new else OLD_SNAPSHOT_DATE - timedelta(days=1 + i)
        items.append(
            {
                "title_id": f"MNG-{i:05d}",
                "title": f"漫画タイトル {i}" if i % 3 == 0 else f"Manga Title {i}",
                "language": "ja" if i % 3 == 0 else "en",
                "added_at": added.isoformat(),
                "adult_content_restricted": i % 50 == 0,
            }
        )
    return items


def create_catalog(ddb: Any, items: list[dict[str, Any]], table: str = CATALOG_TABLE) -> None:
    create_table(ddb, table, "title_id")
    for start in range(0, len(items), 25):
        ddb.batch_write_item(
            RequestItems={
                table: [
                    {
                        "PutRequest": {
                            "Item": {
                                "title_id": {"S": it["title_id"]},
                                "title": {"S": it["title"]},
                                "language": {"S": it["language"]},
                                "added_at": {"S": it["added_at"]},
                                "adult_content_restricted": {"BOOL": it["adult_content_restricted"]},
                            }
                        }
                    }
                    for it in items[start : start + 25]
                ]
            }
        )


def snapshot_body(items: list[dict[str, Any]]) -> bytes:
    return b"".join(
        (json.dumps(pair, ensure_ascii=False) + "\n").encode("utf-8") for pair in build_training_pairs(items)
    )


def create_snapshot_bucket(s3: Any, region: str, bucket: str = SNAPSHOT_BUCKET) -> None:
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def put_old_snapshot(s3: Any, items: list[dict[str, Any]], orphans: int = 20, bucket: str = SNAPSHOT_BUCKET) -> str:
    """The snapshot the approved model was trained on: titles older than it, plus some since deleted."""
    old = [it for it in items if date.fromisoformat(it["added_at"]) <= OLD_SNAPSHOT_DATE]
    deleted = [{"title_id": f"MNG-DELETED-{i:03d}", "title": f"Withdrawn {i}"} for i in range(orphans)]
    key = f"catalog-snapshots/{OLD_SNAPSHOT_DATE.isoformat()}/training.jsonl"
    s3.put_object(Bucket=bucket, Key=key, Body=snapshot_body(old + deleted))
    return f"s3://{bucket}/{key}"


def approve_package_on_snapshot(sm: Any, group: str, snapshot_uri: str, image: str) -> str:
    """An Approved package whose metadata points at the old snapshot."""
    answer = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": image,
                    # Registration pins a digest-form image's digest (the audit flags a bare tag).
                    **({"ImageDigest": image.partition("@")[2]} if "@sha256:" in image else {}),
                    "ModelDataUrl": "s3://manga-training/m.tar.gz",
                }
            ],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        CustomerMetadataProperties={
            "training_data_s3_uri": snapshot_uri,
            "catalog_snapshot_date": OLD_SNAPSHOT_DATE.isoformat(),
            **encode_evaluation_metrics(
                {
                    "eval_loss": 0.12,
                    "mrr_at_10": 0.40,
                    "long_tail_exposure": 0.27,
                    "catalog_coverage_per_1000_sessions": 180,
                    "json_format_failure_rate": 0.02,
                }
            ),
        },
    )
    return str(answer["ModelPackageArn"])
