"""Twenty-third review: the fixes of the twenty-second (b6d3f86..a9ca348), as an attacker (a developer of the
governance or a guarded workload account, under the guardrail SCPs) and as a failure injector
(tests/attacker/inject.py). The challenger's steps run as in tests/integration/test_challenger_handler.py's lab
(`now` = the state's entered time), the lineage audit's rules on tests/unit's fake SageMaker, `mlgov retire` on its
pure check.

Holes, ranked (each test asserts the SAFE outcome, strict xfail until fixed):
 1. (medium) ReportFailure of one run takes traffic from another run of the same package and calls it its own.
    `deployed_run` (a failed start with no `$.challenger`) adopts any configuration named
    `<endpoint>-challenger-v<N>-<any 14 digits>` whose `challenger-v<N>` serves the package: the start's name, but
    not the failed start's own entered time. Two executions may run for one package (one per delivered registration
    event, `mlgov challenger start` beside the event's run). When the second's start fails (DescribeModelPackage
    throttled past the retries, before it deploys anything), its ReportFailure finds the FIRST run's live
    experiment, sets its challenger to weight 0 and publishes "This run's <config> was deployed ... weight was set
    to 0". The first run keeps watching a challenger that now takes nothing (how its watch then ends was not run
    here), and the on-call is told a run deployed what it never did. The same adoption names
    an earlier, ended run's weight-0 leftover as "this run's". Safe: ReportFailure adopts only the configuration
    its own start would name (the failed start's entered time, which the catch can pass), and otherwise takes no
    traffic it did not give. Fixed: the Start state records its entered time (`started`), which names the start's
    resources, and ReportFailure adopts only the configuration that time names; without it, it takes nothing away
    and names the package's challenger configurations it saw with the command to inspect them.
 2. (medium) ReportFailure during a promotion still deploying tells the on-call to undo it. Promote's
    UpdateEndpoint to `<endpoint>-v<N>-<time>` went through (the endpoint Updating, the promoted configuration in
    PendingDeploymentSummary) and a later call of the step failed past its retries (the retag's AddTags throttled:
    the retry finishes nothing more). ReportFailure reads the challenger variant still on the serving fleet, tries
    to set its weight to 0 (SageMaker refuses on an Updating endpoint), and, not seeing production serve the
    challenger's model, says "The registry says the package is Approved. It does not serve." with the command that
    withdraws the approval, and offers the previous configuration to put back. Minutes later the promoted
    configuration serves the Approved model at 100 %: following either instruction demotes it, or leaves
    production serving a PendingManualApproval model (the lineage audit's HIGH UNAPPROVED). Safe: ReportFailure
    treats a PendingDeploymentSummary naming this run's promoted configuration (the step's own name) as the
    promotion taking effect: no withdraw, no previous configuration. Fixed: a served or deploying configuration
    that runs this run's own challenger model as production is reported as the promotion (being deployed), with
    no weight call, no withdraw and no configuration to put back.
 3. (low) A failed post-promotion review, production since moved on, is told to put the pre-experiment
    configuration back and that the package "does not serve". Review runs `review_after_days` after the promotion
    and is caught into ReportFailure (UpdateModelPackage of the retention metadata throttled past the retries). By
    then a newer promotion may serve. ReportFailure finds no challenger variant, sees production not serving this
    run's model, and so publishes "To put production back exactly as it was: ... --endpoint-config-name <the
    configuration from before this run's experiment>" and the new registry text "The registry says the package is
    Approved. It does not serve. To withdraw the approval ...; or put production back (above) and run it again".
    Followed, it takes the newer Approved model offline for an older one. Safe: after the promotion
    took effect (state `promotion`), ReportFailure offers no configuration to put back and no withdraw; it names
    what serves now. Fixed: with `promotion` in the state, ReportFailure names the configuration served (and any
    deploying), the registry's status and `mlgov challenger status`, and offers neither.
 4. (low) `retire cancel`'s re-open puts back a deletion request the cancel itself aborted. The cancel closes the
    retirement, then writes the tag; AWS refuses the write and the cancel re-opens the retirement from what it read
    before the close. If the approved request's final check (`delete`) runs between the two, it finds no open
    retirement and aborts (nothing deleted; the execution ends). The re-opened retirement still carries that
    request: its finding says an approver decides with `mlgov retire approve --request <id>`, and the cancel says
    "nothing changed: its retirement is open again as before". Nothing is deleted, but the request shown is dead
    and the requester is not told to request again. Safe: the re-open keeps the retirement (deadline, owner, tagged
    time) but not a request whose execution is no longer running, or the cancel reads the retirement again before
    re-opening it. Fixed: before re-opening, the cancel reads the request's execution (DescribeExecution) and, when
    it no longer runs, leaves the retirement closed and says so in its one line (the tag still says retiring, the
    next daily check opens a new retirement, the `aws sagemaker add-tags` that finishes the cancel).

Held (plain tests below):
 - (a) A retried start adopts only the configuration its own entered time names and checks it holds one
   production variant and this package's challenger-v<N>; one that holds something else is a StepError, never
   watched. A developer cannot create or deploy a configuration (DenyLineageChangeOutsidePipeline: the
   twenty-second review pins CreateEndpointConfig and UpdateEndpoint), so a name collision needs the pipeline or
   break-glass roles. A ReportFailure that finds nothing of the package's on the endpoint takes nothing away.
 - (b) A Rejected challenger is UNDER_EVALUATION only at weight 0: a CurrentWeight absent with DesiredWeight 0.1, a
   DesiredWeight absent with CurrentWeight 0.1, and an Updating endpoint whose DesiredWeight puts it back on
   traffic all stay UNAPPROVED; a PendingManualApproval candidate above the ramp's largest weight stays UNAPPROVED.
   No developer can make a weight call (same SCP).
 - (c) `too_young`: a CreationTime that cannot be read, or one in the future (clock skew), counts as young (never
   deletable); one a full window old is judged. (The deletion steps' own age check and the approval record bound
   to the endpoint's creation time are pinned by tests/integration/test_retirement_walk.py.)

Not settled:
 - A weight-0 variant still answers InvokeEndpoint calls that name it (TargetVariant); whether any caller of the
   recommender does so was not checked, so the Rejected-at-weight-0 allowance was judged on weights only.
 - A PendingManualApproval candidate is judged on CurrentWeight alone (DesiredWeight ignored): during an update in
   flight that raises its weight past the share, the weight call's own audit says UNDER_EVALUATION; the audit of
   the endpoint's InService change judges it again. Only the product's roles can make that call.
 - (d) `mlgov audit|scan --serving-index-table` was read, not run as an attack: the caller names the table, so the
   CLI's comparison is only as good as the table it is told (a caller's own table can add a false ARTIFACT_MISMATCH
   or, lacking the record, compare nothing, as with no table); the audit function and the weekly worker read the
   stack's own table, so no developer hides a finding from them this way. An unreadable table stops the command.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.client
import pytest
from botocore.exceptions import ClientError

from mlgov.retirement_estate import IDLE
from mlgov.sandbox import FakeContext
from mlgov_runtime.lineage_audit.logic import PackagePolicy, Verdict
from mlgov_runtime.lineage_audit.settings import evaluation_share
from mlgov_runtime.retirement.logic import EndpointView, too_young
from tests.attacker.test_twentysecond_review_gaps import _failed, _promotable, _run, _weights, lab
from tests.integration.test_challenger_handler import ENDPOINT, Lab, at
from tests.integration.test_retirement import ACCOUNT, REGION, RetirementWorld, retirement_world, run_cli
from tests.integration.test_retirement_walk import deletion_request
from tests.settings_files import NO_SETTINGS
from tests.unit.fakes import FakeSageMaker
from tests.unit.test_lineage_audit_bypasses import Runs, _ab, _candidate, auditor, sm

__all__ = ["lab", "retirement_world", "sm"]  # the fixtures

THROTTLED = ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "DescribeModelPackage")
TAG_THROTTLED = ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "AddTags")


# -- hole 1: one run's ReportFailure takes another run's traffic


def test_a_second_runs_failed_start_leaves_the_first_runs_challenger_alone(lab: Lab) -> None:
    arn = lab.register()
    first = lab.start(arn)  # the first run's experiment: challenger-v5 on 10 %, watched by that run
    assert _weights(lab)["challenger-v5"] == pytest.approx(0.1)
    # Given a second execution for the same package (its Start state two minutes later) whose start failed before
    # it deployed anything
    second = _run(lab, arn, at(2))
    finding = _failed(lab, second, "DeployChallenger", THROTTLED, 3)
    # Then the first run's challenger keeps its traffic and the finding claims nothing of it
    assert _weights(lab)["challenger-v5"] == pytest.approx(0.1)
    assert first["challenger"]["experiment_config"] not in finding["detail"]
    assert "This run's" not in finding["detail"]


def test_a_failed_start_that_cannot_name_its_own_experiment_takes_nothing_and_names_what_it_saw(lab: Lab) -> None:
    # An execution started before the Start state recorded its time: its own configuration cannot be named.
    arn = lab.register()
    first = lab.start(arn)
    second = {k: v for k, v in _run(lab, arn, at(2)).items() if k != "started"}
    finding = _failed(lab, second, "DeployChallenger", THROTTLED, 3)
    assert _weights(lab)["challenger-v5"] == pytest.approx(0.1)
    config = first["challenger"]["experiment_config"]
    assert f"This run's {config}" not in finding["detail"]
    assert f"nothing was taken away from {config}" in finding["detail"]
    assert f"aws sagemaker describe-endpoint-config --endpoint-config-name {config}" in finding["detail"]


def test_a_failed_start_with_nothing_of_its_package_on_the_endpoint_takes_nothing_away(lab: Lab) -> None:
    other = lab.register()
    lab.start(other)  # another package's experiment is live
    before = _weights(lab)
    state = _run(lab, lab.register())
    finding = _failed(lab, state, "DeployChallenger", THROTTLED, 3)
    assert _weights(lab) == before
    assert "The challenger had not been deployed." in finding["detail"]


# -- hole 2: ReportFailure during a promotion still deploying tells the on-call to undo it


def test_a_failure_while_the_promotion_deploys_never_offers_to_withdraw_or_demote_it(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = _promotable(lab)
    experiment = dict(lab.sm.describe_endpoint(EndpointName=ENDPOINT))
    lab.step("promote", state, at(61))  # its UpdateEndpoint went through; moto switches at once
    promoted = lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    assert promoted != state["challenger"]["experiment_config"]
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        """As SageMaker answers during the blue/green update: the experiment's fleet serves, the promoted
        configuration is being deployed, and weights cannot be changed."""
        if name == "UpdateEndpointWeightsAndCapacities":
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "is Updating"}}, name)
        answer = original(self, name, params)
        if name == "DescribeEndpoint":
            answer = {
                **answer,
                "EndpointConfigName": experiment["EndpointConfigName"],
                "ProductionVariants": experiment["ProductionVariants"],
                "EndpointStatus": "Updating",
                "PendingDeploymentSummary": {"EndpointConfigName": promoted},
            }
        return answer

    with monkeypatch.context() as patch:
        patch.setattr(botocore.client.BaseClient, "_make_api_call", call)
        # the retag's AddTags throttled past the retries: the step fails after its update went through
        finding = _failed(lab, state, "Promote", TAG_THROTTLED, 62)
    detail = finding["detail"]
    assert "It does not serve" not in detail, detail
    assert "--model-approval-status PendingManualApproval" not in detail, detail
    assert f"--endpoint-config-name {state['challenger']['previous_config']}" not in detail, detail


def test_a_promotion_that_took_effect_is_reported_as_such(lab: Lab) -> None:
    # Held: the served configuration is the promoted one (moto's switch): production serves the challenger's model.
    state = _promotable(lab)
    lab.step("promote", state, at(61))
    finding = _failed(lab, state, "Promote", THROTTLED, 62)
    assert "Production serves the challenger's model" in finding["detail"]
    assert "PendingManualApproval" not in finding["detail"]


# -- hole 3: a failed post-promotion review, production since moved on, is told to put back the pre-experiment config


def test_a_failed_review_after_production_moved_on_never_offers_the_pre_experiment_config(lab: Lab) -> None:
    state = _promotable(lab)
    state["promotion"] = lab.step("promote", state, at(61))
    # Given production moved on during the review's 7 days: a newer model serves (a later promotion)
    sm = lab.sm
    model = sm.describe_model(ModelName=state["challenger"]["challenger_model"])
    sm.create_model(
        ModelName="manga-rec-newer", PrimaryContainer=model["PrimaryContainer"],
        ExecutionRoleArn=model["ExecutionRoleArn"],
    )  # fmt: skip
    served = sm.describe_endpoint_config(EndpointConfigName=state["promotion"]["config"])["ProductionVariants"]
    newer = [{**v, "ModelName": "manga-rec-newer"} for v in served]
    sm.create_endpoint_config(EndpointConfigName=f"{ENDPOINT}-newer", ProductionVariants=newer)
    sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{ENDPOINT}-newer")
    # When the review (UpdateModelPackage throttled past the retries) fails into ReportFailure
    failed = ClientError({"Error": {"Code": "ThrottlingException", "Message": "x"}}, "UpdateModelPackage")
    finding = _failed(lab, state, "Review", failed, 7 * 24 * 60 + 70)
    detail = finding["detail"]
    # Then it never offers the configuration from before the experiment (it would take the newer model offline)
    # nor tells the on-call that the package "does not serve" with the command that withdraws its approval
    assert f"--endpoint-config-name {state['challenger']['previous_config']}" not in detail, detail
    assert "It does not serve" not in detail, detail


# -- (a) held: a retried start adopts only its own configuration, checked


def test_a_retried_start_refuses_a_configuration_of_its_name_that_holds_something_else(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.challenger.logic import StepError

    arn = lab.register()
    state = _run(lab, arn)
    lab.step("start", state, at(0))
    config = lab.sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        answer = original(self, name, params)
        if name == "DescribeEndpointConfig" and params["EndpointConfigName"] == config:
            # the same name, but its challenger-v5 runs the production model (not this package)
            variants = [dict(v) for v in answer["ProductionVariants"]]
            variants[1]["ModelName"] = variants[0]["ModelName"]
            answer = {**answer, "ProductionVariants": variants}
        return answer

    with monkeypatch.context() as patch:
        patch.setattr(botocore.client.BaseClient, "_make_api_call", call)
        with pytest.raises(StepError, match="is not the experiment this step makes"):
            lab.step("start", state, at(0))


# -- (b) held: the Rejected-at-weight-0 allowance and the ramp's share, with weights SageMaker reports oddly


@pytest.mark.parametrize(
    ("variant", "status"),
    [
        ({"VariantName": "challenger", "DesiredWeight": 0.1}, "InService"),  # CurrentWeight absent
        ({"VariantName": "challenger", "CurrentWeight": 0.1}, "InService"),  # DesiredWeight absent
        ({"VariantName": "challenger", "CurrentWeight": 0.1, "DesiredWeight": None}, "Updating"),  # null
        ({"VariantName": "challenger", "DesiredWeight": 0.1}, "Updating"),  # being put back, CurrentWeight absent
    ],
)
def test_a_rejected_challenger_with_oddly_reported_weights_stays_a_violation(
    sm: FakeSageMaker, variant: dict[str, Any], status: str
) -> None:
    arn = _candidate(sm)
    sm.packages[arn]["ModelApprovalStatus"] = "Rejected"
    _ab(sm, 0.1)
    sm.endpoints["ep"]["ProductionVariants"][1] = variant
    sm.endpoints["ep"]["EndpointStatus"] = status
    audit = auditor(sm, PackagePolicy(evaluation_share=0.1), Runs(("ep", arn, "challenger"))).audit("ep")
    assert audit.verdict is Verdict.UNAPPROVED, audit.reasons


def test_a_candidate_above_the_ramps_largest_weight_stays_a_violation(sm: FakeSageMaker) -> None:
    arn = _candidate(sm)
    _ab(sm, 0.51)
    share = evaluation_share(0.1, [[10, 0.25], [20, 0.5]])
    audit = auditor(sm, PackagePolicy(evaluation_share=share), Runs(("ep", arn, "challenger"))).audit("ep")
    assert audit.verdict is Verdict.UNAPPROVED, audit.reasons


# -- (c) held: an endpoint's age


NOW = datetime(2026, 12, 8, 12, tzinfo=UTC)


def _view(created: datetime | None) -> EndpointView:
    return EndpointView("ep", "arn:aws:sagemaker:us-east-1:1:endpoint/ep", "InService", "ep-config", created, (), {})


@pytest.mark.parametrize(
    ("created", "young"),
    [
        (None, True),  # unreadable: as if created now, never deletable
        (NOW + timedelta(hours=3), True),  # in the future (clock skew)
        (NOW - timedelta(hours=23, minutes=59), True),
        (NOW - timedelta(hours=24), False),  # a full window: judged
    ],
)
def test_an_endpoints_age_never_makes_a_young_one_deletable(created: datetime | None, young: bool) -> None:
    assert bool(too_young(_view(created), NOW, 24)) is young


# -- hole 4: retire cancel's re-open puts back a deletion request the cancel itself aborted


def _retiring(world: RetirementWorld, name: str) -> dict[str, Any]:
    from mlgov_runtime.adapters.findings_store import FindingsStore
    from mlgov_runtime.core.findings import finding_id

    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}"
    store = FindingsStore(world.ddb, None, world.resources["FINDINGS_TABLE_NAME"], "")
    item = store.get(finding_id("ENDPOINT_RETIRING", ACCOUNT, REGION, arn))
    assert item is not None
    return {"status": item["status"], **json.loads(item["finding"])}


@pytest.mark.parametrize("final_check_ran", [True, False])
def test_a_refused_cancel_never_reopens_a_deletion_request_that_ended_while_it_was_closed(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch, final_check_ran: bool
) -> None:
    from tests.integration.test_approvals import approve_directly

    # Given an approved deletion request of an idle endpoint, its final check due
    execution, handler = deletion_request(retirement_world, monkeypatch)
    step = {"state": {"endpoint_name": IDLE}, "execution": execution}
    assert handler.step({**step, "step": "prepare"}, FakeContext())["eligible"] is True
    handler.step({**step, "step": "request_approval", "token": "t"}, FakeContext())
    approve_directly(retirement_world.ddb, execution)
    assert _retiring(retirement_world, IDLE)["evidence"]["retiring"]["request"]
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)
    ended: list[dict[str, Any]] = []

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        if name != "AddTags" or not final_check_ran:
            if name == "AddTags":
                raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "denied by SCP"}}, name)
            return original(self, name, params)
        # Between the cancel's close and its tag write, the deletion's final check runs: no open retirement
        ended.append(retirement_world.handler().step({**step, "step": "delete"}, FakeContext()))
        # The machine's DeletionAborted (a Fail state) ends the execution; moto does not run it
        boto3.client("stepfunctions", region_name=REGION).stop_execution(executionArn=execution)
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "denied by SCP"}}, name)

    r = retirement_world.resources
    with monkeypatch.context() as patch:
        patch.setattr(botocore.client.BaseClient, "_make_api_call", call)
        code, _, err = run_cli(
            "retire", "cancel", "--endpoint", IDLE, "--reason", "kept",
            "--findings-table", r["FINDINGS_TABLE_NAME"], "--findings-topic-arn", r["FINDINGS_TOPIC_ARN"],
            "--config", NO_SETTINGS,
        )  # fmt: skip
    if not final_check_ran:  # the request still runs: the re-open puts it back as it was
        assert code == 1 and "its retirement is open again as before" in err, err
        reopened = _retiring(retirement_world, IDLE)
        assert reopened["status"] == "OPEN" and reopened["evidence"]["retiring"]["request"]["execution"] == execution
        return
    [outcome] = ended
    assert outcome["outcome"] == "aborted" and "no longer open" in outcome["reason"], outcome
    assert retirement_world.sm.describe_endpoint(EndpointName=IDLE)["EndpointStatus"] == "InService"
    # Then it does not re-open the retirement with the request that ended, and says what is left and what to run
    assert code == 1 and "open again as before" not in err and len(err.strip().splitlines()) == 1, err
    assert "ended while the cancel ran" in err and "the tag still says retiring" in err, err
    assert "the next daily retirement check opens a new retirement" in err, err
    assert f"aws sagemaker add-tags --region {REGION} --resource-arn" in err and "Value=active" in err, err
    assert _retiring(retirement_world, IDLE)["status"] != "OPEN"
