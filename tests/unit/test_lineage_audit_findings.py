from __future__ import annotations

import pytest

from mlgov_runtime.core.findings import Finding, finding_id
from mlgov_runtime.lineage_audit.findings import (
    KIND_ENDPOINT_AUDIT_ERROR,
    KIND_UNREGISTERED_ENDPOINT,
    finding_from_audit,
    kinds_to_close,
)
from mlgov_runtime.lineage_audit.logic import EndpointAudit, Verdict
from mlgov_runtime.notifier.logic import REQUIRED_FINDING_KEYS

ARN = "arn:aws:sagemaker:eu-west-1:111122223333:endpoint/hotfix"


def audit(verdict: Verdict, reasons: list[str] | None = None) -> EndpointAudit:
    return EndpointAudit("hotfix", ARN, "111122223333", "eu-west-1", verdict, reasons or ["why"])


def test_finding_id_is_stable_and_depends_on_kind_account_region_resource() -> None:
    first = finding_id("UNREGISTERED_ENDPOINT", "111122223333", "eu-west-1", ARN)
    assert first == finding_id("UNREGISTERED_ENDPOINT", "111122223333", "eu-west-1", ARN)
    assert first != finding_id("UNREGISTERED_ENDPOINT", "111122223333", "us-east-1", ARN)
    assert first != finding_id("ENDPOINT_AUDIT_ERROR", "111122223333", "eu-west-1", ARN)


@pytest.mark.parametrize("verdict", [Verdict.UNREGISTERED, Verdict.UNAPPROVED, Verdict.PACKAGE_NOT_FOUND])
def test_violations_become_high_unregistered_endpoint_findings(verdict: Verdict) -> None:
    finding = finding_from_audit(audit(verdict), "realtime")
    assert finding is not None
    body = finding.to_dict()
    assert body["kind"] == KIND_UNREGISTERED_ENDPOINT
    assert body["severity"] == "HIGH"
    assert body["resource_arn"] == ARN
    assert body["evidence"]["verdict"] == verdict.value
    assert set(body) >= {*REQUIRED_FINDING_KEYS, "evidence"}  # the contract's shape, as the notifier checks it
    assert body["detected_at"].endswith("Z")


def test_error_verdict_is_its_own_kind_so_it_never_masks_a_violation() -> None:
    finding = finding_from_audit(audit(Verdict.ERROR), "scheduled")
    assert finding is not None and finding.kind == KIND_ENDPOINT_AUDIT_ERROR and finding.severity == "MEDIUM"


@pytest.mark.parametrize("verdict", [Verdict.COMPLIANT, Verdict.EXEMPT])
def test_compliant_and_exempt_endpoints_yield_no_finding(verdict: Verdict) -> None:
    assert finding_from_audit(audit(verdict), "realtime") is None
    assert set(kinds_to_close(verdict)) == {KIND_UNREGISTERED_ENDPOINT, KIND_ENDPOINT_AUDIT_ERROR}


def test_fingerprint_changes_with_what_is_wrong_not_with_time() -> None:
    a = finding_from_audit(audit(Verdict.UNREGISTERED, ["x"]), "realtime")
    b = finding_from_audit(audit(Verdict.UNREGISTERED, ["x"]), "scheduled")
    c = finding_from_audit(audit(Verdict.UNAPPROVED, ["y"]), "realtime")
    assert a and b and c
    b.detected_at = "2030-01-01T00:00:00Z"
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()
    assert a.finding_id == c.finding_id


def test_bad_severity_is_refused_with_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="CRITICAL, HIGH"):
        Finding("K", "URGENT", "1", "r", "arn", "t", "d", "realtime")
