"""Fifteenth review: the retraining path end to end (the weekly coverage check, the retraining state machine, its
gates, the training job's outputs and the registration of the package), as a developer of the governance account
(broad rights; not the deployer, a role admin, break-glass or a product role) and as a failure injector.

Holes, ranked (each test asserts the SAFE outcome, strict xfail until fixed):
 1. (high) the offline gate reads a metric missing from the new evaluation as "no regression". offline_gate
    compares only the metrics both the evaluation and the last approved version carry (`name not in e:
    continue`): the training code writes `language_recall_ja` only when the held-out split has a Japanese session,
    and a run whose evaluation lacks `mrr_at_10` (or any metric the approved version recorded) passes with that
    metric unjudged, and is registered without it, so the next run has no baseline for it either. Missing is read
    as pass. Fix: a metric the baseline has and the evaluation lacks is a failed `regression:<name>` check
    ("missing from the evaluation"). Touches lambdas/mlgov_runtime/retraining/offline_gate.py (offline_gate).
    Fixed: such a metric fails `regression:<name>` ("missing from the evaluation", with the training code's reason
    from its new `unmeasured` entry, e.g. no ja session in the held-out split).
 2. (high) two runs the same day share `catalog-snapshots/<date>/`: the second run's PrepareTrainingData rewrites
    training.jsonl and catalog.jsonl under the first run's `snapshot_prefix`. The first run's quality gate (a
    GetObject without VersionId) then judges the second run's pairs, its training job (an S3Prefix channel, the
    newest versions) trains on them, and its package records the first run's `training_data_version`: the
    registered lineage names bytes that were neither judged nor trained on. start_once keeps the weekly check to
    one run, but an operator's start-execution, or the rerun command every RETRAINING_FAILED finding prints, does
    not. Fix: key the snapshot by execution (`catalog-snapshots/<date>/<execution name>/`, prepare reads the
    name from the state's `execution`) and read it in the quality gate by VersionId. Touches
    lambdas/mlgov_runtime/retraining/logic.py (prepare, data_quality_gate), the coverage check's reading of it.
    Fixed: prepare writes under `catalog-snapshots/<date>/<execution name>/` and the quality gate reads the version
    prepare wrote (test_the_quality_gate_judges_the_version_prepare_wrote_not_the_newest).
 3. (medium) a developer plants the write-once copy a run will register. The snapshot bucket's policy keeps
    `approved-models/` write-once (a put must carry If-None-Match) but lets any principal IAM allows create a key
    there. The key is `approved-models/<group>/lora-<execution name>/model.tar.gz`, known once the execution is
    listed (hours before registration): a developer's `put-object --if-none-match '*'` makes the run's copy fail
    with 412 after hours of GPU time, every rerun likewise, and the planted object can never be deleted
    (ApprovedModelsNeverDeleted). Fix: deny s3:PutObject under `approved-models/` to every principal but the
    pipeline steps' role and pipeline_role_arns (`mlgov register --write-once-bucket`), as _keep_pipeline_prefixes
    does for the training prefixes. Touches stacks/retraining.py (_protect_approved_models).
    Fixed: OnlyThePipelineCreatesApprovedModels denies s3:PutObject there to all but the steps' role and
    guardrails.pipeline_role_arns (ApprovedModelsWriteOnce still requires If-None-Match of them).
 4. (medium) registration cannot be run twice. `register` copies the job's output with If-None-Match, then
    creates the package with no ClientToken. When CreateModelPackage is refused (a throttle, an AccessDenied) the
    copy is left behind and every retry or `redrive-execution` fails on it with 412: the run can never register
    the model its gate passed, and the finding sends the on-call to a full rerun (hours of training). When the
    create's answer is lost (the task's 2-minute timeout, which the state machine retries), the retry fails the
    same way: the run reports `registration_error` while a PendingManualApproval package of it exists, and no
    announcement goes out. Fix: on 412, head the copy and compare its checksum with the source; the same bytes
    continue; a package in the group naming that ModelDataUrl is returned as the registration; CreateModelPackage
    gets ClientToken=<training job name>. Touches lambdas/mlgov_runtime/retraining/handler.py (register),
    adapters/artifacts.py (copy_write_once), adapters/registry.py (create_pending_package).
    Fixed: register copies with same_bytes_ok (a 412 on a copy of the same SHA-256 continues, other bytes raise
    CopyDiffers), returns a package of the group already naming the copy, and creates with a ClientToken derived
    from the job name and trained_at_utc from the copy's LastModified (a retry sends the same parameters).
 5. (medium) a run can end TIMED_OUT (or ABORTED) without a finding or an alarm. The state machine's timeout is
    max_wait_hours + 4 whether or not managed spot is on, while TrainLoRA's is max_runtime_hours + 1 without it;
    the settings accept max_runtime_hours up to 120 with max_wait_hours at its default 12 (the check compares them
    only with managed_spot), so a 20-hour job times the run out at 16 hours. A timed-out or stopped run never
    reaches ReportFailure, and RetrainingFailedAlarm counts ExecutionsFailed only (the challenger's alarm counts
    Failed + Aborted + TimedOut). Fix: timeout from the training state's own bound (its TimeoutSeconds plus the
    steps' timeouts and retries), and the retraining alarm on Failed + Aborted + TimedOut as the challenger's.
    Touches stacks/retraining.py (_build_state_machine, the alarm).
    Fixed: the machine's timeout is the sum of its states' bounds (TrainLoRA's TimeoutSeconds and each Lambda
    step's timeout, times their attempts, plus retry waits and an hour); RetrainingFailedAlarm counts Failed +
    Aborted + TimedOut.
 6. (medium) the offline gate believes impossible numbers. validate_evaluation checks only that each required
    value is a number: `safety_violations: -1` (a "not measured" sentinel) passes `<= 0`, a negative
    json_format_failure_rate passes `< 0.05`, and `eval_loss: -Infinity` (json.loads reads it) passes `< 0.15`;
    registration then drops the non-finite value silently, so the package records no eval_loss. Fix: refuse
    non-finite values, negative counts and rates, rates above 1 (InvalidEvaluation, which the state machine turns
    into an offline_gate_error finding). Touches lambdas/mlgov_runtime/retraining/offline_gate.py.
    Fixed: validate_evaluation refuses non-finite numbers, fractions outside 0..1, counts that are negative or not
    whole, a negative loss or coverage (InvalidEvaluation naming the key and value).
 7. (low) the coverage check reads the newest version of the approved package's `training_data_s3_uri`, not the
    `training_data_version` it recorded: once a later run of the same date (hole 2) rewrote that key, the weekly
    gap is measured against a snapshot the served model was not trained on (a full one: 0 %, no retraining).
    Fix: GetObject with VersionId=training_data_version when the package recorded one (COVERAGE_CHECK_FAILED if
    that version is gone). Touches lambdas/mlgov_runtime/coverage/check.py, adapters/catalog.py (snapshot_chunks).
    Fixed: the check reads the snapshot with VersionId=training_data_version when the package recorded one (none, or
    "unversioned": the newest, as before); a recorded version that is gone is COVERAGE_CHECK_FAILED naming it.
 8. (low) a LoRA setting longer than SageMaker allows is refused only at run time. `retraining.lora.base_model` and
    `target_modules` have no length limit; CreateTrainingJob refuses a hyperparameter value over 2,500 characters,
    so the settings synth and deploy, and every run fails at TrainLoRA after data prep. Fix: max_length on
    base_model, and a check that ",".join(target_modules) fits 2,500. Touches retraining/settings.py.
    Fixed: base_model has max_length 2,500 and LoraHyperparameters.check refuses target_modules longer than 2,500
    joined, each naming the setting.
 9. (low) the state carries the whole execution input to every step. The Start state keeps `input.$: $`; an
    operator's input near StartExecution's 256 KB limit makes the state too large once PrepareTrainingData adds
    its result: States.DataLimitExceeded, which States.ALL does not catch, so the run fails with no
    RETRAINING_FAILED finding (the failed-executions alarm still fires), against docs/coverage-retraining.md
    ("every failure ... goes through ReportFailure"). Fix: the Start state keeps only `trigger` (and
    `coverage_gap_pct`, `finding_id`) of the input. Touches stacks/retraining.py (_build_state_machine).
    Fixed: Start is a Choice per field (IsPresent) leading to a Pass that keeps the execution id and only those
    fields present (under `input`); test_the_run_keeps_only_the_known_input_fields (infrastructure) runs it in moto.

Left as is (seen, not holes by this review's standard, or outside it): the copy at registration is of the
newest version of the job's model.tar.gz, unpinned at the source; only the training job's role writes under
`training-output/` (OnlyTheTrainingJobWritesItsOutputs, test_retraining_outputs_swapped.py) and only product roles
may pass that role (below), so nothing but the job's own output can be there. The package records no version of
evaluation.json (its metrics are recorded, with their digest). A CreateTrainingJob whose answer was lost is retried
under the same name (SageMaker.ResourceInUse): the run fails at `training_error` while the job it started runs on
to its max runtime; its output is not registered. A developer may create a training job of their own named
`lora-<execution name>` (no guardrail names training jobs) before a run started with a name reaches TrainLoRA: that
run fails at `training_error` (a denial of service; runs the weekly check starts are named after an event id nobody
knows beforehand). The cold-start empty-rate and diversity checks run only when the evaluation reports them, as
docs/coverage-retraining.md says; the training code always does. New-title coverage passes on a first run (no
Approved package to date from, or one whose `catalog_snapshot_date` does not parse) and counts a title without
`added_at` as old; prepare builds the pairs from the same catalog, so that check has little to catch either way. A
regression against a baseline of exactly 0 is skipped (the absolute thresholds still apply). An operator's
StopExecution ends a run without a finding (hole 5's alarm fix covers it).

What held (passing tests below, or named): the SCPs, judged by the independent evaluator on `attachments()`, keep a
developer from invoking the pipeline steps directly, starting, stopping or redriving the retraining state machine,
passing the training role (so from writing the job's outputs through a job of their own), sending the
`mlgov.retraining` announcement, registering into the watched group, approving a package, creating a role named as
the product's and writing the catalog; an operator may start a run, and the execution input it chooses never reaches
the steps' state (it is kept under `input`; since hole 9, only its trigger, coverage_gap_pct and finding_id); a
missing evaluation.json fails the offline gate, never passes it; a regression the evaluation does report is judged;
a swap of the training outputs is refused by the bucket policy (test_retraining_outputs_swapped.py); execution names
the weekly check makes fit a training job name (tests/integration/test_coverage_and_retraining.py); the registration
metadata is checked against SageMaker's limits before the call (same file).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from mlgov.catalog_estate import CATALOG_TABLE, OLD_SNAPSHOT_DATE, SNAPSHOT_BUCKET, snapshot_body
from mlgov.guardrails import attachments, guardrail_policies
from mlgov.policy_eval import evaluate
from mlgov.sandbox import FakeContext
from mlgov.settings import SettingsError, parse_settings
from mlgov_runtime.retraining.offline_gate import InvalidEvaluation
from mlgov_runtime.retraining.registration import encode_evaluation_metrics
from tests.attacker.conftest import GOV
from tests.attacker.inject import fail_calls
from tests.attacker.resource_policies import DEVELOPER, act_as, bucket_policy
from tests.attacker.scp_judge import REGION, WORKLOAD_OU
from tests.attacker.test_fourteenth_review_gaps import _fail_first
from tests.conftest import PASSING_EVALUATION
from tests.infrastructure.templates import states_with_tokens
from tests.integration.test_coverage_and_retraining import GROUP, World, fresh_handler, step, world

__all__ = ["world"]

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:RetrainingStateMachine:{name}"
STATE_LIMIT = 256 * 1024


def _pipeline() -> Any:
    return fresh_handler("mlgov_runtime.retraining.handler")


def _passed_run(world: World, pipeline: Any, name: str) -> dict[str, Any]:
    """A run's state as RegisterModelPackage receives it: every gate passed."""
    state: dict[str, Any] = {"execution": EXECUTION.format(name=name)}
    state["prepared"] = step(pipeline, "prepare", state)
    state["quality"] = step(pipeline, "quality_gate", state)
    state["training"] = world.trained(f"lora-{name}", PASSING_EVALUATION)
    state["offline"] = step(pipeline, "offline_gate", state)
    assert state["quality"]["passed"] and state["offline"]["passed"], state["offline"]["failed"]
    return state


def _packages(world: World) -> list[str]:
    listed = world.sm.list_model_packages(ModelPackageGroupName=GROUP, ModelApprovalStatus="PendingManualApproval")
    return [p["ModelPackageArn"] for p in listed["ModelPackageSummaryList"]]


# -- 1. a metric missing from the new evaluation is read as "no regression"


@pytest.mark.parametrize("dropped", ["mrr_at_10", "language_recall_ja"])
def test_a_metric_the_approved_version_had_and_the_evaluation_lacks_never_passes(world: World, dropped: str) -> None:
    # The approved version recorded mrr_at_10 0.40 (and language_recall_ja, for the second case)
    recorded = {"eval_loss": 0.12, "mrr_at_10": 0.40, "language_recall_ja": 0.78}
    world.sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": world.inference_image, "ModelDataUrl": "s3://manga-training/m2.tar.gz"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        CustomerMetadataProperties={
            "training_data_s3_uri": world.snapshot_uri,
            "catalog_snapshot_date": OLD_SNAPSHOT_DATE.isoformat(),
            **encode_evaluation_metrics(recorded),
        },
    )
    # A held-out split with no Japanese session: the training code writes no language_recall_ja; or no mrr_at_10
    evaluation = {k: v for k, v in {**PASSING_EVALUATION, "language_recall_ja": 0.8}.items() if k != dropped}
    offline = step(_pipeline(), "offline_gate", {"training": world.trained("lora-exec-1", evaluation)})
    # Was: passed, the metric never compared. Safe: a metric the approved version had cannot be shown not to regress.
    assert not offline["passed"], offline["checks"]
    assert any(dropped in c["name"] for c in offline["failed"]), offline["failed"]


def test_a_regression_the_evaluation_reports_is_judged(world: World) -> None:
    """Held: mrr_at_10 20 % below the approved version's 0.40 fails the gate by name."""
    evaluation = {**PASSING_EVALUATION, "mrr_at_10": 0.32}
    offline = step(_pipeline(), "offline_gate", {"training": world.trained("lora-exec-1", evaluation)})
    assert not offline["passed"]
    assert [c["name"] for c in offline["failed"]] == ["regression:mrr_at_10"]


# -- 2. two runs the same day share one snapshot prefix


def test_a_second_run_the_same_day_never_changes_what_the_first_run_judged_trains_on_and_records(
    world: World,
) -> None:
    pipeline = _pipeline()
    first: dict[str, Any] = {"execution": EXECUTION.format(name="first")}
    first["prepared"] = step(pipeline, "prepare", first)
    # An operator's run (or the finding's rerun command) the same day, after 300 titles left the catalog
    for item in world.items[1500:]:
        world.ddb.delete_item(TableName=CATALOG_TABLE, Key={"title_id": {"S": item["title_id"]}})
    second = {"execution": EXECUTION.format(name="second")}
    step(pipeline, "prepare", second)
    for item in world.items[1500:]:
        world.ddb.put_item(TableName=CATALOG_TABLE, Item={k: {"S": str(v)} for k, v in item.items()})
    first["quality"] = step(pipeline, "quality_gate", first)
    # What the first run's training job reads: the newest objects under its snapshot prefix (an S3Prefix channel)
    prefix = first["prepared"]["snapshot_prefix"].split("/", 3)[3]
    key = first["prepared"]["snapshot_key"]
    head = world.s3.head_object(Bucket=SNAPSHOT_BUCKET, Key=key)
    trained_on = world.s3.get_object(Bucket=SNAPSHOT_BUCKET, Key=key)["Body"].read()
    listed = world.s3.list_objects_v2(Bucket=SNAPSHOT_BUCKET, Prefix=prefix)["Contents"]
    # Was: 1,500 titles' pairs (the second run's), judged by the first run's gate, while its package would record
    # the first run's version. Safe: the first run judges, trains on and records its own 1,800 titles.
    assert first["quality"]["rows"] == 1800 * 28, first["quality"]["rows"]
    assert trained_on.count(b"\n") == 1800 * 28, trained_on.count(b"\n")
    assert head["VersionId"] == first["quality"]["version_id"]
    assert {o["Key"] for o in listed} == {key, key.replace("training.jsonl", "catalog.jsonl")}


def test_the_quality_gate_judges_the_version_prepare_wrote_not_the_newest(world: World) -> None:
    """Hole 2, its second half: a later write of the run's own key (a retried step) is not what the gate reads."""
    pipeline = _pipeline()
    state: dict[str, Any] = {"execution": EXECUTION.format(name="pinned")}
    state["prepared"] = step(pipeline, "prepare", state)
    key = state["prepared"]["snapshot_key"]
    world.s3.put_object(
        Bucket=SNAPSHOT_BUCKET, Key=key, Body=b'{"query": "q", "query_language": "ja", "title_id": "x"}\n'
    )
    quality = step(pipeline, "quality_gate", state)
    assert quality["rows"] == 1800 * 28 and quality["version_id"] == state["prepared"]["version_id"], quality
    assert key == f"catalog-snapshots/{state['prepared']['snapshot_date']}/pinned/training.jsonl"


# -- 3. a developer plants the write-once copy a run will register


def _developer_s3(template: dict[str, Any]) -> Any:
    policy = bucket_policy(template, "RetrainingSnapshotBucket", SNAPSHOT_BUCKET)
    return act_as(boto3.client("s3", region_name="us-east-1"), DEVELOPER, policy)


def test_a_developer_cannot_plant_the_copy_a_run_will_register(
    world: World, governance_template: dict[str, Any]
) -> None:
    pipeline = _pipeline()
    state = _passed_run(world, pipeline, "exec-3")
    # While the job trains, a developer creates the key its registration will copy to (the execution is listed)
    copy = f"approved-models/{GROUP}/lora-exec-3/model.tar.gz"
    # Was: the put succeeds; the planted object stays (undeletable) and the run's copy fails with 412, every rerun
    # likewise. Safe: refused, and the run registers its own model.
    with pytest.raises(ClientError, match="AccessDenied"):
        _developer_s3(governance_template).put_object(
            Bucket=SNAPSHOT_BUCKET, Key=copy, Body=b"planted", IfNoneMatch="*"
        )
    registered = step(pipeline, "register", state)
    assert world.s3.get_object(Bucket=SNAPSHOT_BUCKET, Key=copy)["Body"].read() == b"lora adapter v1"
    assert _packages(world) == [registered["model_package_arn"]]


def test_no_one_replaces_or_deletes_a_registered_copy(world: World, governance_template: dict[str, Any]) -> None:
    """Held: what a package names under approved-models/ is neither overwritten nor deleted by a developer."""
    pipeline = _pipeline()
    step(pipeline, "register", _passed_run(world, pipeline, "exec-3"))
    copy = f"approved-models/{GROUP}/lora-exec-3/model.tar.gz"
    developer = _developer_s3(governance_template)
    for call in (
        lambda: developer.put_object(Bucket=SNAPSHOT_BUCKET, Key=copy, Body=b"swapped"),
        lambda: developer.delete_object(Bucket=SNAPSHOT_BUCKET, Key=copy),
        # With If-None-Match too (hole 3's fix): only the pipeline creates keys there
        lambda: developer.put_object(Bucket=SNAPSHOT_BUCKET, Key=copy, Body=b"swapped", IfNoneMatch="*"),
    ):
        with pytest.raises(ClientError, match="AccessDenied"):
            call()
    assert world.s3.get_object(Bucket=SNAPSHOT_BUCKET, Key=copy)["Body"].read() == b"lora adapter v1"


# -- 4. registration cannot be run twice


def test_a_registration_retried_after_a_refused_create_registers_the_model(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = _pipeline()
    state = _passed_run(world, pipeline, "exec-4")
    with monkeypatch.context() as patch:
        seen = _fail_first(patch, "CreateModelPackage", "ThrottlingException", 10)
        with pytest.raises(ClientError, match="ThrottlingException"):
            step(pipeline, "register", state)
    assert seen
    # The redrive (aws stepfunctions redrive-execution) runs RegisterModelPackage again
    registered = step(pipeline, "register", state)
    assert _packages(world) == [registered["model_package_arn"]]


def test_a_registration_retried_after_a_lost_answer_returns_the_one_package(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = _pipeline()
    state = _passed_run(world, pipeline, "exec-5")
    with monkeypatch.context() as patch:
        fail_calls(patch, "CreateModelPackage", "", after=True)  # SageMaker made it; the answer was lost
        with pytest.raises(Exception, match=r"[Tt]imeout"):
            step(pipeline, "register", state)
    [made] = _packages(world)
    # The state machine retries the step (States.Timeout is in its retry list)
    registered = step(pipeline, "register", state)
    # Was: PreconditionFailed (412) on the copy: the run fails at registration_error with a package registered.
    assert registered["model_package_arn"] == made and _packages(world) == [made]


def test_a_retried_registration_sends_the_same_client_token_and_metadata(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hole 4: SageMaker returns the package a token made when the retry's parameters are the same."""
    import botocore.client

    pipeline = _pipeline()
    state = _passed_run(world, pipeline, "exec-8")
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)
    sent: list[dict[str, Any]] = []

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        if name == "CreateModelPackage":
            sent.append(params)
            if len(sent) == 1:
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "injected"}}, name)
        return original(self, name, params)

    class Ticking(datetime):
        """The retry comes minutes later: a time taken at the call would differ."""

        calls = 0

        @classmethod
        def now(cls, tz: Any = None) -> Any:
            cls.calls += 1
            return datetime(2026, 12, 7, 4, cls.calls, tzinfo=UTC)

    with monkeypatch.context() as patch:
        patch.setattr(sys.modules["mlgov_runtime.retraining.logic"], "datetime", Ticking)
        patch.setattr(botocore.client.BaseClient, "_make_api_call", call)
        with pytest.raises(ClientError, match="ThrottlingException"):
            step(pipeline, "register", state)
        step(pipeline, "register", state)
    first, retry = sent
    assert first["ClientToken"] and first == retry


def test_a_copy_with_other_bytes_under_the_runs_key_is_never_registered(world: World) -> None:
    """Hole 4's limit: only a copy of the very same bytes is taken on a retry; anything else stops the run."""
    from mlgov_runtime.adapters.artifacts import CopyDiffers

    pipeline = _pipeline()
    state = _passed_run(world, pipeline, "exec-9")
    copy = f"approved-models/{GROUP}/lora-exec-9/model.tar.gz"
    world.s3.put_object(Bucket=SNAPSHOT_BUCKET, Key=copy, Body=b"other bytes", IfNoneMatch="*")
    with pytest.raises(CopyDiffers, match="exists with other bytes"):
        step(pipeline, "register", state)
    assert _packages(world) == []


# -- 6. impossible numbers in the evaluation


@pytest.mark.parametrize(
    "forged",
    [{"safety_violations": -1}, {"json_format_failure_rate": -0.5}, {"eval_loss": float("-inf")}],
    ids=["negative-safety-count", "negative-rate", "minus-infinity-loss"],
)
def test_an_evaluation_with_impossible_numbers_never_passes(world: World, forged: dict[str, float]) -> None:
    evaluation = {**PASSING_EVALUATION, **forged}
    training = world.trained("lora-exec-6", evaluation)  # json.dumps writes -Infinity; json.loads reads it
    try:
        offline = step(_pipeline(), "offline_gate", {"training": training})
    except InvalidEvaluation:
        return  # refused: the state machine reports offline_gate_error
    # Was: passed (-1 <= 0 violations; -0.5 < 0.05; -inf < 0.15)
    assert not offline["passed"], offline["checks"]


def test_a_missing_evaluation_never_passes_the_offline_gate(world: World) -> None:
    """Held: no evaluation.json (a job that wrote none) is an error the state machine reports, not a pass."""
    training = {**world.trained("lora-exec-7", PASSING_EVALUATION), "job_name": "lora-exec-never-wrote"}
    with pytest.raises(FileNotFoundError, match="does not exist"):
        step(_pipeline(), "offline_gate", {"training": training})


# -- 7. the coverage check reads the newest version, not the recorded one


def test_the_weekly_check_measures_the_snapshot_version_the_approved_model_trained_on(world: World) -> None:
    key = world.snapshot_uri.split("/", 3)[3]
    trained_on = world.s3.head_object(Bucket=SNAPSHOT_BUCKET, Key=key)["VersionId"]
    world.sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": world.inference_image, "ModelDataUrl": "s3://manga-training/m3.tar.gz"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        CustomerMetadataProperties={
            "training_data_s3_uri": world.snapshot_uri,
            "training_data_version": trained_on,
            "catalog_snapshot_date": OLD_SNAPSHOT_DATE.isoformat(),
        },
    )
    # A later run of the same date rewrote the key with the whole catalog
    world.s3.put_object(Bucket=SNAPSHOT_BUCKET, Key=key, Body=snapshot_body(world.items))
    result = fresh_handler("mlgov_runtime.coverage.handler").handler({}, FakeContext())
    # Was: 0 % gap, no finding, no retraining. Safe: the 22.22 % gap of what the model trained on.
    assert result.get("coverage_gap_pct") == 22.22, result


def test_a_recorded_snapshot_version_that_is_gone_is_a_failed_check_not_the_newest(world: World) -> None:
    """Hole 7's decision: the version the model trained on, or no measurement (COVERAGE_CHECK_FAILED)."""
    world.sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": world.inference_image, "ModelDataUrl": "s3://manga-training/m4.tar.gz"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        CustomerMetadataProperties={
            "training_data_s3_uri": world.snapshot_uri,
            "training_data_version": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
            "catalog_snapshot_date": OLD_SNAPSHOT_DATE.isoformat(),
        },
    )
    result = fresh_handler("mlgov_runtime.coverage.handler").handler({}, FakeContext())
    assert result["status"] == "error" and "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY" in result["reason"], result
    [failed] = [f for f in world.published() if f["kind"] == "COVERAGE_CHECK_FAILED"]
    assert failed["status"] == "OPEN" and "does not exist" in failed["detail"]


# -- 8. a LoRA setting longer than a hyperparameter may be


@pytest.mark.parametrize(
    "lora",
    [{"base_model": "org/" + "m" * 2500}, {"target_modules": [f"layers.{i}.self_attn.q_proj" for i in range(120)]}],
    ids=["base_model", "target_modules"],
)
def test_a_lora_setting_sagemaker_would_refuse_is_refused_at_synth(lora: dict[str, Any]) -> None:
    with pytest.raises(SettingsError, match=f"retraining.lora.{next(iter(lora))}"):
        parse_settings({"watched_model_package_groups": [GROUP], "retraining": {"lora": lora}})


def test_a_lora_setting_at_sagemakers_limit_is_accepted() -> None:
    modules = ["m" * 499] * 5  # five of 499 characters and 4 commas: 2,499 in all
    lora = {"base_model": "org/" + "m" * 2496, "target_modules": modules}
    parsed = parse_settings({"watched_model_package_groups": [GROUP], "retraining": {"lora": lora}})
    assert len(",".join(parsed.retraining.lora.target_modules)) <= 2500


# -- 9. the execution input rides in every step's state


def _retraining_states(template: dict[str, Any]) -> dict[str, Any]:
    [machine] = [
        v
        for k, v in template["Resources"].items()
        if v["Type"] == "AWS::StepFunctions::StateMachine" and k.startswith("Retraining")
    ]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return states_with_tokens("".join(p if isinstance(p, str) else "<<token>>" for p in parts))


def _start(template: dict[str, Any], run_input: Any, execution: str) -> dict[str, Any]:
    """The state PrepareTrainingData receives for `run_input`: the states before it applied as Step Functions applies
    the forms they use (Choice on IsPresent, Pass with Parameters of "$.field" and "$$.Execution.Id" paths)."""
    states = _retraining_states(template)
    name, seen = "Start", list[str]()
    while name != "PrepareTrainingData":
        state, seen = states[name], [*seen, name]
        assert len(seen) < 32, seen
        if state["Type"] == "Choice":
            [choice] = [c for c in state["Choices"] if set(c) == {"Variable", "IsPresent", "Next"}] or [None]
            assert choice is not None and len(state["Choices"]) == 1, state
            field = choice["Variable"].removeprefix("$.")
            present = isinstance(run_input, dict) and field in run_input
            name = choice["Next"] if present == choice["IsPresent"] else state["Default"]
            continue
        assert state["Type"] == "Pass", state
        run_input = _parameters(state["Parameters"], run_input, execution)
        name = state["Next"]
    assert isinstance(run_input, dict)
    return run_input


def _parameters(parameters: dict[str, Any], run_input: Any, execution: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in parameters.items():
        if isinstance(value, dict):
            out[key] = _parameters(value, run_input, execution)
        elif not key.endswith(".$"):
            out[key] = value
        elif value == "$$.Execution.Id":
            out[key[:-2]] = execution
        elif value == "$":
            out[key[:-2]] = run_input
        else:
            assert value.startswith("$.") and value.count(".") == 1, value
            out[key[:-2]] = run_input[value[2:]]  # a missing field: Step Functions fails the state (States.Runtime)
    return out


def test_an_input_start_execution_accepts_never_ends_a_run_without_a_finding(
    world: World, governance_template: dict[str, Any]
) -> None:
    # StartExecution takes an input of up to 256 KB
    run_input = {
        "trigger": "rerun",
        "note": "x" * (STATE_LIMIT - 64 - len(json.dumps({"trigger": "rerun", "note": ""}))),
    }
    state = _start(governance_template, run_input, EXECUTION.format(name="big"))
    state["prepared"] = step(_pipeline(), "prepare", state)
    # Was: over 256 KB after the first step: States.DataLimitExceeded, which no Catch (States.ALL) takes.
    assert len(json.dumps(state).encode()) <= STATE_LIMIT


def test_an_operators_execution_input_never_reaches_the_steps_state(governance_template: dict[str, Any]) -> None:
    """Held: whoever may start a run chooses its input, and the Start state keeps it under `input`: a forged
    `prepared`, `training` or `offline` never reaches the steps, the Choice states or the training channel."""
    forged = {
        "prepared": {"snapshot_prefix": "s3://attacker/", "snapshot_key": "x"},
        "training": {"job_name": "lora-old-passing-run", "model_artifacts": "s3://attacker/model.tar.gz"},
        "offline": {"passed": True, "evaluation": PASSING_EVALUATION},
        "quality": {"passed": True},
    }
    state = _start(governance_template, {**forged, "trigger": "rerun"}, EXECUTION.format(name="forged"))
    # Since hole 9's fix, only the weekly check's fields are kept (under `input`)
    assert set(state) == {"execution", "input"} and state["input"] == {"trigger": "rerun"}
    states = _retraining_states(governance_template)
    channel = states["TrainLoRA"]["Parameters"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    assert channel["S3Uri.$"] == "$.prepared.snapshot_prefix"
    assert states["PrepareTrainingData"]["ResultPath"] == "$.prepared"
    assert states["OfflineGate"]["ResultPath"] == "$.offline"


# -- What held: the guardrails on the retraining path, judged on the SCPs `attachments()` puts on the account

GUARDED = parse_settings(
    {
        "watched_model_package_groups": [GROUP],
        "guardrails": {"target_ou_ids": [WORKLOAD_OU], "governance_target_ids": [GOV]},
    }
)
FUNCTION = f"arn:aws:lambda:{REGION}:{GOV}:function:MlGovEndpointAudit-RetrainingPipelineSteps1A2B3C4D-AbCdEf12"
MACHINE = f"arn:aws:states:{REGION}:{GOV}:stateMachine:RetrainingStateMachine1A2B3C4D-AbCdEf123456"
TRAINING_ROLE = f"arn:aws:iam::{GOV}:role/MlGovEndpointAudit-RetrainingTrainingRole1A2B3C4D-AbCdEf12"
PACKAGE = f"arn:aws:sagemaker:{REGION}:{GOV}:model-package/{GROUP}/7"


def _decision(role: str, action: str, resource: str, **keys: Any) -> str:
    scps = {p.name: p.document for p in guardrail_policies(GUARDED)}
    on = {name: scps[name] for name, targets in attachments(GUARDED).items() if GOV in targets}
    context = {
        "aws:PrincipalArn": f"arn:aws:iam::{GOV}:role/{role}",
        "aws:PrincipalAccount": GOV,
        "aws:PrincipalOrgPaths": ["o-a1b2c3d4e5/r-ab12/"],
        **keys,
    }
    return evaluate(on, action, resource, context).decision


@pytest.mark.parametrize(
    ("action", "resource", "keys"),
    [
        ("lambda:InvokeFunction", FUNCTION, {}),
        ("states:StartExecution", MACHINE, {}),
        ("states:StopExecution", MACHINE.replace(":stateMachine:", ":execution:") + ":coverage-gap-1", {}),
        ("states:RedriveExecution", MACHINE.replace(":stateMachine:", ":execution:") + ":coverage-gap-1", {}),
        ("iam:PassRole", TRAINING_ROLE, {"iam:PassedToService": "sagemaker.amazonaws.com"}),
        ("iam:CreateRole", f"arn:aws:iam::{GOV}:role/MlGovEndpointAudit-RetrainingForged", {}),
        (
            "events:PutEvents",
            f"arn:aws:events:{REGION}:{GOV}:event-bus/default",
            {"events:source": ["mlgov.retraining"]},
        ),
        ("sagemaker:CreateModelPackage", PACKAGE, {}),
        ("sagemaker:UpdateModelPackage", PACKAGE, {"sagemaker:ModelApprovalStatus": "Approved"}),
        ("dynamodb:PutItem", f"arn:aws:dynamodb:{REGION}:{GOV}:table/manga-catalog", {}),
    ],
)
def test_a_developer_cannot_drive_the_retraining_path_around_its_gates(
    action: str, resource: str, keys: dict[str, Any]
) -> None:
    assert _decision("Developer", action, resource, **keys) == "Deny"


def test_an_operator_starts_a_run_and_the_product_passes_the_training_role() -> None:
    """What the denies above keep working: the operators' start, the retraining machine passing its training role."""
    assert _decision("mlgov-protected/MlGovOperator", "states:StartExecution", MACHINE) == "Allow"
    machine_role = "MlGovEndpointAudit-RetrainingStateMachineRole1A2B3C4D-AbCd"
    assert _decision(machine_role, "iam:PassRole", TRAINING_ROLE) == "Allow"


# -- 5. a run that outlives the state machine's timeout ends silently


def _template(**retraining: Any) -> dict[str, Any]:
    from aws_cdk.assertions import Template

    from app import build_app
    from stacks.constants import AUDIT_STACK_NAME

    guardrails = {"target_ou_ids": [WORKLOAD_OU], "governance_target_ids": [GOV]}
    app = build_app(context={"mlgov": {"guardrails": guardrails, "retraining": retraining}})
    stack: Any = app.node.find_child(AUDIT_STACK_NAME)
    return dict(Template.from_stack(stack).to_json())


def _retraining_machine(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [(logical, machine)] = [
        (k, v)
        for k, v in template["Resources"].items()
        if v["Type"] == "AWS::StepFunctions::StateMachine" and k.startswith("Retraining")
    ]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return logical, json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))


def test_a_training_job_within_its_max_runtime_never_times_the_run_out_unannounced() -> None:
    # Managed spot off, a 20-hour job (max_runtime_hours allows 120): the settings are accepted
    template = _template(max_runtime_hours=20)
    logical, definition = _retraining_machine(template)
    training = definition["States"]["TrainLoRA"]["TimeoutSeconds"]
    # Was: the run times out at 16 h (max_wait_hours 12 + 4) while TrainLoRA may take 21 h: TIMED_OUT, no
    # ReportFailure, and the retraining alarm counts ExecutionsFailed only. Safe: the run outlives its longest step
    # and its steps after it, and a run that ends otherwise than in success is alarmed.
    assert definition.get("TimeoutSeconds", 0) > training + 3600, (definition.get("TimeoutSeconds"), training)
    alarms = [json.dumps(v) for v in template["Resources"].values() if v["Type"] == "AWS::CloudWatch::Alarm"]
    assert any("ExecutionsTimedOut" in a and logical in a for a in alarms)
