"""mlgov: the operator CLI of the ML model governance stack."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType


def capability_modules(package: str) -> Iterator[ModuleType]:
    """Each registered capability's module in package (mlgov.commands, mlgov.scenes), in registry order;
    a capability without one is skipped, an import error inside one is not."""
    from mlgov_runtime.registry import CAPABILITIES

    for capability in CAPABILITIES:
        name = f"{package}.{capability.name}"
        try:
            yield importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
