"""Per-endpoint check: catalog snapshot age (docs/org-scan.md, 'Snapshot age'). Reads nothing of its own: the
lineage check's cache answers."""

from __future__ import annotations

from datetime import date
from typing import Any

from mlgov_runtime.core.checks import CheckContext, CheckResult
from mlgov_runtime.core.findings import Finding
from mlgov_runtime.lineage_audit.endpoint_check import auditor, lineage
from mlgov_runtime.lineage_audit.findings import endpoint_resource_arn
from mlgov_runtime.lineage_audit.logic import EndpointAudit, Verdict

NAME = "snapshot"
KIND = "CATALOG_SNAPSHOT_STALE"
KINDS = (KIND,)
MEMBER_ACTIONS = frozenset({"sagemaker:DescribeModelPackage"})
DEFAULT_MAX_AGE_DAYS = 60

OK, STALE, MISSING, NOT_APPLICABLE = "OK", "STALE", "MISSING", "N/A"


def approved_packages(audit: EndpointAudit) -> list[str]:
    """The Approved packages it serves (variants, an update in flight, components)."""
    arns = {
        c.model_package_arn
        for v in [*audit.variants, *audit.inference_components]
        for c in v.containers
        if c.approval_status == "Approved" and c.model_package_arn
    }
    return sorted(arns)


def _snapshot_date(text: Any) -> date | None:
    try:
        return date.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def check_endpoint(ctx: CheckContext, endpoint_name: str) -> CheckResult:
    audit = lineage(ctx, endpoint_name)
    max_age = int(ctx.threshold("snapshot_max_age_days", DEFAULT_MAX_AGE_DAYS))
    if audit.verdict is Verdict.EXEMPT:
        return CheckResult(row={NAME: {"status": NOT_APPLICABLE, "why": "exempt experiment endpoint"}})
    arns = approved_packages(audit)
    if not arns:
        why = "serves no Approved package" if audit.verdict is not Verdict.ERROR else "lineage unreadable"
        return CheckResult(
            row={NAME: {"status": NOT_APPLICABLE, "why": why}}, inconclusive=audit.verdict is Verdict.ERROR
        )

    today = ctx.now.date()
    packages: list[dict[str, Any]] = []
    unreadable = False
    for arn in arns:
        found = auditor(ctx).packages.lookup(arn)
        if isinstance(found, Exception):
            unreadable = True
            continue
        metadata = found.get("CustomerMetadataProperties") or {}
        snapshot = _snapshot_date(metadata.get("catalog_snapshot_date"))
        packages.append(
            {
                "model_package_arn": arn,
                "catalog_snapshot_date": snapshot.isoformat() if snapshot else None,
                "age_days": (today - snapshot).days if snapshot else None,
                "training_data_s3_uri": metadata.get("training_data_s3_uri"),
            }
        )
    dated = [p for p in packages if p["age_days"] is not None]
    oldest = max(dated, key=lambda p: p["age_days"], default=None)
    if any(p["catalog_snapshot_date"] is None for p in packages):
        status = MISSING
    elif oldest is not None and oldest["age_days"] > max_age:
        status = STALE
    elif unreadable or oldest is None:
        return CheckResult(row={NAME: {"status": NOT_APPLICABLE, "why": "package unreadable"}}, inconclusive=True)
    else:
        status = OK
    shown = oldest or {
        "catalog_snapshot_date": None,
        "age_days": None,
        "model_package_arn": packages[0]["model_package_arn"],
    }
    row = {
        NAME: {
            "status": status,
            "catalog_snapshot_date": shown["catalog_snapshot_date"],
            "age_days": shown["age_days"],
            "model_package_arn": shown["model_package_arn"],
            "max_age_days": max_age,
        }
    }
    if status == OK:
        return CheckResult(row=row)
    return CheckResult(findings=[_finding(ctx, audit, status, packages, max_age)], row=row)


def _finding(
    ctx: CheckContext, audit: EndpointAudit, status: str, packages: list[dict[str, Any]], max_age: int
) -> Finding:
    name = audit.endpoint_name
    table = ctx.options.get("catalog_table_name") or "manga-catalog"  # retraining.catalog_table_name's default
    if status == MISSING:
        lacking = [p["model_package_arn"] for p in packages if p["catalog_snapshot_date"] is None]
        groups = sorted({_group(arn) for arn in lacking if _group(arn)})
        register = (
            f"mlgov register --group {groups[0]} --metadata-file meta.json with the model data and image"
            if len(groups) == 1
            else "mlgov register --metadata-file meta.json in the package's group"
        )
        title = f"Endpoint {name}: its Approved package does not record which catalog snapshot it was trained on"
        detail = (
            f"Package {', '.join(lacking)} has no valid catalog_snapshot_date (YYYY-MM-DD) in its "
            "CustomerMetadataProperties, so the age of the catalog behind this model is unknown. Next: register "
            f"a package with the full metadata ({register}; CONTRACTS.md 'Registration metadata') and deploy it "
            "through the pipeline."
        )
    else:
        stale = max((p for p in packages if p["age_days"] is not None), key=lambda p: p["age_days"])
        title = (
            f"Endpoint {name} serves a model trained on a {stale['age_days']}-day-old catalog snapshot "
            f"(limit {max_age} days)"
        )
        uri = stale.get("training_data_s3_uri")
        measure = (
            f"`mlgov coverage --catalog-table {table} --snapshot-uri {uri}`"
            if uri
            else f"mlgov coverage --catalog-table {table} and --snapshot-uri naming the stack's SnapshotBucket "
            f"snapshot under catalog-snapshots/{stale['catalog_snapshot_date']}/ (the package records "
            "no training_data_s3_uri)"
        )
        detail = (
            f"Package {stale['model_package_arn']} was trained on the catalog of {stale['catalog_snapshot_date']}, "
            f"{stale['age_days']} days ago (thresholds.snapshot_max_age_days = {max_age}): titles added since are "
            f"unknown to it. Next: measure the gap with {measure}, "
            "start the retraining state machine (Step Functions, stack MlGovEndpointAudit) if it is above the alert "
            "threshold, and roll out the new Approved package."
        )
    return Finding(
        kind=KIND,
        severity="MEDIUM",
        account_id=audit.account_id,
        region=audit.region,
        resource_arn=endpoint_resource_arn(audit),
        title=title,
        detail=detail,
        source=ctx.source,
        # Stable while the problem stands: the dates, not the growing age.
        evidence={
            "endpoint_name": name,
            "status": status,
            "max_age_days": max_age,
            "packages": [
                {"model_package_arn": p["model_package_arn"], "catalog_snapshot_date": p["catalog_snapshot_date"]}
                for p in packages
            ],
        },
    )


def _group(package_arn: str) -> str:
    """manga-recommender from arn:aws:sagemaker:...:model-package/manga-recommender/3."""
    return package_arn.split(":model-package/", 1)[1].split("/", 1)[0] if ":model-package/" in package_arn else ""
