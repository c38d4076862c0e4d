"""Endpoint lineage verdicts as findings: which verdict opens which kind, and what closes it."""

from __future__ import annotations

from mlgov_runtime.core.arns import sagemaker_arn
from mlgov_runtime.core.findings import Finding, endpoint_resolution
from mlgov_runtime.lineage_audit.logic import EndpointAudit, Verdict

KIND_UNREGISTERED_ENDPOINT = "UNREGISTERED_ENDPOINT"
KIND_ENDPOINT_AUDIT_ERROR = "ENDPOINT_AUDIT_ERROR"

_SEVERITY_BY_VERDICT = {
    Verdict.UNREGISTERED: "HIGH",
    Verdict.PACKAGE_NOT_FOUND: "HIGH",
    Verdict.UNAPPROVED: "HIGH",
    Verdict.FOREIGN_PACKAGE: "HIGH",
    Verdict.ARTIFACT_MISMATCH: "HIGH",
    Verdict.UNPINNED_IMAGE: "MEDIUM",  # a mutable tag is a door, not (yet) other bytes
    Verdict.UNPINNED_MODEL_DATA: "MEDIUM",  # as a mutable tag: a door, not (yet) other bytes
    Verdict.ERROR: "MEDIUM",
}


def endpoint_resource_arn(audit: EndpointAudit) -> str:
    return audit.endpoint_arn or (
        sagemaker_arn(audit.region, audit.account_id, f"endpoint/{audit.endpoint_name.lower()}")
    )


def kind_for(verdict: Verdict) -> str:
    return KIND_ENDPOINT_AUDIT_ERROR if verdict is Verdict.ERROR else KIND_UNREGISTERED_ENDPOINT


def finding_from_audit(audit: EndpointAudit, source: str) -> Finding | None:
    """One finding for a non-compliant endpoint; None for compliant or exempt ones."""
    severity = _SEVERITY_BY_VERDICT.get(audit.verdict)
    if severity is None:
        return None
    if audit.verdict is Verdict.ERROR and audit.evidence_missing:
        # A model or configuration deleted under a live endpoint hides what serves: as urgent as a violation.
        severity = "HIGH"
    if audit.verdict is Verdict.ERROR:
        title = f"Endpoint {audit.endpoint_name}: model lineage could not be verified"
    else:
        title = (
            f"Endpoint {audit.endpoint_name} serves a model that is not an approved registry version "
            f"({audit.verdict.value})"
        )
    return Finding(
        kind=kind_for(audit.verdict),
        severity=severity,
        account_id=audit.account_id,
        region=audit.region,
        resource_arn=endpoint_resource_arn(audit),
        title=title,
        detail=(" ".join(audit.reasons) or f"Verdict {audit.verdict.value}.") + " " + next_step(audit),
        source=source,
        evidence=audit.to_dict(),
    )


def next_step(audit: EndpointAudit) -> str:
    """What the on-call engineer runs next."""
    where = f"--endpoint {audit.endpoint_name} --region {audit.region}"
    if audit.verdict is Verdict.ERROR and not audit.evidence_missing:
        if any("Throttl" in reason for reason in audit.reasons):
            # Throttled beyond the retries: nothing is wrong with the permissions, the same audit works later.
            return (
                f"Next: SageMaker throttled the audit's reads beyond its retries: re-run `mlgov audit {where}` in a "
                "few minutes (many endpoints at once: lower org_scan.endpoint_concurrency)."
            )
        if any("states:ListExecutions" in reason for reason in audit.reasons):
            return (
                "Next: a challenger-shaped variant could not be matched with a running experiment: run the check "
                f"the reason names, then re-run `mlgov audit {where}`; if no experiment runs, roll the variant back "
                f"(`mlgov rollback --endpoint {audit.endpoint_name} --group GROUP`, GROUP the package's group)."
            )
        return (
            f"Next: make sure the audit role in account {audit.account_id} may describe the endpoint, its "
            f"configuration, models and packages, and read the pinned artifacts (s3:GetObject on the model "
            f"data, ecr:DescribeImages on the image), then re-run `mlgov audit {where}`."
        )
    groups = sorted(
        {
            c.model_package_arn.split(":model-package/", 1)[1].split("/", 1)[0]
            for v in (*audit.variants, *audit.inference_components)
            for c in v.containers
            if c.model_package_arn and ":model-package/" in c.model_package_arn and "/" in c.model_package_arn
        }
    )
    rollback = (
        " or ".join(f"`mlgov rollback --endpoint {audit.endpoint_name} --group {group}`" for group in groups)
        if groups
        else f"`mlgov rollback --endpoint {audit.endpoint_name} --group GROUP`, GROUP the group it should serve "
        f"from (`aws sagemaker list-model-package-groups --region {audit.region}` lists them)"
    )
    if audit.verdict is Verdict.ERROR:  # a model or configuration deleted under the live endpoint
        return (
            "Next: what serves was deleted under the live endpoint, so no permission brings it back: `aws sagemaker "
            f"describe-endpoint --endpoint-name {audit.endpoint_name} --region {audit.region}` names its "
            "configuration; redeploy an Approved package through the deployment pipeline, or roll back with mlgov "
            f"rollback and its group (`aws sagemaker list-model-package-groups --region {audit.region}` lists them)."
        )
    return (
        f"Next: `mlgov audit {where} --format json` shows the lineage; roll back to the previous Approved "
        f"version with {rollback}, or redeploy an Approved package through the deployment pipeline."
    )


def kinds_to_close(verdict: Verdict) -> list[str]:
    """Endpoint finding kinds that no longer apply once an endpoint has this verdict.

    An endpoint that cannot be read closes nothing: deleting the evidence (a model under a live
    endpoint) must never turn an open violation into a resolved one."""
    if verdict is Verdict.ERROR:
        return []
    current = kind_for(verdict) if verdict in _SEVERITY_BY_VERDICT else None
    return [k for k in (KIND_UNREGISTERED_ENDPOINT, KIND_ENDPOINT_AUDIT_ERROR) if k != current]


def resolution(audit: EndpointAudit, kind: str, source: str, why: str) -> Finding:
    """The finding that closes an open problem of this kind on the endpoint."""
    return endpoint_resolution(audit, endpoint_resource_arn(audit), kind, source, why)
