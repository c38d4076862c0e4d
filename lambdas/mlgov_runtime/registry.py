"""Every capability, registered once: the stack, the CLI, the sandbox and the permission test find each one
here (docs/adding-a-capability.md). Order matters: a capability may use the constructs of those before it
(the coverage check starts the retraining state machine).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Capability:
    name: str  # the folder under mlgov_runtime/, stacks/<name>.py, mlgov/commands/<name>.py, mlgov/scenes/<name>.py
    summary: str
    construct: str  # the construct class in stacks/<name>.py
    kinds: tuple[str, ...] = ()  # finding kinds it emits
    # A module the org-wide scan runs on every endpoint (mlgov_runtime.core.checks says what it holds).
    endpoint_check: str | None = None
    # Its key under `mlgov` in cdk.json: the section its settings model (`Section` in
    # mlgov_runtime/<name>/settings.py) validates. Knobs under `mlgov.thresholds` come from its `Thresholds`.
    section: str | None = None

    @property
    def handler(self) -> str:
        return f"mlgov_runtime.{self.name}.handler.handler"

    @property
    def permissions_module(self) -> str:
        return f"stacks.permissions.{self.name}"  # synth and tests only: not in the Lambda asset


CAPABILITIES: tuple[Capability, ...] = (
    Capability(
        "lineage_audit",
        "Endpoints serve only Approved registry versions",
        "LineageAudit",
        ("UNREGISTERED_ENDPOINT", "ENDPOINT_AUDIT_ERROR"),
        endpoint_check="mlgov_runtime.lineage_audit.endpoint_check",
        section="experiment_exemptions",
    ),
    Capability("notifier", "Findings to Slack, Jira and pages", "Notifier", section="alert_routing"),
    Capability(
        "retraining", "Retraining pipeline and its gates", "Retraining", ("RETRAINING_FAILED",), section="retraining"
    ),
    Capability(
        "coverage", "Weekly catalog coverage check", "Coverage", ("CATALOG_COVERAGE_GAP", "COVERAGE_CHECK_FAILED")
    ),
    Capability(
        "challenger",
        "Challenger CTR gate: reject, promote, review, roll back",
        "Challenger",
        (
            "CHALLENGER_REJECTED",
            "CHALLENGER_INVALID",
            "CHALLENGER_INSUFFICIENT_DATA",
            "CHALLENGER_START_REFUSED",
            "CHALLENGER_FAILED",
            "CHALLENGER_RETENTION_REGRESSION",
            "CHALLENGER_REVIEW_INCOMPLETE",
            "CHALLENGER_DATA_MISSING",
            "CHALLENGER_APPROVAL_REQUESTED",
            "CHALLENGER_PROMOTION_NOT_APPROVED",
            "CHALLENGER_REAPPROVED_WITHOUT_COMMENT",
        ),
        section="challenger",
    ),
    Capability(
        "capacity",
        "No production endpoint scales to zero; campaigns pre-scale",
        "Capacity",
        (
            "ENDPOINT_CAN_SCALE_TO_ZERO",
            "ENDPOINT_WITHOUT_AUTOSCALING",
            "ENDPOINT_SINGLE_INSTANCE",
            "SERVERLESS_COLD_START_RISK",
            "CAPACITY_CHECK_ERROR",
            "CAPACITY_CAMPAIGN_END_OVERDUE",
        ),
        endpoint_check="mlgov_runtime.capacity.endpoint_check",
        section="capacity",
    ),
    Capability(
        "approvals",
        "Human decisions by authenticated approvers (CLI over IAM, Slack buttons)",
        "Approvals",
        section="approvals",
    ),
    Capability(
        "retirement",
        "Stale endpoints found, retired only after a human and a live check",
        "Retirement",
        (
            "STALE_ENDPOINT_ACTIVE",
            "ENDPOINT_RETIREMENT_CANDIDATE",
            "ENDPOINT_RETIREMENT_CHECK_FAILED",
            "ENDPOINT_PURPOSE_TAG_INVALID",
            "ENDPOINT_RETIRING",
            "RETIRING_TAG_CHANGED",
            "SAFETY_ABORT_ENDPOINT_DELETION",
            "RETIRED_ENDPOINT_STILL_CALLED",
            "ENDPOINT_STILL_CALLED_AFTER_CUTOVER",
            "ENDPOINT_QUIET_UNVERIFIED",
        ),
        section="retirement",
    ),
    Capability(
        "org_scan",
        "Weekly org-wide scan: every endpoint check in every account and region",
        "OrgScan",
        (
            "SCAN_ACCOUNT_UNREACHABLE",
            "SCAN_SUMMARY",
            "SCAN_FAILED",
            "CATALOG_SNAPSHOT_STALE",
            "EVENT_FORWARDING_MISSING",
            "ENDPOINTS_OUTSIDE_SCANNED_REGIONS",
        ),
        endpoint_check="mlgov_runtime.org_scan.snapshot_age",
        section="org_scan",
    ),
)


def by_name(name: str) -> Capability:
    for capability in CAPABILITIES:
        if capability.name == name:
            return capability
    raise KeyError(f"no capability {name!r}; registered: {', '.join(c.name for c in CAPABILITIES)}")


def declared_actions(capability: Capability) -> frozenset[str]:
    import importlib

    actions: frozenset[str] = importlib.import_module(capability.permissions_module).ACTIONS
    return actions


def endpoint_checks() -> list[Any]:
    """The per-endpoint check modules of the registered capabilities, in registry order."""
    import importlib

    return [importlib.import_module(c.endpoint_check) for c in CAPABILITIES if c.endpoint_check]
