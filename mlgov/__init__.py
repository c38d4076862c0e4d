"""mlgov: the operator CLI of the ML model governance stack."""
