"""The notifier's pure parts: de-duplication that never hides an escalation, findings checked by type,
payloads within Slack's and Jira's limits with resource text escaped, Retry-After that cannot crash."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import pytest

from mlgov.ops.notify_state import MemoryState
from mlgov_runtime.adapters.http import DeliveryError, HttpClient
from mlgov_runtime.core.routing import Delivery, RoutingPolicy
from mlgov_runtime.notifier.logic import InvalidFinding, deliver_finding, validate_finding
from mlgov_runtime.notifier.messages import jira_comment, jira_issue, slack_message

# The receivers' documented limits (Slack Block Kit; Jira Cloud), stated here, not imported.
SLACK_HEADER_MAX, SLACK_SECTION_MAX, SLACK_FIELD_MAX, SLACK_BLOCKS_MAX = 150, 3000, 2000, 50
JIRA_SUMMARY_MAX, JIRA_TEXT_MAX = 255, 32_767


def units(text: str) -> int:
    """Characters as Jira's Java counts them (UTF-16 code units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SLACK = Delivery("slack", "#sec")
JIRA = Delivery("jira", "MLGOV")


def finding(**changes: Any) -> dict[str, Any]:
    base = {
        "finding_id": "0f3c2a9b8d7e6f5a4b3c2d1e0f9a8b7c",
        "kind": "CATALOG_COVERAGE_GAP",
        "severity": "HIGH",
        "account_id": "123456789012",
        "region": "us-east-1",
        "resource_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/manga-recommender",
        "title": "Catalog coverage gap 6.0%",
        "detail": "The training snapshot covers 94% of the catalog.",
        "detected_at": "2026-11-27T09:00:00Z",
        "source": "scheduled",
        "evidence": {"coverage_gap_pct": 6.0},
        "status": "OPEN",
    }
    return {**base, **changes}


class Recording:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, finding: dict[str, Any], target: str) -> str:
        self.sent.append(finding)
        return "sent"


# -- item 5: a change of severity or fingerprint always sends, whatever the window


def deliver(channel: Recording, state: MemoryState, f: dict[str, Any], minutes: int, message: str) -> str:
    report = deliver_finding(
        f, [SLACK], {"slack": channel}, state, RoutingPolicy(), message, NOW + timedelta(minutes=minutes)
    )
    return report.outcomes["slack:#sec"]


def test_an_escalation_inside_the_dedupe_window_is_sent() -> None:
    channel, state = Recording(), MemoryState()
    assert deliver(channel, state, finding(), 0, "m1").startswith("ok")
    assert deliver(channel, state, finding(), 5, "m2").startswith("suppressed")  # the same finding again
    critical = finding(severity="CRITICAL", title="Catalog coverage gap 40%", evidence={"coverage_gap_pct": 40.0})
    assert deliver(channel, state, critical, 10, "m3").startswith("ok")
    assert [f["severity"] for f in channel.sent] == ["HIGH", "CRITICAL"]


def test_a_changed_verdict_with_the_same_severity_is_sent() -> None:
    channel, state = Recording(), MemoryState()
    unapproved = finding(kind="UNREGISTERED_ENDPOINT", evidence={"verdict": "UNAPPROVED"})
    deliver(channel, state, unapproved, 0, "m1")
    unregistered = {**unapproved, "evidence": {"verdict": "UNREGISTERED"}}
    assert deliver(channel, state, unregistered, 1, "m2").startswith("ok")
    assert deliver(channel, state, unregistered, 2, "m3").startswith("suppressed")
    assert len(channel.sent) == 2


# -- item 8: a finding is checked by type, and its id must be usable as a Jira label


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"detail": 42}, "finding detail must be a string, got int"),
        ({"title": ["x"]}, "finding title must be a string, got list"),
        ({"finding_id": "has a space"}, "finding finding_id 'has a space' is not letters, digits"),
        ({"finding_id": 'quote"d'}, "is not letters, digits"),
        ({"severity": "URGENT"}, "finding severity 'URGENT' is not CRITICAL"),
        ({"account_id": "12345"}, "12-digit"),
        ({"region": "nowhere"}, "AWS region"),
        ({"detected_at": "yesterday"}, "ISO-8601"),
        ({"status": "CLOSED"}, "OPEN | RESOLVED"),
        ({"evidence": "lots"}, "evidence must be a JSON object"),
        ({"source": "magic"}, "realtime"),
        ({"title": "   "}, "finding title is blank"),
        ({"title": "\x1b\x07"}, "finding title is blank"),
        ({"detail": "half a pair: \ud800"}, "finding detail is not valid Unicode text"),
        ({"resource_arn": "not-an-arn"}, "an ARN"),
    ],
)
def test_a_finding_with_a_wrong_type_or_shape_is_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidFinding, match=None) as caught:
        validate_finding(finding(**change))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_well_formed_finding_passes() -> None:
    assert validate_finding(finding()) == finding()


# -- items 3 and 4: every payload fits, cuts say so, resource text is escaped


def huge_finding() -> dict[str, Any]:
    """An endpoint with 5 variants x 15 containers, long names everywhere."""
    containers = [
        {
            "model_package_arn": f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{'g' * 60}/{i}",
            "model_data_url": f"s3://b/<!channel> R&D/{'x' * 300}/model-{i}.tar.gz",
            "image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/" + "i" * 200,
        }
        for i in range(15)
    ]
    evidence = {"variants": [{"variant_name": f"v{v}", "containers": containers} for v in range(5)]}
    return finding(
        kind="UNREGISTERED_ENDPOINT",
        title="Endpoint " + "e" * 400 + " <!here> serves unregistered models",
        detail="Variant v0 serves s3://b/<!channel> R&D/model.tar.gz. " * 400,
        resource_arn="arn:aws:sagemaker:us-east-1:123456789012:endpoint/" + "e" * 63,
        evidence=evidence,
    )


def slack_texts(message: dict[str, Any]) -> Iterator[tuple[str, str]]:
    yield "text", message["text"]
    for block in message["blocks"]:
        if "text" in block:
            yield block["type"], block["text"]["text"]
        for item in block.get("fields", []) + block.get("elements", []):
            yield "field", item["text"]


def test_slack_message_of_a_huge_finding_fits_every_limit_and_says_where_the_rest_is() -> None:
    message = slack_message(huge_finding(), "mlgov-findings")
    assert len(message["blocks"]) <= SLACK_BLOCKS_MAX
    header = message["blocks"][0]["text"]["text"]
    assert units(header) <= SLACK_HEADER_MAX and header.endswith("…")
    for block in message["blocks"][1:]:
        if "text" in block:
            assert units(block["text"]["text"]) <= SLACK_SECTION_MAX
        for field in block.get("fields", []):
            assert units(field["text"]) <= SLACK_FIELD_MAX
    detail = message["blocks"][2]["text"]["text"]
    assert "cut to fit Slack" in detail and "aws dynamodb get-item --table-name mlgov-findings" in detail


def test_slack_text_from_resources_is_escaped_so_nothing_pings_the_channel() -> None:
    message = slack_message(huge_finding())
    for where, text in slack_texts(message):
        if where == "header":
            continue  # plain_text: Slack does not parse it
        assert "<!channel>" not in text and "<!here>" not in text, where
        assert "R&D" not in text, where
    detail = message["blocks"][2]["text"]["text"]
    assert "&lt;!channel&gt; R&amp;D" in detail and "&lt;!here&gt;" in message["text"]
    assert not detail.removesuffix("…").endswith("&am")  # a cut never splits an entity


def test_jira_issue_of_a_huge_finding_fits_and_keeps_resource_text_as_text() -> None:
    issue = jira_issue(huge_finding(), "MLGOV", "Task", "mlgov-findings")
    fields = issue["fields"]
    assert units(fields["summary"]) <= JIRA_SUMMARY_MAX and "\n" not in fields["summary"]
    texts = [node for block in fields["description"]["content"] for node in block.get("content", [])]
    total = sum(units(n["text"]) for n in texts if n["type"] == "text")
    assert total <= JIRA_TEXT_MAX
    assert all(n["type"] in ("text", "hardBreak") for n in texts)  # no marks, links or mentions
    assert all(n.get("text") for n in texts if n["type"] == "text")  # ADF refuses empty text nodes
    code = fields["description"]["content"][-1]
    assert code["type"] == "codeBlock" and "evidence cut at" in code["content"][0]["text"]
    assert "aws dynamodb get-item --table-name mlgov-findings" in code["content"][0]["text"]
    comment = jira_comment(huge_finding())
    assert (
        sum(units(n["text"]) for b in comment["body"]["content"] for n in b["content"] if "text" in n) <= JIRA_TEXT_MAX
    )


# -- item 6: a bad Retry-After falls back to backoff instead of raising


@pytest.mark.parametrize("value", ["-5", "nan", "inf", "-inf", "1e400", "soon", "", "  ", "0x10"])
def test_unusable_retry_after_values_mean_no_hint(value: str) -> None:
    from mlgov_runtime.adapters.http import parse_retry_after

    assert parse_retry_after(value) is None


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    from mlgov_runtime.adapters.http import parse_retry_after

    assert parse_retry_after("3") == 3.0
    now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert parse_retry_after("Fri, 27 Nov 2026 09:00:30 GMT", now) == 30.0
    assert parse_retry_after("Fri, 27 Nov 2026 08:00:00 GMT", now) == 0.0


class Answer:
    """What urllib.request.urlopen returns."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self._body = status, body

    def read(self, *_: Any) -> bytes:
        return self._body

    def close(self) -> None:
        return None

    def __enter__(self) -> Answer:
        return self

    def __exit__(self, *_: Any) -> None:
        return None


def http_error(url: str, status: int, headers: dict[str, str], body: bytes = b"") -> urllib.error.HTTPError:
    message = Message()
    for key, value in headers.items():
        message[key] = value
    return urllib.error.HTTPError(url, status, "refused", message, Answer(status, body))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["-5", "nan"])
def test_a_429_with_a_bad_retry_after_backs_off_and_delivers(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    answers = [429, 200]

    def fake_urlopen(request: Any, timeout: float) -> Answer:
        if answers.pop(0) == 429:
            raise http_error(request.full_url, 429, {"Retry-After": value})
        return Answer(200, b"ok")

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    sleeps: list[float] = []
    client = HttpClient(timeout=1, attempts=3, base_delay=0.5, sleep=sleeps.append)
    assert client.request("POST", "https://hooks.slack.com/services/T/B/X", {"text": "x"}).status == 200
    assert len(sleeps) == 1 and 0.25 <= sleeps[0] <= 0.5  # the backoff, not the header


def test_a_permanent_refusal_names_what_the_receiver_objected_to_and_hides_the_webhook_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = json.dumps({"errorMessages": [], "errors": {"summary": "Summary must be less than 255 characters."}})

    def fake_urlopen(request: Any, timeout: float) -> Answer:
        raise http_error(request.full_url, 400, {}, body.encode())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    with pytest.raises(DeliveryError) as caught:
        HttpClient(attempts=4).request("POST", "https://hooks.slack.com/services/T0/B0/SECRET", {})
    assert not caught.value.retryable and caught.value.status == 400
    assert getattr(caught.value, "objection", None) == "field summary: Summary must be less than 255 characters."
    assert "SECRET" not in str(caught.value)
