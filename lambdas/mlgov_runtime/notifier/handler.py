"""Notifier Lambda: findings from the governance channel (SNS -> SQS) to Slack, Jira and pages.

Partial batch responses: a record whose delivery failed on any channel is retried alone; the
channels it already reached are skipped on the retry. After the queue's last retry the message
lands in the dead-letter queue (alarmed; `mlgov notify redrive` moves it back).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlgov_runtime.adapters.aws import context_for
from mlgov_runtime.adapters.http import HttpClient
from mlgov_runtime.adapters.notification_state import DynamoDeliveryState
from mlgov_runtime.adapters.notifier_secret import SecretError, load_notifier_secret
from mlgov_runtime.adapters.notifiers import JiraProject, PageTopic, SlackWebhooks
from mlgov_runtime.core.env import Lazy
from mlgov_runtime.core.routing import RoutingPolicy, routing_from_json
from mlgov_runtime.notifier.logic import Channel, InvalidFinding, deliver_finding, validate_finding
from mlgov_runtime.notifier.settings import settings as notifier_settings

SERVICE = "notifier"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace="MLGovernance", service=SERVICE)
routing = Lazy(lambda env: routing_from_json(notifier_settings.get().routing_json))
# Report every failed record, even when all failed: the others of a batch never resend.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
http = HttpClient(timeout=8.0, attempts=4)


class DeliveryIncomplete(Exception):
    pass


def finding_from_body(body: str) -> dict[str, Any]:
    """Raw SNS delivery carries the finding itself; otherwise it sits in the SNS envelope."""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("Type") == "Notification" and "Message" in data:
            data = json.loads(data["Message"])
    except (json.JSONDecodeError, TypeError) as exc:
        raise InvalidFinding(f"message body is not JSON ({exc})") from None
    return validate_finding(data)


def channels() -> dict[str, Channel]:
    settings, policy = notifier_settings.get(), routing.get()
    built: dict[str, Channel] = {}
    try:
        secret = load_notifier_secret(settings.secret_name)
    except SecretError as exc:
        # Slack and Jira need the secret; pages do not. Log once per batch, keep pages flowing.
        logger.error("Notifier secret unusable; Slack and Jira deliveries will be retried", extra={"reason": str(exc)})
    else:
        built["slack"] = SlackWebhooks(secret.slack_webhooks, http)
        if secret.has_jira:
            built["jira"] = JiraProject(
                str(secret.jira_base_url),
                str(secret.jira_user),
                str(secret.jira_token),
                policy.jira_project_key,
                http,
                issue_type=settings.jira_issue_type,
                resolve_transition_id=settings.jira_resolve_transition_id,
            )
    if settings.page_topic_arn:
        built["page"] = PageTopic(lambda: context_for(None).client("sns"), settings.page_topic_arn)
    return built


def make_record_handler(available: dict[str, Channel], state: DynamoDeliveryState) -> Any:
    policy: RoutingPolicy = routing.get()

    def record_handler(record: SQSRecord) -> dict[str, str]:
        finding = finding_from_body(record.body)
        report = deliver_finding(
            finding,
            policy.deliveries(finding),
            available,
            state,
            policy,
            record.message_id,
            datetime.now(UTC),
        )
        logger.info("Finding delivered", extra={"finding_id": finding["finding_id"], "outcomes": report.outcomes})
        sent = sum(1 for outcome in report.outcomes.values() if outcome.startswith("ok"))
        metrics.add_metric(name="NotificationsSent", unit=MetricUnit.Count, value=sent)
        if report.failed:
            metrics.add_metric(name="NotificationDeliveryFailed", unit=MetricUnit.Count, value=len(report.failed))
            raise DeliveryIncomplete(
                f"{finding['finding_id']}: " + "; ".join(f"{k} {report.outcomes[k]}" for k in report.failed)
            )
        return report.outcomes

    return record_handler


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    state = DynamoDeliveryState(context_for(None).client("dynamodb"), notifier_settings.get().state_table)
    return process_partial_response(
        event=event, record_handler=make_record_handler(channels(), state), processor=processor, context=context
    )
