"""Scene: the audit handler on real-shaped EventBridge events, and the findings it publishes."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from typing import Any

from mlgov.sandbox import ACCOUNT, FakeContext, emf_metric, handler_environment, load_event
from mlgov.scenes import Stage
from mlgov_runtime.core.env import reset_all


def play(stage: Stage) -> None:
    os.environ.update(handler_environment(stage.url, stage.resources, ACCOUNT))
    reset_all()
    from mlgov_runtime.lineage_audit import handler as endpoint_audit

    print("\n== real-time audit: the audit handler on real-shaped EventBridge events")
    header = f"   {'EVENT':<24} {'ENDPOINT':<30} {'VERDICT':<18} {'METRIC':<6} PUBLISHED"
    print(header)
    events = [
        ("CreateEndpoint", load_event("cloudtrail_create_endpoint.json", endpoint=name))
        for name in stage.estate.expected
    ]
    duplicate = events[1][1]
    events.append(("CreateEndpoint (again)", duplicate))
    events.append(("InService", load_event("endpoint_state_change_in_service.json", endpoint="manga-recommender-gone")))
    events.append(("CreateEndpoint denied", load_event("cloudtrail_create_endpoint_denied.json")))
    for label, event in events:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            result = endpoint_audit.handler(event, FakeContext())
        metric = emf_metric(out.getvalue(), "UnregisteredEndpointDetected")
        if result.get("status") != "audited":
            print(f"   {label:<24} {'-':<30} {result['status'].upper():<18} {'-':<6} {result.get('reason', '')}")
            continue
        for item in result["results"]:
            verdict = item.get("verdict", item["outcome"].upper())
            expected = stage.estate.expected.get(item["endpoint_name"])
            if expected and verdict != expected:
                stage.mismatches += 1
            published = ", ".join(f[:12] for f in item["published"]) or "(nothing new)"
            if metric is None:  # the idempotency layer answered from its record; nothing ran
                published = f"replayed: {published}, nothing republished"
            metric_text = "-" if metric is None else f"{metric:g}"
            print(f"   {label:<24} {item['endpoint_name']:<30} {verdict:<18} {metric_text:<6} {published}")

    messages = []
    while True:
        batch = stage.sqs.receive_message(QueueUrl=stage.resources["FINDINGS_QUEUE_URL"], MaxNumberOfMessages=10)
        if not batch.get("Messages"):
            break
        for message in batch["Messages"]:
            messages.append(json.loads(message["Body"]))
            stage.sqs.delete_message(
                QueueUrl=stage.resources["FINDINGS_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"]
            )
    stored = stage.ddb.scan(TableName=stage.resources["FINDINGS_TABLE_NAME"], Select="COUNT")["Count"]
    print(
        f"\n== findings channel: {len(messages)} findings published, {stored} stored "
        "(the duplicate delivery added none)"
    )
    for finding in messages:
        print(f"   [{finding['severity']:<6}] {finding['finding_id'][:12]}  {finding['title']}")
    stage.findings = messages
    show_pins(stage)


def show_pins(stage: Stage) -> None:
    """Pins, not names: `mlgov register` pins the bytes; an overwrite under the same key is caught."""
    from mlgov.cli import main as cli
    from mlgov.emulator import push_image
    from mlgov.estate import GROUP

    print("\n== pins: an approved artifact overwritten under the same key (SageMaker re-reads it on scale-out)")
    s3, ecr, sm = (stage.session.client(s, endpoint_url=stage.url) for s in ("s3", "ecr", "sagemaker"))
    bucket, key = "manga-approved-models", "approved-models/manga-recommender/lora-2026-11-18/model.tar.gz"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key=key, Body=b"approved LoRA adapter", ChecksumAlgorithm="SHA256")
    image, _ = push_image(ecr, "manga-tgi", "3.0.1")
    meta = {
        "training_job_arn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/lora-2026-11-18",
        "git_commit_sha": "3f2a9c1",
        "training_data_s3_uri": "s3://manga-training/catalog-snapshots/2026-11-18/training.jsonl",
        "training_data_version": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        "trained_at_utc": "2026-11-18T11:30:00Z",
        "catalog_snapshot_date": "2026-11-18",
        "evaluation_metrics": {"eval_loss": 0.11},
        "shadow_ctr_eligible": True,
        "intended_use_case": "recommendation",
        "team": "recsys",
        "approved_by": "approver@example.com",
    }
    common = ["--endpoint-url", stage.url, "--region", "us-east-1", "--format", "json"]
    with _tempfile(json.dumps(meta)) as path:
        registered = _cli_json(
            cli,
            [
                "register",
                "--group",
                GROUP,
                "--metadata-file",
                path,
                "--model-data-url",
                f"s3://{bucket}/{key}",
                "--image",
                image,
                *common,
            ],
        )
    arn = registered["model_package_arn"]
    pins = registered["pins"]
    print(
        f"   mlgov register -> {'/'.join(arn.rsplit('/', 2)[-2:])}, pinned ETag {pins['model_data_etag']}, "
        f"version {pins.get('model_data_version_id', '-')[:12]}..., image {pins['image_digest'][:19]}..."
    )
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    name = "manga-recommender-pinned"
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution",
        PrimaryContainer={"ModelPackageName": arn},
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": name,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.g4dn.xlarge",
    }
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    try:
        for step in ("as approved", "after a PutObject under the same key"):
            if step != "as approved":
                s3.put_object(Bucket=bucket, Key=key, Body=b"poisoned LoRA adapter")
            [row] = _cli_json(cli, ["audit", "--endpoint", name, *common])["endpoints"]
            if (step == "as approved") != (row["verdict"] == "COMPLIANT"):
                stage.mismatches += 1
            print(f"   mlgov audit {step:<36} -> {row['verdict']}")
            training = row["variants"][0]["containers"][0].get("training", {})
            if step == "as approved":
                print(
                    f"      evidence: trained by {training.get('training_job_arn', '?').rsplit('/', 1)[-1]} "
                    f"on {training.get('training_data_s3_uri', '?')}"
                )
            else:
                what, _, fix = row["reasons"][-1].partition(" Fix: ")
                print(f"      {what.split(': ', 1)[-1]}")
                print(f"      Fix: {fix}")
    finally:
        # Leaves the estate the later scenes expect: the endpoint gone, the tampered package withdrawn.
        sm.delete_endpoint(EndpointName=name)
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")


def _cli_json(cli: Any, args: list[str]) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli(args)
    data: dict[str, Any] = json.loads(out.getvalue())
    return data


@contextlib.contextmanager
def _tempfile(text: str) -> Iterator[str]:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        handle.write(text)
        handle.flush()
        yield handle.name
