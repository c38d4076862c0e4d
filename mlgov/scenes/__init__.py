"""One sandbox scene per capability that has one (mlgov/scenes/<name>.py), played by `make demo` in
registry order. A scene gets the stage: the emulator, the seeded estate and what earlier scenes found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stage:
    session: Any
    url: str
    sm: Any
    ddb: Any
    sqs: Any
    estate: Any
    resources: dict[str, str]
    findings: list[dict[str, Any]] = field(default_factory=list)  # published by the lineage audit scene
    mismatches: int = 0  # verdicts that differ from what the estate expects
