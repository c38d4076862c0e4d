"""Twenty-second review: the challenger's acts end to end (deploy, watch, reject, restore, promote, report) and how
they meet the lineage audit's deployment record (the ServingIndex table, `ServingIndex.deployment`,
`_replaced_config`). The attacker is a developer of the governance account (where the challenger and its endpoints
run) or of a guarded workload account, not the deployer, role admin, break-glass or the product's roles, under the
guardrail SCPs (judged by tests/attacker/scp_judge.py); the failure injector makes one botocore call of a step fail
(tests/attacker/inject.py: throttled past the client's retries, or gone through with its answer lost). The steps run
as the state machine runs them (tests/integration/test_challenger_handler.py's lab, `now` = the state's entered
time, so a retried step names the same resources), next to the real lineage audit handler with its ServingIndex
table, fed the CloudTrail events of the challenger's own calls.

Holes, ranked (each test asserts the SAFE outcome, strict xfail until fixed):
 1. (high) A deploy whose UpdateEndpoint answer is lost leaves an unapproved challenger on 10 % of live traffic,
    unwatched, while the product says nothing was deployed. `start` creates the model and the experiment
    configuration and calls UpdateEndpoint; the call goes through and its answer is lost (a read timeout; botocore's
    own retry of it meets SageMaker's "endpoint is updating" ValidationException, a ClientError). The state machine
    either retries DeployChallenger (ClientError, States.Timeout) or catches into ReportFailure (any other error).
    A retried `start` reads the endpoint again and refuses (`plan_experiment`: "already has 2 production variants",
    or "is Updating"): a MEDIUM CHALLENGER_START_REFUSED whose detail says "Nothing was deployed", and the execution
    ends NotStarted (Succeeded; no failure alarm) although the adapters it would have reached (`create_model`,
    `create_endpoint_config`, `update_endpoint`) are written to be idempotent for exactly this retry. ReportFailure
    sees no `$.challenger` (the failed task wrote none) and says "The challenger had not been deployed." without
    looking at the endpoint, so it takes no traffic away. Either way the candidate keeps 10 % of users with no watch,
    no guardrail and no end; only the lineage audit's next run after the execution ended (the InService state change,
    else the weekly schedule) calls it UNAPPROVED. Safe: the retried start finishes the deploy it began (the
    experiment configuration it names is the endpoint's: go on with the run), and ReportFailure finds the run's
    `challenger-v<N>` variant on the endpoint and sets its weight to 0. Fixed: a retried start that finds the
    configuration it names (its entered time's) served or being deployed goes on with that run, its variants and model
    checked; every step is retried on botocore's lost-answer errors; ReportFailure finds the run's `challenger-v<N>` by
    a configuration named as the start step names it whose variant serves the package, and sets its weight to 0.
 2. (high) With `challenger.ramp` set, the lineage audit calls the product's own experiment UNAPPROVED for the whole
    run. The ramp moves the challenger to 25 % and 50 % (`ramp_step`, UpdateEndpointWeightsAndCapacities), but the
    audit's UNDER_EVALUATION takes a variant only up to `thresholds.challenger_traffic_fraction` (10 %), the one share
    the audit function receives (lineage_audit/settings.py reads no ramp). So the ramp's weight call is audited
    UNAPPROVED ("...not under evaluation"), a HIGH UNREGISTERED_ENDPOINT finding opens in Slack and Jira and
    UnregisteredEndpointAlarm fires, and every later audit of the run (its InService change, other calls) repeats
    it until the promotion or the restore: hours of a false violation on every ramped run, the documented fast
    schedule included (docs/challenger.md, "Traffic ramp"), while a real violation of that endpoint shares the same
    finding. Safe: the audit allows the share the run's ramp may reach (the ramp's largest weight, received with
    the thresholds), still only for a RUNNING execution started for that package.
    Fixed: the audit function, the weekly scan's worker and `mlgov audit` receive `challenger.ramp` and take a
    running challenger up to the larger of `challenger_traffic_fraction` and the ramp's largest weight.
 3. (medium) Every gate REJECT raises the lineage audit's own HIGH UNREGISTERED_ENDPOINT finding and its alarm.
    `reject` sets the challenger's weight to 0, then sets the package Rejected; the production-only configuration
    comes only after the WeightsApplied wait and a blue/green update. In between, the package's state change (and the
    weight call's CloudTrail event) re-audits the endpoint: its current configuration still holds `challenger-v<N>`,
    whose package is now Rejected, so the verdict is UNAPPROVED (the run is still RUNNING, but UNDER_EVALUATION
    takes PendingManualApproval only), a HIGH finding is opened in Slack and Jira and UnregisteredEndpointDetected
    trips UnregisteredEndpointAlarm; the restore's audit resolves it minutes later. A page the product causes on
    every rejection, for a variant that serves nothing, trains the on-call to ignore that finding. Safe: the
    endpoint is not a violation while the product's own running execution is removing a weight-0 variant it just
    rejected (or the package is set Rejected after the restore completes).
    Fixed: a Rejected challenger at weight 0 (or set to 0 by a weight call still applying) is UNDER_EVALUATION while
    the RUNNING execution started for its package lasts; given any traffic otherwise it stays UNAPPROVED.
 4. (medium) A promotion whose UpdateEndpoint answer is lost is reported as a failure, and the fix it offers demotes
    an Approved model. `promote` reaches UpdateEndpoint to `<endpoint>-v<N>-<time>`; the update goes through, the
    answer is lost. A retried Promote (same `now`, so the same configuration name) refuses: "serves config ..., not
    this experiment's ...; start a new challenger run", before the retag and before `update_endpoint`'s own
    idempotence could apply. ReportFailure then publishes HIGH CHALLENGER_FAILED "stopped at Promote", "The
    challenger variant is not on the endpoint", "To put production back exactly as it was: aws sagemaker
    update-endpoint ... <previous config>" and "The package's registry status was not changed", while the package is
    Approved and serving 100 %. The endpoint's ModelPackageName tag keeps naming the old package (the audit adds a
    disagreeing-tag reason on every run), and the execution fails, so the 7-day retention review (spec scenario 3)
    never runs. Safe: a retried promote that finds the endpoint on its own promoted configuration finishes
    (retags, returns the promotion) and the run goes on to the review. Fixed: a retried promote that finds the
    configuration it names served or being deployed finishes (retag, the promotion returned); a ReportFailure that finds
    production serving the challenger's model says the promotion took effect and offers no previous configuration.
 5. (medium) A promotion that fails after ApprovePackage leaves the package Approved and not serving, and the only
    finding says the status did not change. ApprovePackage (the state machine's SDK call) succeeds; `promote`'s
    UpdateEndpoint is throttled past botocore's and the task's retries; ReportFailure sets the challenger's weight to
    0. Now production serves the old model at 100 %, the new package is Approved at weight 0, the lineage audit is
    COMPLIANT (both variants Approved: no finding), and CHALLENGER_FAILED says "The package's registry status was not
    changed by this failure" and offers the previous configuration; nothing names the state (Approved by the gate,
    not promoted) or the command that finishes the promotion or withdraws the approval. (The same false sentence
    follows ApprovePackage's own lost answer, which this review could not run: the SDK integration is the state
    machine's.) Safe: the finding says the package is Approved and not serving and gives that command. Fixed:
    ReportFailure reads the package's status; Approved and not serving, it says so with the command that withdraws the
    approval (PendingManualApproval) and the one that runs the package again after production is put back.
 6. (low) A rejection whose UpdateModelPackage answer is lost is reported as "registry status was not changed".
    The package is Rejected; the task fails (a read timeout is not in the retry list) into ReportFailure, so no
    CHALLENGER_REJECTED finding, no ModelRejectionEvent, no restore: the Rejected variant stays on the endpoint at
    weight 0 and the lineage audit reports it UNAPPROVED (so there is a finding, a true one). Safe: ReportFailure
    reads the package's status instead of asserting it unchanged. Fixed: ReportFailure says the status the registry
    answers after the failure (here Rejected), or that it could not be read and the command that reads it.

Held (plain tests below):
 - Question 1 (the deployment record): the challenger's every configuration change is an UpdateEndpoint by its
   Steps function, which the audit's CloudTrail rule hears like any other caller's; the audit of that call records
   the configuration the call names (the experiment's, the promoted one, the restored one) with its CreationTime, and
   no later audit of the run (a weight call during it, after the promotion, the restore's) is ARTIFACT_MISMATCH: no
   false page on the product's own promotion. The challenger's model is made before its configuration, and each
   configuration before its UpdateEndpoint, so neither older check trips either.
 - The window before or after such a record cannot be used by a developer: DeleteEndpointConfig,
   CreateEndpointConfig, CreateModel, UpdateEndpoint and UpdateEndpointWeightsAndCapacities are denied to a
   developer in the governance account and in a guarded workload account (DenyLineageChangeOutsidePipeline), so the
   configuration a record names cannot be re-created by one; an inference experiment's promote runs as a role a
   developer may not make act on the endpoint (the sixteenth review pins it).
 - Question 2 (forged or replayed input): a developer of the governance account cannot put a `mlgov.retraining`
   event (a forged or replayed registration), start, stop or answer an execution of the challenger machine, or set
   a package's status. (The events function's refusals, a step payload naming another execution's package, and the
   approvals record's MAC are pinned by the integration tests and the seventh, tenth and eighteenth reviews.)
 - A restore whose UpdateEndpoint answer is lost is finished by its retry (the endpoint already names no challenger:
   nothing more to do), and the audit then records and passes the restored configuration.

Left as is / not settled:
 - A developer may AddTags on the governance account's endpoints and models; no challenger step decides on a tag
   (the promote only rewrites ModelPackageName when present; the rollback's rerun believes none), and the audit
   reads tags as claims.
 - Whether SageMaker returns a ValidationException or a second successful UpdateEndpoint for botocore's own retry of
   a timed-out call was not confirmed; both reach hole 1 or 4 (a retried task, or ReportFailure).
 - `create_endpoint_config` returns when a configuration of the step's name exists, without comparing it, and
   `create_model` compares only the ModelPackageName: only the pipeline and break-glass roles may create either in
   the governance account, and the audit judges what the configuration names; not a developer's hole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.client
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from mlgov.estate import SERVING_INDEX, create_serving_index
from mlgov.sandbox import FakeContext, function_settings
from mlgov_runtime.adapters.serving_index import ServingIndex
from mlgov_runtime.lineage_audit.logic import stamp
from tests.attacker.conftest import GOV
from tests.attacker.inject import fail_calls
from tests.attacker.scp_judge import PROD, WORKLOAD_OU, judge
from tests.integration.conftest import ACCOUNT, HANDLER_ENV, runtime_env
from tests.integration.test_challenger_handler import ENDPOINT, REGION, Lab, at, lab_context, traffic
from tests.integration.test_coverage_and_retraining import fresh_handler
from tests.integration.test_lineage_audit_handler import create_event


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """The challenger's steps under moto, beside the lineage audit's handler and its ServingIndex table."""
    with lab_context(monkeypatch) as world:
        ddb = boto3.client("dynamodb", region_name=REGION)
        with runtime_env(monkeypatch, {**HANDLER_ENV, **create_serving_index(ddb)}):
            yield world


def _audit(event_id: str, call: str, config: str | None = None) -> dict[str, Any]:
    """The real-time audit of one of the challenger's own calls, as CloudTrail delivers it; the endpoint's row."""
    handler = fresh_handler("mlgov_runtime.lineage_audit.handler")
    event = create_event(ENDPOINT, event_id)
    event["detail"]["eventName"] = call
    event["detail"]["requestParameters"] = {
        "endpointName": ENDPOINT,
        **({"endpointConfigName": config} if config else {}),
    }
    [row] = handler.handler(event, FakeContext())["results"]
    return dict(row)


def _record() -> dict[str, Any] | None:
    record: dict[str, Any] | None = ServingIndex(
        boto3.client("dynamodb", region_name=REGION), SERVING_INDEX
    ).deployment(ACCOUNT, REGION, ENDPOINT)
    return record


def _created(lab: Lab, config: str) -> str:
    return str(stamp(lab.sm.describe_endpoint_config(EndpointConfigName=config)["CreationTime"]))


def _weights(lab: Lab) -> dict[str, float]:
    live = lab.sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]
    return {v["VariantName"]: float(v["CurrentWeight"]) for v in live}


def _run(lab: Lab, arn: str, started: str = at(0)) -> dict[str, Any]:
    """A RUNNING execution for the package, as the events function starts it; the state DeployChallenger gets
    (`started`: the Start state's entered time, which names its resources)."""
    run_input = {"model_package_arn": arn, "endpoint_name": ENDPOINT, "source": "test"}
    execution = lab.sfn.start_execution(stateMachineArn=lab.machine_arn, input=json.dumps(run_input))
    return {"execution": execution["executionArn"], "input": run_input, "started": started}


def _promotable(lab: Lab) -> dict[str, Any]:
    """A run the gate promotes, its package Approved by ApprovePackage (the state machine's own call)."""
    arn = lab.register()
    state = lab.start(arn)
    traffic(lab, state, 120, 3500, 0.088)
    state = lab.watch_until_verdict(state)
    assert state["watch"]["decision"] == "PROMOTE"
    state["promotion_check"] = lab.step("check_promotion", state, at(60))
    lab.sm.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription=state["watch"]["approval_description"]
    )
    return state


def _rejected(lab: Lab) -> dict[str, Any]:
    state = lab.start(lab.register())
    traffic(lab, state, 60, 3500, 0.056)
    state = lab.watch_until_verdict(state)
    assert state["watch"]["decision"] == "REJECT"
    return state


def _failed(lab: Lab, state: dict[str, Any], where: str, exc: BaseException, minute: float) -> dict[str, Any]:
    """What the state machine's catch does: the error into $.error, then ReportFailure; its finding."""
    state = {**state, "failed_state": where, "error": {"Error": type(exc).__name__, "Cause": str(exc)}}
    lab.step("report_failure", state, at(minute))
    [finding] = [f for f in lab.published() if f["kind"] == "CHALLENGER_FAILED"]
    return finding


# -- hole 1: a deploy whose answer is lost leaves an unwatched challenger on live traffic


def _deployed_answer_lost(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], BaseException]:
    state = _run(lab, lab.register())
    with monkeypatch.context() as patch:
        fail_calls(patch, "UpdateEndpoint", "", after=True)
        with pytest.raises(ReadTimeoutError) as lost:
            lab.step("start", state, at(0))
    # The update went through: the unapproved candidate takes its 10 %.
    assert _weights(lab)["challenger-v5"] == pytest.approx(0.1)
    return state, lost.value


def test_a_retried_deploy_after_a_lost_answer_goes_on_with_the_run(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    state, _ = _deployed_answer_lost(lab, monkeypatch)
    retried = lab.step("start", state, at(0))  # the task's retry: the same entered time, the same names
    # Was: refused ("already has 2 production variants"), "Nothing was deployed", the execution Succeeded.
    assert retried["refused"] is False, retried.get("reason")
    assert retried["experiment_config"] == lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]


def test_a_deploy_failure_after_the_update_went_through_takes_the_challengers_traffic_away(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, lost = _deployed_answer_lost(lab, monkeypatch)
    finding = _failed(lab, state, "DeployChallenger", lost, 2)
    # Was: "The challenger had not been deployed." and challenger-v5 kept 10 % of traffic with no watch.
    assert "had not been deployed" not in finding["detail"]
    assert _weights(lab)["challenger-v5"] == 0


def test_a_retried_deploy_while_its_update_still_runs_goes_on_without_a_second_update(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As SageMaker answers during a blue/green update (moto switches at once): the endpoint still names the config in
    # service, Updating, and lists the one being deployed in PendingDeploymentSummary; UpdateEndpoint is refused.
    before = lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    state, _ = _deployed_answer_lost(lab, monkeypatch)
    ours = lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)
    updates: list[str] = []

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        if name == "UpdateEndpoint":
            updates.append(params["EndpointConfigName"])
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "updating"}}, name)
        answer = original(self, name, params)
        if name == "DescribeEndpoint":
            pending = {"EndpointConfigName": ours}
            answer = {**answer, "EndpointConfigName": before, "EndpointStatus": "Updating"}
            answer = {**answer, "PendingDeploymentSummary": pending}
        return answer

    with monkeypatch.context() as patch:
        patch.setattr(botocore.client.BaseClient, "_make_api_call", call)
        retried = lab.step("start", state, at(0))
    assert retried["refused"] is False, retried.get("reason")
    assert (retried["experiment_config"], retried["previous_config"], updates) == (ours, before, [])


# -- hole 2: the ramp's own weights make the product's experiment a lineage violation


def test_a_challenger_the_ramp_moved_to_a_quarter_is_still_under_evaluation(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.core import env
    from tests.integration.test_challenger_handler import settings_env

    ramp = [[10, 0.25], [20, 0.5]]
    monkeypatch.setenv("MLGOV_CHALLENGER_SETTINGS", settings_env(ramp=ramp))
    # The audit function receives the same cdk.json's ramp (stacks/lineage_audit.py).
    context = {"challenger": {"ramp": ramp}, "experiment_exemptions": {"account_ids": [ACCOUNT]}}
    for key, value in function_settings(context, ("lineage_audit",)).items():
        monkeypatch.setenv(key, value)
    env.reset_all()
    state = lab.start(lab.register())
    experiment = state["challenger"]["experiment_config"]
    assert _audit("start", "UpdateEndpoint", experiment)["verdict"] == "UNDER_EVALUATION"
    traffic(lab, state, 30, 3500, 0.08)
    state["watch"] = lab.step("watch", state, at(13))
    assert state["watch"].get("ramped_to") == 0.25 and _weights(lab)["challenger-v5"] == 0.25
    row = _audit("ramp", "UpdateEndpointWeightsAndCapacities")
    # Was: UNAPPROVED ("...not under evaluation": 25 % is above thresholds.challenger_traffic_fraction, the only share
    # the audit receives), a HIGH UNREGISTERED_ENDPOINT finding and the alarm, open for the rest of the run.
    assert row["verdict"] == "UNDER_EVALUATION" and not row["published"], row


# -- hole 3: every REJECT opens the audit's own HIGH finding until the restore completes


def test_the_gates_own_rejection_is_not_a_lineage_violation_while_it_restores(lab: Lab) -> None:
    state = _rejected(lab)
    state["rejected"] = lab.step("reject", state, at(30))
    assert _weights(lab)["challenger-v5"] == 0  # the weight call went first: the variant serves nothing
    row = _audit("rejected-weights", "UpdateEndpointWeightsAndCapacities")
    # Was: UNAPPROVED ("has approval status Rejected"), a HIGH UNREGISTERED_ENDPOINT finding published, the alarm's
    # metric 1, resolved only by the restore's audit minutes later.
    assert row["verdict"] in ("COMPLIANT", "UNDER_EVALUATION") and not row["published"], row


def test_the_restore_resolves_what_the_rejection_opened(lab: Lab) -> None:
    # Held (the second half of hole 3): once the production-only configuration serves, the audit of the restore's
    # UpdateEndpoint records it and is COMPLIANT.
    state = _rejected(lab)
    state["rejected"] = lab.step("reject", state, at(30))
    _audit("rejected-weights", "UpdateEndpointWeightsAndCapacities")
    restored = lab.step("restore", state, at(32))["config"]
    assert _audit("restore", "UpdateEndpoint", restored)["verdict"] == "COMPLIANT"
    record = _record()
    assert record is not None and record["configs"][restored] == _created(lab, restored)


# -- hole 4: a promotion whose answer is lost is reported as a failure, and its retry refuses


def test_a_retried_promote_after_a_lost_answer_finishes_the_promotion(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = _promotable(lab)
    arn = state["challenger"]["model_package_arn"]
    with monkeypatch.context() as patch:
        fail_calls(patch, "UpdateEndpoint", "", after=True)
        with pytest.raises(ReadTimeoutError):
            lab.step("promote", state, at(61))
    # The promotion went through: the production variant serves the challenger's model alone.
    assert list(lab.variants()) == ["AllTraffic"]
    assert lab.variants()["AllTraffic"]["ModelName"] == state["challenger"]["challenger_model"]
    # Was: StepError "serves config ...-v5-..., not this experiment's ...; start a new challenger run", then a HIGH
    # CHALLENGER_FAILED offering to put the previous configuration back, and the execution failed before the review.
    promotion = lab.step("promote", state, at(61))
    assert promotion["config"] == lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    tags = lab.sm.list_tags(ResourceArn=state["challenger"]["endpoint_arn"])["Tags"]
    assert {"Key": "ModelPackageName", "Value": arn} in tags


def test_a_promotion_that_took_effect_is_never_reported_with_the_old_config_to_put_back(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hole 4's other path: the retries ran out (or the error was one no retry takes) after the update went through.
    state = _promotable(lab)
    with monkeypatch.context() as patch:
        fail_calls(patch, "UpdateEndpoint", "", after=True)
        with pytest.raises(ReadTimeoutError) as lost:
            lab.step("promote", state, at(61))
    finding = _failed(lab, state, "Promote", lost.value, 62)
    assert "Production serves the challenger's model" in finding["detail"]
    assert state["challenger"]["previous_config"] not in finding["detail"]  # putting it back would demote the model
    assert "The registry says the package is Approved." in finding["detail"]
    assert "PendingManualApproval" not in finding["detail"]


# -- hole 5: a promotion that fails after ApprovePackage: Approved, not serving, "status not changed"


def test_a_promotion_throttled_after_approval_says_the_package_is_approved_and_not_serving(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = _promotable(lab)
    with monkeypatch.context() as patch:
        fail_calls(patch, "UpdateEndpoint", "ThrottlingException")
        with pytest.raises(ClientError) as throttled:
            lab.step("promote", state, at(61))
    finding = _failed(lab, state, "Promote", throttled.value, 62)
    assert lab.package(state["challenger"]["model_package_arn"])["ModelApprovalStatus"] == "Approved"
    assert _weights(lab)["challenger-v5"] == 0  # production serves the old model at 100 %
    # What makes this the only word on it: the lineage audit sees two Approved variants.
    assert _audit("after-failure", "UpdateEndpointWeightsAndCapacities")["verdict"] == "COMPLIANT"
    # Was: "The package's registry status was not changed by this failure." and the previous configuration offered.
    assert "was not changed" not in finding["detail"]
    assert "The registry says the package is Approved. It does not serve." in finding["detail"]
    arn = state["challenger"]["model_package_arn"]
    assert f"--model-package-arn {arn} --model-approval-status PendingManualApproval" in finding["detail"]
    assert f"`mlgov challenger start --package {arn}`" in finding["detail"]


# -- hole 6: a rejection whose answer is lost is reported as "registry status was not changed"


def test_a_rejection_whose_answer_is_lost_is_not_reported_as_unchanged(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = _rejected(lab)
    with monkeypatch.context() as patch:
        fail_calls(patch, "UpdateModelPackage", "", after=True)
        with pytest.raises(ReadTimeoutError) as lost:
            lab.step("reject", state, at(30))
    assert lab.package(state["challenger"]["model_package_arn"])["ModelApprovalStatus"] == "Rejected"
    finding = _failed(lab, state, "Reject", lost.value, 31)
    assert "was not changed" not in finding["detail"]
    assert "The registry says the package is Rejected." in finding["detail"]


# -- held: the deployment record follows the challenger's own deploys (question 1)


def test_each_challenger_deploy_is_recorded_and_its_promotion_never_pages_artifact_mismatch(lab: Lab) -> None:
    state = lab.start(lab.register())
    experiment = state["challenger"]["experiment_config"]
    # The start's UpdateEndpoint, audited: a challenger under evaluation, its configuration recorded.
    assert _audit("start", "UpdateEndpoint", experiment)["verdict"] == "UNDER_EVALUATION"
    record = _record()
    assert record is not None and record["configs"] == {experiment: _created(lab, experiment)}
    # A weight call during the run compares with the record: no false mismatch.
    lab.sm.update_endpoint_weights_and_capacities(
        EndpointName=ENDPOINT,
        DesiredWeightsAndCapacities=[
            {"VariantName": "AllTraffic", "DesiredWeight": 0.9},
            {"VariantName": "challenger-v5", "DesiredWeight": 0.1},
        ],
    )
    assert _audit("weights", "UpdateEndpointWeightsAndCapacities")["verdict"] == "UNDER_EVALUATION"
    # Promotion: its own configuration recorded, COMPLIANT, and still so at the next weight call.
    traffic(lab, state, 120, 3500, 0.088)
    state = lab.watch_until_verdict(state)
    assert state["watch"]["decision"] == "PROMOTE"
    arn = state["challenger"]["model_package_arn"]
    lab.sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="gate")
    promoted = lab.step("promote", state, at(61))["config"]
    row = _audit("promote", "UpdateEndpoint", promoted)
    assert row["verdict"] == "COMPLIANT" and not row["published"], row
    record = _record()
    assert record is not None and record["configs"][promoted] == _created(lab, promoted)
    lab.sm.update_endpoint_weights_and_capacities(
        EndpointName=ENDPOINT, DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredWeight": 1.0}]
    )
    assert _audit("after-promotion", "UpdateEndpointWeightsAndCapacities")["verdict"] == "COMPLIANT"


def test_a_restore_whose_answer_is_lost_is_finished_by_its_retry(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    state = _rejected(lab)
    state["rejected"] = lab.step("reject", state, at(30))
    with monkeypatch.context() as patch:
        fail_calls(patch, "UpdateEndpoint", "", after=True)
        with pytest.raises(ReadTimeoutError):
            lab.step("restore", state, at(32))
    retried = lab.step("restore", state, at(32))
    assert retried["changed"] is False and list(lab.variants()) == ["AllTraffic"]
    assert _audit("restore", "UpdateEndpoint", retried["config"])["verdict"] == "COMPLIANT"


@pytest.mark.parametrize(
    "action,resource",
    [
        ("sagemaker:DeleteEndpointConfig", "endpoint-config/manga-recommender-prod-v5-20261120100112"),
        ("sagemaker:CreateEndpointConfig", "endpoint-config/manga-recommender-prod-v5-20261120100112"),
        ("sagemaker:CreateModel", "model/manga-recommender-v5-20261120090012"),
        ("sagemaker:UpdateEndpoint", "endpoint/manga-recommender-prod"),
        ("sagemaker:UpdateEndpointWeightsAndCapacities", "endpoint/manga-recommender-prod"),
    ],
)
@pytest.mark.parametrize("target,account", [(GOV, GOV), (WORKLOAD_OU, PROD)])
def test_a_developer_cannot_recreate_a_configuration_the_record_names(
    target: str, account: str, action: str, resource: str
) -> None:
    assert judge(target, account, "Developer", action, f"arn:aws:sagemaker:{REGION}:{account}:{resource}") == "Deny"


@pytest.mark.parametrize(
    "action,resource,keys",
    [
        ("events:PutEvents", "event-bus/default", {"events:source": "mlgov.retraining"}),
        ("states:StartExecution", "stateMachine:mlgov-challenger", {}),
        ("states:StopExecution", "execution:mlgov-challenger:registered-1", {}),
        ("states:SendTaskSuccess", "stateMachine:mlgov-challenger", {}),
        ("states:SendTaskFailure", "stateMachine:mlgov-challenger", {}),
    ],
)
def test_a_governance_developer_cannot_forge_or_replay_what_drives_a_run(
    action: str, resource: str, keys: dict[str, str]
) -> None:
    service = action.split(":")[0]
    arn = f"arn:aws:{service}:{REGION}:{GOV}:{resource}"
    assert judge(GOV, GOV, "Developer", action, arn, **keys) == "Deny"


def test_a_governance_developer_cannot_set_a_packages_status() -> None:
    package = f"arn:aws:sagemaker:{REGION}:{GOV}:model-package/manga-recommender/5"
    for status in ("Approved", "Rejected"):
        keys = {"sagemaker:ModelApprovalStatus": status}
        assert judge(GOV, GOV, "Developer", "sagemaker:UpdateModelPackage", package, **keys) == "Deny"
