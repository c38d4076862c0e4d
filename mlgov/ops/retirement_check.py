"""One endpoint's retirement verdict by name (`mlgov retire request`, tests): describe it, then the runtime's
check_view. The Lambda functions describe each endpoint themselves and call check_view."""

from __future__ import annotations

from datetime import datetime

from mlgov_runtime.retirement.logic import (
    EndpointReader,
    InvocationCounter,
    ReadFailure,
    RetirementCheck,
    RetirementPolicy,
    Verdict,
    check_view,
    endpoint_arn,
)


def check_endpoint(
    name: str,
    endpoints: EndpointReader,
    counter: InvocationCounter,
    policy: RetirementPolicy,
    now: datetime,
    account_id: str,
    region: str,
) -> RetirementCheck:
    """One endpoint's retirement verdict. Raises EndpointGone; every other failure is an ERROR verdict."""
    try:
        view = endpoints.describe(name)
    except ReadFailure as exc:
        arn = endpoint_arn(region, account_id, name)
        return RetirementCheck(
            name, arn, account_id, region, Verdict.ERROR, None, policy.stale_window_hours, reasons=[str(exc)]
        )
    return check_view(view, endpoints, counter, policy, now, account_id, region)
