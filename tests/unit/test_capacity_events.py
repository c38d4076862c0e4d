"""Which events the capacity Lambda checks, and why it refuses the others."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from mlgov_runtime.capacity.events import InvalidEvent, parse_capacity_request
from tests.conftest import load_event

REGISTER = load_event("cloudtrail_register_scalable_target.json")


def changed(base: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    event = copy.deepcopy(base)
    change(event)
    return event


def test_a_register_scalable_target_call_names_the_endpoint_of_the_variant() -> None:
    request = parse_capacity_request(REGISTER)
    assert (request.trigger, request.endpoint_name, request.component) == (
        "cloudtrail",
        "manga-recommender-prod",
        None,
    )
    assert (request.action, request.account_id, request.event_id) == (
        "RegisterScalableTarget",
        "123456789012",
        REGISTER["id"],
    )


def test_an_inference_component_target_is_looked_up_by_its_component() -> None:
    event = changed(
        REGISTER,
        lambda e: e["detail"]["requestParameters"].update(
            resourceId="inference-component/manga-lora-ja",
            scalableDimension="sagemaker:inference-component:DesiredCopyCount",
        ),
    )
    request = parse_capacity_request(event)
    assert (request.endpoint_name, request.component) == (None, "manga-lora-ja")


@pytest.mark.parametrize(
    "call", ["PutScalingPolicy", "DeleteScalingPolicy", "DeregisterScalableTarget", "PutScheduledAction"]
)
def test_every_autoscaling_change_is_checked(call: str) -> None:
    event = changed(REGISTER, lambda e: e["detail"].update(eventName=call))
    assert parse_capacity_request(event).action == call


def test_endpoint_calls_state_changes_and_the_schedule_are_checked() -> None:
    create = load_event("cloudtrail_create_endpoint.json")
    assert parse_capacity_request(create).endpoint_name == "manga-recommender-hotfix"
    update_component = changed(
        create,
        lambda e: e["detail"].update(
            eventName="UpdateInferenceComponent", requestParameters={"inferenceComponentName": "manga-lora-ja"}
        ),
    )
    assert parse_capacity_request(update_component).component == "manga-lora-ja"
    in_service = parse_capacity_request(load_event("endpoint_state_change_in_service.json"))
    assert (in_service.trigger, in_service.endpoint_name) == ("state_change", "manga-recommender-prod")
    weekly = parse_capacity_request(load_event("scheduled_weekly_scan.json"))
    assert (weekly.trigger, weekly.endpoint_name, weekly.component) == ("schedule", None, None)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e["detail"].update(errorCode="ValidationException"), "failed (ValidationException)"),
        (lambda e: e["detail"]["requestParameters"].update(serviceNamespace="ecs"), "not sagemaker"),
        (lambda e: e["detail"]["requestParameters"].update(resourceId="service/default/web"), "not a variant"),
        (lambda e: e["detail"].update(eventName="DescribeScalableTargets"), "is not one of"),
        (
            lambda e: e["detail"]["requestParameters"].update(resourceId="endpoint/bad name!/variant/v"),
            "not a SageMaker",
        ),
        (lambda e: e.update(account="12"), "12-digit"),
        (lambda e: e.update(source="aws.s3"), "unsupported event"),
        (lambda e: e.update(detail=[]), "not an object"),
        (lambda e: e.pop("id"), "id: missing"),
    ],
)
def test_events_that_cannot_be_checked_are_refused_with_the_reason(
    change: Callable[[dict[str, Any]], Any], reason: str
) -> None:
    with pytest.raises(InvalidEvent, match=re.escape(reason)):
        parse_capacity_request(changed(REGISTER, change))


def test_a_non_object_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="expected an EventBridge event object"):
        parse_capacity_request(["not", "an", "event"])
