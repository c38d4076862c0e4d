"""What every event parser raises on an event its function cannot act on. Kept apart from the handler
entry (core/entry.py, which needs Powertools) because the CLI imports the parsers too."""

from __future__ import annotations


class InvalidEvent(ValueError):
    """An event the function cannot act on, rejected before anything runs; the message says why."""
