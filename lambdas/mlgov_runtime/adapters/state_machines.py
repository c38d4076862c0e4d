"""Step Functions: start a run of a state machine, never two at once, never twice for one event."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError


def start_once(sfn: Any, machine_arn: str, name: str, run_input: dict[str, Any]) -> str:
    """Never a second run while one is running, nor a second one of the same name (Step Functions
    refuses a second execution of a name, so a duplicate event delivery cannot start one)."""
    running = sfn.list_executions(stateMachineArn=machine_arn, statusFilter="RUNNING", maxResults=1)["executions"]
    if running:
        return f"already running {running[0]['executionArn']}"
    try:
        started = sfn.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(run_input))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        return f"already started {machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
    return f"started {started['executionArn']}"
