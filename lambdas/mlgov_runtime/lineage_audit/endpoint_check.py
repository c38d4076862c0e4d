"""The lineage audit as a per-endpoint check of the org-wide scan (mlgov_runtime.core.checks).

One auditor per account/region (so each model package is described once per run, whichever
thread asks first) and one audit per endpoint, shared with later checks through `lineage()`.
"""

from __future__ import annotations

from typing import Any

from mlgov_runtime.core.checks import CheckContext, CheckResult, EndpointGone
from mlgov_runtime.core.exemptions import ExemptionPolicy
from mlgov_runtime.lineage_audit.audit import EndpointAuditor, SharedPackageCache
from mlgov_runtime.lineage_audit.findings import (
    KIND_ENDPOINT_AUDIT_ERROR,
    KIND_UNREGISTERED_ENDPOINT,
    finding_from_audit,
)
from mlgov_runtime.lineage_audit.logic import (
    ChallengerRuns,
    EndpointAudit,
    LineageReader,
    PackagePolicy,
    ReadFailure,
    ResourceNotFound,
    Verdict,
)
from mlgov_runtime.lineage_audit.permissions import LINEAGE_READ
from mlgov_runtime.lineage_audit.pins import PinReader
from mlgov_runtime.lineage_audit.settings import evaluation_share

NAME = "lineage"
KINDS = (KIND_UNREGISTERED_ENDPOINT, KIND_ENDPOINT_AUDIT_ERROR)
MEMBER_ACTIONS = frozenset(LINEAGE_READ)
READER_KEY = "lineage_audit.reader"  # a LineageReader; tests preset a fake under this key
PINS_KEY = "lineage_audit.pins"  # a PinReader; tests preset a fake under this key
# The challenger state machine's ARN in CheckContext.options, set by whoever runs the scan (the worker from
# CHALLENGER_STATE_MACHINE_ARN, `mlgov scan` from its own account and region), never by cdk.json.
CHALLENGER_MACHINE_OPTION = "challenger_state_machine_arn"
# endpoint name -> its deployment record, preset by the worker (the real-time audit's records); else none read.
DEPLOYMENTS_KEY = "lineage_audit.deployments"
__all__ = ["SharedPackageCache"]  # it lived here first


def _reader(ctx: CheckContext) -> LineageReader:
    from mlgov_runtime.adapters.sagemaker import SageMakerLineageReader

    return ctx.shared(READER_KEY, lambda: SageMakerLineageReader(ctx.client("sagemaker")))


def _pins(ctx: CheckContext) -> PinReader:
    # Pinned artifacts are read with the governance account's credentials: approved bytes live in its
    # write-once prefix, and the member role gets no S3 read.
    from mlgov_runtime.adapters.artifacts import StorePins

    def ecr_in(region: str) -> Any:
        # The image's own region, from the governance context (never the member role): its adaptive retries
        # and --endpoint-url, like every other client.
        return ctx.home_client(f"ecr@{region}")

    return ctx.shared(PINS_KEY, lambda: StorePins(ctx.home_client("s3"), ecr_in))


def challenger_runs(ctx: CheckContext) -> ChallengerRuns | None:
    """The challenger runs in its machine's account and region only (the governance account's): there its RUNNING
    executions are read with the governance account's own credentials, never the member role. Elsewhere None: no
    experiment can be verified, so a challenger-shaped variant stays UNAPPROVED."""
    machine = str(ctx.options.get(CHALLENGER_MACHINE_OPTION) or "")
    if not machine or machine.split(":")[3:5] != [ctx.region, ctx.account_id]:
        return None
    from mlgov_runtime.adapters.challenger_runs import StepFunctionsChallengerRuns

    return StepFunctionsChallengerRuns(ctx.home_client(f"stepfunctions@{ctx.region}"), machine)


def _build_auditor(ctx: CheckContext) -> EndpointAuditor:
    from mlgov_runtime.adapters.organizations import ou_ancestors

    ex = ctx.options.get("experiment_exemptions", {})
    exemptions = ExemptionPolicy(
        endpoint_name_prefix=ex.get("endpoint_name_prefix", "experiment-"),
        account_ids=frozenset(ex.get("account_ids", ())),
        organizational_unit_ids=frozenset(ex.get("organizational_unit_ids", ())),
    )
    policy = PackagePolicy(
        frozenset(ctx.options.get("watched_model_package_groups", ())),
        frozenset(ctx.options.get("package_account_ids", ())),
        evaluation_share(ctx.threshold("challenger_traffic_fraction", 0.0), ctx.options.get("challenger_ramp", [])),
    )
    reader = ctx.reads(_reader(ctx))  # the endpoint, config, models and tags other checks read too
    auditor = EndpointAuditor(
        reader,
        ctx.account_id,
        ctx.region,
        exemptions,
        ou_resolver=lambda account: ou_ancestors(ctx.home_client("organizations"), account),
        policy=policy,
        challenger_runs=challenger_runs(ctx),
    )
    auditor.packages = SharedPackageCache(reader, ctx.account_id, ctx.region, _pins(ctx))
    auditor.deployments = ctx.shared(DEPLOYMENTS_KEY, lambda: None)
    return auditor


def auditor(ctx: CheckContext) -> EndpointAuditor:
    return ctx.shared("lineage_audit.auditor", lambda: _build_auditor(ctx))


def lineage(ctx: CheckContext, endpoint_name: str) -> EndpointAudit:
    """The endpoint's lineage audit, run once per scan whichever check asks first."""
    return ctx.shared(f"lineage_audit.audit:{endpoint_name}", lambda: _audit(ctx, endpoint_name))


def _audit(ctx: CheckContext, endpoint_name: str) -> EndpointAudit:
    try:
        return auditor(ctx).audit(endpoint_name)
    except ResourceNotFound:
        raise EndpointGone(endpoint_name) from None
    except ReadFailure as exc:
        reason = f"Endpoint {endpoint_name} could not be read: {exc}."
        return EndpointAudit(endpoint_name, None, ctx.account_id, ctx.region, Verdict.ERROR, [reason])


def check_endpoint(ctx: CheckContext, endpoint_name: str) -> CheckResult:
    audit = lineage(ctx, endpoint_name)
    finding = finding_from_audit(audit, ctx.source)
    return CheckResult(
        findings=[finding] if finding else [],
        row=audit.to_dict(),
        # An unreadable endpoint closes nothing: deleting evidence must not resolve a violation.
        inconclusive=audit.verdict is Verdict.ERROR,
    )
