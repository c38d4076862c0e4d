"""OU ancestry of an account, for exemptions bound to experiment OUs."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError


def ou_ancestors(client: Any, account_id: str, max_depth: int = 6) -> list[str]:
    """OU ids from the account's parent up to the root (the root id excluded).

    Without Organizations read access (not the management or delegated admin account) this
    returns [] so an OU-bound exemption simply does not apply: fail closed.
    """
    ous: list[str] = []
    child = account_id
    try:
        for _ in range(max_depth):
            parents = client.list_parents(ChildId=child)["Parents"]
            if not parents or parents[0]["Type"] != "ORGANIZATIONAL_UNIT":
                break
            child = parents[0]["Id"]
            ous.append(child)
    except (ClientError, BotoCoreError):
        return []
    return ous


class AccountStateUnknown(Exception):
    """Organizations answered an account without its state: the plan cannot say whether to scan it."""


def account_state(account: dict[str, Any]) -> str:
    """`State`; the retired `Status` (2026-09-09) only without it; neither is refused, never "not ACTIVE"."""
    state = account.get("State") or account.get("Status")
    if not state:
        raise AccountStateUnknown(
            f"Organizations listed account {account.get('Id', '?')} with neither State nor Status, so the scan "
            "cannot tell whether it is ACTIVE; nothing was scanned. Check the Organizations API answer "
            "(aws organizations list-accounts) and the SDK version, then re-run the scan"
        )
    return str(state)


class OrganizationAccounts:
    """The organization's accounts for the org-wide scan (implements mlgov_runtime.org_scan.logic.Organization).

    Works from the management account or a delegated administrator; errors propagate (a scan that
    cannot list the organization must fail loudly, not scan nothing).
    """

    def __init__(self, client: Any) -> None:
        self._org = client

    def active_accounts(self) -> list[str]:
        accounts: list[str] = []
        for page in self._org.get_paginator("list_accounts").paginate():
            accounts += [a["Id"] for a in page.get("Accounts", []) if account_state(a) == "ACTIVE"]
        return accounts

    def accounts_under(self, ou_id: str) -> set[str]:
        """Accounts in the OU and every OU nested under it."""
        found: set[str] = set()
        pending = [ou_id]
        while pending:
            parent = pending.pop()
            for page in self._org.get_paginator("list_accounts_for_parent").paginate(ParentId=parent):
                found.update(a["Id"] for a in page.get("Accounts", []))
            for page in self._org.get_paginator("list_organizational_units_for_parent").paginate(ParentId=parent):
                pending += [ou["Id"] for ou in page.get("OrganizationalUnits", [])]
        return found

    def account_tags(self, account_id: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        for page in self._org.get_paginator("list_tags_for_resource").paginate(ResourceId=account_id):
            tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
        return tags
