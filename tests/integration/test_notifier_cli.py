"""Slack and Jira over real HTTP, against local servers that record what arrived."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlgov.cli import main, sample_finding
from mlgov.ops.notify_state import MemoryState
from mlgov.sinks import Fault, Sink, start_sink
from mlgov_runtime.adapters.http import DeliveryError, HttpClient
from mlgov_runtime.adapters.notifiers import JiraProject, SlackWebhooks
from mlgov_runtime.core.routing import Delivery, RoutingPolicy
from mlgov_runtime.notifier.logic import Channel, deliver_finding
from tests.settings_files import NO_SETTINGS

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def slack() -> Iterator[Sink]:
    with start_sink("slack") as sink:
        yield sink


@pytest.fixture
def jira() -> Iterator[Sink]:
    with start_sink("jira") as sink:
        yield sink


def fast_http(sleeps: list[float] | None = None, timeout: float = 2.0) -> HttpClient:
    return HttpClient(
        timeout=timeout, attempts=3, base_delay=0.01, sleep=(sleeps.append if sleeps is not None else (lambda _s: None))
    )


def slack_to(sink: Sink, http: HttpClient | None = None, path: str = "") -> SlackWebhooks:
    return SlackWebhooks({"#sec": sink.url + path}, http or fast_http())


def jira_project(sink: Sink, http: HttpClient | None = None) -> JiraProject:
    return JiraProject(sink.url, "bot@example.com", "api-token", "MLGOV", http or fast_http())


def test_slack_gets_a_block_kit_message_naming_resource_account_region_and_why(slack: Sink) -> None:
    finding = sample_finding()
    slack_to(slack, path="/services/T0/B0/X").send(finding, "#sec")
    [request] = slack.requests
    text = json.dumps(request.body)
    assert request.path == "/services/T0/B0/X"
    assert request.body["blocks"][0]["type"] == "header"
    for expected in (finding["resource_arn"], "123456789012", "us-east-1", finding["detail"], "console.aws.amazon.com"):
        assert expected in text


def test_the_same_finding_five_times_makes_one_jira_issue_and_four_comments(jira: Sink) -> None:
    finding = sample_finding()
    project = jira_project(jira)
    results = [project.send(finding, "MLGOV") for _ in range(5)]
    assert results[0] == "created MLGOV-1"
    assert results[1:] == ["commented MLGOV-1"] * 4
    assert list(jira.issues) == ["MLGOV-1"]
    assert len(jira.comments["MLGOV-1"]) == 4
    labels = jira.issues["MLGOV-1"]["fields"]["labels"]
    assert f"mlgov-{finding['finding_id']}" in labels
    assert jira.requests[0].headers["Authorization"].startswith("Basic ")


def test_429_with_retry_after_is_honoured_then_delivered(slack: Sink) -> None:
    slack.fail_next(Fault(429, retry_after="3"))
    sleeps: list[float] = []
    slack_to(slack, fast_http(sleeps)).send(sample_finding(), "#sec")
    assert sleeps == [3.0]
    assert len(slack.requests) == 2


def test_5xx_is_retried_with_backoff_until_it_gives_up_retryable(slack: Sink) -> None:
    slack.fail_next(Fault(500), Fault(502), Fault(503))
    with pytest.raises(DeliveryError) as caught:
        slack_to(slack).send(sample_finding(), "#sec")
    assert caught.value.retryable and "after 3 attempts" in str(caught.value)
    assert len(slack.requests) == 3


def test_a_slack_answer_slower_than_the_timeout_but_successful_is_posted_once(slack: Sink) -> None:
    # Slack webhooks take no idempotency key: a post that was sent is awaited as long as every attempt together
    # would take (here 20 x 0.3 s), not sent again after one attempt's 0.3 s (then it would show twice).
    slack.fail_next(Fault(200, hang_seconds=0.8))
    http = HttpClient(timeout=0.3, attempts=20, base_delay=0.01, sleep=lambda _s: None)
    slack_to(slack, http).send(sample_finding(), "#sec")
    assert len(slack.requests) == 1 and len(slack.delivered) == 1


def test_a_slack_post_sent_but_never_answered_is_not_resent_in_the_same_call(slack: Sink) -> None:
    slack.fail_next(Fault(200, hang_seconds=5.0))
    http = HttpClient(timeout=0.1, attempts=3, base_delay=0.01, sleep=lambda _s: None)
    with pytest.raises(DeliveryError) as caught:
        slack_to(slack, http).send(sample_finding(), "#sec")
    assert caught.value.retryable and "not resent now" in str(caught.value)
    assert len(slack.requests) == 1


def test_a_refused_connection_is_retried_since_nothing_was_sent() -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []
    with pytest.raises(DeliveryError, match="after 3 attempts"):
        SlackWebhooks({"#sec": f"http://127.0.0.1:{port}/x"}, fast_http(sleeps)).send(sample_finding(), "#sec")
    assert len(sleeps) == 2


def test_a_4xx_answer_is_not_retried_and_says_what_came_back(slack: Sink) -> None:
    slack.fail_next(Fault(404))
    with pytest.raises(DeliveryError, match="answered 404"):
        slack_to(slack).send(sample_finding(), "#sec")
    assert len(slack.requests) == 1


def test_slack_down_does_not_block_jira(slack: Sink, jira: Sink) -> None:
    slack.fail_next(Fault(500), Fault(500), Fault(500))
    deliveries = [Delivery("slack", "#sec"), Delivery("jira", "MLGOV")]
    channels: dict[str, Channel] = {"slack": slack_to(slack), "jira": jira_project(jira)}
    report = deliver_finding(sample_finding(), deliveries, channels, MemoryState(), RoutingPolicy(), "m1", NOW)
    assert report.outcomes["slack:#sec"].startswith("failed")
    assert report.outcomes["jira:MLGOV"] == "ok: created MLGOV-1"


def test_cli_notify_send_uses_the_environment_and_exits_0(
    slack: Sink, jira: Sink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLGOV_SLACK_WEBHOOK_URL", slack.url)
    for key, value in {"URL": jira.url, "USER": "bot@example.com", "TOKEN": "t", "PROJECT": "MLGOV"}.items():
        monkeypatch.setenv(f"MLGOV_JIRA_{key}", value)
    path = tmp_path / "finding.json"
    path.write_text(json.dumps(sample_finding()))
    args = ["notify", "send", "--finding-file", str(path), "--format", "json", "--config", NO_SETTINGS]
    assert main(args) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert out["deliveries"] == {
        "slack:#ml-governance-security": "ok: posted to #ml-governance-security",
        "jira:MLGOV": "ok: created MLGOV-1",
    }


def test_cli_notify_refuses_an_unconfigured_channel_and_a_bad_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MLGOV_SLACK_WEBHOOK_URL", raising=False)
    assert main(["notify", "test", "--channel", "slack"]) == 2
    assert "MLGOV_SLACK_WEBHOOK_URL" in capsys.readouterr().err
    bad = tmp_path / "f.json"
    bad.write_text(json.dumps({"finding_id": "x"}))
    assert main(["notify", "send", "--finding-file", str(bad)]) == 2
    assert "finding lacks kind" in capsys.readouterr().err


def test_a_resolution_comments_and_transitions_when_configured(jira: Sink) -> None:
    finding = sample_finding()
    project = jira_project(jira)
    project.resolve_transition_id = "31"
    project.send(finding, "MLGOV")
    outcome = project.send({**finding, "status": "RESOLVED", "severity": "INFO"}, "MLGOV")
    assert outcome == "commented and transitioned MLGOV-1"
    assert jira.issues["MLGOV-1"]["status"] == "Done"
    assert jira.requests[-1].body == {"transition": {"id": "31"}}
    # A new occurrence after the issue was closed opens a new issue: the closed one stays closed.
    assert project.send(finding, "MLGOV") == "created MLGOV-2"
