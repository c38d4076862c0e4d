"""Step Functions in the emulator: a synthesized state machine runs under moto's interpreter and its
Lambda tasks run the real mlgov_runtime handlers in this process (moto's Docker-less Lambda would only
echo its input). Used by the integration tests and the `make demo` retirement scene, with `mock_aws(
config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})`.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mlgov.environ import variables

_LOCK = threading.Lock()


class _Context:
    def __init__(self, function_arn: str, name: str) -> None:
        self.invoked_function_arn = function_arn
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.aws_request_id = "emulated"
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "emulated"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def _run_handler(handler: str, environment: Mapping[str, str], event: Any, context: _Context) -> Any:
    from mlgov_runtime.adapters import aws
    from mlgov_runtime.core import env

    module_name, _, attr = handler.rpartition(".")
    with _LOCK:  # one function at a time: the environment is the process's
        try:
            with variables(environment):
                env.reset_all()
                aws.context_for.cache_clear()
                return getattr(importlib.import_module(module_name), attr)(event, context)
        finally:  # once the variables are back, the settings and clients read from them go
            env.reset_all()
            aws.context_for.cache_clear()


@contextlib.contextmanager
def lambdas_in_process() -> Iterator[list[dict[str, Any]]]:
    """Functions whose handler is in mlgov_runtime run here, with their configured environment; a raised
    exception is a function error named after its class, as Lambda reports it. Yields the invocations."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    backend: Any = LambdaSimpleBackend
    original = backend.invoke
    calls: list[dict[str, Any]] = []

    def invoke(self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response: Any) -> Any:
        fn = self.get_function(function_name, qualifier)
        if not str(fn.handler).startswith("mlgov_runtime."):
            return original(self, function_name, qualifier, body, headers, response)
        event = json.loads(body or "{}")
        calls.append(event)
        try:
            # What the Lambda runtime sets, then the function's own environment.
            environment = {
                "AWS_REGION": self.region_name,
                "AWS_DEFAULT_REGION": self.region_name,
                "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
                **(fn.environment_vars or {}),
            }
            result = _run_handler(fn.handler, environment, event, _Context(fn.function_arn, fn.function_name))
        except Exception as exc:
            response["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
        return json.dumps(result).encode()

    backend.invoke = invoke
    try:
        yield calls
    finally:
        backend.invoke = original


def executable_definition(
    template: Mapping[str, Any],
    machine_prefix: str,
    functions: Mapping[str, str],
    change: Callable[[dict[str, Any]], None] | None = None,
) -> str:
    """The synthesized definition of the state machine whose logical id starts with `machine_prefix`, with
    each function reference replaced by the emulator ARN of the function whose logical id contains the
    key of `functions`, the partition by `aws`, then `change` applied (e.g. shorter waits)."""
    [machine] = [
        v
        for k, v in template["Resources"].items()
        if k.startswith(machine_prefix) and v["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = ""
    for part in parts:
        if isinstance(part, str):
            text += part
            continue
        token = json.dumps(part)
        if part == {"Ref": "AWS::Partition"}:
            text += "aws"
            continue
        matches = [arn for key, arn in functions.items() if "Fn::GetAtt" in part and key in token]
        if len(matches) != 1:
            raise ValueError(f"no single function for {token}")
        text += matches[0]
    definition: dict[str, Any] = json.loads(text)
    if change:
        change(definition)
    return json.dumps(definition)


def wait_for(
    sfn: Any, execution_arn: str, until: Callable[[list[dict[str, Any]]], bool], seconds: float = 900
) -> list[dict[str, Any]]:
    """The execution's history once `until(history)` holds or the execution ended. `seconds` only guards against a
    hung execution: on a busy shared machine moto's metric reads alone take tens of seconds per step, so callers
    assert on the states entered, never on how fast."""
    deadline = time.monotonic() + seconds
    while True:
        ended = sfn.describe_execution(executionArn=execution_arn)["status"] != "RUNNING"
        history: list[dict[str, Any]] = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        if until(history) or ended or time.monotonic() > deadline:
            return history
        time.sleep(0.05)


def entered(history: list[dict[str, Any]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
