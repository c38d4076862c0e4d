"""Notifier: findings channel -> SQS (partial batches, DLQ) -> Lambda -> Slack, Jira, pages."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from mlgov_runtime.core import env as function_env
from mlgov_runtime.notifier.settings import NOTIFIER_QUEUE_URL
from stacks.building_blocks import (
    TABLE_WRITES,
    deny_everyone,
    encrypted_queue,
    encrypted_table,
    keep_secret,
    keep_table_controls,
)
from stacks.capability import CapabilityConstruct
from stacks.permissions import notifier as permissions

SECRET_TEMPLATE = '{"slack_webhooks": {}, "jira": {}}'


class Notifier(CapabilityConstruct):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        settings, channel = self.settings, self.channel
        key = channel.key
        self.secret = secretsmanager.Secret(
            self,
            "NotifierSecret",
            description="mlgov notifier: Slack webhooks per channel and Jira credentials (JSON; see README)",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=SECRET_TEMPLATE, generate_string_key="placeholder"
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.page_topic = sns.Topic(
            self, "PageTopic", display_name="ML governance on-call pages", master_key=key, enforce_ssl=True
        )
        # Kept (deletion protection, retained on destroy): it holds the Jira issue key of each open finding.
        self.state_table = encrypted_table(self, "DeliveryState", key, "pk", ttl_attribute="expiration")
        timeout = Duration.minutes(2)  # the queue keeps messages invisible for 6x this
        self.dlq = encrypted_queue(self, "NotifierDeadLetterQueue", key)
        self.dead_letter_queues.append(self.dlq)
        self.nag_suppressions.append((self.secret, ["AwsSolutions-SMG4"]))
        self.queue = encrypted_queue(
            self,
            "NotifierQueue",
            key,
            dead_letter=self.dlq,
            max_receive_count=5,
            visibility_timeout=Duration.minutes(12),
        )
        # Not SqsSubscription: it grants SNS the key for any topic. The channel's key policy lets SNS use it
        # only for this account's topics (aws:SourceAccount/aws:SourceArn), and the queue takes this topic only.
        sns.Subscription(
            self,
            "FindingsToQueue",
            topic=channel.topic,
            endpoint=self.queue.queue_arn,
            protocol=sns.SubscriptionProtocol.SQS,
            raw_message_delivery=True,
        )
        self.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="FindingsTopicSends",
                principals=[iam.ServicePrincipal("sns.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.queue.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": channel.topic.topic_arn}},
            )
        )
        # Only the findings topic (and the operators' redrive) may send: identity policies cannot widen this.
        self.queue.add_to_resource_policy(
            deny_everyone(
                "OnlyTheFindingsTopicSends",
                ["sqs:SendMessage"],
                [self.queue.queue_arn],
                {
                    "ArnNotEquals": {"aws:SourceArn": channel.topic.topic_arn},
                    "ArnNotLike": {"aws:PrincipalArn": list(settings.alert_routing.redrive_role_arns)},
                },
            )
        )
        environment = {
            **self.received_environment(),
            "NOTIFIER_SECRET_NAME": self.secret.secret_name,
            "STATE_TABLE_NAME": self.state_table.table_name,
            "PAGE_TOPIC_ARN": self.page_topic.topic_arn,
            "DEAD_LETTER_QUEUE_URL": self.dlq.queue_url,
            NOTIFIER_QUEUE_URL: self.queue.queue_url,
            function_env.FINDINGS_TABLE_NAME: channel.table.table_name,
            "POWERTOOLS_SERVICE_NAME": "notifier",
        }
        self.notifier = self.governed_function(
            "Notify",
            description="Delivers governance findings to Slack, Jira and on-call pages",
            environment=environment,
            statements=[
                iam.PolicyStatement(
                    sid="ReadNotifierSecret",
                    actions=list(permissions.SECRET_READ),
                    resources=[self.secret.secret_arn],
                ),
                iam.PolicyStatement(
                    sid="DeliveryState",
                    actions=list(permissions.STATE),
                    resources=[self.state_table.table_arn],
                ),
                iam.PolicyStatement(
                    sid="PageOnCall", actions=list(permissions.PAGE), resources=[self.page_topic.topic_arn]
                ),
                iam.PolicyStatement(
                    sid="ParkRefusedFindings", actions=list(permissions.PARK), resources=[self.dlq.queue_arn]
                ),
                iam.PolicyStatement(
                    sid="CheckStoredFinding",
                    actions=list(permissions.FINDINGS_READ),
                    resources=[channel.table.table_arn],
                ),
                *(self._security_hub_statements() if settings.alert_routing.security_hub else []),
                iam.PolicyStatement(
                    sid="UseGovernanceKey", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn]
                ),
            ],
            timeout=timeout,
            memory_size=256,
        )
        # The SQS event source grants the queue's consume actions on the role itself.
        self.function, self.policy, self.role = self.notifier.function, self.notifier.policy, self.notifier.role
        self._keep_to_the_notifier()
        # Only the notifier parks findings in its dead-letter queue (`mlgov notify redrive` checks the sender too).
        self.dead_letter_senders[self.dlq.node.path] = [self.role.role_arn]
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue, batch_size=10, max_batching_window=Duration.seconds(5), report_batch_item_failures=True
            )
        )
        # Tokens resolve inside an alarm description: the on-call engineer pastes the command as it stands.
        redrive = (
            f"`mlgov notify redrive --region {Aws.REGION} --dlq-url {self.dlq.queue_url} "
            f"--queue-url {self.queue.queue_url}`"
        )
        self.alarms: list[cloudwatch.Alarm] = [
            self.dead_letter_alarm(
                "NotifierDeadLetterAlarm",
                "Findings wait in the notifier dead-letter queue: refused by Slack/Jira (parked at once; the "
                "notifier's log names the channel, status and field) or undelivered after all retries. Fix the "
                f"cause, then {redrive}",
                self.dlq,
            ),
            self.count_alarm(
                "DeliveryFailuresAlarm",
                "Slack, Jira or page deliveries are failing and being retried",
                "NotificationDeliveryFailed",
                "notifier",
            ),
            self.count_alarm(
                "DeliveryRejectedAlarm",
                "Slack or Jira refused a finding for good (4xx: wrong project key, unknown webhook, invalid field) "
                "or a message was not a finding; it is parked in the notifier dead-letter queue. The notifier's "
                f"log line names the channel, status and field; fix it, then {redrive}",
                "NotificationRejected",
                "notifier",
            ),
            self.errors_alarm(
                "NotifierErrorsAlarm",
                "The notifier function itself failed (a crash or a timeout): its whole batch returns to the queue",
                self.function,
            ),
            self.count_alarm(
                "JiraIssueRecordMismatchAlarm",
                "The delivery state named a Jira issue without the finding's label (a forged record, or the label "
                "removed in Jira); that issue was left alone. The notifier's log names the finding and the issue",
                "JiraIssueRecordMismatch",
                "notifier",
            ),
            self.count_alarm(
                "JiraResolutionUnroutedAlarm",
                "A resolved finding that no route sends to Jira could not check whether its opening went to Jira (the "
                "delivery state unread), so its issue may stay open. The notifier's log names the finding: search Jira "
                "for the label mlgov-<finding_id> and close the issue by hand, and check the DeliveryState table",
                "JiraResolutionUnrouted",
                "notifier",
            ),
        ]

    def _keep_to_the_notifier(self) -> None:
        """Whatever their IAM policies allow: only the notifier reads its webhooks and Jira token (whoever reads
        them posts as the product), only the notifier writes its delivery state (a forged "sent" or "delivered"
        record makes it skip a finding's next delivery as already made) and only the deployer takes that seal off,
        and only the notifier and the operators' CLI (`mlgov notify send --channel page`) page on-call."""
        guardrails = self.settings.guardrails
        keep_secret(
            self.secret,
            readers=[self.role.role_arn],
            deployers=guardrails.deployer_role_arns,
            value_writers=guardrails.operator_role_arns,
        )
        self.state_table.add_to_resource_policy(
            deny_everyone(
                "OnlyTheNotifierWrites",
                TABLE_WRITES,
                ["*"],  # in a table's own policy: this table
                {"ArnNotEquals": {"aws:PrincipalArn": [self.role.role_arn]}},
            )
        )
        keep_table_controls(self.state_table, guardrails.deployer_role_arns)
        operators = list(guardrails.operator_role_arns)
        self.page_topic.add_to_resource_policy(
            deny_everyone(
                "OnlyTheNotifierPages",
                ["sns:Publish"],
                [self.page_topic.topic_arn],
                {
                    "ArnNotEquals": {"aws:PrincipalArn": [self.role.role_arn]},
                    **({"ArnNotLike": {"aws:PrincipalArn": operators}} if operators else {}),
                },
            )
        )

    @staticmethod
    def _security_hub_statements() -> list[iam.PolicyStatement]:
        """Import only this account's findings under its default product, and only ever set a workflow to
        RESOLVED (never SUPPRESSED, which would hide a finding from the security team)."""
        where = f"arn:{Aws.PARTITION}:securityhub:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        return [
            iam.PolicyStatement(
                sid="ImportToSecurityHub",
                actions=["securityhub:BatchImportFindings"],
                resources=[f"{where}:product/{Aws.ACCOUNT_ID}/default"],
                conditions={"StringEquals": {"securityhub:TargetAccount": Aws.ACCOUNT_ID}},
            ),
            iam.PolicyStatement(
                sid="ResolveInSecurityHub",
                actions=["securityhub:BatchUpdateFindings"],
                resources=[f"{where}:hub/default"],
                conditions={"StringEquals": {"securityhub:ASFFSyntaxPath/Workflow.Status": "RESOLVED"}},
            ),
        ]
