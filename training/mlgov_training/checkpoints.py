"""Which checkpoint a restarted (managed spot) job resumes from.

SageMaker syncs the checkpoint directory to S3 and restores it when a spot job restarts. A spot
reclaim can land mid-save, so only a checkpoint whose trainer_state.json exists (the Trainer
writes it with the rest of the checkpoint) counts.
"""

from __future__ import annotations

import re
from pathlib import Path

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def latest_complete_checkpoint(directory: Path) -> Path | None:
    if not directory.is_dir():
        return None
    found = []
    for child in directory.iterdir():
        match = _CHECKPOINT.match(child.name)
        if match and child.is_dir() and (child / "trainer_state.json").is_file():
            found.append((int(match.group(1)), child))
    return max(found)[1] if found else None
