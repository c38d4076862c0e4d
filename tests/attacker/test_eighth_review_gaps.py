"""Eighth review (issue 20): the seventh review's fixes replayed as an attacker in a guarded workload account and in the
governance account, without the deployer, role-admin or break-glass roles. Three holes, ranked: (1) in the governance
account, a developer plants the product's next Lambda asset (or template) in CDK's assets bucket, and the deployer's
next `cdk deploy` ships it: the deployer's power without any stack write; (2) the member StackSets now leave every
account of governance_target_ids out, but the weekly scan reads only its own account without the member role, so a
second account where the product runs loses both the scan and the real-time audit; (3) each look decides with the
function's current settings, so a deploy that drops a ramp during a run gives the mixture the whole CTR alpha after
the ramp's default early share was spent. Each hole's test asserts the SAFE outcome (strict xfail until fixed; hole 3
is fixed: runs keep the split their first look recorded); the plain tests pin what held (other CloudFormation entry
points, passing the deployer, metric paths). Calls are judged by the independent evaluator on the SCPs
`attachments()` puts on each target."""

from __future__ import annotations

from typing import Any

import pytest

from mlgov.guardrails import attachments, guardrail_policies
from mlgov.policy_eval import evaluate
from mlgov.settings import parse_settings
from tests.attacker.conftest import GOV
from tests.attacker.scp_judge import PROD, REGION, WORKLOAD_OU
from tests.attacker.scp_judge import judge as _scp


def _bootstrap(purpose: str, account: str = GOV) -> str:
    return f"cdk-hnb659fds-{purpose}-role-{account}-{REGION}"


# HOLE 1 (high): the deployer ships a developer's code, through CDK's assets bucket in the governance account.
# 1. The governance stack's functions are one file asset, lambdas/ staged with bytecode (stacks/building_blocks.py:
#    "two synths give the same asset hash"), and the template itself is a file asset too when it is large. Their
#    object keys in the bootstrap bucket cdk-hnb659fds-assets-<account>-<region> are those content hashes, so anyone
#    who can read the next release (this repository is public) computes them before it is deployed.
# 2. A developer of the governance account (PowerUserAccess: s3:*, no iam, no cloudformation on its stacks) puts
#    a zip of their own at s3://cdk-hnb659fds-assets-<account>-<region>/<hash>.zip (the bootstrap bucket's policy
#    only refuses plain HTTP; no guardrail statement names S3). Nothing needs the publishing role: that is what
#    DenyProductStackChanges keeps (sts:AssumeRole on cdk-hnb659fds-*), not the bucket it writes.
# 3. The deployer runs `cdk deploy`: cdk-assets finds the object already there and skips the upload; CloudFormation,
#    as the deployer, points every product function (ChallengerSteps, the approval service, the notifier, the scan)
#    at that zip. The developer's code now runs as the product's roles: it approves packages through the state
#    machine, writes findings, deletes endpoints. Overwriting an object already deployed does the same at the next
#    replacement, and a planted template runs as the deployer outright.
# Closed: DenyProductStackChanges denies s3:* on arn:*:s3:::cdk-<qualifier>-assets-* where the
# product runs, outside who deploys and CDK's bootstrap roles there (only who deploys may become them).
ASSETS = f"arn:aws:s3:::cdk-hnb659fds-assets-{GOV}-{REGION}"
NEXT_RELEASE = f"{ASSETS}/3f0c2a9e51b7d4c8e6a1f09b2d7c5e4a8b3f6d1c0e9a7b5d4c3e2f1a0b9c8d7e.zip"


@pytest.mark.parametrize("action", ["s3:PutObject", "s3:DeleteObject", "s3:PutBucketPolicy"])
def test_a_developer_cannot_plant_the_next_release_in_the_deployers_assets_bucket(action: str) -> None:
    resource = ASSETS if action == "s3:PutBucketPolicy" else NEXT_RELEASE
    assert _scp(GOV, GOV, "Developer", action, resource) == "Deny"


def test_what_the_planted_asset_rests_on() -> None:
    """Steps 2 and 3: the developer may neither become the publishing role nor drive the stack, yet the object it
    would upload is theirs to write; the deploy that reads it runs as the deployer."""
    publishing = f"arn:aws:iam::{GOV}:role/{_bootstrap('file-publishing')}"
    assert _scp(GOV, GOV, "Developer", "sts:AssumeRole", publishing) == "Deny"
    stack = f"arn:aws:cloudformation:{REGION}:{GOV}:stack/MlGovEndpointAudit/5e7c9a10-0000-0000-0000-000000000000"
    assert _scp(GOV, GOV, "Developer", "cloudformation:UpdateStack", stack) == "Deny"
    function = f"arn:aws:lambda:{REGION}:{GOV}:function:MlGovEndpointAudit-ChallengerSteps1A2B3C4D-AbCdEf123456"
    assert _scp(GOV, GOV, "Developer", "lambda:UpdateFunctionCode", function) == "Deny"
    deployer = f"cdk-hnb659fds-cfn-exec-role-{GOV}-{REGION}"
    assert _scp(GOV, GOV, deployer, "lambda:UpdateFunctionCode", function) == "Allow"


def test_the_publishing_role_keeps_writing_the_deploys_assets() -> None:
    """Whatever closes hole 1 keeps `cdk deploy` working: its file-publishing role uploads the assets."""
    assert _scp(GOV, GOV, _bootstrap("file-publishing"), "s3:PutObject", NEXT_RELEASE) == "Allow"


def test_workload_accounts_keep_their_own_assets_buckets() -> None:
    """No product asset lives in a workload account: a team's bucket stays the team's."""
    team = f"arn:aws:s3:::cdk-hnb659fds-assets-{PROD}-{REGION}/team.zip"
    assert _scp(WORKLOAD_OU, PROD, "Developer", "s3:PutObject", team) == "Allow"


# HOLE 2 (medium): a second account where the product runs is neither scanned nor heard in real time.
# 1. guardrails.governance_target_ids lists the account ids the product runs in (docs/guardrails.md: "the account
#    ids the product runs in"), say the governance account and a second one, both inside
#    org_scan.member_role_target_ou_ids' OUs.
# 2. MemberRoleStackSetStack leaves all of them out of both member StackSets (AccountFilterType DIFFERENCE): the
#    second account gets neither the member audit role nor the forwarding rule, in any region.
# 3. The weekly scan reads only its own account (the Lambda's, org_scan.governance_account_id) with its own role
#    (org_scan/logic.py: forwarding NOT_APPLICABLE for home_account); for every other account it assumes the member
#    audit role, which is not there: that account is an ERROR row and a SCAN_ACCOUNT_UNREACHABLE finding every week,
#    its endpoints unaudited. Its SageMaker events reach no bus either, so an unregistered endpoint there is never
#    audited. docs/guardrails.md says "the weekly scan reads them directly", true of the governance account only.
#    (Leaving the second account in would not help: DenyProductStackChanges refuses the StackSets execution role
#    there too. Likewise every account of a governance OU, which the filter cannot list and the guard covers.)
# Fix: leave out org_scan.governance_account_id only, and fail synth when governance_target_ids names another account
# (or an OU) inside member_role_target_ou_ids while the member StackSets are on, saying that account would go
# unscanned; or say so in docs/guardrails.md and docs/deploy.md and keep the product to one account.
ORG = "o-a1b2c3d4e5"
SECOND = "444455556666"


def _excluded_accounts(governance_target_ids: list[str]) -> list[str] | None:
    """The accounts the member StackSets leave out, or None when synth refuses the settings."""
    import aws_cdk as cdk

    from mlgov.settings import SettingsError
    from stacks.member_role_stack import MemberRoleStackSetStack

    try:
        settings = parse_settings(
            {
                "organization_id": ORG,
                "org_scan": {"governance_account_id": GOV, "member_role_target_ou_ids": [WORKLOAD_OU]},
                "guardrails": {"target_ou_ids": [WORKLOAD_OU], "governance_target_ids": governance_target_ids},
            }
        )
        stack = MemberRoleStackSetStack(cdk.App(), "MemberRoleStackSets", settings=settings)
    except SettingsError:
        return None
    template = cdk.assertions.Template.from_stack(stack).to_json()
    excluded: set[str] = set()
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::CloudFormation::StackSet":
            for group in resource["Properties"]["StackInstancesGroup"]:
                targets = group["DeploymentTargets"]
                if targets.get("AccountFilterType") == "DIFFERENCE":
                    excluded.update(targets["Accounts"])
    return sorted(excluded)


def test_every_account_the_member_stacksets_leave_out_is_one_the_scan_reads_itself() -> None:
    excluded = _excluded_accounts([GOV, SECOND])
    assert excluded is None or set(excluded) <= {GOV}


def test_a_second_account_where_the_product_runs_is_refused_at_synth_naming_it() -> None:
    """Closed: the member StackSets' synth refuses governance_target_ids naming any account but the governance
    account, since neither StackSet could deploy there and the scan could not read it."""
    import aws_cdk as cdk

    from mlgov.settings import SettingsError
    from stacks.member_role_stack import MemberRoleStackSetStack

    settings = parse_settings(
        {
            "organization_id": ORG,
            "org_scan": {"governance_account_id": GOV, "member_role_target_ou_ids": [WORKLOAD_OU]},
            "guardrails": {"target_ou_ids": [WORKLOAD_OU], "governance_target_ids": [GOV, SECOND]},
        }
    )
    with pytest.raises(SettingsError, match=rf"governance_target_ids names {SECOND} besides .*{GOV}"):
        MemberRoleStackSetStack(cdk.App(), "MemberRoleStackSets", settings=settings)


def test_the_governance_account_alone_is_left_out_and_read_by_the_scan() -> None:
    """What hole 2's fix keeps: with the product in the governance account only, that account is left out (no
    StackSet instance DenyProductStackChanges would refuse) and the scan reads it with its own role."""
    assert _excluded_accounts([GOV]) == [GOV]
    instance = f"arn:aws:cloudformation:{REGION}:{SECOND}:stack/StackSet-mlgov-member-role-0a1b2c3d/5e7c9a10"
    stacksets = "stacksets-exec-7f3e9a1b2c4d5e6f7a8b9c0d1e2f3a4b"
    two = parse_settings({"guardrails": {"target_ou_ids": [WORKLOAD_OU], "governance_target_ids": [GOV, SECOND]}})
    scps = {p.name: p.document for p in guardrail_policies(two)}
    on_second = {name: scps[name] for name, targets in attachments(two).items() if SECOND in targets}
    context = {"aws:PrincipalArn": f"arn:aws:iam::{SECOND}:role/{stacksets}", "aws:PrincipalAccount": SECOND}
    # Why leaving the second account in is no fix: its instance would be refused there.
    assert evaluate(on_second, "cloudformation:CreateStack", instance, context).decision == "Deny"


# HELD: other CloudFormation entry points into the deployer's power where the product runs, and other metric paths.
# Self-managed StackSets (an administration role and an execution role the developer makes), a stack created with
# --role-arn of a role they may pass, Service Catalog launch roles, CodePipeline/CodeBuild deploy actions,
# CloudFormation Git sync and SAM/Serverless all end in a stack write by a role that is not who deploys:
# DenyProductStackChanges covers stack/*. Passing the deployer elsewhere is DenyProtectedRoleChanges' (by name). The
# gate reads plain MetricStat queries in its own account (no metric math, no SEARCH, no AccountId), so
# cross-account observability links and metric streams feed it nothing; alarms and composite alarms write no
# datapoint.
TEAM_STACK = f"arn:aws:cloudformation:{REGION}:{GOV}:stack/StackSet-team-etl-0a1b2c3d/5e7c9a10"


@pytest.mark.parametrize(
    "role",
    [
        "AWSCloudFormationStackSetExecutionRole",  # self-managed StackSet, made by the developer
        "stacksets-exec-7f3e9a1b2c4d5e6f7a8b9c0d1e2f3a4b",  # service-managed, a delegated administrator's
        "SC-launch-role",  # Service Catalog launch constraint
        "codepipeline-deploy",  # CodePipeline CloudFormation action, CodeBuild running `sam deploy`
        "GitSyncRole",  # CloudFormation Git sync: its role makes and executes the change sets
        "Developer",
    ],
)
def test_no_other_cloudformation_entry_point_writes_a_stack_where_the_product_runs(role: str) -> None:
    for action in ["cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:CreateChangeSet"]:
        assert _scp(GOV, GOV, role, action, TEAM_STACK) == "Deny"


def test_nobody_but_who_deploys_passes_the_deployer() -> None:
    """A stack created with --role-arn or a CodePipeline action would need to pass the execution role: refused where
    the product runs. In a workload account the role of that name is the team's own CDK execution role, exempt from
    nothing there (the deployer's exemptions are pinned to the governance accounts): the team's deploy role passes it
    for its own `cdk deploy`, and what it deploys still makes no protected role."""
    deployer = f"arn:aws:iam::{GOV}:role/cdk-hnb659fds-cfn-exec-role-{GOV}-{REGION}"
    for role in ["Developer", "codepipeline-deploy"]:
        assert _scp(GOV, GOV, role, "iam:PassRole", deployer) == "Deny"
    workload_deployer = f"arn:aws:iam::{PROD}:role/cdk-hnb659fds-cfn-exec-role-{PROD}-{REGION}"
    assert _scp(WORKLOAD_OU, PROD, _bootstrap("deploy", PROD), "iam:PassRole", workload_deployer) == "Allow"
    approver = f"arn:aws:iam::{PROD}:role/mlgov-protected/MlGovModelApprover"
    assert _scp(WORKLOAD_OU, PROD, f"cdk-hnb659fds-cfn-exec-role-{PROD}-{REGION}", "iam:CreateRole", approver) == "Deny"


@pytest.mark.parametrize("action", ["cloudformation:RegisterType", "cloudformation:ActivateType"])
def test_what_hooks_and_private_types_are_left(action: str) -> None:
    """Not a way to the deployer: a hook only passes or fails an operation (a developer's hook can block a deploy,
    never change what it makes), and a private type runs only in templates that name it, which only who deploys
    writes here. Pinned so a reader sees these stay allowed."""
    resource = f"arn:aws:cloudformation:{REGION}:{GOV}:type/hook/Team-Check-Hook"
    assert _scp(GOV, GOV, "Developer", action, resource) == "Allow"


# HOLE 3 (low: the deployer's act, no attacker): a deploy during a run re-splits the CTR test's alpha mid-run.
# 1. A run starts with a ramp and ctr_early_share unset: since today the gate spends 0.6 of the CTR test's alpha at the
#    early looks (the first ctr_early_minutes) and 0.4 by the mixture over the whole window.
# 2. Its early looks spend their 0.6 (A/A: up to 0.6 of the CTR share, all inside the first 30 minutes).
# 3. An hour in, the deployer removes the ramp (or sets ctr_early_share 0) and deploys: every look reads the
#    function's settings as they are now (logic.watch takes `cfg`, the run records no split), so the rest of the run
#    spends the mixture at the whole CTR alpha. The union that keeps the CTR test's alpha
#    (docs/challenger-statistics.md) then holds only to 1.6 times the CTR share for a run straddling that deploy
#    (0.6 spent early, plus a mixture whose alpha is spent almost all after the first hour); how much of it an A/A
#    run realises depends on the mixture's slack and was not measured here. Before today a ramp change left the
#    share alone; now removing a ramp changes the split.
# Fixed: the first look records the split in the run's state (logic.run_split: early share and window, the budget and
# its shares, the window) and every later look decides with the recorded one; a deploy's new split applies to new runs.


def test_a_deploy_during_a_run_does_not_re_split_its_ctr_alpha() -> None:
    from datetime import timedelta

    from mlgov_runtime.challenger import logic
    from mlgov_runtime.challenger.config import ChallengerConfig
    from mlgov_runtime.challenger.inputs import DecisionConfig, VariantCounts
    from mlgov_runtime.challenger.settings import RAMP_EARLY_SHARE
    from tests.unit.fakes import package_arn
    from tests.unit.test_challenger_logic import NOW, FakeMetrics, FakeSageMaker, ports, variant

    sm = FakeSageMaker()
    sm.package(2, "Approved", catalog_snapshot_date="2026-10-28")
    sm.model("rec-v2", package_arn(2))
    sm.endpoint("prod", variant("AllTraffic", "rec-v2"))
    endpoints = {"manga-recommender": "prod"}
    started = ChallengerConfig(endpoints=endpoints, decision=DecisionConfig(ctr_early_share=RAMP_EARLY_SHARE))
    redeployed = ChallengerConfig(endpoints=endpoints, decision=DecisionConfig(ctr_early_share=0.0))
    arn = sm.package(5, "PendingManualApproval", shadow_ctr_eligible="true")
    state: dict[str, Any] = {"challenger": logic.start(ports(sm), started, {"model_package_arn": arn}, NOW)}
    state["deployed_at"] = logic.iso(NOW)
    ch = state["challenger"]
    early_before_the_deploy: list[Any] = []
    for wall, cfg in [(15, started), (25, started), (35, started), (65, redeployed)]:
        if cfg is redeployed:
            early_before_the_deploy = list(state["watch"].get("ctr_early_looks") or [])
        minutes = wall - 3
        counts = {
            "AllTraffic": VariantCounts(3150.0 * minutes, 252.0 * minutes),
            ch["challenger_variant"]: VariantCounts(350.0 * minutes, 28.0 * minutes),
        }
        out = logic.watch(ports(sm, FakeMetrics(counts)), cfg, state, NOW + timedelta(minutes=wall, seconds=5))
        assert out["decision"] == "CONTINUE"
        state = {**state, "watch": out}
    # What the hole rests on: the run's early looks spent their share before the deploy (minutes read 12, 22).
    assert [m for m, _ in early_before_the_deploy] == [12, 22]
    ctr_test = state["watch"]["result"]["statistics"]["ctr_test"]
    # The mixture after the deploy spends what the run started with (0.4 of the CTR alpha), not all of it.
    assert ctr_test.get("mixture_alpha", ctr_test["alpha"]) == pytest.approx(started.decision.ctr_late_alpha)
    assert ctr_test["early_share"] == RAMP_EARLY_SHARE
    # The early record stays as the early looks left it, and the split the run started with is carried on.
    assert [m for m, _ in state["watch"]["ctr_early_looks"]] == [12, 22]
    assert state["watch"]["ctr_split"]["ctr_early_share"] == RAMP_EARLY_SHARE
