"""Each capability's declared IAM actions (<name>.py, `ACTIONS`: what its construct grants and what the
permission meta-test, tests/integration/test_registry.py, checks its real calls against). Read at synth
and by the tests, never by a function: this package is outside the Lambda asset. The few lists a function
reads at run time stay beside it (mlgov_runtime/<name>/permissions.py) and are imported from there."""
