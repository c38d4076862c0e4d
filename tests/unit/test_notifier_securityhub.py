"""The ASFF mapping and the Security Hub adapter's batching, refusals and retries (a fake client; the
emulator runs in tests/integration/test_notifier_securityhub.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlgov_runtime.adapters.http import DeliveryError
from mlgov_runtime.adapters.securityhub import SecurityHub
from mlgov_runtime.core.findings import Finding
from mlgov_runtime.notifier.asff import FINDING_BYTES_MAX, asff_finding, recommendation
from mlgov_runtime.notifier.logic import MAX_TEXT

GOVERNANCE = "123456789012"


def a_finding(n: Any = 0, **changes: Any) -> dict[str, Any]:
    base = Finding(
        kind="UNREGISTERED_ENDPOINT",
        severity="HIGH",
        account_id=GOVERNANCE,
        region="us-east-1",
        resource_arn=f"arn:aws:sagemaker:us-east-1:{GOVERNANCE}:endpoint/ep-{n}",
        title=f"endpoint ep-{n} serves an unregistered model",
        detail=f"Why. Next: `mlgov audit endpoint ep-{n}`",
        source="scheduled",
        detected_at="2026-12-01T10:00:00Z",
    ).to_dict()
    return {**base, **changes}


class FakeHub:
    def __init__(self, answers: list[Any] | None = None) -> None:
        self.imports: list[list[dict[str, Any]]] = []
        self.answers = answers or []

    def batch_import_findings(self, Findings: list[dict[str, Any]]) -> dict[str, Any]:
        self.imports.append(Findings)
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, Exception):
            raise answer
        return answer or {"SuccessCount": len(Findings), "FailedCount": 0, "FailedFindings": []}


def client_error(code: str, status: int = 400) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "BatchImportFindings")


def test_findings_go_in_batches_of_at_most_100() -> None:
    fake = FakeHub()
    assert SecurityHub(lambda: fake, GOVERNANCE, "us-east-1").import_findings([a_finding(n) for n in range(250)]) == 250
    assert [len(batch) for batch in fake.imports] == [100, 100, 50]


def test_failed_findings_are_a_refusal_not_a_success() -> None:
    failed = {"SuccessCount": 0, "FailedCount": 1, "FailedFindings": [{"Id": "mlgov/x", "ErrorCode": "InvalidInput"}]}
    hub = SecurityHub(lambda: FakeHub([failed]), GOVERNANCE, "us-east-1")
    with pytest.raises(DeliveryError) as caught:
        hub.send(a_finding(), "hub")
    assert not caught.value.retryable and "mlgov/x: InvalidInput" in caught.value.objection


@pytest.mark.parametrize("code,status", [("ThrottlingException", 429), ("TooManyRequestsException", 429), ("X", 503)])
def test_throttling_and_outages_are_retried(code: str, status: int) -> None:
    hub = SecurityHub(lambda: FakeHub([client_error(code, status)]), GOVERNANCE, "us-east-1")
    with pytest.raises(DeliveryError) as caught:
        hub.send(a_finding(), "hub")
    assert caught.value.retryable


def test_access_denied_is_a_refusal_naming_the_fix() -> None:
    hub = SecurityHub(lambda: FakeHub([client_error("AccessDeniedException", 403)]), GOVERNANCE, "us-east-1")
    with pytest.raises(DeliveryError) as caught:
        hub.send(a_finding(), "hub")
    assert not caught.value.retryable and "securityhub:BatchImportFindings" in str(caught.value)


def test_every_field_at_the_findings_own_limit_still_fits_security_hub() -> None:
    huge = "x" * MAX_TEXT
    record = asff_finding(a_finding(title=huge, detail=huge, resource_arn=huge, kind="K" * 64), GOVERNANCE, "us-east-1")
    assert len(json.dumps(record).encode()) < FINDING_BYTES_MAX
    assert len(record["Title"]) == 256 and len(record["Description"]) <= 1024
    assert len(record["Remediation"]["Recommendation"]["Text"]) <= 512
    assert "Url" not in record["Remediation"]["Recommendation"]  # no deep link for what is not an endpoint


@pytest.mark.parametrize(
    "severity,label",
    [("CRITICAL", "CRITICAL"), ("HIGH", "HIGH"), ("MEDIUM", "MEDIUM"), ("LOW", "LOW"), ("INFO", "INFORMATIONAL")],
)
def test_severities_map_to_asff_labels(severity: str, label: str) -> None:
    record = asff_finding(a_finding(severity=severity), GOVERNANCE, "us-east-1")
    assert record["Severity"] == {"Label": label} and record["FindingProviderFields"]["Severity"]["Label"] == label


def test_resource_types() -> None:
    notebook = a_finding(resource_arn=f"arn:aws:sagemaker:us-east-1:{GOVERNANCE}:notebook-instance/nb")
    assert asff_finding(notebook, GOVERNANCE, "us-east-1")["Resources"][0]["Type"] == "AwsSageMakerNotebookInstance"
    assert asff_finding(a_finding(), GOVERNANCE, "us-east-1")["Resources"][0]["Type"] == "Other"


def test_the_recommendation_is_the_fix_the_detail_names() -> None:
    assert recommendation("Broken. Next: `mlgov rollback --endpoint e`") == "Next: `mlgov rollback --endpoint e`"
    assert recommendation("Broken here. Run `mlgov scan` to see more. Nothing else.") == "Run `mlgov scan` to see more."
    assert recommendation("Broken.") == "Broken."


def test_security_hub_is_off_by_default_and_then_takes_every_finding() -> None:
    from mlgov.settings import parse_settings, routing_policy
    from mlgov_runtime.core.routing import Delivery

    hub = Delivery("securityhub", "hub")
    off = routing_policy(parse_settings({}))
    assert all(hub not in off.deliveries(a_finding(severity=s)) for s in ("CRITICAL", "INFO"))
    on = routing_policy(parse_settings({"alert_routing": {"security_hub": True}}))
    changes: dict[str, Any]
    for changes in ({"severity": "INFO"}, {"severity": "CRITICAL"}, {"status": "RESOLVED", "severity": "INFO"}):
        assert hub in on.deliveries(a_finding(**changes)), changes


def test_a_misspelt_security_hub_setting_is_refused() -> None:
    from mlgov.settings import parse_settings

    with pytest.raises(Exception, match="security_hubb"):
        parse_settings({"alert_routing": {"security_hubb": True}})


def test_a_record_over_240_kb_is_a_refusal_not_a_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgov_runtime.notifier import asff

    monkeypatch.setattr(asff, "FINDING_BYTES_MAX", 100)  # stands in for a field the mapping forgot to cut
    with pytest.raises(DeliveryError) as caught:
        SecurityHub(lambda: FakeHub(), GOVERNANCE, "us-east-1").send(a_finding(), "hub")
    assert not caught.value.retryable and "240 KB" in str(caught.value)
