"""The governance channel every detector publishes findings on, and the findings table."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import RemovalPolicy, Stack, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from mlgov.guardrails import PRODUCT_KEY_TAG
from mlgov_runtime.core import env
from stacks.building_blocks import (
    TABLE_WRITES,
    GovernedFunction,
    deny_everyone,
    encrypted_table,
    keep_table_controls,
)
from stacks.permissions.core import FINDINGS_PUBLISH, FINDINGS_WRITE


def service_key_users(partition: str, region: str, account: str) -> dict[str, str]:
    """The services that use the governance key on this account's behalf, and the resources they act for."""
    return {
        "events.amazonaws.com": f"arn:{partition}:events:{region}:{account}:rule/*",
        "cloudwatch.amazonaws.com": f"arn:{partition}:cloudwatch:{region}:{account}:alarm:*",
        "sns.amazonaws.com": f"arn:{partition}:sns:{region}:{account}:*",
    }


class FindingsChannel(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.key = self._build_key()
        self.topic = sns.Topic(
            self, "FindingsTopic", display_name="ML governance findings", master_key=self.key, enforce_ssl=True
        )
        self.alarm_topic = sns.Topic(
            self,
            "OpsAlarmTopic",
            display_name="ML governance operational alarms",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.table = encrypted_table(self, "FindingsTable", self.key, "finding_id")
        self.publishers: list[iam.IRole] = []

    def _build_key(self) -> kms.Key:
        key = kms.Key(
            self,
            "GovernanceKey",
            description="Encrypts ML governance findings, queues and tables",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # The guardrails keep this key's administration to the deployer (DenyProductKeyAdministration).
        Tags.of(key).add(*PRODUCT_KEY_TAG)
        # EventBridge (DLQ delivery) and CloudWatch alarms (SNS actions) write encrypted messages;
        # SNS delivers findings into the notifier's encrypted queue. Each only for this account's own
        # rules, alarms and topics (aws:SourceAccount/aws:SourceArn), so no other account's resource
        # can make the service use this key for it (the confused deputy).
        stack = Stack.of(self)
        for service, source in service_key_users(stack.partition, stack.region, stack.account).items():
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    principals=[iam.ServicePrincipal(service)],
                    resources=["*"],
                    conditions={
                        "StringEquals": {"aws:SourceAccount": stack.account},
                        "ArnLike": {"aws:SourceArn": source},
                    },
                )
            )
        return key

    def grant_publish(self, producer: GovernedFunction) -> None:
        """What every detector needs to store and publish findings: exactly these grants and variables."""
        producer.policy.add_statements(
            iam.PolicyStatement(sid="StoreFindings", actions=list(FINDINGS_WRITE), resources=[self.table.table_arn]),
            iam.PolicyStatement(
                sid="PublishFindings", actions=list(FINDINGS_PUBLISH), resources=[self.topic.topic_arn]
            ),
            iam.PolicyStatement(
                sid="UseGovernanceKey", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[self.key.key_arn]
            ),
        )
        self.publishers.append(producer.role)
        producer.function.add_environment(env.FINDINGS_TABLE_NAME, self.table.table_name)
        producer.function.add_environment(env.FINDINGS_TOPIC_ARN, self.topic.topic_arn)

    def seal(self, operator_role_arns: Sequence[str] = (), deployer_role_arns: Sequence[str] = ()) -> None:
        """Once every producer is granted: nobody else may publish findings (a forged RESOLVED finding
        would close a real violation's Jira issue), or write the findings table (the scan's sweep republishes
        what it finds there, and the notifier checks a resolution against it), whatever their own IAM policies
        allow. The operators' CLI (`mlgov capacity restore`, `mlgov retire cancel`) writes the table and publishes
        too. Only the deployer takes the table's seal off (or the table away), and only AWS services publish
        alarms."""
        publishers = [role.role_arn for role in self.publishers]
        operators = {"ArnNotLike": {"aws:PrincipalArn": list(operator_role_arns)}} if operator_role_arns else {}
        self.table.add_to_resource_policy(
            deny_everyone(
                "OnlyProducersWriteFindings",
                TABLE_WRITES,
                ["*"],  # in a table's own policy: this table (and its indexes)
                {
                    "ArnNotEquals": {"aws:PrincipalArn": publishers},
                    **operators,
                },
            )
        )
        self.topic.add_to_resource_policy(
            deny_everyone(
                "OnlyProducersPublish",
                ["sns:Publish"],
                [self.topic.topic_arn],
                # The same operators publish what they write (a cancelled retirement, a restored capacity).
                {"ArnNotEquals": {"aws:PrincipalArn": publishers}, **operators},
            )
        )
        keep_table_controls(self.table, deployer_role_arns)
        self._seal_alarm_topic()

    def _seal_alarm_topic(self) -> None:
        """Whatever their IAM policies allow: only AWS services publish here (CloudWatch for this account's alarms
        in this region, Cost Anomaly Detection), and only for this account, so nobody sends the operators an alarm
        that looks like the product's. aws:SourceAccount/aws:SourceArn as the governance key's policy requires
        them from the same services."""
        stack, topic = Stack.of(self), self.alarm_topic
        alarms = f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
        for sid, conditions in (
            ("OnlyAwsServicesPublish", {"Bool": {"aws:PrincipalIsAWSService": "false"}}),
            ("OnlyForThisAccount", {"StringNotEquals": {"aws:SourceAccount": stack.account}}),
            (
                "CloudWatchOnlyForThisAccountsAlarms",
                {
                    "StringEquals": {"aws:PrincipalServiceName": "cloudwatch.amazonaws.com"},
                    "ArnNotLike": {"aws:SourceArn": alarms},
                },
            ),
        ):
            topic.add_to_resource_policy(deny_everyone(sid, ["sns:Publish"], [topic.topic_arn], conditions))

    def encrypt_logs(self, scope: Construct) -> None:
        """Every log group under scope with the governance key (logs may carry resource names and reasons)."""
        stack = Stack.of(self)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
                        )
                    }
                },
            )
        )
        for construct in scope.node.find_all():
            if isinstance(construct, logs.CfnLogGroup):
                construct.kms_key_id = self.key.key_arn
