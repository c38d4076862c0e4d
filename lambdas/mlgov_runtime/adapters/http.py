"""HTTP with retries: 429, 5xx and timeouts are retried with backoff, honouring Retry-After.

urllib only: no extra dependency in the Lambda asset.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RETRYABLE = frozenset({429, 500, 502, 503, 504})


class DeliveryError(Exception):
    """Delivery failed for good (after retries, or a non-retryable answer)."""

    def __init__(self, message: str, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class HttpClient:
    timeout: float = 10.0
    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.max_delay)
            except ValueError:
                pass
        return min(self.base_delay * 2**attempt, self.max_delay) * (0.5 + random.random() / 2)

    def request(self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Response:
        data = None if body is None else json.dumps(body).encode("utf-8")
        all_headers = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}
        last = ""
        for attempt in range(self.attempts):
            request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
            retry_after = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    return Response(answer.status, answer.read())
            except urllib.error.HTTPError as exc:
                payload = exc.read()[:300].decode("utf-8", "replace")
                if exc.code not in RETRYABLE:
                    raise DeliveryError(f"{method} {url} answered {exc.code}: {payload}", exc.code) from None
                last, retry_after = f"answered {exc.code}", exc.headers.get("Retry-After")
            except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
                last = f"failed: {getattr(exc, 'reason', exc)}"
            if attempt + 1 < self.attempts:
                self.sleep(self._delay(attempt, retry_after))
        raise DeliveryError(f"{method} {url} {last} after {self.attempts} attempts", retryable=True)
