"""Challenger CTR gate (spec scenario 3, stage 2)."""
