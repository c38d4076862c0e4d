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


def defaults_config() -> str:
    """A cdk.json with no `mlgov` settings, for scenes that run on the defaults (an absent --config is an error)."""
    import json
    import tempfile
    from pathlib import Path

    global _DEFAULTS_CONFIG
    if _DEFAULTS_CONFIG is None or not Path(_DEFAULTS_CONFIG).exists():
        path = Path(tempfile.mkdtemp(prefix="mlgov-demo-")) / "cdk.json"
        path.write_text(json.dumps({"context": {}}))
        _DEFAULTS_CONFIG = str(path)
    return _DEFAULTS_CONFIG


_DEFAULTS_CONFIG: str | None = None
