"""The findings table as the org scan's aggregate uses it: the shared store (adapters/findings_store.py), plus
how each open finding was told (so its resolution is told the same way)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from mlgov_runtime.adapters.findings_store import FindingsStore
from mlgov_runtime.core.findings import STATUS_OPEN


class ScanLedger(FindingsStore):
    def open_findings(self, kinds: Iterable[str]) -> Iterator[dict[str, Any]]:
        """Every OPEN finding of these kinds, with `rolled_up_in` and `published_fingerprint` when set."""
        for item in self._scan_kinds(
            kinds,
            "#status = :open",
            {":open": {"S": STATUS_OPEN}},
            "finding_id, kind, severity, account_id, #region, resource_arn, title, rolled_up_in, "
            "published_fingerprint",
            {"#status": "status", "#region": "region"},
        ):
            yield {k: next(iter(v.values())) for k, v in item.items()}
