"""HTTP with retries inside a time budget (`remaining()`), as docs/notifications.md, Nothing lost, states; other
4xx answers are permanent and reported with what the receiver objected to.

urllib only: no extra dependency in the Lambda asset.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import math
import random
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
# Answers a server, or a proxy in front of it, may give after the request was carried out.
AMBIGUOUS = frozenset({500, 502, 504})
MIN_ATTEMPT_SECONDS = 2.0  # an attempt that cannot get this long is not started
_SECRET_PATH = re.compile(r"(/services/[^/]+/[^/]+/)[^/?#]+")


class DeliveryError(Exception):
    """Delivery failed. `retryable`: a later attempt may succeed (outage, rate limit, out of time);
    otherwise the receiver refused the request for good (4xx) and `objection` says what it objected to."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        retryable: bool = False,
        objection: str = "",
        retry_after: float | None = None,
        maybe_done: bool = False,
        held: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.objection = objection
        self.retry_after = retry_after
        self.maybe_done = maybe_done  # sent, and the receiver may have carried it out
        self.held = held  # one item waits (its own earlier send); no outage of the receiver


@dataclass
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise DeliveryError(f"answered {self.status} with a body that is not JSON", self.status, True) from None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None when it is
    absent or unusable (negative, nan, infinite, garbage): the caller then backs off on its own."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            return None
        return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def redact(url: str) -> str:
    """A webhook URL's last path segment is its secret: never in a log line or an error message."""
    return _SECRET_PATH.sub(r"\1***", url)


def objection_of(body: bytes) -> str:
    """What a 4xx answer objected to, on one line: Jira's `errors` (field -> message) and
    `errorMessages`, or Slack's plain-text code (invalid_blocks, no_service, ...)."""
    text = body[:4000].decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        data = None
    parts: list[str] = []
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, dict):
            parts += [f"field {k}: {v}" for k, v in errors.items()]
        messages = data.get("errorMessages")
        if isinstance(messages, list):
            parts += [str(m) for m in messages]
        if not parts and "error" in data:
            parts.append(str(data["error"]))
    line = "; ".join(parts) if parts else re.sub(r"<[^>]*>", " ", text)
    return " ".join(line.split())[:300]


def _body_of(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read() if error.fp is not None else b""
    except (OSError, http.client.HTTPException, AttributeError):
        return b""


def _urlopen(request: urllib.request.Request, timeout: float) -> Response:
    # Looked up at call time so a test can stand in for the network.
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return Response(answer.status, answer.read())


@dataclass
class HttpClient:
    timeout: float = 10.0
    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0  # the longest back-off or Retry-After this client sleeps
    sleep: Callable[[float], None] = field(default=time.sleep)
    remaining: Callable[[], float] | None = None  # seconds left in the caller's budget; None: no deadline
    later: str = "a later invocation"  # who tries again: the queue's next delivery, or the CLI's user

    def within(self, remaining: Callable[[], float]) -> HttpClient:
        """The same client, bound to a caller's time budget."""
        return replace(self, remaining=remaining)

    def _left(self) -> float:
        return math.inf if self.remaining is None else self.remaining()

    def _backoff(self, attempt: int) -> float:
        return min(self.base_delay * 2**attempt, self.max_delay) * (0.5 + random.random() / 2)

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        idempotent: bool = True,
        resend_5xx: bool = True,
    ) -> Response:
        """`idempotent=False` (no idempotency key, e.g. a Slack post): a request sent but not answered is never
        resent (a slow server may have acted); `resend_5xx=False` (a Jira create) adds 500/502/504. The error then
        says `maybe_done` (docs/notifications.md, Nothing lost)."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        all_headers = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}
        where = f"{method} {redact(url)}"
        last = "not tried"
        for attempt in range(self.attempts):
            left = self._left()
            if left < MIN_ATTEMPT_SECONDS:
                raise DeliveryError(f"{where} {last}; out of time, left for {self.later}", None, True)
            status, retry_after = None, None
            try:
                request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
                wait = self.timeout if idempotent else self.timeout * (self.attempts - attempt)
                return _urlopen(request, min(wait, left))
            except urllib.error.HTTPError as exc:
                status = exc.code
                if not resend_5xx and exc.code in AMBIGUOUS:
                    raise DeliveryError(
                        f"{where} answered {exc.code}; not resent now (it may have been acted on), "
                        f"left for {self.later}",
                        exc.code,
                        True,
                        maybe_done=True,
                    ) from None
                if exc.code not in RETRYABLE:
                    objection = objection_of(_body_of(exc))
                    raise DeliveryError(
                        f"{where} answered {exc.code}: {objection}", exc.code, False, objection
                    ) from None
                last = f"answered {exc.code}"
                retry_after = parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            except ValueError as exc:  # a malformed URL: configuration, not an outage
                raise DeliveryError(f"{where}: {exc}", None, False, str(exc)) from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                # urllib wraps what fails before the request is sent (connect, send) in URLError; a timeout or a
                # dropped connection while awaiting the answer comes bare: sent, and perhaps acted on.
                sent = not isinstance(exc, urllib.error.URLError)
                last = f"failed: {str(getattr(exc, 'reason', None) or exc) or type(exc).__name__}"
                if sent and not idempotent:
                    raise DeliveryError(
                        f"{where} sent but not answered ({last}); not resent now (it may have been acted on), "
                        f"left for {self.later}",
                        None,
                        True,
                        maybe_done=True,
                    ) from None
            if attempt + 1 >= self.attempts:
                break
            if retry_after is not None and (
                retry_after > self.max_delay or retry_after > self._left() - MIN_ATTEMPT_SECONDS
            ):
                raise DeliveryError(
                    f"{where} {last} with Retry-After {retry_after:g} s; left for {self.later}",
                    status,
                    True,
                    retry_after=retry_after,
                )
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            if delay > self._left() - MIN_ATTEMPT_SECONDS:
                raise DeliveryError(f"{where} {last}; no time for another attempt, left for {self.later}", status, True)
            self.sleep(delay)
        raise DeliveryError(f"{where} {last} after {self.attempts} attempts", None, True)
