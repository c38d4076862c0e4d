"""Environment settings, composed from small shared parts plus each capability's own fields.

Each function reads its settings once, on first use (`Lazy`), never at import: a test or the sandbox
sets the environment and calls `reset_all()` instead of reloading modules. Plain functions and
dataclasses rather than pydantic: model construction costs tens of milliseconds of cold start.
Variable names are constants here so the CDK constructs set exactly what the functions read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

# Findings channel (every producer).
FINDINGS_TABLE_NAME = "FINDINGS_TABLE_NAME"
FINDINGS_TOPIC_ARN = "FINDINGS_TOPIC_ARN"
# Idempotency (event-driven entry points).
IDEMPOTENCY_TABLE_NAME = "IDEMPOTENCY_TABLE_NAME"
# Observability (every function; read by Powertools itself too).
METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"

TABLE = r"[a-zA-Z0-9_.-]{3,255}"
TOPIC_ARN = r"arn:aws[a-z-]*:sns:[\w-]+:\d{12}:[\w-]+"

Env = Mapping[str, str]
T = TypeVar("T")


class SettingsError(RuntimeError):
    """A missing or malformed environment variable; the message names it."""


def required(env: Env, key: str, pattern: str, what: str) -> str:
    value = env.get(key, "")
    if not value:
        raise SettingsError(f"environment variable {key}: missing ({what})")
    if not re.fullmatch(pattern, value):
        raise SettingsError(f"environment variable {key}: {value!r} is not {what}")
    return value


def optional(env: Env, key: str, pattern: str, what: str) -> str | None:
    value = env.get(key) or None
    if value is not None and not re.fullmatch(pattern, value):
        raise SettingsError(f"environment variable {key}: {value!r} is not {what}")
    return value


# Shared parts: each returns the keyword arguments of the fields it owns.


@dataclass(frozen=True, kw_only=True)
class ObservabilityEnv:
    metrics_namespace: str = "MLGovernance"

    @staticmethod
    def read(env: Env) -> dict[str, Any]:
        return {"metrics_namespace": env.get(METRICS_NAMESPACE) or "MLGovernance"}


@dataclass(frozen=True, kw_only=True)
class FindingsChannelEnv(ObservabilityEnv):
    findings_table: str
    findings_topic_arn: str

    @staticmethod
    def read(env: Env) -> dict[str, Any]:
        return {
            **ObservabilityEnv.read(env),
            "findings_table": required(env, FINDINGS_TABLE_NAME, TABLE, "a DynamoDB table name"),
            "findings_topic_arn": required(env, FINDINGS_TOPIC_ARN, TOPIC_ARN, "an SNS topic ARN"),
        }


@dataclass(frozen=True, kw_only=True)
class IdempotencyEnv:
    idempotency_table: str
    idempotency_ttl_seconds: int = 3600

    @staticmethod
    def with_ttl(env: Env, ttl_seconds: int) -> dict[str, Any]:
        """The table from the environment; the TTL as it arrived with the capability's settings."""
        return {
            "idempotency_table": required(env, IDEMPOTENCY_TABLE_NAME, TABLE, "a DynamoDB table name"),
            "idempotency_ttl_seconds": ttl_seconds,
        }


class Lazy(Generic[T]):
    """A function's settings, loaded from the environment once, on first use."""

    _all: list[Lazy[Any]] = []

    def __init__(self, loader: Callable[[Env], T]) -> None:
        self._loader = loader
        self._value: T | None = None
        Lazy._all.append(self)

    def get(self) -> T:
        if self._value is None:
            self._value = self._loader(os.environ)
        return self._value

    def reset(self) -> None:
        self._value = None


def reset_all() -> None:
    """Forget every loaded settings object (tests and the sandbox change the environment)."""
    for lazy in Lazy._all:
        lazy.reset()
