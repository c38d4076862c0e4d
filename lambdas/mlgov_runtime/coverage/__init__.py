"""Weekly catalog coverage check (spec scenario 2)."""
