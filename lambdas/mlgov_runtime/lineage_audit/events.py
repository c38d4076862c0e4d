"""Typed views of the EventBridge events the audit Lambda accepts."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

from mlgov_runtime.core import events as core_events
from mlgov_runtime.core.arns import PACKAGE_ARN

ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")

CLOUDTRAIL = "AWS API Call via CloudTrail"
STATE_CHANGE = "SageMaker Endpoint State Change"
SCHEDULED = "Scheduled Event"
PACKAGE_CHANGE = "SageMaker Model Package State Change"
# Calls that change what an endpoint serves (traffic shares included: UNDER_EVALUATION judges a challenger's share).
# The CDK rule listens for exactly these.
ENDPOINT_CALLS = ("CreateEndpoint", "UpdateEndpoint", "DeleteEndpoint", "UpdateEndpointWeightsAndCapacities")
COMPONENT_CALLS = ("CreateInferenceComponent", "UpdateInferenceComponent", "DeleteInferenceComponent")
MODEL_CALLS = ("DeleteModel", "DeleteEndpointConfig")
AUDITED_CALLS = ENDPOINT_CALLS + COMPONENT_CALLS + MODEL_CALLS


class InvalidEvent(core_events.InvalidEvent):
    """The event cannot be audited; the message says why, specifically."""


# A plain dataclass, not pydantic: this module is on the cold-start path of every invocation.
@dataclass(frozen=True)
class AuditRequest:
    """What to audit, whatever event asked for it."""

    # What every log line of its invocation carries.
    LOG_KEYS: ClassVar[tuple[str, ...]] = ("event_id", "endpoint_name", "trigger")
    event_id: str
    trigger: Literal["cloudtrail", "state_change", "schedule", "package_change"]
    account_id: str
    region: str
    endpoint_name: str | None  # None: every endpoint of the account/region (scheduled scan)
    action: str | None = None
    package_arn: str | None = None  # a package state change: the package whose serving endpoints re-audit
    config_name: str | None = None  # the configuration a deploy call (Create/UpdateEndpoint) names

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditRequest:
        return cls(**data)


def _text(event: dict[str, Any], key: str, max_length: int = 256) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidEvent(f"not an EventBridge event ({key}: missing or not a string)")
    if len(value) > max_length:
        raise InvalidEvent(f"not an EventBridge event ({key}: longer than {max_length} characters)")
    return value


def parse_audit_request(event: Any) -> AuditRequest:
    if not isinstance(event, dict):
        raise InvalidEvent(f"expected an EventBridge event object, got {type(event).__name__}")
    event_id = _text(event, "id")
    detail_type, source = _text(event, "detail-type"), _text(event, "source")
    account, region = _text(event, "account"), _text(event, "region")
    if not ACCOUNT_ID.match(account):
        raise InvalidEvent(f"account {account!r} is not a 12-digit AWS account id")
    if not REGION.match(region):
        raise InvalidEvent(f"region {region!r} is not an AWS region name")
    detail = event.get("detail", {})
    if not isinstance(detail, dict):
        raise InvalidEvent(f"not an EventBridge event (detail: expected an object, got {type(detail).__name__})")

    if detail_type == CLOUDTRAIL and source == "aws.sagemaker":
        event_name = detail.get("eventName")
        if event_name not in AUDITED_CALLS:
            raise InvalidEvent(f"CloudTrail eventName {event_name!r} is not one of {', '.join(AUDITED_CALLS)}")
        if detail.get("errorCode"):
            raise InvalidEvent(f"{event_name} failed ({detail.get('errorCode')}); nothing was deployed")
        params = detail.get("requestParameters")
        name = params.get("endpointName") if isinstance(params, dict) else None
        trigger: Literal["cloudtrail", "state_change", "schedule", "package_change"] = "cloudtrail"
        recipient = detail.get("recipientAccountId")
        if isinstance(recipient, str) and recipient and recipient != account:
            # EventBridge sets `account` to the sender; a detail naming another account is not trusted.
            raise InvalidEvent(f"recipientAccountId {recipient!r} differs from the event's account {account!r}")
        if not ACCOUNT_ID.match(account):
            raise InvalidEvent(f"account {account!r} is not a 12-digit AWS account id")
        if event_name in MODEL_CALLS or (event_name in COMPONENT_CALLS and not name):
            # The request names no endpoint (a model, or a component by name): audit every endpoint there.
            return AuditRequest(event_id, trigger, account, region, endpoint_name=None, action=str(event_name))
    elif detail_type == STATE_CHANGE and source == "aws.sagemaker":
        name = detail.get("EndpointName")
        event_name = detail.get("EndpointStatus")
        trigger = "state_change"
    elif detail_type == SCHEDULED and source == "aws.events":
        return AuditRequest(event_id, "schedule", account, region, endpoint_name=None, action="scan")
    elif detail_type == PACKAGE_CHANGE and source == "aws.sagemaker":
        # An approval withdrawn (or granted) after deployment: re-audit every endpoint of the account/region.
        status = detail.get("ModelApprovalStatus")
        package = detail.get("ModelPackageArn")
        # Only a package of the account the event came from (EventBridge sets `account`; the detail is data).
        if not (isinstance(package, str) and PACKAGE_ARN.fullmatch(package) and package.split(":")[4] == account):
            package = None
        return AuditRequest(
            event_id,
            "package_change",
            account,
            region,
            endpoint_name=None,
            action=str(status or "changed"),
            package_arn=package,
        )
    else:
        raise InvalidEvent(f"unsupported event: source={source!r} detail-type={detail_type!r}")
    if not isinstance(name, str) or not ENDPOINT_NAME.match(name):
        raise InvalidEvent(f"{trigger} event carries no valid endpoint name (got {name!r})")
    if not ACCOUNT_ID.match(account):
        raise InvalidEvent(f"account {account!r} is not a 12-digit AWS account id")
    config = params.get("endpointConfigName") if trigger == "cloudtrail" and isinstance(params, dict) else None
    return AuditRequest(
        event_id=event_id,
        trigger=trigger,
        account_id=account,
        region=region,
        endpoint_name=name,
        action=str(event_name) if event_name else None,
        config_name=config if isinstance(config, str) and ENDPOINT_NAME.match(config) else None,
    )
