"""Endpoints outside `org_scan.regions`, listed not audited (docs/org-scan.md): no SCP keeps SageMaker to them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlgov_runtime.core.arns import partition_for
from mlgov_runtime.core.findings import Finding

KIND = "ENDPOINTS_OUTSIDE_SCANNED_REGIONS"
MEMBER_ACTIONS = frozenset({"ec2:DescribeRegions"})


def sweep(ec2: Any, scanned: Sequence[str], names_in: Callable[[str], list[str]]) -> tuple[dict[str, list[str]], str]:
    """(region -> endpoint names, where any; why the look is incomplete, "" if every region answered)."""
    try:
        regions = sorted(str(r["RegionName"]) for r in ec2.describe_regions().get("Regions", []))
    except (ClientError, BotoCoreError) as exc:
        code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else type(exc).__name__
        return {}, (
            f"the account's enabled regions could not be listed ({code}). Next: update the StackSet "
            "MlGovMemberRoleStackSet (the member role needs ec2:DescribeRegions)"
        )
    found: dict[str, list[str]] = {}
    missed: list[str] = []
    for region in (r for r in regions if r not in scanned):
        try:
            names = names_in(region)
        except Exception as exc:  # the scan's Unreachable: named, not fatal
            missed.append(f"{region} ({getattr(exc, 'code', '') or type(exc).__name__})")
            continue
        if names:
            found[region] = sorted(names)
    return found, f"endpoints could not be listed in {', '.join(missed)}" if missed else ""


def finding(account_id: str, region: str, names: Sequence[str], scanned: Sequence[str], source: str) -> Finding:
    return Finding(
        kind=KIND,
        severity="HIGH",
        account_id=account_id,
        region=region,
        resource_arn=f"arn:{partition_for(region)}:sagemaker:{region}:{account_id}:endpoint/*",
        title=f"Account {account_id} serves {len(names)} endpoint(s) in {region}, which the weekly scan does not audit",
        detail=f"Endpoints {', '.join(names[:10])} run in {region}, outside org_scan.regions ({', '.join(scanned)}). "
        f"Next: audit them with `mlgov scan --accounts {account_id} --regions {region}`, then add {region} to "
        "org_scan.regions (and deploy the member StackSet there), or delete them.",
        source=source,
        evidence={"endpoints": list(names), "scanned_regions": list(scanned)},
    )
