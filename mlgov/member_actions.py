"""What the member role grants (synth, the org estate and tests read it; no Lambda does)."""

from __future__ import annotations

from mlgov_runtime.registry import endpoint_checks


def member_actions() -> frozenset[str]:
    """What the member role grants: exactly the union of the checks' declared reads, the org scan's
    per account/region read of the event forwarding rule, and its list of the account's enabled regions."""
    from mlgov_runtime.org_scan import forwarding, regions

    checks = frozenset(action for check in endpoint_checks() for action in check.MEMBER_ACTIONS)
    return checks | forwarding.MEMBER_ACTIONS | regions.MEMBER_ACTIONS
