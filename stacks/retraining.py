"""Spec scenarios 2 and 3: the LoRA retraining state machine (data prep -> data-quality gate ->
SageMaker training job (.sync) -> offline gate -> registration) and its snapshot bucket."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, cast

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from mlgov_runtime.lineage_audit.pins import APPROVED_PREFIX
from stacks.building_blocks import BUCKET_CONTROLS, GovernedFunction, access_log_bucket, deny_everyone, ended_badly
from stacks.capability import ALARM_PERIOD, LAMBDA_SERVICE_ERRORS, CapabilityConstruct
from stacks.permissions import retraining as p

ROOT = Path(__file__).resolve().parent.parent
TRAINING_DIR = ROOT / "training"
TRAINING_PROGRAM = "train.py"


def training_sourcedir() -> Path:
    """training/ as the gzipped tar SageMaker's training toolkit opens (a directory asset is a zip).
    Built at synth by the training package's own stdlib-only builder; same code, same bytes."""
    builder = TRAINING_DIR / "mlgov_training" / "sourcedir.py"
    spec = importlib.util.spec_from_file_location("mlgov_training_sourcedir", builder)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built: Path = module.build_sourcedir(ROOT / "build" / "training" / "sourcedir.tar.gz", TRAINING_DIR)
    return built


# Where the training job writes (its model, its evaluation, its spot checkpoints) and what it trains on.
TRAINING_PREFIXES = ("training-output", "evaluations", "checkpoints")
SNAPSHOT_PREFIX = "catalog-snapshots"

LAMBDA_RETRY_ERRORS = [*LAMBDA_SERVICE_ERRORS, "States.Timeout"]
# What the run keeps of its execution input (the weekly check's; an operator's rerun gives `trigger`).
RUN_INPUT_FIELDS = ("trigger", "coverage_gap_pct", "finding_id")
# Each Lambda step: the first try and 3 retries, 5 s apart, doubling (_step).
LAMBDA_ATTEMPTS, LAMBDA_RETRY_WAITS = 4, 5 + 10 + 20
# TrainLoRA: the first try and 2 retries, 60 s apart, doubling.
TRAINING_ATTEMPTS, TRAINING_RETRY_WAITS = 3, 60 + 120


def step_bound(timeout_seconds: int, attempts: int, retry_waits: int) -> int:
    """The longest a state with this timeout and retry policy can take."""
    return timeout_seconds * attempts + retry_waits


class Retraining(CapabilityConstruct):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        settings, channel = self.settings, self.channel
        r = settings.retraining
        self.step_timeouts: list[int] = []  # each Lambda step's, for the state machine's own timeout
        stack = Stack.of(self)
        self.catalog = dynamodb.Table.from_table_name(self, "Catalog", r.catalog_table_name)
        self.access_logs = access_log_bucket(self, "SnapshotAccessLogs")
        self.bucket = s3.Bucket(
            self,
            "SnapshotBucket",
            versioned=True,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=channel.key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="snapshots/",
            removal_policy=RemovalPolicy.RETAIN,
        )
        group = r_group = settings.retraining_group
        sm = f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}"
        self.group_resources = [f"{sm}:model-package-group/{r_group.lower()}", f"{sm}:model-package/{group.lower()}/*"]
        self.training_code = s3_assets.Asset(self, "TrainingCode", path=str(training_sourcedir()))
        self.training_role = self._build_training_role()
        self.pipeline = self._build_pipeline_function()
        self.state_machine = self._build_state_machine()
        self._protect_approved_models()
        self._keep_pipeline_prefixes()
        self.alarms = [
            self.alarm(
                "RetrainingFailedAlarm",
                "A retraining run failed, was stopped or timed out; a failed run's finding says which stage, a "
                "stopped or timed-out one has none (aws stepfunctions list-executions --status-filter ABORTED or "
                "TIMED_OUT on the retraining state machine)",
                ended_badly(self.state_machine, ALARM_PERIOD, "Retraining executions failed, aborted or timed out"),
            ),
        ]

        self.nag_suppressions += [
            (self.training_role, ["AwsSolutions-IAM5"]),
            (self.training_policy, ["AwsSolutions-IAM5"]),
            (cast(Construct, self.machine_role), ["AwsSolutions-IAM5"]),
        ]

    def _protect_approved_models(self) -> None:
        """Approved artifacts are write-once: no principal (the training role, this app, an admin) may replace
        an object under the prefix (a write must carry If-None-Match: *, which fails on an existing key) or
        delete any version of one. Registration copies the training output there and pins the copy."""
        approved = self.bucket.arn_for_objects(f"{APPROVED_PREFIX}/*")
        deployers = list(self.settings.guardrails.deployer_role_arns)
        for statement in (
            deny_everyone(
                "ApprovedModelsWriteOnce", ["s3:PutObject"], [approved], {"Null": {"s3:if-none-match": "true"}}
            ),
            deny_everyone("ApprovedModelsNeverDeleted", ["s3:DeleteObject", "s3:DeleteObjectVersion"], [approved]),
            # A key created ahead of a run (its copy name is known once the execution is listed) would make its
            # registration fail with 412 for good: only the steps and the operators' `mlgov register
            # --write-once-bucket` pipelines create keys there.
            deny_everyone(
                "OnlyThePipelineCreatesApprovedModels",
                ["s3:PutObject"],
                [approved],
                {
                    "ArnNotLike": {
                        "aws:PrincipalArn": [
                            self.pipeline.role.role_arn,
                            *self.settings.guardrails.pipeline_role_arns,
                        ]
                    }
                },
            ),
            # A replication rule elsewhere with this bucket as destination writes as S3's replication role, with no
            # If-None-Match: a replicated object or delete marker would replace an approved artifact.
            deny_everyone("ApprovedModelsNotReplicatedInto", ["s3:ReplicateObject", "s3:ReplicateDelete"], [approved]),
            # What keeps the prefix write-once (this policy, versioning, lifecycle expiry, Object Lock) changes only
            # through a deploy. S3 still lets the account's root user rewrite the policy (lockout recovery).
            deny_everyone(
                "WriteOnceControlsOnlyByDeploy",
                BUCKET_CONTROLS,
                [self.bucket.bucket_arn],
                {"ArnNotLike": {"aws:PrincipalArn": deployers}},
            ),
        ):
            self.bucket.add_to_resource_policy(statement)

    def _keep_pipeline_prefixes(self) -> None:
        """What a run registers is what lies under these prefixes when its steps read them: whatever their IAM
        policies allow, only the training job (its role) writes its outputs, evaluation and checkpoints, and
        only the pipeline steps write the catalog snapshots the job trains on. Reading stays IAM's to grant."""
        writes = [
            "s3:PutObject",
            "s3:PutObjectAcl",
            "s3:DeleteObject",
            "s3:DeleteObjectVersion",
            "s3:ReplicateObject",
            "s3:ReplicateDelete",
        ]
        for sid, prefixes, role in (
            ("OnlyTheTrainingJobWritesItsOutputs", TRAINING_PREFIXES, self.training_role),
            ("OnlyThePipelineWritesSnapshots", (SNAPSHOT_PREFIX,), self.pipeline.role),
        ):
            self.bucket.add_to_resource_policy(
                deny_everyone(
                    sid,
                    writes,
                    [self.bucket.arn_for_objects(f"{prefix}/*") for prefix in prefixes],
                    {"ArnNotEquals": {"aws:PrincipalArn": [role.role_arn]}},
                )
            )

    # -- roles and functions
    def catalog_and_registry_statements(self) -> list[iam.PolicyStatement]:
        """Reading the catalog and the watched group's packages (the pipeline steps and the coverage check)."""
        return [
            iam.PolicyStatement(sid="ReadCatalog", actions=list(p.CATALOG_READ), resources=[self.catalog.table_arn]),
            iam.PolicyStatement(sid="ReadRegistry", actions=list(p.REGISTRY_READ), resources=self.group_resources),
        ]

    def _build_training_role(self) -> iam.Role:
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "TrainingRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="LoRA training job: reads its snapshot, writes its outputs; passes no role",
        )
        image_account = self.settings.retraining.training_image.split(".", 1)[0]
        policy = iam.Policy(
            self,
            "TrainingPolicy",
            statements=[
                iam.PolicyStatement(
                    sid="ReadSnapshots",
                    actions=["s3:GetObject", "s3:ListBucket"],
                    resources=[self.bucket.bucket_arn, self.bucket.arn_for_objects(f"{SNAPSHOT_PREFIX}/*")],
                ),
                iam.PolicyStatement(
                    sid="ReadTrainingCode",
                    actions=["s3:GetObject"],
                    resources=[self.training_code.bucket.arn_for_objects(self.training_code.s3_object_key)],
                ),
                iam.PolicyStatement(
                    sid="WriteOutputs",
                    actions=["s3:PutObject", "s3:GetObject"],
                    resources=[self.bucket.arn_for_objects(f"{prefix}/*") for prefix in TRAINING_PREFIXES],
                ),
                iam.PolicyStatement(
                    sid="UseKey",
                    actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant"],
                    resources=[self.channel.key.key_arn],
                ),
                iam.PolicyStatement(
                    sid="PullTrainingImage",
                    actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                    resources=[f"arn:{stack.partition}:ecr:*:{image_account}:repository/*"],
                ),
                iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
                iam.PolicyStatement(
                    sid="TrainingLogs",
                    actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[
                        f"arn:{stack.partition}:logs:{stack.region}:"
                        f"{stack.account}:log-group:/aws/sagemaker/TrainingJobs:*"
                    ],
                ),
                iam.PolicyStatement(
                    sid="TrainingMetrics",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}},
                ),
            ],
        )
        policy.attach_to_role(role)
        self.training_policy = policy
        return role

    def _build_pipeline_function(self) -> GovernedFunction:
        r = self.settings.retraining
        image_account = r.inference_image.split(".", 1)[0]
        steps = self.governed_function(
            "PipelineSteps",
            description="Retraining steps: data prep, data-quality gate, offline gate, registration, failures",
            environment={
                **self.received_environment(),
                "SNAPSHOT_BUCKET": self.bucket.bucket_name,
                "POWERTOOLS_SERVICE_NAME": "retraining",
            },
            statements=[
                *self.catalog_and_registry_statements(),
                iam.PolicyStatement(
                    sid="Snapshots",
                    actions=[*p.SNAPSHOT_READ, *p.SNAPSHOT_WRITE],
                    resources=[self.bucket.arn_for_objects("catalog-snapshots/*")],
                ),
                iam.PolicyStatement(
                    sid="Evaluations",
                    actions=list(p.SNAPSHOT_READ),
                    resources=[self.bucket.arn_for_objects("evaluations/*")],
                ),
                iam.PolicyStatement(
                    sid="RegisterPackage", actions=list(p.REGISTRY_REGISTER), resources=self.group_resources
                ),
                # Registration: copy the job's output to the write-once prefix, head the copy for its pins.
                iam.PolicyStatement(
                    sid="ReadTrainingOutput",
                    actions=["s3:GetObject"],
                    resources=[self.bucket.arn_for_objects("training-output/*")],
                ),
                iam.PolicyStatement(
                    sid="CopyToApprovedModels",
                    actions=list(p.ARTIFACT_COPY),
                    resources=[self.bucket.arn_for_objects(f"{APPROVED_PREFIX}/*")],
                ),
                iam.PolicyStatement(
                    sid="ResolveInferenceImage",
                    actions=list(p.IMAGE_RESOLVE),
                    resources=[f"arn:{Stack.of(self).partition}:ecr:*:{image_account}:repository/*"],
                ),
            ],
            timeout=Duration.minutes(10),
            memory_size=1024,
        )
        self.channel.grant_publish(steps)
        return steps

    # -- the state machine
    def _step(self, name: str, step: str, result_path: str, timeout: Duration) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            name,
            lambda_function=self.pipeline.function,
            payload=sfn.TaskInput.from_object({"step": step, "state": sfn.JsonPath.entire_payload}),
            payload_response_only=True,
            result_path=result_path,
            task_timeout=sfn.Timeout.duration(timeout),
            retry_on_service_exceptions=False,
        )
        self.step_timeouts.append(int(timeout.to_seconds()))
        task.add_retry(errors=LAMBDA_RETRY_ERRORS, interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
        return task

    def _training_state(self) -> sfn.CustomState:
        r = self.settings.retraining
        lora = r.lora
        bucket = self.bucket.bucket_name
        hyperparameters: dict[str, Any] = {
            # The SageMaker training toolkit fetches this archive, installs its requirements.txt, runs the program.
            "sagemaker_program": TRAINING_PROGRAM,
            "sagemaker_submit_directory": self.training_code.s3_object_url,
            "sagemaker_region": Stack.of(self).region,
            "base_model": lora.base_model,
            "lora_r": str(lora.r),
            "lora_alpha": str(lora.alpha),
            "lora_dropout": str(lora.dropout),
            "target_modules": ",".join(lora.target_modules),
            "epochs": str(lora.epochs),
            "learning_rate": str(lora.learning_rate),
            "evaluation_s3_uri.$": f"States.Format('s3://{bucket}/evaluations/lora-{{}}/evaluation.json', "
            "$$.Execution.Name)",
        }
        stopping: dict[str, Any] = {"MaxRuntimeInSeconds": r.max_runtime_hours * 3600}
        parameters: dict[str, Any] = {
            "TrainingJobName.$": "States.Format('lora-{}', $$.Execution.Name)",
            "AlgorithmSpecification": {"TrainingImage": r.training_image, "TrainingInputMode": "File"},
            "RoleArn": self.training_role.role_arn,
            "HyperParameters": hyperparameters,
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "ContentType": "application/jsonlines",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri.$": "$.prepared.snapshot_prefix",
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                }
            ],
            "OutputDataConfig": {
                "S3OutputPath": f"s3://{bucket}/training-output/",
                "KmsKeyId": self.channel.key.key_arn,
            },
            "ResourceConfig": {
                "InstanceCount": r.instance_count,
                "InstanceType": r.instance_type,
                "VolumeSizeInGB": r.volume_size_gb,
                "VolumeKmsKeyId": self.channel.key.key_arn,
            },
            "StoppingCondition": stopping,
            "Tags": [{"Key": "mlgov:pipeline", "Value": "retraining"}],
        }
        if r.managed_spot:
            stopping["MaxWaitTimeInSeconds"] = r.max_wait_hours * 3600
            parameters["EnableManagedSpotTraining"] = True
            parameters["CheckpointConfig"] = {
                "S3Uri.$": f"States.Format('s3://{bucket}/checkpoints/lora-{{}}/', $$.Execution.Name)"
            }
        wait_hours = r.max_wait_hours if r.managed_spot else r.max_runtime_hours
        self.training_timeout_seconds = (wait_hours + 1) * 3600
        state = sfn.CustomState(
            self,
            "TrainLoRA",
            state_json={
                "Type": "Task",
                "Resource": f"arn:{Stack.of(self).partition}:states:::sagemaker:createTrainingJob.sync",
                "Parameters": parameters,
                "ResultSelector": {
                    "job_name.$": "$.TrainingJobName",
                    "job_arn.$": "$.TrainingJobArn",
                    "model_artifacts.$": "$.ModelArtifacts.S3ModelArtifacts",
                },
                "ResultPath": "$.training",
                "TimeoutSeconds": self.training_timeout_seconds,
            },
        )
        state.add_retry(
            errors=["SageMaker.AmazonSageMakerException", "ThrottlingException"],
            interval=Duration.seconds(60),
            max_attempts=2,
            backoff_rate=2,
        )
        return state

    def _keep_known_input(
        self, leaves: list[sfn.Pass], fields: tuple[str, ...] = RUN_INPUT_FIELDS, kept: tuple[str, ...] = ()
    ) -> sfn.State:
        """The run's state starts as its execution id and the input fields the weekly check gives (under `input`),
        nothing else: an input near StartExecution's 256 KB would otherwise make the state too large once a step
        adds its result (States.DataLimitExceeded, which no Catch takes). A path to a missing field fails a Pass
        state's Parameters, so one Choice per field asks whether it is there; each leaf copies what is."""
        if not fields:
            leaf = sfn.Pass(
                self,
                "KeepInput_" + ("_".join(kept) or "none"),
                parameters={"execution.$": "$$.Execution.Id", "input": {f"{f}.$": f"$.{f}" for f in kept}},
            )
            leaves.append(leaf)
            return leaf
        field, rest = fields[0], fields[1:]
        name = "Start" if fields == RUN_INPUT_FIELDS else f"Has_{field}_given_" + ("_".join(kept) or "none")
        return (
            sfn.Choice(self, name)
            .when(sfn.Condition.is_present(f"$.{field}"), self._keep_known_input(leaves, rest, (*kept, field)))
            .otherwise(self._keep_known_input(leaves, rest, kept))
        )

    def _build_state_machine(self) -> sfn.StateMachine:
        report = self._step("ReportFailure", "report_failure", "$.failure", Duration.minutes(2))
        failed = sfn.Fail(self, "RetrainingFailed", cause="A gate or step failed; see the RETRAINING_FAILED finding")
        report.next(failed)

        def failure_path(stage: str) -> sfn.Chain:
            return sfn.Pass(
                self, f"{stage}_failed", result=sfn.Result.from_string(stage), result_path="$.failed_stage"
            ).next(report)

        leaves: list[sfn.Pass] = []
        start = self._keep_known_input(leaves)
        prepare = self._step("PrepareTrainingData", "prepare", "$.prepared", Duration.minutes(10))
        quality = self._step("DataQualityGate", "quality_gate", "$.quality", Duration.minutes(10))
        train = self._training_state()
        offline = self._step("OfflineGate", "offline_gate", "$.offline", Duration.minutes(5))
        register = self._step("RegisterModelPackage", "register", "$.registered", Duration.minutes(2))
        emit = tasks.EventBridgePutEvents(
            self,
            "AnnounceCandidate",
            entries=[
                tasks.EventBridgePutEventsEntry(
                    source="mlgov.retraining",
                    detail_type="Model Package Registered",
                    detail=sfn.TaskInput.from_object(
                        {
                            "model_package_arn": sfn.JsonPath.string_at("$.registered.model_package_arn"),
                            "catalog_snapshot_date": sfn.JsonPath.string_at("$.registered.catalog_snapshot_date"),
                            "execution": sfn.JsonPath.string_at("$.execution"),
                        }
                    ),
                )
            ],
            result_path="$.announced",
            task_timeout=sfn.Timeout.duration(Duration.minutes(1)),
        )
        emit.add_retry(errors=["States.ALL"], interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
        # The run outlives every state on its longest path (retries included), so it never times out while one of
        # them may still end, and every way it ends is a success, a RETRAINING_FAILED finding or an alarm.
        run_seconds = (
            step_bound(self.training_timeout_seconds, TRAINING_ATTEMPTS, TRAINING_RETRY_WAITS)
            + sum(step_bound(s, LAMBDA_ATTEMPTS, LAMBDA_RETRY_WAITS) for s in self.step_timeouts)
            + step_bound(60, LAMBDA_ATTEMPTS, LAMBDA_RETRY_WAITS)  # AnnounceCandidate
            + 3600  # Step Functions' own scheduling
        )
        for state, stage in (
            (prepare, "data_prep"),
            (quality, "data_quality_gate"),
            (train, "training"),
            (offline, "offline_gate"),
            (register, "registration"),
            (emit, "announcement"),
        ):
            state.add_catch(failure_path(f"{stage}_error"), errors=["States.ALL"], result_path="$.error")
        quality_ok = (
            sfn.Choice(self, "DataQualityPassed?")
            .when(sfn.Condition.boolean_equals("$.quality.passed", True), train)
            .otherwise(failure_path("data_quality_gate"))
        )
        offline_ok = (
            sfn.Choice(self, "OfflineGatePassed?")
            .when(sfn.Condition.boolean_equals("$.offline.passed", True), register)
            .otherwise(failure_path("offline_gate"))
        )
        for leaf in leaves:
            leaf.next(prepare)
        prepare.next(quality).next(quality_ok)
        definition = start
        train.next(offline).next(offline_ok)
        register.next(emit).next(sfn.Succeed(self, "CandidateRegistered"))

        machine = self.logged_state_machine(
            "RetrainingStateMachine",
            definition,
            timeout=Duration.seconds(run_seconds),
            execution_data=True,
        )
        stack = Stack.of(self)
        machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="RunTrainingJobs",
                actions=[
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags",
                ],
                resources=[f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}:training-job/lora-*"],
            )
        )
        machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="SyncTrainingJobEvents",
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    f"arn:{stack.partition}:events:{stack.region}:{stack.account}:rule/"
                    "StepFunctionsGetEventsForSageMakerTrainingJobsRule"
                ],
            )
        )
        # The only role this state machine can pass is the training role, and only to SageMaker.
        machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="PassTrainingRoleOnly",
                actions=["iam:PassRole"],
                resources=[self.training_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="EncryptTrainingOutputs",
                actions=["kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey"],
                resources=[self.channel.key.key_arn],
            )
        )
        self.machine_role = machine.role
        return machine
