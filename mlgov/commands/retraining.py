"""`mlgov register`: register a model package with the required metadata, as the pipeline does."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlgov.commands import common


def cmd_register(args: argparse.Namespace) -> int:
    from mlgov_runtime.retraining.registration import (
        InvalidRegistration,
        RegistrationMetadata,
        check_customer_metadata,
    )

    text = common.read_text(args.metadata_file, "registration metadata")
    try:
        data = json.loads(text)
    except RecursionError:
        raise common.UsageError(f"{args.metadata_file}: JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise common.UsageError(f"{args.metadata_file}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise common.UsageError(f"{args.metadata_file}: registration metadata is a JSON object")
    try:
        metadata = RegistrationMetadata.from_mapping(data).customer_metadata()
    except InvalidRegistration as exc:
        raise common.UsageError(f"refused: {exc}") from None
    if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{0,62}/\S+", args.model_data_url):
        raise common.UsageError(f"--model-data-url {args.model_data_url!r} is not an s3://bucket/key URI")
    if not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", args.group):
        raise common.UsageError(f"--group {args.group!r} is not a model package group name")
    if not args.image.strip() or any(c.isspace() for c in args.image):
        raise common.UsageError(f"--image {args.image!r} is not a container image URI")
    copy_to = str(args.write_once_bucket or "")
    if copy_to and not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", copy_to):
        raise common.UsageError(f"--write-once-bucket {copy_to!r} is not an S3 bucket name")
    from mlgov_runtime.adapters.artifacts import PinningRefused, pinned_container, store_pins

    aws = common.aws_context(args)
    model_data_url = args.model_data_url
    if copy_to:
        model_data_url = _copy_write_once(aws, model_data_url, copy_to, args.group, args.copy_name)
    # Pins, not names: the image's digest and the object's ETag, version and checksum as they are now.
    try:
        container, pins = pinned_container(store_pins(aws), args.image, model_data_url)
    except PinningRefused as exc:
        raise common.UsageError(f"refused: {exc}") from None
    try:  # SageMaker's own rule, checked here so a refusal names the key
        check_customer_metadata({**metadata, **pins})
    except InvalidRegistration as exc:
        raise common.UsageError(f"refused: {exc}") from None
    answer = aws.client("sagemaker").create_model_package(
        ModelPackageGroupName=args.group,
        ModelPackageDescription=args.description or f"catalog snapshot {metadata['catalog_snapshot_date']}",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [container],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        CustomerMetadataProperties={**metadata, **pins},
    )
    arn = answer["ModelPackageArn"]
    pinned = {"image_digest": container["ImageDigest"], "model_data_etag": container["ModelDataETag"], **pins}
    if args.format == "json":
        print(
            json.dumps(
                {
                    "model_package_arn": arn,
                    "approval_status": "PendingManualApproval",
                    "model_data_url": model_data_url,
                    "pins": pinned,
                }
            )
        )
    else:
        print(f"registered {arn} (PendingManualApproval; an approver role approves it), model data {model_data_url}")
        print(pins_text(pinned))
    return common.EXIT_OK


PIN_LABELS = {
    "image_digest": "image digest",
    "model_data_etag": "model data ETag",
    "model_data_version_id": "object version",
    "model_data_checksum": "checksum",
}


def pins_text(pins: dict[str, Any]) -> str:
    """The pins as a person reads them, one per line (the JSON keeps the keys)."""
    lines = ["pinned (the audit compares what serves with these on every run):"]
    for key, value in pins.items():
        lines.append(f"  {PIN_LABELS.get(key, key.replace('_', ' ')):<16} {value}")
    return "\n".join(lines)


def _copy_write_once(aws: Any, source: str, bucket: str, group: str, name: str | None) -> str:
    """The artifact's copy under the write-once prefix, as the retraining pipeline makes it: S3 refuses a key
    that exists (If-None-Match), so a copy is never overwritten, not even by a second registration."""
    from botocore.exceptions import ClientError

    from mlgov_runtime.adapters.artifacts import copy_write_once
    from mlgov_runtime.lineage_audit.pins import APPROVED_PREFIX

    name = name or datetime.now(UTC).strftime("cli-%Y%m%dT%H%M%SZ")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", name):
        raise common.UsageError(f"--copy-name {name!r}: letters, digits, '.', '_' and '-' only (at most 128)")
    key = f"{APPROVED_PREFIX}/{group}/{name}/model.tar.gz"
    try:
        return copy_write_once(aws.client("s3"), source, bucket, key)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code") or "")
        if code in ("PreconditionFailed", "412"):
            raise common.UsageError(
                f"refused: s3://{bucket}/{key} exists already and is never overwritten; pick another --copy-name"
            ) from None
        message = exc.response.get("Error", {}).get("Message")
        fix = {
            "NoSuchBucket": f"--write-once-bucket names the stack's SnapshotBucket, and {source} must exist",
            "NoSuchKey": f"--model-data-url must name an existing object: {source}",
            "404": f"--model-data-url must name an existing object: {source}",
        }.get(code, "check both buckets' names and this caller's s3:GetObject/s3:PutObject on them")
        raise common.UsageError(
            f"refused: cannot copy {source} to s3://{bucket}/{key} ({code}: {message}): {fix}; nothing registered"
        ) from None


def register(sub: Any) -> None:
    register = common.command(sub, "register", cmd_register, help="register a model package with the required metadata")
    register.add_argument("--group", required=True, help="model package group")
    register.add_argument(
        "--metadata-file",
        type=Path,
        required=True,
        help="JSON with the registration metadata (docs/coverage-retraining.md, 'Registering by hand'); - for stdin",
    )
    register.add_argument("--model-data-url", required=True, help="s3:// URI of the model artifact")
    register.add_argument("--image", required=True, help="inference container image URI")
    register.add_argument("--description", default="", help="package description")
    register.add_argument(
        "--write-once-bucket",
        metavar="BUCKET",
        help="copy the artifact to s3://BUCKET/approved-models/<group>/<copy name>/model.tar.gz first (the "
        "stack's SnapshotBucket: nobody can overwrite or delete there) and register the copy",
    )
    register.add_argument(
        "--copy-name", help="with --write-once-bucket: the copy's folder name (default: cli-<UTC timestamp>)"
    )
