"""A synthesized state machine with a Distributed Map, run in this process: moto 5.2.5's Step Functions
interpreter has no ItemBatcher (its grammar lacks the field), ignores ToleratedFailurePercentage and its
ResultWriter writes an empty manifest, so the org scan's Map cannot run there as synthesized.

This runs the definition's states itself, as the Amazon States Language documents them:
- Task: a Lambda function ARN as Resource, Parameters (".$" keys: JSONPath on the input or "$$" on the
  context object), ResultPath, Retry (retried at once: no back-off waits), Catch;
- Map (ProcessorConfig.Mode DISTRIBUTED): ItemReader (an S3 JSON array), ItemBatcher (MaxItemsPerBatch,
  BatchInput), MaxConcurrency child executions at once, each running ItemProcessor with
  {"Items": [...], "BatchInput": {...}}; ToleratedFailurePercentage/Count on failed items (the Map fails
  with States.ExceedToleratedFailureThreshold when exceeded); ResultWriter (SUCCEEDED_0.json and
  FAILED_0.json, then manifest.json, under Prefix/<map run id>/) and the output
  {"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}};
- Choice (Variable with IsPresent), Succeed, Fail.
Any other state type or field is refused, so a definition this cannot honour fails loudly.
TimeoutSeconds and Label are read but not enforced.

Lambda functions run in this process (`InProcessFunction`: the real handler with its function's
environment). Powertools Metrics keeps its metric set in class attributes shared by every handler of the
process, so two invocations at once here would mix (and can break) each other's EMF flush, where Lambda
runs them in separate sandboxes: invocations here take turns (the Map's MaxConcurrency threads schedule,
collect and judge children concurrently; the handlers run one at a time). Each child records its own busy
time, so a caller can compute what MaxConcurrency sandboxes would take (`waves_wall_seconds`).
"""

from __future__ import annotations

import copy
import datetime as dt
import heapq
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mlgov.environ import variables

Invoke = Callable[[Any], Any]

_TASK_FIELDS = {
    "Type", "Resource", "Parameters", "ResultPath", "Retry", "Catch", "Next", "End", "TimeoutSeconds", "Comment",
}  # fmt: skip
_MAP_FIELDS = {
    "Type", "ItemProcessor", "ItemReader", "ItemBatcher", "MaxConcurrency", "ToleratedFailurePercentage",
    "ToleratedFailureCount", "ResultWriter", "ResultPath", "Catch", "Next", "End", "Label", "Comment",
}  # fmt: skip
_CHOICE_FIELDS = {"Type", "Choices", "Default", "Comment"}
_END_FIELDS = {"Succeed": {"Type", "Comment"}, "Fail": {"Type", "Error", "Cause", "Comment"}}
UNLIMITED_CONCURRENCY = 10_000  # what Step Functions runs at once when MaxConcurrency is 0


class Unsupported(ValueError):
    """A definition uses something this emulation does not honour."""


class StatesError(Exception):
    """A state's failure, by its States Language error name."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


# -- paths


def _path(path: str, data: Any, context: Mapping[str, Any]) -> Any:
    """A JSONPath of the reference-path form ($, $.a.b, $$.Execution.Name)."""
    root, rest = (context, path[2:]) if path.startswith("$$") else (data, path[1:])
    if not path.startswith("$"):
        raise Unsupported(f"path {path!r}: not a reference path")
    value = root
    for part in [p for p in rest.split(".") if p]:
        if not isinstance(value, Mapping) or part not in value:
            raise StatesError("States.Runtime", f"The JSONPath {path} could not be found in the input")
        value = value[part]
    return value


def _resolve(template: Any, data: Any, context: Mapping[str, Any]) -> Any:
    """Parameters/BatchInput: keys ending in ".$" take the value their path selects."""
    if isinstance(template, Mapping):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = _path(str(value), data, context)
            else:
                out[key] = _resolve(value, data, context)
        return out
    if isinstance(template, list):
        return [_resolve(v, data, context) for v in template]
    return template


def _with_result(data: Any, result_path: str | None, result: Any) -> Any:
    if result_path is None:  # null: the input passes through
        return data
    if result_path == "$":
        return result
    if not result_path.startswith("$."):
        raise Unsupported(f"ResultPath {result_path!r}")
    out = copy.deepcopy(data) if isinstance(data, dict) else {}
    node = out
    parts = result_path[2:].split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = result
    return out


def _matches(errors: Sequence[str], error: str) -> bool:
    return "States.ALL" in errors or error in errors or ("States.TaskFailed" in errors and error != "States.Timeout")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _checked(name: str, state: Mapping[str, Any], allowed: set[str]) -> None:
    extra = set(state) - allowed
    if extra:
        raise Unsupported(f"state {name}: {sorted(extra)} not emulated")


# -- the Distributed Map


@dataclass(frozen=True)
class MapState:
    """A Distributed Map state's fields, as the definition gives them."""

    name: str
    processor: Mapping[str, Any]
    reader_bucket: str
    reader_key: str  # a literal key, or a path when reader_key_is_path
    reader_key_is_path: bool
    max_items_per_batch: int
    batch_input: Mapping[str, Any]
    max_concurrency: int
    tolerated_percentage: float
    tolerated_count: int | None
    writer_bucket: str
    writer_prefix: str

    @classmethod
    def parse(cls, name: str, state: Mapping[str, Any]) -> MapState:
        _checked(name, state, _MAP_FIELDS)
        processor = state["ItemProcessor"]
        config = processor.get("ProcessorConfig") or {}
        if config.get("Mode") != "DISTRIBUTED":
            raise Unsupported(f"state {name}: only a DISTRIBUTED Map is emulated")
        reader = state["ItemReader"]
        if not str(reader.get("Resource", "")).endswith(":states:::s3:getObject"):
            raise Unsupported(f"state {name}: ItemReader {reader.get('Resource')!r}")
        if (reader.get("ReaderConfig") or {}).get("InputType") != "JSON":
            raise Unsupported(f"state {name}: ItemReader InputType {reader.get('ReaderConfig')!r}: JSON only")
        params = reader["Parameters"]
        batcher = state.get("ItemBatcher") or {}
        if set(batcher) - {"MaxItemsPerBatch", "BatchInput"}:
            raise Unsupported(f"state {name}: ItemBatcher {sorted(batcher)}")
        writer = state["ResultWriter"]
        if not str(writer.get("Resource", "")).endswith(":states:::s3:putObject"):
            raise Unsupported(f"state {name}: ResultWriter {writer.get('Resource')!r}")
        count = state.get("ToleratedFailureCount")
        return cls(
            name=name,
            processor=processor,
            reader_bucket=str(params["Bucket"]),
            reader_key=str(params.get("Key.$") or params["Key"]),
            reader_key_is_path="Key.$" in params,
            max_items_per_batch=int(batcher.get("MaxItemsPerBatch") or 1),
            batch_input=batcher.get("BatchInput") or {},
            max_concurrency=int(state.get("MaxConcurrency") or 0) or UNLIMITED_CONCURRENCY,
            tolerated_percentage=float(state.get("ToleratedFailurePercentage") or 0),
            tolerated_count=int(count) if count is not None else None,
            writer_bucket=str(writer["Parameters"]["Bucket"]),
            writer_prefix=str(writer["Parameters"].get("Prefix") or ""),
        )


@dataclass
class ChildRun:
    """One child workflow execution: one batch of items."""

    name: str
    items: list[Any]
    input: dict[str, Any]
    start: str = ""
    stop: str = ""
    status: str = "PENDING"
    output: Any = None
    error: str | None = None
    cause: str | None = None
    busy_seconds: float = 0.0  # the time its Lambda invocations ran (not waiting for their turn)

    def record(self, state_machine_arn: str, execution_arn: str) -> dict[str, Any]:
        """The entry ResultWriter writes for it."""
        entry: dict[str, Any] = {
            "ExecutionArn": execution_arn,
            "Input": json.dumps(self.input),
            "InputDetails": {"Included": True},
            "Name": self.name,
            "RedriveCount": 0,
            "RedriveStatus": "NOT_REDRIVABLE",
            "RedriveStatusReason": "Execution is SUCCEEDED and cannot be redriven",
            "StartDate": self.start,
            "StateMachineArn": state_machine_arn,
            "Status": self.status,
            "StopDate": self.stop,
        }
        if self.status == "SUCCEEDED":
            entry |= {"Output": json.dumps(self.output), "OutputDetails": {"Included": True}}
        else:
            entry |= {"Error": self.error, "Cause": self.cause, "RedriveStatus": "REDRIVABLE"}
            entry.pop("RedriveStatusReason")
        return entry


@dataclass
class MapRun:
    map_run_arn: str
    state: MapState
    children: list[ChildRun] = field(default_factory=list)
    items: int = 0
    failed_items: int = 0
    wall_seconds: float = 0.0
    manifest_key: str = ""
    failed: bool = False


def batches(items: Sequence[Any], per_batch: int) -> list[list[Any]]:
    return [list(items[i : i + per_batch]) for i in range(0, len(items), per_batch)]


def exceeds(state: MapState, failed: int, total: int) -> bool:
    """Step Functions' rule: the Map Run fails when failed items exceed the percentage (or the count)."""
    if total and failed * 100.0 / total > state.tolerated_percentage:
        return True
    return state.tolerated_count is not None and failed > state.tolerated_count


def waves_wall_seconds(busy: Sequence[float], concurrency: int) -> float:
    """The wall time of children of these durations, started in order whenever one of `concurrency`
    slots is free (what the Map does with MaxConcurrency)."""
    slots = [0.0] * max(1, min(concurrency, len(busy) or 1))
    for seconds in busy:
        start = heapq.heappop(slots)
        heapq.heappush(slots, start + seconds)
    return max(slots)


# -- the interpreter


@dataclass
class Execution:
    status: str  # SUCCEEDED | FAILED
    output: Any
    entered: list[str]
    error: str | None = None
    cause: str | None = None
    map_runs: list[MapRun] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per state name, summed over its entries


class Machine:
    """A state machine definition run here; `functions` answers each Lambda ARN a Task names."""

    def __init__(
        self,
        definition: Mapping[str, Any],
        functions: Mapping[str, Invoke],
        s3: Any,
        *,
        arn: str = "arn:aws:states:us-east-1:123456789012:stateMachine:emulated",
    ) -> None:
        self.definition, self.functions, self.s3, self.arn = definition, functions, s3, arn
        self._lock = threading.Lock()

    def start(self, name: str, state_input: Any = None) -> Execution:
        execution_arn = self.arn.replace(":stateMachine:", ":execution:") + f":{name}"
        context = {
            "Execution": {"Id": execution_arn, "Name": name, "StartTime": _now(), "Input": state_input},
            "StateMachine": {"Id": self.arn, "Name": self.arn.rsplit(":", 1)[-1]},
        }
        run = Execution("RUNNING", None, [])
        try:
            run.output = self._states(self.definition, state_input if state_input is not None else {}, context, run)
            run.status = "SUCCEEDED"
        except StatesError as exc:
            run.status, run.error, run.cause = "FAILED", exc.error, exc.cause
        return run

    def _states(self, machine: Mapping[str, Any], data: Any, context: dict[str, Any], run: Execution) -> Any:
        states = machine["States"]
        name = machine["StartAt"]
        while True:
            state = states[name]
            with self._lock:
                run.entered.append(name)
            kind = state["Type"]
            if kind == "Succeed":
                _checked(name, state, _END_FIELDS["Succeed"])
                return data
            if kind == "Fail":
                _checked(name, state, _END_FIELDS["Fail"])
                raise StatesError(str(state.get("Error") or "States.Fail"), str(state.get("Cause") or ""))
            if kind == "Choice":
                _checked(name, state, _CHOICE_FIELDS)
                name = self._choose(name, state, data, context)
                continue
            if kind not in ("Task", "Map"):
                raise Unsupported(f"state {name}: type {kind} not emulated")
            started = time.perf_counter()
            try:
                result = (
                    self._task(name, state, data, context)
                    if kind == "Task"
                    else self._map(name, state, data, context, run)
                )
            except StatesError as exc:
                self._took(run, name, started)
                catcher = next((c for c in state.get("Catch") or [] if _matches(c["ErrorEquals"], exc.error)), None)
                if catcher is None:
                    raise
                data = _with_result(data, catcher.get("ResultPath", "$"), {"Error": exc.error, "Cause": exc.cause})
                name = catcher["Next"]
                continue
            self._took(run, name, started)
            data = _with_result(data, state.get("ResultPath", "$"), result)
            if state.get("End"):
                return data
            name = state["Next"]

    def _took(self, run: Execution, name: str, started: float) -> None:
        with self._lock:
            run.seconds[name] = run.seconds.get(name, 0.0) + time.perf_counter() - started

    def _choose(self, name: str, state: Mapping[str, Any], data: Any, context: Mapping[str, Any]) -> str:
        for choice in state["Choices"]:
            if set(choice) != {"Variable", "IsPresent", "Next"}:
                raise Unsupported(f"state {name}: choice {sorted(choice)}: only Variable + IsPresent is emulated")
            try:
                _path(choice["Variable"], data, context)
                present = True
            except StatesError:
                present = False
            if present == bool(choice["IsPresent"]):
                return str(choice["Next"])
        if "Default" not in state:
            raise StatesError("States.NoChoiceMatched", f"No Choices matched in state {name}")
        return str(state["Default"])

    def _task(self, name: str, state: Mapping[str, Any], data: Any, context: Mapping[str, Any]) -> Any:
        _checked(name, state, _TASK_FIELDS)
        resource = str(state["Resource"])
        if resource not in self.functions:
            raise Unsupported(f"state {name}: no function for {resource}")
        payload = _resolve(state["Parameters"], data, context) if "Parameters" in state else data
        retries = {id(r): 0 for r in state.get("Retry") or []}
        while True:
            try:
                return _invoke(self.functions[resource], payload)
            except StatesError as exc:
                retry = next((r for r in state.get("Retry") or [] if _matches(r["ErrorEquals"], exc.error)), None)
                if retry is None or retries[id(retry)] >= int(retry.get("MaxAttempts", 3)):
                    raise
                retries[id(retry)] += 1

    def _map(self, name: str, state: Mapping[str, Any], data: Any, context: Mapping[str, Any], run: Execution) -> Any:
        spec = MapState.parse(name, state)
        key = str(_path(spec.reader_key, data, context)) if spec.reader_key_is_path else spec.reader_key
        try:
            body = self.s3.get_object(Bucket=spec.reader_bucket, Key=key)["Body"].read()
            items = json.loads(body)
        except Exception as exc:  # the ItemReader's error, as the Map reports it
            raise StatesError("States.ItemReaderFailed", f"s3://{spec.reader_bucket}/{key}: {exc}") from None
        if not isinstance(items, list):
            raise StatesError("States.ItemReaderFailed", f"s3://{spec.reader_bucket}/{key} is not a JSON array")
        execution_name = str(context["Execution"]["Name"])
        map_run_id = f"{execution_name}:{uuid.uuid4()}"
        map_run = MapRun(f"{self.arn.replace(':stateMachine:', ':mapRun:')}/{spec.name}:{map_run_id}", spec)
        map_run.items = len(items)
        batch_input = _resolve(spec.batch_input, data, context)
        map_run.children = [
            ChildRun(f"{uuid.uuid4()}", batch, {"Items": batch, "BatchInput": batch_input})
            for batch in batches(items, spec.max_items_per_batch)
        ]
        started = time.perf_counter()
        if map_run.children:
            workers = min(spec.max_concurrency, len(map_run.children))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"map-{spec.name}") as pool:
                list(pool.map(lambda child: self._child(spec, child, context), map_run.children))
        map_run.wall_seconds = time.perf_counter() - started
        map_run.failed_items = sum(len(c.items) for c in map_run.children if c.status != "SUCCEEDED")
        map_run.manifest_key = self._write_results(spec, map_run)
        with self._lock:
            run.map_runs.append(map_run)
        if exceeds(spec, map_run.failed_items, map_run.items):
            map_run.failed = True
            raise StatesError(
                "States.ExceedToleratedFailureThreshold",
                f"The specified tolerated failure threshold was exceeded: {map_run.failed_items} of "
                f"{map_run.items} items failed (tolerated: {spec.tolerated_percentage:g}%)",
            )
        return {
            "MapRunArn": map_run.map_run_arn,
            "ResultWriterDetails": {"Bucket": spec.writer_bucket, "Key": map_run.manifest_key},
        }

    def _child(self, spec: MapState, child: ChildRun, context: Mapping[str, Any]) -> None:
        child.start = _now()
        child_context = {**context, "Execution": {**context["Execution"], "Name": child.name, "Input": child.input}}
        sink = Execution("RUNNING", None, [])
        before = _busy()
        try:
            child.output = self._states(spec.processor, child.input, child_context, sink)
            child.status = "SUCCEEDED"
        except StatesError as exc:
            child.status, child.error, child.cause = "FAILED", exc.error, exc.cause
        child.busy_seconds = _busy() - before
        child.stop = _now()

    def _write_results(self, spec: MapState, map_run: MapRun) -> str:
        prefix = f"{spec.writer_prefix.rstrip('/')}/" if spec.writer_prefix else ""
        base = f"{prefix}{map_run.map_run_arn.rsplit(':', 1)[-1]}"
        child_machine = f"{self.arn}/{spec.name}"
        files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        for status in ("SUCCEEDED", "FAILED"):
            entries = [
                c.record(child_machine, f"{child_machine}:{c.name}") for c in map_run.children if c.status == status
            ]
            if not entries:
                continue
            body = json.dumps(entries).encode()
            key = f"{base}/{status}_0.json"
            self.s3.put_object(Bucket=spec.writer_bucket, Key=key, Body=body)
            files[status].append({"Key": key, "Size": len(body)})
        manifest = {"DestinationBucket": spec.writer_bucket, "MapRunArn": map_run.map_run_arn, "ResultFiles": files}
        key = f"{base}/manifest.json"
        self.s3.put_object(Bucket=spec.writer_bucket, Key=key, Body=json.dumps(manifest).encode())
        return key


# -- Lambda functions in this process

_BUSY = threading.local()


def _busy() -> float:
    return float(getattr(_BUSY, "seconds", 0.0))


def _invoke(function: Invoke, payload: Any) -> Any:
    """A function error becomes the task's error, named after the exception's class, as Lambda reports it."""
    try:
        result = function(json.loads(json.dumps(payload)))
    except StatesError:
        raise
    except Exception as exc:
        raise StatesError(
            type(exc).__name__, json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__})
        ) from None
    return json.loads(json.dumps(result))


class _Warm:
    function: InProcessFunction | None = None


class InProcessFunction:
    """A Lambda function run in this process: its real handler with its function's environment. One
    invocation at a time in the process (see the module's note); a warm sandbox keeps its loaded settings
    and clients between invocations of the same function, as Lambda's does."""

    def __init__(self, handler: str, environment: Mapping[str, str], function_arn: str) -> None:
        from mlgov.emulator_sfn import _Context

        self.handler, self.environment, self.arn = handler, dict(environment), function_arn
        self.context = _Context(function_arn, function_arn.rsplit(":", 1)[-1])
        self.invocations = 0

    def __call__(self, event: Any) -> Any:
        import importlib

        from mlgov.emulator_sfn import _LOCK
        from mlgov_runtime.adapters import aws
        from mlgov_runtime.core import env

        module_name, _, attr = self.handler.rpartition(".")
        with _LOCK, variables(self.environment):
            if _Warm.function is not self:  # another function ran since: its settings and clients go
                env.reset_all()
                aws.context_for.cache_clear()
                _Warm.function = self
            started = time.perf_counter()
            try:
                self.invocations += 1
                return getattr(importlib.import_module(module_name), attr)(event, self.context)
            finally:
                _BUSY.seconds = _busy() + time.perf_counter() - started


def cool_down() -> None:
    """Forget the warm function (its settings and clients), e.g. at the end of a test."""
    from mlgov_runtime.adapters import aws
    from mlgov_runtime.core import env

    _Warm.function = None
    env.reset_all()
    aws.context_for.cache_clear()


# -- a synthesized template's definition


def definition_from_template(
    template: Mapping[str, Any], machine_prefix: str, values: Mapping[str, str]
) -> dict[str, Any]:
    """The definition of the state machine whose logical id starts with `machine_prefix`, each token
    (Ref, Fn::GetAtt) replaced by the value of the one key of `values` its logical id contains, the
    partition by `aws`."""
    [machine] = [
        v
        for k, v in template["Resources"].items()
        if k.startswith(machine_prefix) and v["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    text = ""
    for part in machine["Properties"]["DefinitionString"]["Fn::Join"][1]:
        if isinstance(part, str):
            text += part
        elif part == {"Ref": "AWS::Partition"}:
            text += "aws"
        else:
            token = json.dumps(part)
            matches = [value for key, value in values.items() if key in token]
            if len(matches) != 1:
                raise Unsupported(f"no single value for {token}")
            text += matches[0]
    definition: dict[str, Any] = json.loads(text)
    return definition


def map_state(definition: Mapping[str, Any]) -> MapState:
    """The definition's one Distributed Map, parsed."""
    [(name, state)] = [(n, s) for n, s in definition["States"].items() if s["Type"] == "Map"]
    return MapState.parse(name, state)
