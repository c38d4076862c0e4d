"""Hole: what the retraining run registers is whatever lies under training-output/ and evaluations/ when the
steps read it, and those prefixes take anyone's writes.

The snapshot bucket's policy guards only approved-models/ (write-once). training-output/, evaluations/,
catalog-snapshots/ and checkpoints/ are open to any principal with s3:PutObject (and kms through IAM); the
training code itself is a CDK asset in the bootstrap bucket, fetched by every training job. Between the training
job and `register`, someone swaps the evaluation and the artifact: the offline gate passes a model that failed,
`register` pins the swapped bytes, and the package carries a real retraining execution, so the challenger's
provenance check vouches for it and deploys it on live traffic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from mlgov.catalog_estate import SNAPSHOT_BUCKET
from tests.conftest import PASSING_EVALUATION
from tests.integration.test_coverage_and_retraining import World, fresh_handler, step
from tests.integration.test_coverage_and_retraining import world as _world  # noqa: F401

FAILING = {**PASSING_EVALUATION, "eval_loss": 0.9, "safety_violations": 7}


@pytest.fixture
def world(_world: World) -> Iterator[World]:  # noqa: F811
    yield _world


def test_swapped_outputs_pass_the_offline_gate_and_are_registered_with_verified_provenance(world: World) -> None:
    pipeline = fresh_handler("mlgov_runtime.retraining.handler")
    prepared = step(pipeline, "prepare", {})
    quality = step(pipeline, "quality_gate", {"prepared": prepared})
    # Given a training job whose model failed (7 safety violations)
    training = world.trained("lora-exec-9", FAILING)
    # When someone with s3:PutObject rewrites its evaluation and its artifact before the gate and register read them
    job = training["job_name"]
    world.s3.put_object(
        Bucket=SNAPSHOT_BUCKET, Key=f"evaluations/{job}/evaluation.json", Body=json.dumps(PASSING_EVALUATION)
    )
    world.s3.put_object(Bucket=SNAPSHOT_BUCKET, Key=f"training-output/{job}/output/model.tar.gz", Body=b"not ours")
    offline = step(pipeline, "offline_gate", {"training": training})
    execution = "arn:aws:states:us-east-1:123456789012:execution:RetrainingStateMachine:exec-9"
    state = {"execution": execution, "prepared": prepared, "quality": quality, "training": training, "offline": offline}
    registered = step(pipeline, "register", state)
    # Then the failed model is registered as eligible, its pins naming the swapped bytes, with the real run's ARN
    package = world.sm.describe_model_package(ModelPackageName=registered["model_package_arn"])
    meta = package["CustomerMetadataProperties"]
    assert offline["passed"] and meta["shadow_ctr_eligible"] == "true"
    assert meta["retraining_execution_arn"] == execution
    [container] = package["InferenceSpecification"]["Containers"]
    copy = container["ModelDataUrl"].split(f"s3://{SNAPSHOT_BUCKET}/", 1)[1]
    assert world.s3.get_object(Bucket=SNAPSHOT_BUCKET, Key=copy)["Body"].read() == b"not ours"
