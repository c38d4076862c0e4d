"""Notifier Lambda: findings (SNS -> SQS) to Slack, Jira and pages; budget, retries and the dead-letter queue:
docs/notifications.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlgov_runtime.adapters.aws import context_for
from mlgov_runtime.adapters.findings_store import stored_status
from mlgov_runtime.adapters.http import HttpClient
from mlgov_runtime.adapters.notification_state import DynamoDeliveryState
from mlgov_runtime.adapters.notifier_secret import SecretError, load_notifier_secret
from mlgov_runtime.adapters.notifiers import (
    FOREIGN_ISSUE,
    JiraProject,
    MemoryIssueKeys,
    PageTopic,
    SlackWebhooks,
    Unavailable,
)
from mlgov_runtime.adapters.redrive import ORIGIN_ATTRIBUTE, park
from mlgov_runtime.core.entry import Entry, account_of
from mlgov_runtime.core.routing import Delivery, RoutingPolicy
from mlgov_runtime.notifier.logic import (
    MIN_DELIVERY_SECONDS,
    Channel,
    DeliveryReport,
    InvalidFinding,
    deliver_finding,
    validate_finding,
)
from mlgov_runtime.notifier.settings import settings as notifier_settings

SERVICE = "notifier"
entry = Entry(SERVICE)
logger = entry.logger
# Report every failed record, even when all failed: the others of a batch never resend.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
http = HttpClient(timeout=8.0, attempts=4)
# Kept back at the end of an invocation: the last state writes, the metrics and the response.
RESERVE_SECONDS = 10.0
NOTHING_TO_RESOLVE = "no open issue to resolve"  # JiraProject's answer to a RESOLVED finding it has no issue for


def redrive_step(dead_letter_queue_url: str, queue_url: str | None, record: SQSRecord) -> str:
    """The next step of a parked refusal, as a command to paste: this region, this function's queues."""
    region = str(record.get("awsRegion") or "")
    where = f" --region {region}" if region else ""
    if not queue_url:  # a function deployed before the stack passed NOTIFIER_QUEUE_URL: let AWS name it
        name = str(record.get("eventSourceARN") or "").rsplit(":", 1)[-1]
        queue_url = f"$(aws sqs get-queue-url{where} --queue-name {name} --query QueueUrl --output text)"
    return (
        "parked in the notifier dead-letter queue; fix what is named here, then "
        f"`mlgov notify redrive{where} --dlq-url {dead_letter_queue_url} --queue-url {queue_url}`"
    )


class DeliveryIncomplete(Exception):
    pass


def finding_from_body(body: Any) -> dict[str, Any]:
    """Raw SNS delivery carries the finding itself; otherwise it sits in the SNS envelope."""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("Type") == "Notification" and "Message" in data:
            data = json.loads(data["Message"])
    except (json.JSONDecodeError, TypeError, RecursionError, UnicodeDecodeError) as exc:
        raise InvalidFinding(f"message body is not JSON ({type(exc).__name__})") from None
    return validate_finding(data)


def time_left(context: LambdaContext) -> Callable[[], float]:
    """Seconds this invocation may still spend on deliveries."""
    return lambda: context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS


def _stored_status(table: str | None) -> Any:
    if not table:
        return None
    return lambda finding_id: stored_status(context_for(None).client("dynamodb"), table, finding_id)


def channels(client: HttpClient, own_account: str, state: DynamoDeliveryState | None = None) -> dict[str, Channel]:
    """The delivery channels; Security Hub imports into the account this function runs in (`own_account`)."""
    settings = notifier_settings.get()
    policy = settings.routing
    built: dict[str, Channel] = {}
    try:
        secret = load_notifier_secret(settings.secret_name)
    except SecretError as exc:
        # Slack and Jira need the secret; pages do not. Log once per batch, keep pages flowing.
        logger.error("Notifier secret unusable; Slack and Jira deliveries will be retried", extra={"reason": str(exc)})
        built["slack"] = built["jira"] = Unavailable(f"notifier secret unusable: {exc}")
    else:
        built["slack"] = SlackWebhooks(secret.slack_webhooks, client, settings.findings_table)
        if secret.has_jira:
            built["jira"] = JiraProject(
                str(secret.jira_base_url),
                str(secret.jira_user),
                str(secret.jira_token),
                policy.jira_project_key,
                client,
                issue_type=settings.jira_issue_type,
                resolve_transition_id=settings.jira_resolve_transition_id,
                findings_table=settings.findings_table,
                stored_status=_stored_status(settings.findings_table),
                issue_keys=state if state is not None else MemoryIssueKeys(),
            )
    if settings.page_topic_arn:
        built["page"] = PageTopic(lambda: context_for(None).client("sns"), settings.page_topic_arn)
    if policy.security_hub:
        from mlgov_runtime.adapters.securityhub import SecurityHub

        built["securityhub"] = SecurityHub(
            lambda: context_for(None).client("securityhub"),
            own_account,
            context_for(None).region,
            _stored_status(settings.findings_table),
            settings.findings_table,
        )
    return built


def printable(text: str) -> str:
    """As it can be written to a log line (a lone surrogate would make the line unwritable)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def string_attributes(record: SQSRecord) -> dict[str, str]:
    raw = record.raw_event.get("messageAttributes") or {}
    if not isinstance(raw, dict):
        return {}
    return {
        str(name): value["stringValue"]
        for name, value in raw.items()
        if isinstance(value, dict) and isinstance(value.get("stringValue"), str)
    }


def _report_rejections(finding_id: str, report: DeliveryReport, next_step: str) -> None:
    for key in report.rejected:
        error = report.errors[key]
        channel, _, target = key.partition(":")
        logger.error(
            f"{channel} refused finding {finding_id}: status {error.status or '-'}, "
            f"objection: {error.objection or error}; {next_step}",
            extra={
                "finding_id": finding_id,
                "channel": channel,
                "target": target,
                "status": error.status,
                "objection": error.objection,
            },
        )


def targets(finding: dict[str, Any], policy: RoutingPolicy, state: DynamoDeliveryState) -> list[Delivery]:
    """The routes now; a RESOLVED also to the Jira project its OPEN went to (a deploy may have taken Jira off)."""
    out, jira = policy.deliveries(finding), Delivery("jira", policy.jira_project_key)
    if finding.get("status") != "RESOLVED" or jira in out:
        return out
    try:
        last = state.last_sent(finding["finding_id"], jira)
    except Exception as exc:  # said, never silent
        entry.count("JiraResolutionUnrouted")
        logger.warning(f"Jira: sent state of {finding['finding_id']} unread ({exc}); an issue may stay open")
        return out
    return [*out, jira] if last and last.status == "OPEN" else out


def make_record_handler(
    available: dict[str, Channel], state: DynamoDeliveryState, remaining: Callable[[], float], sqs: Callable[[], Any]
) -> Callable[[SQSRecord], dict[str, str]]:
    settings = notifier_settings.get()
    policy = settings.routing
    failing: dict[str, str] = {}  # targets that failed retryably in this batch

    def park_or_retry(record: SQSRecord, origin: str, reason: str) -> None:
        if not settings.dead_letter_queue_url:
            raise DeliveryIncomplete(f"{reason} (no dead-letter queue configured to park it: retried instead)")
        park(sqs(), settings.dead_letter_queue_url, record.body, origin, reason, string_attributes(record))
        entry.count("NotificationParked")

    def record_handler(record: SQSRecord) -> dict[str, str]:
        origin = string_attributes(record).get(ORIGIN_ATTRIBUTE) or record.message_id
        if remaining() < MIN_DELIVERY_SECONDS:
            entry.count("NotificationDeliveryFailed")
            raise DeliveryIncomplete("not started: out of time in this invocation, left for a later one")
        try:
            finding = finding_from_body(record.body)
        except InvalidFinding as exc:
            entry.count("NotificationRejected")
            shown = printable(origin)
            logger.error(f"Message {shown} is not a finding: {exc}; parked", extra={"message_id": shown})
            park_or_retry(record, origin, f"not a finding: {exc}")
            return {"message": f"parked: {exc}"}
        report = deliver_finding(
            finding,
            targets(finding, policy, state),
            available,
            state,
            policy,
            origin,
            datetime.now(UTC),
            remaining=remaining,
            failing=failing,
            stored_status=_stored_status(settings.findings_table),
        )
        logger.info("Finding delivered", extra={"finding_id": finding["finding_id"], "outcomes": report.outcomes})
        entry.count("NotificationsSent", report.sent)
        nothing = [k for k, v in report.outcomes.items() if k.startswith("jira:") and v.endswith(NOTHING_TO_RESOLVE)]
        if nothing:
            # A resolution of what Jira never had an issue for (rolled up, or below the Jira route): none is made.
            entry.count("JiraNothingToResolve", len(nothing))
            logger.info(
                f"Jira: {NOTHING_TO_RESOLVE} for finding {finding['finding_id']}; none created",
                extra={"finding_id": finding["finding_id"]},
            )
        foreign = {k: v for k, v in report.outcomes.items() if k.startswith("jira:") and FOREIGN_ISSUE in v}
        if foreign:
            # The delivery state named an issue without this finding's label: a forged record, or a label removed
            # in Jira. That issue was left alone; the finding's own was found by its label (or created).
            entry.count("JiraIssueRecordMismatch", len(foreign))
            logger.warning(
                f"Jira: the recorded issue for finding {finding['finding_id']} {FOREIGN_ISSUE}; left untouched",
                extra={"finding_id": finding["finding_id"], "outcomes": foreign},
            )
        if report.rejected:
            entry.count("NotificationRejected", len(report.rejected))
            dlq = settings.dead_letter_queue_url
            step = redrive_step(dlq, settings.queue_url, record) if dlq and not report.failed else None
            _report_rejections(finding["finding_id"], report, step or "retried with the record")
        if report.failed:
            # Retried as a whole; the targets it reached are skipped then, refused ones are tried again.
            entry.count("NotificationDeliveryFailed", len(report.failed))
            raise DeliveryIncomplete(
                f"{finding['finding_id']}: " + "; ".join(f"{k} {report.outcomes[k]}" for k in report.failed)
            )
        if report.rejected:
            park_or_retry(record, origin, "; ".join(f"{k} {report.outcomes[k]}" for k in report.rejected))
        return report.outcomes

    return record_handler


def is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and isinstance(r.get("messageId"), str) and r["messageId"] for r in records)
    )


@entry.handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    if not is_sqs_batch(event):
        # Only the SQS event source invokes this function; anything else carries nothing to retry.
        logger.error("Not an SQS batch: nothing delivered", extra={"event_type": type(event).__name__})
        return {"batchItemFailures": []}
    remaining = time_left(context)
    aws = context_for(None)
    state = DynamoDeliveryState(aws.client("dynamodb"), notifier_settings.get().state_table)
    record_handler = make_record_handler(
        channels(http.within(remaining), account_of(context), state), state, remaining, lambda: aws.client("sqs")
    )
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
