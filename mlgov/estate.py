"""A realistic SageMaker estate for the manga-recommendation assistant, seeded into an emulator.

Used by `make demo` (moto server) and the integration tests (mock_aws): one definition of what
each endpoint is and which verdict the audit must reach for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

GROUP = "manga-recommender"
ROLE_ARN = "arn:aws:iam::{account}:role/SageMakerExecution"
TGI_IMAGE = "763104351884.dkr.ecr.{region}.amazonaws.com/huggingface-pytorch-tgi-inference:2.4.0-tgi3.0.1-gpu-py311"
RAW_ARTIFACT = "s3://manga-training/lora-jobs/lora-2026-05-02-1130/output/model.tar.gz"
# What registration records for that image: its digest. It is the digest the emulator gives the image the
# sandbox pushes under that tag (challenger_estate.seed_artifacts: a manifest without layers), so the tag and
# the digest agree there as they would in ECR.
TGI_DIGEST = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
TGI_PINNED = TGI_IMAGE + "@" + TGI_DIGEST


def pinned_image(region: str) -> dict[str, str]:
    """A package container's image fields as registration pins them."""
    return {"Image": TGI_PINNED.format(region=region), "ImageDigest": TGI_DIGEST}


def approved_package(sm: Any, region: str, metadata: dict[str, str] | None = None) -> str:
    """An Approved package in GROUP whose image is pinned by digest; its ARN."""
    response = sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [pinned_image(region)],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        **({"CustomerMetadataProperties": metadata} if metadata else {}),
    )
    return str(response["ModelPackageArn"])


@dataclass
class Estate:
    account_id: str
    region: str
    packages: dict[str, str] = field(default_factory=dict)  # label -> ARN
    expected: dict[str, str] = field(default_factory=dict)  # endpoint -> verdict
    descriptions: dict[str, str] = field(default_factory=dict)


def _package(sm: Any, region: str, status: str, snapshot: str) -> str:
    response = sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelPackageDescription=f"LoRA adapter on catalog snapshot {snapshot}",
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [{**pinned_image(region), "ModelDataUrl": RAW_ARTIFACT}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        CustomerMetadataProperties={"catalog_snapshot_date": snapshot, "team": "recsys"},
    )
    return str(response["ModelPackageArn"])


def _model(sm: Any, name: str, account: str, *containers: dict[str, str]) -> None:
    kwargs: dict[str, Any] = {"ModelName": name, "ExecutionRoleArn": ROLE_ARN.format(account=account)}
    if len(containers) == 1:
        kwargs["PrimaryContainer"] = containers[0]
    else:
        kwargs["Containers"] = list(containers)
    sm.create_model(**kwargs)


def _endpoint(sm: Any, name: str, variants: list[dict[str, Any]], tags: dict[str, str] | None = None) -> None:
    sm.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=variants)
    sm.create_endpoint(
        EndpointName=name,
        EndpointConfigName=f"{name}-config",
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )


def _variant(model: str, name: str = "AllTraffic", weight: float = 1.0) -> dict[str, Any]:
    return {
        "VariantName": name,
        "ModelName": model,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.g4dn.2xlarge",
        "InitialVariantWeight": weight,
    }


def seed_estate(sm: Any, account_id: str, region: str) -> Estate:
    estate = Estate(account_id, region)
    sm.create_model_package_group(
        ModelPackageGroupName=GROUP, ModelPackageGroupDescription="MangaAssist recommendation LoRA adapters"
    )
    for label, status, snapshot in (
        ("v1", "Approved", "2026-05-02"),
        ("v2", "Approved", "2026-10-28"),
        ("v3", "PendingManualApproval", "2026-11-18"),
        ("v4", "Rejected", "2026-11-04"),
    ):
        estate.packages[label] = _package(sm, region, status, snapshot)
    image = TGI_IMAGE.format(region=region)
    _model(sm, "manga-rec-v2", account_id, {"ModelPackageName": estate.packages["v2"]})
    _model(sm, "manga-rec-v1", account_id, {"ModelPackageName": estate.packages["v1"]})
    _model(sm, "manga-rec-v3", account_id, {"ModelPackageName": estate.packages["v3"]})
    _model(sm, "manga-rec-v4", account_id, {"ModelPackageName": estate.packages["v4"]})
    _model(sm, "manga-rec-raw", account_id, {"Image": image, "ModelDataUrl": RAW_ARTIFACT})
    _model(sm, "manga-rec-doomed", account_id, {"ModelPackageName": estate.packages["v2"]})

    def add(
        name: str, verdict: str, what: str, variants: list[dict[str, Any]], tags: dict[str, str] | None = None
    ) -> None:
        _endpoint(sm, name, variants, tags)
        estate.expected[name] = verdict
        estate.descriptions[name] = what

    v2_tag = {"ModelPackageName": estate.packages["v2"], "team": "recsys"}
    add("manga-recommender-prod", "COMPLIANT", "approved package v2", [_variant("manga-rec-v2")], v2_tag)
    add("manga-recommender-hotfix", "UNREGISTERED", "raw S3 artifact, no registry entry", [_variant("manga-rec-raw")])
    add("manga-recommender-canary", "UNAPPROVED", "package v3 still PendingManualApproval", [_variant("manga-rec-v3")])
    add("manga-recommender-v0", "UNAPPROVED", "package v4 was Rejected", [_variant("manga-rec-v4")])
    add(
        "manga-recommender-ab",
        "UNREGISTERED",
        "two variants, the 10% challenger unregistered",
        [_variant("manga-rec-v2", "champion", 0.9), _variant("manga-rec-raw", "challenger", 0.1)],
    )
    add("experiment-lora-r16", "EXEMPT", "experiment endpoint in an experiment account", [_variant("manga-rec-raw")])
    add(
        "manga-recommender-spoofed",
        "UNREGISTERED",
        "raw artifact tagged with the approved v2 ARN",
        [_variant("manga-rec-raw")],
        v2_tag,
    )
    add(
        "manga-recommender-serverless",
        "COMPLIANT",
        "serverless variant on approved package v1",
        [
            {
                "VariantName": "AllTraffic",
                "ModelName": "manga-rec-v1",
                "ServerlessConfig": {"MemorySizeInMB": 6144, "MaxConcurrency": 20},
            }
        ],
    )
    add(
        "manga-recommender-orphaned",
        "ERROR",
        "its model was deleted after the endpoint was created",
        [_variant("manga-rec-doomed")],
    )
    sm.delete_model(ModelName="manga-rec-doomed")
    return estate


LORA_HOST = "manga-lora-host"
ROGUE_ADAPTER = "s3://ml-scratch-bucket/adapters/lora-hotfix-r8/"


def seed_inference_component_endpoint(sm: Any, estate: Estate) -> str:
    """An endpoint built for inference components (how LoRA adapters are usually hosted): its variant
    names no model; one component serves approved v2, another a raw adapter with no model at all.
    Needs the emulator's inference-component extension (mlgov.emulator)."""
    _endpoint(
        sm,
        LORA_HOST,
        [{"VariantName": "main", "InstanceType": "ml.g4dn.12xlarge", "InitialInstanceCount": 1}],
    )
    resources = {
        "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 4096, "NumberOfAcceleratorDevicesRequired": 1}
    }
    sm.create_inference_component(
        InferenceComponentName="manga-lora-v2",
        EndpointName=LORA_HOST,
        VariantName="main",
        Specification={"ModelName": "manga-rec-v2", **resources},
        RuntimeConfig={"CopyCount": 1},
    )
    sm.create_inference_component(
        InferenceComponentName="manga-lora-hotfix",
        EndpointName=LORA_HOST,
        VariantName="main",
        Specification={
            "Container": {"Image": TGI_IMAGE.format(region=estate.region), "ArtifactUrl": ROGUE_ADAPTER},
            **resources,
        },
        RuntimeConfig={"CopyCount": 1},
    )
    estate.expected[LORA_HOST] = "UNREGISTERED"
    estate.descriptions[LORA_HOST] = "inference components: approved v2, and a rogue raw adapter"
    return LORA_HOST


UNPINNED_IMAGE_ENDPOINT = "manga-recommender-tagonly"
UNPINNED_DATA_ENDPOINT = "manga-recommender-uncompressed"
UNCOMPRESSED_DATA = "s3://manga-training/lora-jobs/lora-2026-11-02-0900/output/model/"


def seed_unpinned_endpoints(sm: Any, estate: Estate) -> list[str]:
    """Two Approved versions registered by hand (SDK defaults, not `mlgov register`), each served by an endpoint:
    one names its image by a mutable tag with no digest (UNPINNED_IMAGE), the other loads uncompressed model data
    through ModelDataSource, which no pin covers (UNPINNED_MODEL_DATA). The demo seeds them after its scenes, so
    the versions those register and name keep their numbers."""
    image = TGI_IMAGE.format(region=estate.region)
    containers = {
        UNPINNED_IMAGE_ENDPOINT: {"Image": image, "ModelDataUrl": RAW_ARTIFACT},
        UNPINNED_DATA_ENDPOINT: {
            **pinned_image(estate.region),
            "ModelDataSource": {
                "S3DataSource": {"S3Uri": UNCOMPRESSED_DATA, "S3DataType": "S3Prefix", "CompressionType": "None"}
            },
        },
    }
    for name, container in containers.items():
        arn = sm.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [container],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        )["ModelPackageArn"]
        _model(sm, name, estate.account_id, {"ModelPackageName": arn})
        _endpoint(sm, name, [_variant(name)])
    estate.expected[UNPINNED_IMAGE_ENDPOINT] = "UNPINNED_IMAGE"
    estate.descriptions[UNPINNED_IMAGE_ENDPOINT] = "Approved version registered by hand: its image by tag, no digest"
    estate.expected[UNPINNED_DATA_ENDPOINT] = "UNPINNED_MODEL_DATA"
    estate.descriptions[UNPINNED_DATA_ENDPOINT] = "Approved version registered by hand: uncompressed model data"
    return [UNPINNED_IMAGE_ENDPOINT, UNPINNED_DATA_ENDPOINT]


def drain_findings(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every finding waiting in the queue subscribed to the findings topic, taken off it."""
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


def create_table(ddb: Any, name: str, key: str) -> None:
    """An on-demand table keyed by one string attribute, as the stack's tables are."""
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


SERVING_INDEX = "mlgov-serving-index"


def create_serving_index(ddb: Any) -> dict[str, str]:
    """The lineage audit's ServingIndex table as the stack deploys it; the audit's environment naming it."""
    ddb.create_table(
        TableName=SERVING_INDEX,
        KeySchema=[
            {"AttributeName": "model_package_arn", "KeyType": "HASH"},
            {"AttributeName": "endpoint_key", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "model_package_arn", "AttributeType": "S"},
            {"AttributeName": "endpoint_key", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return {"SERVING_INDEX_TABLE_NAME": SERVING_INDEX}


def create_governance_resources(ddb: Any, sns: Any, sqs: Any) -> dict[str, str]:
    """The tables, channel and a queue subscribed to it, as the stack deploys them."""
    create_table(ddb, "mlgov-findings", "finding_id")
    create_table(ddb, "mlgov-idempotency", "id")
    topic = sns.create_topic(Name="mlgov-findings")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="mlgov-findings-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    return {
        "FINDINGS_TABLE_NAME": "mlgov-findings",
        "IDEMPOTENCY_TABLE_NAME": "mlgov-idempotency",
        "FINDINGS_TOPIC_ARN": topic,
        "FINDINGS_QUEUE_URL": queue_url,
    }


def recording_state_machines(iam: Any, sfn: Any, *names: str, role_name: str = "mlgov-sandbox-sfn") -> list[str]:
    """State machines that only record their executions (one Pass state): stand-ins for the product's machines
    where a test or scene checks what was started, not what the machine does."""
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    definition = json.dumps({"StartAt": "Recorded", "States": {"Recorded": {"Type": "Pass", "End": True}}})
    return [sfn.create_state_machine(name=n, roleArn=role, definition=definition)["stateMachineArn"] for n in names]
