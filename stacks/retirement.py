"""Spec scenario 5: endpoint retirement. A monthly stale-endpoint audit and a daily retiring-deadline
check (schedules), a tag-change handler (CloudTrail AddTags/DeleteTags), the deletion state machine
(approval by task token, live invocation check, watch on clients afterwards) and Cost Anomaly Detection
for SageMaker spend. Only the state machine's step function may delete, and only endpoints tagged retiring."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast

from aws_cdk import App, CfnOutput, Duration, Stack
from aws_cdk import aws_ce as ce
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from mlgov.settings import Settings
from mlgov_runtime.core import env
from mlgov_runtime.registry import by_name
from mlgov_runtime.retirement import settings as e
from mlgov_runtime.retirement.logic import INVOCATIONS_SETTLE
from stacks.approvals import Approvals
from stacks.building_blocks import GovernedFunction, encrypted_queue, encrypted_table
from stacks.capability import LAMBDA_SERVICE_ERRORS, CapabilityConstruct, successful_calls
from stacks.findings_channel import FindingsChannel
from stacks.lineage_audit import LineageAudit
from stacks.permissions import retirement as p
from stacks.permissions.core import IDEMPOTENCY

SERVICE = "endpoint-retirement"
STEP_HANDLER = "mlgov_runtime.retirement.handler.step"


def tag_change_pattern() -> events.EventPattern:
    """Successful AddTags/DeleteTags calls on SageMaker endpoints."""
    return successful_calls(
        "sagemaker", ["AddTags", "DeleteTags"], resourceArn=[{"wildcard": "arn:*:sagemaker:*:*:endpoint/*"}]
    )


def anomaly_threshold(usd: float, pct: float) -> str:
    """Alert when an anomaly's total impact is at least `usd` dollars and at least `pct` percent."""
    return json.dumps(
        {
            "And": [
                {
                    "Dimensions": {
                        "Key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE",
                        "MatchOptions": ["GREATER_THAN_OR_EQUAL"],
                        "Values": [f"{usd:g}"],
                    }
                },
                {
                    "Dimensions": {
                        "Key": "ANOMALY_TOTAL_IMPACT_PERCENTAGE",
                        "MatchOptions": ["GREATER_THAN_OR_EQUAL"],
                        "Values": [f"{pct:g}"],
                    }
                },
            ]
        },
        sort_keys=True,
    )


class Retirement(CapabilityConstruct):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        stack = Stack.of(self)
        self._sm = f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}"
        self.idempotency_table = cast(LineageAudit, kwargs["peers"]["lineage_audit"]).idempotency_table
        self.approvals = cast(Approvals, kwargs["peers"]["approvals"])
        # A fixed name: the steps verify executions against it (its ARN in their role would be a cycle).
        self.machine_name = f"{stack.stack_name}-Retirement"[:80]
        self.environment = self.received_environment()
        self.monitor_arn = self._build_cost_anomaly_alerts()
        self.audit = self._build_audit_function()
        self.steps = self._build_step_function()
        self.state_machine = self._build_state_machine()
        self.approvals.answer_for(self.state_machine, "AnswerRetirementRequests")
        self.dlq = encrypted_queue(self, "RetirementDeadLetterQueue", self.channel.key)
        self.dead_letter_queues.append(self.dlq)
        self.rules = self._build_rules()
        self.alarms = self._build_alarms()
        CfnOutput(
            self,
            "RetirementStateMachineArn",
            value=self.state_machine.state_machine_arn,
            description="The deletion state machine; the approval service starts it on `mlgov retire request`",
        )
        self.nag_suppressions.append((cast(Construct, self.state_machine.role), ["AwsSolutions-IAM5"]))

    # -- functions
    def _read_statements(self) -> list[iam.PolicyStatement]:
        sm = self._sm
        return [
            iam.PolicyStatement(
                sid="ReadEndpoints",
                actions=[a for a in p.ENDPOINT_READ if a != "sagemaker:ListInferenceComponents"],
                resources=[
                    f"{sm}:endpoint/*",
                    f"{sm}:endpoint-config/*",
                    f"{sm}:model/*",
                    f"{sm}:inference-component/*",
                ],
            ),
            # ListInferenceComponents and the CloudWatch reads accept no resource scope.
            iam.PolicyStatement(
                sid="ListInferenceComponents", actions=["sagemaker:ListInferenceComponents"], resources=["*"]
            ),
            iam.PolicyStatement(
                sid="ReadRegistry",
                actions=list(p.REGISTRY_READ),
                resources=[f"{sm}:model-package-group/*", f"{sm}:model-package/*"],
            ),
            iam.PolicyStatement(sid="ReadInvocations", actions=list(p.METRICS_READ), resources=["*"]),
            # The only tag these functions write: the purpose key, set to retiring.
            iam.PolicyStatement(
                sid="TagRetiring",
                actions=list(p.RETIRING_TAG),
                resources=[f"{sm}:endpoint/*"],
                conditions={
                    "StringEquals": {f"aws:RequestTag/{self.settings.retirement.purpose_tag_key}": "retiring"},
                    "ForAllValues:StringEquals": {"aws:TagKeys": [self.settings.retirement.purpose_tag_key]},
                },
            ),
        ]

    def _build_audit_function(self) -> GovernedFunction:
        environment = {
            **self.environment,
            env.IDEMPOTENCY_TABLE_NAME: self.idempotency_table.table_name,
            e.COST_ANOMALY_MONITOR_ARN: self.monitor_arn,
            "POWERTOOLS_SERVICE_NAME": SERVICE,
        }
        audit = self.governed_function(
            "Audit",
            description="Monthly stale-endpoint audit, daily retiring deadlines, retiring tag changes; never deletes",
            environment=environment,
            statements=[
                *self._read_statements(),
                iam.PolicyStatement(sid="ListEndpoints", actions=list(p.ENDPOINT_LIST), resources=["*"]),
                iam.PolicyStatement(
                    sid="ReadCostAnomalies", actions=list(p.COST_ANOMALIES), resources=[self.monitor_arn]
                ),
                iam.PolicyStatement(
                    sid="IdempotencyRecords", actions=list(IDEMPOTENCY), resources=[self.idempotency_table.table_arn]
                ),
            ],
            timeout=Duration.minutes(10),
        )
        self.channel.grant_publish(audit)
        return audit

    def _build_step_function(self) -> GovernedFunction:
        purpose = self.settings.retirement.purpose_tag_key
        steps = self.governed_function(
            "Steps",
            description="Endpoint deletion steps: prepare, request approval, live check then delete, watch clients",
            handler=STEP_HANDLER,
            environment={
                **self.environment,
                e.STATE_MACHINE_NAME: self.machine_name,
                "POWERTOOLS_SERVICE_NAME": SERVICE,
            },
            statements=[
                *self._read_statements(),
                # Which execution a step serves: a running one of this machine, never a state handed to it.
                iam.PolicyStatement(
                    sid="VerifyOwnExecutions",
                    actions=list(p.EXECUTION_READ),
                    resources=[
                        f"arn:{Stack.of(self).partition}:states:{Stack.of(self).region}:{Stack.of(self).account}"
                        f":execution:{self.machine_name}:*"
                    ],
                ),
                # Deletes only what is tagged retiring; the endpoint config and models are kept.
                iam.PolicyStatement(
                    sid="DeleteRetiringEndpoints",
                    actions=list(p.DELETE),
                    resources=[f"{self._sm}:endpoint/*"],
                    conditions={"StringEquals": {f"aws:ResourceTag/{purpose}": "retiring"}},
                ),
            ],
            timeout=Duration.minutes(2),
        )
        self.channel.grant_publish(steps)
        self.approvals.grant_requests(steps)
        return steps

    # -- the deletion state machine
    def _step(self, construct_id: str, step: str, result_path: str) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            construct_id,
            lambda_function=self.steps.function,
            payload=sfn.TaskInput.from_object(
                {"step": step, "execution": sfn.JsonPath.execution_id, "state": sfn.JsonPath.entire_payload}
            ),
            payload_response_only=True,
            result_path=result_path,
            task_timeout=sfn.Timeout.duration(Duration.minutes(2)),
            retry_on_service_exceptions=False,
        )
        task.add_retry(
            errors=[*LAMBDA_SERVICE_ERRORS, "States.Timeout"],
            interval=Duration.seconds(5),
            max_attempts=3,
            backoff_rate=2,
        )
        return task

    def _build_state_machine(self) -> sfn.StateMachine:
        r = self.settings.retirement
        close = self._step("CloseRequest", "close_request", "$.closed")
        close.next(sfn.Fail(self, "NotDeleted", error="DeletionNotApproved", cause="See the ENDPOINT_RETIRING finding"))
        prepare = self._step("Prepare", "prepare", "$.prepared")
        approval = self.approval_wait(self.steps.function, "$.approval", r.approval_expiry_hours)
        # Never States.Timeout here: that is the request expiring.
        approval.add_retry(errors=LAMBDA_SERVICE_ERRORS, interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
        # Two live checks: the first right after the approval, the final one (which deletes) once CloudWatch has
        # settled every minute up to the first.
        check = self._step("CheckIdle", "check_idle", "$.idle")
        settle = sfn.Wait(
            self,
            "LetMetricsSettle",
            time=sfn.WaitTime.duration(Duration.seconds(int(INVOCATIONS_SETTLE.total_seconds()))),
        )
        delete = self._step("DeleteIfIdle", "delete", "$.deletion")
        watch = self._step("WatchClients", "watch", "$.deletion.watch")
        for state in (prepare, approval, check, delete):
            state.add_catch(close, errors=["States.ALL"], result_path="$.error")
        watch.add_catch(
            sfn.Fail(self, "WatchInterrupted", cause="Deleted, but the client-error watch failed; see its logs"),
            errors=["States.ALL"],
            result_path="$.error",
        )
        wait = sfn.Wait(self, "WaitAnHour", time=sfn.WaitTime.duration(Duration.hours(1)))
        watching = (
            sfn.Choice(self, "StillWatching?")
            .when(sfn.Condition.number_greater_than("$.deletion.watch.remaining", 0), wait)
            .otherwise(sfn.Succeed(self, "Retired"))
        )
        wait.next(watch)
        watch.next(watching)
        aborted = sfn.Fail(
            self,
            "DeletionAborted",
            error="SafetyAbort",
            cause="Nothing deleted: the live check saw invocations, or the retirement changed",
        )
        deleted = (
            sfn.Choice(self, "Deleted?")
            .when(sfn.Condition.string_equals("$.deletion.outcome", "deleted"), watching)
            .otherwise(aborted)
        )
        idle = (
            sfn.Choice(self, "Idle?")
            .when(sfn.Condition.string_equals("$.idle.outcome", "idle"), settle.next(delete).next(deleted))
            .otherwise(aborted)
        )
        eligible = (
            sfn.Choice(self, "Eligible?")
            .when(sfn.Condition.boolean_equals("$.prepared.eligible", True), approval)
            .otherwise(close)
        )
        approval.next(check).next(idle)
        definition = prepare.next(eligible)

        return self.logged_state_machine(
            "RetirementStateMachine",
            definition,
            state_machine_name=self.machine_name,
            timeout=Duration.hours(r.approval_expiry_hours + r.post_retirement_watch_hours + 4),
            # Task tokens pass through this machine's states: execution data never goes to the logs.
            execution_data=False,
        )

    # -- schedules, events, cost anomalies, alarms
    def _build_rules(self) -> list[events.Rule]:
        r = self.settings.retirement

        def target(task: str | None) -> targets.LambdaFunction:
            payload = (
                events.RuleTargetInput.from_object(
                    {
                        "task": task,
                        "event_id": events.EventField.event_id,
                        "time": events.EventField.time,
                        "account": events.EventField.account,
                        "region": events.EventField.region,
                    }
                )
                if task
                else None
            )
            return targets.LambdaFunction(
                self.audit.function,
                event=payload,
                dead_letter_queue=self.dlq,
                retry_attempts=8,
                max_event_age=Duration.hours(6),
            )

        return self.event_rules(
            [
                (
                    "MonthlyStaleEndpointAudit",
                    "Stale SageMaker endpoints: serving an old version, with or without traffic",
                    events.Schedule.expression(r.audit_schedule),
                    target("stale_audit"),
                ),
                (
                    "DailyRetiringDeadlines",
                    "Endpoints tagged retiring: open retirements, escalate past their deadline",
                    events.Schedule.expression(r.deadline_check_schedule),
                    target("retiring_deadlines"),
                ),
                (
                    "RetiringTagChanges",
                    "Endpoint AddTags/DeleteTags: tagging retiring opens a retirement; changing it is reported",
                    tag_change_pattern(),
                    target(None),
                ),
            ]
        )

    def _build_cost_anomaly_alerts(self) -> str:
        r, t = self.settings.retirement, self.settings.thresholds
        monitor_arn = r.cost_anomaly_monitor_arn
        if not monitor_arn:
            monitor = ce.CfnAnomalyMonitor(
                self,
                "ServiceCostMonitor",
                monitor_name="mlgov-aws-services",
                monitor_type="DIMENSIONAL",
                monitor_dimension="SERVICE",
            )
            monitor_arn = monitor.attr_monitor_arn
        topic = self.channel.alarm_topic
        ce.CfnAnomalySubscription(
            self,
            "SageMakerCostAnomalies",
            subscription_name="mlgov-cost-anomalies",
            frequency="IMMEDIATE",  # what SNS subscribers require
            monitor_arn_list=[monitor_arn],
            subscribers=[ce.CfnAnomalySubscription.SubscriberProperty(type="SNS", address=topic.topic_arn)],
            threshold_expression=anomaly_threshold(t.cost_anomaly_usd, r.cost_anomaly_pct),
        )
        alerts = iam.ServicePrincipal("costalerts.amazonaws.com")
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CostAnomalyAlerts",
                actions=["sns:Publish"],
                principals=[alerts],
                resources=[topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        self.channel.key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[alerts],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        return monitor_arn

    def _build_alarms(self) -> list[cloudwatch.Alarm]:
        return [
            self.count_alarm(
                "SafetyAbortAlarm",
                "An approved endpoint deletion was aborted: the endpoint still takes traffic",
                "SafetyAbortEndpointDeletion",
                SERVICE,
            ),
            self.dead_letter_alarm(
                "RetirementDeadLetterAlarm",
                "A retirement schedule or tag-change event could not be delivered after all retries",
                self.dlq,
            ),
            self.errors_alarm("RetirementAuditErrorsAlarm", "The retirement audit failed", self.audit.function),
            self.errors_alarm("RetirementStepsErrorsAlarm", "A deletion step failed", self.steps.function),
        ]


def standalone_template(settings: Settings) -> dict[str, Any]:
    """This construct alone in a stack, synthesized (seconds, not the whole app's tens): the sandbox runs its
    state machine. Same construct id as in the governance stack, so logical ids match."""
    app = App()
    stack = Stack(app, "MlGovRetirementOnly")
    channel = FindingsChannel(stack, "Findings")
    lineage = SimpleNamespace(
        idempotency_table=encrypted_table(stack, "IdempotencyTable", channel.key, "id", ttl_attribute="expiration")
    )
    approvals_capability = by_name("approvals")
    approvals = Approvals(
        stack,
        approvals_capability.construct,
        capability=approvals_capability,
        settings=settings,
        channel=channel,
        peers={},
    )
    capability = by_name("retirement")
    Retirement(
        stack,
        capability.construct,
        capability=capability,
        settings=settings,
        channel=channel,
        peers={"lineage_audit": cast(CapabilityConstruct, lineage), "approvals": approvals},
    )
    template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
    return template
