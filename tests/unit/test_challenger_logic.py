"""The challenger gate's steps and `mlgov rollback`'s plan on in-memory fakes (no AWS)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from mlgov.ops.challenger_rollback import apply_rollback, fallbacks, plan_rollback, snapshot_warnings
from mlgov_runtime.challenger import findings as f
from mlgov_runtime.challenger import logic
from mlgov_runtime.challenger.config import ChallengerConfig, RetentionMetric, config_from_dict
from mlgov_runtime.challenger.inputs import DecisionConfig, VariantCounts
from mlgov_runtime.challenger.ports import NotFound, Ports
from mlgov_runtime.core.findings import Finding
from tests.unit.fakes import ACCOUNT, REGION, SageMakerStores
from tests.unit.fakes import package_arn as pkg

NOW = datetime(2026, 11, 28, 12, 0, 41, tzinfo=UTC)


class FakeSageMaker(SageMakerStores):
    """Endpoints + Registry over dicts; records every change."""

    def __init__(self) -> None:
        super().__init__()
        self.changes: list[tuple[str, Any]] = []
        self.fail_weights = False

    # building
    def package(self, version: int, status: str, **metadata: str) -> str:
        self.packages[pkg(version)] = {
            "ModelPackageArn": pkg(version),
            "ModelPackageGroupName": "manga-recommender",
            "ModelPackageVersion": version,
            "ModelApprovalStatus": status,
            # Every registration records its catalog snapshot (CONTRACTS.md); newer than production's by default.
            "CustomerMetadataProperties": {"catalog_snapshot_date": "2026-11-20", **metadata},
        }
        return pkg(version)

    def model(self, name: str, package: str | None) -> None:
        container = {"ModelPackageName": package} if package else {"Image": "img", "ModelDataUrl": "s3://b/k"}
        self.models[name] = {"ModelName": name, "PrimaryContainer": container, "ExecutionRoleArn": "arn:role/sm"}

    def endpoint(self, name: str, *variants: dict[str, Any], status: str = "InService") -> None:
        config = f"{name}-config"
        self.configs[config] = {"EndpointConfigName": config, "ProductionVariants": [dict(v) for v in variants]}
        self.endpoints[name] = {
            "EndpointName": name,
            "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}",
            "EndpointConfigName": config,
            "EndpointStatus": status,
            "ProductionVariants": [
                {"VariantName": v["VariantName"], "CurrentWeight": v.get("InitialVariantWeight", 1.0)} for v in variants
            ],
        }
        self.tags[self.endpoints[name]["EndpointArn"]] = {"ModelPackageName": "claim"}

    # Endpoints
    def _get(self, store: dict[str, dict[str, Any]], key: str, what: str) -> dict[str, Any]:
        if key not in store:
            raise NotFound(f"{what} {key} not found")
        return dict(store[key])

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        return self._get(self.endpoints, name, "endpoint")

    def describe_endpoint_config(self, name: str) -> dict[str, Any]:
        return self._get(self.configs, name, "config")

    def describe_model(self, name: str) -> dict[str, Any]:
        return self._get(self.models, name, "model")

    def create_model(self, name: str, package_arn: str, role_arn: str, tags: dict[str, str]) -> None:
        self.changes.append(("create_model", name))
        self.model(name, package_arn)

    def create_endpoint_config(
        self, name: str, base: Mapping[str, Any], variants: list[dict[str, Any]], tags: dict[str, str]
    ) -> None:
        self.changes.append(("create_endpoint_config", name))
        self.configs[name] = {"EndpointConfigName": name, "ProductionVariants": [dict(v) for v in variants]}

    def update_endpoint(self, endpoint: str, config: str) -> None:
        self.changes.append(("update_endpoint", config))
        variants = self.configs[config]["ProductionVariants"]
        self.endpoints[endpoint].update(
            EndpointConfigName=config,
            ProductionVariants=[
                {"VariantName": v["VariantName"], "CurrentWeight": v.get("InitialVariantWeight", 1.0)} for v in variants
            ],
        )

    def set_weights(self, endpoint: str, weights: dict[str, float]) -> None:
        if self.fail_weights:
            raise RuntimeError("ValidationException: endpoint is updating")
        self.changes.append(("set_weights", weights))
        for v in self.endpoints[endpoint]["ProductionVariants"]:
            v["CurrentWeight"] = weights.get(v["VariantName"], v["CurrentWeight"])

    def endpoint_tags(self, endpoint_arn: str) -> dict[str, str]:
        return dict(self.tags.get(endpoint_arn, {}))

    def tag_endpoint(self, endpoint_arn: str, tags: dict[str, str]) -> None:
        self.changes.append(("tag", tags))
        self.tags.setdefault(endpoint_arn, {}).update(tags)

    # Registry
    def describe_package(self, arn: str) -> dict[str, Any]:
        return self._get(self.packages, arn, "package")

    def approved_packages(self, group: str) -> Sequence[Mapping[str, Any]]:
        approved = [p for p in self.packages.values() if p["ModelApprovalStatus"] == "Approved"]
        return sorted(approved, key=lambda p: -int(p["ModelPackageVersion"]))

    def reject_package(self, arn: str, description: str) -> None:
        self.changes.append(("reject", arn))
        self.packages[arn].update(ModelApprovalStatus="Rejected", ApprovalDescription=description)

    def write_package_metadata(self, arn: str, metadata: dict[str, str]) -> None:
        self.changes.append(("metadata", metadata))
        self.packages[arn]["CustomerMetadataProperties"] = dict(metadata)


class FakeMetrics:
    def __init__(self, counts: dict[str, VariantCounts] | None = None) -> None:
        self.counts = counts or {}
        self.windows: list[tuple[datetime, datetime]] = []
        self.retention: dict[str, float | None] = {}

    def variant_counts(
        self, endpoint: str, variants: Iterable[str], start: datetime, end: datetime
    ) -> dict[str, VariantCounts]:
        self.windows.append((start, end))
        return {v: self.counts.get(v, VariantCounts(0, 0)) for v in variants}

    def variant_series(
        self, endpoint: str, variants: Iterable[str], start: datetime, end: datetime
    ) -> dict[str, dict[str, list[float | None]]]:
        """The counts spread evenly over the window's minutes (invocations default to one per impression)."""
        self.windows.append((start, end))
        minutes = int((end - start).total_seconds() // 60)
        out: dict[str, dict[str, list[float | None]]] = {}
        for v in variants:
            counts = self.counts.get(v, VariantCounts(0, 0))
            fields = {k: x for k, x in vars(counts).items() if x is not None and k != "latency_avg"}
            fields["invocations"] = counts.invocations or counts.impressions
            out[v] = {k: [x / minutes] * minutes for k, x in fields.items()} if minutes else {}
        return out

    def endpoint_statistic(
        self, metric: RetentionMetric, endpoint: str, start: datetime, end: datetime
    ) -> float | None:
        return self.retention.get("after" if start >= NOW - timedelta(days=1) else "before")


class Sink:
    def __init__(self) -> None:
        self.published: list[Finding] = []

    def record(self, finding: Finding) -> bool:
        return True

    def publish(self, finding: Finding) -> None:
        self.published.append(finding)


def variant(name: str, model: str, weight: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {
        "VariantName": name,
        "ModelName": model,
        "InstanceType": "ml.g5.2xlarge",
        "InitialInstanceCount": 4,
        "InitialVariantWeight": weight,
        **extra,
    }


CFG = ChallengerConfig(endpoints={"manga-recommender": "prod"})
LOOKED_AT = {
    "endpoint_name": "prod",
    "production_variant": "AllTraffic",
    "challenger_variant": "c",
    "traffic_fraction": 0.1,
}


@pytest.fixture
def sm() -> FakeSageMaker:
    fake = FakeSageMaker()
    fake.package(2, "Approved", catalog_snapshot_date="2026-10-28")
    fake.model("rec-v2", pkg(2))
    fake.endpoint("prod", variant("AllTraffic", "rec-v2"))
    return fake


def ports(sm: FakeSageMaker, metrics: FakeMetrics | None = None, sink: Sink | None = None) -> Ports:
    # Provenance has its own tests (test_challenger_provenance.py): here every package's origin is verified.
    return Ports(sm, sm, metrics or FakeMetrics(), sink or Sink(), ACCOUNT, REGION, provenance=lambda package: None)


# -- start


def test_an_eligible_package_becomes_a_ten_percent_variant_with_productions_compute(sm: FakeSageMaker) -> None:
    arn = sm.package(5, "PendingManualApproval", shadow_ctr_eligible="true", catalog_snapshot_date="2026-11-20")
    ch = logic.start(ports(sm), CFG, {"model_package_arn": arn}, NOW)
    assert ch["refused"] is False
    config = sm.configs[sm.endpoints["prod"]["EndpointConfigName"]]
    production, challenger = config["ProductionVariants"]
    assert (production["VariantName"], production["ModelName"]) == ("AllTraffic", "rec-v2")
    assert production["InitialVariantWeight"] == pytest.approx(0.9)
    assert production["InitialInstanceCount"] == 4  # production keeps its capacity
    assert challenger == {
        "VariantName": "challenger-v5",
        "ModelName": ch["challenger_model"],
        "InstanceType": "ml.g5.2xlarge",
        "InitialInstanceCount": 1,
        "InitialVariantWeight": 0.1,
    }
    assert sm.models[ch["challenger_model"]]["PrimaryContainer"] == {"ModelPackageName": arn}
    assert ch["previous_config"] == "prod-config" and ch["production_packages"] == [pkg(2)]


def test_a_serverless_production_variant_gets_a_serverless_challenger(sm: FakeSageMaker) -> None:
    serverless = {"MemorySizeInMB": 6144, "MaxConcurrency": 20}
    sm.endpoint("prod", {"VariantName": "AllTraffic", "ModelName": "rec-v2", "ServerlessConfig": serverless})
    arn = sm.package(5, "PendingManualApproval", shadow_ctr_eligible="true")
    logic.start(ports(sm), CFG, {"model_package_arn": arn}, NOW)
    challenger = sm.configs[sm.endpoints["prod"]["EndpointConfigName"]]["ProductionVariants"][1]
    assert challenger["ServerlessConfig"] == serverless and "InitialInstanceCount" not in challenger


@pytest.mark.parametrize(
    ("status", "metadata", "endpoint", "why"),
    [
        ("Rejected", {"shadow_ctr_eligible": "true"}, None, "is Rejected"),
        ("PendingManualApproval", {"shadow_ctr_eligible": "false"}, None, "did not pass the offline gate"),
        ("PendingManualApproval", {}, None, "no shadow_ctr_eligible"),
        ("PendingManualApproval", {"shadow_ctr_eligible": "true"}, "other", "not watched by the challenger gate"),
    ],
)
def test_refusals_deploy_nothing_and_say_why(
    sm: FakeSageMaker, status: str, metadata: dict[str, str], endpoint: str | None, why: str
) -> None:
    arn = sm.package(5, status, **metadata)
    sink = Sink()
    request = {"model_package_arn": arn, **({"endpoint_name": endpoint} if endpoint else {})}
    ch = logic.start(ports(sm, sink=sink), CFG, request, NOW)
    assert ch["refused"] is True and why in ch["reason"]
    assert sm.changes == []
    [finding] = sink.published
    assert finding.kind == f.START_REFUSED and why in finding.detail


def test_an_endpoint_with_two_variants_already_is_refused(sm: FakeSageMaker) -> None:
    sm.model("rec-v3", pkg(3))
    sm.endpoint("prod", variant("AllTraffic", "rec-v2", 0.9), variant("challenger-v3", "rec-v3", 0.1))
    arn = sm.package(5, "PendingManualApproval", shadow_ctr_eligible="true")
    ch = logic.start(ports(sm), CFG, {"model_package_arn": arn}, NOW)
    assert "already has 2 production variants" in ch["reason"] and sm.changes == []


def test_an_inference_component_endpoint_is_refused() -> None:
    plan = logic.plan_experiment(
        {"EndpointName": "ic", "EndpointStatus": "InService"},
        {"ProductionVariants": [{"VariantName": "AllTraffic", "InstanceType": "ml.g5.12xlarge"}]},
        pkg(5),
        5,
        0.1,
        1,
    )
    assert isinstance(plan, str) and "inference components" in plan


def test_names_fit_sagemakers_63_characters_keeping_version_and_time() -> None:
    name = logic.resource_name("a-very-long-endpoint-name-" * 4, "challenger-v12", "20261128120041")
    assert len(name) <= 63 and name.endswith("-challenger-v12-20261128120041")
    assert logic.resource_name("manga_recommender.prod", "v5") == "manga-recommender-prod-v5"


# -- watch


def test_a_look_leaves_out_the_minute_the_challenger_went_live_and_the_unsettled_minutes() -> None:
    metrics = FakeMetrics()
    ch = LOOKED_AT
    deployed = datetime(2026, 11, 28, 12, 3, 20, tzinfo=UTC)
    look = logic.look(metrics, CFG, ch, deployed, deployed + timedelta(minutes=10, seconds=5))
    # 12:13 is the last closed minute; the two before it (settle_minutes) may still be filling in CloudWatch
    assert metrics.windows == [(datetime(2026, 11, 28, 12, 4, tzinfo=UTC), datetime(2026, 11, 28, 12, 11, tzinfo=UTC))]
    assert look["elapsed_minutes"] == 7 and look["decision"] == "CONTINUE"


def test_the_approval_description_keeps_its_numbers_within_1024_characters() -> None:
    counts = {"AllTraffic": VariantCounts(90_000, 7_200), "c": VariantCounts(10_000, 560)}
    ch = LOOKED_AT
    look = logic.look(FakeMetrics(counts), CFG, ch, NOW - timedelta(minutes=30), NOW)
    assert look["decision"] == "REJECT"
    result = dict(look["result"], reasons=["x" * 5000])
    text = f.approval_description(result, "prod", 0.1, "Rejected")
    assert 1000 < len(text) <= 1024 and text.endswith("…")
    assert "challenger CTR 5.60%" in text and "production CTR 8.00%" in text and "10,000 impressions" in text
    assert "Decided by: CTR test" in text


def test_a_guardrail_breach_names_the_guardrail_as_the_reason(sm: FakeSageMaker) -> None:
    counts = {
        "AllTraffic": VariantCounts(90_000, 7_200, invocations=90_000, errors_5xx=9),
        "c": VariantCounts(10_000, 800, invocations=10_000, errors_5xx=400),
    }
    ch = LOOKED_AT
    look = logic.look(FakeMetrics(counts), CFG, ch, NOW - timedelta(minutes=30), NOW)
    assert look["decision"] == "REJECT"
    assert f.reason_code(look["result"]) == "invocation_error_rate"
    assert "guardrail invocation_error_rate" in look["approval_description"]


# -- ending and failures


def _running(sm: FakeSageMaker) -> dict[str, Any]:
    arn = sm.package(5, "PendingManualApproval", shadow_ctr_eligible="true")
    ch = logic.start(ports(sm), CFG, {"model_package_arn": arn}, NOW)
    return {"challenger": ch, "deployed_at": logic.iso(NOW)}


def test_reject_takes_traffic_away_before_touching_the_registry(sm: FakeSageMaker) -> None:
    state = _running(sm)
    counts = {
        "AllTraffic": VariantCounts(90_000, 7_200),
        state["challenger"]["challenger_variant"]: VariantCounts(10_000, 560),
    }
    state["watch"] = logic.look(FakeMetrics(counts), CFG, state["challenger"], NOW, NOW + timedelta(minutes=31))
    reasons: list[str] = []
    p = ports(sm)
    p.emit_rejection = reasons.append
    sm.changes.clear()
    logic.reject(p, state)
    assert [c[0] for c in sm.changes] == ["set_weights", "reject"]
    assert reasons == ["ctr_test"]


def test_a_failure_after_deployment_zeroes_the_challenger_or_says_it_could_not(sm: FakeSageMaker) -> None:
    state = _running(sm)
    state.update(failed_state="Watch", error={"Error": "Lambda.Unknown", "Cause": "boom"})
    sink = Sink()
    assert "set to 0" in logic.report_failure(ports(sm, sink=sink), state)["traffic"]
    sm.fail_weights = True
    sm.endpoints["prod"]["ProductionVariants"][1]["CurrentWeight"] = 0.1
    traffic = logic.report_failure(ports(sm, sink=sink), state)["traffic"]
    assert "FAILED" in traffic and "may still take 10%" in traffic
    assert "may still take 10%" in sink.published[-1].detail


def test_a_failure_says_the_registry_status_it_reads_or_how_to_read_it(sm: FakeSageMaker) -> None:
    # Twenty-second review, holes 5 and 6: the status is read after the failure, never asserted unchanged.
    state = _running(sm)
    state.update(failed_state="Reject", error={"Error": "ReadTimeoutError", "Cause": "lost"})
    arn = state["challenger"]["model_package_arn"]
    sm.packages[arn]["ModelApprovalStatus"] = "Rejected"
    sink = Sink()
    logic.report_failure(ports(sm, sink=sink), state)
    assert "The registry says the package is Rejected." in sink.published[-1].detail
    del sm.packages[arn]  # unreadable: say so and how to read it, never a status
    logic.report_failure(ports(sm, sink=sink), state)
    detail = sink.published[-1].detail
    assert (
        "status is unknown" in detail and f"`aws sagemaker describe-model-package --model-package-name {arn}`" in detail
    )
    assert "was not changed" not in detail


def test_promote_refuses_a_package_that_is_not_approved(sm: FakeSageMaker) -> None:
    state = _running(sm)
    with pytest.raises(logic.StepError, match="not Approved"):
        logic.promote(ports(sm), state, NOW)


def test_promotion_keeps_the_production_variant_and_its_capacity(sm: FakeSageMaker) -> None:
    state = _running(sm)
    sm.packages[state["challenger"]["model_package_arn"]]["ModelApprovalStatus"] = "Approved"
    logic.promote(ports(sm), state, NOW + timedelta(minutes=40))
    [only] = sm.configs[sm.endpoints["prod"]["EndpointConfigName"]]["ProductionVariants"]
    assert only == variant("AllTraffic", state["challenger"]["challenger_model"], 1.0)
    assert sm.tags[sm.endpoints["prod"]["EndpointArn"]]["ModelPackageName"] == state["challenger"]["model_package_arn"]


def test_a_review_without_retention_data_says_unknown_and_raises_a_finding(sm: FakeSageMaker) -> None:
    state = _running(sm)
    state["promotion"] = {"promoted_at": logic.iso(NOW)}
    sink = Sink()
    out = logic.review(ports(sm, sink=sink), CFG, state, NOW + timedelta(days=7))
    meta = sm.packages[state["challenger"]["model_package_arn"]]["CustomerMetadataProperties"]
    assert out["production_7day_retention_delta"] is None
    assert meta["production_7day_retention_delta"] == "unknown" and meta["shadow_ctr_eligible"] == "true"
    assert sink.published[0].kind == f.REVIEW_INCOMPLETE


@pytest.mark.parametrize(("after", "finding"), [(0.395, False), (0.38, True)])
def test_the_review_raises_a_finding_only_beyond_the_allowed_drop(
    sm: FakeSageMaker, after: float, finding: bool
) -> None:
    state = _running(sm)
    state["promotion"] = {"promoted_at": logic.iso(NOW)}
    metrics = FakeMetrics()
    metrics.retention = {"before": 0.40, "after": after}
    sink = Sink()
    logic.review(ports(sm, metrics, sink), CFG, state, NOW + timedelta(days=7))
    assert bool(sink.published) is finding  # -1.25% is inside the 2% allowed, -5% is not


# -- rollback


def _serving(sm: FakeSageMaker, version: int) -> None:
    sm.model(f"rec-v{version}", pkg(version))
    sm.endpoint("prod", variant("AllTraffic", f"rec-v{version}"))


def test_rollback_takes_the_newest_approved_version_older_than_the_serving_one(sm: FakeSageMaker) -> None:
    sm.package(1, "Approved", catalog_snapshot_date="2026-05-02")
    sm.package(4, "Rejected", catalog_snapshot_date="2026-11-04")
    sm.package(6, "Approved", catalog_snapshot_date="2026-11-25")  # newer than the serving one: not "previous"
    sm.package(5, "Approved", catalog_snapshot_date="2026-11-20")
    _serving(sm, 5)
    plan = plan_rollback(sm, sm, "prod", "manga-recommender", "CTR -22%", NOW)
    assert plan.serving_package == pkg(5)
    assert plan.target is not None and plan.target["version"] == 2
    [warning] = plan.warnings  # v2's catalog is 31 days old
    assert "v2 was trained on the catalog of 2026-10-28, 31 days ago" in warning
    applied = apply_rollback(sm, sm, plan, NOW)
    assert applied.status == "rolled_back"
    [only] = sm.configs[sm.endpoints["prod"]["EndpointConfigName"]]["ProductionVariants"]
    assert sm.models[only["ModelName"]]["PrimaryContainer"] == {"ModelPackageName": pkg(2)}
    assert sm.packages[pkg(5)]["ModelApprovalStatus"] == "Rejected"
    assert "CTR -22%" in sm.packages[pkg(5)]["ApprovalDescription"]
    assert [c[0] for c in sm.changes].index("update_endpoint") < [c[0] for c in sm.changes].index("reject")


def test_rollback_with_no_previous_version_changes_nothing(sm: FakeSageMaker) -> None:
    plan = plan_rollback(sm, sm, "prod", "manga-recommender", "why", NOW)
    assert (plan.status, plan.target, plan.serving_version) == ("no_previous_version", None, 2)
    assert sm.changes == []
    steps = fallbacks("manga-recommender", "prod")
    assert "foundation model" in steps[0] and "emergency recovery" in steps[1]


IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference@sha256:" + "a" * 64


def _containers(model_data: str) -> dict[str, Any]:
    return {"Containers": [{"Image": IMAGE, "ModelDataUrl": model_data}]}


def test_with_no_previous_version_the_recovery_step_names_the_earlier_artifact_and_the_image(
    sm: FakeSageMaker,
) -> None:
    # Given v2 serving (the only Approved one) and v1, Rejected, whose artifact still lies in S3
    sm.package(1, "Rejected")
    sm.packages[pkg(1)]["InferenceSpecification"] = _containers("s3://manga-training/v1/model.tar.gz")
    sm.packages[pkg(2)]["InferenceSpecification"] = _containers("s3://manga-training/v2/model.tar.gz")
    # When the rollback finds nothing to roll back to
    plan = plan_rollback(sm, sm, "prod", "manga-recommender", "why", NOW)
    assert plan.status == "no_previous_version" and sm.changes == []
    _, recover = fallbacks("manga-recommender", "prod", None, plan.recovery)
    # Then the recovery step is a command with the registry's real values, nothing to fill in
    assert (
        "--model-data-url s3://manga-training/v1/model.tar.gz --image " + IMAGE in recover
        and "v1 (Rejected): s3://manga-training/v1/model.tar.gz" in recover
    )
    assert "<" not in recover and "s3://..." not in recover
    assert "mlgov rollback --endpoint prod --group manga-recommender again" in recover


def test_with_no_earlier_version_the_recovery_step_prints_earlier_training_jobs_artifacts(sm: FakeSageMaker) -> None:
    sm.packages[pkg(2)]["InferenceSpecification"] = _containers("s3://manga-training/v2/model.tar.gz")
    sm.packages[pkg(2)]["CustomerMetadataProperties"].update(
        training_job_arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/lora-v2",
        trained_at_utc="2026-11-20T03:00:00Z",
    )
    plan = plan_rollback(sm, sm, "prod", "manga-recommender", "why", NOW)
    _, recover = fallbacks("manga-recommender", "prod", None, plan.recovery)
    assert "list-training-jobs --status-equals Completed --creation-time-before 2026-11-20T03:00:00Z" in recover
    assert "--query '[TrainingJobName,ModelArtifacts.S3ModelArtifacts]'" in recover
    assert "--image " + IMAGE in recover and "<" not in recover


def test_a_stale_catalog_is_warned_about() -> None:
    assert snapshot_warnings(2, "2026-10-29", date(2026, 11, 28), 30) == []  # 30 days: not older than 30
    [warning] = snapshot_warnings(1, "2026-05-02", date(2026, 11, 28), 30)
    assert "210 days ago (more than 30)" in warning
    assert "no catalog_snapshot_date" in snapshot_warnings(1, None, date(2026, 11, 28), 30)[0]


def test_the_challenger_variant_is_the_package_or_the_lighter_one(sm: FakeSageMaker) -> None:
    from mlgov.ops.challenger_status import challenger_variants

    sm.model("rec-v5", pkg(5))
    sm.endpoint("prod", variant("AllTraffic", "rec-v2", 0.9), variant("challenger-v5", "rec-v5", 0.1))
    endpoint, config = sm.endpoints["prod"], sm.configs["prod-config"]
    assert challenger_variants(endpoint, config, sm.models, None) == ("AllTraffic", "challenger-v5", pkg(5))
    assert challenger_variants(endpoint, config, sm.models, pkg(2))[1] == "AllTraffic"
    with pytest.raises(ValueError, match="serves"):
        challenger_variants(endpoint, config, sm.models, pkg(9))


def test_the_runtime_configuration_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="decision: unknown keys alhpa"):
        config_from_dict({"decision": {"alhpa": 0.01}})
    assert config_from_dict({"decision": {"alpha": 0.05}}).decision == DecisionConfig(alpha=0.05)


def test_the_two_counts_source_keys_keep_their_documented_names() -> None:
    # Two keys spelt counts_source mean different things and both leave the code: the watch state's run source
    # ("cloudwatch" or "table"; documented as watch.counts_source, and held by running executions across a deploy)
    # and a look's statistics key naming the table read (status JSON, findings' evidence). Neither may be renamed.
    from pathlib import Path

    from mlgov_runtime.challenger.config import COUNTS_TABLE, COUNTS_TABLE_STAT

    docs = (Path(__file__).resolve().parents[2] / "docs" / "challenger.md").read_text()
    assert f"`watch.{logic.RUN_SOURCE_KEY}`" in docs and logic.RUN_SOURCE_KEY == "counts_source"
    assert COUNTS_TABLE_STAT == "counts_source"
    result: dict[str, Any] = {"reasons": [], "statistics": {}}
    logic._table_problems(result, [], "manga-recommender-prod")
    assert result["statistics"] == {"counts_source": COUNTS_TABLE}
