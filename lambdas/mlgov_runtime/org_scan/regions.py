"""Endpoints outside `org_scan.regions`. The scan plans the configured regions only and no SCP keeps SageMaker
to them, so once per account (from its first scanned region) the worker lists the regions enabled for the account
(`ec2:DescribeRegions` through the member role: the account's own opt-ins) and the endpoints in every other one.
Each region with endpoints is a finding naming them and the fix; they are not audited there (add the region)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlgov_runtime.core.arns import partition_for
from mlgov_runtime.core.findings import Finding

KIND = "ENDPOINTS_OUTSIDE_SCANNED_REGIONS"
MEMBER_ACTIONS = frozenset({"ec2:DescribeRegions"})  # the endpoints are listed with the scan's ListEndpoints
SHOWN = 10  # endpoint names a finding lists


def enabled_regions(ec2: Any) -> list[str]:
    """The regions enabled for the calling account (DescribeRegions without AllRegions: opted-in ones too)."""
    answer = ec2.describe_regions()
    return sorted(str(r["RegionName"]) for r in answer.get("Regions", []) if r.get("RegionName"))


def sweep(
    ec2: Any, scanned: Sequence[str], endpoint_names: Callable[[str], list[str]]
) -> tuple[dict[str, list[str]], str]:
    """(region -> endpoint names, for every enabled region outside `scanned` that has any; why the sweep is
    incomplete, "" when every region was looked at). `endpoint_names(region)` raises on a region it cannot
    read (the scan's Unreachable)."""
    try:
        regions = enabled_regions(ec2)
    except (ClientError, BotoCoreError) as exc:
        code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else type(exc).__name__
        return {}, (
            f"the regions enabled for the account could not be listed ({code}), so endpoints outside "
            f"{', '.join(scanned)} were not looked for. Next: update the StackSet MlGovMemberRoleStackSet to the "
            "current template (the member role needs ec2:DescribeRegions)"
        )
    found: dict[str, list[str]] = {}
    missed: list[str] = []
    for region in regions:
        if region in scanned:
            continue
        try:
            names = endpoint_names(region)
        except Exception as exc:  # the scan's Unreachable: a region this role cannot read is named, not fatal
            missed.append(f"{region} ({getattr(exc, 'code', '') or type(exc).__name__})")
            continue
        if names:
            found[region] = sorted(names)
    why = f"endpoints could not be listed in {', '.join(missed)}" if missed else ""
    return found, why


def resource_arn(account_id: str, region: str) -> str:
    return f"arn:{partition_for(region)}:sagemaker:{region}:{account_id}:endpoint/*"


def finding(account_id: str, region: str, names: Sequence[str], scanned: Sequence[str], source: str) -> Finding:
    shown = ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")
    return Finding(
        kind=KIND,
        severity="HIGH",
        account_id=account_id,
        region=region,
        resource_arn=resource_arn(account_id, region),
        title=f"Account {account_id} serves {len(names)} endpoint(s) in {region}, outside the regions the weekly "
        "scan audits",
        detail=f"Endpoints {shown} run in {region}, which is not in org_scan.regions ({', '.join(scanned)}): no "
        "audit has judged what they serve. Next: audit them now with `mlgov scan --accounts "
        f"{account_id} --regions {region}`, then add {region} to org_scan.regions (and redeploy the member "
        "StackSet there so new endpoints are heard in real time), or delete the endpoints.",
        source=source,
        evidence={"endpoints": list(names), "scanned_regions": list(scanned)},
    )
