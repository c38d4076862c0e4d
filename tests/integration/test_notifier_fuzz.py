"""Fuzz: findings of any shape are refused by name or delivered within Slack's and Jira's limits, and the
notifier Lambda answers every SQS event (bodies, attributes and answers from Slack/Jira of any kind)
with a batch response instead of raising."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgov.cli import sample_finding
from mlgov.sandbox import FakeContext
from mlgov.sinks import Fault, adf_characters, slack_problem
from mlgov_runtime.adapters.http import HttpClient
from mlgov_runtime.notifier.logic import InvalidFinding, validate_finding
from mlgov_runtime.notifier.messages import jira_comment, jira_issue, slack_message
from tests.integration.test_notifier_handler import Notifier, _setup, aws_and_sinks, good_secret
from tests.strategies import FUZZ, Tally, json_values, nasty_text

BASE = sample_finding()
FIELDS = [*BASE, "status", "evidence", "unexpected"]


def mutated(changes: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    finding = {**BASE, **changes}
    for key in dropped:
        finding.pop(key, None)
    return finding


findings = st.one_of(
    st.builds(
        mutated,
        st.dictionaries(st.sampled_from(FIELDS), st.one_of(json_values, nasty_text), max_size=4),
        st.lists(st.sampled_from(FIELDS), max_size=2),
    ),
    # Well-typed findings with hostile text: these must pass validation and still fit every limit.
    st.builds(
        mutated,
        st.fixed_dictionaries(
            {
                "title": nasty_text.filter(str.strip),
                "detail": nasty_text.filter(str.strip),
                "evidence": st.dictionaries(st.text(max_size=8), json_values, max_size=5),
                "resource_arn": st.text(max_size=3000).map(lambda t: "arn:aws:sagemaker:us-east-1:1:endpoint/" + t),
            }
        ),
        st.just([]),
    ),
    json_values,
)


def test_fuzz_findings_are_refused_by_name_or_fit_every_limit(capsys: pytest.CaptureFixture[str]) -> None:
    tally = Tally("findings (notify send, the notifier's messages)")

    @settings(FUZZ, max_examples=400)
    @given(findings)
    def check(finding: Any) -> None:
        tally.generated += 1
        try:
            valid = validate_finding(finding)
        except InvalidFinding as exc:
            assert "\n" not in str(exc)
            return
        with tally.recording():
            slack = slack_message(valid, "mlgov-findings")
            issue = jira_issue(valid, "MLGOV", "Task", "mlgov-findings")
            comment = jira_comment(valid)
            json.dumps([slack, issue, comment])
        assert slack_problem(slack) is None, slack
        assert len(issue["fields"]["summary"].encode("utf-16-le", "surrogatepass")) // 2 <= 255
        assert "\n" not in issue["fields"]["summary"]
        described = adf_characters(issue["fields"]["description"])
        assert described is not None and described <= 32_767
        commented = adf_characters(comment["body"])
        assert commented is not None and commented <= 32_767
        assert all(" " not in label for label in issue["fields"]["labels"])

    check()
    tally.finish(capsys, at_least=300)


@pytest.fixture
def notifier(monkeypatch: pytest.MonkeyPatch) -> Iterator[Notifier]:
    with aws_and_sinks() as (slack, jira):
        n = _setup(monkeypatch, slack, jira, good_secret(slack, jira))
        setattr(n.module, "http", HttpClient(timeout=1.0, attempts=2, base_delay=0.001))  # noqa: B010
        yield n


bodies = st.one_of(findings.map(lambda f: json.dumps(f)), nasty_text, json_values)
attributes = st.dictionaries(
    st.text(max_size=20),
    st.one_of(
        st.fixed_dictionaries({"stringValue": nasty_text, "dataType": st.just("String")}),
        json_values,
    ),
    max_size=3,
)
records = st.fixed_dictionaries(
    {"messageId": st.one_of(st.uuids().map(str), nasty_text), "body": bodies, "messageAttributes": attributes}
)
faults = st.lists(
    st.builds(
        Fault,
        st.sampled_from([400, 401, 403, 404, 410, 429, 500, 503]),
        st.one_of(st.none(), st.sampled_from(["-5", "nan", "inf", "1e400", "0", "3", "30", "soon", ""])),
    ),
    max_size=3,
)
events = st.one_of(
    st.lists(records, min_size=1, max_size=4).map(lambda rs: {"Records": rs}),
    json_values,
    st.fixed_dictionaries({"Records": json_values}),
)


def test_fuzz_notifier_events_always_get_a_batch_response(
    notifier: Notifier, capsys: pytest.CaptureFixture[str]
) -> None:
    tally = Tally("notifier events (SQS batches, bodies, attributes, Slack/Jira answers)")

    @settings(FUZZ, max_examples=150)
    @given(events, faults, faults)
    def check(event: Any, slack_faults: list[Fault], jira_faults: list[Fault]) -> None:
        tally.generated += 1
        notifier.slack.faults.clear()
        notifier.jira.faults.clear()
        notifier.slack.fail_next(*slack_faults)
        notifier.jira.fail_next(*jira_faults)
        with tally.recording():
            result = notifier.module.handler(event, FakeContext())
        assert isinstance(result, dict) and isinstance(result["batchItemFailures"], list)
        records = event.get("Records") if isinstance(event, dict) else None
        ids = {r.get("messageId") for r in records if isinstance(r, dict)} if isinstance(records, list) else set()
        assert all(f["itemIdentifier"] in ids for f in result["batchItemFailures"])

    check()
    tally.finish(capsys, at_least=100)
