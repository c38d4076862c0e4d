"""Endpoint lineage audit (spec scenario 1): every endpoint must serve an Approved registry version."""
