"""Endpoint retirement (spec scenario 5): stale-endpoint audit, purpose-tag lifecycle, deletion only
after a human approves and a live invocation check passes, and a watch on clients after it."""
