"""Hole closed: what the retraining run registers is what its own training job wrote.

The snapshot bucket's policy denies writes (and deletes) under training-output/, evaluations/ and checkpoints/
to every principal but the training job's role, and under catalog-snapshots/ to all but the pipeline steps'
role, whatever their IAM policies allow (the bucket's key delegates to IAM). Between the training job and
`register`, a developer (PowerUserAccess) tries to swap the evaluation and the artifact: the synthesized policy
refuses both, the offline gate fails the model on its own evaluation, and nothing is registered. (The training
code itself is a CDK asset in the bootstrap bucket, outside this bucket's policy.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from mlgov.catalog_estate import SNAPSHOT_BUCKET
from tests.attacker.resource_policies import DEVELOPER, act_as, bucket_policy, role_arn
from tests.conftest import PASSING_EVALUATION
from tests.integration.test_coverage_and_retraining import World, fresh_handler, step
from tests.integration.test_coverage_and_retraining import world as _world  # noqa: F401

FAILING = {**PASSING_EVALUATION, "eval_loss": 0.9, "safety_violations": 7}


@pytest.fixture
def world(_world: World) -> Iterator[World]:  # noqa: F811
    yield _world


def _s3(principal: str, template: dict[str, Any]) -> Any:
    policy = bucket_policy(template, "RetrainingSnapshotBucket", SNAPSHOT_BUCKET)
    return act_as(boto3.client("s3", region_name="us-east-1"), principal, policy)


def _refused(call: Any, **params: Any) -> None:
    with pytest.raises(ClientError) as refused:
        call(Bucket=SNAPSHOT_BUCKET, **params)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_a_swap_of_a_failed_jobs_outputs_is_refused_and_the_offline_gate_fails_it(
    world: World, governance_template: dict[str, Any]
) -> None:
    pipeline = fresh_handler("mlgov_runtime.retraining.handler")
    prepared = step(pipeline, "prepare", {})
    step(pipeline, "quality_gate", {"prepared": prepared})
    # Given a training job whose model failed (7 safety violations)
    training = world.trained("lora-exec-9", FAILING)
    job = training["job_name"]
    evaluation, artifact = f"evaluations/{job}/evaluation.json", f"training-output/{job}/output/model.tar.gz"
    # When a developer rewrites its evaluation and its artifact, copies a passing run's over it, or deletes it
    developer = _s3(DEVELOPER, governance_template)
    _refused(developer.put_object, Key=evaluation, Body=json.dumps(PASSING_EVALUATION))
    _refused(developer.put_object, Key=artifact, Body=b"not ours")
    _refused(developer.copy_object, Key=artifact, CopySource={"Bucket": SNAPSHOT_BUCKET, "Key": "x/model.tar.gz"})
    _refused(developer.delete_object, Key=evaluation)
    # Then the gate reads the job's own evaluation and fails it: nothing reaches `register`
    offline = step(pipeline, "offline_gate", {"training": training})
    assert not offline["passed"]
    assert world.s3.get_object(Bucket=SNAPSHOT_BUCKET, Key=artifact)["Body"].read() == b"lora adapter v1"


def test_only_the_job_writes_its_outputs_and_only_the_steps_write_the_snapshot_it_trains_on(
    world: World, governance_template: dict[str, Any]
) -> None:
    job = _s3(role_arn(governance_template, "RetrainingTrainingRole"), governance_template)
    job.put_object(Bucket=SNAPSHOT_BUCKET, Key="evaluations/lora-1/evaluation.json", Body=json.dumps(FAILING))
    job.put_object(Bucket=SNAPSHOT_BUCKET, Key="checkpoints/lora-1/step-10.pt", Body=b"ckpt")
    steps = _s3(role_arn(governance_template, "RetrainingPipelineStepsRole"), governance_template)
    _refused(steps.put_object, Key="training-output/lora-1/output/model.tar.gz", Body=b"x")
    steps.put_object(Bucket=SNAPSHOT_BUCKET, Key="catalog-snapshots/2026-12-01/part-0.jsonl", Body=b"{}")
    # A poisoned snapshot trains the next model: a developer cannot plant one, nor a checkpoint it resumes from.
    developer = _s3(DEVELOPER, governance_template)
    _refused(developer.put_object, Key="catalog-snapshots/2026-12-01/part-0.jsonl", Body=b'{"title_id": "x"}')
    _refused(developer.put_object, Key="checkpoints/lora-1/step-10.pt", Body=b"poison")
    _refused(job.put_object, Key="catalog-snapshots/2026-12-01/part-1.jsonl", Body=b"{}")
    assert developer.get_object(Bucket=SNAPSHOT_BUCKET, Key="evaluations/lora-1/evaluation.json")  # reads: IAM's
