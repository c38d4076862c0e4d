"""The base contract travels with the repository: CONTRACTS.base.md is the project owner's ../shared/CONTRACTS.md,
word for word, so a clone has the exit codes, JSON shapes and finding shape that CONTRACTS.md extends."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COPY = ROOT / "CONTRACTS.base.md"
OWNER = ROOT.parent / "shared" / "CONTRACTS.md"


def test_the_copy_is_the_owners_contract_word_for_word() -> None:
    if not OWNER.is_file():
        pytest.skip(f"{OWNER} is not on this machine: nothing to compare the copy with")
    assert COPY.read_text(encoding="utf-8") == OWNER.read_text(encoding="utf-8"), (
        f"cp {OWNER} {COPY}: the base contract changed"
    )


def test_the_extensions_name_the_copy_and_it_holds_the_surfaces_they_extend() -> None:
    text = COPY.read_text(encoding="utf-8")
    assert "[CONTRACTS.base.md](CONTRACTS.base.md)" in (ROOT / "CONTRACTS.md").read_text(encoding="utf-8")
    for surface in ("## Make targets", "## Operator CLI", "Exit codes: 0 no violations, 3 violations found"):
        assert surface in text, surface
