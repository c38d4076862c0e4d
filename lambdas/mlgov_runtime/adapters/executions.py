"""Step Functions: start a named execution (the same name twice starts it once); read one back. And the
IAM role look-up that verifies who created a package."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError


def start_named(sfn: Any, machine_arn: str, name: str, run_input: dict[str, Any]) -> tuple[str, bool]:
    """(execution ARN, True when this call started it). A name already used (a duplicate event
    delivery) starts nothing: Step Functions keeps names of standard workflows for 90 days."""
    try:
        started = sfn.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(run_input))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        return f"{machine_arn.replace(':stateMachine:', ':execution:')}:{name}", False
    return str(started["executionArn"]), True


def describe_execution(sfn: Any, execution_arn: str) -> dict[str, Any] | None:
    """DescribeExecution's answer, or None when there is no such execution (or none this role may see)."""
    try:
        return dict(sfn.describe_execution(executionArn=execution_arn))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in (
            "ExecutionDoesNotExist",
            "InvalidArn",
            "AccessDeniedException",
        ):
            return None
        raise


def get_role(iam: Any, name: str) -> dict[str, Any] | None:
    """GetRole's Role (Arn with its path, RoleId), or None when there is no such role or this role may not
    read it (the challenger may read only the allow-listed pipeline roles)."""
    try:
        return dict(iam.get_role(RoleName=name)["Role"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchEntity", "AccessDenied"):
            return None
        raise
