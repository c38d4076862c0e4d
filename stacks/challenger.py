"""Spec scenario 3, stage 2: the challenger CTR gate. The retraining pipeline's "Model Package Registered"
event (or `mlgov challenger start`) starts a Standard state machine that deploys the package as a second
production variant, watches the recommendation metrics every few minutes, and rejects, promotes or ends the
experiment (lambdas/mlgov_runtime/challenger/logic.py); a CloudWatch dashboard per watched endpoint.

Roles are named so the guardrails let them act: the Lambda is the deployment pipeline role
(`guardrails.pipeline_role_arns`: CreateModel, CreateEndpointConfig, UpdateEndpoint), the state machine is the
approver role (`guardrails.approver_role_arns`: the only principal that sets Approved, through a direct SDK
task); the Lambda may set Rejected and never Approved.
"""

from __future__ import annotations

import json
from typing import Any, cast

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from mlgov.guardrails import deploying_roles
from mlgov.settings import CONTEXT_KEY, Settings, SettingsError, check_challenger
from mlgov_runtime.challenger.config import COUNTS_TABLE, EXPIRES_KEY, MINUTE_KEY, SERIES_KEY
from mlgov_runtime.challenger.counts_policy import WRITERS_SID
from mlgov_runtime.challenger.events import DETAIL_TYPE, SOURCE
from mlgov_runtime.challenger.findings import dashboard_name
from mlgov_runtime.challenger.settings import RETRAINING_STATE_MACHINE_ARN, STATE_MACHINE_ARN
from mlgov_runtime.core import env
from stacks.building_blocks import (
    EVERY_TABLE_CONTROL,
    REPLICATED_WRITES,
    TABLE_WRITES,
    GovernedFunction,
    alarm_at_one,
    deny_everyone,
    encrypted_queue,
    encrypted_table,
    ended_badly,
    keep_table_controls,
)
from stacks.capability import LAMBDA_SERVICE_ERRORS, CapabilityConstruct
from stacks.permissions import challenger as p
from stacks.permissions.core import IDEMPOTENCY

STATE_MACHINE_NAME = "mlgov-challenger"
SERVICE = "challenger"
STEP_HANDLER = "mlgov_runtime.challenger.handler.step"
LAMBDA_RETRY_ERRORS = [*LAMBDA_SERVICE_ERRORS, "States.Timeout"]
# A call that went through with its answer lost (botocore's names, as Lambda reports them): every step is written to
# finish, on its retry, what its own earlier attempt did (the same entered time, so the same resource names).
LOST_ANSWER_ERRORS = ["ReadTimeoutError", "ConnectTimeoutError", "EndpointConnectionError", "ConnectionClosedError"]
ENDPOINT_POLL = Duration.seconds(60)
# challenger.metrics.source "table": the watch reads the counts with Query, and the table's policy (its seal,
# checked before a count is believed: challenger/counts_policy.py) with GetResourcePolicy; nothing else.
COUNTS_READ = ("dynamodb:Query", "dynamodb:GetResourcePolicy")
# DynamoDB refuses a resource policy over 20 KB (whitespace counted).
TABLE_POLICY_MAX_BYTES = 20 * 1024


def role_for(patterns: list[str], suffix: str, key: str) -> tuple[str, str]:
    """(path, name) of a role whose ARN one of the guardrails' patterns matches: a pattern ending in `*` gets
    `suffix` (a name of its own), an exact pattern is used as it is. Wildcard patterns are preferred."""
    exact: tuple[str, str] | None = None
    for pattern in patterns:
        tail = pattern.split(":role/", 1)[1]
        folder, _, name = tail.rpartition("/")
        path = f"/{folder}/" if folder else "/"
        if any(c in path for c in "*?") or "?" in name or "*" in name[:-1]:
            continue
        if name.endswith("*"):
            return path, (name[:-1] + suffix)[:64]
        exact = exact or (path, name)
    if exact:
        return exact
    raise SettingsError(
        f"cdk.json context 'mlgov.guardrails.{key}': no pattern names a role this stack can create (one ending in "
        "'*' or an exact name, with no wildcard in its path); the challenger gate needs one"
    )


def machine_arn(stack: Stack) -> str:
    """The challenger state machine's ARN, known before it is built (the lineage audit, built first, reads its
    executions)."""
    return stack.format_arn(
        service="states",
        resource="stateMachine",
        resource_name=STATE_MACHINE_NAME,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def executions_of(stack: Stack, machine: str) -> str:
    """The ARN pattern of a state machine's executions (arn:...:execution:<name>:*)."""
    name = stack.split_arn(machine, ArnFormat.COLON_RESOURCE_NAME).resource_name
    return stack.format_arn(
        service="states", resource="execution", resource_name=f"{name}:*", arn_format=ArnFormat.COLON_RESOURCE_NAME
    )


def check_settings(settings: Settings) -> None:
    """parse_settings already refused what is wrong; kept for settings built without it (tests)."""
    check_challenger(settings)


class Challenger(CapabilityConstruct):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        settings = self.settings
        stack = Stack.of(self)
        c = settings.challenger
        # Provenance: a candidate registered by a SUCCEEDED run of this app's retraining state machine.
        retraining = kwargs["peers"].get("retraining")
        self.retraining_machine: sfn.StateMachine | None = getattr(retraining, "state_machine", None)
        check_settings(settings)
        sm = f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}"
        self.endpoint_names = sorted(set(c.endpoints.values()))
        self.groups = sorted(c.endpoints)
        self.endpoint_arns = [f"{sm}:endpoint/{e.lower()}" for e in self.endpoint_names]
        self.package_arns = [f"{sm}:model-package/{g.lower()}/*" for g in self.groups]
        self.group_arns = [f"{sm}:model-package-group/{g.lower()}" for g in self.groups]
        self.state_machine_arn = machine_arn(stack)
        self.idempotency_table = encrypted_table(
            self, "IdempotencyTable", self.channel.key, "id", ttl_attribute="expiration", retain=False
        )
        # metrics.source "table": the recommender's counts, written by the metric writers alone.
        self.counts_table = self._build_counts_table() if c.metrics.source == "table" else None
        self.steps = self._build_function()
        # The rules' target: it may start an execution and read a package, never run a step (the Steps function
        # is invoked by the state machine's role alone, so a rule's constant Input cannot reach it).
        self.events_function = self._build_events_function()
        self.machine_role = self._build_machine_role()
        self.state_machine = self._build_state_machine()
        self.dlq = encrypted_queue(self, "ChallengerDeadLetterQueue", self.channel.key)
        self.dead_letter_queues.append(self.dlq)
        self.rule = events.Rule(
            self,
            "PackageRegistered",
            description="A retraining run registered a candidate package: try it as a challenger",
            event_pattern=events.EventPattern(source=[SOURCE], detail_type=[DETAIL_TYPE]),
            targets=[
                targets.LambdaFunction(
                    self.events_function.function,
                    dead_letter_queue=self.dlq,
                    retry_attempts=8,
                    max_event_age=Duration.hours(6),
                )
            ],
        )
        # A watched group's package set Approved: the function re-reads it and reports a re-approval of a rejected
        # package without a comment (CHALLENGER_REAPPROVED_WITHOUT_COMMENT).
        self.reapproval_rule = events.Rule(
            self,
            "PackageApproved",
            description="A watched group's package was approved: check a re-approval carries its comment",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Model Package State Change"],
                detail={"ModelPackageGroupName": self.groups, "ModelApprovalStatus": ["Approved"]},
            ),
            targets=[
                targets.LambdaFunction(
                    self.events_function.function,
                    dead_letter_queue=self.dlq,
                    retry_attempts=8,
                    max_event_age=Duration.hours(6),
                )
            ],
        )
        self.dashboards = [self._build_dashboard(i, e) for i, e in enumerate(self.endpoint_names)]
        five = Duration.minutes(5)
        topic = self.channel.alarm_topic
        self.alarms = [
            alarm_at_one(
                self,
                "ChallengerFailedAlarm",
                "A challenger experiment failed, was stopped or timed out; a failure's CHALLENGER_FAILED finding says "
                "where and what traffic it left; a stopped or timed-out run runs no step, so its challenger variant "
                "may still serve (the endpoint audit reports it UNAPPROVED)",
                ended_badly(self.state_machine, five, "Challenger executions failed, aborted or timed out"),
                topic,
            ),
            alarm_at_one(
                self,
                "ChallengerErrorsAlarm",
                "The challenger Lambda failed; the state machine retries, then reports",
                self.steps.function.metric_errors(period=five),
                topic,
            ),
            alarm_at_one(
                self,
                "ChallengerEventsErrorsAlarm",
                "The challenger events function failed; EventBridge retries, then the dead-letter queue",
                self.events_function.function.metric_errors(period=five),
                topic,
            ),
            alarm_at_one(
                self,
                "ChallengerDeadLetterAlarm",
                "A Model Package Registered event could not start a challenger after all retries; redrive the DLQ",
                self.dlq.metric_approximate_number_of_messages_visible(period=five),
                topic,
            ),
        ]
        self.nag_suppressions += [(self.machine_role, ["AwsSolutions-IAM5"])]

    # -- roles and the function
    def _name_role(self, role: iam.IRole, patterns: list[str], suffix: str, key: str) -> str:
        path, name = role_for(patterns, suffix, key)
        cfn = cast(iam.CfnRole, role.node.default_child)
        cfn.role_name = name
        cfn.path = path
        return f"{path}{name}"

    def _build_function(self) -> GovernedFunction:
        stack = Stack.of(self)
        sm = f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}"
        endpoint_configs = [f"{sm}:endpoint-config/{e.lower()}-*" for e in self.endpoint_names]
        models = [f"{sm}:model/{g.lower()}-*" for g in self.groups]
        roles = [
            f"arn:{stack.partition}:iam::{stack.account}:role/{arn.split(':role/', 1)[1]}"
            for arn in self.settings.challenger.model_execution_role_arns
        ]
        statements = [
            iam.PolicyStatement(
                sid="ReadEndpoints",
                actions=list(p.ENDPOINT_READ),
                resources=[f"{sm}:endpoint/*", f"{sm}:endpoint-config/*", f"{sm}:model/*"],
            ),
            iam.PolicyStatement(
                sid="ChangeWatchedEndpoints",
                actions=[
                    "sagemaker:UpdateEndpoint",
                    "sagemaker:UpdateEndpointWeightsAndCapacities",
                    "sagemaker:AddTags",
                ],
                resources=self.endpoint_arns,
            ),
            iam.PolicyStatement(
                sid="CreateChallengerResources",
                actions=["sagemaker:CreateEndpointConfig", "sagemaker:CreateModel", "sagemaker:AddTags"],
                resources=[*endpoint_configs, *models],
            ),
            iam.PolicyStatement(
                sid="PassModelRole",
                actions=list(p.PASS_MODEL_ROLE),
                resources=roles,
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                sid="ReadRegistry", actions=list(p.REGISTRY_READ), resources=[*self.group_arns, *self.package_arns]
            ),
            # Rejected or metadata only: approval is the state machine's (approver) role alone.
            iam.PolicyStatement(
                sid="RejectPackages",
                actions=list(p.REGISTRY_REJECT),
                resources=self.package_arns,
                conditions={"StringEqualsIfExists": {"sagemaker:ModelApprovalStatus": "Rejected"}},
            ),
            # GetMetricData accepts no resource scope.
            iam.PolicyStatement(sid="ReadMetrics", actions=list(p.METRICS_READ), resources=["*"]),
            # Steps verify their own execution; a start verifies the retraining run that registered the package.
            iam.PolicyStatement(
                sid="VerifyExecutions",
                actions=list(p.VERIFY_EXECUTION),
                resources=[self._executions_of(self.state_machine_arn)]
                + ([self._executions_of(self.retraining_machine.state_machine_arn)] if self.retraining_machine else []),
            ),
            # A package with no retraining run is trusted only when an allow-listed pipeline role created it;
            # GetRole on any other role is denied, which the check reads as "not allowed".
            iam.PolicyStatement(
                sid="VerifyCreatorRole",
                actions=list(p.VERIFY_CREATOR),
                resources=[
                    f"arn:{stack.partition}:iam::{stack.account}:role/{arn.split(':role/', 1)[1]}"
                    for arn in self.settings.guardrails.pipeline_role_arns
                ],
            ),
        ]
        if self.counts_table is not None:
            # The key's Decrypt comes with the findings channel's grant (the table is under the governance key).
            statements.append(
                iam.PolicyStatement(
                    sid="ReadRecommendationCounts", actions=list(COUNTS_READ), resources=[self.counts_table.table_arn]
                )
            )
        steps = GovernedFunction(
            self,
            "Steps",
            description="Challenger CTR gate steps: deploys, watches, rejects, promotes, reviews",
            handler=STEP_HANDLER,
            environment=self._environment(),
            statements=statements,
            log_retention_days=self.settings.log_retention_days,
            timeout=Duration.minutes(2),
        )
        self.channel.grant_publish(steps)
        g = self.settings.guardrails
        self.pipeline_role = self._name_role(steps.role, g.pipeline_role_arns, "Challenger", "pipeline_role_arns")
        return steps

    def _build_counts_table(self) -> dynamodb.Table:
        """The recommender's counts, one item per series ("<endpoint>/<variant>") and minute. Whatever their IAM
        policies allow, only the metric writers (and break-glass) write items, and only who deploys the product
        changes the table, its policy, TTL, backups, replicas or streaming. Same account only: the table is under
        the governance key, which no other account may use, and DynamoDB's block of public policies refuses an
        Allow for the writers' wildcard accounts."""
        g = self.settings.guardrails
        table = encrypted_table(
            self,
            "RecommendationCounts",
            self.channel.key,
            SERIES_KEY,
            ttl_attribute=EXPIRES_KEY,
            sort_key=dynamodb.Attribute(name=MINUTE_KEY, type=dynamodb.AttributeType.NUMBER),
            table_name=COUNTS_TABLE,
        )
        writers = list(dict.fromkeys(g.metric_writer_role_arns + g.break_glass_role_arns))
        table.add_to_resource_policy(
            deny_everyone(
                WRITERS_SID,
                (*TABLE_WRITES, *REPLICATED_WRITES),
                ["*"],  # in a table's own policy: this table and its indexes
                {"ArnNotLike": {"aws:PrincipalArn": writers}},
            )
        )
        keep_table_controls(table, list(dict.fromkeys(deploying_roles(self.settings))), EVERY_TABLE_CONTROL)
        self._check_policy_size(table)
        return table

    def _check_policy_size(self, table: dynamodb.Table) -> None:
        assert table.resource_policy is not None
        document = Stack.of(self).resolve(table.resource_policy.to_json())
        size = len(json.dumps(document, separators=(",", ":")).encode())
        if size > TABLE_POLICY_MAX_BYTES:
            raise SettingsError(
                f"cdk.json context '{CONTEXT_KEY}.guardrails': the {COUNTS_TABLE} table's policy would be {size:,} "
                f"bytes, over DynamoDB's {TABLE_POLICY_MAX_BYTES:,}: name fewer metric_writer_role_arns, "
                "deployer_role_arns, role_admin_arns or break_glass_role_arns (a wildcard pattern covers several)"
            )

    def _environment(self) -> dict[str, str]:
        return {
            **self.received_environment(),
            STATE_MACHINE_ARN: self.state_machine_arn,
            **(
                {RETRAINING_STATE_MACHINE_ARN: self.retraining_machine.state_machine_arn}
                if self.retraining_machine
                else {}
            ),
            env.IDEMPOTENCY_TABLE_NAME: self.idempotency_table.table_name,
            "POWERTOOLS_SERVICE_NAME": SERVICE,
        }

    def _build_events_function(self) -> GovernedFunction:
        """The rules' target: a registered package starts an execution, an Approved one is re-read. Nothing in its
        role changes an endpoint or a package, so whatever JSON a rule delivers, it can only start a run whose
        start step verifies the package's provenance, or re-read a package."""
        function = self.governed_function(
            "Events",
            description="Challenger events: a registered package starts an experiment; re-approvals are checked",
            environment=self._environment(),
            statements=[
                iam.PolicyStatement(
                    sid="StartExperiment", actions=list(p.START_EXPERIMENT), resources=[self.state_machine_arn]
                ),
                iam.PolicyStatement(
                    sid="ReadPackages", actions=["sagemaker:DescribeModelPackage"], resources=self.package_arns
                ),
                iam.PolicyStatement(
                    sid="IdempotencyRecords", actions=list(IDEMPOTENCY), resources=[self.idempotency_table.table_arn]
                ),
            ],
            timeout=Duration.minutes(1),
        )
        self.channel.grant_publish(function)
        return function

    def _executions_of(self, machine: str) -> str:
        return executions_of(Stack.of(self), machine)

    def _build_machine_role(self) -> iam.Role:
        role = iam.Role(
            self,
            "StateMachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="Challenger state machine: the approver role; approves a package the gate promotes",
        )
        g = self.settings.guardrails
        self.approver_role = self._name_role(role, g.approver_role_arns, "Challenger", "approver_role_arns")
        return role

    # -- the state machine
    def _step(self, name: str, step: str, result_path: str | None) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            name,
            lambda_function=self.steps.function,
            payload=sfn.TaskInput.from_object(
                {
                    "step": step,
                    "state": sfn.JsonPath.entire_payload,
                    "now": sfn.JsonPath.string_at("$$.State.EnteredTime"),
                    # From the context object: the step verifies it (DescribeExecution) before acting.
                    "execution": sfn.JsonPath.string_at("$$.Execution.Id"),
                }
            ),
            payload_response_only=True,
            result_path=result_path or sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(Duration.minutes(3)),
            retry_on_service_exceptions=False,
        )
        task.add_retry(errors=LAMBDA_RETRY_ERRORS, interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
        # The endpoint was mid-update (weights or config): try again shortly.
        task.add_retry(errors=["ClientError", "ValidationException"], interval=Duration.seconds(30), max_attempts=3)
        task.add_retry(errors=LOST_ANSWER_ERRORS, interval=Duration.seconds(30), max_attempts=3)
        return task

    def _failure(self, name: str) -> sfn.Pass:
        failed = sfn.Pass(self, f"{name}Failed", result=sfn.Result.from_string(name), result_path="$.failed_state")
        failed.next(self.report)
        return failed

    def _catch(self, state: sfn.TaskStateBase) -> None:
        state.add_catch(self._failure(state.node.id), errors=["States.ALL"], result_path="$.error")

    def _await_endpoint(self, prefix: str, then: sfn.IChainable) -> tasks.LambdaInvoke:
        """Poll the endpoint every minute until InService; Failed goes to ReportFailure."""
        status = self._step(f"{prefix}Status", "endpoint_status", "$.endpoint_status")
        self._catch(status)
        failed = sfn.Pass(
            self,
            f"{prefix}EndpointFailed",
            parameters={"Error": "EndpointFailed", "Cause.$": "$.endpoint_status.failure_reason"},
            result_path="$.error",
        )
        where = sfn.Pass(
            self, f"{prefix}Where", result=sfn.Result.from_string(f"{prefix}Status"), result_path="$.failed_state"
        )
        failed.next(where)
        where.next(self.report)
        wait = sfn.Wait(self, f"{prefix}Wait", time=sfn.WaitTime.duration(ENDPOINT_POLL)).next(status)
        status.next(
            sfn.Choice(self, f"{prefix}InService?")
            .when(sfn.Condition.string_equals("$.endpoint_status.status", "InService"), then)
            .when(sfn.Condition.string_equals("$.endpoint_status.status", "Failed"), failed)
            .otherwise(wait)
        )
        return status

    def _build_state_machine(self) -> sfn.StateMachine:
        c = self.settings.challenger
        self.report = self._step("ReportFailure", "report_failure", "$.failure")
        self.report.next(sfn.Fail(self, "ChallengerFailed", cause="See the CHALLENGER_FAILED finding"))

        start = sfn.Pass(
            self,
            "Start",
            parameters={"execution.$": "$$.Execution.Id", "input.$": "$", "started.$": "$$.State.EnteredTime"},
        )
        deploy = self._step("DeployChallenger", "start", "$.challenger")
        watch = self._step("Watch", "watch", "$.watch")
        interval = sfn.Wait(
            self, "WatchInterval", time=sfn.WaitTime.duration(Duration.minutes(c.watch_interval_minutes))
        ).next(watch)
        live = sfn.Pass(self, "ChallengerLive", input_path="$.endpoint_status.at", result_path="$.deployed_at").next(
            interval
        )

        # Ending: weight 0 already set; restore the production-only config, wait for it, then the outcome.
        outcome = (
            sfn.Choice(self, "Outcome")
            .when(sfn.Condition.is_present("$.not_approved"), sfn.Succeed(self, "PromotionNotApproved"))
            .when(sfn.Condition.string_equals("$.watch.decision", "REJECT"), sfn.Succeed(self, "ChallengerRejected"))
            .when(
                sfn.Condition.string_equals("$.watch.decision", "STOP_INVALID"),
                sfn.Succeed(self, "StoppedSampleRatioMismatch"),
            )
            .otherwise(sfn.Succeed(self, "EndedWithoutVerdict"))
        )
        restore = self._step("RestoreProduction", "restore", "$.restored")
        restore.next(self._await_endpoint("Restored", outcome))
        before_restore = self._await_endpoint("WeightsApplied", restore)
        reject = self._step("Reject", "reject", "$.rejected")
        reject.next(before_restore)
        end = self._step("EndExperiment", "end", "$.ended")
        end.next(
            sfn.Choice(self, "EndpointStillOurs?")
            .when(
                sfn.Condition.string_equals("$.watch.decision", "ABANDONED"),
                sfn.Fail(self, "ExperimentAbandoned", cause="The endpoint changed under the experiment"),
            )
            .otherwise(before_restore)
        )

        # Promotion: never approve a package Rejected meanwhile; the approval is this role's own SDK call.
        check = self._step("CheckPromotion", "check_promotion", "$.promotion_check")
        approve = tasks.CallAwsService(
            self,
            "ApprovePackage",
            service="sagemaker",
            action="updateModelPackage",
            iam_action="sagemaker:UpdateModelPackage",
            iam_resources=self.package_arns,
            parameters={
                "ModelPackageArn": sfn.JsonPath.string_at("$.challenger.model_package_arn"),
                "ModelApprovalStatus": "Approved",
                # With a human step: who approved, via what, when, then the gate's evidence.
                "ApprovalDescription": sfn.JsonPath.string_at(
                    "$.human_approval.approval_description"
                    if c.require_human_approval
                    else "$.watch.approval_description"
                ),
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        approve.add_retry(
            errors=["SageMaker.ThrottlingException", "SageMaker.AmazonSageMakerException", "States.Timeout"],
            interval=Duration.seconds(5),
            max_attempts=3,
            backoff_rate=2,
        )
        promote = self._step("Promote", "promote", "$.promotion")
        review = self._step("Review", "review", "$.review")
        review_wait = sfn.Wait(self, "WaitForReview", time=sfn.WaitTime.duration(Duration.days(c.review_after_days)))
        review_wait.next(review).next(sfn.Succeed(self, "PromotedAndReviewed"))
        promote.next(self._await_endpoint("Promoted", review_wait))
        approve.next(promote)
        check.next(
            sfn.Choice(self, "Approvable?")
            .when(sfn.Condition.boolean_equals("$.promotion_check.approvable", True), approve)
            .otherwise(sfn.Fail(self, "PackageRejectedMeanwhile", cause="The package was Rejected during the run"))
        )

        # With challenger.require_human_approval: a person decides first (the token stays in the approvals store),
        # and only a verified record (KMS MAC, configured approver) leads on to CheckPromotion and ApprovePackage.
        promoting: sfn.IChainable = check
        if c.require_human_approval:
            promoting = self._human_approval(check, before_restore)
        decide = (
            sfn.Choice(self, "Decision")
            .when(sfn.Condition.string_equals("$.watch.decision", "CONTINUE"), interval)
            # A data problem holds every verdict: keep looking (the watch step reported it) until max_minutes.
            .when(sfn.Condition.string_equals("$.watch.decision", "PAUSED"), interval)
            .when(sfn.Condition.string_equals("$.watch.decision", "REJECT"), reject)
            .when(sfn.Condition.string_equals("$.watch.decision", "PROMOTE"), promoting)
            .otherwise(end)
        )
        watch.next(decide)
        for state in (deploy, watch, reject, end, restore, check, approve, promote, review):
            self._catch(state)

        started = (
            sfn.Choice(self, "Started?")
            .when(sfn.Condition.boolean_equals("$.challenger.refused", True), sfn.Succeed(self, "NotStarted"))
            .otherwise(self._await_endpoint("Deployment", live))
        )
        definition = start.next(deploy).next(started)

        # Deployments and restores take minutes; the window, the review wait and a margin bound the run.
        timeout = Duration.minutes(
            c.max_minutes
            + 24 * 60 * c.review_after_days
            + 6 * 60
            + (60 * c.approval_expiry_hours if c.require_human_approval else 0)
        )
        return self.logged_state_machine(
            "ChallengerStateMachine",
            definition,
            state_machine_name=STATE_MACHINE_NAME,
            role=self.machine_role,
            timeout=timeout,
            # A task token passes through the human step's states: then execution data never goes to the logs.
            execution_data=not c.require_human_approval,
        )

    def _human_approval(self, check: sfn.IChainable, before_restore: sfn.IChainable) -> sfn.IChainable:
        """WaitForApproval (task token into the approvals store, the request id in a finding) -> VerifyApproval
        -> check. A denial, an expiry (States.Timeout) or a record that does not verify -> PromotionNotApproved
        (weight 0, finding, package untouched) -> the production-only config."""
        c = self.settings.challenger
        not_approved = self._step("NotApproved", "not_approved", "$.not_approved")
        self._catch(not_approved)
        not_approved.next(before_restore)
        wait = self.approval_wait(
            self.steps.function,
            "$.approval_answer",
            c.approval_expiry_hours,
            now=sfn.JsonPath.string_at("$$.State.EnteredTime"),
        )
        # Never States.Timeout here: that is the request expiring.
        wait.add_retry(errors=LAMBDA_RETRY_ERRORS[:-1], interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
        wait.add_catch(not_approved, errors=["States.ALL"], result_path="$.error")
        verify = self._step("VerifyApproval", "verify_approval", "$.human_approval")
        self._catch(verify)
        wait.next(verify)
        verify.next(
            sfn.Choice(self, "ApprovalVerified?")
            .when(sfn.Condition.boolean_equals("$.human_approval.approved", True), check)
            .otherwise(not_approved)
        )
        return wait

    # -- the dashboard the findings link to
    def _build_dashboard(self, index: int, endpoint: str) -> cloudwatch.Dashboard:
        m = self.settings.challenger.metrics
        ns, ed, vd = m.namespace, m.endpoint_dimension, m.variant_dimension

        def search(
            namespace: str, metric: str, stat: str, e_dim: str = ed, v_dim: str = vd
        ) -> cloudwatch.MathExpression:
            return cloudwatch.MathExpression(
                expression=(
                    f'SEARCH(\'{{{namespace},{e_dim},{v_dim}}} {e_dim}="{endpoint}" MetricName="{metric}"\', '
                    f"'{stat}', 300)"
                ),
                using_metrics={},
                label=metric,
                period=Duration.minutes(5),
            )

        def graph(title: str, *series: cloudwatch.IMetric) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=list(series), width=12, height=6)

        custom = [m.impressions, m.clicks] + ([m.cart_adds] if m.cart_adds else [])
        sagemaker = "AWS/SageMaker"
        status = f"`mlgov challenger status --endpoint {endpoint}`"
        if m.source == "table":
            # The gate reads the table: a graph of the namespace (which a log event in Embedded Metric Format writes)
            # would show counts it never believed.
            header = (
                f"## Challenger gate: {endpoint}\nThe recommendation counts the gate reads are in the table "
                f"{COUNTS_TABLE} (challenger.metrics.source table), not in CloudWatch: the per-variant counts, CTRs "
                f"and intervals: {status}. Below: SageMaker's guardrails."
            )
            counts: list[cloudwatch.IWidget] = []
        else:
            header = (
                f"## Challenger gate: {endpoint}\nPer-variant recommendation metrics ({ns}) and SageMaker "
                f"guardrails. The decision with its intervals: {status}."
            )
            counts = [
                graph("Impressions, clicks, cart adds per variant", *[search(ns, x, "Sum") for x in custom]),
                graph(
                    "JSON failures and language mismatches per variant",
                    search(ns, m.json_failures, "Sum"),
                    search(ns, m.language_mismatches, "Sum"),
                ),
            ]
        dashboard = cloudwatch.Dashboard(self, f"Dashboard{index}", dashboard_name=dashboard_name(endpoint))
        dashboard.add_widgets(
            cloudwatch.TextWidget(markdown=header, width=24, height=2),
            *counts,
            graph(
                "Invocation errors per variant",
                search(sagemaker, "Invocation4XXErrors", "Sum", "EndpointName", "VariantName"),
                search(sagemaker, "Invocation5XXErrors", "Sum", "EndpointName", "VariantName"),
            ),
            graph(
                "Model latency and invocations per variant",
                search(sagemaker, "ModelLatency", "Average", "EndpointName", "VariantName"),
                search(sagemaker, "Invocations", "Sum", "EndpointName", "VariantName"),
            ),
            graph(
                "Rejections by reason",
                cloudwatch.MathExpression(
                    expression="SEARCH('{MLGovernance,reason,service} MetricName=\"ModelRejectionEvent\"', 'Sum', 300)",
                    using_metrics={},
                    label="ModelRejectionEvent",
                    period=Duration.minutes(5),
                ),
            ),
        )
        return dashboard
