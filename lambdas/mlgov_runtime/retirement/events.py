"""Typed views of what the retirement function is asked to do: a scheduled task (the rule's input names
it) or a CloudTrail AddTags/DeleteTags call on an endpoint."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from mlgov_runtime.core import events as core_events

ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
ENDPOINT_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:([a-z0-9-]+):(\d{12}):endpoint/([a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})$"
)
CLOUDTRAIL = "AWS API Call via CloudTrail"
TAG_CALLS = ("AddTags", "DeleteTags")
TASKS = ("stale_audit", "retiring_deadlines")

Task = Literal["stale_audit", "retiring_deadlines", "tag_change"]


class InvalidEvent(core_events.InvalidEvent):
    """The event is not one this function handles; the message says why."""


@dataclass(frozen=True)
class TagChange:
    event_name: str  # AddTags | DeleteTags
    endpoint_name: str
    set_tags: dict[str, str] = field(default_factory=dict)
    removed_keys: tuple[str, ...] = ()
    changed_by: str = "unknown"
    event_time: str = ""


@dataclass(frozen=True)
class RetirementEvent:
    # What every log line of its invocation carries.
    LOG_KEYS: ClassVar[tuple[str, ...]] = ("event_id", "task")
    event_id: str
    task: Task
    account_id: str
    region: str
    time: str
    tag_change: TagChange | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetirementEvent:
        change = data.get("tag_change")
        if change:
            change = TagChange(**{**change, "removed_keys": tuple(change.get("removed_keys", ()))})
        return cls(**{**data, "tag_change": change})


def _text(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value or len(value) > 256:
        raise InvalidEvent(f"{key}: missing or not a string of at most 256 characters")
    return value


def _tags(params: dict[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in params.get("tags") or params.get("Tags") or []:
        if isinstance(tag, dict):
            key = tag.get("key", tag.get("Key"))
            if isinstance(key, str):
                tags[key] = str(tag.get("value", tag.get("Value", "")))
    return tags


def _actor(detail: dict[str, Any]) -> str:
    identity = detail.get("userIdentity") or {}
    issuer = (identity.get("sessionContext") or {}).get("sessionIssuer") or {}
    return str(identity.get("arn") or issuer.get("arn") or identity.get("principalId") or "unknown")


def parse_event(event: Any) -> RetirementEvent:
    if not isinstance(event, dict):
        raise InvalidEvent(f"expected an object, got {type(event).__name__}")
    if event.get("task") in TASKS:  # the schedule rules' input
        account, region = _text(event, "account"), _text(event, "region")
        if not ACCOUNT_ID.match(account) or not REGION.match(region):
            raise InvalidEvent(f"account {account!r} / region {region!r} malformed")
        return RetirementEvent(_text(event, "event_id"), event["task"], account, region, _text(event, "time"))
    event_id, detail_type = _text(event, "id"), _text(event, "detail-type")
    if detail_type != CLOUDTRAIL or event.get("source") != "aws.sagemaker":
        raise InvalidEvent(f"unsupported event: source={event.get('source')!r} detail-type={detail_type!r}")
    detail = event.get("detail")
    if not isinstance(detail, dict) or detail.get("eventName") not in TAG_CALLS:
        raise InvalidEvent("CloudTrail event is not AddTags or DeleteTags")
    if detail.get("errorCode"):
        raise InvalidEvent(f"{detail['eventName']} failed ({detail['errorCode']}); no tag changed")
    params = detail.get("requestParameters")
    params = params if isinstance(params, dict) else {}
    arn = params.get("resourceArn", params.get("ResourceArn"))
    match = ENDPOINT_ARN.match(arn) if isinstance(arn, str) else None
    if not match:
        raise InvalidEvent(f"{detail['eventName']} on {arn!r}, not an endpoint")
    region, account, name = match.groups()
    keys = params.get("tagKeys", params.get("TagKeys")) or []
    change = TagChange(
        event_name=str(detail["eventName"]),
        endpoint_name=name,
        set_tags=_tags(params),
        removed_keys=tuple(str(k) for k in keys if isinstance(k, str)),
        changed_by=_actor(detail),
        event_time=str(detail.get("eventTime") or event.get("time") or ""),
    )
    return RetirementEvent(event_id, "tag_change", account, region, _text(event, "time"), change)
