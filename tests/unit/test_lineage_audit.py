"""Verdict rules of CONTRACTS.md, on an in-memory SageMaker (no AWS, no sockets)."""

from __future__ import annotations

import pytest

from mlgov.ops.audit_many import audit_many, summarize
from mlgov_runtime.core.exemptions import ExemptionPolicy
from mlgov_runtime.lineage_audit.audit import EndpointAuditor
from mlgov_runtime.lineage_audit.logic import Verdict
from tests.unit.fakes import ACCOUNT, REGION, FakeSageMaker, package_arn

RAW = {"Image": "763104351884.dkr.ecr.eu-west-1.amazonaws.com/tgi:2.4", "ModelDataUrl": "s3://b/model.tar.gz"}


def variant(model: str, name: str = "AllTraffic", **extra: object) -> dict[str, object]:
    return {"VariantName": name, "ModelName": model, "InitialInstanceCount": 1, **extra}


@pytest.fixture
def sm() -> FakeSageMaker:
    fake = FakeSageMaker()
    fake.package(1, "Approved")
    fake.package(2, "PendingManualApproval")
    fake.package(3, "Rejected")
    fake.model("approved", {"ModelPackageName": package_arn(1)})
    fake.model("pending", {"ModelPackageName": package_arn(2)})
    fake.model("rejected", {"ModelPackageName": package_arn(3)})
    fake.model("raw", RAW)
    return fake


def auditor(
    sm: FakeSageMaker, exemptions: ExemptionPolicy | None = None, ous: list[str] | None = None
) -> EndpointAuditor:
    return EndpointAuditor(sm, ACCOUNT, REGION, exemptions or ExemptionPolicy(), ou_resolver=(lambda _a: ous or []))


def test_given_primary_container_on_approved_package_then_compliant(sm: FakeSageMaker) -> None:
    sm.endpoint("prod", [variant("approved")])
    audit = auditor(sm).audit("prod")
    assert audit.verdict is Verdict.COMPLIANT
    assert audit.variants[0].containers[0].approval_status == "Approved"
    assert audit.variants[0].containers[0].model_package_arn == package_arn(1)


def test_given_raw_s3_artifact_then_unregistered_naming_the_artifact(sm: FakeSageMaker) -> None:
    sm.endpoint("hotfix", [variant("raw")])
    audit = auditor(sm).audit("hotfix")
    assert audit.verdict is Verdict.UNREGISTERED
    assert "s3://b/model.tar.gz" in audit.reasons[0]
    assert audit.variants[0].containers[0].to_dict() == {"model_package_arn": None, "approval_status": None}


@pytest.mark.parametrize(("model", "status"), [("pending", "PendingManualApproval"), ("rejected", "Rejected")])
def test_given_package_not_approved_then_unapproved(sm: FakeSageMaker, model: str, status: str) -> None:
    sm.endpoint("ep", [variant(model)])
    audit = auditor(sm).audit("ep")
    assert audit.verdict is Verdict.UNAPPROVED
    assert status in audit.reasons[0]


def test_given_multi_container_model_with_one_unregistered_container_then_unregistered(sm: FakeSageMaker) -> None:
    sm.model("pipeline", {"ModelPackageName": package_arn(1)}, RAW, primary=False)
    sm.endpoint("ep", [variant("pipeline")])
    audit = auditor(sm).audit("ep")
    assert audit.verdict is Verdict.UNREGISTERED
    assert [c.approval_status for c in audit.variants[0].containers] == ["Approved", None]


def test_given_containers_and_an_empty_primary_container_then_containers_are_audited(sm: FakeSageMaker) -> None:
    sm.models["both"] = {"PrimaryContainer": {}, "Containers": [{"ModelPackageName": package_arn(1)}]}
    sm.endpoint("ep", [variant("both")])
    assert auditor(sm).audit("ep").verdict is Verdict.COMPLIANT


def test_given_two_variants_one_unregistered_then_the_worst_decides(sm: FakeSageMaker) -> None:
    sm.endpoint("ab", [variant("approved", "champion"), variant("raw", "challenger")])
    audit = auditor(sm).audit("ab")
    assert audit.verdict is Verdict.UNREGISTERED
    assert [v.verdict for v in audit.variants] == [Verdict.COMPLIANT, Verdict.UNREGISTERED]
    assert "challenger" in " ".join(audit.reasons)


def test_given_shadow_variant_unapproved_then_it_counts_and_is_labelled_shadow(sm: FakeSageMaker) -> None:
    sm.endpoint("ep", [variant("approved")], shadow=[variant("pending", "shadow-1")])
    audit = auditor(sm).audit("ep")
    assert audit.verdict is Verdict.UNAPPROVED
    assert [v.to_dict()["kind"] for v in audit.variants] == ["production", "shadow"]


def test_given_serverless_variant_then_audited_like_any_other(sm: FakeSageMaker) -> None:
    sm.endpoint(
        "sls",
        [
            {
                "VariantName": "AllTraffic",
                "ModelName": "approved",
                "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
            }
        ],
    )
    assert auditor(sm).audit("sls").verdict is Verdict.COMPLIANT


def test_given_model_deleted_after_endpoint_creation_then_error_never_compliant(sm: FakeSageMaker) -> None:
    sm.endpoint("orphan", [variant("gone")])
    audit = auditor(sm).audit("orphan")
    assert audit.verdict is Verdict.ERROR
    assert "no longer exists" in audit.reasons[0]


def test_given_endpoint_config_deleted_then_error(sm: FakeSageMaker) -> None:
    sm.endpoint("ep", [variant("approved")])
    del sm.configs["ep-cfg"]
    assert auditor(sm).audit("ep").verdict is Verdict.ERROR


def test_given_model_read_throttled_after_retries_then_error_not_compliant(sm: FakeSageMaker) -> None:
    sm.endpoint("ep", [variant("approved")])
    sm.fail("model", "approved")
    audit = auditor(sm).audit("ep")
    assert audit.verdict is Verdict.ERROR
    assert "Throttling" in audit.reasons[0]


def test_given_unregistered_and_unreadable_variants_then_the_definite_violation_wins(sm: FakeSageMaker) -> None:
    sm.endpoint("ep", [variant("gone", "a"), variant("raw", "b")])
    assert auditor(sm).audit("ep").verdict is Verdict.UNREGISTERED


def test_given_package_name_that_does_not_resolve_then_package_not_found(sm: FakeSageMaker) -> None:
    sm.model("ghost", {"ModelPackageName": package_arn(99)})
    sm.endpoint("ep", [variant("ghost")])
    audit = auditor(sm).audit("ep")
    assert audit.verdict is Verdict.PACKAGE_NOT_FOUND
    assert package_arn(99) in audit.reasons[0]


def test_given_package_named_by_versioned_name_then_resolved_through_its_arn(sm: FakeSageMaker) -> None:
    sm.model("by-name", {"ModelPackageName": "manga-recommender/1"})
    sm.endpoint("ep", [variant("by-name")])
    audit = auditor(sm).audit("ep")
    assert audit.verdict is Verdict.COMPLIANT
    assert audit.variants[0].containers[0].model_package_arn == package_arn(1)


def test_given_tag_claiming_approved_package_on_raw_model_then_unregistered_with_reason(sm: FakeSageMaker) -> None:
    sm.endpoint("spoof", [variant("raw")], tags={"ModelPackageName": package_arn(1)})
    audit = auditor(sm).audit("spoof")
    assert audit.verdict is Verdict.UNREGISTERED
    assert any("disagrees with the deployed lineage" in r for r in audit.reasons)


def test_given_tag_matching_the_lineage_then_no_tag_reason(sm: FakeSageMaker) -> None:
    sm.endpoint("prod", [variant("approved")], tags={"ModelPackageName": package_arn(1)})
    audit = auditor(sm).audit("prod")
    assert audit.verdict is Verdict.COMPLIANT
    assert audit.reasons == []


def test_given_tag_naming_another_package_on_compliant_lineage_then_reason_added(sm: FakeSageMaker) -> None:
    sm.endpoint("prod", [variant("approved")], tags={"ModelPackageName": package_arn(3)})
    audit = auditor(sm).audit("prod")
    assert any(package_arn(3) in r for r in audit.reasons)


def test_given_variant_without_model_and_no_component_then_no_model_not_error(sm: FakeSageMaker) -> None:
    sm.endpoint("ic", [{"VariantName": "AllTraffic", "InstanceType": "ml.g5.2xlarge"}])
    audit = auditor(sm).audit("ic")
    assert audit.verdict is Verdict.NO_MODEL and not audit.is_violation
    assert "serves nothing" in audit.reasons[-1]


def test_each_package_is_described_once_per_run(sm: FakeSageMaker) -> None:
    for name in ("a", "b", "c"):
        sm.endpoint(name, [variant("approved"), variant("pending", "p")])
    run = auditor(sm)
    audit_many(run, None)
    package_calls = [c for c in sm.calls if c[0] == "package"]
    assert sorted(package_calls) == [("package", package_arn(1)), ("package", package_arn(2))]
    assert run.packages.describe_calls == 2


def test_given_experiment_prefix_in_experiment_account_then_exempt(sm: FakeSageMaker) -> None:
    sm.endpoint("experiment-lora", [variant("raw")])
    audit = auditor(sm, ExemptionPolicy(account_ids=frozenset({ACCOUNT}))).audit("experiment-lora")
    assert audit.verdict is Verdict.EXEMPT
    assert "experiment account" in audit.reasons[0]


def test_given_experiment_prefix_in_production_account_then_not_exempt(sm: FakeSageMaker) -> None:
    sm.endpoint("experiment-lora", [variant("raw")])
    audit = auditor(sm, ExemptionPolicy(account_ids=frozenset({"999999999999"}))).audit("experiment-lora")
    assert audit.verdict is Verdict.UNREGISTERED
    assert "is not exempt in account" in audit.reasons[0]


def test_given_experiment_prefix_in_experiment_ou_then_exempt(sm: FakeSageMaker) -> None:
    sm.endpoint("experiment-lora", [variant("raw")])
    policy = ExemptionPolicy(organizational_unit_ids=frozenset({"ou-ab12-experiments"}))
    audit = auditor(sm, policy, ous=["ou-ab12-experiments", "ou-ab12-ml"]).audit("experiment-lora")
    assert audit.verdict is Verdict.EXEMPT


def test_given_a_vanished_endpoint_in_a_scan_then_error_entry_not_a_crash(sm: FakeSageMaker) -> None:
    audits = audit_many(auditor(sm), ["nope"])
    assert audits[0].verdict is Verdict.ERROR
    assert "does not exist" in audits[0].reasons[0]


def test_summary_counts_every_verdict(sm: FakeSageMaker) -> None:
    sm.endpoint("ok", [variant("approved")])
    sm.endpoint("bad", [variant("raw")])
    sm.endpoint("experiment-x", [variant("raw")])
    sm.endpoint("orphan", [variant("gone")])
    report = summarize(audit_many(auditor(sm, ExemptionPolicy(account_ids=frozenset({ACCOUNT}))), None))
    assert report["summary"] == {
        "total": 4,
        "compliant": 1,
        "violations": 1,
        "exempt": 1,
        "errors": 1,
        "no_model": 0,
        "under_evaluation": 0,
    }
    assert set(report["endpoints"][0]) == {
        "endpoint_name",
        "endpoint_arn",
        "account_id",
        "region",
        "verdict",
        "reasons",
        "variants",
        "inference_components",
    }
