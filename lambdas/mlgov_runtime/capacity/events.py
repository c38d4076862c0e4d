"""Typed views of the events the capacity Lambda accepts: Application Auto Scaling and SageMaker API
calls (CloudTrail), endpoints reaching InService, and the weekly schedule."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from mlgov_runtime.core import events as core_events

NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
RESOURCE_ID = re.compile(r"^(?:endpoint/(?P<endpoint>[^/]+)/variant/[^/]+|inference-component/(?P<component>[^/]+))$")

CLOUDTRAIL = "AWS API Call via CloudTrail"
AUTOSCALING_CALLS = (
    "RegisterScalableTarget",
    "DeregisterScalableTarget",
    "PutScalingPolicy",
    "DeleteScalingPolicy",
    "PutScheduledAction",
    "DeleteScheduledAction",
)
SAGEMAKER_CALLS = (
    "CreateEndpoint",
    "UpdateEndpoint",
    "DeleteEndpoint",
    "CreateInferenceComponent",
    "UpdateInferenceComponent",
    "UpdateInferenceComponentRuntimeConfig",  # sets a component's copies directly, to 0 too
)


class InvalidEvent(core_events.InvalidEvent):
    """The event cannot be checked; the message says why."""


@dataclass(frozen=True)
class CapacityRequest:
    # What every log line of its invocation carries.
    LOG_KEYS: ClassVar[tuple[str, ...]] = ("event_id", "endpoint_name", "trigger")
    event_id: str
    trigger: str  # cloudtrail | state_change | schedule
    account_id: str
    region: str
    endpoint_name: str | None = None  # None with no component: every endpoint (schedule)
    component: str | None = None  # an inference component whose endpoint is looked up
    action: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value or len(value) > 256:
        raise InvalidEvent(f"not an EventBridge event ({key}: missing, not a string or too long)")
    return value


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise InvalidEvent(f"{what} {value!r} is not a SageMaker resource name")
    return value


def parse_capacity_request(event: Any) -> CapacityRequest:
    if not isinstance(event, dict):
        raise InvalidEvent(f"expected an EventBridge event object, got {type(event).__name__}")
    event_id, detail_type, source = _text(event, "id"), _text(event, "detail-type"), _text(event, "source")
    account, region = _text(event, "account"), _text(event, "region")
    if not ACCOUNT_ID.match(account):
        raise InvalidEvent(f"account {account!r} is not a 12-digit AWS account id")
    detail = event.get("detail", {})
    if not isinstance(detail, dict):
        raise InvalidEvent("not an EventBridge event (detail is not an object)")
    if detail_type == "Scheduled Event" and source == "aws.events":
        return _checked(CapacityRequest(event_id, "schedule", account, region, action="scan"))
    if detail_type == "SageMaker Endpoint State Change" and source == "aws.sagemaker":
        name = _name(detail.get("EndpointName"), "endpoint name")
        return _checked(
            CapacityRequest(event_id, "state_change", account, region, name, None, detail.get("EndpointStatus"))
        )
    if detail_type != CLOUDTRAIL or source not in ("aws.application-autoscaling", "aws.sagemaker"):
        raise InvalidEvent(f"unsupported event: source={source!r} detail-type={detail_type!r}")
    call = detail.get("eventName")
    if detail.get("errorCode"):
        raise InvalidEvent(f"{call} failed ({detail.get('errorCode')}); nothing changed")
    params = detail.get("requestParameters")
    params = params if isinstance(params, dict) else {}
    recipient = detail.get("recipientAccountId")
    account = recipient if isinstance(recipient, str) and recipient else account
    if source == "aws.application-autoscaling":
        if call not in AUTOSCALING_CALLS:
            raise InvalidEvent(f"CloudTrail eventName {call!r} is not one of {', '.join(AUTOSCALING_CALLS)}")
        if params.get("serviceNamespace") != "sagemaker":
            raise InvalidEvent(f"{call} for namespace {params.get('serviceNamespace')!r}, not sagemaker")
        match = RESOURCE_ID.match(str(params.get("resourceId", "")))
        if not match:
            raise InvalidEvent(
                f"{call} resourceId {params.get('resourceId')!r} is not a variant or inference component"
            )
        endpoint, component = match["endpoint"], match["component"]
        return _checked(
            CapacityRequest(
                event_id,
                "cloudtrail",
                account,
                region,
                endpoint and _name(endpoint, "endpoint name"),
                component and _name(component, "inference component name"),
                call,
            )
        )
    if call not in SAGEMAKER_CALLS:
        raise InvalidEvent(f"CloudTrail eventName {call!r} is not one of {', '.join(SAGEMAKER_CALLS)}")
    if call in ("UpdateInferenceComponent", "UpdateInferenceComponentRuntimeConfig"):
        component = _name(params.get("inferenceComponentName"), "inference component name")
        return _checked(CapacityRequest(event_id, "cloudtrail", account, region, None, component, call))
    name = _name(params.get("endpointName"), "endpoint name")
    return _checked(CapacityRequest(event_id, "cloudtrail", account, region, name, None, call))


def _checked(request: CapacityRequest) -> CapacityRequest:
    if not ACCOUNT_ID.match(request.account_id):
        raise InvalidEvent(f"account {request.account_id!r} is not a 12-digit AWS account id")
    if not REGION.match(request.region):
        raise InvalidEvent(f"region {request.region!r} is not an AWS region name")
    return request
