"""The bypasses of "every endpoint serves an Approved registry version", each tried as an attacker in
a member account would, on an in-memory SageMaker. Each test failed on the audit before they were closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlgov_runtime.core.arns import partition_for, sagemaker_arn
from mlgov_runtime.core.exemptions import ExemptionPolicy
from mlgov_runtime.lineage_audit.audit import EndpointAuditor
from mlgov_runtime.lineage_audit.findings import (
    KIND_ENDPOINT_AUDIT_ERROR,
    KIND_UNREGISTERED_ENDPOINT,
    finding_from_audit,
    kinds_to_close,
)
from mlgov_runtime.lineage_audit.logic import PackagePolicy, ReadFailure, Verdict
from mlgov_runtime.lineage_audit.settings import evaluation_share
from tests.unit.fakes import ACCOUNT, REGION, FakeSageMaker, package_arn

IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tgi:3.0"
DIGEST = "sha256:" + "a" * 64
DATA = "s3://manga-training/training-output/lora-7/model.tar.gz"
IC_HOST = [{"VariantName": "main", "InstanceType": "ml.g5.12xlarge"}]


@pytest.fixture
def sm() -> FakeSageMaker:
    fake = FakeSageMaker()
    arn = fake.package(1, "Approved")
    fake.packages[arn]["InferenceSpecification"] = {
        "Containers": [{"Image": IMAGE, "ImageDigest": DIGEST, "ModelDataUrl": DATA}]
    }
    fake.model("approved", {"ModelPackageName": arn})
    fake.model("raw", {"Image": IMAGE, "ModelDataUrl": "s3://scratch/lora-hotfix.tar.gz"})
    return fake


MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:mlgov-challenger"


class Runs:
    """A ChallengerRuns: the (endpoint, package, variant) of each RUNNING challenger execution, or a read error."""

    machine_arn = MACHINE

    def __init__(self, *running: tuple[str, str, str], error: str | None = None) -> None:
        self.started = set(running)
        self.error = error
        self.asked: list[tuple[str, str, str]] = []

    def running(self, endpoint_name: str, package_arn: str, variant_name: str) -> bool:
        self.asked.append((endpoint_name, package_arn, variant_name))
        if self.error:
            raise ReadFailure(self.error)
        return (endpoint_name, package_arn, variant_name) in self.started


def auditor(sm: FakeSageMaker, policy: PackagePolicy | None = None, runs: Runs | None = None) -> EndpointAuditor:
    return EndpointAuditor(sm, ACCOUNT, REGION, ExemptionPolicy(), policy=policy, challenger_runs=runs)


# 1. Inference components


def test_a_rogue_component_with_a_raw_container_makes_the_endpoint_unregistered(sm: FakeSageMaker) -> None:
    sm.endpoint("lora-host", IC_HOST)
    sm.component("ic-approved", "lora-host", {"ModelName": "approved"})
    sm.component("ic-rogue", "lora-host", {"Container": {"Image": IMAGE, "ArtifactUrl": "s3://scratch/adapter"}})
    audit = auditor(sm).audit("lora-host")
    assert audit.verdict is Verdict.UNREGISTERED
    assert any("ic-rogue" in r and "s3://scratch/adapter" in r for r in audit.reasons)
    assert [c["inference_component_name"] for c in audit.to_dict()["inference_components"]] == [
        "ic-approved",
        "ic-rogue",
    ]


def test_a_component_on_a_raw_model_is_unregistered_and_an_approved_one_is_compliant(sm: FakeSageMaker) -> None:
    sm.endpoint("lora-host", IC_HOST)
    sm.component("ic", "lora-host", {"ModelName": "approved"})
    assert auditor(sm).audit("lora-host").verdict is Verdict.COMPLIANT
    sm.components["ic"]["Specification"] = {"ModelName": "raw"}  # UpdateInferenceComponent swapped the model
    assert auditor(sm).audit("lora-host").verdict is Verdict.UNREGISTERED


def test_components_that_cannot_be_listed_make_the_verdict_error_not_compliant(sm: FakeSageMaker) -> None:
    sm.endpoint("lora-host", IC_HOST)
    sm.fail("components", "lora-host")
    assert auditor(sm).audit("lora-host").verdict is Verdict.ERROR


# 2. Any Approved package counts


def test_an_approved_package_from_another_group_or_account_is_foreign(sm: FakeSageMaker) -> None:
    other_group = sagemaker_arn(REGION, ACCOUNT, "model-package/other-team/4")
    outside = sagemaker_arn(REGION, "999988887777", "model-package/manga-recommender/9")
    for arn in (other_group, outside):
        sm.packages[arn] = {"ModelPackageArn": arn, "ModelApprovalStatus": "Approved"}
    sm.model("other-group", {"ModelPackageName": other_group})
    sm.model("outside", {"ModelPackageName": outside})
    policy = PackagePolicy(groups=frozenset({"manga-recommender"}))
    for name in ("other-group", "outside"):
        sm.endpoint(name, [{"VariantName": "AllTraffic", "ModelName": name}])
        audit = auditor(sm, policy).audit(name)
        assert audit.verdict is Verdict.FOREIGN_PACKAGE and audit.is_violation, name
    sm.endpoint("ours", [{"VariantName": "AllTraffic", "ModelName": "approved"}])
    assert auditor(sm, policy).audit("ours").verdict is Verdict.COMPLIANT
    trusted = PackagePolicy(groups=frozenset({"manga-recommender"}), accounts=frozenset({"999988887777"}))
    assert auditor(sm, trusted).audit("outside").verdict is Verdict.COMPLIANT


# 3. A package name is not the artifact


@pytest.mark.parametrize(
    ("container", "words"),
    [
        ({"Image": IMAGE, "ModelDataUrl": "s3://scratch/evil.tar.gz"}, "s3://scratch/evil.tar.gz"),
        ({"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/evil:1", "ModelDataUrl": DATA}, "evil:1"),
        ({"ModelDataSource": {"S3DataSource": {"S3Uri": "s3://scratch/uncompressed/"}}}, "s3://scratch/uncompressed/"),
        ({"Mode": "MultiModel", "ModelDataUrl": DATA}, "MultiModel"),
        # What a container loads beside its package's artifact is judged too.
        ({"Environment": {"HF_MODEL_ID": "attacker/evil-7b"}}, "HF_MODEL_ID"),
        ({"Environment": {"SAGEMAKER_SUBMIT_DIRECTORY": "s3://scratch/code.tar.gz"}}, "SAGEMAKER_SUBMIT_DIRECTORY"),
        (
            {"AdditionalModelDataSources": [{"ChannelName": "x", "S3DataSource": {"S3Uri": "s3://scratch/adapter/"}}]},
            "s3://scratch/adapter/",
        ),
        (
            {"ModelDataUrl": DATA, "ModelDataSource": {"S3DataSource": {"S3Uri": "s3://scratch/evil/"}}},
            "s3://scratch/evil/",
        ),
        ({"InferenceSpecificationName": "added-later"}, "added-later"),
    ],
)
def test_a_container_that_names_a_package_but_serves_something_else_is_a_mismatch(
    sm: FakeSageMaker, container: dict[str, object], words: str
) -> None:
    sm.model("claims", {"ModelPackageName": package_arn(1), **container})
    sm.endpoint("ep", [{"VariantName": "AllTraffic", "ModelName": "claims"}])
    audit = auditor(sm).audit("ep")
    assert audit.verdict is Verdict.ARTIFACT_MISMATCH, audit.reasons
    assert any(words in r for r in audit.reasons)


def test_the_package_artifact_echoed_in_the_container_is_compliant(sm: FakeSageMaker) -> None:
    sm.model(
        "echo",
        {"ModelPackageName": package_arn(1), "Image": f"{IMAGE.rsplit(':', 1)[0]}@{DIGEST}", "ModelDataUrl": DATA},
    )
    sm.endpoint("ep", [{"VariantName": "AllTraffic", "ModelName": "echo"}])
    assert auditor(sm).audit("ep").verdict is Verdict.COMPLIANT


def test_a_deployed_image_digest_other_than_the_packages_is_a_mismatch(sm: FakeSageMaker) -> None:
    sm.endpoint("ep", [{"VariantName": "AllTraffic", "ModelName": "approved"}])
    sm.endpoints["ep"]["ProductionVariants"] = [
        {"VariantName": "AllTraffic", "DeployedImages": [{"ResolvedImage": f"{IMAGE}@sha256:{'b' * 64}"}]}
    ]
    assert auditor(sm).audit("ep").verdict is Verdict.ARTIFACT_MISMATCH
    sm.endpoints["ep"]["ProductionVariants"][0]["DeployedImages"] = [{"ResolvedImage": f"{IMAGE}@{DIGEST}"}]
    assert auditor(sm).audit("ep").verdict is Verdict.COMPLIANT


def test_a_components_deployed_image_other_than_its_packages_digest_is_a_mismatch(sm: FakeSageMaker) -> None:
    """As an endpoint's DeployedImages: the component's resolved digest (its Container.DeployedImage) must be one
    its package pins (a tag pushed again over the approved image serves other bytes)."""
    sm.endpoint("lora-host", IC_HOST)
    resolved = {"DeployedImage": {"SpecifiedImage": IMAGE, "ResolvedImage": f"{IMAGE}@sha256:{'b' * 64}"}}
    sm.component("ic-approved", "lora-host", {"ModelName": "approved", "Container": resolved})
    audit = auditor(sm).audit("lora-host")
    assert audit.verdict is Verdict.ARTIFACT_MISMATCH, audit.reasons
    assert any("ic-approved" in r and "is not an image of its package" in r for r in audit.reasons)
    resolved["DeployedImage"]["ResolvedImage"] = f"{IMAGE}@{DIGEST}"
    assert auditor(sm).audit("lora-host").verdict is Verdict.COMPLIANT


# 5. Deleting evidence


def test_a_deleted_model_under_a_live_endpoint_says_to_redeploy_not_to_grant_reads(sm: FakeSageMaker) -> None:
    from mlgov_runtime.lineage_audit.findings import next_step

    sm.endpoint("ep", [{"VariantName": "AllTraffic", "ModelName": "deleted-since"}])
    audit = auditor(sm).audit("ep")
    assert audit.verdict is Verdict.ERROR and audit.evidence_missing, audit.reasons
    step = next_step(audit)
    assert "deleted under the live endpoint" in step and "describe-endpoint --endpoint-name ep" in step, step
    assert "may describe" not in step


def test_a_deleted_model_under_a_live_endpoint_never_closes_the_violation() -> None:
    assert KIND_UNREGISTERED_ENDPOINT not in kinds_to_close(Verdict.ERROR)
    assert kinds_to_close(Verdict.ERROR) == []


def test_a_model_recreated_after_the_deployment_is_not_what_serves(sm: FakeSageMaker) -> None:
    deployed = datetime(2026, 11, 1, tzinfo=UTC)
    sm.endpoint("ep", [{"VariantName": "AllTraffic", "ModelName": "approved"}])
    sm.configs["ep-cfg"]["CreationTime"] = deployed
    sm.models["approved"]["CreationTime"] = deployed + timedelta(days=3)  # deleted and re-created from a package
    audit = auditor(sm).audit("ep")
    assert audit.verdict is Verdict.ARTIFACT_MISMATCH
    assert any("created after what serves it was deployed" in r for r in audit.reasons)
    # A later weight change moves the endpoint's LastModifiedTime, never the configuration's creation
    sm.endpoints["ep"]["LastModifiedTime"] = deployed + timedelta(days=4)
    assert auditor(sm).audit("ep").verdict is Verdict.ARTIFACT_MISMATCH
    sm.models["approved"]["CreationTime"] = deployed - timedelta(days=1)
    assert auditor(sm).audit("ep").verdict is Verdict.COMPLIANT


def test_a_component_model_created_before_the_component_is_compliant(sm: FakeSageMaker) -> None:
    created = datetime(2026, 11, 1, tzinfo=UTC)
    sm.endpoint("lora-host", IC_HOST)
    sm.component("ic", "lora-host", {"ModelName": "approved"})
    sm.components["ic"]["CreationTime"] = created
    sm.models["approved"]["CreationTime"] = created - timedelta(hours=1)
    assert auditor(sm).audit("lora-host").verdict is Verdict.COMPLIANT
    sm.models["approved"]["CreationTime"] = created + timedelta(days=1)
    assert auditor(sm).audit("lora-host").verdict is Verdict.ARTIFACT_MISMATCH


def test_a_tuning_variable_is_not_a_mismatch(sm: FakeSageMaker) -> None:
    sm.model("tuned", {"ModelPackageName": package_arn(1), "Environment": {"MAX_TOTAL_TOKENS": "4096"}})
    sm.endpoint("ep", [{"VariantName": "AllTraffic", "ModelName": "tuned"}])
    assert auditor(sm).audit("ep").verdict is Verdict.COMPLIANT


def test_a_component_overriding_its_models_artifact_is_a_mismatch(sm: FakeSageMaker) -> None:
    sm.endpoint("lora-host", IC_HOST)
    sm.component("ic", "lora-host", {"ModelName": "approved", "Container": {"ArtifactUrl": "s3://scratch/adapter"}})
    assert auditor(sm).audit("lora-host").verdict is Verdict.ARTIFACT_MISMATCH


def test_a_package_from_an_account_the_audit_cannot_read_is_foreign_not_unreadable(sm: FakeSageMaker) -> None:
    foreign = sagemaker_arn(REGION, "999988887777", "model-package/manga-recommender/1")
    sm.model("foreign", {"ModelPackageName": foreign})
    sm.fail("package", foreign, "AccessDenied: not authorized")
    sm.endpoint("ep", [{"VariantName": "AllTraffic", "ModelName": "foreign"}])
    audit = auditor(sm, PackagePolicy(groups=frozenset({"manga-recommender"}))).audit("ep")
    assert audit.verdict is Verdict.FOREIGN_PACKAGE


def test_a_shadow_variant_on_a_foreign_image_digest_is_a_mismatch(sm: FakeSageMaker) -> None:
    sm.endpoint(
        "ep",
        [{"VariantName": "AllTraffic", "ModelName": "approved"}],
        shadow=[{"VariantName": "shadow", "ModelName": "approved"}],
    )
    sm.endpoints["ep"]["ShadowProductionVariants"] = [
        {"VariantName": "shadow", "DeployedImages": [{"ResolvedImage": f"{IMAGE}@sha256:{'c' * 64}"}]}
    ]
    assert auditor(sm).audit("ep").verdict is Verdict.ARTIFACT_MISMATCH


# 7. Blue/green in flight


def test_an_unregistered_model_in_a_pending_deployment_is_reported(sm: FakeSageMaker) -> None:
    sm.endpoint("ep", [{"VariantName": "AllTraffic", "ModelName": "approved"}])
    sm.configs["canary-cfg"] = {
        "EndpointConfigName": "canary-cfg",
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "raw"}],
    }
    sm.endpoints["ep"]["PendingDeploymentSummary"] = {"EndpointConfigName": "canary-cfg"}
    audit = auditor(sm).audit("ep")
    assert audit.verdict is Verdict.UNREGISTERED
    pending = [v for v in audit.to_dict()["variants"] if v.get("deployment") == "pending"]
    assert pending and pending[0]["model_name"] == "raw"


# 9. Tag key case; 10. partitions


def test_a_lower_case_governance_tag_is_still_read(sm: FakeSageMaker) -> None:
    sm.endpoint("ep", [{"VariantName": "AllTraffic", "ModelName": "approved"}], tags={"modelpackagename": "arn:bogus"})
    audit = auditor(sm).audit("ep")
    assert any("disagrees with the deployed lineage" in r for r in audit.reasons)


@pytest.mark.parametrize(
    ("region", "partition"), [("us-east-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)
def test_arns_are_built_in_the_regions_partition(region: str, partition: str) -> None:
    assert partition_for(region) == partition
    assert sagemaker_arn(region, ACCOUNT, "endpoint/x").startswith(f"arn:{partition}:sagemaker:{region}:")


def test_every_violation_finding_says_what_to_run_next(sm: FakeSageMaker) -> None:
    sm.endpoint("ep", [{"VariantName": "AllTraffic", "ModelName": "raw"}])
    finding = finding_from_audit(auditor(sm).audit("ep"), "realtime")
    assert finding is not None and "mlgov audit --endpoint ep" in finding.detail and "mlgov rollback" in finding.detail


def test_a_model_deleted_under_a_live_endpoint_is_a_high_finding_not_a_medium_one(sm: FakeSageMaker) -> None:
    sm.endpoint("ep", [{"VariantName": "AllTraffic", "ModelName": "gone"}])
    audit = auditor(sm).audit("ep")
    assert audit.verdict is Verdict.ERROR and audit.evidence_missing
    finding = finding_from_audit(audit, "realtime")
    assert finding is not None and finding.severity == "HIGH"
    sm.fail("model", "gone")  # merely unreadable (throttled): still MEDIUM
    unreadable = finding_from_audit(auditor(sm).audit("ep"), "realtime")
    assert unreadable is not None and unreadable.severity == "MEDIUM"


# A challenger under evaluation (issue 13's stage) is not a violation; anything else shaped like it is.


def _candidate(sm: FakeSageMaker, eligible: bool = True) -> str:
    arn = package_arn(8)
    sm.packages[arn] = {
        "ModelPackageArn": arn,
        "ModelApprovalStatus": "PendingManualApproval",
        "CustomerMetadataProperties": {"shadow_ctr_eligible": "true" if eligible else "false"},
    }
    sm.model("candidate", {"ModelPackageName": arn})
    return arn


def _ab(sm: FakeSageMaker, challenger_weight: float) -> None:
    sm.endpoint(
        "ep",
        [
            {"VariantName": "champion", "ModelName": "approved"},
            {"VariantName": "challenger", "ModelName": "candidate"},
        ],
    )
    sm.endpoints["ep"]["ProductionVariants"] = [
        {"VariantName": "champion", "CurrentWeight": 1 - challenger_weight},
        {"VariantName": "challenger", "CurrentWeight": challenger_weight},
    ]


def test_a_gated_candidate_on_the_challenger_share_of_a_running_experiment_is_under_evaluation(
    sm: FakeSageMaker,
) -> None:
    arn = _candidate(sm)
    _ab(sm, 0.1)
    policy = PackagePolicy(evaluation_share=0.1)
    runs = Runs(("ep", arn, "challenger"))
    audit = auditor(sm, policy, runs).audit("ep")
    assert audit.verdict is Verdict.UNDER_EVALUATION and not audit.is_violation
    assert finding_from_audit(audit, "realtime") is None
    assert runs.asked == [("ep", arn, "challenger")]


@pytest.mark.parametrize(
    "running",
    [
        (),  # stopped (ABORTED), timed out or failed: ListExecutions(RUNNING) no longer lists it; or it never ran
        (("other-ep", package_arn(8), "challenger"),),  # a run for the package on another endpoint
        (("ep", package_arn(8), "challenger-v9"),),  # a run whose challenger is another variant
        (("ep", package_arn(7), "challenger"),),  # a run for another package
    ],
)
def test_a_challenger_shape_without_its_running_experiment_is_unapproved(
    sm: FakeSageMaker, running: tuple[tuple[str, str, str], ...]
) -> None:
    _candidate(sm)
    _ab(sm, 0.1)
    audit = auditor(sm, PackagePolicy(evaluation_share=0.1), Runs(*running)).audit("ep")
    assert audit.verdict is Verdict.UNAPPROVED and audit.is_violation
    assert any("no RUNNING execution of" in r and MACHINE in r for r in audit.reasons), audit.reasons
    finding = finding_from_audit(audit, "realtime")
    assert finding is not None and finding.kind == KIND_UNREGISTERED_ENDPOINT and finding.severity == "HIGH"


def test_without_a_verifier_the_challenger_shape_is_unapproved(sm: FakeSageMaker) -> None:
    # Where no challenger runs (a member account, another region): nothing can vouch for the shape.
    _candidate(sm)
    _ab(sm, 0.1)
    audit = auditor(sm, PackagePolicy(evaluation_share=0.1)).audit("ep")
    assert audit.verdict is Verdict.UNAPPROVED and audit.is_violation
    assert any("no challenger experiment can be verified from here" in r for r in audit.reasons)


@pytest.mark.parametrize(
    "error", ["AccessDeniedException: not authorized to perform states:ListExecutions", "ThrottlingException: Rate"]
)
def test_a_verifier_that_cannot_answer_makes_the_challenger_unverifiable_never_compliant(
    sm: FakeSageMaker, error: str
) -> None:
    arn = _candidate(sm)
    _ab(sm, 0.1)
    audit = auditor(sm, PackagePolicy(evaluation_share=0.1), Runs(("ep", arn, "challenger"), error=error)).audit("ep")
    assert audit.verdict is Verdict.ERROR and audit.verdict is not Verdict.UNDER_EVALUATION
    assert kinds_to_close(audit.verdict) == []  # unverifiable closes no open violation
    finding = finding_from_audit(audit, "realtime")
    assert finding is not None and finding.kind == KIND_ENDPOINT_AUDIT_ERROR
    # It says what to check, with the exact commands.
    assert error in finding.detail
    assert f"aws stepfunctions list-executions --state-machine-arn {MACHINE} --status-filter RUNNING" in finding.detail
    assert "mlgov challenger status --endpoint ep" in finding.detail
    assert "states:ListExecutions" in finding.detail and "mlgov audit --endpoint ep" in finding.detail


@pytest.mark.parametrize(("eligible", "weight", "share"), [(False, 0.1, 0.1), (True, 0.5, 0.1), (True, 0.1, 0.0)])
def test_anything_else_shaped_like_a_challenger_stays_unapproved(
    sm: FakeSageMaker, eligible: bool, weight: float, share: float
) -> None:
    # not through the offline gate / more traffic than the challenger share / the stage not enabled
    _candidate(sm, eligible)
    _ab(sm, weight)
    runs = Runs(("ep", package_arn(8), "challenger"))  # even with its experiment running
    assert auditor(sm, PackagePolicy(evaluation_share=share), runs).audit("ep").verdict is Verdict.UNAPPROVED


# The challenger's ramp and its rejection (twenty-second review, holes 2 and 3): still only the run's own variant.

RAMP = [[10, 0.25], [20, 0.5]]


def test_the_share_a_challenger_may_take_is_its_ramps_largest_weight() -> None:
    assert evaluation_share(0.1, []) == 0.1
    assert evaluation_share(0.1, RAMP) == 0.5


@pytest.mark.parametrize(
    ("weight", "running", "verdict"),
    [
        (0.25, True, Verdict.UNDER_EVALUATION),  # the ramp's first step
        (0.5, True, Verdict.UNDER_EVALUATION),  # its last
        (0.6, True, Verdict.UNAPPROVED),  # above the ramp's largest weight: no run reaches it
        (0.5, False, Verdict.UNAPPROVED),  # no RUNNING execution for it
    ],
)
def test_a_ramped_challenger_is_under_evaluation_up_to_the_ramps_largest_weight_of_its_own_run(
    sm: FakeSageMaker, weight: float, running: bool, verdict: Verdict
) -> None:
    arn = _candidate(sm)
    _ab(sm, weight)
    runs = Runs(*([("ep", arn, "challenger")] if running else []))
    assert auditor(sm, PackagePolicy(evaluation_share=evaluation_share(0.1, RAMP)), runs).audit("ep").verdict is verdict


@pytest.mark.parametrize(
    ("current", "desired", "status", "variant", "verdict"),
    [
        (0.0, 0.0, "InService", "challenger", Verdict.UNDER_EVALUATION),  # the gate's reject, the restore to come
        (0.1, 0.0, "Updating", "challenger", Verdict.UNDER_EVALUATION),  # the reject's weight call still applying
        (0.0, None, "InService", "challenger", Verdict.UNDER_EVALUATION),  # no DesiredWeight reported
        (0.1, 0.1, "InService", "challenger", Verdict.UNAPPROVED),  # a Rejected model on live traffic
        (0.1, 0.0, "InService", "challenger", Verdict.UNAPPROVED),  # set to 0 but still serving, no update
        (0.0, 0.1, "Updating", "challenger", Verdict.UNAPPROVED),  # being put back on traffic
        (0.0, 0.0, "InService", "challenger-v9", Verdict.UNAPPROVED),  # not the run's variant
    ],
)
def test_a_rejected_challenger_is_under_evaluation_only_at_weight_0_while_its_own_run_removes_it(
    sm: FakeSageMaker, current: float, desired: float | None, status: str, variant: str, verdict: Verdict
) -> None:
    arn = _candidate(sm)
    sm.packages[arn]["ModelApprovalStatus"] = "Rejected"
    _ab(sm, current)
    sm.endpoints["ep"]["EndpointStatus"] = status
    if desired is not None:
        sm.endpoints["ep"]["ProductionVariants"][0]["DesiredWeight"] = 1 - desired
        sm.endpoints["ep"]["ProductionVariants"][1]["DesiredWeight"] = desired
    audit = auditor(sm, PackagePolicy(evaluation_share=0.1), Runs(("ep", arn, variant))).audit("ep")
    assert audit.verdict is verdict, audit.reasons
    if verdict is Verdict.UNDER_EVALUATION:
        assert finding_from_audit(audit, "realtime") is None
        assert any("is Rejected" in r and "its run is removing it" in r for r in audit.reasons), audit.reasons
    else:
        assert any("Rejected" in r for r in audit.reasons), audit.reasons


def test_a_rejected_challenger_whose_run_ended_is_a_violation(sm: FakeSageMaker) -> None:
    arn = _candidate(sm)
    sm.packages[arn]["ModelApprovalStatus"] = "Rejected"
    _ab(sm, 0.0)
    for runs in (Runs(), None):  # the run ended (or no challenger runs here)
        assert auditor(sm, PackagePolicy(evaluation_share=0.1), runs).audit("ep").verdict is Verdict.UNAPPROVED


# 4. Self-approval outside the guardrails' OUs (issue 22 item 4)


def test_with_a_central_registry_a_self_approved_package_in_the_endpoints_own_account_is_not_compliant(
    sm: FakeSageMaker,
) -> None:
    # An account outside the SCPs' OUs creates a group named like the watched one and approves its own version.
    sm.endpoint("ep", [{"VariantName": "AllTraffic", "ModelName": "approved"}])
    central = PackagePolicy(groups=frozenset({"manga-recommender"}), accounts=frozenset({"999988887777"}))
    audit = auditor(sm, central).audit("ep")
    assert audit.verdict is Verdict.FOREIGN_PACKAGE and audit.is_violation
    assert any("central registry" in r and "999988887777" in r for r in audit.reasons)
    # Without a central registry the endpoint's own account is the registry, as before.
    assert auditor(sm, PackagePolicy(groups=frozenset({"manga-recommender"}))).audit("ep").verdict is Verdict.COMPLIANT
    # Listing the own account beside the central one allows it again, explicitly.
    both = PackagePolicy(accounts=frozenset({"999988887777", ACCOUNT}))
    assert auditor(sm, both).audit("ep").verdict is Verdict.COMPLIANT
