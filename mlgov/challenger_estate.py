"""Challenger candidates and simulated recommendation traffic for the sandbox and the tests: packages
registered as the retraining pipeline registers them, and per-minute metrics put into CloudWatch the way
the recommender emits them (CONTRACTS.md, "Recommendation metrics") plus SageMaker's own per variant."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from mlgov.emulator import finish_execution
from mlgov.estate import GROUP, pinned_image
from mlgov_runtime.retraining.registration import RETRAINING_EXECUTION_KEY, encode_evaluation_metrics

RECOMMENDATIONS = "MangaAssist/Recommendations"
SAGEMAKER = "AWS/SageMaker"
BATCH = 500  # PutMetricData takes up to 1,000 datums a call


def registration_event(
    package_arn: str, snapshot: str, event_id: str, account: str, execution: str | None = None
) -> dict[str, Any]:
    """The retraining pipeline's `Model Package Registered` event (CONTRACTS.md) naming this package; anyone
    with events:PutEvents can send one, so the challenger believes none of it."""
    detail: dict[str, Any] = {"model_package_arn": package_arn, "catalog_snapshot_date": snapshot}
    if execution:
        detail["execution"] = execution
    return {
        "id": event_id,
        "account": account,
        "source": "mlgov.retraining",
        "detail-type": "Model Package Registered",
        "detail": detail,
    }


def register_candidate(
    sm: Any,
    region: str,
    *,
    snapshot: str = "2026-11-20",
    eligible: bool = True,
    description: str = "LoRA adapter, challenger candidate",
    group: str = GROUP,
    retraining: tuple[Any, str] | None = None,
) -> str:
    """A PendingManualApproval package with the registration metadata of CONTRACTS.md. With `retraining`
    ((Step Functions client, retraining state machine ARN)) it is registered as the pipeline does: by an
    execution of that machine, recorded in the package and ended SUCCEEDED with the package in its output."""
    recorded: dict[str, str] = {}
    execution = None
    if retraining is not None:
        sfn, machine = retraining
        execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        recorded = {RETRAINING_EXECUTION_KEY: execution}
    answer = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=description,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [
                {
                    **pinned_image(region),
                    "ModelDataUrl": f"s3://manga-training/training-output/lora-{snapshot}/output/model.tar.gz",
                }
            ],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        CustomerMetadataProperties={
            "training_job_arn": f"arn:aws:sagemaker:{region}:123456789012:training-job/lora-{snapshot}",
            "git_commit_sha": "3f2a9c1",
            "training_data_s3_uri": f"s3://manga-training/catalog-snapshots/{snapshot}/training.jsonl",
            "training_data_version": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
            "trained_at_utc": f"{snapshot}T11:30:00Z",
            "catalog_snapshot_date": snapshot,
            **encode_evaluation_metrics({"eval_loss": 0.11, "catalog_coverage_per_1000_sessions": 212}),
            "shadow_ctr_eligible": "true" if eligible else "false",
            "intended_use_case": "recommendation",
            "team": "recsys",
            "approved_by": "pending",
            **recorded,
        },
    )
    arn = str(answer["ModelPackageArn"])
    if execution is not None:
        finish_execution(execution, {"registered": {"model_package_arn": arn, "catalog_snapshot_date": snapshot}})
    return arn


@dataclass(frozen=True)
class VariantTraffic:
    """What one variant's users see and do, per recommendation impression."""

    share: float  # of impressions (the variant's weight)
    ctr: float = 0.08
    cart_rate: float = 0.02
    json_failure_rate: float = 0.004
    language_mismatch_rate: float = 0.01
    error_rate: float = 0.001  # model (5XX) errors per invocation
    latency_ms: float = 180.0
    distinct_title_rate: float = 0.9  # distinct titles per impression


def put_traffic(
    cw: Any,
    endpoint: str,
    variants: dict[str, VariantTraffic],
    start: datetime,
    minutes: int,
    impressions_per_minute: float,
    seed: int = 0,
    counts_table: Any = None,
) -> dict[str, dict[str, int]]:
    """Per-minute datapoints from `start` for `minutes` minutes; returns the totals put per variant. With
    `counts_table` (a DynamoDB client) the recommender's counts go to the product's counts table, as a metric writer
    adds them with challenger.metrics.source table, and only SageMaker's metrics to CloudWatch."""
    rng = np.random.default_rng(seed)
    names = list(variants)
    shares = np.array([variants[v].share for v in names])
    data: list[tuple[str, dict[str, Any]]] = []
    totals = {v: {"impressions": 0, "clicks": 0} for v in names}
    for minute in range(minutes):
        at = start + timedelta(minutes=minute, seconds=30)
        split = rng.multinomial(rng.poisson(impressions_per_minute), shares / shares.sum())
        for name, n in zip(names, split, strict=True):
            t = variants[name]
            n = int(n)
            clicks = int(rng.binomial(n, t.ctr))
            totals[name]["impressions"] += n
            totals[name]["clicks"] += clicks
            dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": name}]
            counts = {
                "RecommendationImpressions": n,
                "RecommendationClicks": clicks,
                "RecommendationCartAdds": int(rng.binomial(clicks, min(1.0, t.cart_rate / t.ctr))),
                "RecommendationJsonFailures": int(rng.binomial(n, t.json_failure_rate)),
                "RecommendationLanguageMismatches": int(rng.binomial(n, t.language_mismatch_rate)),
                "RecommendationDistinctTitles": int(rng.binomial(n, t.distinct_title_rate)),
            }
            if counts_table is not None:
                add_counts(counts_table, endpoint, name, at, counts)
            else:
                data += [
                    (RECOMMENDATIONS, {"MetricName": metric, "Dimensions": dims, "Timestamp": at, "Value": value})
                    for metric, value in counts.items()
                ]
            errors = int(rng.binomial(n, t.error_rate))
            for metric, value in (("Invocations", n), ("Invocation4XXErrors", 0), ("Invocation5XXErrors", errors)):
                data.append((SAGEMAKER, {"MetricName": metric, "Dimensions": dims, "Timestamp": at, "Value": value}))
            if n:
                latency = {"SampleCount": n, "Sum": n * t.latency_ms, "Minimum": t.latency_ms, "Maximum": t.latency_ms}
                data.append(
                    (
                        SAGEMAKER,
                        {"MetricName": "ModelLatency", "Dimensions": dims, "Timestamp": at, "StatisticValues": latency},
                    )
                )
    for namespace in (RECOMMENDATIONS, SAGEMAKER):
        datums = [d for ns, d in data if ns == namespace]
        for i in range(0, len(datums), BATCH):
            cw.put_metric_data(Namespace=namespace, MetricData=datums[i : i + BATCH])
    return totals


# The writers and deployers the default settings name (guardrails.metric_writer_role_arns; deploying_roles:
# deployer_role_arns and role_admin_arns).
DEFAULT_COUNTS_WRITERS = ("arn:*:iam::*:role/mlgov-protected/MlGovRecommenderMetrics*",)
DEFAULT_DEPLOYERS = (
    "arn:*:iam::*:role/cdk-hnb659fds-cfn-exec-role-*",
    "arn:*:iam::*:role/mlgov-protected/MlGovRoleAdmin",
)


def counts_table_policy(
    writers: tuple[str, ...] = DEFAULT_COUNTS_WRITERS, deployers: tuple[str, ...] = DEFAULT_DEPLOYERS
) -> dict[str, Any]:
    """The counts table's seal as stacks/challenger.py puts it (for a table made outside CDK: the demo, tests)."""
    from mlgov_runtime.challenger.counts_policy import CONTROLS_SID, SEAL_CONTROLS, SEALED_WRITES, WRITERS_SID

    def deny(sid: str, actions: tuple[str, ...], exempt: tuple[str, ...]) -> dict[str, Any]:
        return {
            "Sid": sid,
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": list(actions),
            "Resource": "*",
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": list(exempt)}},
        }

    return {
        "Version": "2012-10-17",
        "Statement": [deny(WRITERS_SID, SEALED_WRITES, writers), deny(CONTROLS_SID, SEAL_CONTROLS, deployers)],
    }


def create_counts_table(ddb: Any, writers: tuple[str, ...] = DEFAULT_COUNTS_WRITERS) -> None:
    """The counts table as the stack makes it (keys, on-demand), sealed with the product's policy."""
    from mlgov_runtime.challenger.config import COUNTS_TABLE, MINUTE_KEY, SERIES_KEY

    ddb.create_table(
        TableName=COUNTS_TABLE,
        KeySchema=[{"AttributeName": SERIES_KEY, "KeyType": "HASH"}, {"AttributeName": MINUTE_KEY, "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": SERIES_KEY, "AttributeType": "S"},
            {"AttributeName": MINUTE_KEY, "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    seal_counts_table(ddb, writers)


def seal_counts_table(ddb: Any, writers: tuple[str, ...] = DEFAULT_COUNTS_WRITERS) -> None:
    """Put the product's policy on an existing counts table (the watch believes no unsealed table)."""
    from mlgov_runtime.challenger.config import COUNTS_TABLE

    arn = ddb.describe_table(TableName=COUNTS_TABLE)["Table"]["TableArn"]
    ddb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(counts_table_policy(writers)))


def add_counts(ddb: Any, endpoint: str, variant: str, at: datetime, counts: dict[str, int]) -> None:
    """One minute's counts added to the product's counts table, as the recommender does (docs/challenger.md)."""
    from mlgov_runtime.challenger.config import COUNTS_TABLE, MINUTE_KEY, SERIES_KEY

    names = {f"#m{i}": metric for i, metric in enumerate(counts)}
    values = {f":v{i}": {"N": str(value)} for i, value in enumerate(counts.values())}
    ddb.update_item(
        TableName=COUNTS_TABLE,
        Key={SERIES_KEY: {"S": f"{endpoint}/{variant}"}, MINUTE_KEY: {"N": str(int(at.timestamp()) // 60 * 60)}},
        UpdateExpression="ADD " + ", ".join(f"{n} {v}" for n, v in zip(names, values, strict=True)),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def put_challenger_traffic(
    cw: Any,
    challenger: dict[str, Any],
    t0: datetime,
    minutes: int,
    per_minute: float,
    seed: int,
    counts_table: Any = None,
    **rates: float,
) -> dict[str, dict[str, int]]:
    """put_traffic on an experiment's endpoint from a minute after t0 (when its challenger went live), 90/10:
    production as usual, the challenger with these rates (VariantTraffic fields, e.g. ctr=0.056)."""
    variants = {
        challenger["production_variant"]: VariantTraffic(0.9),
        challenger["challenger_variant"]: VariantTraffic(0.1, **rates),
    }
    return put_traffic(
        cw,
        challenger["endpoint_name"],
        variants,
        t0 + timedelta(minutes=1),
        minutes,
        per_minute,
        seed=seed,
        counts_table=counts_table,
    )


def put_retention(cw: Any, endpoint: str, start: datetime, days: int, value: float) -> None:
    """A daily UserRetention7d datapoint per endpoint (the 7-day review's metric)."""
    datums = [
        {
            "MetricName": "UserRetention7d",
            "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
            "Timestamp": start + timedelta(days=day, hours=12),
            "Value": value,
        }
        for day in range(days)
    ]
    cw.put_metric_data(Namespace=RECOMMENDATIONS, MetricData=datums)


IMAGE_MANIFEST = json.dumps(
    {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "layers": []}
)


def seed_artifacts(client: Any, group: str = GROUP) -> list[str]:
    """Put every package's model artifact (S3) and image (ECR, in the image's own registry account, reached as
    Organizations' OrganizationAccountAccessRole) into the emulator, so a rollback's checks find them.
    `client(service, **kwargs)` makes a client; returns the URIs seeded."""
    from mlgov_runtime.challenger.endpoint_rollout import ECR_IMAGE

    sm, s3 = client("sagemaker"), client("s3")
    seeded: list[str] = []
    for page in sm.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
        for summary in page["ModelPackageSummaryList"]:
            package = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            for container in package["InferenceSpecification"]["Containers"]:
                url = container.get("ModelDataUrl")
                if url and url not in seeded:
                    bucket, key = url[5:].split("/", 1)
                    try:
                        s3.head_bucket(Bucket=bucket)
                    except Exception:
                        s3.create_bucket(Bucket=bucket)
                    s3.put_object(Bucket=bucket, Key=key, Body=b"model.tar.gz")
                    seeded.append(url)
                match = ECR_IMAGE.match(container.get("Image", ""))
                if match and container["Image"] not in seeded:
                    creds = client("sts").assume_role(
                        RoleArn=f"arn:aws:iam::{match['registry']}:role/OrganizationAccountAccessRole",
                        RoleSessionName="mlgov-sandbox",
                    )["Credentials"]
                    ecr = client(
                        "ecr",
                        aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"],
                    )
                    with contextlib.suppress(ecr.exceptions.RepositoryAlreadyExistsException):
                        ecr.create_repository(repositoryName=match["repository"])
                    ecr.put_image(
                        repositoryName=match["repository"], imageManifest=IMAGE_MANIFEST, imageTag=match["tag"]
                    )
                    seeded.append(container["Image"])
    return seeded
