"""The audit of a deploy call reads the endpoint's deployment record once: what the audit compared is what the
record's update keeps (docs/lineage-audit.md)."""

from __future__ import annotations

from typing import Any

import pytest

from mlgov_runtime.adapters.serving_index import ServingIndex
from tests.attacker.test_sixteenth_review_gaps import HOTFIX, _created, _record, indexed
from tests.integration.conftest import Sandbox, sandbox
from tests.integration.test_lineage_audit_handler import create_event

__all__ = ["indexed", "sandbox"]


def test_a_deploy_calls_audit_reads_the_record_once_and_still_records(
    indexed: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    original = ServingIndex.deployment

    def counted(self: ServingIndex, account: str, region: str, name: str) -> Any:
        reads.append(name)
        return original(self, account, region, name)

    monkeypatch.setattr(ServingIndex, "deployment", counted)
    [row] = indexed.invoke(create_event(HOTFIX, "deploy"))["results"]
    assert row["verdict"] == "UNREGISTERED"
    assert reads == [HOTFIX]
    monkeypatch.setattr(ServingIndex, "deployment", original)
    record = _record(indexed, HOTFIX)
    assert record is not None and record["configs"] == {f"{HOTFIX}-config": _created(indexed, f"{HOTFIX}-config")}
