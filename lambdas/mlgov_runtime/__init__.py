"""The Lambda runtime of mlgov: one package so nothing generic lands in a user's site-packages."""
