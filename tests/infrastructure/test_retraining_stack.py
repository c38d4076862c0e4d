"""The retraining state machine: its shape (CDK assertions) and its decisions, executed by moto's
Step Functions interpreter on the synthesized definition.

moto cannot run the SageMaker `.sync` integration, so for execution the TrainLoRA state is
swapped for a Pass state with a training job's result; Lambda steps answer from moto's
lambda-simple result queue, in order. Everything else is the definition as synthesized.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Template
from moto import mock_aws

from tests.infrastructure.templates import (
    FUNCTION_BASE_ACTIONS,
    _role_actions,
    answering_function,
    assert_every_task_retries_and_reports,
    states_with_tokens,
)

pytestmark = pytest.mark.infrastructure
REGION = "us-east-1"


def _definition(template: Template) -> tuple[dict[str, Any], str]:
    machines = template.find_resources("AWS::StepFunctions::StateMachine")
    [machine] = [v for k, v in machines.items() if k.startswith("Retraining")]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return dict(machine), "".join(p if isinstance(p, str) else f"<<{json.dumps(p, sort_keys=True)}>>" for p in parts)


def _states(template: Template) -> dict[str, Any]:
    return states_with_tokens(_definition(template)[1])


def test_gate_runs_before_training_and_training_is_a_sync_sagemaker_task(template: Template) -> None:
    states = _states(template)
    assert states["PrepareTrainingData"]["Next"] == "DataQualityGate"
    assert states["DataQualityGate"]["Next"] == "DataQualityPassed?"
    choice = states["DataQualityPassed?"]
    assert choice["Choices"][0]["Next"] == "TrainLoRA"
    train = states["TrainLoRA"]
    assert train["Resource"].endswith(":states:::sagemaker:createTrainingJob.sync")
    assert train["Parameters"]["TrainingJobName.$"] == "States.Format('lora-{}', $$.Execution.Name)"
    assert (
        train["Parameters"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri.$"]
        == "$.prepared.snapshot_prefix"
    )
    hyper = train["Parameters"]["HyperParameters"]
    assert {"base_model", "lora_r", "lora_alpha", "lora_dropout", "target_modules", "epochs", "learning_rate"} <= set(
        hyper
    )
    assert all(isinstance(v, str) for k, v in hyper.items() if not k.endswith(".$"))
    assert train["Next"] == "OfflineGate"
    assert states["OfflineGatePassed?"]["Choices"][0]["Next"] == "RegisterModelPackage"


def test_every_task_has_a_catch_to_a_finding_and_retries(template: Template) -> None:
    states = _states(template)
    assert_every_task_retries_and_reports(states, 6, "RetrainingFailed")
    for name in ("PrepareTrainingData", "DataQualityGate", "OfflineGate", "RegisterModelPackage", "TrainLoRA"):
        assert states[name].get("TimeoutSeconds"), name


def test_the_state_machine_can_pass_only_the_training_role(template: Template) -> None:
    policies = template.find_resources("AWS::IAM::Policy")
    passes = [
        s
        for k, p in policies.items()
        if k.startswith("Retraining")
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "iam:PassRole" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert len(passes) == 1
    assert "TrainingRole" in json.dumps(passes[0]["Resource"])
    assert passes[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {"TracingConfiguration": {"Enabled": True}})


def _executable(template: Template, function_arn: str) -> str:
    _, text = _definition(template)
    resolved = text
    while "<<" in resolved:
        start = resolved.index("<<")
        token = json.loads(resolved[start + 2 : resolved.index(">>", start)])
        value = function_arn if "Fn::GetAtt" in token and "PipelineSteps" in json.dumps(token) else "placeholder"
        resolved = resolved[:start] + value + resolved[resolved.index(">>", start) + 2 :]
    definition = json.loads(resolved)
    train = definition["States"]["TrainLoRA"]
    definition["States"]["TrainLoRA"] = {
        "Type": "Pass",
        "ResultPath": "$.training",
        "Next": train["Next"],
        "Result": {
            "job_name": "lora-exec",
            "job_arn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/lora-exec",
            "model_artifacts": "s3://manga-training/training-output/lora-exec/output/model.tar.gz",
        },
    }
    return json.dumps(definition)


OUTPUTS: dict[str, Any] = {}  # the last run's execution output
INPUTS: dict[str, Any] = {}  # what each state of the last run entered with


def _run(
    template: Template, lambda_results: list[dict[str, Any]], run_input: str = '{"trigger": "test"}'
) -> tuple[str, list[str]]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        fn, role = answering_function("pipeline-steps", lambda_results)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(name="retraining", roleArn=role, definition=_executable(template, fn))
        execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=run_input)
        deadline = time.monotonic() + 300  # a bound for a loaded machine; terminal states end it at once
        while time.monotonic() < deadline:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            status = described["status"]
            if status != "RUNNING":
                break
            time.sleep(0.05)
        OUTPUTS["last"] = json.loads(described.get("output") or "null")
        events = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
        INPUTS.clear()
        INPUTS.update(
            {
                e["stateEnteredEventDetails"]["name"]: json.loads(e["stateEnteredEventDetails"].get("input") or "null")
                for e in events
                if "stateEnteredEventDetails" in e
            }
        )
        entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
        return status, entered


PREPARED = {
    "snapshot_date": "2026-11-27",
    "snapshot_uri": "s3://b/catalog-snapshots/2026-11-27/training.jsonl",
    "snapshot_prefix": "s3://b/catalog-snapshots/2026-11-27/",
    "snapshot_key": "k",
    "version_id": "v1",
    "catalog_titles": 1800,
}
PASSED = {"passed": True, "checks": [], "failed": [], "version_id": "v1", "rows": 50400}


def test_a_failed_data_quality_gate_never_reaches_training(template: Template) -> None:
    failed = {**PASSED, "passed": False, "failed": [{"name": "row_count"}]}
    status, entered = _run(template, [PREPARED, failed, {"finding_id": "f"}])
    assert status == "FAILED"
    assert "TrainLoRA" not in entered
    assert entered[-3:] == ["data_quality_gate_failed", "ReportFailure", "RetrainingFailed"]


def test_a_failed_offline_gate_never_registers(template: Template) -> None:
    offline = {"passed": False, "failed": [{"name": "safety_violations"}], "evaluation": {}}
    status, entered = _run(template, [PREPARED, PASSED, offline, {"finding_id": "f"}])
    assert status == "FAILED"
    assert "TrainLoRA" in entered and "RegisterModelPackage" not in entered
    assert entered[-3:] == ["offline_gate_failed", "ReportFailure", "RetrainingFailed"]


def test_passing_gates_register_and_announce_the_candidate(template: Template) -> None:
    offline = {"passed": True, "failed": [], "evaluation": {"eval_loss": 0.1}}
    registered = {
        "model_package_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/manga-recommender/9",
        "catalog_snapshot_date": "2026-11-27",
    }
    status, entered = _run(template, [PREPARED, PASSED, offline, registered])
    assert status == "SUCCEEDED", entered
    assert entered[-3:] == ["RegisterModelPackage", "AnnounceCandidate", "CandidateRegistered"]
    # The challenger's provenance check reads the package back from the succeeded execution's output
    assert OUTPUTS["last"]["registered"]["model_package_arn"] == registered["model_package_arn"]


@pytest.mark.parametrize(
    ("run_input", "kept"),
    [
        (
            {"trigger": "coverage-gap", "coverage_gap_pct": 22.2, "finding_id": "f1", "note": "x" * 200_000},
            {"trigger": "coverage-gap", "coverage_gap_pct": 22.2, "finding_id": "f1"},
        ),
        ({"trigger": "rerun", "prepared": {"snapshot_prefix": "s3://attacker/"}}, {"trigger": "rerun"}),
        ({"finding_id": "f2"}, {"finding_id": "f2"}),
        ({}, {}),
    ],
    ids=["weekly-check-and-a-large-note", "rerun-and-a-forged-step", "one-field", "nothing"],
)
def test_the_run_keeps_only_the_known_input_fields(
    template: Template, run_input: dict[str, Any], kept: dict[str, Any]
) -> None:
    """Fifteenth review, hole 9: what an operator adds to the input never rides in the run's state (a large input
    made the state too large once a step added its result: States.DataLimitExceeded, which no Catch takes)."""
    failed = {**PASSED, "passed": False, "failed": [{"name": "row_count"}]}
    status, entered = _run(template, [PREPARED, failed, {"finding_id": "f"}], json.dumps(run_input))
    assert status == "FAILED" and entered[-1] == "RetrainingFailed", entered
    # The failure path's Fail state has no output; what the steps saw is in the history's PrepareTrainingData input
    assert INPUTS["PrepareTrainingData"]["input"] == kept
    assert INPUTS["PrepareTrainingData"]["execution"].startswith("arn:aws:states:")
    assert set(INPUTS["PrepareTrainingData"]) == {"execution", "input"}


COMMON = FUNCTION_BASE_ACTIONS | {
    "dynamodb:GetItem",
    "dynamodb:UpdateItem",
    "sns:Publish",
    "dynamodb:Scan",
    "sagemaker:ListModelPackages",
    "sagemaker:DescribeModelPackage",
}


def test_pipeline_role_grants_exactly_its_declared_actions(template: Template) -> None:
    from stacks.permissions import retraining as p

    assert _role_actions(template, "RetrainingPipelineSteps") == COMMON | set(
        p.SNAPSHOT_READ + p.SNAPSHOT_WRITE + p.REGISTRY_REGISTER + p.ARTIFACT_COPY + p.IMAGE_RESOLVE
    )


BUCKET_ARN = "arn:aws:s3:::mlgov-snapshots"


def _resolve(value: Any) -> Any:
    """CloudFormation intrinsics of the template as one concrete account would see them."""
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    if isinstance(value, dict):
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(str(_resolve(p)) for p in parts)
        if "Fn::GetAtt" in value:
            logical = value["Fn::GetAtt"][0]
            if logical.startswith("RetrainingSnapshotBucket"):
                return BUCKET_ARN
            return f"arn:aws:iam::111122223333:role/{logical}" if "Role" in logical else "arn:aws:x"
        if "Ref" in value:
            return {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": "111122223333"}.get(
                value["Ref"], "ref"
            )
        return {k: _resolve(v) for k, v in value.items()}
    return value


def _snapshot_bucket_policy(template: Template) -> dict[str, Any]:
    [policy] = [
        v
        for k, v in template.find_resources("AWS::S3::BucketPolicy").items()
        if k.startswith("RetrainingSnapshotBucket")
    ]
    return dict(_resolve(policy["Properties"]["PolicyDocument"]))


def test_approved_models_are_write_once_for_every_principal(template: Template) -> None:
    from mlgov.policy_eval import evaluate

    bucket = {"bucket": _snapshot_bucket_policy(template)}
    approved = f"{BUCKET_ARN}/approved-models/manga-recommender/lora-7/model.tar.gz"

    steps = {"aws:PrincipalArn": _role(template, "RetrainingPipelineStepsRole")}

    def decide(action: str, resource: str, context: dict[str, Any] | None = None) -> tuple[str, str | None]:
        found = evaluate(bucket, action, resource, {"aws:SecureTransport": "true", **(context or steps)})
        return found.decision, found.statement

    # An overwrite (a plain PutObject, or a copy without If-None-Match) is refused; so is every delete.
    assert decide("s3:PutObject", approved) == ("Deny", "ApprovedModelsWriteOnce")
    assert decide("s3:DeleteObject", approved) == ("Deny", "ApprovedModelsNeverDeleted")
    assert decide("s3:DeleteObjectVersion", approved) == ("Deny", "ApprovedModelsNeverDeleted")
    # The steps' create-only write passes the bucket policy (S3 then refuses it on an existing key: 412), as does
    # an operator pipeline's (`mlgov register --write-once-bucket`, guardrails.pipeline_role_arns).
    create = {"s3:if-none-match": "*"}
    assert decide("s3:PutObject", approved, {**steps, **create})[0] == "Allow"
    pipeline = "arn:aws:iam::111122223333:role/mlgov-protected/MlGovDeploymentPipelineMain"
    assert decide("s3:PutObject", approved, {"aws:PrincipalArn": pipeline, **create})[0] == "Allow"
    # Anyone else's, create-only or not, is refused: a key planted ahead of a run would block its registration.
    for other in (
        "arn:aws:iam::111122223333:role/Admin",
        "arn:aws:iam::111122223333:role/MlGovDeploymentPipelineMain",  # off the protected path
        _role(template, "RetrainingTrainingRole"),
    ):
        assert decide("s3:PutObject", approved, {"aws:PrincipalArn": other, **create}) == (
            "Deny",
            "OnlyThePipelineCreatesApprovedModels",
        ), other
    # Training output stays writable by the job (registration copies it from there): see the next test.
    job = {"aws:PrincipalArn": _role(template, "RetrainingTrainingRole")}
    assert decide("s3:PutObject", f"{BUCKET_ARN}/training-output/lora-7/output/model.tar.gz", job)[0] == "Allow"


def _role(template: Template, prefix: str) -> str:
    [logical] = [k for k in template.find_resources("AWS::IAM::Role") if k.startswith(prefix)]
    return f"arn:aws:iam::111122223333:role/{logical}"


@pytest.mark.parametrize(
    ("key", "writer"),
    [
        ("training-output/lora-7/output/model.tar.gz", "RetrainingTrainingRole"),
        ("evaluations/lora-7/evaluation.json", "RetrainingTrainingRole"),
        ("checkpoints/lora-7/step-100.pt", "RetrainingTrainingRole"),
        ("catalog-snapshots/2026-12-01/part-0.jsonl", "RetrainingPipelineStepsRole"),
    ],
)
def test_only_the_pipeline_writes_what_a_run_registers(template: Template, key: str, writer: str) -> None:
    """What `register` pins is what lies under these prefixes: nobody but the role that produces it writes
    there, whatever their IAM policies allow (reading stays IAM's to grant)."""
    from mlgov.policy_eval import evaluate

    bucket = {"bucket": _snapshot_bucket_policy(template)}
    resource = f"{BUCKET_ARN}/{key}"
    other_step = "RetrainingPipelineStepsRole" if writer == "RetrainingTrainingRole" else "RetrainingTrainingRole"
    others = [
        "arn:aws:iam::111122223333:role/Admin",
        _role(template, "CoverageCoverageCheckRole"),
        _role(template, other_step),
    ]

    def decide(action: str, principal: str) -> str:
        context = {"aws:SecureTransport": "true", "aws:PrincipalArn": principal}
        return evaluate(bucket, action, resource, context).decision

    for action in ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl"):
        assert decide(action, _role(template, writer)) == "Allow", action
        for other in others:
            assert decide(action, other) == "Deny", (action, other)
    assert decide("s3:GetObject", others[0]) == "Allow"


def test_write_once_controls_change_only_through_a_deploy(template: Template) -> None:
    from mlgov.policy_eval import evaluate

    bucket = {"bucket": _snapshot_bucket_policy(template)}
    approved = f"{BUCKET_ARN}/approved-models/manga-recommender/lora-7/model.tar.gz"
    deployer = "arn:aws:iam::111122223333:role/cdk-hnb659fds-cfn-exec-role-111122223333-us-east-1"
    admin = "arn:aws:iam::111122223333:role/Admin"
    look_alike = "arn:aws:iam::111122223333:role/team/cdk-hnb659fds-cfn-exec-role-mine"

    def decide(action: str, resource: str, principal: str) -> tuple[str, str | None]:
        context = {"aws:SecureTransport": "true", "aws:PrincipalArn": principal}
        found = evaluate(bucket, action, resource, context)
        return found.decision, found.statement

    for action in (
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:PutBucketVersioning",
        "s3:PutLifecycleConfiguration",
        "s3:PutBucketObjectLockConfiguration",
    ):
        assert decide(action, BUCKET_ARN, admin) == ("Deny", "WriteOnceControlsOnlyByDeploy"), action
        assert decide(action, BUCKET_ARN, look_alike) == ("Deny", "WriteOnceControlsOnlyByDeploy"), action
        # CloudFormation's execution role keeps deploying the bucket (its policy, versioning, lifecycle).
        assert decide(action, BUCKET_ARN, deployer)[0] == "Allow", action
    for action in ("s3:ReplicateObject", "s3:ReplicateDelete"):
        for principal in (admin, deployer):
            assert decide(action, approved, principal) == ("Deny", "ApprovedModelsNotReplicatedInto"), action
    # Nor into what a run registers (a replica is a write like any other there).
    found = decide("s3:ReplicateObject", f"{BUCKET_ARN}/training-output/x/model.tar.gz", admin)
    assert found == ("Deny", "OnlyTheTrainingJobWritesItsOutputs")


def test_the_training_role_cannot_write_approved_models(template: Template) -> None:
    from mlgov.policy_eval import evaluate

    [policy] = [
        v for k, v in template.find_resources("AWS::IAM::Policy").items() if k.startswith("RetrainingTrainingPolicy")
    ]
    training = {"training": _resolve(policy["Properties"]["PolicyDocument"])}
    approved = f"{BUCKET_ARN}/approved-models/manga-recommender/lora-7/model.tar.gz"
    for context in ({}, {"s3:if-none-match": "*"}):
        assert evaluate(training, "s3:PutObject", approved, context, default_allow=False).decision == "Deny"
    own = f"{BUCKET_ARN}/training-output/lora-7/output/model.tar.gz"
    assert evaluate(training, "s3:PutObject", own, {}, default_allow=False).decision == "Allow"


def test_the_training_role_passes_no_role_and_writes_only_its_prefixes(template: Template) -> None:
    training = _role_actions(template, "RetrainingTrainingPolicy")
    assert "iam:PassRole" not in training
    assert not any(a.endswith("*") for a in training)
    [policy] = [
        v for k, v in template.find_resources("AWS::IAM::Policy").items() if k.startswith("RetrainingTrainingPolicy")
    ]
    writes = next(s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Sid"] == "WriteOutputs")
    assert all(
        any(prefix in json.dumps(r) for prefix in ("training-output/", "evaluations/", "checkpoints/"))
        for r in writes["Resource"]
    )


def test_snapshot_bucket_is_versioned_encrypted_and_logged(template: Template) -> None:
    buckets = template.find_resources(
        "AWS::S3::Bucket", {"Properties": {"VersioningConfiguration": {"Status": "Enabled"}}}
    )
    # The scan's report bucket is versioned too; the snapshot bucket is the retraining construct's.
    [bucket] = [b for logical_id, b in buckets.items() if "SnapshotBucket" in logical_id]
    props = bucket["Properties"]
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert rule["SSEAlgorithm"] == "aws:kms"
    assert "LoggingConfiguration" in props


def test_the_training_job_runs_the_entry_point_from_the_source_archive(template: Template) -> None:
    import tarfile

    from stacks.retraining import TRAINING_PROGRAM, training_sourcedir

    # Given the synthesized TrainLoRA state
    hyper = _states(template)["TrainLoRA"]["Parameters"]["HyperParameters"]
    _, text = _definition(template)
    # Then it names the program and the gzipped tar asset the SageMaker training toolkit downloads and opens
    assert hyper["sagemaker_program"] == TRAINING_PROGRAM == "train.py"
    submit = text[text.index('"sagemaker_submit_directory":') :].split(">>", 1)[0]
    assert '"s3://cdk-' in submit and submit.endswith('.gz"}'), submit
    # And the archive holds that program and the pinned requirements the toolkit installs
    with tarfile.open(training_sourcedir(), "r:gz") as archive:
        names = set(archive.getnames())
    assert {TRAINING_PROGRAM, "requirements.txt", "mlgov_training/job.py"} <= names
    # And the training role may read exactly that object
    [policy] = [
        v for k, v in template.find_resources("AWS::IAM::Policy").items() if k.startswith("RetrainingTrainingPolicy")
    ]
    code = next(s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Sid"] == "ReadTrainingCode")
    assert code["Action"] == "s3:GetObject" and json.dumps(code["Resource"]).endswith('.gz"]]}')


def test_the_retraining_machine_is_named_after_its_logical_id_as_the_failure_finding_finds_it(
    template: Template,
) -> None:
    # RETRAINING_FAILED without an execution lists machines whose name contains RetrainingStateMachine:
    # CloudFormation names an unnamed machine after its logical id.
    machines = template.find_resources("AWS::StepFunctions::StateMachine")
    [(logical_id, machine)] = [(k, v) for k, v in machines.items() if k.startswith("Retraining")]
    assert "RetrainingStateMachine" in logical_id and "StateMachineName" not in machine["Properties"]


def _longest(state: dict[str, Any]) -> int:
    """The longest a Task state can take: its timeout on each attempt, plus the waits between them."""
    timeout = int(state["TimeoutSeconds"])
    attempts, waits = 1, 0.0
    for retrier in state.get("Retry", []):
        interval, rate = retrier.get("IntervalSeconds", 1), retrier.get("BackoffRate", 2.0)
        for i in range(retrier.get("MaxAttempts", 3)):
            attempts += 1
            waits += interval * rate**i
    return int(timeout * attempts + waits)


def test_the_run_outlives_every_task_it_may_run_so_it_never_times_out_unannounced(template: Template) -> None:
    """Fifteenth review, hole 5: a run that times out reaches no ReportFailure; the machine's timeout covers
    every task (retries included), and a run that ends otherwise than in success is alarmed."""
    text = _definition(template)[1]
    while "<<" in text:  # the CloudFormation references, as states_with_tokens reads them
        start = text.index("<<")
        text = text[:start] + "TOKEN" + text[text.index(">>", start) + 2 :]
    definition = json.loads(text)
    tasks = {name: s for name, s in definition["States"].items() if s["Type"] == "Task"}
    assert all("TimeoutSeconds" in s for s in tasks.values()), [
        n for n, s in tasks.items() if "TimeoutSeconds" not in s
    ]
    bounds = {name: _longest(s) for name, s in tasks.items()}
    assert definition["TimeoutSeconds"] >= sum(bounds.values()), (definition["TimeoutSeconds"], bounds)
    [logical] = [k for k in template.find_resources("AWS::StepFunctions::StateMachine") if k.startswith("Retraining")]
    [alarm] = [
        v
        for k, v in template.find_resources("AWS::CloudWatch::Alarm").items()
        if k.startswith("RetrainingRetrainingFailedAlarm")
    ]
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Properties"]["Metrics"] if "MetricStat" in m}
    assert names == {"ExecutionsFailed", "ExecutionsAborted", "ExecutionsTimedOut"}
    assert logical in json.dumps(alarm)
