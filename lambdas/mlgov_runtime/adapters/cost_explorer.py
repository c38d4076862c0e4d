"""Cost Explorer reads: SageMaker cost over a period, grouped by a cost-allocation tag and usage type.
Cost Explorer is a global API served from us-east-1 and billed per request: callers ask once per run."""

from __future__ import annotations

from datetime import date
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlgov_runtime.retirement.costs import last_week, purpose_costs, unavailable

SAGEMAKER = "Amazon SageMaker"
METRIC = "UnblendedCost"
MAX_PAGES = 20  # a week of daily groups fits in one or two pages; a bound keeps the bill bounded


class CostsUnavailable(Exception):
    """Cost Explorer did not answer; the message says why (and what to do, when known)."""


def service_cost_by_tag(
    ce: Any, tag_key: str, start: date, end: date, service: str = SAGEMAKER
) -> list[dict[str, Any]]:
    """Every page of GetCostAndUsage for `service` in [start, end), grouped by the tag and USAGE_TYPE."""
    kwargs: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": [METRIC],
        "Filter": {"Dimensions": {"Key": "SERVICE", "Values": [service]}},
        "GroupBy": [{"Type": "TAG", "Key": tag_key}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    }
    pages: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        try:
            answer = ce.get_cost_and_usage(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            hint = ""
            if "tag" in str(exc).lower():
                hint = f" (activate {tag_key} as a cost allocation tag: Billing console > Cost allocation tags)"
            raise CostsUnavailable(f"Cost Explorer GetCostAndUsage: {exc}{hint}") from exc
        pages.append(answer)
        token = answer.get("NextPageToken")
        if not token:
            return pages
        kwargs["NextPageToken"] = token
    raise CostsUnavailable(f"Cost Explorer GetCostAndUsage: more than {MAX_PAGES} pages; narrow the period")


def weekly_purpose_costs(ce: Any, tag_key: str, today: date) -> dict[str, Any]:
    """The last week's hosting cost by purpose: one request (and its pages) per run, never per endpoint.
    A failed request is an UNAVAILABLE section, never zero cost."""
    start, end = last_week(today)
    try:
        pages = service_cost_by_tag(ce, tag_key, start, end)
    except CostsUnavailable as exc:
        return unavailable(str(exc), tag_key, start, end)
    return purpose_costs(pages, tag_key, start, end)
