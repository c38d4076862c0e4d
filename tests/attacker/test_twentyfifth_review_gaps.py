"""Twenty-fifth review: a `cdk deploy` (a new release, or edited `cdk.json` settings) while the retirement and the
notifier are mid-act; the complement of the twenty-fourth review (challenger, approval request), whose items are not
re-reported.

Scope: a deletion request waiting on a human or between its two live checks (CheckIdle, LetMetricsSettle,
DeleteIfIdle), its post-deletion watch, an open retirement, and an open finding with its delivery state. A running
Step Functions execution keeps its definition and state; the functions read the deployed settings at their next cold
start, which these tests model with the new settings variable and `reset_all()` (`deploy`, `set_approvals`,
`reconfigure`). Settings tried: `thresholds.stale_invocation_window_hours` lengthened and shortened,
`approvals.approvers.retirement` narrowed, `retirement.purpose_tag_key` changed, `retirement.client_error_metrics`
emptied and extended, `alert_routing.routes` (Jira taken off, min_severity raised). Known and not re-reported: after a
`purpose_tag_key` change, open retirements tagged with the old key lose deadline escalation while the purpose audit
reports the missing new tag (hole 2 is what follows when the owner acts on that report). Not settled here: capacity
campaigns and `min_endpoint_capacity` (not tested in this review); `org_scan.regions` narrowed while findings are
open there (read only: `report.resolutions` closes only where the scan reached, so those findings stay OPEN, out of
the report's `findings`, and a summary that rolled one up cannot resolve; not tested).

Holes, ranked:

1. HIGH. `thresholds.stale_invocation_window_hours` lengthened (24 -> 48) while an approved request is between
   approval and deletion: CheckIdle and DeleteIfIdle judge the endpoint's age by the new window (too_young) but
   its traffic only over the safety window, so an endpoint called 30 h ago, which the deployed settings' audit calls
   STALE_ENDPOINT_ACTIVE ("move its callers first"), is deleted. The deployer said "stale means 48 h quiet"; the
   product deletes on the old rule. Safe: the acting steps read invocations over the window they read the age by
   (the deployed stale window) and abort, naming when to request again (`mlgov retire request --endpoint E`).
   (test_a_stale_window_lengthened_mid_request_keeps_an_endpoint_called_inside_it)
   Fixed: CheckIdle and DeleteIfIdle read the invocations over the stale window the function has now (at least the
   safety window), abort on traffic in it ("once it has had none for 48 h, `mlgov retire request --endpoint E`") and
   keep the safety abort for traffic inside the safety window.

2. MEDIUM. After `purpose_tag_key` changes (endpoint_purpose -> lifecycle) with a retirement open, the purpose
   audit tells the owner to `add-tags Key=lifecycle,Value=active`; when they do, the tag-change handler treats it as
   the retiring tag being changed: it writes `lifecycle=retiring` (the key the Steps role's DeleteEndpoint
   condition now reads, so the endpoint becomes deletable) and files a HIGH RETIRING_TAG_CHANGED naming the owner.
   The product overwrites the tag it asked for and blames whoever followed it. Safe: a tag under a key the
   retirement never set is not "put back"; the conflict is reported (the open retirement, opened under the old key)
   with `mlgov retire cancel` / `mlgov retire request` as the next commands.
   (test_an_owner_following_the_purpose_audits_fix_after_a_key_change_is_not_overwritten_nor_blamed)
   Fixed: a change to the key while the endpoint's tag under another key says retiring (the key the retirement was
   opened under) is left as it is and reported as a MEDIUM RETIRING_TAG_CHANGED naming that tag, `mlgov retire
   cancel` and `mlgov retire request`.

3. MEDIUM. `alert_routing.routes` changed to take Jira off a route while a finding is open in Jira: its RESOLVED
   matches the deployed routes (by kind), so it goes to Slack only; the issue gets no comment and no transition and
   stays open, and nothing says so. docs/notifications.md says "A RESOLVED finding follows the routes of the
   finding it closes". Safe: a RESOLVED also goes to every target the delivery state shows got this finding OPEN
   (`last_sent`), or the notifier reports the issue it leaves open.
   (test_a_resolution_after_a_route_dropped_jira_still_reaches_the_issue_the_open_finding_made)
   Fixed (the smaller fix): a RESOLVED also goes to the configured Jira project when the delivery state shows the
   finding's OPEN went there; a state it cannot read is logged and counted (`JiraResolutionUnrouted`). Slack channels
   taken off a route still hear nothing.

4. LOW. `retirement.client_error_metrics` emptied (a valid setting) while a deleted endpoint's 72-hour watch runs:
   WatchClients reads no metric, answers `errors: 0` every hour and ends in Retired, while a cached client's
   EndpointInvocationErrors pile up. Missing is reported as zero. Safe: a watch with nothing to read answers
   `errors: None` and says on the endpoint's finding that the watch is blind (naming client_error_metrics).
   (test_a_watch_left_without_client_error_metrics_by_a_deploy_says_it_watches_nothing)
   Fixed: a watch with no metric to read answers `errors: None` and publishes a MEDIUM RETIRED_ENDPOINT_STILL_CALLED
   saying late callers are unwatched, naming retirement.client_error_metrics and the recreate command.

5. LOW. `approvals.approvers.retirement` narrowed by a deploy during LetMetricsSettle: DeleteIfIdle refuses the
   approval (held: nothing deleted), but a "refused" outcome is only logged; the state machine fails
   DeletionAborted and the ENDPOINT_RETIRING finding still shows the request waiting for `mlgov retire approve
   --request ID` until its expiry time. Safe: the refusal is written on the retirement (why, and
   `mlgov retire request --endpoint E` to ask again).
   (test_an_approval_refused_after_a_deploy_removed_its_approver_is_said_on_the_retirement)
   Fixed: an acting check that refuses its own running execution's approval writes the refusal on the retirement
   (why, nothing deleted, `mlgov retire request --endpoint E`) and clears the request; a refusal for any other
   caller changes nothing there.

6. LOW. `purpose_tag_key` changed while a deletion is in flight: the live check aborts (held: nothing deleted) with
   "E is no longer tagged lifecycle=retiring", which it never was, naming neither the settings change nor a next
   command. Safe: the abort says the key changed (E is tagged endpoint_purpose=retiring) and names
   `mlgov retire request --endpoint E`.
   (test_a_purpose_tag_key_changed_mid_request_aborts_naming_the_change_and_the_next_command)
   Fixed: an endpoint tagged retiring under another key than the function's purpose_tag_key aborts naming that tag,
   the key change and `mlgov retire request --endpoint E`.

Held (plain tests): a shorter stale window mid-request deletes the approved idle endpoint as before; an approver
removed between approval and the final check deletes nothing (DeleteIfIdle reads the approvers it has now); a
`purpose_tag_key` changed mid-request deletes nothing and writes the abort on the retirement; a watch whose metrics
a deploy extended still reports the late caller with `mlgov retire recreate`; a RESOLVED after a route's
min_severity was raised still reaches Slack and Jira (resolutions match by kind).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlgov.commands.notifier import sample_finding
from mlgov.ops.sent_settings import retirement_environment
from mlgov.retirement_estate import IDLE, RETURNING, put_client_errors
from mlgov.sandbox import FakeContext, load_event
from mlgov.settings import parse_settings
from mlgov_runtime.core import env
from tests.integration.test_approvals import ALICE, approve_directly, set_approvals
from tests.integration.test_notifier_handler import DEFAULT_ROUTING, Notifier, notifier, reconfigure
from tests.integration.test_retirement import ACCOUNT, REGION, RetirementWorld, retirement_world
from tests.integration.test_retirement_walk import deletion_request

__all__ = ["notifier", "retirement_world"]  # the fixtures

IDLE_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{IDLE}"


@pytest.fixture(autouse=True)
def forget_deployed_settings() -> Iterator[None]:
    yield
    env.reset_all()  # a test's deploy leaves no settings behind for the next test in the process


def deploy(monkeypatch: pytest.MonkeyPatch, **raw: Any) -> None:
    """What a `cdk deploy` of edited settings does to the retirement functions: a new settings variable, a cold
    start (the state machine's running execution keeps its definition and its state)."""
    for key, value in retirement_environment(parse_settings(raw)).items():
        monkeypatch.setenv(key, value)
    env.reset_all()


class Walk:
    """One deletion request for the idle endpoint (last called 30 h ago), stepped as the state machine does."""

    def __init__(self, world: RetirementWorld, monkeypatch: pytest.MonkeyPatch) -> None:
        self.world = world
        self.execution, self.handler = deletion_request(world, monkeypatch)
        self.state: dict[str, Any] = {"endpoint_name": IDLE}

    def step(self, name: str, **extra: Any) -> dict[str, Any]:
        env.reset_all()  # the next invocation may be a cold start under the deployed settings
        event = {"step": name, "state": self.state, "execution": self.execution, **extra}
        result: dict[str, Any] = self.handler.step(event, FakeContext())
        return result

    def approved(self) -> None:
        self.state["prepared"] = self.step("prepare")
        assert self.state["prepared"]["eligible"] is True, self.state["prepared"]
        self.state["approval"] = self.step("request_approval", token="t")
        approve_directly(self.world.ddb, self.execution)  # BOB, a configured approver, not the requester ALICE

    def exists(self) -> bool:
        names = {e["EndpointName"] for e in self.world.sm.list_endpoints()["Endpoints"]}
        return IDLE in names

    def retiring(self) -> dict[str, Any]:
        from mlgov_runtime.adapters.findings_store import FindingsStore
        from mlgov_runtime.core.findings import finding_id

        store = FindingsStore(self.world.ddb, None, self.world.resources["FINDINGS_TABLE_NAME"], "")
        item = store.get(finding_id("ENDPOINT_RETIRING", ACCOUNT, REGION, IDLE_ARN))
        assert item is not None
        return {"status": item["status"], **json.loads(item["finding"])}


# -- hole 1: the stale window lengthened while a deletion waits: the final checks read the age under the new window,
# the traffic under none


def test_a_stale_window_lengthened_mid_request_keeps_an_endpoint_called_inside_it(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    walk = Walk(retirement_world, monkeypatch)
    walk.approved()  # prepared under the 24 h window: no invocations for 30 h, a candidate
    # The deploy makes an endpoint stale only after 48 h without invocations; IDLE took 120 invocations 30 h ago,
    # so under these settings the audit calls it STALE_ENDPOINT_ACTIVE ("move its callers first").
    deploy(monkeypatch, thresholds={"stale_invocation_window_hours": 48})
    walk.state["idle"] = walk.step("check_idle")
    if walk.state["idle"]["outcome"] == "idle":
        walk.state["deletion"] = walk.step("delete")
    # Safe: the acting steps judge the traffic by the window they judge the age by: nothing deleted, and the abort
    # says when to request again.
    assert walk.exists()
    reason = walk.state.get("deletion", walk.state["idle"])["reason"]
    assert f"mlgov retire request --endpoint {IDLE}" in reason


def test_a_stale_window_shortened_mid_request_deletes_the_idle_endpoint_as_approved(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: a shorter window only narrows what counts as stale; the approved, idle endpoint goes, and its live
    checks still read the safety window."""
    walk = Walk(retirement_world, monkeypatch)
    walk.approved()
    deploy(monkeypatch, thresholds={"stale_invocation_window_hours": 12})
    walk.state["idle"] = walk.step("check_idle")
    assert walk.state["idle"]["outcome"] == "idle"
    walk.state["deletion"] = walk.step("delete")
    assert walk.state["deletion"]["outcome"] == "deleted" and not walk.exists()


# -- hole 5: an approver removed by a deploy between the approval and the final check: refused, and nobody told


def _approved_then_approver_removed(walk: Walk, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    walk.approved()
    walk.state["idle"] = walk.step("check_idle")
    assert walk.state["idle"]["outcome"] == "idle"
    # The deploy lands during LetMetricsSettle (3 minutes) and keeps only the requester's role as approvers.
    set_approvals(monkeypatch, {"retirement": [ALICE.replace("/alice", "/*")]})
    walk.state["deletion"] = result = walk.step("delete")
    return result


def test_an_approver_removed_by_a_deploy_before_the_final_check_deletes_nothing(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: DeleteIfIdle reads the approvers the function has now; the removed approver's decision deletes nothing."""
    walk = Walk(retirement_world, monkeypatch)
    result = _approved_then_approver_removed(walk, monkeypatch)
    assert result["outcome"] == "refused" and "not a configured approver" in result["reason"]
    assert walk.exists()


def test_an_approval_refused_after_a_deploy_removed_its_approver_is_said_on_the_retirement(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    walk = Walk(retirement_world, monkeypatch)
    _approved_then_approver_removed(walk, monkeypatch)
    detail = walk.retiring()["detail"]
    # Safe: the retirement says the approved request was refused and why, and what to run; not "approve it".
    assert "mlgov retire approve --request" not in detail
    assert "not a configured approver" in detail and f"mlgov retire request --endpoint {IDLE}" in detail


# -- hole 6: purpose_tag_key changed while a deletion is in flight


def _key_changed_mid_request(walk: Walk, world: RetirementWorld, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    walk.approved()
    assert world.tags(IDLE)["endpoint_purpose"] == "retiring"
    deploy(monkeypatch, retirement={"purpose_tag_key": "lifecycle"})
    walk.state["idle"] = result = walk.step("check_idle")
    return result


def test_a_purpose_tag_key_changed_mid_request_deletes_nothing(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: the acting steps read the retiring tag under the key the function has now; nothing is deleted, and the
    abort is written on the retirement."""
    walk = Walk(retirement_world, monkeypatch)
    result = _key_changed_mid_request(walk, retirement_world, monkeypatch)
    assert result["outcome"] == "aborted" and "nothing deleted" in result["reason"]
    assert walk.exists()
    assert "Deletion aborted at" in walk.retiring()["detail"]


def test_a_purpose_tag_key_changed_mid_request_aborts_naming_the_change_and_the_next_command(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    walk = Walk(retirement_world, monkeypatch)
    result = _key_changed_mid_request(walk, retirement_world, monkeypatch)
    # Safe: the abort says the key changed (the endpoint is tagged endpoint_purpose=retiring) and what to run.
    assert "purpose_tag_key" in result["reason"] and "endpoint_purpose=retiring" in result["reason"]
    assert f"mlgov retire request --endpoint {IDLE}" in result["reason"]


# -- hole 2: after a purpose_tag_key change, the owner who tags the new key as the purpose audit says is overwritten


def test_an_owner_following_the_purpose_audits_fix_after_a_key_change_is_not_overwritten_nor_blamed(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = retirement_world
    world.handler().handler(load_event("scheduled_retiring_deadlines.json"), FakeContext())  # RETURNING's opens
    assert world.tags(RETURNING)["endpoint_purpose"] == "retiring"
    world.published()
    deploy(monkeypatch, retirement={"purpose_tag_key": "lifecycle"})
    # The monthly audit (the known part): RETURNING lacks the new key, and the finding says what to tag.
    world.handler().handler(load_event("scheduled_retirement_audit.json"), FakeContext())
    [purpose] = [
        f
        for f in world.published()
        if f["kind"] == "ENDPOINT_PURPOSE_TAG_INVALID" and f["resource_arn"].endswith(RETURNING)
    ]
    assert "--tags Key=lifecycle,Value=active`" in purpose["detail"]
    # The owner does as told; CloudTrail's AddTags reaches the retirement function.
    arn = world.sm.describe_endpoint(EndpointName=RETURNING)["EndpointArn"]
    world.sm.add_tags(ResourceArn=arn, Tags=[{"Key": "lifecycle", "Value": "active"}])
    event = load_event("cloudtrail_add_tags_retiring.json")
    event["id"] = "owner-follows-the-fix"
    event["detail"]["requestParameters"] = {"resourceArn": arn, "tags": [{"key": "lifecycle", "value": "active"}]}
    event["detail"]["responseElements"] = {"tags": [{"key": "lifecycle", "value": "active"}]}
    result = world.handler().handler(event, FakeContext())
    # Today: "retiring tag change reverted", lifecycle=retiring written (which the Steps role's delete condition now
    # reads), and a HIGH RETIRING_TAG_CHANGED naming the owner. Safe: a tag under a key the retirement never set is
    # not "put back"; the conflict is reported, naming the open retirement's commands.
    assert result["status"] != "retiring tag change reverted"
    assert world.tags(RETURNING)["lifecycle"] == "active"
    told = [f for f in world.published() if f["resource_arn"] == arn]
    assert not [f for f in told if f["kind"] == "RETIRING_TAG_CHANGED" and f["severity"] == "HIGH"]


# -- hole 4: client_error_metrics changed while the post-deletion watch runs


def _deleted(walk: Walk, world: RetirementWorld) -> None:
    walk.approved()
    walk.state["idle"] = walk.step("check_idle")
    walk.state["deletion"] = walk.step("delete")
    assert walk.state["deletion"]["outcome"] == "deleted" and not walk.exists()
    world.published()
    # Twenty minutes later a cached client still calls it: the backend publishes EndpointInvocationErrors naming it.
    now = datetime.now(UTC)
    walk.state["deletion"]["watch"]["since"] = (now - timedelta(minutes=20)).replace(microsecond=0).isoformat()
    put_client_errors(world.cw, IDLE, 7, now - timedelta(minutes=5))


def test_a_watch_whose_metrics_a_deploy_extended_still_reports_the_late_caller(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: the watch reads the metrics the function has now; the default one kept, the caller is reported."""
    walk = Walk(retirement_world, monkeypatch)
    _deleted(walk, retirement_world)
    metrics = [{"metric_name": "EndpointInvocationErrors"}, {"metric_name": "UpstreamTimeouts"}]
    deploy(monkeypatch, retirement={"client_error_metrics": metrics})
    watched = walk.step("watch")
    assert watched["errors"] == 7
    told = [f for f in retirement_world.published() if f["resource_arn"] == IDLE_ARN]
    assert [f["kind"] for f in told] == ["RETIRED_ENDPOINT_STILL_CALLED"]
    assert f"mlgov retire recreate --endpoint {IDLE}" in told[0]["detail"]


def test_a_watch_left_without_client_error_metrics_by_a_deploy_says_it_watches_nothing(
    retirement_world: RetirementWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    walk = Walk(retirement_world, monkeypatch)
    _deleted(walk, retirement_world)
    deploy(monkeypatch, retirement={"client_error_metrics": []})
    watched = walk.step("watch")
    # Safe: a watch that reads nothing never answers 0 (missing is never zero) and says so on the endpoint.
    assert watched["errors"] is None
    told = [f for f in retirement_world.published() if f["resource_arn"] == IDLE_ARN]
    assert told and "client_error_metrics" in json.dumps(told)


# -- hole 3: alert_routing changed while a finding is open: its RESOLVED follows the new routes, not where it went


def _opened(notifier: Notifier) -> dict[str, Any]:
    finding = sample_finding()  # UNREGISTERED_ENDPOINT, HIGH
    assert notifier.invoke(json.dumps(finding)) == {"batchItemFailures": []}
    assert list(notifier.jira.issues) == ["MLGOV-1"] and len(notifier.slack.requests) == 1
    return {**finding, "status": "RESOLVED", "severity": "INFO"}


def test_a_resolution_after_a_route_dropped_jira_still_reaches_the_issue_the_open_finding_made(
    notifier: Notifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved = _opened(notifier)
    # The deploy keeps the Slack route and takes Jira off it (the team tracks new findings elsewhere).
    reconfigure(monkeypatch, {"routes": [{**DEFAULT_ROUTING["routes"][0], "jira": False}]})
    assert notifier.invoke(json.dumps(resolved)) == {"batchItemFailures": []}
    assert len(notifier.slack.requests) == 2  # Slack hears the resolution
    # Safe (docs/notifications.md: "A RESOLVED finding follows the routes of the finding it closes"): the issue the
    # open finding made gets its resolution comment.
    assert len(notifier.jira.comments.get("MLGOV-1", [])) == 1


def test_a_resolution_after_a_route_raised_its_min_severity_still_reaches_slack_and_jira(
    notifier: Notifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: a RESOLVED matches routes by kind alone, so a route made stricter still closes what it opened."""
    resolved = _opened(notifier)
    reconfigure(monkeypatch, {"routes": [{**DEFAULT_ROUTING["routes"][0], "min_severity": "CRITICAL"}]})
    assert notifier.invoke(json.dumps(resolved)) == {"batchItemFailures": []}
    assert len(notifier.slack.requests) == 2
    assert len(notifier.jira.comments["MLGOV-1"]) == 1
