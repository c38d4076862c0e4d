"""Sixth review (issue 20): what changed today tried by someone who may tag an endpoint but not scale it. The
campaign record lives in endpoint tags `mlgov:campaign:*`, which no guardrail protects, so every field of it is
a claim. A strict xfail asserts the SAFE outcome of a hole still open (its reason names the hole); a fix turns
it into XPASS: remove the marker then. The other tests pin what held."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.attacker.test_fifth_review_gaps import sent_elsewhere
from tests.integration.test_approvals import world as approval_world
from tests.integration.test_capacity import (
    CAMPAIGN,
    CAMPAIGN_END_CMD,
    NO_SETTINGS,
    PROD,
    REGION,
    CapacityWorld,
    _campaign_actions,
    _clock,
    _weekly,
    campaign_clock,
    capacity_world,
    run_cli,
)
from tests.integration.test_lineage_audit_challenger_runs import PACKAGE as CHALLENGER_PACKAGE
from tests.integration.test_lineage_audit_challenger_runs import sfn

__all__ = ["approval_world", "campaign_clock", "capacity_world", "sent_elsewhere", "sfn"]

AUDIT = ("capacity", "audit", "--endpoint", PROD, "--region", REGION, "--format", "json", "--config", NO_SETTINGS)


def _audit_at(monkeypatch: pytest.MonkeyPatch, now: datetime) -> list[str]:
    """The capacity audit's reasons for PROD, judged at `now`."""
    from mlgov_runtime.capacity import check

    class _At(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return now

    monkeypatch.setattr(check, "datetime", _At)
    [row] = json.loads(run_cli(*AUDIT)[1])
    return list(row["reasons"])


def _developer_tags(world: CapacityWorld, tags: dict[str, str]) -> None:
    """sagemaker:AddTags on the endpoint: what a developer may do; no Application Auto Scaling call."""
    arn = world.sm.describe_endpoint(EndpointName=PROD)["EndpointArn"]
    world.sm.add_tags(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


# HOLE 1 (high): a forged end tag cancels a campaign before it runs, through the audit's own advice.
# 1. An operator schedules Manga Monday (6 instances, scale-out 2026-12-06T22:30Z, end 2026-12-07T13:00Z); the raised
#    weekly actions hold 6 and the one-time actions mlgov-campaign-manga-monday-out/-in exist.
# 2. A developer (tag rights on the endpoint, no scaling rights) sets mlgov:campaign:manga-monday:end to a past time
#    (or to any value that does not read as a time: the audit calls that "ended at an unreadable time").
# 3. The capacity audit reads the tag and says the campaign is over: "run mlgov capacity campaign-end ...".
# 4. campaign-end believes the same tag, so it needs no --cancel: it deletes the scale-out and scale-in and puts
#    the raised weekly actions back to 1, 2 and 5. The campaign's peak meets the week's minimum.
# Fix: take the end from the mlgov-campaign-<name>-in action's at() (tag rights cannot write it) whenever it exists,
# in campaign-end and in the audit, and treat an end that does not read as not ended (campaign-end needs --cancel).
@pytest.mark.parametrize("forged_end", ["2026-12-01T00:00:00+00:00", "soon"])
def test_a_forged_end_tag_neither_makes_the_audit_call_a_campaign_over_nor_ends_it_without_cancel(
    capacity_world: CapacityWorld, campaign_clock: None, monkeypatch: pytest.MonkeyPatch, forged_end: str
) -> None:
    world = capacity_world
    assert run_cli(*CAMPAIGN)[0] == 0
    during = _weekly(world)
    _developer_tags(world, {"mlgov:campaign:manga-monday:end": forged_end})
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # a day before the scale-out
    _clock(monkeypatch, now)
    reasons = _audit_at(monkeypatch, now)
    code, _, err = run_cli(*CAMPAIGN_END_CMD)
    # The safe outcome: its end without --cancel is refused, and the audit does not call the campaign over
    assert set(_campaign_actions(world)) == {"mlgov-campaign-manga-monday-out", "mlgov-campaign-manga-monday-in"}
    assert _weekly(world) == during
    assert code == 2 and "--cancel" in err, err
    assert not any("not put back yet" in r for r in reasons), reasons


# HOLE 2 (medium): a whole campaign forged in tags lowers a weekly action no campaign ever raised.
# 1. The week holds mlgov-min5-0800-MON (Manga Monday's MinCapacity 5, no MaxCapacity); no campaign is scheduled.
# 2. A developer tags the endpoint mlgov:campaign:x:end = a past time and mlgov:campaign:x:1 =
#    "1 - 5 - AllTraffic mlgov-min5-0800-MON": "it was 1 before, the campaign set 5".
# 3. The capacity audit says campaign x is overdue and names "mlgov capacity campaign-end --endpoint ... --name x".
# 4. campaign-end's only check is that the action holds what the record says was set (5/None: true, it always did),
#    so it puts it "back" to max(1, floor) = 1: Monday's peak starts on one instance. (The floor holds; the week
#    does not.) The same forged min_before on a really raised action does the same (the integration test pins the
#    floor there); this one needs no campaign at all.
# Fix: campaign-end acts only on a campaign whose mlgov-campaign-<name>-out action exists (or did: keep it until the
# records are gone) and only on records whose min_set is that action's MinCapacity; the audit names only such.
def test_a_campaign_that_exists_only_in_tags_lowers_no_weekly_action(
    capacity_world: CapacityWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = capacity_world
    before = _weekly(world)
    assert before["mlgov-min5-0800-MON"]["ScalableTargetAction"] == {"MinCapacity": 5}
    _developer_tags(
        world,
        {
            "mlgov:campaign:x:end": "2026-12-01T00:00:00+00:00",
            "mlgov:campaign:x:1": "1 - 5 - AllTraffic mlgov-min5-0800-MON",
        },
    )
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    _clock(monkeypatch, now)
    reasons = _audit_at(monkeypatch, now)
    end = [a if a != "manga-monday" else "x" for a in CAMPAIGN_END_CMD]
    code, _, err = run_cli(*end)
    assert _weekly(world)["mlgov-min5-0800-MON"]["ScalableTargetAction"] == {"MinCapacity": 5}, err
    assert code == 2, err
    assert not any("--name x" in r for r in reasons), reasons
    # Nor with --cancel: without its one-time actions the record is not believed at all
    code, _, err = run_cli(*end, "--cancel")
    assert _weekly(world) == before and code == 2 and "not scheduled" in err and "delete-tags" in err, err


def test_a_record_forged_into_a_real_campaign_is_believed_only_with_the_campaigns_own_minimum(
    capacity_world: CapacityWorld, campaign_clock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hole 2 inside a real campaign: a record naming an action the campaign never raised, "set" to what that action
    holds anyway (mlgov-min2-2200-MON, 2), differs from the campaign's minimum (6, mlgov-campaign-manga-monday-out)."""
    world = capacity_world
    assert run_cli(*CAMPAIGN)[0] == 0
    assert _weekly(world)["mlgov-min2-2200-MON"]["ScalableTargetAction"] == {"MinCapacity": 2}
    _developer_tags(world, {"mlgov:campaign:manga-monday:9": "1 - 2 - AllTraffic mlgov-min2-2200-MON"})
    _clock(monkeypatch, datetime(2026, 12, 7, 14, 0, tzinfo=UTC))  # after the -in action's end
    code, out, err = run_cli(*CAMPAIGN_END_CMD, "--format", "json")
    assert code == 0, err
    assert _weekly(world)["mlgov-min2-2200-MON"]["ScalableTargetAction"] == {"MinCapacity": 2}
    assert "mlgov-min2-2200-MON" not in {r["name"] for r in json.loads(out)["restored"]}
    assert "not the 6 of mlgov-campaign-manga-monday-out" in err


def test_an_end_that_fails_part_way_keeps_the_one_time_actions_its_second_run_believes_the_record_by(
    capacity_world: CapacityWorld, campaign_clock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from mlgov.ops.capacity_campaign import ScheduleStore

    world = capacity_world
    before = _weekly(world)
    assert run_cli(*CAMPAIGN)[0] == 0
    original = ScheduleStore.untag

    def untag(self: Any, arn: str, keys: list[str]) -> None:
        if keys == ["mlgov:campaign:manga-monday:end"]:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "DeleteTags")
        original(self, arn, keys)

    monkeypatch.setattr(ScheduleStore, "untag", untag)
    _clock(monkeypatch, datetime(2026, 12, 7, 14, 0, tzinfo=UTC))
    assert run_cli(*CAMPAIGN_END_CMD)[0] == 1
    assert set(_campaign_actions(world)) == {"mlgov-campaign-manga-monday-out", "mlgov-campaign-manga-monday-in"}
    monkeypatch.setattr(ScheduleStore, "untag", original)
    code, _, err = run_cli(*CAMPAIGN_END_CMD)
    assert code == 0, err
    assert _weekly(world) == before and _campaign_actions(world) == {}


# HOLE 3 (medium): every experiment the retraining event starts vouches for its package on every endpoint.
# 1. The retraining pipeline's "Model Package Registered" event starts mlgov-challenger with the event's detail as
#    its input (handler.start_experiment: event_id, model_package_arn, catalog_snapshot_date, pipeline_execution,
#    source): no endpoint_name; the run itself resolves the watched endpoint of the package's group
#    (challenger logic.start: cfg.endpoints[group]) and touches that endpoint only.
# 2. Someone who may update another endpoint of the account (a team's own endpoint, any principal the endpoint
#    guardrails let deploy there) serves that unapproved package as variant challenger-v<version> at a share up to
#    the challenger's, beside an Approved production variant.
# 3. StepFunctionsChallengerRuns reads "no endpoint" as "any endpoint": the lineage audit calls that endpoint
#    UNDER_EVALUATION (not a violation, no HIGH finding) for as long as the real experiment runs (up to its 7.5-day
#    timeout), on an endpoint no experiment watches.
# Fix: start_experiment records the endpoint it is for (cfg.endpoints[group]) in the run input, and the adapter lets
# an input without endpoint_name vouch for nothing.
def test_an_event_started_experiment_vouches_for_no_endpoint_it_does_not_watch(sfn: tuple[Any, str]) -> None:
    from mlgov_runtime.adapters.challenger_runs import StepFunctionsChallengerRuns
    from mlgov_runtime.challenger.events import PackageRegistered

    client, machine = sfn
    registered = PackageRegistered("0a1b2c3d", CHALLENGER_PACKAGE, "2026-12-06", None)
    run_input = {**registered.to_dict(), "source": "event"}  # what start_experiment starts the run with
    client.start_execution(stateMachineArn=machine, name=registered.execution_name, input=json.dumps(run_input))
    runs = StepFunctionsChallengerRuns(client, machine)
    # The watched endpoint's challenger is the run's; a team endpoint serving the same package is not
    assert not runs.running("team-sandbox-endpoint", CHALLENGER_PACKAGE, "challenger-v8")


# HOLE 4 (low-medium): the catalog table can be created already full, by anyone, whenever its name is free.
# 1. DenyCatalogWrites denies Put*/Up*/Del*/*eItem/*te/P*rt on table/<retraining.catalog_table_name>: every write to
#    a table that exists. A restore into that name needs item writes on the target (DynamoDB's backup/restore IAM
#    guide), so it is refused too; DynamoDB has no rename.
# 2. dynamodb:ImportTable needs only itself (and DescribeImport) on the target table ARN (DynamoDB's "Requesting a
#    table import" IAM example): it creates the table from an S3 prefix the caller reads, with every item in it.
# 3. The table is imported by name, not created by any deploy: whenever that name is free in the product's account
#    and region (a region set up before the catalog ingest's first run, or the catalog owners' delete-and-recreate),
#    a developer imports a catalog with planted titles and adult_content_restricted off; the next retraining
#    snapshots it and trains on it, and its safety suite no longer counts the unflagged titles.
# Fix: add "dynamodb:ImportTable" and "dynamodb:CreateTable" (or "dynamodb:Cr*Table" and "dynamodb:ImportT*") to
# CATALOG_WRITES, so only the catalog writer roles and break-glass create the table of that name.
@pytest.mark.parametrize("action", ["dynamodb:ImportTable", "dynamodb:CreateTable"])
def test_a_developer_cannot_create_the_catalog_table_with_its_items(action: str) -> None:
    from tests.attacker.test_guardrail_gaps import GOV, decision

    catalog = f"arn:aws:dynamodb:us-east-1:{GOV}:table/manga-catalog"  # retraining.catalog_table_name's default
    assert decision(GOV, GOV, "dynamodb:PutItem", catalog) == "Deny"  # what the statement does hold
    assert decision(GOV, GOV, action, catalog) == "Deny"


# -- what held: the approval proof's audience ----------------------------------------------------------------------
# A URL's host is named alike on both sides whatever its case or default port; any other spelling (a trailing dot,
# another port, userinfo) names another audience or none, so a proof made for it is refused here (403, or exit 2
# in the CLI), never accepted for a service it was not made for. An alias URL is another host: the same.
@pytest.mark.parametrize(
    ("url", "audience"),
    [
        ("https://ABC0real.lambda-url.us-east-1.on.aws/", "abc0real.lambda-url.us-east-1.on.aws"),
        ("https://abc0real.lambda-url.us-east-1.on.aws:443/x?y", "abc0real.lambda-url.us-east-1.on.aws"),
        ("https://abc0real.lambda-url.us-east-1.on.aws./", "abc0real.lambda-url.us-east-1.on.aws."),
        ("https://abc0real.lambda-url.us-east-1.on.aws:8443/", "abc0real.lambda-url.us-east-1.on.aws:8443"),
        ("https://bob@abc0real.lambda-url.us-east-1.on.aws/", ""),
        ("https://abc0real.lambda-url.us-east-1.on.aws\\@evil.example/", ""),
    ],
)
def test_a_url_names_its_audience_one_way(url: str, audience: str) -> None:
    from mlgov_runtime.approvals.identity import audience_of

    assert audience_of(url) == audience


def test_a_throttled_read_of_its_own_url_decides_nothing_and_is_not_remembered(
    approval_world: Any, sent_elsewhere: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """GetFunctionUrlConfig throttled: 503, nothing decided, and no empty audience kept for the container: the next
    proof, once Lambda answers, is checked against the real URL."""
    from botocore.exceptions import ClientError

    from mlgov.commands.retirement import signed_post
    from mlgov_runtime.approvals import handler
    from tests.attacker.test_fifth_review_gaps import CONTEXT, REAL_URL, _Aws, _to_real_service

    original, calls = handler.own_function_url, []

    def throttled_once(client: Any, name: str) -> str:
        calls.append(name)
        if len(calls) == 1:
            raise ClientError(
                {"Error": {"Code": "TooManyRequestsException", "Message": "Rate"}}, "GetFunctionUrlConfig"
            )
        return str(original(client, name))

    monkeypatch.setattr(handler, "own_function_url", throttled_once)
    body = {"request_id": approval_world.request_id, "decision": "approve", "comment": ""}
    signed_post(_Aws(), REAL_URL, body)
    signed_post(_Aws(), REAL_URL, body)
    first, second = sent_elsewhere
    answer = handler.handler(_to_real_service(first), CONTEXT)
    assert answer["statusCode"] == 503 and "TooManyRequestsException" in answer["body"], answer
    assert approval_world.status() == "PENDING"
    answer = handler.handler(_to_real_service(second), CONTEXT)
    assert answer["statusCode"] == 200 and approval_world.status() == "APPROVED", answer


def test_who_reaches_the_campaign_holes_a_developer_may_write_the_record() -> None:
    """Holes 1 and 2 start here: no guardrail names the mlgov:campaign:* tag keys (governance_tag_keys are exact
    keys), so a developer tags the endpoint with any record, in the governance and in a workload account. (If the
    fix is instead an SCP on these keys outside the operators, this test turns into its matrix case.)"""
    from tests.attacker.test_guardrail_gaps import GOV, PROD, WORKLOAD_OU, decision

    for target, account in ((GOV, GOV), (WORKLOAD_OU, PROD)):
        endpoint = f"arn:aws:sagemaker:us-east-1:{account}:endpoint/manga-recommender-prod"
        # the evaluator sees the keys: a governance tag key is refused there
        assert (
            decision(target, account, "sagemaker:AddTags", endpoint, **{"aws:TagKeys": ["ModelPackageName"]}) == "Deny"
        )
        for key in ("mlgov:campaign:manga-monday:end", "mlgov:campaign:x:1"):
            keys = {"aws:TagKeys": [key], "aws:RequestTag/" + key: "2026-12-01T00:00:00+00:00"}
            assert decision(target, account, "sagemaker:AddTags", endpoint, **keys) == "Allow", (account, key)
