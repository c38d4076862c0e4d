"""The audit Lambda end to end under moto: events in, findings stored and published, metric out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from mlgov.sandbox import emf_metric
from mlgov_runtime.adapters.findings_store import FindingsStore
from mlgov_runtime.adapters.sagemaker import SageMakerLineageReader
from mlgov_runtime.core.exemptions import ExemptionPolicy
from mlgov_runtime.lineage_audit.audit import EndpointAuditor
from mlgov_runtime.lineage_audit.logic import Verdict
from tests.conftest import load_event
from tests.integration.conftest import ACCOUNT, REGION, Sandbox


def create_event(endpoint: str, event_id: str = "evt-1") -> dict[str, Any]:
    event = load_event("cloudtrail_create_endpoint.json")
    event["id"] = event_id
    event["detail"]["requestParameters"]["endpointName"] = endpoint
    event["detail"]["requestParameters"]["endpointConfigName"] = f"{endpoint}-config"  # the estate's naming
    return event


def test_every_estate_endpoint_gets_the_expected_verdict(sandbox: Sandbox) -> None:
    for index, (name, expected) in enumerate(sandbox.estate.expected.items()):
        result = sandbox.invoke(create_event(name, f"evt-{index}"))
        assert result["status"] == "audited", result
        assert result["results"][0]["verdict"] == expected, name


def test_unregistered_endpoint_yields_one_stored_and_published_finding_and_metric(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    result = sandbox.invoke(create_event("manga-recommender-hotfix"))
    assert emf_metric(capsys.readouterr().out, "UnregisteredEndpointDetected") == 1
    [published] = sandbox.published()
    [stored] = sandbox.stored()
    assert published["kind"] == "UNREGISTERED_ENDPOINT"
    assert published["finding_id"] == stored["finding_id"] == result["results"][0]["published"][0]
    assert published["source"] == "realtime"
    assert published["resource_arn"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/manga-recommender-hotfix"
    assert published["evidence"]["verdict"] == "UNREGISTERED"
    assert stored["status"] == "OPEN"


def test_compliant_endpoint_emits_zero_and_publishes_nothing(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.invoke(create_event("manga-recommender-prod"))
    assert emf_metric(capsys.readouterr().out, "UnregisteredEndpointDetected") == 0
    assert sandbox.published() == [] and sandbox.stored() == []


def test_the_same_event_delivered_twice_yields_one_record_and_one_publication(sandbox: Sandbox) -> None:
    event = create_event("manga-recommender-canary", "dup-1")
    first = sandbox.invoke(event)
    second = sandbox.invoke(event)
    assert first == second
    assert len(sandbox.published()) == 1
    [stored] = sandbox.stored()
    assert stored["detection_count"] == "1"


def test_a_second_event_about_the_same_unchanged_problem_publishes_nothing_new(sandbox: Sandbox) -> None:
    sandbox.invoke(create_event("manga-recommender-canary", "a"))
    state_change = load_event("endpoint_state_change_in_service.json")
    state_change["detail"]["EndpointName"] = "manga-recommender-canary"
    result = sandbox.invoke(state_change)
    assert result["results"][0]["published"] == []
    assert len(sandbox.published()) == 1
    assert sandbox.stored()[0]["detection_count"] == "2"


def test_a_crash_between_store_and_publish_is_published_on_retry(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = FindingsStore.publish
    calls = {"n": 0}

    def flaky(self: FindingsStore, finding: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("SNS unreachable")
        original(self, finding)

    monkeypatch.setattr(FindingsStore, "publish", flaky)
    event = create_event("manga-recommender-hotfix", "retry-1")
    with pytest.raises(ConnectionError):
        sandbox.invoke(event)  # EventBridge retries this delivery
    assert sandbox.published() == []
    sandbox.invoke(event)
    assert len(sandbox.published()) == 1


def test_fixing_an_endpoint_publishes_one_resolution(sandbox: Sandbox) -> None:
    sandbox.invoke(create_event("manga-recommender-hotfix", "before"))
    sandbox.published()
    # update_endpoint is not implemented in moto: redeploy the endpoint on the approved model instead.
    sandbox.sm.delete_endpoint(EndpointName="manga-recommender-hotfix")
    sandbox.sm.create_endpoint(
        EndpointName="manga-recommender-hotfix", EndpointConfigName="manga-recommender-prod-config"
    )
    sandbox.invoke(create_event("manga-recommender-hotfix", "after"))
    [resolution] = sandbox.published()
    assert resolution["status"] == "RESOLVED" and resolution["severity"] == "INFO"
    sandbox.invoke(create_event("manga-recommender-hotfix", "after-again"))
    assert sandbox.published() == []


def test_an_endpoint_that_vanished_before_the_audit_is_an_info_outcome(sandbox: Sandbox) -> None:
    result = sandbox.invoke(create_event("manga-recommender-deleted-meanwhile"))
    assert result["status"] == "audited"
    assert result["results"][0]["outcome"] == "endpoint_not_found"
    assert sandbox.published() == []


def test_scheduled_scan_audits_every_endpoint(sandbox: Sandbox) -> None:
    result = sandbox.invoke(load_event("scheduled_weekly_scan.json"))
    verdicts = {r["endpoint_name"]: r.get("verdict") for r in result["results"]}
    assert verdicts == sandbox.estate.expected
    assert result["packages_described"] == 4
    findings = sandbox.published()
    assert {f["source"] for f in findings} == {"scheduled"}
    assert len(findings) == 6


def test_failed_api_call_events_are_rejected_not_audited(sandbox: Sandbox) -> None:
    result = sandbox.invoke(load_event("cloudtrail_create_endpoint_denied.json"))
    assert result["status"] == "rejected" and "AccessDenied" in result["reason"]


def test_event_from_another_account_without_member_role_is_skipped_with_reason(sandbox: Sandbox) -> None:
    event = create_event("manga-recommender-hotfix")
    event["account"] = event["detail"]["recipientAccountId"] = "210987654321"
    result = sandbox.invoke(event)
    assert result["status"] == "skipped" and "MEMBER_AUDIT_ROLE_NAME" in result["reason"]


def test_throttling_that_outlasts_retries_is_error_never_compliant(sandbox: Sandbox) -> None:
    """moto never throttles: botocore's Stubber answers DescribeModel with ThrottlingException.

    The Stubber answers before the retry layer, so this pins what happens after botocore's
    adaptive retries are exhausted: the container's lineage is unknown, the verdict is ERROR.
    """
    reader = SageMakerLineageReader(sandbox.sm)
    now = datetime.now(UTC)
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/manga-recommender-prod"
    with Stubber(sandbox.sm) as stub:
        stub.add_response(
            "describe_endpoint",
            {
                "EndpointName": "manga-recommender-prod",
                "EndpointArn": arn,
                "EndpointStatus": "InService",
                "EndpointConfigName": "manga-recommender-prod-config",
                "CreationTime": now,
                "LastModifiedTime": now,
            },
        )
        stub.add_response("list_tags", {"Tags": []})
        stub.add_response(
            "describe_endpoint_config",
            {
                "EndpointConfigName": "manga-recommender-prod-config",
                "CreationTime": now,
                "EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/"
                "manga-recommender-prod-config",
                "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "manga-rec-v2"}],
            },
        )
        stub.add_client_error("describe_model", "ThrottlingException", "Rate exceeded", 400)
        audit = EndpointAuditor(reader, ACCOUNT, REGION, ExemptionPolicy()).audit("manga-recommender-prod")
    assert audit.verdict is Verdict.ERROR
    assert "ThrottlingException" in " ".join(audit.reasons)


def test_clients_use_adaptive_retries() -> None:
    from mlgov_runtime.adapters.aws import AwsContext

    client = AwsContext(region=REGION).client("sagemaker")
    assert client.meta.config.retries["mode"] == "adaptive"
    assert client.meta.config.retries["total_max_attempts"] >= 5


def test_stored_finding_body_is_the_contract_json(sandbox: Sandbox) -> None:
    sandbox.invoke(create_event("manga-recommender-spoofed"))
    [stored] = sandbox.stored()
    body = json.loads(stored["finding"])
    assert any("disagrees with the deployed lineage" in r for r in body["evidence"]["reasons"])


def test_a_rogue_inference_component_is_flagged_in_real_time(sandbox: Sandbox) -> None:
    # Given an endpoint hosting an approved component and a raw adapter with no model (the emulator's components)
    from mlgov.estate import LORA_HOST, ROGUE_ADAPTER, seed_inference_component_endpoint

    seed_inference_component_endpoint(sandbox.sm, sandbox.estate)
    event = load_event("cloudtrail_create_endpoint.json")
    event["detail"]["eventName"] = "CreateInferenceComponent"
    event["detail"]["requestParameters"] = {"inferenceComponentName": "manga-lora-hotfix", "endpointName": LORA_HOST}
    # When CloudTrail reports the CreateInferenceComponent call
    result = sandbox.invoke(event)
    # Then the endpoint is UNREGISTERED, naming the raw adapter, and a HIGH finding says what to run next
    [item] = result["results"]
    assert item["verdict"] == "UNREGISTERED"
    assert any(ROGUE_ADAPTER in reason for reason in item["reasons"])
    [finding] = [f for f in sandbox.published() if LORA_HOST in f["resource_arn"]]
    assert finding["severity"] == "HIGH" and "mlgov audit --endpoint manga-lora-host" in finding["detail"]


def test_the_demos_unpinned_endpoints_reach_their_verdicts_and_say_how_to_pin(sandbox: Sandbox) -> None:
    """`make demo` shows an Approved package with a tag-only image and one with uncompressed model data: each a
    MEDIUM violation whose finding names the URI or image and the fix (re-register with mlgov register)."""
    from mlgov.estate import UNCOMPRESSED_DATA, seed_unpinned_endpoints

    names = seed_unpinned_endpoints(sandbox.sm, sandbox.estate)
    for index, name in enumerate(names):
        [item] = sandbox.invoke(create_event(name, f"evt-unpinned-{index}"))["results"]
        assert item["verdict"] == sandbox.estate.expected[name], item
    found = {f["resource_arn"].rsplit("/", 1)[-1]: f for f in sandbox.published()}
    assert sorted(found) == sorted(names), found
    image, data = (found[n] for n in names)
    assert image["severity"] == data["severity"] == "MEDIUM"
    assert "(UNPINNED_IMAGE)" in image["title"] and "by a mutable tag with no ImageDigest" in image["detail"]
    assert "put-image-tag-mutability" in image["detail"] and "mlgov register" in image["detail"]
    assert "(UNPINNED_MODEL_DATA)" in data["title"] and UNCOMPRESSED_DATA in data["detail"]
    assert "--write-once-bucket" in data["detail"]
    for finding in found.values():
        assert f"mlgov audit --endpoint {finding['resource_arn'].rsplit('/', 1)[-1]}" in finding["detail"]


def test_deleting_the_rogue_component_resolves_the_finding_once(sandbox: Sandbox) -> None:
    from mlgov.estate import LORA_HOST, seed_inference_component_endpoint

    seed_inference_component_endpoint(sandbox.sm, sandbox.estate)
    event = load_event("cloudtrail_create_endpoint.json")
    event["detail"]["requestParameters"]["endpointName"] = LORA_HOST
    sandbox.invoke(event)
    sandbox.published()
    sandbox.sm.delete_inference_component(InferenceComponentName="manga-lora-hotfix")
    deleted = load_event("cloudtrail_create_endpoint.json")
    deleted["detail"]["eventName"] = "DeleteInferenceComponent"
    deleted["detail"]["requestParameters"] = {"inferenceComponentName": "manga-lora-hotfix"}
    # A delete names no endpoint: every endpoint of the account/region is re-audited
    deleted["id"] = "delete-component-event"
    result = sandbox.invoke(deleted)
    assert result["status"] == "audited", result
    verdicts = {r["endpoint_name"]: r.get("verdict") for r in result["results"]}
    assert verdicts[LORA_HOST] == "COMPLIANT"
    closing = [f for f in sandbox.published() if LORA_HOST in f["resource_arn"]]
    assert [f["status"] for f in closing] == ["RESOLVED"]
    assert not [f for f in sandbox.published() if LORA_HOST in f["resource_arn"]]


def test_the_weekly_scan_resolves_findings_of_endpoints_deleted_without_an_event(sandbox: Sandbox) -> None:
    # Given a violation found in real time
    event = load_event("cloudtrail_create_endpoint.json")
    event["detail"]["requestParameters"]["endpointName"] = "manga-recommender-hotfix"
    sandbox.invoke(event)
    assert [f["status"] for f in sandbox.published() if "hotfix" in f["resource_arn"]] == ["OPEN"]
    # When the endpoint is deleted and no DeleteEndpoint event arrives, then the weekly scan runs twice
    sandbox.sm.delete_endpoint(EndpointName="manga-recommender-hotfix")
    scan = load_event("scheduled_weekly_scan.json")
    first = sandbox.invoke(scan)
    scan_again = {**scan, "id": "next-week"}
    second = sandbox.invoke(scan_again)
    # Then the finding is resolved once, by the first scan
    closing = [f for f in sandbox.published() if "hotfix" in f["resource_arn"]]
    assert [f["status"] for f in closing] == ["RESOLVED"]
    assert len(first["resolved_vanished"]) == 1 and second["resolved_vanished"] == []
