"""A cdk.json with no `mlgov` settings: commands under test run on the defaults (--config naming a file that
does not exist is a usage error, so tests cannot point it at an absent path to get them)."""

from pathlib import Path

NO_SETTINGS = str(Path(__file__).with_name("no-settings-cdk.json"))
