"""Retraining pipeline steps: data prep, data-quality gate, offline gate, registration (spec scenarios 2 and 3)."""
