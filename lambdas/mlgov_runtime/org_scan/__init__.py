"""The org-wide scan (spec scenario 1 follow-up 4, scenario 2 follow-up 2): every registered per-endpoint
check in every ACTIVE account x configured region, on Step Functions Distributed Map, one report per run."""
