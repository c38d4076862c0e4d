"""Per-endpoint checks: what the org-wide scan (and `mlgov scan`) runs on every endpoint of every
account/region. Knows no capability. The contract a check module keeps (NAME, KINDS, MEMBER_ACTIONS,
check_endpoint; reads only through `ctx`, shared reads thread-safe): docs/org-scan.md, per-endpoint check.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

from mlgov_runtime.core.findings import Finding

T = TypeVar("T")
Clients = Callable[[str], Any]


class EndpointGone(Exception):
    """The endpoint was deleted between the listing and the check: it gets no row."""


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)  # OPEN findings; an empty list means "all good"
    row: dict[str, Any] = field(default_factory=dict)  # merged into the endpoint's report row
    # The check could not judge the endpoint (unreadable): its earlier open findings there stay open.
    inconclusive: bool = False


class EndpointCheck(Protocol):
    NAME: str
    KINDS: tuple[str, ...]
    MEMBER_ACTIONS: frozenset[str]

    def check_endpoint(self, ctx: CheckContext, endpoint_name: str) -> CheckResult: ...


class CheckContext:
    """One account/region of one scan: its clients, the settings the checks read, and shared reads."""

    def __init__(
        self,
        account_id: str,
        region: str,
        *,
        clients: Clients,
        home_clients: Clients,
        options: Mapping[str, Any],
        source: str,
        now: datetime,
    ) -> None:
        self.account_id, self.region = account_id, region
        self.options = options  # {"thresholds": {...}, "experiment_exemptions": {...}, ...} from cdk.json
        self.source = source
        self.now = now
        self._clients, self._home_clients = clients, home_clients
        self._values: dict[str, Any] = {}
        self._building: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        """A client in the scanned account/region."""
        return self._clients(service)

    def home_client(self, service: str) -> Any:
        """A client in the governance account (e.g. Organizations)."""
        return self._home_clients(service)

    def threshold(self, key: str, default: float) -> float:
        return float(self.options.get("thresholds", {}).get(key, default))

    def shared(self, key: str, build: Callable[[], T]) -> T:
        """The value under `key`, built once per account/region even when threads ask at once."""
        with self._lock:
            if key in self._values:
                return self._values[key]
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._lock:
                if key in self._values:
                    return self._values[key]
            value = build()
            with self._lock:
                self._values[key] = value
            return value

    def preset(self, key: str, value: Any) -> None:
        """Put a shared value in place before the checks run (tests inject fakes this way)."""
        with self._lock:
            self._values[key] = value

    def reads(self, reader: T) -> T:
        """`reader` with its per-resource reads (SHARED_READS) answered once per scan across checks."""
        return cast(T, SharedReads(self, reader))


# Reads by resource name that several checks make: the same method name means the same AWS read in
# every reader (a check's reader keeps that promise), so one answer serves them all.
SHARED_READS = frozenset(
    {
        "describe_endpoint",
        "describe_endpoint_config",
        "describe_model",
        "list_endpoint_tags",
        "describe_inference_component",
    }
)


class SharedReads:
    """Answers SHARED_READS from the scan's shared values; everything else goes to the reader."""

    def __init__(self, ctx: CheckContext, reader: Any) -> None:
        self._ctx, self._reader = ctx, reader

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._reader, name)
        if name not in SHARED_READS:
            return method

        def read(resource: str) -> Any:
            return self._ctx.shared(f"read:{name}:{resource}", lambda: method(resource))

        return read
