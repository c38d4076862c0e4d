"""Pins, not names: a package pins its bytes, and the audit compares what is stored now with the pin.

The pin lives where the registry keeps it: the container's native `ModelDataETag` and `ImageDigest`,
and (for what the API has no field for) the object version and checksum in CustomerMetadataProperties.
Pure logic; the reader of S3 heads and ECR tags is injected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# The write-once prefix approved artifacts live under (the snapshot bucket's policy; the audit may head them).
APPROVED_PREFIX = "approved-models"
# CustomerMetadataProperties keys registration writes beside the native pins.
VERSION_KEY = "model_data_version_id"
CHECKSUM_KEY = "model_data_checksum"  # "<ALGORITHM>:<base64>", e.g. "SHA256:..."
# Provenance the audit's evidence names (issue 27 item 8), when the package records it.
PROVENANCE_KEYS = ("training_job_arn", "training_data_s3_uri", "training_data_version", "catalog_snapshot_date")

CHECKSUM_ALGORITHMS = ("CRC64NVME", "CRC32", "CRC32C", "SHA1", "SHA256")
ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repo>[a-z0-9._/-]+?)(?::(?P<tag>[\w.-]{1,128}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)

# Environment variables that point a serving container at another model or code than its artifact.
REDIRECTING_ENV = frozenset(
    {
        "HF_MODEL_ID",
        "HF_MODEL_REVISION",
        "HF_MODEL_QUANTIZE",
        "MODEL_ID",
        "OPTION_MODEL_ID",
        "LORA_ADAPTERS",
        "SAGEMAKER_SUBMIT_DIRECTORY",
        "SAGEMAKER_PROGRAM",
        "SM_MODEL_DIR",
    }
)
# Loader-option families: the vLLM DLC makes each SM_VLLM_* a `vllm serve` flag, LMI reads OPTION_*, TGI HF_*.
REDIRECTING_PREFIXES = ("SM_VLLM_", "OPTION_", "HF_")
WEIGHT_SOURCE_ENV = frozenset(
    {"HF_MODEL_ID", "MODEL_ID", "OPTION_MODEL_ID", "SM_VLLM_MODEL", "LORA_ADAPTERS", "SM_VLLM_LORA_MODULES"}
)
REMOTE_VALUE = ("s3://", "https://", "http://")


def redirects(key: str, value: str) -> bool:
    upper = key.upper()
    return upper in REDIRECTING_ENV or upper.startswith(REDIRECTING_PREFIXES) or value.lower().startswith(REMOTE_VALUE)


def loads_weights_from_outside(key: str, value: str) -> bool:
    """A remote URI, or a weight source naming anything but container paths (a hub id)."""
    if value.strip().lower().startswith(REMOTE_VALUE):
        return True
    if key.upper() not in WEIGHT_SOURCE_ENV:
        return False
    tokens = [t.rpartition("=")[2] for t in re.split(r"[\s,]+", value.strip()) if t]
    return any(not t.startswith("/") for t in tokens)


class PinMissing(Exception):
    """The pinned object or image tag does not exist any more."""


class PinUnreadable(Exception):
    """The store could not be read (access denied, throttled): the pin is unverified, never assumed good."""


class PinReader(Protocol):
    def head_object(self, uri: str) -> Mapping[str, Any]:
        """HeadObject (checksums enabled) of s3://bucket/key: ETag, VersionId, Checksum*; raises PinMissing
        or PinUnreadable."""
        ...

    def image_digest(self, image: str) -> str:
        """The digest an ECR image tag points at now; raises PinMissing or PinUnreadable."""
        ...


def _etag(value: Any) -> str:
    return str(value or "").strip('"')


def image_has_digest(image: str, pinned_digest: str | None) -> bool:
    return bool(pinned_digest) or "@sha256:" in image


def image_tag(image: str) -> str | None:
    """The tag of an ECR image URI that names one and no digest; None otherwise."""
    match = ECR_IMAGE.match(image)
    if not match or match["digest"]:
        return None
    return match["tag"] or "latest"


def checksum_of(head: Mapping[str, Any]) -> str | None:
    for algorithm in CHECKSUM_ALGORITHMS:
        value = head.get(f"Checksum{algorithm}")
        if value:
            return f"{algorithm}:{value}"
    return None


def _pinned_checksum_of(head: Mapping[str, Any], pinned: str) -> str | None:
    """The answer's checksum in the pinned algorithm; None when it has none in that algorithm."""
    algorithm, _, _ = pinned.partition(":")
    value = head.get(f"Checksum{algorithm.upper()}") if algorithm.upper() in CHECKSUM_ALGORITHMS else None
    return f"{algorithm}:{value}" if value else None


@dataclass(frozen=True)
class PinProblem:
    kind: str  # mismatch | unpinned_image | unpinned_model_data | unpinned_artifact | unverified
    reason: str


def fix_for(package_arn: str) -> str:
    # Read once per package, not per endpoint: the endpoint is named by the finding's next step, the group here.
    group = package_arn.split(":model-package/", 1)[1].split("/", 1)[0] if ":model-package/" in package_arn else ""
    rollback = (
        f"roll each endpoint serving it back with mlgov rollback --group {group} (the next step names the endpoint)"
        if group
        else "roll each endpoint serving it back with mlgov rollback (the next step names the endpoint and group)"
    )
    return (
        f"Fix: restore the approved bytes from the pinned object version (or re-register them with mlgov register "
        f"--write-once-bucket naming the stack's SnapshotBucket, which copies and pins them, and have an "
        f"approver approve the package), then {rollback}; the package is {package_arn}."
    )


def check_container_pins(
    container: Mapping[str, Any], metadata: Mapping[str, Any], reader: PinReader | None, package_arn: str
) -> list[PinProblem]:
    """What is wrong with one package container's pins; an empty list when every pin holds."""
    problems: list[PinProblem] = []
    image = str(container.get("Image") or "")
    digest = container.get("ImageDigest")
    if image and not image_has_digest(image, digest):
        problems.append(
            PinProblem(
                "unpinned_image",
                f"Package {package_arn} names image {image} by a mutable tag with no ImageDigest: pushing the tag "
                "again changes what serves. Fix: register the package again with `mlgov register` (it resolves "
                "the tag to its digest), and make the repository's tags immutable "
                "(`aws ecr put-image-tag-mutability --image-tag-mutability IMMUTABLE`).",
            )
        )
    # ModelDataSource/AdditionalModelDataSources: no pin the audit reads covers them (a prefix has no one ETag).
    sources = [container.get("ModelDataSource") or {}, *(container.get("AdditionalModelDataSources") or [])]
    uris = [str(u) for s in sources if (u := ((s or {}).get("S3DataSource") or {}).get("S3Uri"))]
    if uris:
        problems.append(
            PinProblem(
                "unpinned_model_data",
                f"Package {package_arn} loads model data from {', '.join(uris)} (ModelDataSource or "
                "AdditionalModelDataSources), which no pin covers: files written there after the approval would "
                "serve unseen. Fix: package the model as one model.tar.gz, register it with mlgov register "
                "--write-once-bucket naming the stack's SnapshotBucket (it copies and pins it as ModelDataUrl), "
                "have an approver approve it and deploy that version.",
            )
        )
    environment = container.get("Environment") or {}
    outside = sorted(f"{k}={v}" for k, v in environment.items() if loads_weights_from_outside(str(k), str(v)))
    if outside:
        problems.append(
            PinProblem(
                "unpinned_model_data",
                f"Package {package_arn} loads weights or code from outside its artifact ({', '.join(outside)}): "
                "whoever writes there changes what serves, unpinned. Fix: package them as one model.tar.gz, "
                "register it with mlgov register --write-once-bucket (no such variable), approve and deploy it.",
            )
        )
    if reader is None:
        return problems
    tag = image_tag(image) if digest else None
    if tag:
        try:
            now = reader.image_digest(image)
            if now != digest:
                problems.append(
                    PinProblem(
                        "mismatch",
                        f"Image tag {image} now points at {now}, not the pinned {digest}: a new instance or "
                        f"deployment of this package pulls other bytes. {fix_for(package_arn)}",
                    )
                )
        except PinMissing:
            problems.append(
                PinProblem("mismatch", f"Image tag {image} no longer exists in ECR. {fix_for(package_arn)}")
            )
        except PinUnreadable as exc:
            problems.append(PinProblem("unverified", f"Image tag {image} could not be resolved ({exc})."))
    uri = str(container.get("ModelDataUrl") or "")
    pinned_etag = _etag(container.get("ModelDataETag"))
    pinned_version = str(metadata.get(VERSION_KEY) or "")
    pinned_checksum = str(metadata.get(CHECKSUM_KEY) or "")
    if not uri:
        return problems
    if not (pinned_etag or pinned_version or pinned_checksum):
        # Nothing to compare with: an overwrite under the same key would read as the approved bytes.
        problems.append(
            PinProblem(
                "unpinned_artifact",
                f"Package {package_arn} names model data {uri} with no pin (no ModelDataETag, {VERSION_KEY} or "
                f"{CHECKSUM_KEY}): bytes written under the same key later would serve unseen. Fix: register the "
                "package again with mlgov register --write-once-bucket naming the stack's SnapshotBucket "
                f"(it copies the artifact under the write-once {APPROVED_PREFIX}/ prefix and pins the copy) "
                "and have an approver approve it.",
            )
        )
        return problems
    try:
        head = reader.head_object(uri)
    except PinMissing:
        problems.append(PinProblem("mismatch", f"Pinned model data {uri} no longer exists. {fix_for(package_arn)}"))
        return problems
    except PinUnreadable as exc:
        problems.append(
            PinProblem("unverified", f"Pinned model data {uri} could not be read ({exc}); its pin is unverified.")
        )
        return problems
    found: list[str] = []
    if pinned_etag and _etag(head.get("ETag")) != pinned_etag:
        found.append(f"ETag {_etag(head.get('ETag'))} (pinned {pinned_etag})")
    # An answer without the pinned field is no match: versioning suspended or the object re-created without
    # a checksum both mean the pinned bytes can no longer be shown to be what is stored.
    if pinned_version and str(head.get("VersionId") or "") != pinned_version:
        found.append(f"version {head.get('VersionId') or 'none'} (pinned {pinned_version})")
    if pinned_checksum and _pinned_checksum_of(head, pinned_checksum) != pinned_checksum:
        found.append(f"checksum {checksum_of(head) or 'none'} (pinned {pinned_checksum})")
    if found:
        problems.append(
            PinProblem(
                "mismatch",
                f"Model data {uri} was overwritten under the same key: it now has {', '.join(found)}; SageMaker "
                f"loads the current object on every new instance. {fix_for(package_arn)}",
            )
        )
    return problems


def provenance(metadata: Mapping[str, Any]) -> dict[str, str]:
    """The training job and data snapshot behind a package's artifact, as far as the package records them."""
    return {k: str(metadata[k]) for k in PROVENANCE_KEYS if metadata.get(k)}
