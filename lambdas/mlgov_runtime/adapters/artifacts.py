"""S3 and ECR reads behind artifact pins: what registration records and what the audit compares."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlgov_runtime.lineage_audit.pins import (
    CHECKSUM_KEY,
    ECR_IMAGE,
    VERSION_KEY,
    PinMissing,
    PinUnreadable,
    checksum_of,
)

_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchVersion", "ImageNotFoundException", "RepositoryNotFoundException"}


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def _translate(exc: Exception, what: str) -> Exception:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _MISSING:
            return PinMissing(f"{what} does not exist")
        return PinUnreadable(f"{code}: {error.get('Message', '')}".rstrip(": "))
    return PinUnreadable(f"{type(exc).__name__}: {exc}")


class StorePins:
    """Implements mlgov_runtime.lineage_audit.pins.PinReader over boto3 S3 and ECR clients."""

    def __init__(self, s3: Any, ecr_for_region: Callable[[str], Any]) -> None:
        self._s3 = s3
        self._ecr_for_region = ecr_for_region

    def head_object(self, uri: str) -> Mapping[str, Any]:
        bucket, key = split_s3_uri(uri)
        try:
            return dict(self._s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED"))
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, uri) from exc

    def image_digest(self, image: str) -> str:
        match = ECR_IMAGE.match(image)
        if not match:
            raise PinUnreadable(f"{image} is not an ECR image URI")
        if match["digest"]:
            return str(match["digest"])
        return self._resolve(image, match, [{"imageTag": match["tag"] or "latest"}])

    def check_digest_exists(self, image: str) -> None:
        """An image named by digest: PinMissing when ECR says the repository has no such image (a mistyped
        digest would register a package no instance can pull); a repository this role may not read passes, since
        the digest is already the pin."""
        match = ECR_IMAGE.match(image)
        if not match or not match["digest"]:
            return
        with contextlib.suppress(PinUnreadable):
            self._resolve(image, match, [{"imageDigest": match["digest"]}])

    def _resolve(self, image: str, match: re.Match[str], image_ids: list[dict[str, str]]) -> str:
        ecr = self._ecr_for_region(match["region"])
        where = {"registryId": match["account"], "repositoryName": match["repo"]}
        try:
            details = ecr.describe_images(**where, imageIds=image_ids).get("imageDetails") or []
            found = [d.get("imageDigest") for d in details]
        except (ClientError, BotoCoreError) as exc:
            translated = _translate(exc, image)
            if isinstance(translated, PinMissing):
                raise translated from exc
            # Repositories shared for pulling (AWS's deep learning containers) allow BatchGetImage, not Describe.
            try:
                images = ecr.batch_get_image(**where, imageIds=image_ids).get("images") or []
            except (ClientError, BotoCoreError) as again:
                raise _translate(again, image) from again
            found = [(i.get("imageId") or {}).get("imageDigest") for i in images]
        if not found or not found[0]:
            raise PinMissing(f"{image} does not exist")
        return str(found[0])


def store_pins(aws: Any) -> StorePins:
    """Pins read with an AwsContext's credentials (S3 in its region, ECR in the image's)."""
    return StorePins(aws.client("s3"), lambda region: aws.client_in("ecr", region))


class PinningRefused(ValueError):
    """Registration cannot pin what it was given; the message says what to do."""


def pinned_container(pins: StorePins, image: str, model_data_url: str) -> tuple[dict[str, str], dict[str, str]]:
    """The package container with its native pins (ImageDigest, ModelDataETag), and the metadata pins
    (object version, checksum) the API has no field for."""
    try:
        digest = pins.image_digest(image)
    except (PinMissing, PinUnreadable) as exc:
        raise PinningRefused(
            f"cannot resolve image {image} to its digest ({exc}); give an ECR image this role may describe "
            "(ecr:DescribeImages), or name it by digest (repo@sha256:...)"
        ) from None
    try:
        pins.check_digest_exists(image)
    except PinMissing:
        match = ECR_IMAGE.match(image)
        assert match  # image_digest refused anything else
        raise PinningRefused(
            f"image {image} is not in ECR: repository {match['repo']} of {match['account']} has no image "
            f"{digest}; `aws ecr describe-images --registry-id {match['account']} --repository-name {match['repo']} "
            f"--region {match['region']}` lists its digests"
        ) from None
    try:
        head = pins.head_object(model_data_url)
    except (PinMissing, PinUnreadable) as exc:
        raise PinningRefused(f"cannot read model data {model_data_url} to pin it ({exc})") from None
    container = {
        "Image": image,
        "ImageDigest": digest,
        "ModelDataUrl": model_data_url,
        "ModelDataETag": str(head.get("ETag") or "").strip('"'),
    }
    metadata: dict[str, str] = {}
    if head.get("VersionId") and head["VersionId"] != "null":
        metadata[VERSION_KEY] = str(head["VersionId"])
    checksum = checksum_of(head)
    if checksum:
        metadata[CHECKSUM_KEY] = checksum
    return container, metadata


class CopyDiffers(ValueError):
    pass


def copy_write_once(s3: Any, source_uri: str, bucket: str, key: str, *, same_bytes_ok: bool = False) -> str:
    """Copy the artifact to a write-once key (If-None-Match: *, which the bucket policy requires there);
    the copy is what the package names. Returns its URI. A key that exists already is refused by S3 (412);
    with `same_bytes_ok` (a retried registration) a copy of the same SHA-256 is taken."""
    src_bucket, src_key = split_s3_uri(source_uri)
    try:
        s3.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": src_bucket, "Key": src_key},
            IfNoneMatch="*",
            ChecksumAlgorithm="SHA256",
        )
    except ClientError as exc:
        if not same_bytes_ok or exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
            raise
        copy, source = sha256_of(s3, bucket, key), sha256_of(s3, src_bucket, src_key)
        if copy != source:
            raise CopyDiffers(
                f"s3://{bucket}/{key} exists with other bytes (SHA-256 {copy}) than {source_uri} ({source}): see "
                "who wrote it (the bucket's access logs), train again under a new execution name"
            ) from None
    return f"s3://{bucket}/{key}"


def sha256_of(s3: Any, bucket: str, key: str) -> str:
    """Base64 SHA-256: S3's full-object checksum, else read."""
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    stored = str(head.get("ChecksumSHA256") or "")
    if stored and "-" not in stored and head.get("ChecksumType") != "COMPOSITE":
        return stored
    digest = hashlib.sha256()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]  # no VersionId: the steps may not s3:GetObjectVersion
    for chunk in iter(lambda: body.read(8 * 1024 * 1024), b""):
        digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()
