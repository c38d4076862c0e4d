"""Malformed events never escape the audit handler (its permissions: tests/integration/test_registry.py)."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import load_event
from tests.integration.conftest import Sandbox

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
