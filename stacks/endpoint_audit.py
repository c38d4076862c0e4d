"""Real-time endpoint registry audit: EventBridge rules -> audit Lambda -> findings channel."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from adapters import permissions
from stacks import constants as c
from stacks.findings_channel import FindingsChannel
from stacks.settings import Settings

RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def cloudtrail_pattern() -> events.EventPattern:
    """Successful CreateEndpoint/UpdateEndpoint calls only: a failed call deployed nothing."""
    return events.EventPattern(
        source=["aws.sagemaker"],
        detail_type=[c.CLOUDTRAIL_DETAIL_TYPE],
        detail={
            "eventSource": ["sagemaker.amazonaws.com"],
            "eventName": c.AUDITED_CALLS,
            "errorCode": [{"exists": False}],
        },
    )


def state_change_pattern() -> events.EventPattern:
    return events.EventPattern(
        source=["aws.sagemaker"],
        detail_type=[c.STATE_CHANGE_DETAIL_TYPE],
        detail={"EndpointStatus": ["IN_SERVICE"]},
    )


class EndpointAudit(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, channel: FindingsChannel) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.channel = channel
        self.idempotency_table = self._build_idempotency_table()
        self.log_group = logs.LogGroup(
            self,
            "AuditLogs",
            retention=RETENTION[settings.log_retention_days],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.role = self._build_role()
        self.function = self._build_function()
        self.dlq = sqs.Queue(
            self,
            "AuditDeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=channel.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.rules = self._build_rules()
        self.alarms = self._build_alarms()

    def _build_idempotency_table(self) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            "IdempotencyTable",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expiration",
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.channel.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _build_role(self) -> iam.Role:
        stack = Stack.of(self)
        account = stack.account
        role = iam.Role(
            self,
            "AuditRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Endpoint registry audit: read-only SageMaker, writes findings",
        )
        sm = f"arn:{stack.partition}:sagemaker:*:{account}"
        statements = [
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn, f"{self.log_group.log_group_arn}:*"],
            ),
            iam.PolicyStatement(
                sid="ReadEndpointLineage",
                actions=[a for a in permissions.ENDPOINT_AUDIT_READ if a != "sagemaker:ListEndpoints"],
                resources=[
                    f"{sm}:endpoint/*",
                    f"{sm}:endpoint-config/*",
                    f"{sm}:model/*",
                    f"{sm}:model-package/*",
                ],
            ),
            # ListEndpoints has no resource-level permissions.
            iam.PolicyStatement(sid="ListEndpoints", actions=["sagemaker:ListEndpoints"], resources=["*"]),
            iam.PolicyStatement(
                sid="StoreFindings",
                actions=list(permissions.FINDINGS_WRITE),
                resources=[self.channel.table.table_arn],
            ),
            iam.PolicyStatement(
                sid="PublishFindings",
                actions=list(permissions.FINDINGS_PUBLISH),
                resources=[self.channel.topic.topic_arn],
            ),
            iam.PolicyStatement(
                sid="IdempotencyRecords",
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[self.idempotency_table.table_arn],
            ),
            iam.PolicyStatement(
                sid="UseGovernanceKey",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[self.channel.key.key_arn],
            ),
        ]
        if self.settings.experiment_exemptions.organizational_unit_ids:
            # ListParents has no resource-level permissions for accounts.
            statements.append(
                iam.PolicyStatement(
                    sid="ResolveAccountOus", actions=list(permissions.ORGANIZATION_READ), resources=["*"]
                )
            )
        if self.settings.member_audit_role_name:
            statements.append(
                iam.PolicyStatement(
                    sid="AssumeMemberAuditRole",
                    actions=["sts:AssumeRole"],
                    resources=[f"arn:{stack.partition}:iam::*:role/{self.settings.member_audit_role_name}"],
                )
            )
        self.policy = iam.Policy(self, "AuditPolicy", statements=statements)
        self.policy.attach_to_role(role)
        return role

    def _build_function(self) -> lambda_.Function:
        ex = self.settings.experiment_exemptions
        layer_arn = ssm.StringParameter.value_for_string_parameter(self, c.POWERTOOLS_LAYER_PARAMETER)
        environment = {
            "FINDINGS_TABLE_NAME": self.channel.table.table_name,
            "FINDINGS_TOPIC_ARN": self.channel.topic.topic_arn,
            "IDEMPOTENCY_TABLE_NAME": self.idempotency_table.table_name,
            "IDEMPOTENCY_TTL_SECONDS": str(self.settings.idempotency_ttl_seconds),
            "EXEMPT_ENDPOINT_PREFIX": ex.endpoint_name_prefix,
            "EXEMPT_ACCOUNT_IDS": ",".join(ex.account_ids),
            "EXEMPT_OU_IDS": ",".join(ex.organizational_unit_ids),
            "POWERTOOLS_METRICS_NAMESPACE": c.METRIC_NAMESPACE,
            "POWERTOOLS_SERVICE_NAME": c.AUDIT_SERVICE,
        }
        if self.settings.member_audit_role_name:
            environment["MEMBER_AUDIT_ROLE_NAME"] = self.settings.member_audit_role_name
        return lambda_.Function(
            self,
            "AuditFunction",
            description="Audits SageMaker endpoint lineage against the Model Registry",
            runtime=lambda_.Runtime(c.LAMBDA_PYTHON, lambda_.RuntimeFamily.PYTHON),
            architecture=lambda_.Architecture.ARM_64,
            handler=c.AUDIT_HANDLER,
            code=lambda_.Code.from_asset(c.LAMBDA_ASSET_DIR, exclude=["**/__pycache__", "**/*.pyc", "*.egg-info"]),
            layers=[lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", layer_arn)],
            role=self.role,
            memory_size=512,
            timeout=Duration.minutes(5),
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=self.log_group,
            environment=environment,
        )

    def _build_rules(self) -> list[events.Rule]:
        target = targets.LambdaFunction(
            self.function,
            dead_letter_queue=self.dlq,
            retry_attempts=8,
            max_event_age=Duration.hours(6),
        )
        rules = [
            events.Rule(
                self,
                "EndpointApiCalls",
                description="Successful CreateEndpoint/UpdateEndpoint calls",
                event_pattern=cloudtrail_pattern(),
                targets=[target],
            ),
            events.Rule(
                self,
                "EndpointInService",
                description="SageMaker endpoints reaching InService",
                event_pattern=state_change_pattern(),
                targets=[target],
            ),
            events.Rule(
                self,
                "WeeklyScan",
                description="Weekly audit of every endpoint in this account/region",
                schedule=events.Schedule.expression(self.settings.weekly_scan_schedule),
                targets=[target],
            ),
        ]
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
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": self.settings.organization_id}},
                },
            )
        return rules

    def _build_alarms(self) -> list[cloudwatch.Alarm]:
        action = cw_actions.SnsAction(self.channel.alarm_topic)
        unregistered = cloudwatch.Metric(
            namespace=c.METRIC_NAMESPACE,
            metric_name=c.UNREGISTERED_METRIC,
            dimensions_map={"service": c.AUDIT_SERVICE},
            statistic="Sum",
            period=Duration.minutes(5),
        )
        five_minutes = Duration.minutes(5)
        alarms = [
            self._alarm_at_one(
                "UnregisteredEndpointAlarm",
                "An endpoint serves a model that is not an approved Model Registry version",
                unregistered,
            ),
            self._alarm_at_one(
                "AuditDeadLetterAlarm",
                "Endpoint events could not be audited after all retries; redrive the DLQ",
                self.dlq.metric_approximate_number_of_messages_visible(period=five_minutes),
            ),
            self._alarm_at_one(
                "AuditErrorsAlarm",
                "The audit Lambda failed; events are being retried",
                self.function.metric_errors(period=five_minutes),
            ),
        ]
        for alarm in alarms:
            alarm.add_alarm_action(action)
        return alarms

    def _alarm_at_one(self, construct_id: str, description: str, metric: cloudwatch.IMetric) -> cloudwatch.Alarm:
        """Alarm as soon as one occurrence is seen in a period; no data is not a breach."""
        return cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
