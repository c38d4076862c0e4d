from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mlgov_runtime.lineage_audit.events import InvalidEvent, parse_audit_request
from tests.conftest import load_event

Loader = Callable[[str], dict[str, Any]]


def test_cloudtrail_create_endpoint_names_the_endpoint(event_fixture: Loader) -> None:
    request = parse_audit_request(event_fixture("cloudtrail_create_endpoint.json"))
    assert (request.trigger, request.endpoint_name, request.action) == (
        "cloudtrail",
        "manga-recommender-hotfix",
        "CreateEndpoint",
    )
    assert (request.account_id, request.region) == ("123456789012", "us-east-1")


def test_cloudtrail_update_endpoint(event_fixture: Loader) -> None:
    request = parse_audit_request(event_fixture("cloudtrail_update_endpoint.json"))
    assert (request.endpoint_name, request.action) == ("manga-recommender-prod", "UpdateEndpoint")


def test_state_change_in_service(event_fixture: Loader) -> None:
    request = parse_audit_request(event_fixture("endpoint_state_change_in_service.json"))
    assert (request.trigger, request.endpoint_name) == ("state_change", "manga-recommender-prod")


def test_scheduled_event_scans_every_endpoint(event_fixture: Loader) -> None:
    request = parse_audit_request(event_fixture("scheduled_weekly_scan.json"))
    assert request.trigger == "schedule" and request.endpoint_name is None


def test_failed_call_is_refused_with_its_error_code(event_fixture: Loader) -> None:
    with pytest.raises(InvalidEvent, match="AccessDenied"):
        parse_audit_request(event_fixture("cloudtrail_create_endpoint_denied.json"))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.pop("detail-type"), "detail-type"),
        (lambda e: e.update(account="12"), "12-digit"),
        (lambda e: e.update(region="mars"), "region"),
        (lambda e: e["detail"].update(eventName="StopTrainingJob"), "StopTrainingJob"),
        (lambda e: e["detail"]["requestParameters"].update(endpointName="bad name!"), "endpoint name"),
        (lambda e: e["detail"].update(requestParameters=None), "endpoint name"),
        (lambda e: e.update(source="aws.s3"), "unsupported event"),
    ],
)
def test_malformed_events_are_refused_with_a_specific_reason(
    event_fixture: Loader, mutate: Callable[[dict[str, Any]], Any], message: str
) -> None:
    event = event_fixture("cloudtrail_create_endpoint.json")
    mutate(event)
    with pytest.raises(InvalidEvent, match=message):
        parse_audit_request(event)


def test_non_object_event_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="got list"):
        parse_audit_request([1, 2])


def test_a_cloudtrail_detail_naming_another_account_than_the_sender_is_refused() -> None:
    # EventBridge sets `account` to the sender; the detail's recipient is the sender's to claim.
    event = load_event("cloudtrail_create_endpoint.json")
    event["detail"]["recipientAccountId"] = "999988887777"
    with pytest.raises(InvalidEvent, match="differs from the event's account"):
        parse_audit_request(event)


def test_a_package_state_change_names_its_package_only_when_it_lies_in_the_senders_account(
    event_fixture: Loader,
) -> None:
    event = event_fixture("model_package_state_change_rejected.json")
    request = parse_audit_request(event)
    assert (request.trigger, request.endpoint_name, request.action) == ("package_change", None, "Rejected")
    assert request.package_arn == event["detail"]["ModelPackageArn"]
    # The detail is data: another account's package, or no ARN at all, re-audits only the sender's account.
    for arn in (
        "arn:aws:sagemaker:us-east-1:999988887777:model-package/manga-recommender/1",
        "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/manga-recommender",
        None,
    ):
        detail = {**event["detail"], "ModelPackageArn": arn}
        assert parse_audit_request({**event, "detail": detail}).package_arn is None, arn
