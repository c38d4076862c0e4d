"""Seventh review (issue 20): the five items replayed as an attacker inside one member account, or inside the
governance account without the deployer or break-glass roles, then their variants. Three holes, ranked: (1) clicks
published into the recommendation namespace through a CloudWatch Logs metric filter, which the metrics statement
cannot see, steer the gate, whose cross-check covers impressions only; (2) in a guarded workload account, a team's
own CDK stack (its retained service role is the default deployer pattern's execution role) mints approver, pipeline
and metric-writer roles on the protected path; (3) in the governance account, any stack that retains that role lends
the deployer to whoever may update it. All three are closed (DenyGovernanceBusPolicyChanges carries
logs:PutMetricFilter; the deployer's exemptions in DenyProtectedRoleChanges and DenyProductRuleChanges hold in the
governance accounts only; DenyProductStackChanges covers every stack there); each test asserts the SAFE outcome, and
the plain tests pin what the holes rested on and what the fixes keep.
Calls are judged by the independent evaluator on the SCPs `attachments()` puts on each target."""

from __future__ import annotations

import pytest

from tests.attacker.conftest import GOV
from tests.attacker.scp_judge import NAMESPACE, PROD, REGION, WORKLOAD_OU, WRITER
from tests.attacker.scp_judge import judge as _scp

# HOLE 1 (high): clicks written through CloudWatch Logs steer the challenger gate; the SCP sees PutMetricData only.
# 1. A developer of the governance account (where the challenger's endpoint and its recommendation metrics live) or
#    of a workload account creates a log group of their own (logs:CreateLogGroup) and puts a metric filter on it
#    (logs:PutMetricFilter) whose transformation publishes into the recommendation namespace: metricNamespace
#    "MangaAssist/Recommendations", metricName "RecommendationClicks", value "$.clicks", dimensions
#    EndpointName "$.endpoint" and VariantName "$.variant".
# 2. Each minute they put one log event {"endpoint": "manga-recommender-prod", "variant": "challenger-v9",
#    "clicks": N}. CloudWatch Logs, not the caller, writes the datapoint, so DenyRecommendationMetricsOutsideWriters
#    (cloudwatch:PutMetricData with cloudwatch:namespace) never sees a request; logs:PutMetricFilter carries no
#    namespace key and no guardrail statement names it.
# 3. The watch step's GetMetricData sums the forged clicks with the recommender's. Impressions stay honest, so the
#    cross-check against AWS/SageMaker Invocations and the per-invocation agreement both pass: only impressions are
#    cross-checked. 30 % more clicks on a 20 % worse challenger PROMOTE it (pinned in
#    tests/unit/test_challenger_gate.py::test_forged_clicks_inside_the_plausible_band_still_steer_the_verdict);
#    clicks added to production REJECT a good one, which stays Rejected.
# docs/guardrails.md lists this path as out of the statements' reach and says the gate's cross-check stops it as
# STOP_INVALID; that holds for impressions, not for clicks, which no AWS metric counts.
# Fix: one statement denying logs:PutMetricFilter outside guardrails.metric_writer_role_arns, the deployer and
# break-glass (the product creates no metric filter). The Embedded Metric Format path (logs:PutLogEvents with an
# `_aws` block naming the namespace) stays open after it: no SCP can see a log event's body, so the recommendation
# namespace belongs in an account where only the recommender may write logs (say so in docs/guardrails.md).
# Closed: where the product runs (the gate reads the recommendation metrics of the governance account only),
# logs:PutMetricFilter is the deployer's and break-glass's (DenyGovernanceBusPolicyChanges carries it): a metric
# filter there comes from a deploy. In a workload account the gate reads nothing, so teams keep their filters.
# The Embedded Metric Format path (logs:PutLogEvents) stays open and is documented (docs/guardrails.md).


@pytest.mark.parametrize("role", ["Developer", WRITER, "mlgov-protected/MlGovRoleAdmin"])
def test_a_developer_cannot_publish_into_the_recommendation_namespace_through_a_metric_filter(role: str) -> None:
    own_group = f"arn:aws:logs:{REGION}:{GOV}:log-group:team-notebook"
    # What the safe outcome rests on: a developer's PutMetricData there is refused.
    ns = {"cloudwatch:namespace": NAMESPACE}
    assert _scp(GOV, GOV, "Developer", "cloudwatch:PutMetricData", "*", **ns) == "Deny"
    assert _scp(GOV, GOV, role, "logs:PutMetricFilter", own_group) == "Deny"


def test_a_deploy_still_makes_metric_filters_where_the_product_runs() -> None:
    group = f"arn:aws:logs:{REGION}:{GOV}:log-group:MlGovEndpointAudit-Notifier"
    assert _scp(GOV, GOV, _team_exec_role(GOV), "logs:PutMetricFilter", group) == "Allow"


def test_the_recommender_keeps_its_metric_writes() -> None:
    """Closing hole 1 leaves the recommender (a metric writer) able to publish where the gate reads."""
    ns = {"cloudwatch:namespace": NAMESPACE}
    assert _scp(GOV, GOV, WRITER, "cloudwatch:PutMetricData", "*", **ns) == "Allow"


def test_workload_accounts_keep_their_metric_filters() -> None:
    """The gate reads the governance account's recommendation metrics only; a team's filter elsewhere steers
    nothing, so the deny stays where the product runs."""
    group = f"arn:aws:logs:{REGION}:{PROD}:log-group:team-notebook"
    assert _scp(WORKLOAD_OU, PROD, "Developer", "logs:PutMetricFilter", group) == "Allow"


# HOLE 2 (high): in a guarded workload account, a team's own CDK stack mints approver and pipeline roles.
# 1. A workload account in target_ou_ids was bootstrapped with CDK's default qualifier before the guardrails were
#    attached, and a team stack (here team-service) was deployed there with `cdk deploy`: CloudFormation keeps the
#    execution role cdk-hnb659fds-cfn-exec-role-<account>-<region> as that stack's service role for every later update,
#    with no iam:PassRole (the product guard says so of its own stack; it attaches where the product runs only).
# 2. A developer there updates team-service (cloudformation:UpdateStack, no guardrail names the stack) with a template
#    that adds AWS::IAM::Role MlGovModelApprover on /mlgov-protected/ (or MlGovDeploymentPipeline, or
#    MlGovRecommenderMetrics), trusting the developer.
# 3. CloudFormation creates it as the execution role: DenyProtectedRoleChanges exempts guardrails.deployer_role_arns,
#    whose default arn:*:iam::*:role/cdk-hnb659fds-cfn-exec-role-* matches that role in every account. (The same
#    exemption lets it rewrite or delete the account's forwarding rule, DenyProductRuleChanges.)
# 4. The developer assumes the new role, which every approver or pipeline exemption matches (their patterns name any
#    account): packages approved by hand, registered into watched groups, models served, metrics written, and the
#    lineage audit sees an Approved package from "the pipeline".
# docs/guardrails.md advises writing the governance account's id into deployer_role_arns; the default leaves every
# guarded account open, and nothing at synth says so (the deploy role's exemption, by contrast, is pinned).
# Fix: pin the deployer's exemption in DenyProtectedRoleChanges (and DenyProductRuleChanges) to the accounts of
# governance_target_ids, as _deploy_roles_where_the_product_runs pins CDK's deploy role.
PROTECTED_ROLES = ["MlGovModelApprover", "MlGovDeploymentPipeline", "MlGovRecommenderMetrics", "MlGovRoleAdmin"]


def _team_exec_role(account: str) -> str:
    return f"cdk-hnb659fds-cfn-exec-role-{account}-{REGION}"


@pytest.mark.parametrize("name", PROTECTED_ROLES)
def test_a_teams_own_cdk_stack_in_a_guarded_account_cannot_mint_a_protected_role(name: str) -> None:
    protected = f"arn:aws:iam::{PROD}:role/mlgov-protected/{name}"
    assert _scp(WORKLOAD_OU, PROD, _team_exec_role(PROD), "iam:CreateRole", protected) == "Deny"
    assert _scp(WORKLOAD_OU, PROD, _team_exec_role(PROD), "iam:UpdateAssumeRolePolicy", protected) == "Deny"


def test_what_the_minted_role_rests_on() -> None:
    """Steps 2 and 4: the developer may update the team's stack, may not make the role, and the role once made is
    an approver and a pipeline role in that account."""
    stack = f"arn:aws:cloudformation:{REGION}:{PROD}:stack/team-service/5e7c9a10-0000-0000-0000-000000000000"
    assert _scp(WORKLOAD_OU, PROD, "Developer", "cloudformation:UpdateStack", stack) == "Allow"
    # Closed: the deployer's exemption holds where the product runs only, so the update fails there.
    assert (
        _scp(WORKLOAD_OU, PROD, _team_exec_role(PROD), "iam:CreateRole", f"arn:aws:iam::{PROD}:role/mlgov-protected/X")
        == "Deny"
    )
    approver = f"arn:aws:iam::{PROD}:role/mlgov-protected/MlGovModelApprover"
    assert _scp(WORKLOAD_OU, PROD, "Developer", "iam:CreateRole", approver) == "Deny"
    package = f"arn:aws:sagemaker:{REGION}:{PROD}:model-package/manga-recommender/9"
    approve = {"sagemaker:ModelApprovalStatus": "Approved"}
    assert _scp(WORKLOAD_OU, PROD, "Developer", "sagemaker:UpdateModelPackage", package, **approve) == "Deny"
    as_minted = "mlgov-protected/MlGovModelApprover"
    assert _scp(WORKLOAD_OU, PROD, as_minted, "sagemaker:UpdateModelPackage", package, **approve) == "Allow"
    pipeline = "mlgov-protected/MlGovDeploymentPipeline"
    assert _scp(WORKLOAD_OU, PROD, pipeline, "sagemaker:CreateModelPackage", package) == "Allow"


def test_the_product_deployer_still_makes_its_protected_roles_where_the_product_runs() -> None:
    """Whatever closes hole 2 keeps the governance stack deployable: its execution role makes the product's roles on
    the protected path (the challenger's is a pipeline role there)."""
    protected = f"arn:aws:iam::{GOV}:role/mlgov-protected/MlGovDeploymentPipelineChallenger"
    assert _scp(GOV, GOV, _team_exec_role(GOV), "iam:CreateRole", protected) == "Allow"


# HOLE 3 (high): in the governance account, any stack deployed with the default bootstrap lends out the deployer.
# 1. The governance account also runs the team's own stacks (the recommender's endpoint, watched groups and metrics
#    live there); one of them, team-etl, was deployed with `cdk deploy` and the default bootstrap, so CloudFormation
#    keeps cdk-hnb659fds-cfn-exec-role-<account>-<region> as its service role for every later update.
# 2. A developer there (PowerUserAccess: cloudformation:*, no iam:PassRole) updates team-etl with a template of their
#    own, naming no role: CloudFormation runs it as that retained role, with no PassRole check. The product guard
#    refuses this for MlGovEndpointAudit and CDKToolkit only; the decision matrix pins "a team updates its own stack"
#    as allowed.
# 3. That role is guardrails.deployer_role_arns' default, exempt from every product statement: the template rewrites a
#    product function's code or CONFIG (DenyProductFunctionChanges), the state machines, the key and table policies,
#    the bus policy; the product is the developer's.
# Fix (either): where the product runs, deny stack writes on every stack (stack/* in DenyProductStackChanges) outside
# who deploys, since the guard cannot see which stacks retain the deployer (teams deploy there as role admins, as
# assuming the bootstrap roles already requires); or make synth refuse a deployer that is the default qualifier's
# execution role while governance_target_ids is set (the product bootstrapped with a qualifier of its own, which no
# team stack retains).
TEAM_STACK = f"arn:aws:cloudformation:{REGION}:{GOV}:stack/team-etl/0f1e2d3c-0000-0000-0000-000000000000"
PRODUCT_FUNCTION = f"arn:aws:lambda:{REGION}:{GOV}:function:MlGovEndpointAudit-ChallengerSteps1A2B3C4D-AbCdEf123456"


def test_a_team_stack_in_the_governance_account_does_not_lend_out_the_deployer() -> None:
    retained = _team_exec_role(GOV)
    developer_updates_it = _scp(GOV, GOV, "Developer", "cloudformation:UpdateStack", TEAM_STACK) == "Allow"
    retained_is_deployer = (
        _scp(GOV, GOV, retained, "lambda:UpdateFunctionConfiguration", PRODUCT_FUNCTION) == "Allow"
        and _scp(GOV, GOV, "Developer", "lambda:UpdateFunctionConfiguration", PRODUCT_FUNCTION) == "Deny"
    )
    assert not (developer_updates_it and retained_is_deployer)
