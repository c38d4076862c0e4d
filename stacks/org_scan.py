"""The weekly org-wide scan: schedule -> state machine: plan (ACTIVE accounts x regions, written to S3) ->
Distributed Map (ItemReader, ItemBatcher, MaxConcurrency, ToleratedFailurePercentage, ResultWriter) ->
a worker per batch that assumes the member role and runs every registered per-endpoint check ->
aggregate (findings stored and published, resolutions, report, one Slack summary)."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Duration, RemovalPolicy, Stack, Tags
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from mlgov.guardrails import PRODUCT_KEY_TAG
from mlgov.settings import SettingsError, member_role_name
from mlgov_runtime.adapters.scan_store import MAP_RESULTS_PREFIX, PREFIX
from mlgov_runtime.core.env import SettingsError as FunctionSettingsError
from mlgov_runtime.lineage_audit.settings import CHALLENGER_MACHINE_ARN
from mlgov_runtime.org_scan import settings as e
from stacks import constants as c
from stacks.building_blocks import (
    BUCKET_CONTROLS,
    GovernedFunction,
    access_log_bucket,
    alarm_at_one,
    deny_everyone,
    encrypted_queue,
)
from stacks.capability import LAMBDA_SERVICE_ERRORS, CapabilityConstruct
from stacks.challenger import executions_of, machine_arn
from stacks.lineage_audit import LineageAudit, pin_read_statements
from stacks.member_role_stack import member_read_statements
from stacks.permissions import org_scan as p


class OrgScan(CapabilityConstruct):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.role_name = member_role_name(self.settings)
        lineage = cast(LineageAudit, kwargs["peers"]["lineage_audit"])
        self.serving_index = lineage.serving_index
        self.bucket = self._build_bucket()
        self.mac_key = kms.Key(
            self,
            "ResultMacKey",
            description="mlgov org scan: HMAC over each run's targets and results (only the scan's roles sign)",
            key_spec=kms.KeySpec.HMAC_256,
            key_usage=kms.KeyUsage.GENERATE_VERIFY_MAC,
            removal_policy=RemovalPolicy.RETAIN,
        )
        Tags.of(self.mac_key).add(*PRODUCT_KEY_TAG)  # administered only by the deployer (the guardrails)
        self.worker = self._build_worker()
        lineage.seal_index([self.worker.role.role_arn])  # the two roles that keep the index are built
        self.coordinator = self._build_coordinator()
        self.state_machine = self._build_state_machine()
        self._seal_results()
        self.dlq = encrypted_queue(self, "ScheduleDeadLetterQueue", self.channel.key)
        self.dead_letter_queues.append(self.dlq)
        self.rule = events.Rule(
            self,
            "WeeklyOrgScan",
            description="Weekly scan of every endpoint in every account and region of the organization",
            schedule=events.Schedule.expression(self.settings.weekly_scan_schedule),
            targets=[
                targets.SfnStateMachine(
                    self.state_machine,
                    dead_letter_queue=self.dlq,
                    retry_attempts=8,
                    max_event_age=Duration.hours(6),
                )
            ],
        )
        five = Duration.minutes(5)
        topic = self.channel.alarm_topic
        self.alarms = [
            alarm_at_one(
                self,
                "ScanFailedAlarm",
                "The weekly org-wide scan failed or too many account/regions failed; its SCAN_FAILED finding or the "
                "report says which",
                self.state_machine.metric_failed(period=five),
                topic,
            ),
            alarm_at_one(
                self,
                "ScanScheduleDeadLetterAlarm",
                "The weekly scan could not be started after all retries",
                self.dlq.metric_approximate_number_of_messages_visible(period=five),
                topic,
            ),
        ]
        self.nag_suppressions += [(self.state_machine, ["AwsSolutions-IAM5"])]

    # -- storage
    def _build_bucket(self) -> s3.Bucket:
        access_logs = access_log_bucket(self, "ReportAccessLogs")
        bucket = s3.Bucket(
            self,
            "ReportBucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.channel.key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="org-scan/",
            removal_policy=RemovalPolicy.RETAIN,
            # A changed result keeps the genuine version beside it, for the on-call engineer to compare.
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    prefix=f"{PREFIX}/runs/",
                    expiration=Duration.days(self.settings.org_scan.report_retention_days),
                    noncurrent_version_expiration=Duration.days(30),
                ),
                s3.LifecycleRule(
                    prefix=f"{MAP_RESULTS_PREFIX}/",
                    expiration=Duration.days(30),
                    noncurrent_version_expiration=Duration.days(30),
                ),
            ],
        )
        # What keeps a result genuine besides its MAC (the write seals below, versioning, lifecycle expiry) changes
        # only through a deploy. S3 still lets the account's root user rewrite the policy (lockout recovery).
        if deployers := list(self.settings.guardrails.deployer_role_arns):
            bucket.add_to_resource_policy(
                deny_everyone(
                    "ReportControlsOnlyByDeploy",
                    BUCKET_CONTROLS,
                    [bucket.bucket_arn],
                    {"ArnNotLike": {"aws:PrincipalArn": deployers}},
                )
            )
        return bucket

    def _seal_results(self) -> None:
        """Whatever their IAM policies allow: only the worker writes results, only the scan's own roles
        (coordinator, worker, the state machine's ResultWriter) write anything else of a run, and only the
        worker and the coordinator may sign with the HMAC key."""
        writes = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"]
        worker, coordinator = self.worker.role.role_arn, self.coordinator.role.role_arn
        machine = self.state_machine.role.role_arn

        def only(*principals: str) -> dict[str, Any]:
            return {"ArnNotEquals": {"aws:PrincipalArn": list(principals)}}

        results = self.bucket.arn_for_objects(f"{PREFIX}/runs/*/results/*")
        runs = self.bucket.arn_for_objects(f"{PREFIX}/*")
        self.bucket.add_to_resource_policy(deny_everyone("OnlyTheWorkerWritesResults", writes, [results], only(worker)))
        self.bucket.add_to_resource_policy(
            deny_everyone("OnlyTheScanWritesRuns", writes, [runs], only(worker, coordinator, machine))
        )
        self.mac_key.add_to_resource_policy(deny_everyone("OnlyTheScanSigns", p.SIGN, ["*"], only(worker, coordinator)))

    def _key_use(self) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid="UseReportKey", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[self.channel.key.key_arn]
        )

    # -- functions
    def _build_worker(self) -> GovernedFunction:
        stack = Stack.of(self)
        statements = [
            iam.PolicyStatement(
                sid="AssumeMemberRole",
                actions=list(p.ASSUME_MEMBER),
                resources=[f"arn:{stack.partition}:iam::*:role/{self.role_name}"],
                # The plan lists only this organization's accounts; the key keeps it so whatever the input says.
                conditions={"StringEquals": {"aws:ResourceOrgID": org}}
                if (org := self.settings.organization_id)
                else None,
            ),
            iam.PolicyStatement(
                sid="WriteResults",
                actions=list(p.REPORT_WRITE),
                resources=[self.bucket.arn_for_objects(f"{PREFIX}/runs/*/results/*")],
            ),
            self._key_use(),
            iam.PolicyStatement(sid="SignResults", actions=list(p.SIGN), resources=[self.mac_key.key_arn]),
            # Its own account is read directly, with the same reads the member role grants elsewhere.
            *member_read_statements(p.MEMBER_READ, stack.account, stack.partition),
            *pin_read_statements(stack.partition),
            iam.PolicyStatement(
                sid="KeepServingIndex", actions=list(p.INDEX_WRITE), resources=[self.serving_index.table_arn]
            ),
            # Is a challenger-shaped variant here a RUNNING experiment's? The challenger machine and its executions.
            iam.PolicyStatement(
                sid="ListChallengerRuns", actions=["states:ListExecutions"], resources=[machine_arn(stack)]
            ),
            iam.PolicyStatement(
                sid="ReadChallengerRuns",
                actions=["states:DescribeExecution"],
                resources=[executions_of(stack, machine_arn(stack))],
            ),
        ]
        if self.settings.experiment_exemptions.organizational_unit_ids:
            statements.append(iam.PolicyStatement(sid="ResolveAccountOus", actions=list(p.OU_LOOKUP), resources=["*"]))
        worker = GovernedFunction(
            self,
            "Worker",
            description="Org-wide scan worker: every registered endpoint check in one batch of account/regions",
            handler=self.capability.handler.rsplit(".", 1)[0] + ".scan",
            environment={
                e.REPORT_BUCKET: self.bucket.bucket_name,
                e.MEMBER_ROLE_NAME: self.role_name,
                **self.received_environment(),
                e.RESULT_MAC_KEY_ID: self.mac_key.key_arn,
                "SERVING_INDEX_TABLE_NAME": self.serving_index.table_name,
                "POWERTOOLS_SERVICE_NAME": "org-scan",
                CHALLENGER_MACHINE_ARN: machine_arn(stack),
            },
            statements=statements,
            log_retention_days=self.settings.log_retention_days,
            timeout=Duration.minutes(15),
            memory_size=1024,
            role_name=f"{c.ORG_SCAN_WORKER_ROLE_PREFIX}-{stack.region}",
            role_path=self.settings.guardrails.protected_role_path,
        )
        return worker

    def received_environment(self) -> dict[str, str]:
        """The scan's settings variable, refused at synth when it would not fit a Lambda environment."""
        try:
            return e.environment(self.settings)
        except FunctionSettingsError as exc:
            raise SettingsError(str(exc)) from None

    def _build_coordinator(self) -> GovernedFunction:
        coordinator = GovernedFunction(
            self,
            "Coordinator",
            description="Org-wide scan: plans the accounts x regions, aggregates findings and writes the report",
            handler=self.capability.handler,
            environment={
                e.REPORT_BUCKET: self.bucket.bucket_name,
                e.MEMBER_ROLE_NAME: self.role_name,
                **self.received_environment(),
                e.RESULT_MAC_KEY_ID: self.mac_key.key_arn,
                "POWERTOOLS_SERVICE_NAME": "org-scan",
            },
            statements=[
                # The organization's accounts: management account or delegated administrator; no resource scope.
                iam.PolicyStatement(sid="ListOrganization", actions=list(p.ORGANIZATION_READ), resources=["*"]),
                iam.PolicyStatement(
                    sid="ReadWriteRuns",
                    actions=["s3:GetObject", *p.REPORT_WRITE],
                    resources=[self.bucket.arn_for_objects(f"{PREFIX}/*")],
                ),
                iam.PolicyStatement(sid="ListRuns", actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn]),
                iam.PolicyStatement(
                    sid="OpenFindings", actions=list(p.FINDINGS_OPEN), resources=[self.channel.table.table_arn]
                ),
                # The report's hosting cost by purpose: one Cost Explorer request a run; no resource scope.
                iam.PolicyStatement(sid="HostingCostByPurpose", actions=list(p.COST_USAGE), resources=["*"]),
                self._key_use(),
                iam.PolicyStatement(
                    sid="SignPlanVerifyResults", actions=[*p.SIGN, *p.VERIFY], resources=[self.mac_key.key_arn]
                ),
            ],
            log_retention_days=self.settings.log_retention_days,
            timeout=Duration.minutes(15),
            memory_size=1024,
        )
        self.channel.grant_publish(coordinator)
        return coordinator

    # -- the state machine
    def _invoke(
        self, name: str, fn: GovernedFunction, payload: sfn.TaskInput | None, result_path: str
    ) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            name,
            lambda_function=fn.function,
            payload=payload,
            payload_response_only=True,
            result_path=result_path,
            task_timeout=sfn.Timeout.duration(Duration.minutes(15)),
            retry_on_service_exceptions=False,
        )
        task.add_retry(errors=LAMBDA_SERVICE_ERRORS, interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
        return task

    def _report_failure(self, stage: str) -> tasks.LambdaInvoke:
        payload = sfn.TaskInput.from_object(
            {"step": "report_failure", "stage": stage, "state": sfn.JsonPath.entire_payload}
        )
        return self._invoke(f"Report{stage}Failure", self.coordinator, payload, "$.failure")

    def _build_state_machine(self) -> sfn.StateMachine:
        o = self.settings.org_scan
        failed = sfn.Fail(self, "ScanFailed", error="ScanFailed", cause="A SCAN_FAILED finding names the stage")
        plan = self._invoke(
            "PlanScan",
            self.coordinator,
            sfn.TaskInput.from_object(
                {
                    "step": "plan",
                    "state": {
                        "run_id": sfn.JsonPath.execution_name,
                        "started_at": sfn.JsonPath.execution_start_time,
                        "state_machine": sfn.JsonPath.state_machine_id,
                    },
                }
            ),
            "$.plan",
        )
        plan.add_catch(self._report_failure("Plan").next(failed), errors=["States.ALL"], result_path="$.error")
        # No payload: the Lambda gets the child execution's input, {"Items": [...], "BatchInput": {...}}.
        worker = self._invoke("ScanAccountRegions", self.worker, None, "$")
        scan = sfn.DistributedMap(
            self,
            "ScanAccounts",
            item_reader=sfn.S3JsonItemReader(bucket=self.bucket, key=sfn.JsonPath.string_at("$.plan.targets_key")),
            item_batcher=sfn.ItemBatcher(
                max_items_per_batch=o.targets_per_batch,
                batch_input={"run_id.$": "$.plan.run_id"},
            ),
            max_concurrency=o.max_concurrency,
            tolerated_failure_percentage=o.tolerated_failure_percentage,
            result_writer_v2=sfn.ResultWriterV2(bucket=self.bucket, prefix=MAP_RESULTS_PREFIX),
            map_execution_type=sfn.StateMachineType.STANDARD,
            result_path="$.map",
            label="ScanAccounts",
        )
        scan.item_processor(worker)
        aggregate = self._invoke(
            "Aggregate",
            self.coordinator,
            sfn.TaskInput.from_object({"step": "aggregate", "state": sfn.JsonPath.entire_payload}),
            "$.report",
        )
        aggregate.add_catch(
            self._report_failure("Aggregate").next(failed), errors=["States.ALL"], result_path="$.error"
        )
        # Too many failed workers fail the Map: the report is still written (their rows ERROR), then the run fails.
        scan.add_catch(aggregate, errors=["States.ALL"], result_path="$.map_error")
        outcome = (
            sfn.Choice(self, "AllWorkersRan?")
            .when(
                sfn.Condition.is_present("$.map_error"),
                sfn.Fail(self, "ScanIncomplete", error="ScanIncomplete", cause="More workers failed than tolerated"),
            )
            .otherwise(sfn.Succeed(self, "ScanComplete"))
        )
        definition = plan.next(scan).next(aggregate).next(outcome)
        return self.logged_state_machine(
            "OrgScanStateMachine", definition, timeout=Duration.hours(12), execution_data=True
        )

    def metric(self, name: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=c.METRIC_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": "org-scan"},
            statistic="Sum",
            period=Duration.days(1),
        )
