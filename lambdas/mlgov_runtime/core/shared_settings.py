"""The top-level settings several capabilities read (cdk.json `mlgov.<key>`), declared once; a capability's
`Received` names the ones it needs with `shared("key")`, which carries the same default and rules."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal

from mlgov_runtime.core.cron import schedule
from mlgov_runtime.core.model import all_match, setting, settings_model

GROUP = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"


def _groups(value: list[str]) -> list[str]:
    """Checked: at least one; each a model package group name."""
    if not value:
        raise ValueError('lists no group: name the model package groups to govern, e.g. ["manga-recommender"]')
    return all_match(value, GROUP, "a model package group name")


def _accounts(value: list[str]) -> list[str]:
    """Checked: each a 12-digit AWS account id."""
    return all_match(value, r"\d{12}", "a 12-digit AWS account id")


@settings_model
class Shared:
    watched_model_package_groups: list[str] = setting(factory=lambda: ["manga-recommender"], check=_groups)
    # Central account: events forwarded from member accounts are audited through this role.
    # The central registry account(s): when set, only packages registered there count, in every account
    # (an endpoint's own account only if listed); unset, only the endpoint's own account.
    package_account_ids: list[str] = setting(factory=list, check=_accounts)
    member_audit_role_name: str | None = setting(default=None, pattern=r"^[\w+=,.@-]{1,64}$")
    # When set, accounts of this organization may put events on this account's default bus.
    organization_id: str | None = setting(default=None, pattern=r"^o-[a-z0-9]{10,32}$")
    log_retention_days: Literal[7, 14, 30, 60, 90, 180, 365, 731, 1827, 3653] = 90
    idempotency_ttl_seconds: int = setting(default=3600, ge=60, le=604_800)
    weekly_scan_schedule: str = setting(default="cron(0 6 ? * MON *)", check=schedule)


def shared(name: str) -> Any:
    """The field of the top-level setting `name`, for a capability's `Received`."""
    spec = next(f for f in dataclasses.fields(Shared) if f.name == name)
    if spec.default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=spec.default_factory, metadata=spec.metadata)
    return dataclasses.field(default=spec.default, metadata=spec.metadata)


__all__ = ["Shared", "re", "shared"]
