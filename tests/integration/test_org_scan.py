"""The org-wide scan under moto: an organization of three member accounts, two with the member role
(reached through assumed roles; moto keeps each account's state apart) and one where the role was
never deployed (STS answers AccessDenied, as the emulator makes it for a role that does not exist).
The real plan, worker and aggregation handlers run, as the state machine would call them."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import boto3
import botocore.client
import pytest
from moto import mock_aws

from mlgov import emulator
from mlgov.estate import create_governance_resources, drain_findings
from mlgov.org_estate import Organization, seed_organization
from mlgov.sandbox import FakeContext
from mlgov.settings import parse_settings
from mlgov_runtime.org_scan import settings as e
from tests.integration.conftest import recorded_aws_calls, runtime_env
from tests.settings_files import NO_SETTINGS

REGION = "us-east-1"
ROLE = "MlGovMemberAudit"
BUCKET = "mlgov-org-scan-reports"


@dataclass
class OrgWorld:
    org: Organization
    resources: dict[str, str]
    s3: Any
    ddb: Any
    sqs: Any
    coordinator: Any
    run: int = 0

    def account(self, name: str) -> str:
        return self.org.members[name].account_id

    def published(self) -> list[dict[str, Any]]:
        return drain_findings(self.sqs, self.resources["FINDINGS_QUEUE_URL"])

    def execute(self, batch_size: int = 2, before_aggregate: Any = None) -> dict[str, Any]:
        """What the state machine does: plan, the Map's batches through the worker, aggregate
        (`before_aggregate(run_id)`: what someone else does to the bucket meanwhile)."""
        from mlgov_runtime.org_scan import handler

        self.run += 1
        run_id = f"scan-{self.run}"
        plan = handler.handler(
            {"step": "plan", "state": {"run_id": run_id, "started_at": "2026-11-30T06:00:00Z"}}, FakeContext()
        )
        targets = json.loads(self.s3.get_object(Bucket=BUCKET, Key=plan["targets_key"])["Body"].read())
        for start in range(0, len(targets), batch_size):
            batch = {"Items": targets[start : start + batch_size], "BatchInput": {"run_id": run_id}}
            handler.scan(batch, FakeContext())
        if before_aggregate:
            before_aggregate(run_id)
        report = handler.handler({"step": "aggregate", "state": {"plan": plan, "map": None}}, FakeContext())
        key = report["report"].split(f"s3://{BUCKET}/", 1)[1]
        return {**report, "body": json.loads(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())}


def _environment(org: Organization, resources: dict[str, str]) -> dict[str, str]:
    scan = {"regions": [REGION], "exclude_account_ids": [org.governance_account], "endpoint_concurrency": 4}
    return {
        **{k: v for k, v in resources.items() if k != "FINDINGS_QUEUE_URL"},
        e.REPORT_BUCKET: BUCKET,
        e.MEMBER_ROLE_NAME: ROLE,
        **e.environment(parse_settings({"org_scan": scan})),
        "POWERTOOLS_METRICS_NAMESPACE": "MLGovernance",
    }


# The regions each emulated account has enabled (moto's DescribeRegions lists every region; a sweep of them all
# would make each run list endpoints in ~30 regions per account).
ENABLED_REGIONS = (REGION, "eu-west-1", "ap-northeast-1")


def _enabled_regions_only(monkeypatch: pytest.MonkeyPatch) -> None:
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 (private: mypy)

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        answer = original(self, name, params)
        if name == "DescribeRegions":
            answer["Regions"] = [r for r in answer.get("Regions", []) if r.get("RegionName") in ENABLED_REGIONS]
        return answer

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)


@pytest.fixture
def org_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[OrgWorld]:
    emulator.install()
    _enabled_regions_only(monkeypatch)
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        session = boto3.session.Session(region_name=REGION)
        org = seed_organization(session, None, REGION, ROLE)
        ddb, sqs, s3 = (session.client(s) for s in ("dynamodb", "sqs", "s3"))
        resources = create_governance_resources(ddb, session.client("sns"), sqs)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        mac_key = session.client("kms").create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
        monkeypatch.setenv(e.RESULT_MAC_KEY_ID, mac_key["KeyMetadata"]["Arn"])
        with runtime_env(monkeypatch, _environment(org, resources)):
            from mlgov_runtime.org_scan import handler

            yield OrgWorld(org, resources, s3, ddb, sqs, handler)


def test_two_member_accounts_are_scanned_through_their_roles_and_the_third_is_an_error_row(org_world: OrgWorld) -> None:
    # Given prod and staging with the member role, and sandbox without it
    # When the weekly scan runs
    result = org_world.execute()
    report = result["body"]
    # Then two account/regions complete and the third is one ERROR row with the reason
    rows = {r["account_id"]: r for r in report["accounts"]}
    assert rows[org_world.account("prod")]["status"] == "OK"
    assert rows[org_world.account("staging")]["status"] == "OK"
    denied = rows[org_world.account("sandbox")]
    assert denied["status"] == "ERROR" and denied["reason_code"] == "ROLE_NOT_ASSUMABLE"
    assert f"arn:aws:iam::{org_world.account('sandbox')}:role/{ROLE} (AccessDenied)" in denied["reason"]
    assert report["status"] == "PARTIAL" and result["status_line"] == "2 of 3 account/regions reached"
    # And every endpoint of the reached accounts has the lineage verdict the estate expects
    for name in ("prod", "staging"):
        member = org_world.org.members[name]
        assert member.estate is not None
        seen = {r["endpoint_name"]: r["verdict"] for r in report["endpoints"] if r["account_id"] == member.account_id}
        expected = {n: v for n, v in member.estate.expected.items() if v != "EXEMPT"}
        assert {n: v for n, v in seen.items() if n in expected} == expected
    # And no endpoint of the unreachable account is reported at all (never COMPLIANT by omission)
    assert not [r for r in report["endpoints"] if r["account_id"] == org_world.account("sandbox")]


def test_each_problem_is_published_once_with_one_unreachable_finding_and_one_summary(org_world: OrgWorld) -> None:
    org_world.execute()
    published = org_world.published()
    kinds = [f["kind"] for f in published]
    assert kinds.count("SCAN_ACCOUNT_UNREACHABLE") == 1 and kinds.count("SCAN_SUMMARY") == 1
    [summary] = [f for f in published if f["kind"] == "SCAN_SUMMARY"]
    assert summary["severity"] == "INFO" and "2 of 3 account/regions reached" in summary["detail"]
    [unreachable] = [f for f in published if f["kind"] == "SCAN_ACCOUNT_UNREACHABLE"]
    assert (
        unreachable["account_id"] == org_world.account("sandbox")
        and "cdk deploy MlGovMemberRole" in unreachable["detail"]
    )
    # The Lambda's deploy command carries the governance account and region it runs in (the CLI's: tests/cli)
    from mlgov.sandbox import ACCOUNT

    assert (
        f'`npx cdk deploy MlGovMemberRole --parameters GovernanceAccountId={ACCOUNT} --parameters "OrganizationId='
        '$(aws organizations describe-organization --query Organization.Id --output text)" --parameters '
        f"GovernanceRegion={REGION}`" in unreachable["detail"]
    ), unreachable["detail"]
    violations = [f for f in published if f["kind"] == "UNREGISTERED_ENDPOINT"]
    assert {f["account_id"] for f in violations} == {org_world.account("prod"), org_world.account("staging")}
    assert len({f["finding_id"] for f in published}) == len(published)
    # The scan finds the staging endpoint on a catalog of 2026-03-14: older than 60 days
    stale = [f for f in published if f["kind"] == "CATALOG_SNAPSHOT_STALE"]
    assert any("recs-staging-legacy" in f["resource_arn"] for f in stale)
    # And a week later the same estate publishes nothing but the new summary
    org_world.execute()
    assert [f["kind"] for f in org_world.published()] == ["SCAN_SUMMARY"]


def test_a_deleted_endpoint_and_a_newly_reachable_account_are_resolved_once(org_world: OrgWorld) -> None:
    first = org_world.execute()["body"]
    org_world.published()
    staging = org_world.org.members["staging"]
    staging.session.client("sagemaker").delete_endpoint(EndpointName="recs-staging-hotfix")
    from mlgov.org_estate import deploy_member_role

    deploy_member_role(org_world.org.members["sandbox"].session, None, ROLE, org_world.org.governance_account)
    second = org_world.execute()["body"]
    resolved = [f for f in org_world.published() if f["status"] == "RESOLVED"]
    closed = {(f["kind"], f["account_id"]) for f in resolved if "recs-staging-hotfix" in f["resource_arn"]}
    assert ("UNREGISTERED_ENDPOINT", staging.account_id) in closed
    assert [f["kind"] for f in resolved if f["kind"] == "SCAN_ACCOUNT_UNREACHABLE"] == ["SCAN_ACCOUNT_UNREACHABLE"]
    assert second["status"] == "COMPLETE" and second["change"]["previous_run_id"] == first["run"]["run_id"]
    assert {f["finding_id"] for f in second["change"]["resolved"]} >= {f["finding_id"] for f in resolved}
    # The sandbox account's endpoints are new this week
    assert any(f["account_id"] == org_world.account("sandbox") for f in second["change"]["new"])
    # Resolved once: the next week closes nothing again
    org_world.execute()
    assert [f for f in org_world.published() if f["status"] == "RESOLVED"] == []


def _result_key(run_id: str, account: str) -> str:
    return f"org-scan/runs/{run_id}/results/{account}-{REGION}.json"


def _whitewashed(s3: Any, key: str) -> bytes:
    """The genuine result with every endpoint COMPLIANT and no findings: what an attacker would write."""
    body = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    for row in body["endpoints"]:
        row["verdict"], row["reasons"] = "COMPLIANT", []
    body["findings"] = []
    return json.dumps(body).encode()


def _hotfix_resolutions(org_world: OrgWorld) -> list[dict[str, Any]]:
    return [
        f for f in org_world.published() if f.get("status") == "RESOLVED" and "recs-staging-hotfix" in f["resource_arn"]
    ]


@pytest.mark.parametrize("keep_metadata", [False, True], ids=["no-mac", "genuine-mac-other-body"])
def test_a_rewritten_result_resolves_nothing_and_is_an_error_row_saying_what_to_do(
    org_world: OrgWorld, keep_metadata: bool
) -> None:
    # Given an open violation in staging (recs-staging-hotfix serves a raw artifact)
    org_world.execute()
    org_world.published()
    staging = org_world.account("staging")

    def rewrite(run_id: str) -> None:
        # When someone else rewrites staging's result of the next run to say all is well
        key = _result_key(run_id, staging)
        genuine = org_world.s3.head_object(Bucket=BUCKET, Key=key)
        extra = {"Metadata": genuine["Metadata"]} if keep_metadata else {}
        org_world.s3.put_object(Bucket=BUCKET, Key=key, Body=_whitewashed(org_world.s3, key), **extra)

    report = org_world.execute(before_aggregate=rewrite)["body"]
    # Then nothing is resolved from it, and its row says it was not believed and what to run
    assert _hotfix_resolutions(org_world) == []
    [row] = [a for a in report["accounts"] if a["account_id"] == staging]
    assert row["status"] == "ERROR" and row["reason_code"] == "UNVERIFIED_RESULT"
    assert "not believed" in row["reason"] and f"mlgov scan --accounts {staging}" in row["reason"]
    assert report["status"] != "COMPLETE"


def test_a_result_copied_from_another_account_or_run_is_not_believed(org_world: OrgWorld) -> None:
    org_world.execute()
    org_world.published()
    staging, prod = org_world.account("staging"), org_world.account("prod")

    def copy(run_id: str) -> None:
        # A genuine, signed result of the previous run, and one of another account, put in staging's place
        for source in (_result_key("scan-1", staging), _result_key(run_id, prod)):
            org_world.s3.copy_object(
                Bucket=BUCKET, Key=_result_key(run_id, staging), CopySource={"Bucket": BUCKET, "Key": source}
            )

    report = org_world.execute(before_aggregate=copy)["body"]
    assert _hotfix_resolutions(org_world) == []
    [row] = [a for a in report["accounts"] if a["account_id"] == staging]
    assert row["reason_code"] == "UNVERIFIED_RESULT"


def test_a_rewritten_plan_fails_the_aggregation_before_anything_is_resolved(org_world: OrgWorld) -> None:
    from mlgov_runtime.adapters.scan_store import UnverifiedObject

    org_world.execute()
    org_world.published()
    staging = org_world.account("staging")

    def drop_staging(run_id: str) -> None:
        key = f"org-scan/runs/{run_id}/targets.json"
        targets = json.loads(org_world.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        kept = [t for t in targets if t["account_id"] != staging]
        org_world.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(kept).encode())

    with pytest.raises(UnverifiedObject, match=r"targets\.json"):
        org_world.execute(before_aggregate=drop_staging)
    assert org_world.published() == []


def test_the_report_lists_every_production_endpoints_snapshot_age_and_a_markdown_twin(org_world: OrgWorld) -> None:
    report = org_world.execute()["body"]
    ages = {(r["account_id"], r["endpoint_name"]): r for r in report["snapshot_ages"]}
    legacy = ages[(org_world.account("staging"), "recs-staging-legacy")]
    assert legacy["status"] == "STALE" and legacy["catalog_snapshot_date"] == "2026-03-14"
    assert legacy["age_days"] == (datetime.now(UTC).date() - date(2026, 3, 14)).days
    assert ages[(org_world.account("staging"), "recs-staging-hotfix")]["status"] == "N/A"
    markdown = org_world.s3.get_object(Bucket=BUCKET, Key="org-scan/runs/scan-1/report.md")["Body"].read().decode()
    assert "## Unreachable (1)" in markdown and "recs-staging-legacy | STALE | 2026-03-14" in markdown


def member_calls(made: set[tuple[str, ...]]) -> set[tuple[str, str]]:
    return {(service, op) for service, op, key in made if key.startswith("ASIA")}


def with_access_key(client: Any, operation_name: str) -> tuple[str, ...]:
    """(service, operation, access key): assumed-role sessions sign with ASIA... keys."""
    creds = client._request_signer._credentials
    key = creds.get_frozen_credentials().access_key if creds else ""
    return (client.meta.service_model.service_name, operation_name, key)


def test_in_member_accounts_the_scan_calls_only_what_the_member_role_grants(org_world: OrgWorld) -> None:
    from mlgov.member_actions import member_actions
    from stacks.permissions.core import iam_action

    with recorded_aws_calls(with_access_key) as made:
        org_world.execute()
    in_members = {iam_action(*call) for call in member_calls(made)}
    assert "sagemaker:DescribeEndpoint" in in_members
    assert in_members <= member_actions(), sorted(in_members - member_actions())


def test_mlgov_scan_prints_accounts_and_endpoints_and_exits_3(
    org_world: OrgWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlgov.cli import main

    accounts = ",".join(org_world.account(n) for n in ("staging", "sandbox"))
    code = main(["scan", "--accounts", accounts, "--regions", REGION, "--format", "json", "--config", NO_SETTINGS])
    out = json.loads(capsys.readouterr().out)
    assert code == 3
    assert [(a["account_id"], a["status"]) for a in out["accounts"]] == [
        (org_world.account("staging"), "OK"),
        (org_world.account("sandbox"), "ERROR"),
    ]
    assert {a["account_id"]: bool(a["reason"]) for a in out["accounts"]} == {
        org_world.account("staging"): False,
        org_world.account("sandbox"): True,
    }
    assert {ep["endpoint_name"] for ep in out["endpoints"]} == {
        "recs-staging",
        "recs-staging-legacy",
        "recs-staging-hotfix",
    }
    for ep in out["endpoints"]:
        assert {"endpoint_name", "endpoint_arn", "account_id", "region", "verdict", "reasons", "variants"} <= set(ep)


def eu_only_endpoint(org_world: OrgWorld) -> Any:
    """An unregistered endpoint of staging in eu-west-1, `recs-eu-only` (a raw artifact, no package); its client."""
    staging = org_world.org.members["staging"]
    sm = staging.session.client("sagemaker", region_name="eu-west-1")
    sm.create_model(
        ModelName="eu-only",
        ExecutionRoleArn=f"arn:aws:iam::{staging.account_id}:role/SageMakerExecution",
        PrimaryContainer={"Image": "x", "ModelDataUrl": "s3://ml-scratch-bucket-eu/model.tar.gz"},
    )
    variant = {"VariantName": "AllTraffic", "ModelName": "eu-only", "InitialInstanceCount": 1}
    sm.create_endpoint_config(
        EndpointConfigName="eu-only", ProductionVariants=[{**variant, "InstanceType": "ml.m5.large"}]
    )
    sm.create_endpoint(EndpointName="recs-eu-only", EndpointConfigName="eu-only")
    return sm


def test_mlgov_scan_audits_only_the_regions_it_is_given_and_the_weekly_run_sweeps_the_others(
    org_world: OrgWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    # docs/org-scan.md, "By hand": the CLI does not look for endpoints in other regions (the weekly run does).
    from mlgov.cli import main

    staging = org_world.org.members["staging"]
    eu_only_endpoint(org_world)
    with recorded_aws_calls() as made:
        main(
            ["scan", "--accounts", staging.account_id, "--regions", REGION, "--format", "json", "--config", NO_SETTINGS]
        )
    out = capsys.readouterr().out
    assert [a["account_id"] for a in json.loads(out)["accounts"]] == [staging.account_id]
    assert "recs-eu-only" not in out and "ENDPOINTS_OUTSIDE_SCANNED_REGIONS" not in out
    assert ("ec2", "DescribeRegions") not in made
    assert "recs-eu-only" in json.dumps(org_world.execute()["body"])


def test_mlgov_scan_of_the_organization_lists_its_active_accounts(
    org_world: OrgWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlgov.cli import main

    code = main(["scan", "--organization", "--regions", REGION, "--format", "table", "--config", NO_SETTINGS])
    captured = capsys.readouterr()
    assert code == 3
    # The governance account itself (read with the caller's own credentials) and the three members
    for account in (org_world.org.governance_account, *(m.account_id for m in org_world.org.members.values())):
        assert account in captured.out
    assert "3 of 4 account/regions reached" in captured.out
    assert "scan: 4/4 account/regions" in captured.err


def _forward(org_world: OrgWorld, name: str, state: str = "ENABLED", target: bool = True) -> None:
    """What the member event forwarding StackSet puts in an account/region: the rule, by its name, with the
    stack's pattern and its target, the governance account's bus (the scan worker's own account and region)."""
    from mlgov.sandbox import ACCOUNT
    from mlgov.sandbox import REGION as HOME
    from mlgov_runtime.org_scan import forwarding

    events = org_world.org.members[name].session.client("events")
    pattern = json.dumps(forwarding.expected_pattern())
    events.put_rule(Name=forwarding.RULE_NAME, EventPattern=pattern, State=state)
    if target:
        bus = forwarding.governance_bus(ACCOUNT, HOME)
        role = f"arn:aws:iam::{org_world.account(name)}:role/mlgov-member/mlgov-member-forwarding-{HOME}"
        events.put_targets(
            Rule=forwarding.RULE_NAME, Targets=[{"Id": forwarding.TARGET_ID, "Arn": bus, "RoleArn": role}]
        )


def test_an_account_that_forwards_no_events_is_reported_with_what_to_deploy_and_resolved_once_it_does(
    org_world: OrgWorld,
) -> None:
    # Given prod forwards its SageMaker events and staging does not
    _forward(org_world, "prod")
    prod, staging = org_world.account("prod"), org_world.account("staging")
    report = org_world.execute()["body"]
    rows = {a["account_id"]: a for a in report["accounts"]}
    # Then staging's row and one finding say so, with what to deploy; prod is OK; sandbox could not be read
    assert rows[prod]["forwarding"] == "OK" and rows[staging]["forwarding"] == "MISSING"
    assert "forwarding" not in rows[org_world.account("sandbox")]
    missing = [f for f in org_world.published() if f["kind"] == "EVENT_FORWARDING_MISSING"]
    assert [f["account_id"] for f in missing] == [staging]
    assert "cdk deploy MlGovMemberEventForwarding" in missing[0]["detail"]
    assert missing[0]["resource_arn"].endswith(f":{staging}:rule/mlgov-forward-sagemaker-events")
    # A disabled rule forwards nothing either
    _forward(org_world, "staging", "DISABLED")
    org_world.execute()
    assert not [
        f
        for f in org_world.published()
        if f.get("status") == "RESOLVED" and f["account_id"] == staging and f["kind"] == "EVENT_FORWARDING_MISSING"
    ]
    # Enabled again but with its pattern narrowed (a member developer's PutRule): still open, TAMPERED
    events = org_world.org.members["staging"].session.client("events")
    events.put_rule(
        Name="mlgov-forward-sagemaker-events", EventPattern=json.dumps({"source": ["aws.sagemaker"]}), State="ENABLED"
    )
    rows = {a["account_id"]: a for a in org_world.execute()["body"]["accounts"]}
    assert rows[staging]["forwarding"] == "TAMPERED" and "pattern was changed" in rows[staging]["forwarding_reason"]
    assert not [f for f in org_world.published() if f.get("status") == "RESOLVED" and f["account_id"] == staging]
    # When staging's rule is put back as the stack defines it, the finding is resolved, once
    _forward(org_world, "staging")
    org_world.execute()
    resolved = [f for f in org_world.published() if f["kind"] == "EVENT_FORWARDING_MISSING"]
    assert [(f["account_id"], f["status"]) for f in resolved] == [(staging, "RESOLVED")]
    org_world.execute()
    assert [f for f in org_world.published() if f["kind"] == "EVENT_FORWARDING_MISSING"] == []


# -- publishing at scale: PublishBatch, a deadline, the per-kind limit


def _stored(org_world: OrgWorld) -> list[dict[str, Any]]:
    items = org_world.ddb.scan(TableName=org_world.resources["FINDINGS_TABLE_NAME"])["Items"]
    return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]


def test_findings_go_out_with_publish_batch_and_each_is_marked(org_world: OrgWorld) -> None:
    with recorded_aws_calls() as made:
        org_world.execute()
    assert ("sns", "PublishBatch") in made
    published = org_world.published()
    kinds = Counter(f["kind"] for f in published)
    assert kinds["SCAN_SUMMARY"] == 1 and kinds["UNREGISTERED_ENDPOINT"] >= 2
    # Each stored finding remembers the version that went out: the fingerprint columns agree.
    assert all(i.get("published_fingerprint") == i["fingerprint"] for i in _stored(org_world))


def test_an_aggregate_out_of_time_keeps_everything_and_the_next_run_publishes_it_once(
    org_world: OrgWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov_runtime.org_scan import handler

    # All the invocation's remaining time is kept in reserve: the publishing deadline has passed at once.
    monkeypatch.setattr(handler, "AGGREGATE_RESERVE_SHARE", 1.0)
    first = org_world.execute()
    assert [f["kind"] for f in org_world.published()] == ["SCAN_SUMMARY"]
    held = first["body"]["published"]
    assert held["sent"] == 0 and held["not_stored"] == first["body"]["summary"]["findings_open"] > 0
    assert len(first["body"]["findings"]) == held["not_stored"]  # in the report all the same
    # One finding stored but never published (as a run that died between store and publish leaves it).
    from mlgov_runtime.adapters.findings_store import finding_from_stored

    monkeypatch.setattr(handler, "AGGREGATE_RESERVE_SHARE", 0.15)
    second = org_world.execute()
    published = org_world.published()
    ids = Counter(f["finding_id"] for f in published if f["kind"] != "SCAN_SUMMARY")
    assert len(ids) == held["not_stored"] and set(ids.values()) == {1}
    assert second["body"]["published"]["unpublished"] == 0
    # A stored version whose publication never happened is published by the next run, once.
    item = next(i for i in _stored(org_world) if i["kind"] == "UNREGISTERED_ENDPOINT")
    org_world.ddb.update_item(
        TableName=org_world.resources["FINDINGS_TABLE_NAME"],
        Key={"finding_id": {"S": item["finding_id"]}},
        UpdateExpression="SET published_fingerprint = :old, last_detected_at = :then",
        ExpressionAttributeValues={":old": {"S": "0" * 16}, ":then": {"S": "2026-01-01T00:00:00Z"}},
    )
    org_world.execute()
    again = [f for f in org_world.published() if f["kind"] != "SCAN_SUMMARY"]
    assert [f["finding_id"] for f in again] == [item["finding_id"]]
    assert finding_from_stored(json.loads(item["finding"])).fingerprint() == item["fingerprint"]


def test_a_first_run_beyond_the_limit_reaches_slack_and_jira_once_per_kind_up_to_it_plus_one_summary(
    org_world: OrgWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov.sandbox import sqs_event
    from mlgov.sinks import start_sink
    from mlgov_runtime.core import env
    from tests.integration.test_notifier_handler import _setup, good_secret

    scan = {
        "regions": [REGION],
        "exclude_account_ids": [org_world.org.governance_account],
        "endpoint_concurrency": 4,
        "max_notifications_per_kind": 1,
    }
    for key, value in e.environment(parse_settings({"org_scan": scan})).items():
        monkeypatch.setenv(key, value)
    env.reset_all()
    with start_sink("slack") as slack, start_sink("jira") as jira:
        # The product's default routing: every kind at MEDIUM or above to Slack and Jira, the summary to Slack.
        notifier = _setup(monkeypatch, slack, jira, good_secret(slack, jira), {"jira_project_key": "MLGOV"})
        result = org_world.execute()
        published = org_world.published()
        report = result["body"]
        rolled = report["rolled_up"]["by_kind"]
        assert rolled and all(sum(c.values()) >= 1 for c in rolled.values())
        # One by one: at most one of each kind and status; the rest only in the summary.
        per_kind = Counter((f["kind"], f["status"]) for f in published if f["kind"] != "SCAN_SUMMARY")
        assert per_kind and set(per_kind.values()) == {1}
        [summary] = [f for f in published if f["kind"] == "SCAN_SUMMARY"]
        assert summary["severity"] == "HIGH" and "not sent one by one" in summary["detail"]
        assert "aws s3 cp s3://" in summary["detail"] and "mlgov scan --accounts" in summary["detail"]
        # Nothing lost: every finding is stored and in the report.
        stored = {i["finding_id"] for i in _stored(org_world)}
        assert {f["finding_id"] for f in report["findings"]} <= stored
        assert len(report["rolled_up"]["findings"]) == sum(n for c in rolled.values() for n in c.values())
        assert all(
            i.get("rolled_up_in") == "scan-1"
            for i in _stored(org_world)
            if i["finding_id"] in {f["finding_id"] for f in report["rolled_up"]["findings"]}
        )
        # The notifier delivers what was published: the servers enforce Slack's and Jira's payload limits.
        answer = notifier.module.handler(sqs_event([json.dumps(f) for f in published]), FakeContext())
        assert answer == {"batchItemFailures": []}
        policy = notifier.module.notifier_settings.get().routing
        to = Counter(d.channel for f in published for d in policy.deliveries(f))
        assert to["slack"] == len(slack.delivered) <= len(per_kind) + 1 and slack.rejected == []
        assert to["jira"] == len(jira.issues) <= len(per_kind) + 1 and jira.rejected == []
        assert any(summary["finding_id"] in str(issue) for issue in jira.issues.values())  # the summary, once
        # A week later the told backlog stays quiet: only the summary, now INFO and Slack only.
        org_world.execute()
        later = org_world.published()
        assert [(f["kind"], f["severity"]) for f in later] == [("SCAN_SUMMARY", "INFO")]


def _assumed_into(account: str) -> int:
    """AssumeRole calls into `account` so far, as moto's STS recorded them."""
    from moto.sts.models import sts_backends

    return len(sts_backends[account]["aws"].assumed_roles)


def test_the_sweep_of_other_regions_reuses_the_accounts_one_assumed_session(org_world: OrgWorld) -> None:
    # Given staging and prod with the member role, each with two enabled regions outside org_scan.regions
    members = [org_world.account("staging"), org_world.account("prod")]
    before = {a: _assumed_into(a) for a in members}
    result = org_world.execute()
    # Then each is swept (both other regions answered) on one AssumeRole: STS credentials are global.
    # Was: one more AssumeRole per other region (3 per account here, ~30 in a real account).
    rows = {r["account_id"]: r for r in result["body"]["accounts"]}
    assert all(rows[a]["status"] == "OK" for a in members), rows
    assert {a: _assumed_into(a) - before[a] for a in members} == {a: 1 for a in members}
    assert result["body"]["regions_not_looked_at"] == {}, result["body"]["regions_not_looked_at"]


def test_a_refused_renewal_in_another_region_says_the_role_cannot_be_assumed(org_world: OrgWorld) -> None:
    from datetime import timedelta

    from mlgov.sandbox import ACCOUNT
    from mlgov_runtime.adapters.member_accounts import MemberAccounts
    from mlgov_runtime.org_scan.logic import Target, Unreachable

    staging = org_world.org.members["staging"]
    member = MemberAccounts(own_account=ACCOUNT, role_name=ROLE).connect(Target(staging.account_id, REGION))
    assert member.in_region("eu-west-1").endpoint_names() == []
    # An hour later the role is gone: renewing the credentials is refused, as a new AssumeRole was before.
    iam = staging.session.client("iam")
    iam.delete_role_policy(RoleName=ROLE, PolicyName="MemberRead")
    iam.delete_role(RoleName=ROLE)
    member._aws.credentials()._expiry_time = datetime.now(UTC) - timedelta(minutes=1)
    with pytest.raises(Unreachable) as refused:
        member.in_region("ap-northeast-1").endpoint_names()
    assert refused.value.code == "ROLE_NOT_ASSUMABLE", refused.value.reason
    assert "ap-northeast-1" in refused.value.reason and "MlGovMemberRoleStackSet" in refused.value.reason
