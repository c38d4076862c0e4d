"""Endpoint lineage audit: EventBridge rules -> audit Lambda -> findings channel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from mlgov_runtime.core import env
from mlgov_runtime.lineage_audit.events import AUDITED_CALLS, PACKAGE_CHANGE
from mlgov_runtime.lineage_audit.pins import APPROVED_PREFIX
from mlgov_runtime.lineage_audit.settings import CHALLENGER_MACHINE_ARN
from mlgov_runtime.org_scan import forwarding
from stacks import constants as c
from stacks.building_blocks import TABLE_WRITES, deny_everyone, encrypted_queue, encrypted_table, keep_table_controls
from stacks.capability import CapabilityConstruct, successful_calls
from stacks.challenger import executions_of, machine_arn
from stacks.permissions import lineage_audit as permissions
from stacks.permissions.core import IDEMPOTENCY


def cloudtrail_pattern() -> events.EventPattern:
    """Successful CreateEndpoint/UpdateEndpoint calls only: a failed call deployed nothing."""
    return successful_calls("sagemaker", AUDITED_CALLS)


def package_change_pattern() -> events.EventPattern:
    """Any approval change: a package Rejected after deployment must re-audit what it serves."""
    return events.EventPattern(source=["aws.sagemaker"], detail_type=[PACKAGE_CHANGE])


def state_change_pattern() -> events.EventPattern:
    return events.EventPattern(
        source=["aws.sagemaker"],
        detail_type=[c.STATE_CHANGE_DETAIL_TYPE],
        detail={"EndpointStatus": ["IN_SERVICE"]},
    )


def pin_read_statements(partition: str) -> list[iam.PolicyStatement]:
    """Reading pins with the governance account's own role (never the member role): HeadObject of approved
    artifacts under the write-once prefix of any bucket, and image tags' current digests."""
    return [
        iam.PolicyStatement(
            sid="HeadPinnedArtifacts",
            actions=["s3:GetObject"],
            resources=[f"arn:{partition}:s3:::*/{APPROVED_PREFIX}/*"],
        ),
        iam.PolicyStatement(
            sid="ResolveImageTags",
            actions=["ecr:DescribeImages", "ecr:BatchGetImage"],
            resources=[f"arn:{partition}:ecr:*:*:repository/*"],
        ),
    ]


class LineageAudit(CapabilityConstruct):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        settings, channel = self.settings, self.channel
        self.idempotency_table = encrypted_table(
            self, "IdempotencyTable", channel.key, "id", ttl_attribute="expiration", retain=False
        )
        # Which endpoints (account, region) serve which package: a package state change re-audits them.
        self.serving_index = dynamodb.Table(
            self,
            "ServingIndex",
            partition_key=dynamodb.Attribute(name="model_package_arn", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="endpoint_key", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expires_at",
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=channel.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.DESTROY,  # rebuilt by the next weekly scan
        )
        CfnOutput(
            self,
            "ServingIndexTableName",
            value=self.serving_index.table_name,
            description="`mlgov audit|scan --serving-index-table` compare endpoints with its deployment records",
        )
        self.audit = self.governed_function(
            "Audit",
            description="Audits SageMaker endpoint lineage against the Model Registry",
            environment=self._environment(),
            statements=self._statements(),
            timeout=Duration.minutes(5),
            # Named: the member role in other accounts trusts it (stacks/member_role_stack.py).
            role_name=f"{c.AUDIT_ROLE_PREFIX}-{Stack.of(self).region}",
            role_path=settings.guardrails.protected_role_path,
        )
        self.function, self.role, self.policy = self.audit.function, self.audit.role, self.audit.policy
        channel.grant_publish(self.audit)
        self.dlq = encrypted_queue(self, "AuditDeadLetterQueue", channel.key)
        self.dead_letter_queues.append(self.dlq)
        self.rules = self._build_rules()
        self.alarms = self._build_alarms()

    def seal_index(self, writers: Sequence[str]) -> None:
        """Whatever their IAM policies allow: only this audit's role and `writers` (the org scan's worker, which
        keeps the index too) write the index's items, the deployment records among them (a forged one hides a
        configuration re-created under an endpoint); only the deployer changes the table's policy, TTL or
        existence."""
        self.serving_index.add_to_resource_policy(
            deny_everyone(
                "OnlyTheAuditAndScanWrite",
                TABLE_WRITES,
                ["*"],  # in a table's own policy: this table
                {"ArnNotEquals": {"aws:PrincipalArn": [self.role.role_arn, *writers]}},
            )
        )
        keep_table_controls(self.serving_index, self.settings.guardrails.deployer_role_arns)

    def _statements(self) -> list[iam.PolicyStatement]:
        stack = Stack.of(self)
        pin_reads = pin_read_statements(stack.partition)
        sm = f"arn:{stack.partition}:sagemaker:*:{stack.account}"
        return [
            iam.PolicyStatement(
                sid="ReadEndpointLineage",
                actions=[a for a in permissions.LINEAGE_READ if a not in permissions.UNSCOPED_LISTS],
                resources=[
                    f"{sm}:endpoint/*",
                    f"{sm}:endpoint-config/*",
                    f"{sm}:model/*",
                    f"{sm}:model-package/*",
                    f"{sm}:inference-component/*",
                ],
            ),
            # ListEndpoints has no resource-level permissions.
            iam.PolicyStatement(sid="ListEndpoints", actions=list(permissions.UNSCOPED_LISTS), resources=["*"]),
            iam.PolicyStatement(
                sid="FindVanishedEndpoints",
                actions=list(permissions.FINDINGS_SCAN),
                resources=[self.channel.table.table_arn],
            ),
            iam.PolicyStatement(
                sid="IdempotencyRecords",
                actions=list(IDEMPOTENCY),
                resources=[self.idempotency_table.table_arn],
            ),
            iam.PolicyStatement(
                sid="ServingIndex",
                actions=list(permissions.SERVING_INDEX),
                resources=[self.serving_index.table_arn],
            ),
            *pin_reads,
            # Is the challenger-shaped variant a RUNNING experiment's? The challenger machine and its executions only.
            iam.PolicyStatement(
                sid="ListChallengerRuns",
                actions=["states:ListExecutions"],
                resources=[machine_arn(stack)],
            ),
            iam.PolicyStatement(
                sid="ReadChallengerRuns",
                actions=["states:DescribeExecution"],
                resources=[executions_of(stack, machine_arn(stack))],
            ),
            *self.other_account_statements(permissions.ORGANIZATION_READ),
        ]

    def _environment(self) -> dict[str, str]:
        return {
            **self.received_environment(),
            env.IDEMPOTENCY_TABLE_NAME: self.idempotency_table.table_name,
            "POWERTOOLS_SERVICE_NAME": c.AUDIT_SERVICE,
            "SERVING_INDEX_TABLE_NAME": self.serving_index.table_name,
            CHALLENGER_MACHINE_ARN: machine_arn(Stack.of(self)),
        }

    def _build_rules(self) -> list[events.Rule]:
        target = targets.LambdaFunction(
            self.function,
            dead_letter_queue=self.dlq,
            retry_attempts=8,
            max_event_age=Duration.hours(6),
        )
        rules = self.event_rules(
            [
                (
                    "EndpointApiCalls",
                    "Successful calls that change what an endpoint serves",
                    cloudtrail_pattern(),
                    target,
                ),
                ("EndpointInService", "SageMaker endpoints reaching InService", state_change_pattern(), target),
                (
                    "PackageApprovalChanges",
                    "Model package approval changes: re-audit the endpoints that serve them",
                    package_change_pattern(),
                    target,
                ),
                (
                    "WeeklyScan",
                    "Weekly audit of every endpoint in this account/region",
                    events.Schedule.expression(self.settings.weekly_scan_schedule),
                    target,
                ),
            ]
        )
        if self.settings.organization_id:
            events.CfnEventBusPolicy(
                self,
                "OrgMembersMayForward",
                statement_id="mlgov-org-forwarding",
                statement={
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "events:PutEvents",
                    "Resource": f"arn:{Stack.of(self).partition}:events:{Stack.of(self).region}:"
                    f"{Stack.of(self).account}:event-bus/default",
                    # Members forward only AWS's own events (the forwarding rule's sources): an mlgov.* event
                    # from another account would otherwise reach the challenger rule.
                    "Condition": {
                        "StringEquals": {
                            "aws:PrincipalOrgID": self.settings.organization_id,
                            "events:source": list(forwarding.SOURCES),
                        }
                    },
                },
            )
        return rules

    def _build_alarms(self) -> list[cloudwatch.Alarm]:
        return [
            self.count_alarm(
                "UnregisteredEndpointAlarm",
                "An endpoint serves a model that is not an approved Model Registry version",
                c.UNREGISTERED_METRIC,
                c.AUDIT_SERVICE,
            ),
            self.dead_letter_alarm(
                "AuditDeadLetterAlarm",
                "Endpoint events could not be audited after all retries; redrive the DLQ",
                self.dlq,
            ),
            self.errors_alarm("AuditErrorsAlarm", "The audit Lambda failed; events are being retried", self.function),
            # Not AuditEventRejected: it also counts failed calls (an SCP's AccessDenied), which are routine.
            self.count_alarm(
                "AuditEventSkippedAlarm",
                "Forwarded endpoint events of another account were not audited (no member audit role to assume): "
                "set member_audit_role_name to the member StackSet's role and redeploy",
                c.AUDIT_SKIPPED_METRIC,
                c.AUDIT_SERVICE,
            ),
        ]
