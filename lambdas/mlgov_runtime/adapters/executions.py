"""Step Functions: start a named execution; the same name twice starts it once."""

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
