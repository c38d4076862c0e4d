"""The toy calls no AWS API."""

ACTIONS: frozenset[str] = frozenset()
