"""When each finding kind fires, by capability: docs/gen.py writes the findings reference from these, and a test
checks every registered kind has one. Kept out of the Lambda asset (only docs and tests read it)."""

from __future__ import annotations

from mlgov_runtime.capacity import logic as capacity
from mlgov_runtime.challenger import findings as challenger
from mlgov_runtime.coverage import check as coverage
from mlgov_runtime.lineage_audit import findings as lineage
from mlgov_runtime.org_scan import report as org_report
from mlgov_runtime.org_scan import snapshot_age
from mlgov_runtime.retirement import findings as retirement
from mlgov_runtime.retraining import logic as retraining

_LINEAGE: dict[str, str] = {
    lineage.KIND_UNREGISTERED_ENDPOINT: "An endpoint serves a model that is not an Approved version of a registry "
    "group: unregistered, package not found, not Approved, from a foreign account, other artifact bytes, an unpinned "
    "image or unpinned model data.",
    lineage.KIND_ENDPOINT_AUDIT_ERROR: "The lineage of an endpoint could not be verified (access denied, or a model or "
    "configuration deleted under the live endpoint).",
}
_RETRAINING: dict[str, str] = {
    retraining.KIND_RETRAINING_FAILED: "A retraining run failed or was stopped by one of its gates (data quality, "
    "offline evaluation, registration).",
}
_COVERAGE: dict[str, str] = {
    coverage.KIND_COVERAGE_GAP: "The weekly check finds catalog titles missing from the training snapshot above the "
    "alert threshold (above the page threshold it also starts retraining).",
    coverage.KIND_COVERAGE_CHECK_FAILED: "The weekly coverage check could not run (no snapshot, unreadable snapshot or "
    "catalog), so the gap is unknown.",
}
_CHALLENGER: dict[str, str] = {
    challenger.REJECTED: "The challenger's CTR test or a guardrail rejected it; the package is Rejected and its "
    "variant removed.",
    challenger.INVALID: "The experiment was stopped without a verdict: sample-ratio mismatch, or impressions disagree "
    "with SageMaker Invocations.",
    challenger.INSUFFICIENT: "The challenger window ended without enough data for a CTR verdict.",
    challenger.START_REFUSED: "The gate refused to deploy a challenger (ineligible package, provenance, account, older "
    "snapshot).",
    challenger.FAILED: "The challenger state machine failed (deploy, traffic shift or cleanup).",
    challenger.RETENTION_REGRESSION: "Days after a promotion, retention dropped more than allowed against the days "
    "before.",
    challenger.REVIEW_INCOMPLETE: "The retention review after a promotion found no retention data.",
    challenger.DATA_MISSING: "A variant's metric never arrived (or stopped arriving): the experiment is paused, no "
    "verdict; resolved when the data is back, inconclusive if the window ends first.",
    challenger.APPROVAL_REQUESTED: "The gate would promote a challenger and challenger.require_human_approval is on: "
    "an approver decides (resolved once approved).",
    challenger.NOT_APPROVED: "A promotion waiting for a human was denied, expired, or its approval did not verify; the "
    "package stays unapproved.",
    challenger.REAPPROVED_WITHOUT_COMMENT: "A package the product rejected was set Approved with its rejection text "
    "left in ApprovalDescription: no comment says why.",
}
_CAPACITY: dict[str, str] = {
    capacity.KIND_ZERO: "A variant or inference component may scale to zero (minimum capacity 0, or a schedule that "
    "sets it), an inference component's copies are below the floor, or a host for inference components has none.",
    capacity.KIND_NO_AUTOSCALING: "A production variant has no scalable target, or its scale-out is suspended, so load "
    "cannot add instances.",
    capacity.KIND_SINGLE_INSTANCE: "A variant runs fewer instances than the business-hours minimum (one instance is "
    "one failure from an outage).",
    capacity.KIND_COLD_START: "A serverless variant has no provisioned concurrency: requests after idle wait for a "
    "cold start.",
    capacity.KIND_ERROR: "The capacity of an endpoint could not be read (access denied, throttled, endpoint not "
    "found).",
    capacity.KIND_CAMPAIGN_OVERDUE: "A campaign's recorded end has passed and `mlgov capacity campaign-end` has not "
    "put back the weekly scheduled actions it raised: they keep firing at the campaign's minimum (cost, not risk; the "
    "verdict stays as capacity is).",
}
_RETIREMENT: dict[str, str] = {
    retirement.KIND_STALE: "An endpoint serves a version that is no longer its group's current Approved one, and is "
    "still called.",
    retirement.KIND_CANDIDATE: "A stale endpoint had no invocations in the window: it can be retired.",
    retirement.KIND_CHECK_FAILED: "The retirement check could not read an endpoint's lineage or metrics (never a "
    "candidate then).",
    retirement.KIND_PURPOSE_TAG: "An endpoint has no purpose tag or one outside active, testing, retiring, retired.",
    retirement.KIND_RETIRING: "An endpoint is tagged retiring: its deadline, owner and deletion request (resolved once "
    "deleted).",
    retirement.KIND_TAG_CHANGED: "Someone changed or removed the retiring tag while the retirement is open.",
    retirement.KIND_SAFETY_ABORT: "An approved deletion was aborted: the live check right before deleting saw "
    "invocations.",
    retirement.KIND_STILL_CALLED: "Clients still call an endpoint after it was deleted (errors naming it).",
    retirement.KIND_NOT_QUIET: "An endpoint still takes traffic the grace period after its cut-over (clients pinned to "
    "it).",
    retirement.KIND_QUIET_UNVERIFIED: "No invocation data since a cut-over, and nothing shows CloudWatch was "
    "recording.",
}
_ORG_REPORT: dict[str, str] = {
    org_report.KIND_UNREACHABLE: "The weekly scan could not read an account/region (role not assumable, region "
    "disabled, denied).",
    org_report.KIND_SUMMARY: "Every weekly org-wide scan: counts, changes since the last run and where the report is; "
    "findings beyond org_scan.max_notifications_per_kind of one kind are rolled up into it (it is then as severe as "
    "the worst).",
    org_report.KIND_FAILED: "The weekly org-wide scan failed as a whole (listing the organization, or the run itself).",
    org_report.KIND_FORWARDING: "An account/region does not forward SageMaker events, so new endpoints wait for the "
    "weekly scan.",
    org_report.KIND_OUTSIDE: "An account serves endpoints in an enabled region outside org_scan.regions, which no "
    "audit judges.",
}
_SNAPSHOT_AGE: dict[str, str] = {
    snapshot_age.KIND: "An endpoint's Approved package was trained on a catalog snapshot older than the limit, or does "
    "not record its snapshot date.",
}


def kind_descriptions() -> dict[str, str]:
    """When each finding kind fires."""
    return {
        **_LINEAGE,
        **_RETRAINING,
        **_COVERAGE,
        **_CHALLENGER,
        **_CAPACITY,
        **_RETIREMENT,
        **_ORG_REPORT,
        **_SNAPSHOT_AGE,
    }
