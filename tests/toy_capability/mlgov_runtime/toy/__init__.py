"""A toy capability: greets a few endpoints (the new-capability walk-through)."""
