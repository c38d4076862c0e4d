"""Every AWS call the audit makes is declared (and so granted); malformed events never escape."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlgov_runtime.adapters import permissions
from tests.conftest import load_event
from tests.integration.conftest import Sandbox, record_aws_calls

DECLARED = set(
    permissions.ENDPOINT_AUDIT_READ
    + permissions.ORGANIZATION_READ
    + permissions.FINDINGS_WRITE
    + permissions.FINDINGS_PUBLISH
)


def test_every_call_the_audit_makes_is_a_declared_permission(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    made = record_aws_calls(monkeypatch)
    sandbox.invoke(load_event("scheduled_weekly_scan.json"))
    sandbox.invoke(load_event("cloudtrail_create_endpoint.json"))
    made_by_audit = {op for op in made if op[0] != "dynamodb" or op[1] in ("GetItem", "UpdateItem")}
    assert ("sagemaker", "DescribeModelPackage") in made_by_audit
    undeclared = {op for op in made_by_audit if permissions.iam_action(*op) not in DECLARED}
    assert undeclared == set()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
_KEYS = ["id", "detail-type", "source", "account", "region", "detail", "time"]


def _mutations() -> st.SearchStrategy[Any]:
    base = st.sampled_from(
        ["cloudtrail_create_endpoint.json", "endpoint_state_change_in_service.json", "scheduled_weekly_scan.json"]
    ).map(load_event)

    def mutate(event: dict[str, Any], key: str, value: Any, drop: bool) -> dict[str, Any]:
        if drop:
            event.pop(key, None)
        else:
            event[key] = value
        return event

    mutated = st.builds(mutate, base, st.sampled_from(_KEYS), _json, st.booleans())
    detail = st.builds(
        lambda e, k, v: (e["detail"].__setitem__(k, v), e)[1],
        base,
        st.sampled_from(["eventName", "requestParameters", "EndpointName", "errorCode", "recipientAccountId"]),
        _json | st.text(alphabet=string.printable, max_size=70),
    )
    return _json | mutated | detail


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=_mutations())
def test_malformed_events_never_raise_out_of_the_handler(sandbox: Sandbox, event: Any) -> None:
    result = sandbox.invoke(event)
    assert result["status"] in ("rejected", "audited", "skipped")
    if result["status"] == "rejected":
        assert result["reason"]
