"""What only the operators' CLI runs (kept out of the Lambda asset): restore, campaign, rollback, their writers, and
the challenger gate's cumulative what-if form."""
