"""One entry for every capability's Lambda functions.

`Entry` holds a function's Powertools logger and metrics; `Entry.handler` makes a Lambda handler of a
function (the Lambda context in every log line, state cleared per invocation, metrics flushed at the end).
`Entry.events` is the whole start-up of an event-driven function: a malformed event is rejected before
anything runs, the rest goes once per event id (Powertools idempotency, DynamoDB) to the capability's
logic with the function's own account. A capability's handler is then its parse function and its
logic call.

Powertools is imported when a function builds its entry or first runs, never by importing this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from mlgov_runtime.core.env import Lazy
from mlgov_runtime.core.events import InvalidEvent

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext

NAMESPACE = "MLGovernance"

# Called by Lambda with (event, context); tests and the sandbox pass a stand-in context.
Handler = Callable[..., Any]
# The capability's logic behind idempotency: process(request=<the parsed event as a dict>, own_account=...).
Process = Callable[..., dict[str, Any]]


class ParsedEvent(Protocol):
    LOG_KEYS: ClassVar[tuple[str, ...]]  # its fields every log line of the invocation carries

    def to_dict(self) -> dict[str, Any]: ...


class IdempotencySettings(Protocol):
    @property
    def idempotency_table(self) -> str: ...

    @property
    def idempotency_ttl_seconds(self) -> int: ...


P = TypeVar("P", bound=ParsedEvent)


def account_of(context: LambdaContext) -> str:
    """The account this function runs in, from its own ARN (never from the event)."""
    return context.invoked_function_arn.split(":")[4]


def once_per_event(process: Process, settings: IdempotencySettings) -> tuple[IdempotencyConfig, Process]:
    """`process` behind Powertools idempotency, keyed on the request's event id. The record's key names
    `process` itself (its module and name), so each capability keeps its own records."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    config = IdempotencyConfig(event_key_jmespath="event_id", expires_after_seconds=settings.idempotency_ttl_seconds)
    persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)
    wrapped = idempotent_function(data_keyword_argument="request", config=config, persistence_store=persistence)
    return config, wrapped(process)


class Entry:
    """A capability function's logger and metrics (service name, namespace MLGovernance)."""

    def __init__(self, service: str, *, metrics: bool = True, cold_start_metric: bool = False) -> None:
        from aws_lambda_powertools import Logger, Metrics

        self.service = service
        self.logger = Logger(service=service)
        self.metrics = Metrics(namespace=NAMESPACE, service=service)
        self._flush_metrics = metrics
        self._cold_start_metric = cold_start_metric

    def handler(self, function: Handler) -> Handler:
        """`function` as a Lambda handler: context in the log lines, metrics flushed when it returns."""
        if self._flush_metrics:
            function = self.metrics.log_metrics(function, capture_cold_start_metric=self._cold_start_metric)
        wrapped: Handler = self.logger.inject_lambda_context(function, clear_state=True)
        return wrapped

    def count(self, name: str, value: float = 1) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def events(
        self,
        parse: Callable[[Any], P],
        process: Process,
        settings: Callable[[], IdempotencySettings],
        *,
        request: Callable[[P], dict[str, Any]] | None = None,
        refuse: Callable[[P, Any, str], dict[str, Any] | None] | None = None,
        skipped: tuple[type[Exception], ...] = (),
        skipped_log: str = "Event skipped",
        failure_metric: str | None = None,
        skipped_metric: str | None = None,
    ) -> Handler:
        """The event path of a function (not yet a Lambda handler: pass it to `handler`, or call it from one).

        parse: event -> request (its LOG_KEYS logged), or InvalidEvent ({"status": "rejected"}).
        process: the logic, once per event id (request=..., own_account=...); settings: its loader (idempotency).
        request: what `process` takes (default to_dict()); refuse: an answer instead of processing, or None.
        skipped: exceptions answered {"status": "skipped"}; failure_metric / skipped_metric: counted on each.
        """
        once = Lazy(lambda env: once_per_event(process, settings()))

        def run(event: Any, context: LambdaContext) -> dict[str, Any]:
            try:
                parsed = parse(event)
            except InvalidEvent as exc:
                self.logger.warning("Event rejected", extra={"reason": str(exc)})
                if failure_metric:
                    self.count(failure_metric)
                return {"status": "rejected", "reason": str(exc)}
            account = account_of(context)
            if refuse is not None:
                refused = refuse(parsed, event, account)
                if refused is not None:
                    return refused
            config, call = once.get()
            config.register_lambda_context(context)
            self.logger.append_keys(**{key: getattr(parsed, key) for key in parsed.LOG_KEYS})
            payload = request(parsed) if request is not None else parsed.to_dict()
            try:
                return dict(call(request=payload, own_account=account))
            except skipped as exc:
                self.logger.error(skipped_log, extra={"reason": str(exc)})
                if failure_metric:
                    self.count(failure_metric)
                if skipped_metric:
                    self.count(skipped_metric)
                return {"status": "skipped", "reason": str(exc)}

        return run
