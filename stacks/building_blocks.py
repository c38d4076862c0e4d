"""The pieces every governance function is built from: encrypted queues and tables, a function
with its own log group and least-privilege role, and alarms that fire on the first occurrence."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from mlgov.settings import SettingsError
from mlgov_runtime.core.permissions import TABLE_CONTROLS as TABLE_CONTROLS
from mlgov_runtime.core.permissions import TABLE_WRITES as TABLE_WRITES
from stacks import constants as c

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


_NOT_SHIPPED = ("__pycache__", "*.pyc", "*.egg-info")


def runtime_python_matches() -> bool:
    """Whether this interpreter writes bytecode the Lambda runtime loads: a .pyc with another
    version's magic number is silently ignored and the module is compiled from source again."""
    return f"python{sys.version_info.major}.{sys.version_info.minor}" == c.LAMBDA_PYTHON


@functools.cache
def lambda_asset_dir() -> str:
    """The directory the functions' asset is built from: lambdas/ with bytecode when it can be
    compiled for the runtime (see stage_with_bytecode), else lambdas/ itself, as before."""
    source = Path(c.LAMBDA_ASSET_DIR).resolve()
    if not runtime_python_matches():
        return str(source)
    return str(stage_with_bytecode(source, Path("build") / "lambda-asset").resolve())


def stage_with_bytecode(source: Path, build: Path) -> Path:
    """A copy of source with bytecode for this Python, under build/ and named by its content.

    Lambda's file system is read-only, so without shipped bytecode every cold start compiles every
    imported module. The .pyc are unchecked-hash: the asset zip stamps every entry with one fixed
    date, so a timestamp-validated .pyc would never match its source and be ignored. The source path
    compiled in is fixed and marshal output is deterministic since 3.11, so two synths give the same
    asset hash.
    """
    files = sorted(
        p
        for p in source.rglob("*")
        if p.is_file()
        and p.suffix != ".pyc"
        and not any(part == "__pycache__" or part.endswith(".egg-info") for part in p.parts)
    )
    compile_cmd = ["-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash"]
    digest = hashlib.sha256(" ".join([sys.version, *compile_cmd]).encode())
    for path in files:
        digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    staged = build / digest.hexdigest()[:16]
    if staged.is_dir():
        return staged
    build.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=build))
    try:
        shutil.copytree(source, work / "src", ignore=shutil.ignore_patterns(*_NOT_SHIPPED))
        # Tracebacks name the file where Lambda unpacks the asset, not this machine's path.
        compile_cmd += ["-s", str(work / "src"), "-p", "/var/task", str(work / "src")]
        subprocess.run([sys.executable, *compile_cmd], check=True)
        try:
            os.replace(work / "src", staged)  # atomic: a concurrent synth sees all of it or none
        except OSError:
            if not staged.is_dir():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for stale in build.iterdir():  # earlier sources' stagings; tmp* may be a concurrent synth's
        if stale != staged and not stale.name.startswith("tmp"):
            shutil.rmtree(stale, ignore_errors=True)
    return staged


def ended_badly(machine: sfn.StateMachine, period: Duration, label: str) -> cloudwatch.MathExpression:
    """ExecutionsFailed + ExecutionsAborted + ExecutionsTimedOut: an aborted (StopExecution) or timed-out run
    reaches no Catch, so no finding of its own says it ended."""
    return cloudwatch.MathExpression(
        expression="FILL(failed, 0) + FILL(aborted, 0) + FILL(timedout, 0)",
        using_metrics={
            "failed": machine.metric_failed(period=period),
            "aborted": machine.metric_aborted(period=period),
            "timedout": machine.metric_timed_out(period=period),
        },
        period=period,
        label=label,
    )


def access_log_bucket(scope: Construct, construct_id: str) -> s3.Bucket:
    """Where a bucket's server access logs go: S3-managed keys (the log delivery cannot use KMS), TLS only,
    private, kept when the stack is deleted."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        removal_policy=RemovalPolicy.RETAIN,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
    )


def encrypted_queue(
    scope: Construct,
    construct_id: str,
    key: kms.IKey,
    *,
    dead_letter: sqs.IQueue | None = None,
    max_receive_count: int = 5,
    visibility_timeout: Duration | None = None,
) -> sqs.Queue:
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(14),
        visibility_timeout=visibility_timeout,
        dead_letter_queue=(
            sqs.DeadLetterQueue(queue=dead_letter, max_receive_count=max_receive_count) if dead_letter else None
        ),
    )


def encrypted_table(
    scope: Construct,
    construct_id: str,
    key: kms.IKey,
    partition_key: str,
    *,
    ttl_attribute: str | None = None,
    retain: bool = True,
    sort_key: dynamodb.Attribute | None = None,
    table_name: str | None = None,
) -> dynamodb.Table:
    return dynamodb.Table(
        scope,
        construct_id,
        table_name=table_name,
        partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
        sort_key=sort_key,
        time_to_live_attribute=ttl_attribute,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryption_key=key,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        deletion_protection=retain,
    )


def _service_sources(queue: sqs.Queue) -> list[Any]:
    """The aws:SourceArn values the queue's own policy already allows services to send for (the
    rules whose dead-letter queue it is), as CloudFormation values."""
    policy = queue.node.try_find_child("Policy")
    if not isinstance(policy, sqs.QueuePolicy):
        return []
    document = Stack.of(queue).resolve(policy.document.to_json())
    sources: list[Any] = []
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow" or "Service" not in (statement.get("Principal") or {}):
            continue
        for operator in ("ArnEquals", "ArnLike"):
            value = (statement.get("Condition") or {}).get(operator, {}).get("aws:SourceArn")
            sources += value if isinstance(value, list) else [value] if value else []
    return sources


def deny_everyone(
    sid: str, actions: Sequence[str], resources: Sequence[str], conditions: dict[str, Any] | None = None
) -> iam.PolicyStatement:
    """A resource-policy statement that denies every principal (but those the conditions exempt), whatever
    their own IAM policies allow."""
    return iam.PolicyStatement(
        sid=sid,
        effect=iam.Effect.DENY,
        principals=[iam.AnyPrincipal()],
        actions=list(actions),
        resources=list(resources),
        conditions=conditions,
    )


# TABLE_WRITES: every data-plane call that changes a table's items (TransactWriteItems is authorized per item as
# these). Declared in the runtime, whose counts-table check compares a table's policy with them.


# What takes a table's resource policy (its seals) off, or its items with it: a replaced or deleted policy,
# deletion protection or replicas changed (UpdateTable), a TTL on an attribute of the caller's choosing
# (DynamoDB then deletes items for them), the table deleted. DynamoDB applies a table's own policy to each.
# What keeps a bucket's seals: its policy, versioning (keeps the genuine object), lifecycle expiry, Object Lock.
BUCKET_CONTROLS = (
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketObjectLockConfiguration",
)
# TABLE_CONTROLS: those of a table (mlgov_runtime.core.permissions, which the counts table's check reads at run time).


# The writes a global table's replication makes into a replica (multi-account global tables grant it in a table's
# policy): for a table whose every byte a decision believes, denied with the item writes.
REPLICATED_WRITES = ("dynamodb:WriteDataForReplication",)


# The other changes of a table's own policy can see (their resource is the table) that this product knows of, for a
# table whose every byte a decision believes: backups and point-in-time recovery, replicas and their settings (a new
# replica gets no policy of its own, and what is written there replicates back), Kinesis streaming, contributor
# insights, tags, a restore from it. Listed, not a NotAction: DynamoDB validates the action names of a table's policy
# and documents no NotAction; the legacy (2017) global-table actions are left out until DynamoDB is seen to accept
# them there (a legacy global table needs an empty table, and UpdateTable, which a replica needs, is denied). Restores
# and imports create a table under a free name only, so they cannot land on this table while it exists.
EVERY_TABLE_CONTROL = (
    *TABLE_CONTROLS,
    "dynamodb:ReplicateSettings",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:CreateTableReplica",
    "dynamodb:DeleteTableReplica",
    "dynamodb:AssociateTableReplica",
    "dynamodb:UpdateTableReplicaAutoScaling",
    "dynamodb:EnableKinesisStreamingDestination",
    "dynamodb:DisableKinesisStreamingDestination",
    "dynamodb:UpdateKinesisStreamingDestination",
    "dynamodb:UpdateContributorInsights",
    "dynamodb:RestoreTableToPointInTime",
    "dynamodb:TagResource",
    "dynamodb:UntagResource",
)


def keep_table_controls(
    table: dynamodb.Table, deployers: Sequence[str], controls: Sequence[str] = TABLE_CONTROLS
) -> None:
    """Whatever their IAM policies allow: only the deployer (CloudFormation's execution role, which `cdk deploy`
    updates the policy, TTL and protection through) changes what keeps the table's seals. DynamoDB still lets the
    account's root user replace or delete the policy (lockout recovery)."""
    if deployers:  # with no deployer named, a deny here would lock CloudFormation out of its own table
        table.add_to_resource_policy(
            deny_everyone(
                "ControlsOnlyByDeploy",  # counts_policy.CONTROLS_SID checks this name
                controls,
                ["*"],  # in a table's own policy: this table
                {"ArnNotLike": {"aws:PrincipalArn": list(deployers)}},
            )
        )


# What changes a secret's value, and what changes who may read it or whether it exists.
SECRET_VALUE_WRITES = (
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecret",
    "secretsmanager:UpdateSecretVersionStage",
)
SECRET_CONTROLS = (
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:DeleteResourcePolicy",
    "secretsmanager:DeleteSecret",
    "secretsmanager:RestoreSecret",
    "secretsmanager:RotateSecret",
    "secretsmanager:CancelRotateSecret",
    "secretsmanager:ReplicateSecretToRegions",
    "secretsmanager:RemoveRegionsFromReplication",
    "secretsmanager:StopReplicationToReplica",
)


def keep_secret(
    secret: secretsmanager.Secret,
    readers: Sequence[str],
    deployers: Sequence[str],
    value_writers: Sequence[str] = (),
) -> None:
    """Whatever their IAM policies allow (the secret's key delegates to IAM): only `readers` (the function
    roles) and the deployer read the value; only the deployer and `value_writers` (operators, who put it after
    deploying) set it; only the deployer changes its policy, replicas or existence. Deny statements only, so
    Secrets Manager's block of broad policies has nothing to refuse."""

    def unless(exact: Sequence[str], like: Sequence[str]) -> dict[str, Any]:
        conditions: dict[str, Any] = {}
        if exact:
            conditions["ArnNotEquals"] = {"aws:PrincipalArn": list(exact)}
        if like:
            conditions["ArnNotLike"] = {"aws:PrincipalArn": list(like)}
        return conditions

    secret.add_to_resource_policy(
        deny_everyone("OnlyItsFunctionReads", ["secretsmanager:GetSecretValue"], ["*"], unless(readers, deployers))
    )
    if setters := [*deployers, *value_writers]:
        secret.add_to_resource_policy(
            deny_everyone("OnlyDeployerOrOperatorsSetIt", SECRET_VALUE_WRITES, ["*"], unless((), setters))
        )
    if deployers:  # with no deployer named, a deny here would lock CloudFormation out of its own secret
        secret.add_to_resource_policy(
            deny_everyone("OnlyTheDeployerControlsIt", SECRET_CONTROLS, ["*"], unless((), deployers))
        )


def only_senders(queue: sqs.Queue, role_arns: Sequence[str] = ()) -> None:
    """Nobody but these roles and the services acting for the rules the queue already serves may send to
    it, whatever their own IAM policies allow (a planted message would be redriven as a real one)."""
    sources = _service_sources(queue)
    conditions: dict[str, Any] = {"ArnNotEquals": {}}
    if sources:
        conditions["ArnNotEquals"]["aws:SourceArn"] = sources
    if role_arns:
        conditions["ArnNotEquals"]["aws:PrincipalArn"] = list(role_arns)
    if not conditions["ArnNotEquals"]:
        conditions = {}
    queue.add_to_resource_policy(
        deny_everyone("OnlyItsProducersSend", ["sqs:SendMessage"], [queue.queue_arn], conditions or None)
    )


# Lambda refuses a function whose environment variables (names and values) exceed 4 KB in all.
LAMBDA_ENVIRONMENT_BYTES = 4_096
TOKEN_BYTES = 128  # what a CloudFormation reference (a name, an ARN) is counted as before it resolves
_TOKEN = re.compile(r"\$\{Token\[[^\]]+\]\}")


def environment_bytes(environment: dict[str, str]) -> dict[str, int]:
    """Each variable's estimated size at deploy time: its name and value, references counted as TOKEN_BYTES."""
    return {
        name: len(name.encode()) + len(_TOKEN.sub("x" * TOKEN_BYTES, value).encode())
        for name, value in environment.items()
    }


def check_environment_fits(function_path: str, environment: dict[str, str]) -> None:
    """Refuse at synth what the deploy would refuse: a Lambda environment over 4 KB."""
    sizes = environment_bytes(environment)
    total = sum(sizes.values())
    if total > LAMBDA_ENVIRONMENT_BYTES:
        largest = ", ".join(f"{name} ({n:,} bytes)" for name, n in sorted(sizes.items(), key=lambda kv: -kv[1])[:3])
        raise SettingsError(
            f"cdk.json context 'mlgov': function {function_path} would receive about {total:,} bytes of environment "
            f"variables, more than Lambda's {LAMBDA_ENVIRONMENT_BYTES:,}; the largest: {largest}. Shorten the "
            "settings they carry (long lists of routes, approvers, campaigns or endpoints)"
        )


class GovernedFunction(Construct):
    """A Lambda from the shared asset: arm64, Powertools layer, JSON logs in its own log group
    with retention, active tracing, and a role holding exactly the given statements."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        description: str,
        handler: str,
        environment: dict[str, str],
        statements: list[iam.PolicyStatement],
        log_retention_days: int,
        timeout: Duration,
        memory_size: int = 512,
        role_name: str | None = None,  # a fixed name, for trust policies in other accounts
        role_path: str | None = None,  # the protected path, where only role admins create roles
    ) -> None:
        super().__init__(scope, construct_id)
        environment = {"POWERTOOLS_METRICS_NAMESPACE": c.METRIC_NAMESPACE, **environment}
        check_environment_fits(self.node.path, environment)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=RETENTION[log_retention_days], removal_policy=RemovalPolicy.RETAIN
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=description,
            role_name=role_name,
            path=role_path,
        )
        own_logs = iam.PolicyStatement(
            sid="WriteOwnLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[self.log_group.log_group_arn, f"{self.log_group.log_group_arn}:*"],
        )
        self.policy = iam.Policy(self, "Policy", statements=[own_logs, *statements])
        self.policy.attach_to_role(self.role)
        layer_arn = ssm.StringParameter.value_for_string_parameter(self, c.POWERTOOLS_LAYER_PARAMETER)
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=lambda_.Runtime(c.LAMBDA_PYTHON, lambda_.RuntimeFamily.PYTHON),
            architecture=lambda_.Architecture.ARM_64,
            handler=handler,
            code=lambda_.Code.from_asset(lambda_asset_dir()),
            layers=[lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", layer_arn)],
            role=self.role,
            memory_size=memory_size,
            timeout=timeout,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=self.log_group,
            environment=environment,
        )


def alarm_at_one(
    scope: Construct, construct_id: str, description: str, metric: cloudwatch.IMetric, topic: sns.ITopic
) -> cloudwatch.Alarm:
    """Alarm as soon as one occurrence is seen in a period; no data is not a breach."""
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=metric,
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(cw_actions.SnsAction(topic))
    return alarm
