"""Thirteenth review (issue 20): an attacker and failure review of the OPERATOR commands that change AWS state
(`mlgov rollback`, `mlgov capacity restore|campaign-end`, `mlgov retire cancel`, `mlgov notify redrive`,
`mlgov challenger start`) and of what the on-call engineer believes from them. Failures injected at botocore
(every client's `_make_api_call`): ThrottlingException, AccessDenied, an answer lost after the call went through.

Holes, ranked (each test asserts the SAFE outcome, strict xfail until fixed):
 1. (high) `mlgov rollback` believes the target's bytes by name. check_target asks only whether the artifact
    (HeadObject) and the image tag (DescribeImages) exist; the package's pins (`ModelDataETag`, `ImageDigest`,
    `model_data_version_id`/`model_data_checksum`) are never compared. Whoever may write the artifact's key or push
    the image's tag (no registry write, no SCP in the way) after the approval has the rollback deploy bytes no
    approver saw to all production traffic, reported `"state": "present"` and exit 0; the lineage audit's own pin
    check (lineage_audit/pins.check_container_pins) calls the same package a mismatch. Fix: check_target runs
    check_container_pins with StorePins over the target's containers: a mismatch refuses (exit 2, "nothing was
    changed", the pin named), unverified is a warning as today, an unpinned artifact or tag-only image a warning
    naming the lineage audit's fix. Touches mlgov/ops/challenger_rollback.py (check_target, the Artifacts port),
    mlgov/commands/challenger.py (pass the reader), docs/challenger.md (what the checks compare), CONTRACTS.md
    (`target_checks` states gain `mismatch`). Fixed: check_target runs check_container_pins (StorePins) on the
    target's image and model data once each is present; a mismatch refuses (exit 2, "nothing was changed", the
    audit's reason, how to put the pinned bytes back), its check `"state": "mismatch"`; unverified or unpinned is a
    warning with the audit's fix.
 2. (high) `mlgov capacity campaign-end` puts back a forged "before" ABOVE what the campaign set. The record of a
    real campaign is believed when its minimum set is the -out action's and the action holds exactly the set
    values; its "before" values are taken as they are, clamped only from below. A developer with sagemaker:AddTags
    edits `mlgov:campaign:manga-monday:<i>` to "40 900 6 6 AllTraffic mlgov-min1-0000-daily"; the overdue finding's
    own fix command then leaves the daily 00:00 action at MinCapacity 40, MaxCapacity 900 every night, exit 0,
    no warning (docs/capacity.md says a forged "before" can at most lower an action to the floor). The campaign
    only raises, so a true record never has min_before > min_set, nor max_before > max_set, nor a max_before with
    no max_set. Fix: RaisedRecord (or Anchor.believes) refuses such a record (skipped, "not believed", reported)
    or campaign-end caps the put-back at what the campaign set. Touches
    lambdas/mlgov_runtime/capacity/campaign_record.py, mlgov/commands/capacity.py (cmd_campaign_end),
    docs/capacity.md (trust model). Fixed: RaisedRecord.above_set; campaign-end leaves such an action at what the
    campaign set, warns "not believed" and gives `put_back_by_hand` (the put-scheduled-action, N/M to fill in).
 3. (medium) `mlgov rollback` with a production model that names no package of the group (built from an image and
    model data, a model re-created by hand, a served package deleted) has no version to be "below": it takes the
    newest Approved version of the group, here v2, the very bytes that serve, and reports `rolled_back`, exit 0,
    with only a warning that nothing will be Rejected. The same path deploys another group's model onto an
    endpoint given a mistyped `--group`. Fix: when the serving version cannot be told, refuse (exit 2, "which
    version serves cannot be told") unless the model's container matches a package of the group by its pins
    (ModelDataUrl + ETag, image digest), which is then the serving version. Touches
    mlgov/ops/challenger_rollback.py (plan_rollback), docs/challenger.md. Fixed: a serving model naming no package
    of the group is matched against the group's Approved versions by model data URL, image and every pin holding
    now; no match refuses (exit 2, "which version serves cannot be told", the dry run too), a match is the serving
    version (every matching version is skipped as a target).
 4. (medium) an UpdateEndpoint whose answer was lost (a read timeout after SageMaker took the update) ends the
    rollback exit 1 "AWS call failed"; v1 then serves and v2, the failing version, stays Approved. The rerun the
    engineer makes plans from v1: "no previous Approved version of manga-recommender ... Fallbacks: Serve the base
    model" (exit 4), steering the on-call to the foundation model with the rollback done. Fix: apply_rollback treats
    any error from UpdateEndpoint as "maybe sent" and watches DescribeEndpoint as after a clean call; plan_rollback
    recognises a production model it made (tags mlgov:managed-by and mlgov:rollback-from) whose rollback-from
    model's package is still Approved, and finishes (retag, reject) instead of looking below it.
    Touches mlgov/ops/challenger_rollback.py. Fixed: a lost answer (no AWS refusal) is followed by one
    DescribeEndpoint; an endpoint showing the update is watched as after a clean call (the run finishes itself); a
    rerun after a run that stopped watching (deadline) finds its tagged model serving and finishes (retag, reject,
    no new update). The first-run assertion now pins the finished run, the rerun test a slow update.
 5. (medium) a failure after the first change (CreateModel done, then UpdateEndpoint throttled or denied) is the
    bare "mlgov: error: AWS call failed: ... UpdateEndpoint ...", exit 1: it names neither the endpoint nor that
    it still serves its old config with nothing Rejected, nor the model and config left behind, nor what to do.
    Fix: apply_rollback catches the writes' errors and raises one line: what was created, that the endpoint
    serves <old config> and nothing was marked Rejected, and "run the same command again" (throttling) or the
    permission to add (AccessDenied); exit 5. Touches mlgov/ops/challenger_rollback.py,
    mlgov/commands/challenger.py. Fixed: a refused CreateModel, CreateEndpointConfig or UpdateEndpoint ends the
    run with status `stopped` and one `mlgov: error:` line (what was created and how to delete it, the config
    that serves, nothing Rejected, rerun or the permission), exit 5 (the update did not end serving the target).
 6. (low) `mlgov rollback --dry-run` says `planned`, exit 0, on an endpoint the real run refuses (Updating: "not
    InService ... run the command again then", exit 2): the InService check lives only in apply_rollback.
    Fix: move the status check into plan_rollback (both paths). Touches mlgov/ops/challenger_rollback.py.
    Fixed: plan_rollback refuses a non-InService endpoint once it has a target (dry run and real run alike; the
    apply checks again at the write); no previous version still prints the fallbacks.
 7. (low) `mlgov retire cancel` closes the ENDPOINT_RETIRING finding first, then tags the endpoint active; an
    AddTags the caller may not make leaves the retirement closed and the endpoint tagged retiring, reported as
    "mlgov: unexpected failure: ReadFailure: tags of ...: AccessDeniedException" (a write named a read, nothing
    about the closed retirement). Fix: catch the tag failure after the close and print one line: "retirement
    closed; the tag still says retiring: aws sagemaker add-tags --resource-arn ... --tags
    Key=endpoint_purpose,Value=active" (exit 1). Touches mlgov/commands/retirement.py (cmd_cancel), and the
    adapter's error naming (lambdas/mlgov_runtime/retirement/endpoint_retirement.py raises ReadFailure for the
    AddTags write). Fixed: the adapter raises WriteFailure naming AddTags; cancel prints that one line (closed
    first: tagged first, the open retirement's tag watch would put `retiring` back).
 8. (low) `mlgov notify redrive` failing mid-way (a DeleteMessage throttled after the message was sent back) is
    the bare AWS error: how many moved is lost, the message now in both queues is not mentioned, and the kept
    (untrusted) messages stay invisible until their timeout. Fix: catch in redrive(), report moved/kept so far and
    "the message was sent back but is still in the DLQ; running the command again is safe (the notifier skips
    the targets its mlgov_message_id reached)". Touches mlgov/ops/redrive.py, mlgov/commands/notifier.py.
    Fixed: redrive() raises RedriveStopped (the call, the message, what moved and was kept) after showing the kept
    messages again; the command prints that one line, exit 1 (the rerun's safety: test_notifier_refusals).

What held (regression tests below, passing): a ListModelPackages throttled or denied is exit 1 naming the call,
never "no previous Approved version" (exit 4, the fallbacks), nothing changed; an endpoint's ModelPackageName
tag forged to claim v1 does not steer a rollback whose model exists (the model's package decides; the tag only
narrows when the model is gone, as documented); `mlgov challenger start` denied DescribeModelPackage says
AccessDenied, never "does not exist", and starts nothing; `mlgov capacity restore` whose RegisterScalableTarget is
throttled or denied reports that step failed with the code, the verdict still CAN_SCALE_TO_ZERO (minimum 0, not
missing) and exit 3, the target unchanged; campaign-end puts a forged low "before" back at the floor and says
`clamped_to_floor` (the documented bound); the swaps of hole 1 are real (the lineage audit's pin check calls both
a mismatch on the same package). Capacity restore reads no campaign record (only campaign-end does), so a forged
record cannot make restore set MinCapacity 0: restore's maximum is the target's own or `capacity.max_capacity`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from mlgov import emulator
from mlgov.challenger_estate import IMAGE_MANIFEST
from mlgov.retirement_estate import RETURNING
from mlgov.sandbox import FakeContext, load_event
from tests.attacker.inject import fail_calls
from tests.integration.test_capacity import (
    CAMPAIGN,
    CAMPAIGN_END_CMD,
    PROD,
    PROD_TARGET,
    CapacityWorld,
    _clock,
    _weekly,
    campaign_clock,
    capacity_world,
    run_cli,
    set_min,
)
from tests.integration.test_challenger_cli import RunCli, artifacts, clock, config, lab, rollback, run
from tests.integration.test_challenger_handler import ACCOUNT, ENDPOINT, REGION, Lab
from tests.integration.test_notifier_redrive import _bodies, _redrive, queues
from tests.integration.test_retirement import RetirementWorld, retirement_world
from tests.settings_files import NO_SETTINGS

__all__ = [
    "artifacts",
    "campaign_clock",
    "capacity_world",
    "clock",
    "config",
    "lab",
    "queues",
    "retirement_world",
    "rollback",
]

GROUP = "manga-recommender"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution"
PINNED_BUCKET, PINNED_KEY = "manga-training", "approved-models/v5/model.tar.gz"
PINNED_URL = f"s3://{PINNED_BUCKET}/{PINNED_KEY}"
REPO = "recsys-serving"
PINNED_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPO}:v5"


def _config_name(lab: Lab) -> str:
    return str(lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"])


def _register_approved(lab: Lab, container: dict[str, str], snapshot: str) -> str:
    arn = lab.sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [container],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        CustomerMetadataProperties={"catalog_snapshot_date": snapshot},
    )["ModelPackageArn"]
    return str(arn)


def _serve(lab: Lab, package_arn: str, name: str) -> None:
    """Point the production endpoint at a model of `package_arn` (what a promotion does), InService at once."""
    _serve_raw(lab, name, {"ModelPackageName": package_arn})


@pytest.fixture
def pinned(lab: Lab, artifacts: list[str]) -> dict[str, str]:
    """v5: registered by the pipeline with its pins (ModelDataETag of the approved object, ImageDigest of the
    tag it named), Approved; v6 Approved after it and promoted onto the production endpoint."""
    s3, ecr = boto3.client("s3", region_name=REGION), boto3.client("ecr", region_name=REGION)
    etag = s3.put_object(Bucket=PINNED_BUCKET, Key=PINNED_KEY, Body=b"approved v5 weights")["ETag"].strip('"')
    ecr.create_repository(repositoryName=REPO)
    digest = ecr.put_image(repositoryName=REPO, imageManifest=IMAGE_MANIFEST, imageTag="v5")["image"]["imageId"][
        "imageDigest"
    ]
    container = {"Image": PINNED_IMAGE, "ImageDigest": digest, "ModelDataUrl": PINNED_URL, "ModelDataETag": etag}
    v5 = _register_approved(lab, container, "2026-11-30")
    v6 = _register_approved(lab, container, "2026-12-05")
    _serve(lab, v6, "manga-rec-v6")
    return {"v5": v5, "v6": v6, "etag": etag, "digest": digest}


OTHER_MANIFEST = json.dumps(
    {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
     "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1,
                 "digest": "sha256:" + "ab" * 32}]}
)  # fmt: skip


def _swap(swap: str) -> None:
    """What someone with write rights on the artifact bucket or push rights on the repository does after the
    approval: new bytes under the name the package gives (no registry write, no SCP in the way)."""
    if swap == "artifact":
        boto3.client("s3", region_name=REGION).put_object(Bucket=PINNED_BUCKET, Key=PINNED_KEY, Body=b"other")
    else:
        ecr = boto3.client("ecr", region_name=REGION)
        ecr.put_image(repositoryName=REPO, imageManifest=OTHER_MANIFEST, imageTag="v5")


def _pin_problems(lab: Lab, arn: str) -> list[str]:
    from mlgov_runtime.adapters.artifacts import StorePins
    from mlgov_runtime.lineage_audit.pins import check_container_pins

    package = lab.package(arn)
    [container] = package["InferenceSpecification"]["Containers"]
    reader = StorePins(boto3.client("s3", region_name=REGION), lambda r: boto3.client("ecr", region_name=r))
    found = check_container_pins(container, package.get("CustomerMetadataProperties") or {}, reader, arn)
    return [f"{p.kind}: {p.reason}" for p in found]


# -- 1. rollback believes the target's bytes by name


@pytest.mark.parametrize("swap", ["artifact", "image"])
def test_rollback_refuses_a_target_whose_bytes_changed_since_its_approval(
    lab: Lab, pinned: dict[str, str], rollback: RunCli, swap: str
) -> None:
    _swap(swap)
    before = _config_name(lab)
    code, out, err = rollback("--format", "json")
    # Safe: refused before anything changed, naming the pin that no longer holds
    assert _config_name(lab) == before and lab.package(pinned["v6"])["ModelApprovalStatus"] == "Approved", out
    assert code == 2 and "v5 cannot be rolled back to" in err and "pinned" in err, err
    assert "nothing was changed" in err and "run the command again" in err, err


def test_a_target_whose_pins_hold_is_checked_and_rolled_back_to(
    lab: Lab, pinned: dict[str, str], rollback: RunCli
) -> None:
    """The guard of hole 1 does not refuse the approved bytes: every check of v5 says present."""
    code, out, err = rollback("--format", "json")
    report = json.loads(out)
    assert code == 0 and report["target"]["version"] == 5, err
    assert {c["kind"]: c["state"] for c in report["target_checks"]} == {"artifact": "present", "image": "present"}
    assert lab.package(pinned["v6"])["ModelApprovalStatus"] == "Rejected"


@pytest.mark.parametrize("swap", ["artifact", "image"])
def test_the_mismatch_is_the_state_of_the_swapped_part_in_target_checks(
    lab: Lab, pinned: dict[str, str], swap: str
) -> None:
    from mlgov.ops.challenger_rollback import ArtifactCheck, RollbackPlan, RollbackRefused, check_target
    from mlgov_runtime.adapters.artifacts import StorePins

    _swap(swap)
    plan = RollbackPlan(ENDPOINT, GROUP, "why", "AllTraffic", "m", None, None, None, {"version": 5})
    s3, ecr = boto3.client("s3", region_name=REGION), lambda r: boto3.client("ecr", region_name=r)
    with pytest.raises(RollbackRefused, match="nothing was changed"):
        check_target(plan, lab.package(pinned["v5"]), ArtifactCheck(s3, ecr), StorePins(s3, ecr))
    other = "image" if swap == "artifact" else "artifact"
    states = {c["kind"]: c["state"] for c in plan.target_checks}
    assert states == {swap: "mismatch", other: "present"}, plan.target_checks


@pytest.mark.parametrize("field", ["ModelDataSource", "AdditionalModelDataSources"])
def test_a_target_loading_uncompressed_model_data_is_warned_about_as_an_unpinned_image_is(
    lab: Lab, pinned: dict[str, str], field: str
) -> None:
    """Fourteenth review, left as is then: a ModelDataSource prefix has no pin, so files swapped under it after
    the approval were never named. The rollback now warns with the lineage audit's reason and fix."""
    from mlgov.ops.challenger_rollback import ArtifactCheck, RollbackPlan, check_target
    from mlgov_runtime.adapters.artifacts import StorePins

    s3, ecr = boto3.client("s3", region_name=REGION), lambda r: boto3.client("ecr", region_name=r)
    s3.put_object(Bucket=PINNED_BUCKET, Key="uncompressed/v5/model.safetensors", Body=b"approved v5 weights")
    source = {"S3Uri": f"s3://{PINNED_BUCKET}/uncompressed/v5/", "S3DataType": "S3Prefix", "CompressionType": "None"}
    data = {"S3DataSource": source} if field == "ModelDataSource" else [{"ChannelName": "a", "S3DataSource": source}]
    container = {"Image": PINNED_IMAGE, "ImageDigest": pinned["digest"], field: data}
    package = lab.package(_register_approved(lab, container, "2026-11-30"))  # type: ignore[arg-type]
    plan = RollbackPlan(ENDPOINT, GROUP, "why", "AllTraffic", "m", None, None, None, {"version": 5})
    check_target(plan, package, ArtifactCheck(s3, ecr), StorePins(s3, ecr))
    [warning] = [w for w in plan.warnings if "no pin covers" in w]
    assert source["S3Uri"] in warning and "mlgov register --write-once-bucket" in warning, plan.warnings


@pytest.mark.parametrize("swap", ["artifact", "image"])
def test_the_swap_is_real_and_the_lineage_audits_pin_check_sees_it(lab: Lab, pinned: dict[str, str], swap: str) -> None:
    """The setup of hole 1 holds (the tag moved, the object was overwritten), and the product already has the
    check the rollback lacks: the lineage audit's pin comparison calls both a mismatch."""
    assert _pin_problems(lab, pinned["v5"]) == []
    _swap(swap)
    [problem] = _pin_problems(lab, pinned["v5"])
    assert problem.startswith("mismatch: ") and ("overwritten" in problem or "now points at" in problem), problem


# -- 3. a serving model that names no package of the group


def test_rollback_never_rolls_back_to_the_version_the_endpoint_serves_by_its_bytes(lab: Lab, rollback: RunCli) -> None:
    # Given the production variant's model built from v2's container directly (an image and model data, not the
    # package ARN: a deploy outside the pipeline, or a model re-created by hand during an incident)
    v2 = lab.variants_package("AllTraffic")
    [container] = lab.package(v2)["InferenceSpecification"]["Containers"]
    lab.sm.create_model(
        ModelName="manga-rec-v2-raw",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": container["Image"], "ModelDataUrl": container["ModelDataUrl"]},
    )
    lab.sm.create_endpoint_config(
        EndpointConfigName="manga-rec-v2-raw-config",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "manga-rec-v2-raw", "InitialInstanceCount": 1,
             "InstanceType": "ml.g4dn.2xlarge", "InitialVariantWeight": 1.0}
        ],
    )  # fmt: skip
    lab.sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="manga-rec-v2-raw-config")
    before = _config_name(lab)
    # Was: the dry run planned v2 (the newest Approved version, the bytes that serve) and the real run "rolled back"
    # to it, exit 0: the failing version served on under a new name. Both now refuse alike.
    dry, _, dry_err = rollback("--dry-run", "--format", "json")
    code, out, err = rollback("--format", "json")
    assert _config_name(lab) == before, out
    assert code == 2 and "cannot be told" in err and "nothing was changed" in err, err
    assert dry == 2 and "cannot be told" in dry_err, dry_err


def _serve_raw(lab: Lab, name: str, container: dict[str, str]) -> None:
    lab.sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    lab.sm.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1,
             "InstanceType": "ml.g4dn.2xlarge", "InitialVariantWeight": 1.0}
        ],
    )  # fmt: skip
    lab.sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{name}-config")


def test_a_serving_model_holding_pinned_bytes_of_the_group_is_that_version(
    lab: Lab, pinned: dict[str, str], rollback: RunCli
) -> None:
    """The exception of hole 3's guard: a raw model whose image and model data are v5's and v6's pinned bytes
    (pins holding now) serves them; the target is below both and v6 (the newest of them) is Rejected."""
    _serve_raw(lab, "manga-rec-raw", {"Image": PINNED_IMAGE, "ModelDataUrl": PINNED_URL})
    code, out, err = rollback("--format", "json")
    report = json.loads(out)
    assert code == 0 and report["serving_package"] == pinned["v6"] and report["target"]["version"] == 2, err
    assert "told by its pins" in err and "v6, v5" in err, err
    assert lab.package(pinned["v6"])["ModelApprovalStatus"] == "Rejected"


@pytest.mark.parametrize("swap", ["artifact", "image"])
def test_a_serving_model_whose_bytes_no_longer_match_a_pin_cannot_be_told(
    lab: Lab, pinned: dict[str, str], rollback: RunCli, swap: str
) -> None:
    """A name match is no proof: the same URL and tag with other bytes under them match no version."""
    _serve_raw(lab, "manga-rec-raw", {"Image": PINNED_IMAGE, "ModelDataUrl": PINNED_URL})
    _swap(swap)
    before = _config_name(lab)
    code, _, err = rollback("--format", "json")
    assert code == 2 and "cannot be told" in err and _config_name(lab) == before, err


def test_a_mistyped_group_is_refused_not_a_rollback_onto_another_groups_model(lab: Lab, rollback: RunCli) -> None:
    # Given another group with an Approved version (what the old path would have deployed to production)
    lab.sm.create_model_package_group(ModelPackageGroupName="other-recommender")
    lab.sm.create_model_package(
        ModelPackageGroupName="other-recommender",
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": PINNED_IMAGE, "ModelDataUrl": PINNED_URL}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )
    before = _config_name(lab)
    code, _, err = rollback("--group", "other-recommender")
    assert code == 2 and "cannot be told" in err and "check --group" in err, err
    assert _config_name(lab) == before


# -- 5. a failure after the first change


@pytest.mark.parametrize("code", ["ThrottlingException", "AccessDeniedException"])
def test_a_rollback_whose_update_endpoint_fails_says_what_changed_and_what_to_do(
    lab: Lab, rollback: RunCli, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    before, failed = _config_name(lab), lab.variants_package("AllTraffic")
    seen = fail_calls(monkeypatch, "UpdateEndpoint", code)
    exit_code, _, err = rollback("--format", "json")
    assert seen and _config_name(lab) == before and lab.package(failed)["ModelApprovalStatus"] == "Approved"
    # Safe: one line naming the endpoint, that it still serves its old config with nothing Rejected, and what next
    [line] = [x for x in err.splitlines() if x.startswith("mlgov: error")]
    assert ENDPOINT in line and before in line and code in line, err
    assert "nothing was marked Rejected" in line and "again" in line, err
    assert exit_code == 5, err


@pytest.mark.parametrize("operation", ["CreateModel", "CreateEndpointConfig"])
def test_a_lost_create_answer_lists_what_may_have_been_created_with_its_commands(
    lab: Lab, rollback: RunCli, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    """A CreateModel or CreateEndpointConfig that went through and lost its answer (a read timeout): the run stops
    (exit 5) and its line said "created nothing", or listed the model without the config: what now exists unused
    was not named. It is listed as "may have been created", with the describe and delete commands."""
    before, failed = _config_name(lab), lab.variants_package("AllTraffic")
    with monkeypatch.context() as patch:
        seen = fail_calls(patch, operation, "", after=True)
        exit_code, out, err = rollback("--format", "json")
    assert seen == [operation] and exit_code == 5, err
    assert _config_name(lab) == before and lab.package(failed)["ModelApprovalStatus"] == "Approved"
    report = json.loads(out)
    model, config = report["model_name"], report["config_name"]
    lab.sm.describe_model(ModelName=model)  # the call went through: the model exists
    [line] = [x for x in err.splitlines() if x.startswith("mlgov: error")]
    assert "created nothing" not in line and "Read timeout" in line, line
    if operation == "CreateModel":
        maybe = (
            f"aws sagemaker describe-model --model-name {model}",
            f"aws sagemaker delete-model --model-name {model}",
        )
    else:
        lab.sm.describe_endpoint_config(EndpointConfigName=config)
        assert f"created model {model}" in line and f"aws sagemaker delete-model --model-name {model}" in line, line
        maybe = (
            f"aws sagemaker describe-endpoint-config --endpoint-config-name {config}",
            f"aws sagemaker delete-endpoint-config --endpoint-config-name {config}",
        )
    said = line.split("may have been created", 1)
    assert len(said) == 2 and all(command in said[1] for command in maybe), line
    assert f"still serves {before}" in line and "nothing was marked Rejected" in line, line
    # And the rerun the line asks for rolls back (its own model and config, new names)
    assert rollback("--format", "json")[0] == 0
    assert lab.variants_package("AllTraffic").endswith("/1")


def test_a_refused_create_model_says_nothing_was_created(
    lab: Lab, rollback: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS's refusal means the call was not taken: no "may have been created" beside it."""
    with monkeypatch.context() as patch:
        fail_calls(patch, "CreateModel", "ThrottlingException")
        exit_code, _, err = rollback("--format", "json")
    [line] = [x for x in err.splitlines() if x.startswith("mlgov: error")]
    assert exit_code == 5 and "created nothing" in line and "may have been created" not in line, line


# -- 4. an UpdateEndpoint whose answer was lost


def test_a_lost_update_answer_is_watched_and_the_run_finishes_itself(
    lab: Lab, rollback: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = lab.variants_package("AllTraffic")
    with monkeypatch.context() as patch:
        fail_calls(patch, "UpdateEndpoint", "", after=True)
        first, _, err = rollback("--format", "json")
    # Was: exit 1 "AWS call failed: Read timeout", v1 serving, v2 Approved. The endpoint shows the update: watched.
    assert first == 0 and "answer was lost" in err and "Read timeout" in err, err
    assert lab.variants_package("AllTraffic").endswith("/1")
    assert lab.package(failed)["ModelApprovalStatus"] == "Rejected"


def test_a_rerun_after_a_lost_update_answer_finishes_the_rollback_instead_of_naming_fallbacks(
    lab: Lab, rollback: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = lab.variants_package("AllTraffic")
    arn = lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointArn"]
    # Given a lost UpdateEndpoint answer on a slow update: the first run stops watching at its deadline
    monkeypatch.setattr(emulator, "UPDATE_POLLS", 20)
    with monkeypatch.context() as patch:
        fail_calls(patch, "UpdateEndpoint", "", after=True)
        first, _, err = rollback("--format", "json", "--wait-minutes", "1")
    assert first == 5 and "answer was lost" in err and "still running" in err, err
    for _ in range(30):  # the update ends (each DescribeEndpoint is one step of the emulator's update)
        if lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService":
            break
    # The update went through: v1 serves, v2 (the failing version) is still Approved and still the newest.
    assert lab.variants_package("AllTraffic").endswith("/1")
    assert lab.package(failed)["ModelApprovalStatus"] == "Approved"
    serving_config = _config_name(lab)
    code, out, err = rollback("--format", "json")
    # Was: exit 4, "no previous Approved version of manga-recommender ... Fallbacks: Serve the base model".
    # Safe: the rerun sees its own rollback model (tagged mlgov:rollback-from) serving and finishes: v2 Rejected.
    assert code != 4 and "Serve the base model" not in err, err
    assert code == 0 and lab.package(failed)["ModelApprovalStatus"] == "Rejected", err
    report = json.loads(out)
    assert report["finishing"] is True and report["target"]["version"] == 1 and report["serving_package"] == failed
    assert _config_name(lab) == serving_config  # no new update
    tags = {t["Key"]: t["Value"] for t in lab.sm.list_tags(ResourceArn=arn)["Tags"]}
    assert tags["ModelPackageName"].endswith("/1")
    # And a third run rolls back from v1 as usual (nothing below it: exit 4), the earlier rollback being finished
    assert rollback("--format", "json")[0] == 4


# -- 6. the dry run says planned for what the real run refuses


def test_the_dry_run_of_a_rollback_on_an_updating_endpoint_says_what_the_real_run_says(
    lab: Lab, rollback: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an update of the endpoint still running (someone else's deploy, or the first rollback's)
    monkeypatch.setattr(emulator, "UPDATE_POLLS", 1000)
    config = lab.sm.describe_endpoint_config(EndpointConfigName=_config_name(lab))
    lab.sm.create_endpoint_config(EndpointConfigName="manga-again", ProductionVariants=config["ProductionVariants"])
    lab.sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="manga-again")
    assert lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "Updating"
    real, _, real_err = rollback()
    dry, out, dry_err = rollback("--dry-run")
    assert real == 2 and "not InService" in real_err, real_err
    # Safe: the dry run answers as the real run would (exit 2, the same refusal), not "planned" and exit 0
    assert dry == real and "not InService" in dry_err, out


# -- 2. campaign-end believes a forged "before" above what the campaign set


def _forge_record(world: CapacityWorld, action: str, min_before: str, max_before: str) -> None:
    """Edit the real campaign's record of `action` (sagemaker:AddTags: a developer's right): only the "before"
    values; what the campaign set (and the -out action's minimum) is kept, so the record is believed."""
    arn = world.sm.describe_endpoint(EndpointName=PROD)["EndpointArn"]
    tags = {t["Key"]: t["Value"] for t in world.sm.list_tags(ResourceArn=arn)["Tags"]}
    [key] = [k for k, v in tags.items() if k.startswith("mlgov:campaign:") and v.endswith(f" {action}")]
    parts = tags[key].split(" ")
    parts[0], parts[1] = min_before, max_before
    world.sm.add_tags(ResourceArn=arn, Tags=[{"Key": key, "Value": " ".join(parts)}])


def test_campaign_end_never_puts_back_more_than_the_campaign_set(
    capacity_world: CapacityWorld, campaign_clock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = capacity_world
    assert _weekly(world)["mlgov-min1-0000-daily"]["ScalableTargetAction"] == {"MinCapacity": 1}
    assert run_cli(*CAMPAIGN)[0] == 0
    assert _weekly(world)["mlgov-min1-0000-daily"]["ScalableTargetAction"] == {"MinCapacity": 6, "MaxCapacity": 6}
    # A forged "it was 40 before, at most 900": the campaign only raises, so no real record says more than it set
    _forge_record(world, "mlgov-min1-0000-daily", "40", "900")
    _clock(monkeypatch, datetime(2026, 12, 7, 14, 0, tzinfo=UTC))  # after the -in action's end
    code, out, err = run_cli(*CAMPAIGN_END_CMD, "--format", "json")
    held = _weekly(world)["mlgov-min1-0000-daily"]["ScalableTargetAction"]
    # Was: MinCapacity 40 MaxCapacity 900 every night from now on, exit 0, no warning.
    assert held["MinCapacity"] <= 6 and held.get("MaxCapacity", 0) <= 6, (held, out)
    assert "mlgov-min1-0000-daily" in err and "not believed" in err, err
    # Left raised for a human, with the command that puts it back once its value before is filled in; the
    # records that are not forged are put back as usual
    body = json.loads(out)
    [row] = [r for r in body["skipped"] if r["name"] == "mlgov-min1-0000-daily"]
    assert row["put_back_by_hand"].startswith("aws application-autoscaling put-scheduled-action "), row
    assert "--scheduled-action-name mlgov-min1-0000-daily" in row["put_back_by_hand"], row
    assert "MinCapacity=N,MaxCapacity=M" in row["put_back_by_hand"] and row["put_back_by_hand"] in err, row
    assert "mlgov-min1-0000-daily" not in [r["name"] for r in body["restored"]] and body["restored"], body
    assert code == 0 and held == {"MinCapacity": 6, "MaxCapacity": 6}, held


def test_campaign_end_clamps_a_forged_low_before_to_the_floor(
    capacity_world: CapacityWorld, campaign_clock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What held: the documented bound in the other direction (a forged 0 is put back as the floor, reported)."""
    world = capacity_world
    assert run_cli(*CAMPAIGN)[0] == 0
    _forge_record(world, "mlgov-min5-0800-MON", "0", "-")
    _clock(monkeypatch, datetime(2026, 12, 7, 14, 0, tzinfo=UTC))
    code, out, err = run_cli(*CAMPAIGN_END_CMD, "--format", "json")
    assert code == 0, err
    [row] = [r for r in json.loads(out)["restored"] if r["name"] == "mlgov-min5-0800-MON"]
    assert row["min_capacity"] >= 1 and row.get("clamped_to_floor") is True, row
    assert _weekly(world)["mlgov-min5-0800-MON"]["ScalableTargetAction"]["MinCapacity"] == row["min_capacity"]


@pytest.mark.parametrize(
    ("max_before", "put_back"),
    [("0", {"MinCapacity": 1, "MaxCapacity": 1}), ("-", {"MinCapacity": 1})],
)
def test_a_forged_low_or_missing_maximum_lowers_it_to_the_minimum_or_drops_it_never_more(
    capacity_world: CapacityWorld, campaign_clock: None, monkeypatch: pytest.MonkeyPatch, max_before: str, put_back: Any
) -> None:
    """docs/capacity.md's bound on the maximum: a forged "before" maximum is put back no lower than the minimum
    put back, and a "-" (what a true record of an action without one says) drops it."""
    world = capacity_world
    assert run_cli(*CAMPAIGN)[0] == 0
    _forge_record(world, "mlgov-min1-0000-daily", "1", max_before)
    _clock(monkeypatch, datetime(2026, 12, 7, 14, 0, tzinfo=UTC))
    code, out, err = run_cli(*CAMPAIGN_END_CMD, "--format", "json")
    assert code == 0 and "mlgov-min1-0000-daily" in [r["name"] for r in json.loads(out)["restored"]], err
    assert _weekly(world)["mlgov-min1-0000-daily"]["ScalableTargetAction"] == put_back


# -- 7. retire cancel: the retirement closed, the tag left, the error silent about both


def test_a_cancel_whose_tag_change_is_throttled_says_the_retirement_is_closed_and_how_to_finish(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A refused (AccessDenied) write re-opens the retirement instead: tests/integration/test_retirement_walk.py
    retirement_world.handler().handler(load_event("scheduled_retiring_deadlines.json"), FakeContext())
    retirement_world.published()
    r = retirement_world.resources
    with monkeypatch.context() as patch:
        fail_calls(patch, "AddTags", "ThrottlingException")
        code, _, err = run_cli(
            "retire", "cancel", "--endpoint", RETURNING, "--reason", "EU traffic moves in January",
            "--findings-table", r["FINDINGS_TABLE_NAME"], "--findings-topic-arn", r["FINDINGS_TOPIC_ARN"],
            "--config", NO_SETTINGS,
        )  # fmt: skip
    [closed] = retirement_world.published()
    assert (closed["kind"], closed["status"]) == ("ENDPOINT_RETIRING", "RESOLVED")
    assert retirement_world.tags(RETURNING)["endpoint_purpose"] == "retiring"
    # Was: "mlgov: unexpected failure: ReadFailure: tags of manga-recommender-v1-eu: AccessDeniedException ..."
    # (a write reported as a read, nothing about the closed retirement). Safe: one line saying the retirement is
    # closed, the tag still says retiring, and the exact command that finishes the cancel.
    assert code == 1, err
    [line] = err.splitlines()
    assert line.startswith("mlgov: error: ") and "closed" in line and "Throttling" in line, err
    assert "aws sagemaker add-tags" in line and "endpoint_purpose,Value=active" in line, err
    assert "AddTags" in line and "ReadFailure" not in line, err
    # What the line says the daily check does while the tag says retiring: it opens a new retirement
    next_day = {
        **load_event("scheduled_retiring_deadlines.json"),
        "event_id": "next-day",
        "time": "2026-12-07T08:00:00Z",
    }
    retirement_world.handler().handler(next_day, FakeContext())
    [reopened] = [f for f in retirement_world.published() if RETURNING in f["resource_arn"]]
    assert (reopened["kind"], reopened["status"]) == ("ENDPOINT_RETIRING", "OPEN"), reopened
    # ...and the command it prints is the one that finishes the cancel (its ARN and tag, as given)
    arn = line.split("--resource-arn ", 1)[1].split(" ", 1)[0]
    assert arn == retirement_world.sm.describe_endpoint(EndpointName=RETURNING)["EndpointArn"], line
    assert line.endswith(f"--region {REGION} --resource-arn {arn} --tags Key=endpoint_purpose,Value=active"), line


# -- 8. notify redrive: a failure mid-way loses the count and leaves a moved message in both queues unsaid


def test_a_redrive_whose_delete_is_throttled_says_what_moved_and_that_a_rerun_is_safe(
    queues: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov.cli import sample_finding
    from mlgov_runtime.adapters.redrive import park

    q = queues
    park(q["notifier"], q["dlq"], json.dumps(sample_finding()), "m-1", "jira 400")
    fail_calls(monkeypatch, "DeleteMessage", "ThrottlingException")
    code = _redrive(q)
    err = capsys.readouterr().err
    monkeypatch.undo()
    # The message was sent back and is still in the dead-letter queue too (its delete was throttled)
    assert len(_bodies(q["sqs"], q["queue"])) == 1
    # Was: "mlgov: error: AWS call failed: ... DeleteMessage ...": nothing about the message now in both queues.
    # Safe: one line saying 1 message was sent back but not deleted from the DLQ, and that a rerun is safe (the
    # notifier skips the targets its mlgov_message_id already reached)
    assert code == 1, err
    [line] = err.splitlines()
    assert "DeleteMessage" in line and "1" in line and "mlgov_message_id" in line and "again" in line, err
    assert "moved 0 message(s) and kept 0" in line and "1 message (" in line and "dead-letter queue too" in line


def test_a_redrive_stopped_mid_way_counts_what_it_kept_and_shows_it_again_at_once(
    queues: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept (untrusted) messages seen before the failure are counted and visible again at once, as after a
    clean run, not hidden until the dead-letter queue's visibility timeout."""
    from mlgov.cli import sample_finding
    from mlgov_runtime.adapters.redrive import park

    q = queues
    q["attacker"].send_message(QueueUrl=q["dlq"], MessageBody=json.dumps({**sample_finding(), "status": "RESOLVED"}))
    park(q["notifier"], q["dlq"], json.dumps(sample_finding()), "m-1", "jira 400")
    with monkeypatch.context() as patch:
        fail_calls(patch, "SendMessage", "AccessDeniedException")
        code = _redrive(q)
    err = capsys.readouterr().err
    assert code == 1, err
    line, kept = err.splitlines()
    assert "SendMessage" in line and "AccessDeniedException" in line and "kept 1" in line, err
    assert "was not sent back: it is still in the dead-letter queue only" in line, err
    assert kept.startswith("mlgov: kept message "), err
    # The planted message can be received at once (the notifier's own is hidden until its timeout)
    [visible] = q["sqs"].receive_message(QueueUrl=q["dlq"], MaxNumberOfMessages=10).get("Messages", [])
    assert json.loads(visible["Body"])["status"] == "RESOLVED"
    assert _bodies(q["sqs"], q["queue"]) == []


# -- What held


def test_a_throttled_registry_listing_is_never_no_previous_version(
    lab: Lab, rollback: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Missing is not zero: a ListModelPackages that fails is not "no previous Approved version" (exit 4, the
    fallbacks), and nothing changes."""
    before = _config_name(lab)
    for code in ("ThrottlingException", "AccessDeniedException"):
        with monkeypatch.context() as patch:
            fail_calls(patch, "ListModelPackages", code)
            exit_code, out, err = rollback("--format", "json")
        assert exit_code == 1 and out == "" and "ListModelPackages" in err and code in err, err
        assert "no previous Approved version" not in err and "Fallbacks" not in err, err
        assert _config_name(lab) == before


def test_a_forged_model_package_name_tag_does_not_steer_a_rollback_whose_model_exists(
    lab: Lab, rollback: RunCli
) -> None:
    """The endpoint's ModelPackageName tag (anyone with tag rights) claims v1 serves: believed, it would leave
    nothing older (exit 4, fallbacks). The model's own package decides while the model exists."""
    arn = lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointArn"]
    v1 = lab.variants_package("AllTraffic").rsplit("/", 1)[0] + "/1"
    lab.sm.add_tags(ResourceArn=arn, Tags=[{"Key": "ModelPackageName", "Value": v1}])
    code, out, err = rollback("--dry-run", "--format", "json")
    plan = json.loads(out)
    assert code == 0 and plan["serving_version"] == 2 and plan["target"]["version"] == 1, err


def test_challenger_start_denied_a_package_read_is_not_told_the_package_does_not_exist(
    lab: Lab, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = lab.register()
    fail_calls(monkeypatch, "DescribeModelPackage", "AccessDeniedException")
    code, out, err = run(capsys, "challenger", "start", "--package", arn, "--config", str(config))
    assert code == 1 and out == "" and "AccessDeniedException" in err and "does not exist" not in err, err
    monkeypatch.undo()
    assert lab.sfn.list_executions(stateMachineArn=lab.machine_arn)["executions"] == []


@pytest.mark.parametrize("code", ["ThrottlingException", "AccessDeniedException"])
def test_a_restore_whose_first_write_fails_says_so_and_changes_nothing_else(
    capacity_world: CapacityWorld, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    world = capacity_world
    set_min(world, 0)
    fail_calls(monkeypatch, "RegisterScalableTarget", code)
    exit_code, out, err = run_cli(
        "capacity", "restore", "--endpoint", PROD, "--region", REGION, "--format", "json", "--config", NO_SETTINGS
    )
    monkeypatch.undo()
    print(exit_code, out, err)
    body = json.loads(out)
    assert exit_code == 3 and body["verdict"] == "CAN_SCALE_TO_ZERO" and body["minimum"] == 0, body
    [step] = body["steps"]
    assert step["status"] == "failed" and code in step["detail"], step
    [target] = world.aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[PROD_TARGET])[
        "ScalableTargets"
    ]
    assert target["MinCapacity"] == 0
