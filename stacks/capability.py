"""What the stack asks of every capability's construct (stacks/<name>.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from mlgov.settings import Settings, received_model
from mlgov_runtime.core.model import received_environment
from mlgov_runtime.registry import Capability
from stacks import constants as c
from stacks.building_blocks import RETENTION, GovernedFunction, alarm_at_one
from stacks.findings_channel import FindingsChannel

# What a Lambda invoke task retries: the Lambda service's own transient failures, never the function's errors.
LAMBDA_SERVICE_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def successful_calls(service: str, calls: Iterable[str], **request_parameters: Any) -> events.EventPattern:
    """CloudTrail's record of these calls of `service` (e.g. "sagemaker") that succeeded: a failed call changed
    nothing."""
    detail: dict[str, Any] = {
        "eventSource": [f"{service}.amazonaws.com"],
        "eventName": list(calls),
        "errorCode": [{"exists": False}],
    }
    if request_parameters:
        detail["requestParameters"] = request_parameters
    return events.EventPattern(source=[f"aws.{service}"], detail_type=[c.CLOUDTRAIL_DETAIL_TYPE], detail=detail)


# The period every governance alarm looks at: one occurrence in it is enough.
ALARM_PERIOD = Duration.minutes(5)


def count_metric(metric_name: str, service: str) -> cloudwatch.Metric:
    """A count the product's functions publish (EMF, dimension `service`), summed over the alarm period."""
    return cloudwatch.Metric(
        namespace=c.METRIC_NAMESPACE,
        metric_name=metric_name,
        dimensions_map={"service": service},
        statistic="Sum",
        period=ALARM_PERIOD,
    )


class CapabilityConstruct(Construct):
    """Built once per registered capability, in registry order; `peers` holds those built before it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        capability: Capability,
        settings: Settings,
        channel: FindingsChannel,
        peers: Mapping[str, CapabilityConstruct],
    ) -> None:
        super().__init__(scope, construct_id)
        self.capability, self.settings, self.channel = capability, settings, channel
        # Filled by the capability: queues the stack alarms on and suppresses SQS3 for, and cdk-nag
        # suppressions beyond the ones every GovernedFunction gets.
        self.dead_letter_queues: list[sqs.Queue] = []
        self.nag_suppressions: list[tuple[Construct, list[str]]] = []
        # Roles besides the services of its own rules that may send to a dead-letter queue (by queue node path).
        self.dead_letter_senders: dict[str, list[str]] = {}

    def received_environment(self) -> dict[str, str]:
        """The one variable that carries this capability's settings to its functions: what its `Received`
        model (mlgov_runtime/<name>/settings.py) declares, from the validated settings."""
        return received_environment(self.settings, received_model(self.capability))

    def governed_function(
        self,
        construct_id: str,
        *,
        description: str,
        environment: dict[str, str],
        statements: list[iam.PolicyStatement],
        handler: str | None = None,
        **kwargs: Any,
    ) -> GovernedFunction:
        """A function of this capability: its registered handler unless another entry point is named, logs kept
        for the configured retention."""
        return GovernedFunction(
            self,
            construct_id,
            description=description,
            handler=handler or self.capability.handler,
            environment=environment,
            statements=statements,
            log_retention_days=self.settings.log_retention_days,
            **kwargs,
        )

    def alarm(self, alarm_id: str, description: str, metric: cloudwatch.IMetric) -> cloudwatch.Alarm:
        """An alarm on the first occurrence, to the channel's alarm topic."""
        return alarm_at_one(self, alarm_id, description, metric, self.channel.alarm_topic)

    def errors_alarm(self, alarm_id: str, description: str, function: lambda_.IFunction) -> cloudwatch.Alarm:
        return self.alarm(alarm_id, description, function.metric_errors(period=ALARM_PERIOD))

    def dead_letter_alarm(self, alarm_id: str, description: str, queue: sqs.IQueue) -> cloudwatch.Alarm:
        return self.alarm(
            alarm_id, description, queue.metric_approximate_number_of_messages_visible(period=ALARM_PERIOD)
        )

    def count_alarm(self, alarm_id: str, description: str, metric_name: str, service: str) -> cloudwatch.Alarm:
        """On a count the product's functions publish (EMF, dimension `service`), summed over the period."""
        return self.alarm(alarm_id, description, count_metric(metric_name, service))

    def other_account_statements(self, organization_read: Sequence[str]) -> list[iam.PolicyStatement]:
        """What judging endpoints of other accounts takes: resolving an account's OUs for OU-bound experiment
        exemptions, and assuming the member audit role (with organization_id set, only roles in this
        organization's accounts: an event naming any other account gets nothing)."""
        statements = []
        if self.settings.experiment_exemptions.organizational_unit_ids:
            # ListParents has no resource-level permissions for accounts.
            statements.append(
                iam.PolicyStatement(sid="ResolveAccountOus", actions=list(organization_read), resources=["*"])
            )
        if self.settings.member_audit_role_name:
            organization_id = self.settings.organization_id
            statements.append(
                iam.PolicyStatement(
                    sid="AssumeMemberAuditRole",
                    actions=["sts:AssumeRole"],
                    resources=[f"arn:{Stack.of(self).partition}:iam::*:role/{self.settings.member_audit_role_name}"],
                    conditions={"StringEquals": {"aws:ResourceOrgID": organization_id}} if organization_id else None,
                )
            )
        return statements

    def event_rules(
        self, rules: Iterable[tuple[str, str, events.EventPattern | events.Schedule, events.IRuleTarget]]
    ) -> list[events.Rule]:
        """One EventBridge rule per (id, description, event pattern or schedule, target)."""
        return [
            events.Rule(
                self,
                rule_id,
                description=description,
                **({"schedule": when} if isinstance(when, events.Schedule) else {"event_pattern": when}),
                targets=[target],
            )
            for rule_id, description, when, target in rules
        ]

    def approval_wait(
        self, function: lambda_.IFunction, result_path: str, expiry_hours: float, **payload: Any
    ) -> tasks.LambdaInvoke:
        """WaitForApproval: the step function files the request (the task token goes only into the approvals
        store) and the execution waits until the approval service answers it, or the request expires
        (States.Timeout). No automatic retry on the service: the caller declares which errors it retries."""
        return tasks.LambdaInvoke(
            self,
            "WaitForApproval",
            lambda_function=function,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object(
                {
                    "step": "request_approval",
                    "token": sfn.JsonPath.task_token,
                    "state": sfn.JsonPath.entire_payload,
                    "execution": sfn.JsonPath.execution_id,
                    **payload,
                }
            ),
            result_path=result_path,
            task_timeout=sfn.Timeout.duration(Duration.hours(expiry_hours)),
            retry_on_service_exceptions=False,
        )

    def logged_state_machine(
        self,
        construct_id: str,
        definition: sfn.IChainable,
        *,
        timeout: Duration,
        execution_data: bool,
        **kwargs: Any,
    ) -> sfn.StateMachine:
        """A standard, traced state machine logging every event to a retained log group; execution data only
        where no task token passes through its states."""
        log_group = logs.LogGroup(
            self,
            "StateMachineLogs",
            retention=RETENTION[self.settings.log_retention_days],
            removal_policy=RemovalPolicy.RETAIN,
        )
        return sfn.StateMachine(
            self,
            construct_id,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=timeout,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=execution_data),
            **kwargs,
        )
