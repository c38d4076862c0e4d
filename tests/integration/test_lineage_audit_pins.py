"""Pins, not names (issue 22 items 1, 2; issue 27 item 8): a package registered with `mlgov register` pins
its bytes; overwriting the object under the same key, or pushing the image tag again, is caught by
`mlgov audit` on the next run, under the emulator (versioned bucket, ECR)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlgov.cli import main
from mlgov.emulator import push_image

REGION = "us-east-1"
BUCKET = "mlgov-models"
KEY = "approved-models/manga-recommender/lora-7/model.tar.gz"
GROUP = "manga-recommender"
JOB = "arn:aws:sagemaker:us-east-1:123456789012:training-job/lora-7"
META = {
    "training_job_arn": JOB,
    "git_commit_sha": "3f2a9c1",
    "training_data_s3_uri": "s3://mlgov-models/catalog-snapshots/2026-11-18/training.jsonl",
    "training_data_version": "v7",
    "trained_at_utc": "2026-11-20T04:00:00Z",
    "catalog_snapshot_date": "2026-11-18",
    "evaluation_metrics": {"eval_loss": 0.11},
    "shadow_ctr_eligible": True,
    "intended_use_case": "recommendation",
    "team": "recsys",
    "approved_by": "approver",
}


@dataclass
class Lab:
    sm: Any
    s3: Any
    ecr: Any
    image: str
    config: Path
    tmp: Path

    def register(self, image: str | None = None, capsys: pytest.CaptureFixture[str] | None = None) -> str:
        path = self.tmp / "meta.json"
        path.write_text(json.dumps(META))
        args = ["register", "--group", GROUP, "--metadata-file", str(path), "--model-data-url", f"s3://{BUCKET}/{KEY}"]
        assert main([*args, "--image", image or self.image, "--region", REGION, "--format", "json"]) == 0
        assert capsys is not None
        arn = str(json.loads(capsys.readouterr().out)["model_package_arn"])
        self.sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
        return arn

    def deploy(self, name: str, package_arn: str) -> None:
        self.sm.create_model(
            ModelName=name,
            ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerExecution",
            PrimaryContainer={"ModelPackageName": package_arn},
        )
        variant = {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1}
        self.sm.create_endpoint_config(
            EndpointConfigName=name, ProductionVariants=[{**variant, "InstanceType": "ml.g4dn.xlarge"}]
        )
        self.sm.create_endpoint(EndpointName=name, EndpointConfigName=name)

    def audit(self, name: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
        code = main(["audit", "--endpoint", name, "--region", REGION, "--format", "json", "--config", str(self.config)])
        [row] = json.loads(capsys.readouterr().out)["endpoints"]
        return code, row


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        sm, s3, ecr = (boto3.client(s, region_name=REGION) for s in ("sagemaker", "s3", "ecr"))
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"approved adapter bytes", ChecksumAlgorithm="SHA256")
        image, _ = push_image(ecr, "tgi-inference", "3.0.1")
        sm.create_model_package_group(ModelPackageGroupName=GROUP)
        config = tmp_path / "cdk.json"
        config.write_text(json.dumps({"context": {"mlgov": {}}}))
        yield Lab(sm, s3, ecr, image, config, tmp_path)


def test_an_artifact_overwritten_under_the_same_key_is_an_artifact_mismatch_with_the_fix(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = lab.register(capsys=capsys)
    lab.deploy("manga-recommender-prod", arn)
    code, row = lab.audit("manga-recommender-prod", capsys)
    assert (code, row["verdict"]) == (0, "COMPLIANT"), row["reasons"]
    # Evidence names the training job and data snapshot that produced what serves (issue 27 item 8).
    training = row["variants"][0]["containers"][0]["training"]
    assert training["training_job_arn"] == JOB and training["training_data_version"] == "v7"

    # A training job (or anyone with s3:PutObject there) overwrites the approved model under the same key.
    lab.s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"poisoned adapter bytes")
    code, row = lab.audit("manga-recommender-prod", capsys)
    assert (code, row["verdict"]) == (3, "ARTIFACT_MISMATCH")
    reason = " ".join(row["reasons"])
    assert "overwritten under the same key" in reason and "pinned" in reason
    assert "mlgov rollback" in reason  # the fix


def test_an_object_replaced_with_identical_bytes_is_still_caught_by_its_version(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = lab.register(capsys=capsys)
    lab.deploy("ep", arn)
    lab.s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"approved adapter bytes", ChecksumAlgorithm="SHA256")
    _, row = lab.audit("ep", capsys)
    assert row["verdict"] == "ARTIFACT_MISMATCH" and "version" in " ".join(row["reasons"])


def test_an_image_tag_pushed_again_is_an_artifact_mismatch(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    arn = lab.register(capsys=capsys)
    lab.deploy("ep", arn)
    push_image(lab.ecr, "tgi-inference", "3.0.1", layer="rebuilt")  # the tag now names other bytes
    code, row = lab.audit("ep", capsys)
    assert (code, row["verdict"]) == (3, "ARTIFACT_MISMATCH")
    assert "now points at sha256:" in " ".join(row["reasons"])


def test_a_package_whose_image_is_a_tag_without_a_digest_is_unpinned_with_the_fix(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    # Registered by hand, not through `mlgov register`: a tag and no ImageDigest.
    arn = lab.sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": lab.image, "ModelDataUrl": f"s3://{BUCKET}/{KEY}"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    lab.deploy("ep", arn)
    code, row = lab.audit("ep", capsys)
    assert (code, row["verdict"]) == (3, "UNPINNED_IMAGE")
    reason = " ".join(row["reasons"])
    assert "no ImageDigest" in reason and "mlgov register" in reason and "IMMUTABLE" in reason


def test_a_pinned_object_that_was_deleted_is_a_mismatch_and_an_unreadable_one_is_never_compliant(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = lab.register(capsys=capsys)
    lab.deploy("ep", arn)
    versions = lab.s3.list_object_versions(Bucket=BUCKET, Prefix=KEY)["Versions"]
    for version in versions:
        lab.s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=version["VersionId"])
    _, row = lab.audit("ep", capsys)
    assert row["verdict"] == "ARTIFACT_MISMATCH" and "no longer exists" in " ".join(row["reasons"])
    lab.s3.delete_bucket(Bucket=BUCKET)  # the store itself is gone: unverified, not assumed good
    code, row = lab.audit("ep", capsys)
    assert code == 3 and row["verdict"] != "COMPLIANT"


def _package(lab: Lab, **container: Any) -> str:
    arn: str = lab.sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": lab.image, "ModelDataUrl": f"s3://{BUCKET}/{KEY}", **container}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    return arn


def test_a_package_with_no_pins_at_all_is_reported_unpinned_with_the_fix(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = lab.ecr.describe_images(repositoryName="tgi-inference")["imageDetails"][0]["imageDigest"]
    lab.deploy("ep", _package(lab, ImageDigest=digest))
    code, row = lab.audit("ep", capsys)
    container = row["variants"][0]["containers"][0]
    # The verdict keeps its meaning (nothing differs yet); the evidence says nothing could be compared.
    assert (code, row["verdict"]) == (0, "COMPLIANT")
    assert container["pins"] == "unpinned"
    assert "no pin" in container["pins_reason"] and "mlgov register" in container["pins_reason"]


def _source(uri: str, data_type: str = "S3Prefix") -> dict[str, Any]:
    return {"S3DataSource": {"S3Uri": uri, "S3DataType": data_type, "CompressionType": "None"}}


@pytest.mark.parametrize(
    ("container", "named"),
    [
        # Uncompressed model data under a prefix: files written there after the approval serve unseen.
        ({"ModelDataUrl": None, "ModelDataSource": _source(f"s3://{BUCKET}/uncompressed/lora-7/")}, "uncompressed/"),
        # A single object is no better: the product reads no pin for a ModelDataSource.
        ({"ModelDataUrl": None, "ModelDataSource": _source(f"s3://{BUCKET}/{KEY}", "S3Object")}, KEY),
        # A pinned ModelDataUrl beside an adapter loaded from elsewhere: the adapter is unpinned.
        (
            {"AdditionalModelDataSources": [{"ChannelName": "adapter", **_source(f"s3://{BUCKET}/adapters/")}]},
            "adapters/",
        ),
    ],
)
def test_model_data_given_as_a_data_source_is_never_compliant_and_names_the_fix(
    lab: Lab, capsys: pytest.CaptureFixture[str], container: dict[str, Any], named: str
) -> None:
    digest = lab.ecr.describe_images(repositoryName="tgi-inference")["imageDetails"][0]["imageDigest"]
    etag = lab.s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"].strip('"')
    spec = {"Image": lab.image, "ImageDigest": digest, "ModelDataUrl": f"s3://{BUCKET}/{KEY}", "ModelDataETag": etag}
    spec = {k: v for k, v in {**spec, **container}.items() if v is not None}
    if "ModelDataUrl" not in spec:  # a ModelDataSource takes the URL's place, and its ETag with it
        spec.pop("ModelDataETag")
    arn = lab.sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [spec],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    lab.deploy("ep", arn)
    code, row = lab.audit("ep", capsys)
    assert (code, row["verdict"]) == (3, "UNPINNED_MODEL_DATA"), row
    reason = " ".join(row["reasons"])
    assert named in reason and "no pin covers" in reason and "mlgov register --write-once-bucket" in reason


class _Heads:
    """The PinReader seam with fixed HeadObject answers (S3 answers that moto does not produce)."""

    def __init__(self, head: dict[str, Any]) -> None:
        self.head = head

    def head_object(self, uri: str) -> dict[str, Any]:
        return self.head

    def image_digest(self, image: str) -> str:
        raise AssertionError("not asked")


@pytest.mark.parametrize(
    ("metadata", "head", "expected"),
    [
        # Versioning suspended (or the object re-created in an unversioned bucket): no VersionId in the answer.
        ({"model_data_version_id": "v1"}, {"ETag": '"e"'}, "version none (pinned v1)"),
        # The object re-written with another algorithm: the pinned checksum cannot be shown to hold.
        ({"model_data_checksum": "SHA256:abc="}, {"ETag": '"e"', "ChecksumCRC64NVME": "xyz="}, "checksum CRC64NVME"),
        ({"model_data_checksum": "SHA256:abc="}, {"ETag": '"e"'}, "checksum none"),
    ],
)
def test_a_head_answer_lacking_the_pinned_field_is_a_mismatch(
    metadata: dict[str, str], head: dict[str, Any], expected: str
) -> None:
    from mlgov_runtime.lineage_audit.pins import check_container_pins

    container = {"Image": "x@sha256:" + "0" * 64, "ModelDataUrl": f"s3://{BUCKET}/{KEY}", "ModelDataETag": "e"}
    [problem] = check_container_pins(container, metadata, _Heads(head), "arn:pkg")
    assert problem.kind == "mismatch" and expected in problem.reason
    # The same pins against a matching answer hold.
    good = {"ETag": '"e"', "VersionId": "v1", "ChecksumSHA256": "abc="}
    assert check_container_pins(container, metadata, _Heads(good), "arn:pkg") == []


def test_register_copies_the_artifact_under_the_write_once_prefix_and_never_overwrites_a_copy(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    source = "training-output/lora-8/output/model.tar.gz"
    lab.s3.put_object(Bucket=BUCKET, Key=source, Body=b"lora-8 weights")
    path = lab.tmp / "meta.json"
    path.write_text(json.dumps(META))
    args = ["register", "--group", GROUP, "--metadata-file", str(path), "--model-data-url", f"s3://{BUCKET}/{source}"]
    args += ["--image", lab.image, "--region", REGION, "--format", "json", "--write-once-bucket", BUCKET]
    assert main([*args, "--copy-name", "lora-8"]) == 0
    out = json.loads(capsys.readouterr().out)
    copy = f"approved-models/{GROUP}/lora-8/model.tar.gz"
    assert out["model_data_url"] == f"s3://{BUCKET}/{copy}"
    package = lab.sm.describe_model_package(ModelPackageName=out["model_package_arn"])
    [container] = package["InferenceSpecification"]["Containers"]
    head = lab.s3.head_object(Bucket=BUCKET, Key=copy)
    assert container["ModelDataUrl"] == out["model_data_url"]  # the package names the copy, pinned as it is
    assert container["ModelDataETag"] == head["ETag"].strip('"') == out["pins"]["model_data_etag"]
    assert out["pins"]["model_data_version_id"] == head["VersionId"]
    # The same copy name again: S3 refuses the key (If-None-Match), nothing is registered or overwritten.
    lab.s3.put_object(Bucket=BUCKET, Key=source, Body=b"other weights")
    groups_before = lab.sm.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    assert main([*args, "--copy-name", "lora-8"]) == 2
    assert "exists already and is never overwritten" in capsys.readouterr().err
    assert lab.s3.get_object(Bucket=BUCKET, Key=copy)["Body"].read() == b"lora-8 weights"
    assert lab.sm.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"] == groups_before
    assert main([*args, "--copy-name", "../x"]) == 2
    assert "--copy-name '../x'" in capsys.readouterr().err
