"""The `make demo` notifier scene end to end on a moto server: a Slack outage is retried and delivered
later, a Jira 400 is reported at once, parked and redriven after the fix, and nothing is lost."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import boto3
import pytest

from mlgov.cli import sample_finding
from mlgov.sandbox import REGION, MotoServer, moto_server
from mlgov.scenes.notifier import show_notifications


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    from aws_lambda_powertools.utilities import parameters

    from mlgov_runtime.adapters import aws
    from mlgov_runtime.core import env

    with moto_server() as running:
        for key, value in {
            "AWS_ENDPOINT_URL": running.url,
            "POWERTOOLS_LOG_LEVEL": "CRITICAL",
            "POWERTOOLS_TRACE_DISABLED": "1",
            # Set by the scene; listed here so they are put back afterwards.
            "NOTIFIER_SECRET_NAME": "",
            "STATE_TABLE_NAME": "",
            "DEAD_LETTER_QUEUE_URL": "",
            "NOTIFIER_QUEUE_URL": "",
            "MLGOV_NOTIFIER_SETTINGS": "",
            "FINDINGS_TABLE_NAME": "",
        }.items():
            monkeypatch.setenv(key, value)
        aws.context_for.cache_clear()
        parameters.clear_caches()  # an earlier test's notifier secret must not answer for this one
        env.reset_all()
        yield running
        aws.context_for.cache_clear()
        env.reset_all()


def test_the_demo_shows_an_outage_retried_and_a_refusal_parked_and_nothing_lost(server: MotoServer) -> None:
    session = boto3.session.Session(aws_access_key_id="sandbox", aws_secret_access_key="sandbox", region_name=REGION)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        show_notifications(session, server.url, [sample_finding()])
    text = out.getvalue()
    hub = text[text.index("== Security Hub") :]
    assert "open, then resolved: 1 Security Hub record(s)" in hub
    assert "RecordState ARCHIVED, Workflow RESOLVED" in hub
    assert "Remediation: Next: `mlgov audit --region us-east-1` | https://us-east-1.console.aws.amazon.com/" in hub
    outage = text[text.index("== Slack outage") : text.index("== Jira 400")]
    assert "Jira issues +3, Slack messages +0; 3 records returned as batch item failures" in outage
    assert "Slack messages +3, Jira issues still +3 (already delivered, not sent twice), failed records: 0" in outage
    assert "&lt;!channel&gt; R&amp;D" in outage
    refusal = text[text.index("== Jira 400") :]
    assert "failed records 0 (not retried" in refusal and "NotificationRejected=1" in refusal
    assert "answered 400: The value 'MLGOVX' does not exist for the field 'project'" in refusal
    assert "moved 1 message(s)" in refusal and "Slack messages +1 (it had Slack already)" in refusal
    # The command shown is the one that ran, with the sandbox's real queue URLs: nothing to fill in.
    [shown] = [line.strip() for line in refusal.splitlines() if line.strip().startswith("$ mlgov notify redrive")]
    queues = f"{server.url}/123456789012/mlgov-notifier"
    assert f"--dlq-url {queues}-dlq --queue-url {queues} --allow-sender " in shown and "<" not in shown
    assert "4 of 4 findings from the outage and the refusal reached Jira once and Slack once" in text
    assert "notifier queue 0 waiting, dead-letter queue 0 waiting" in text
