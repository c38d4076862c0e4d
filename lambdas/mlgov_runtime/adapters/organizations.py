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
