"""The project's Stage-1 offline gate, wherever the runtime package keeps it."""

from __future__ import annotations

try:
    from mlgov_runtime.retraining.offline_gate import (
        REQUIRED,
        OfflineThresholds,
        offline_gate,
        validate_evaluation,
    )
except ImportError:  # before the runtime package was renamed
    from governance.offline_gate import (  # type: ignore[import-not-found, no-redef, unused-ignore]
        REQUIRED,
        OfflineThresholds,
        offline_gate,
        validate_evaluation,
    )

__all__ = ["REQUIRED", "OfflineThresholds", "offline_gate", "validate_evaluation"]
