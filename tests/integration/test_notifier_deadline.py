"""The notifier Lambda finishes inside its timeout whatever Slack does: hanging, or answering 429 with
a long Retry-After. The real values (8 s per HTTP attempt, 4 attempts, the function's 120 s timeout)
run on an injected clock: a hang costs its timeout on the clock, not in the test."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest

from mlgov.cli import sample_finding
from mlgov.sandbox import FakeContext, sqs_event
from mlgov_runtime.adapters.http import HttpClient
from tests.clock import Clock
from tests.integration.test_notifier_handler import Notifier, notifier

__all__ = ["notifier"]

LAMBDA_TIMEOUT_SECONDS = 120  # stacks/notifier.py; tests/infrastructure/test_notifier_stack.py pins it
REAL_HTTP: dict[str, Any] = {"timeout": 8.0, "attempts": 4}  # the notifier handler's HttpClient


class ClockedContext(FakeContext):
    """A Lambda context whose remaining time runs on the clock."""

    def __init__(self, clock: Clock, timeout: float = LAMBDA_TIMEOUT_SECONDS) -> None:
        self.clock, self.timeout = clock, timeout

    def get_remaining_time_in_millis(self) -> int:
        return int((self.timeout - self.clock.now) * 1000)


def findings(count: int) -> list[str]:
    base = sample_finding()
    return [
        json.dumps({**base, "finding_id": f"{i:032x}", "resource_arn": base["resource_arn"] + f"-{i}"})
        for i in range(count)
    ]


@pytest.fixture
def clock(notifier: Notifier) -> Iterator[Clock]:
    """Slack (the first sink) misbehaves on the clock; Jira answers for real."""
    clock = Clock()
    setattr(notifier.module, "http", HttpClient(**REAL_HTTP, sleep=clock.sleep))  # noqa: B010
    yield clock


def slack_behaves(monkeypatch: pytest.MonkeyPatch, notifier: Notifier, clock: Clock, how: str) -> list[float]:
    real = urllib.request.urlopen
    slack_calls: list[float] = []

    def urlopen(request: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        if not request.full_url.startswith(notifier.slack.url):
            return real(request, timeout=timeout)
        slack_calls.append(clock.now)
        if how == "hang":  # the server never answers: the attempt costs its whole timeout
            clock.now += float(timeout or 0)
            raise TimeoutError("timed out")
        headers = Message()
        headers["Retry-After"] = "30"
        raise urllib.error.HTTPError(request.full_url, 429, "Too Many Requests", headers, None)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return slack_calls


def test_a_hanging_slack_never_runs_the_batch_past_the_lambda_timeout(
    notifier: Notifier, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack_behaves(monkeypatch, notifier, clock, "hang")
    ids = [f"m-{i}" for i in range(10)]
    result = notifier.module.handler(sqs_event(findings(10), ids), ClockedContext(clock))
    assert clock.now < LAMBDA_TIMEOUT_SECONDS, f"the batch ran {clock.now:.0f}s on a {LAMBDA_TIMEOUT_SECONDS}s Lambda"
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == sorted(ids)  # Slack still owed
    assert len(notifier.jira.issues) == 10  # the outage never starved the other channel

    # The outage ends; SQS hands the same messages to a later invocation: Slack gets each once, Jira nothing new.
    monkeypatch.undo()
    setattr(notifier.module, "http", HttpClient(timeout=2.0, attempts=2, base_delay=0.01))  # noqa: B010
    again = notifier.module.handler(sqs_event(findings(10), ids), FakeContext())
    assert again == {"batchItemFailures": []}
    assert len(notifier.slack.delivered) == 10 and len(notifier.jira.issues) == 10
    assert not any(r.path.endswith("/comment") for r in notifier.jira.requests)


def test_a_long_retry_after_leaves_the_record_for_a_later_receive_instead_of_sleeping(
    notifier: Notifier, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack_calls = slack_behaves(monkeypatch, notifier, clock, "429")
    ids = [f"r-{i}" for i in range(10)]
    result = notifier.module.handler(sqs_event(findings(10), ids), ClockedContext(clock))
    assert not [s for s in clock.sleeps if s >= 20], f"slept {clock.sleeps}"
    assert clock.now < 10
    assert len(result["batchItemFailures"]) == 10
    assert len(slack_calls) == 1  # the rest of the batch does not knock on a door that said "in 30 s"
    assert len(notifier.jira.issues) == 10


def test_records_are_not_started_without_time_to_finish_them(
    notifier: Notifier, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.now = LAMBDA_TIMEOUT_SECONDS - 11  # 11 s left: less than the reserve and one delivery
    result = notifier.module.handler(sqs_event(findings(3), ["a", "b", "c"]), ClockedContext(clock))
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ["a", "b", "c"]
    assert notifier.slack.requests == [] and notifier.jira.requests == []


def test_a_really_hanging_sink_is_cut_at_the_budget_not_at_the_http_timeout(
    notifier: Notifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real socket to a sink that never answers. The Lambda's remaining time runs on the clock, which each
    attempt advances by the timeout the client gave it (what a hang costs); the socket itself waits a short real
    time, so the verdict does not depend on how busy the machine is."""
    from mlgov.sinks import Fault

    clock = Clock()
    notifier.slack.fail_next(*[Fault(200, hang_seconds=30)] * 4)
    setattr(notifier.module, "http", HttpClient(**REAL_HTTP, sleep=clock.sleep))  # noqa: B010
    real = urllib.request.urlopen
    asked: list[float] = []

    def urlopen(request: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        if not request.full_url.startswith(notifier.slack.url):
            return real(request, timeout=timeout)
        asked.append(float(timeout or 0))
        clock.now += float(timeout or 0)
        return real(request, timeout=0.2)  # the sink hangs 30 s: this always times out, for real

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    # 16 s left, 10 of them reserved: the attempt gets what remains of 6 s, not 8, and nothing retries past the end.
    context = ClockedContext(clock, timeout=16)
    result = notifier.module.handler(sqs_event(findings(1), ["h-1"]), context)
    assert len(asked) == 1 and 5.0 < asked[0] <= 6.0, asked  # the budget, not the 8 s HTTP timeout
    assert context.get_remaining_time_in_millis() > 0, "returned after the Lambda would have been killed"
    assert result == {"batchItemFailures": [{"itemIdentifier": "h-1"}]}
