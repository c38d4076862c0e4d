"""Typed views of the EventBridge events the audit Lambda accepts."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")

CLOUDTRAIL = "AWS API Call via CloudTrail"
STATE_CHANGE = "SageMaker Endpoint State Change"
SCHEDULED = "Scheduled Event"
AUDITED_CALLS = ("CreateEndpoint", "UpdateEndpoint")


class InvalidEvent(ValueError):
    """The event cannot be audited; the message says why, specifically."""


class _Envelope(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str = Field(min_length=1, max_length=256)
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str
    region: str
    time: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class AuditRequest(BaseModel):
    """What to audit, whatever event asked for it."""

    event_id: str
    trigger: Literal["cloudtrail", "state_change", "schedule"]
    account_id: str
    region: str
    endpoint_name: str | None  # None: every endpoint of the account/region (scheduled scan)
    action: str | None = None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "event"
    return f"{where}: {err.get('msg', 'invalid')}"


def parse_audit_request(event: Any) -> AuditRequest:
    if not isinstance(event, dict):
        raise InvalidEvent(f"expected an EventBridge event object, got {type(event).__name__}")
    try:
        envelope = _Envelope.model_validate(event)
    except ValidationError as exc:
        raise InvalidEvent(f"not an EventBridge event ({_first_error(exc)})") from None
    if not ACCOUNT_ID.match(envelope.account):
        raise InvalidEvent(f"account {envelope.account!r} is not a 12-digit AWS account id")
    if not REGION.match(envelope.region):
        raise InvalidEvent(f"region {envelope.region!r} is not an AWS region name")
    detail = envelope.detail

    if envelope.detail_type == CLOUDTRAIL and envelope.source == "aws.sagemaker":
        event_name = detail.get("eventName")
        if event_name not in AUDITED_CALLS:
            raise InvalidEvent(f"CloudTrail eventName {event_name!r} is not one of {', '.join(AUDITED_CALLS)}")
        if detail.get("errorCode"):
            raise InvalidEvent(f"{event_name} failed ({detail.get('errorCode')}); nothing was deployed")
        params = detail.get("requestParameters")
        name = params.get("endpointName") if isinstance(params, dict) else None
        trigger: Literal["cloudtrail", "state_change", "schedule"] = "cloudtrail"
        account = str(detail.get("recipientAccountId") or envelope.account)
    elif envelope.detail_type == STATE_CHANGE and envelope.source == "aws.sagemaker":
        name = detail.get("EndpointName")
        event_name = detail.get("EndpointStatus")
        trigger = "state_change"
        account = envelope.account
    elif envelope.detail_type == SCHEDULED and envelope.source == "aws.events":
        return AuditRequest(
            event_id=envelope.id,
            trigger="schedule",
            account_id=envelope.account,
            region=envelope.region,
            endpoint_name=None,
            action="scan",
        )
    else:
        raise InvalidEvent(f"unsupported event: source={envelope.source!r} detail-type={envelope.detail_type!r}")
    if not isinstance(name, str) or not ENDPOINT_NAME.match(name):
        raise InvalidEvent(f"{trigger} event carries no valid endpoint name (got {name!r})")
    if not ACCOUNT_ID.match(account):
        raise InvalidEvent(f"account {account!r} is not a 12-digit AWS account id")
    return AuditRequest(
        event_id=envelope.id,
        trigger=trigger,
        account_id=account,
        region=envelope.region,
        endpoint_name=name,
        action=str(event_name) if event_name else None,
    )
