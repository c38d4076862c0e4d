"""What only the operators' CLI runs (kept out of the Lambda asset): restore, campaign, rollback and their writers."""
