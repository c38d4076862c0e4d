"""Spec scenario 5's estate, seeded into an emulator: v2 is the Approved version; v1 endpoints were never
retired. Used by the retirement tests and the `make demo` scene, so both show the same four cases."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

GROUP = "manga-recommender"
IMAGE = "763104351884.dkr.ecr.{region}.amazonaws.com/huggingface-pytorch-tgi-inference:2.4.0-tgi3.0.1-gpu-py311"
INSTANCE = "ml.g4dn.2xlarge"
PIPELINE = {"managed_by": "manga-recommender-pipeline"}

LIVE = "manga-recommender-v2"  # the current Approved version, 60 % of traffic (desktop, new apps)
STALE = "manga-recommender-v1"  # v1, still called by mobile apps that cached its URL
IDLE = "manga-recommender-v1-ab"  # v1 A/B copy nobody calls any more
RETURNING = "manga-recommender-v1-eu"  # v1 copy, quiet for a day until a cached client comes back


MACHINE = "RetirementRetirementStateMachine"  # the synthesized state machine's logical id prefix


@dataclass
class RetirementEstate:
    account_id: str
    region: str
    packages: dict[str, str] = field(default_factory=dict)  # v1, v2 -> ARN
    invocations_24h: dict[str, int] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)


def _package(sm: Any, region: str, snapshot: str) -> str:
    answer = sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelPackageDescription=f"LoRA adapter on catalog snapshot {snapshot}",
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [
                {"Image": IMAGE.format(region=region), "ModelDataUrl": f"s3://manga-training/{snapshot}.tgz"}
            ],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        CustomerMetadataProperties={"catalog_snapshot_date": snapshot, "team": "recsys"},
    )
    return str(answer["ModelPackageArn"])


def put_invocations(cw: Any, endpoint: str, count: int, at: datetime, variant: str = "AllTraffic") -> None:
    """What SageMaker publishes for an endpoint's traffic: AWS/SageMaker Invocations per variant."""
    cw.put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
                "Timestamp": at,
                "Value": count,
                "Unit": "None",
            }
        ],
    )


def put_client_errors(cw: Any, endpoint: str, count: int, at: datetime) -> None:
    """What the recommendation backend publishes when InvokeEndpoint fails for an endpoint it called."""
    cw.put_metric_data(
        Namespace="MangaAssist/Recommendations",
        MetricData=[
            {
                "MetricName": "EndpointInvocationErrors",
                "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
                "Timestamp": at,
                "Value": count,
                "Unit": "Count",
            }
        ],
    )


def backdate_in_process(account_id: str, region: str, estate: RetirementEstate, now: datetime) -> None:
    """In-process emulator only: give the estate its history (v1 approved in May, v2 30 days ago, the v1
    endpoints created in May), which the API cannot set, so the money an endpoint wasted is a real figure."""
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_backends[account_id][region]
    naive = now.replace(tzinfo=None)
    ages = {estate.packages["v1"]: timedelta(days=210), estate.packages["v2"]: timedelta(days=30)}
    for package in backend.model_packages.values():
        if package.arn in ages:
            package.creation_time = naive - ages[package.arn]
    for name, endpoint in backend.endpoints.items():
        if name in estate.descriptions:
            endpoint.creation_time = naive - timedelta(days=30 if name == LIVE else 200)
            endpoint.last_modified_time = endpoint.creation_time  # v2 took over 30 days ago


def seed_retirement_estate(sm: Any, cw: Any, account_id: str, region: str, now: datetime) -> RetirementEstate:
    estate = RetirementEstate(account_id, region)
    existing = {
        g["ModelPackageGroupName"] for g in sm.list_model_package_groups().get("ModelPackageGroupSummaryList", [])
    }
    if GROUP not in existing:
        sm.create_model_package_group(ModelPackageGroupName=GROUP)
    estate.packages["v1"] = _package(sm, region, "2026-05-02")
    estate.packages["v2"] = _package(sm, region, "2026-10-28")
    for label in ("v1", "v2"):
        sm.create_model(
            ModelName=f"manga-rec-retire-{label}",
            ExecutionRoleArn=f"arn:aws:iam::{account_id}:role/SageMakerExecution",
            PrimaryContainer={"ModelPackageName": estate.packages[label]},
        )

    def endpoint(name: str, label: str, tags: dict[str, str], traffic: list[tuple[int, int]], what: str) -> None:
        """traffic: (hours ago, invocations) datapoints."""
        sm.create_endpoint_config(
            EndpointConfigName=f"{name}-config",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": f"manga-rec-retire-{label}",
                    "InitialInstanceCount": 1,
                    "InstanceType": INSTANCE,
                }
            ],
        )
        sm.create_endpoint(
            EndpointName=name,
            EndpointConfigName=f"{name}-config",
            Tags=[{"Key": k, "Value": v} for k, v in {**PIPELINE, **tags}.items()],
        )
        for hours_ago, count in traffic:
            put_invocations(cw, name, count, now - timedelta(hours=hours_ago, minutes=5))
        estate.invocations_24h[name] = sum(count for _, count in traffic)
        estate.descriptions[name] = what

    endpoint(
        LIVE,
        "v2",
        {"endpoint_purpose": "active", "owner": "recsys"},
        [(h, 310) for h in range(24)],
        "serves v2 (the Approved version): desktop and new apps",
    )
    endpoint(
        STALE,
        "v1",
        {"endpoint_purpose": "active", "owner": "mobile-team"},
        [(h, 205) for h in range(24)],
        "serves v1: mobile apps still call a cached URL",
    )
    endpoint(IDLE, "v1", {"owner": "recsys"}, [(30, 120)], "serves v1: last called 30 h ago, no purpose tag")
    endpoint(
        RETURNING,
        "v1",
        {"endpoint_purpose": "retiring", "owner": "recsys"},
        [(36, 80)],
        "serves v1: tagged retiring, quiet for a day",
    )
    return estate


def hosting_cost_answer(
    start: date, end: date, daily: list[tuple[str, str, float]], tag_key: str = "endpoint_purpose"
) -> dict[str, Any]:
    """A GetCostAndUsage answer as Cost Explorer gives it: one result per day, groups keyed
    [`key$value`, usage type]; `daily` rows are (purpose or "" for untagged, usage type, USD per day)."""
    results = []
    day = start
    while day < end:
        groups = [
            {
                "Keys": [f"{tag_key}${purpose}", usage],
                "Metrics": {"UnblendedCost": {"Amount": f"{amount:.6f}", "Unit": "USD"}},
            }
            for purpose, usage, amount in daily
        ]
        nxt = day + timedelta(days=1)
        results.append(
            {
                "TimePeriod": {"Start": day.isoformat(), "End": nxt.isoformat()},
                "Total": {},
                "Groups": groups,
                "Estimated": nxt >= end,
            }
        )
        day = nxt
    return {"ResultsByTime": results, "DimensionValueAttributes": []}


def queue_hosting_costs(account_id: str, answer: dict[str, Any]) -> None:
    """In-process emulator only: moto answers GetCostAndUsage from a queue its own API fills (it tracks
    no cost); the request itself goes through the real client and botocore's validation."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.set_ce_cost_usage(result=answer, account_id=account_id)


# What scenario 5's estate bills a day: v2 and v1 (mobile) active, the retiring copy, one untagged copy.
DAILY_HOSTING = [
    ("active", "USE1-Host:ml.g4dn.2xlarge", 45.12),
    ("retiring", "USE1-Host:ml.g4dn.2xlarge", 22.56),
    ("", "USE1-Host:ml.g4dn.2xlarge", 22.56),
    ("active", "USE1-Training:ml.g5.2xlarge", 9.70),
]


# The services the retirement state machine touches when it runs in process.
WORLD_SERVICES = (
    "sagemaker",
    "cloudwatch",
    "dynamodb",
    "sns",
    "sqs",
    "iam",
    "lambda",
    "stepfunctions",
    "secretsmanager",
    "kms",
    "sts",
)


@dataclass
class RetirementWorld:
    clients: dict[str, Any]
    estate: RetirementEstate
    resources: dict[str, str]  # the findings channel (create_governance_resources)
    mac_key: str  # the approval service's HMAC key

    def deletion_machine(self, template: Mapping[str, Any], name: str, environment: dict[str, str]) -> str:
        """The synthesized retirement state machine, its step function running the real handler in process
        (mlgov.emulator_sfn) with this environment; the hour between client-error checks shortened to 0 s."""
        import io
        import zipfile

        from mlgov.emulator_sfn import executable_definition

        c = self.clients
        role = c["iam"].create_role(RoleName="retirement", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("README", "the handler runs in-process (mlgov.emulator_sfn)")
        steps = c["lambda"].create_function(
            FunctionName="retirement-steps",
            Runtime="python3.11",
            Role=role,
            Handler="mlgov_runtime.retirement.handler.step",
            Code={"ZipFile": archive.getvalue()},
            Environment={"Variables": environment},
        )["FunctionArn"]

        def no_hour_long_waits(definition: dict[str, Any]) -> None:
            definition["States"]["WaitAnHour"]["Seconds"] = 0
            definition["States"]["LetMetricsSettle"]["Seconds"] = 0  # the emulator's metrics are settled at once

        definition = executable_definition(template, MACHINE, {"RetirementSteps": steps}, change=no_hour_long_waits)
        return str(
            c["stepfunctions"].create_state_machine(name=name, roleArn=role, definition=definition)["stateMachineArn"]
        )


def open_retirement_world(account_id: str, region: str, now: datetime) -> RetirementWorld:
    """Inside an in-process emulator: clients, the seeded and backdated estate, the findings channel and the
    approval service's MAC key, as the retirement tests and the demo scene both need them."""
    import boto3

    from mlgov.estate import create_governance_resources

    client: Any = boto3.client  # one call for every service name
    c = {s: client(s, region_name=region) for s in WORLD_SERVICES}
    estate = seed_retirement_estate(c["sagemaker"], c["cloudwatch"], account_id, region, now)
    backdate_in_process(account_id, region, estate, now)
    resources = create_governance_resources(c["dynamodb"], c["sns"], c["sqs"])
    mac_key = c["kms"].create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    return RetirementWorld(c, estate, resources, mac_key)
