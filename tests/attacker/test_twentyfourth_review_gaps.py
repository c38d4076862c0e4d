"""Twenty-fourth review: a `cdk deploy` (a new release, or edited `cdk.json` settings) while the product is mid-act.

Scope: what a deploy does to a challenger execution RUNNING (Step Functions keeps a running execution on the
definition it started with; the functions run the new code with the new settings at their next cold start, which
these tests model with a new `MLGOV_CHALLENGER_SETTINGS` and `reset_all()`), to an open challenger approval
request, and state written by an older release meeting new code (a run input without `endpoint_name`, as before
b71a462). Tried and judged as held or as holes below: `challenger.ramp` added, raised and lowered mid-run,
`min_minutes` and the reject budget changed (the run's recorded `watch.ctr_split` holds), `challenger.endpoints`
moving a group, `require_human_approval` flipped both ways, `approvals.approvers.challenger` changed after a
decision. Known and not re-reported: the audit's allowed share comes from the settings (a lowered ramp makes the
running challenger UNAPPROVED; the held test pins that nothing worse follows in the run itself); an execution
without `$.started` takes nothing away on a failed start. Not settled: a Jira project key changed while issues are
open (`JiraProject.find_open_issue` searches only the new project, so a RESOLVED finding would leave the old
project's issue open and report "no open issue to resolve"; settled since: the sink honours the search's project,
docs/notifications.md says to move open issues first, tests/integration/test_notifier_project_change.py), and
removing a group from `challenger.endpoints` while its run is live also removes the
Steps function's `UpdateEndpointWeightsAndCapacities` on that endpoint (stacks/challenger.py ChangeWatchedEndpoints),
which no moto test can show; hole 5 is what the on-call then reads.

Holes, ranked:

1. HIGH. `challenger.require_human_approval` turned on while a run watches: the running execution keeps the old
   definition (Decision PROMOTE -> CheckPromotion -> ApprovePackage with `$.watch.approval_description` -> Promote),
   and CheckPromotion, run by the new code under the new settings, answers `approvable: true` with no
   `$.human_approval`. The package is Approved and promoted to 100% with nobody having decided, after the deployer
   said a person must. Safe: CheckPromotion (and Promote) refuse, as a step error naming require_human_approval (so
   ReportFailure takes the weight to 0 and files CHALLENGER_FAILED with the command to start a new run), whenever
   the function's settings require a human and the state carries no verified approval; never `approvable: false`
   alone, whose PackageRejectedMeanwhile Fail state leaves the challenger's variant on the endpoint.
   (test_a_run_reaching_promote_after_human_approval_was_turned_on_is_not_approved_without_one)
   Fixed: with the setting on, the Steps function re-reads and verifies the execution's own approval record before
   CheckPromotion and Promote and otherwise fails the step naming require_human_approval and `mlgov challenger start`.

2. MEDIUM. A ramp added by a deploy mid-run: `ramp_step` reads `challenger.ramp` from the function's settings at
   every look while the run's split (`watch.ctr_split`, recorded at its first look) has `ctr_early_share` 0. A run
   started at 10% is taken to the new ramp's 50% at its next look, without the front-loaded CTR test the ramp's
   safety rests on (docs/challenger.md: 0.6 of the CTR share when a ramp is set), so a worse challenger serves half
   the traffic for as long as the mixture alone needs. Safe: a run keeps the ramp it started with (recorded with
   its split), as it keeps its alphas; a new ramp applies to new runs.
   (test_a_ramp_added_mid_run_leaves_a_run_without_the_early_test_at_its_start_share)
   Fixed: the first look records the run's ramp as `watch.ramp` beside its split and every later look ramps by that
   record, never above the settings' largest weight now (an older run without one records the function's at its
   next look; a malformed one fails the step).

3. MEDIUM. A run started by a release whose input named no endpoint (before b71a462; `binding_problem` then takes
   the endpoint from `challenger.endpoints`), after a deploy moves its group to another endpoint (or drops the
   group): every step's `verified_state` refuses it as UnverifiedStep, ReportFailure included. The watch is caught
   and sent to ReportFailure, which raises too, so the execution fails on a Lambda error: the challenger keeps its
   traffic with no weight-0 call and no CHALLENGER_FAILED finding (only the ExecutionsFailed alarm, and the next
   audit's UNAPPROVED finding for a legitimate-looking variant). Safe: ReportFailure, which only takes traffic away,
   acts for the execution's own recorded experiment (the state's endpoint, checked against the execution's
   package and variant) even when the settings no longer map the group there, and says so in the finding.
   (test_an_old_shape_run_whose_group_moved_endpoint_still_loses_its_traffic_and_is_reported)
   Fixed: for such a run (input without endpoint_name) ReportFailure alone accepts the state's endpoint when the
   package, version and variant match the execution, checks that endpoint's variant serves the execution's package
   before its weight-0 call, and its finding says challenger.endpoints maps the group elsewhere now.

4. LOW. `require_human_approval` turned off while a request waits: the deploy unwires the approval service from
   the challenger machine, so an approver's approve or deny is refused with "no challenger state machine is
   configured here (CHALLENGER_STATE_MACHINE_ARN)": nothing says the human step was turned off, that the run will
   end unapproved only at the request's expiry (the challenger keeping its share, unwatched, until then), nor what
   to run. Safe: the refusal names challenger.require_human_approval, the request's expiry (then NotApproved takes
   the weight to 0), and the way out now (deploy again with the step on, then decide).
   (test_a_request_left_waiting_by_turning_the_human_step_off_says_why_and_what_to_do)
   Fixed: the refusal names challenger.require_human_approval, the request's expiry and what NotApproved then does,
   and the way out (`npx cdk deploy MlGovEndpointAudit` with the step on, then `mlgov challenger approve`).

5. LOW. After a ramp, ReportFailure's failed weight-0 call (throttled past retries, or the endpoint's
   UpdateEndpointWeightsAndCapacities gone with a deploy that dropped it from challenger.endpoints) says the
   challenger "may still take 10% of traffic" (`ch.traffic_fraction`, the start's share) while it takes the ramp's
   50%. The on-call sizes the incident from that line. Safe: the share the endpoint reports (or the ramp history's
   last weight).
   (test_a_failed_weight_zero_after_a_ramp_reports_the_share_the_challenger_takes_now)
   Fixed: the failed weight-0 line gives the weight the endpoint reported just before, else the ramp history's last
   step, and the start's share only when neither is known.

Held (plain tests): a shorter `min_minutes` and a larger reject budget deployed mid-run change nothing for the run
(its recorded split decides); a lowered ramp mid-run neither ramps further nor moves the weight (the accepted audit
case, nothing worse in the run), and a run's recorded step above the lowered ramp's largest weight is not taken; a
run whose input names its endpoint keeps its steps when its group moves, and ReportFailure takes its weight to 0
naming `mlgov challenger status`; an approver removed by a deploy after approving approves nothing (VerifyApproval
reads the approvers the function has now).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from mlgov_runtime.challenger.provenance import UnverifiedStep
from mlgov_runtime.core.env import reset_all
from tests.attacker.inject import fail_calls
from tests.integration.test_approvals import BOB
from tests.integration.test_challenger_approval import APPROVERS, ask, decide
from tests.integration.test_challenger_approval import approval_lab as approval_lab_of_the_suite
from tests.integration.test_challenger_approval import promoted as approval_promoted
from tests.integration.test_challenger_handler import ENDPOINT, Lab, at, lab_context, settings_env, traffic

APPROVER = "arn:aws:iam::123456789012:role/mlgov-approver"


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    with lab_context(monkeypatch) as value:
        yield value
    reset_all()  # a test's deploy leaves no settings behind for the next test


def deploy(monkeypatch: pytest.MonkeyPatch, **challenger: Any) -> None:
    """What a `cdk deploy` of edited settings does to the running function: a new variable, a cold start."""
    approvers = {"challenger": [APPROVER]} if challenger.get("require_human_approval") else None
    monkeypatch.setenv("MLGOV_CHALLENGER_SETTINGS", settings_env(approvers, **challenger))
    reset_all()


def _promote_verdict(lab: Lab) -> tuple[str, dict[str, Any]]:
    arn = lab.register()
    state = lab.start(arn)
    traffic(lab, state, 120, 3500, 0.088)
    state = lab.watch_until_verdict(state)
    assert state["watch"]["decision"] == "PROMOTE"
    return arn, state


def _weights(lab: Lab) -> dict[str, float]:
    live = lab.sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]
    return {v["VariantName"]: float(v["CurrentWeight"]) for v in live}


# -- hole 1: require_human_approval turned on while a run watches: the run's (old) definition promotes anyway


def test_a_run_reaching_promote_after_human_approval_was_turned_on_is_not_approved_without_one(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn, state = _promote_verdict(lab)
    # The deploy turns the human step on; Step Functions keeps the running execution on the definition it started
    # with (Decision PROMOTE -> CheckPromotion -> ApprovePackage), the functions run the new code and settings.
    deploy(monkeypatch, require_human_approval=True)
    # Safe: CheckPromotion fails as a step (-> ReportFailure: weight 0, a finding), never approvable without a
    # verified $.human_approval. `approvable: false` alone would end in PackageRejectedMeanwhile, a Fail state that
    # leaves the challenger's variant on the endpoint.
    with pytest.raises(Exception, match="require_human_approval") as refused:
        lab.step("check_promotion", state, at(60))
    assert lab.package(arn)["ModelApprovalStatus"] == "PendingManualApproval"
    # Promote refuses as well (a state reaching it some other way), and a forged $.human_approval is not believed.
    forged = {**state, "human_approval": {"approved": True, "approval_description": "Approved by nobody"}}
    with pytest.raises(Exception, match="require_human_approval"):
        lab.step("promote", forged, at(61))
    # The catch: ReportFailure takes the challenger's weight to 0 and says why and what to run.
    cause = str(refused.value)
    failed = {**state, "failed_state": "CheckPromotion", "error": {"Error": "StepError", "Cause": cause}}
    lab.step("report_failure", failed, at(62))
    assert _weights(lab)[state["challenger"]["challenger_variant"]] == 0
    [finding] = [f for f in lab.published() if f["kind"] == "CHALLENGER_FAILED"]
    assert "require_human_approval" in finding["detail"], finding["detail"]
    assert f"`mlgov challenger start --package {arn}`" in finding["detail"], finding["detail"]


# -- hole 2: a ramp added by a deploy mid-run ramps a run whose recorded split has no front-loaded test


def test_a_ramp_added_mid_run_leaves_a_run_without_the_early_test_at_its_start_share(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = lab.start(lab.register())
    traffic(lab, state, 60, 3500, 0.08)
    state["watch"] = lab.step("watch", state, at(6))
    assert state["watch"]["ctr_split"]["ctr_early_share"] == 0.0  # recorded: no ramp, no early test
    deploy(monkeypatch, ramp=[[10, 0.5]])  # the ramp's default early share is 0.6, for new runs
    state["watch"] = lab.step("watch", state, at(13))
    assert state["watch"]["decision"] == "CONTINUE" and state["watch"]["ramp"] == []
    assert _weights(lab)[state["challenger"]["challenger_variant"]] == pytest.approx(0.1)
    for edited in ([[10, "0.5"]], [[10, True]], [[10, 0.05]], "[[10, 0.5]]"):  # an edited record ends the run
        with pytest.raises(Exception, match=r"watch\.ramp"):
            lab.step("watch", {**state, "watch": {**state["watch"], "ramp": edited}}, at(18))


# -- hole 3: a run whose input names no endpoint (started by a release before b71a462) after challenger.endpoints moved


def _unnamed_run(lab: Lab) -> dict[str, Any]:
    """A run as releases before the input named its endpoint started it: the package only, the endpoint from
    challenger.endpoints by the package's group."""
    arn = lab.register()
    run_input = {"model_package_arn": arn, "source": "event"}
    execution = lab.sfn.start_execution(stateMachineArn=lab.machine_arn, input=json.dumps(run_input))
    state: dict[str, Any] = {"execution": execution["executionArn"], "input": run_input, "started": at(0)}
    state["challenger"] = lab.step("start", state, at(0))
    assert state["challenger"]["endpoint_name"] == ENDPOINT
    state["endpoint_status"] = lab.step("endpoint_status", state, at(1))
    state["deployed_at"] = state["endpoint_status"]["at"]
    return state


def test_an_old_shape_run_whose_group_moved_endpoint_still_loses_its_traffic_and_is_reported(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = _unnamed_run(lab)
    ch = state["challenger"]
    assert _weights(lab)[ch["challenger_variant"]] == pytest.approx(0.1)
    # The deploy moves the group to a new endpoint (or drops it with its watched group).
    deploy(monkeypatch, endpoints={"manga-recommender": "manga-recommender-canary"})
    failed = {**state, "failed_state": "Watch", "error": {"Error": "UnverifiedStep", "Cause": "the endpoint moved"}}
    with pytest.raises(Exception, match="does not match execution"):
        lab.step("watch", state, at(6))  # what the running execution's next look meets: caught, -> ReportFailure
    # ReportFailure, which only takes traffic away, acts on the run's own experiment and says why.
    lab.step("report_failure", failed, at(7))
    [finding] = [f for f in lab.published() if f["kind"] == "CHALLENGER_FAILED"]
    assert _weights(lab)[ch["challenger_variant"]] == 0
    assert "challenger.endpoints maps this run's group to manga-recommender-canary now" in finding["detail"]


def test_an_old_shape_run_report_failure_names_no_other_endpoint(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The allowance is ReportFailure's alone, and only for the execution's own package, version and variant."""
    state = _unnamed_run(lab)
    deploy(monkeypatch, endpoints={"manga-recommender": "manga-recommender-canary"})
    failed = {**state, "failed_state": "Watch", "error": {"Error": "UnverifiedStep", "Cause": "the endpoint moved"}}
    for wrong in ({"challenger_variant": "challenger-v99"}, {"model_package_arn": lab.register()}):
        with pytest.raises(UnverifiedStep):
            lab.step("report_failure", {**failed, "challenger": {**state["challenger"], **wrong}}, at(7))
    with pytest.raises(UnverifiedStep):
        lab.step("end", {**state, "watch": {"decision": "ABANDONED"}}, at(7))
    # A state naming another model than the variant runs: not this run's experiment, so nothing is touched.
    lab.step("report_failure", {**failed, "challenger": {**state["challenger"], "challenger_model": "other"}}, at(8))
    assert _weights(lab)[state["challenger"]["challenger_variant"]] == pytest.approx(0.1)
    [finding] = [f for f in lab.published() if f["kind"] == "CHALLENGER_FAILED"]
    assert "does not serve" in finding["detail"] and "FAILED" in finding["detail"]


# -- hole 4: require_human_approval turned off while a request waits: nobody can decide it, and the refusal says
# neither why nor what to do


@contextlib.contextmanager
def approval_lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """tests/integration/test_challenger_approval.py's lab, its deployed settings forgotten afterwards."""
    with approval_lab_of_the_suite(monkeypatch) as value:
        yield value
    reset_all()


def test_a_request_left_waiting_by_turning_the_human_step_off_says_why_and_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with approval_lab(monkeypatch) as lab:
        _, state = approval_promoted(lab)
        request_id = ask(lab, state)["request_id"]
        # The deploy turns the human step off: the service is no longer wired to the challenger machine
        # (stacks/approvals.py wire_challenger), the running execution still waits on its token.
        monkeypatch.delenv("APPROVALS_CHALLENGER_STATE_MACHINE_ARN")
        monkeypatch.setenv("MLGOV_CHALLENGER_SETTINGS", settings_env(APPROVERS))
        reset_all()
        for approve in (True, False):
            status, answer = decide(request_id, BOB, approve=approve, comment="" if approve else "not now")
            assert status == 403, answer
            assert "require_human_approval" in answer["error"], answer["error"]
            assert answer["error"].count("`") >= 2, answer["error"]  # a command to run
            assert f"`mlgov challenger approve --request {request_id}`" in answer["error"], answer["error"]
            assert "then NotApproved takes the challenger's weight to 0" in answer["error"], answer["error"]


def _ramped_to_half(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A run started under the ramp [[10, 0.5]], looked at minutes 6 and 13: its challenger at 50%."""
    deploy(monkeypatch, ramp=[[10, 0.5]])
    state = lab.start(lab.register())
    traffic(lab, state, 60, 3500, 0.08)
    for minute in (6, 13):
        state["watch"] = lab.step("watch", state, at(minute))
        assert state["watch"]["decision"] == "CONTINUE", state["watch"]
    assert _weights(lab)[state["challenger"]["challenger_variant"]] == pytest.approx(0.5)
    return state


# -- hole 5: after a ramp, a failed weight-0 call says the challenger "may still take" the initial share


def test_a_failed_weight_zero_after_a_ramp_reports_the_share_the_challenger_takes_now(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = _ramped_to_half(lab, monkeypatch)
    # The next step fails, and so does ReportFailure's weight call (throttled past retries, or a deploy that took
    # this endpoint out of challenger.endpoints and with it the function's UpdateEndpointWeightsAndCapacities).
    fail_calls(monkeypatch, "UpdateEndpointWeightsAndCapacities", "AccessDeniedException")
    failed = {**state, "failed_state": "Watch", "error": {"Error": "StepError", "Cause": "injected"}}
    lab.step("report_failure", failed, at(16))
    [finding] = [f for f in lab.published() if f["kind"] == "CHALLENGER_FAILED"]
    assert "may still take 50% of traffic" in finding["detail"], finding["detail"]
    # The endpoint unreadable too: the ramp history's last step still says 50%.
    fail_calls(monkeypatch, "DescribeEndpoint", "ThrottlingException")
    lab.step("report_failure", {**failed, "failed_state": "Review"}, at(17))
    [again] = [f for f in lab.published() if f["kind"] == "CHALLENGER_FAILED"]
    assert "may still take 50% of traffic" in again["detail"], again["detail"]


# -- held: what a deploy mid-run does not change


def test_a_shorter_min_minutes_deployed_mid_run_does_not_promote_the_run_early(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = lab.start(lab.register())
    traffic(lab, state, 120, 3500, 0.088)
    state["watch"] = lab.step("watch", state, at(6))
    deploy(monkeypatch, min_minutes=30, reject_budget=0.2)
    state["watch"] = lab.step("watch", state, at(46))
    assert state["watch"]["decision"] == "CONTINUE"
    assert state["watch"]["ctr_split"]["min_minutes"] == 120.0 and state["watch"]["ctr_split"]["reject_budget"] == 0.01


def test_a_lowered_ramp_mid_run_never_ramps_further_and_never_moves_the_weight_back(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = _ramped_to_half(lab, monkeypatch)
    variant = state["challenger"]["challenger_variant"]
    deploy(monkeypatch, ramp=[[10, 0.25]])
    state["watch"] = lab.step("watch", state, at(16))
    # The accepted case (docs/lineage-audit.md): above the new largest weight until the run ends; nothing worse here.
    assert _weights(lab)[variant] == pytest.approx(0.5) and "ramped_to" not in state["watch"]


def test_a_ramp_lowered_mid_run_takes_no_step_above_the_new_largest_weight(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run keeps its recorded ramp, but takes no step above what the settings allow now (the audit's share)."""
    deploy(monkeypatch, ramp=[[10, 0.5]])
    state = lab.start(lab.register())
    traffic(lab, state, 60, 3500, 0.08)
    state["watch"] = lab.step("watch", state, at(6))
    deploy(monkeypatch, ramp=[[10, 0.25]])
    state["watch"] = lab.step("watch", state, at(13))
    assert state["watch"]["decision"] == "CONTINUE" and state["watch"]["ramp"] == [[10.0, 0.5]]
    assert "ramped_to" not in state["watch"]  # its 50% step is above what the settings allow now: not taken
    assert _weights(lab)[state["challenger"]["challenger_variant"]] == pytest.approx(0.1)


def test_a_run_naming_its_endpoint_keeps_its_steps_when_its_group_moves_endpoint(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = lab.start(lab.register())  # records endpoint_name, as start_experiment does since b71a462
    deploy(monkeypatch, endpoints={"manga-recommender": "manga-recommender-canary"})
    failed = {**state, "failed_state": "Watch", "error": {"Error": "StepError", "Cause": "injected"}}
    lab.step("report_failure", failed, at(7))
    assert _weights(lab)[state["challenger"]["challenger_variant"]] == 0
    [finding] = [f for f in lab.published() if f["kind"] == "CHALLENGER_FAILED"]
    assert f"mlgov challenger status --endpoint {ENDPOINT}" in finding["detail"]


def test_an_approver_removed_by_a_deploy_after_approving_approves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with approval_lab(monkeypatch) as lab:
        arn, state = approval_promoted(lab)
        request_id = ask(lab, state)["request_id"]
        status, _ = decide(request_id, BOB)
        assert status == 200
        others = {**APPROVERS, "challenger": ["arn:aws:iam::123456789012:role/mlgov-other-approver"]}
        monkeypatch.setenv("MLGOV_CHALLENGER_SETTINGS", settings_env(others, require_human_approval=True))
        reset_all()
        state["approval_answer"] = {}
        verified = lab.step("verify_approval", state, at(202))
        assert verified["approved"] is False and "not a configured approver" in verified["reason"]
        assert lab.package(arn)["ModelApprovalStatus"] == "PendingManualApproval"
