"""Experiment exemptions, shared by every check that spares experiments (lineage audit, capacity):
a name prefix counts only in the accounts and OUs the settings list, never by name alone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ExemptionPolicy:
    """Experiment exemptions: a name prefix that only counts in the listed accounts/OUs."""

    endpoint_name_prefix: str = "experiment-"
    account_ids: frozenset[str] = frozenset()
    organizational_unit_ids: frozenset[str] = frozenset()

    def decide(self, endpoint_name: str, account_id: str, account_ous: Iterable[str]) -> tuple[bool, str | None]:
        """Return (exempt, reason). The reason explains a refused exemption, too."""
        if not self.endpoint_name_prefix or not endpoint_name.startswith(self.endpoint_name_prefix):
            return False, None
        if account_id in self.account_ids:
            return True, f"Name prefix '{self.endpoint_name_prefix}' is exempt in experiment account {account_id}."
        matched = sorted(set(account_ous) & self.organizational_unit_ids)
        if matched:
            return True, (
                f"Name prefix '{self.endpoint_name_prefix}' is exempt in experiment OU {matched[0]} "
                f"(account {account_id})."
            )
        return False, (
            f"Name prefix '{self.endpoint_name_prefix}' is not exempt in account {account_id}: "
            "it is not an experiment account or in an experiment OU."
        )

    @property
    def needs_ou_lookup(self) -> bool:
        return bool(self.organizational_unit_ids)
