"""Step Functions: which challenger experiments are running (the lineage audit's ChallengerRuns)."""

from __future__ import annotations

import json
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlgov_runtime.adapters.errors import error_text
from mlgov_runtime.lineage_audit.logic import ReadFailure

# What an execution's recorded input says it was started for: (package ARN, endpoint or None).
Started = tuple[str, str | None]


class StepFunctionsChallengerRuns:
    """RUNNING executions of the challenger state machine, read once per audit run (ListExecutions, then
    DescribeExecution for each one's recorded input). A run vouches for a variant only when its input names the
    variant's package and this endpoint (an input naming no endpoint vouches for nothing), and the variant is the
    one the challenger names after that package (challenger-v<version>)."""

    def __init__(self, sfn: Any, machine_arn: str) -> None:
        self._sfn = sfn
        self.machine_arn = machine_arn
        self._lock = threading.Lock()
        self._started: list[Started] | None = None

    def running(self, endpoint_name: str, package_arn: str, variant_name: str) -> bool:
        version = package_arn.rsplit("/", 1)[-1]
        if variant_name != f"challenger-v{version}":
            return False
        for arn, endpoint in self._running():
            named = endpoint is not None and endpoint.lower() == endpoint_name.lower()
            if named and arn.lower() == package_arn.lower():
                return True
        return False

    def _running(self) -> list[Started]:
        with self._lock:
            if self._started is None:
                self._started = self._read()
            return self._started

    def _read(self) -> list[Started]:
        try:
            pages = self._sfn.get_paginator("list_executions").paginate(
                stateMachineArn=self.machine_arn, statusFilter="RUNNING"
            )
            arns = [e["executionArn"] for page in pages for e in page.get("executions", [])]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "StateMachineDoesNotExist":
                return []  # the challenger is not deployed: nothing runs
            raise ReadFailure(f"ListExecutions on {self.machine_arn}: {error_text(exc)}") from None
        except BotoCoreError as exc:
            raise ReadFailure(f"ListExecutions on {self.machine_arn}: {error_text(exc)}") from None
        return [started for arn in arns if (started := self._input_of(arn)) is not None]

    def _input_of(self, execution_arn: str) -> Started | None:
        try:
            described = self._sfn.describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return None
            raise ReadFailure(f"DescribeExecution {execution_arn}: {error_text(exc)}") from None
        except BotoCoreError as exc:
            raise ReadFailure(f"DescribeExecution {execution_arn}: {error_text(exc)}") from None
        if described.get("status") != "RUNNING" or described.get("stateMachineArn") != self.machine_arn:
            return None  # ended between the list and this read
        try:
            recorded = json.loads(str(described.get("input") or "{}"))
        except ValueError:
            return None
        if not isinstance(recorded, dict) or not isinstance(recorded.get("model_package_arn"), str):
            return None
        endpoint = recorded.get("endpoint_name")
        return recorded["model_package_arn"], endpoint if isinstance(endpoint, str) and endpoint else None
