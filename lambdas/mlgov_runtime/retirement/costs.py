"""Hosting cost by endpoint purpose from Cost Explorer, as one report section (docs/retirement.md, Hosting cost by
purpose). Pure: the adapter pages are passed in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

NO_TAG = "(no tag)"
TAGS_CONSOLE = "https://us-east-1.console.aws.amazon.com/billing/home#/tags"
# Real-time hosting usage types name the instance after "Host": USE1-Host:ml.g4dn.2xlarge.
HOSTING_MARK = "Host"
WEEK_DAYS = 7


def last_week(today: date) -> tuple[date, date]:
    """The last seven full days, [start, end): Cost Explorer's End is exclusive."""
    return today - timedelta(days=WEEK_DAYS), today


def _purpose(tag_group: str, tag_key: str) -> str:
    # Cost Explorer writes a tag group as "key$value"; "key$" is the untagged remainder.
    value = tag_group.split("$", 1)[1] if "$" in tag_group else tag_group
    return value or NO_TAG


def purpose_costs(
    pages: Iterable[Mapping[str, Any]], tag_key: str, start: date, end: date, metric: str = "UnblendedCost"
) -> dict[str, Any]:
    hosting: dict[str, float] = {}
    other = 0.0
    estimated = False
    currency = "USD"
    pages = list(pages)
    if not any(page.get("ResultsByTime") for page in pages):
        # Cost Explorer answers one result per day, even a day without cost: none at all is no answer.
        return unavailable("Cost Explorer returned no period at all (no data, not zero cost)", tag_key, start, end)
    for page in pages:
        for result in page.get("ResultsByTime", []):
            estimated = estimated or bool(result.get("Estimated"))
            for group in result.get("Groups", []):
                keys = group.get("Keys", [])
                amount = (group.get("Metrics", {}).get(metric) or {}).get("Amount")
                if amount is None or len(keys) != 2:
                    continue
                currency = group["Metrics"][metric].get("Unit") or currency
                if HOSTING_MARK in keys[1]:
                    purpose = _purpose(keys[0], tag_key)
                    hosting[purpose] = hosting.get(purpose, 0.0) + float(amount)
                else:
                    other += float(amount)
    by_purpose = {k: round(v, 2) for k, v in sorted(hosting.items(), key=lambda kv: -kv[1])}
    total = round(sum(hosting.values()), 2)
    untagged = by_purpose.get(NO_TAG, 0.0)
    warnings: list[str] = []
    if total <= 0:
        status = "NO_HOSTING_COST"
        next_step = "Nothing billed for SageMaker hosting in the period."
    elif untagged >= total:
        status = "ALL_UNTAGGED"
        next_step = (
            f"Cost Explorer puts all ${total:,.2f} under no {tag_key} value: activate {tag_key} as a cost "
            f"allocation tag ({TAGS_CONSOLE}; it applies from activation on, after up to 24 h), and tag every "
            "endpoint (`mlgov retire audit` lists the ones without it)."
        )
    else:
        status = "OK"
        next_step = "Review purposes that should not bill: retiring, retired, testing."
        if untagged:
            warnings.append(
                f"${untagged:,.2f} of hosting has no {tag_key} value: `mlgov retire audit` names endpoints "
                "without the tag (costs from before the tag was activated also land here)."
            )
    for purpose in ("retired", "retiring", "testing"):
        if by_purpose.get(purpose, 0.0) > 0:
            warnings.append(
                f"${by_purpose[purpose]:,.2f} for endpoints tagged {tag_key}={purpose}: `mlgov retire audit` "
                "names each candidate with its own `mlgov retire request --endpoint` command."
            )
    return {
        "status": status,
        "source": "Cost Explorer GetCostAndUsage (us-east-1), SERVICE = Amazon SageMaker",
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "tag_key": tag_key,
        "currency": currency,
        "hosting_by_purpose": by_purpose,
        "hosting_total": total,
        "other_sagemaker": round(other, 2),
        "estimated": estimated,
        "warnings": warnings,
        "next_step": next_step,
    }


def unavailable(reason: str, tag_key: str, start: date, end: date) -> dict[str, Any]:
    """No answer is not zero cost: the section says why, and has no amounts."""
    return {
        "status": "UNAVAILABLE",
        "source": "Cost Explorer GetCostAndUsage (us-east-1), SERVICE = Amazon SageMaker",
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "tag_key": tag_key,
        "hosting_by_purpose": None,
        "hosting_total": None,
        "reason": reason,
        "next_step": unavailable_next_step(reason),
    }


NO_DATA_NEXT_STEP = (
    "Cost Explorer has no data for this account and period: enable Cost Explorer (Billing console > Cost "
    "Explorer; data appears within about 24 h, and a member account reads it only when the management account "
    "allows member access), then rerun."
)


def unavailable_next_step(reason: str) -> str:
    """What to do depends on why there is no answer: a refusal needs a grant, no data needs Cost Explorer on."""
    if "no period" in reason or "DataUnavailable" in reason:
        return NO_DATA_NEXT_STEP
    if any(word in reason for word in ("AccessDenied", "not authorized", "UnauthorizedOperation")):
        return "Grant ce:GetCostAndUsage to the caller (the scan's coordinator role has it), then rerun."
    return "Rerun later; if it persists, check Cost Explorer for this account (Billing console > Cost Explorer)."


def render_lines(section: Mapping[str, Any]) -> list[str]:
    period = section["period"]
    head = f"SageMaker hosting cost by {section['tag_key']}, {period['start']} to {period['end']} (exclusive)"
    if section["status"] == "UNAVAILABLE":
        return [f"{head}: unavailable: {section['reason']}", f"  next: {section['next_step']}"]
    cur = section.get("currency", "USD")
    lines = [f"{head}: {section['hosting_total']:,.2f} {cur}{' (estimated)' if section.get('estimated') else ''}"]
    lines += [f"  {purpose:<12} {amount:>12,.2f}" for purpose, amount in section["hosting_by_purpose"].items()]
    lines += [f"  ! {w}" for w in section["warnings"]]
    if section["status"] != "OK":
        lines.append(f"  next: {section['next_step']}")
    return lines
