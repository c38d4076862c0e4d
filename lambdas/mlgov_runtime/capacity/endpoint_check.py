"""The capacity check as a per-endpoint check of the org-wide scan (mlgov_runtime.core.checks).

One checker and one read of the sagemaker namespace's autoscaling state per account/region; the
endpoint's row gets a `capacity` object (its verdict never replaces the lineage verdict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlgov_runtime.capacity.check import CapacityChecker, finding_for
from mlgov_runtime.capacity.logic import KINDS, AutoscalingIndex, CapacityPolicy, Verdict
from mlgov_runtime.capacity.permissions import AUTOSCALING_READ, ENDPOINT_READ
from mlgov_runtime.capacity.schedule import Window
from mlgov_runtime.core.checks import CheckContext, CheckResult, EndpointGone
from mlgov_runtime.core.exemptions import ExemptionPolicy

NAME = "capacity"
MEMBER_ACTIONS = frozenset((*ENDPOINT_READ, "sagemaker:ListInferenceComponents", *AUTOSCALING_READ))
__all__ = ["KINDS", "MEMBER_ACTIONS", "NAME", "check_endpoint", "policy_from_options"]


def policy_from_options(options: Mapping[str, Any]) -> CapacityPolicy:
    """From the cdk.json settings the scan carries: `thresholds` and the `capacity` section."""
    cap = options.get("capacity") or {}
    default = CapacityPolicy()
    hours = cap.get("business_hours")
    return CapacityPolicy(
        floor=int((options.get("thresholds") or {}).get("min_endpoint_capacity", default.floor)),
        business_min=int(cap.get("business_hours_min_capacity", default.business_min)),
        business_hours=Window.parse(hours["days"], hours["start"], hours["end"]) if hours else default.business_hours,
        time_zone=str(cap.get("time_zone", default.time_zone)),
        environment_tag_key=str(cap.get("environment_tag_key", default.environment_tag_key)),
        non_production=frozenset(
            str(v).lower() for v in cap.get("non_production_environments", default.non_production)
        ),
        serverless_is_violation=bool(cap.get("serverless_cold_start_is_violation", False)),
    )


def _checker(ctx: CheckContext) -> CapacityChecker:
    from mlgov_runtime.adapters.organizations import ou_ancestors
    from mlgov_runtime.capacity.autoscaling import AutoscalingReader

    ex = ctx.options.get("experiment_exemptions") or {}
    return CapacityChecker(
        # The endpoint, its config and tags: the lineage check's reads, shared (ctx.reads).
        ctx.reads(AutoscalingReader(ctx.client("sagemaker"), ctx.client("application-autoscaling"))),
        ctx.account_id,
        ctx.region,
        policy_from_options(ctx.options),
        ExemptionPolicy(
            ex.get("endpoint_name_prefix", "experiment-"),
            frozenset(ex.get("account_ids", ())),
            frozenset(ex.get("organizational_unit_ids", ())),
        ),
        ou_resolver=lambda account: ou_ancestors(ctx.home_client("organizations"), account),
        now=lambda: ctx.now,
    )


def check_endpoint(ctx: CheckContext, endpoint_name: str) -> CheckResult:
    checker = ctx.shared("capacity.checker", lambda: _checker(ctx))
    index = ctx.shared("capacity.autoscaling", lambda: AutoscalingIndex.read(checker.reader, None))
    audit = checker.check_endpoint(endpoint_name, index)
    if not audit.found:
        raise EndpointGone(endpoint_name)
    return CheckResult(
        findings=[finding_for(audit, kind, ctx.source) for kind in KINDS if kind in audit.problems],
        row={
            NAME: {
                "verdict": audit.verdict.value,
                "minimum": audit.minimum,
                "business_hours_minimum": audit.business_hours_minimum,
                "reasons": audit.reasons,
                "fix_command": audit.fix_command() if audit.problems else None,
            }
        },
        # An unreadable endpoint, or a new host waiting for its components, closes nothing.
        inconclusive=audit.verdict is Verdict.ERROR or audit.waiting,
    )
