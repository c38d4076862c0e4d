"""What every command group shares: exit codes, the AWS options, settings and AWS context."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_VIOLATIONS = 0, 1, 2, 3


class UsageError(Exception):
    """Bad arguments or configuration: exit 2 with one line on stderr."""


def _aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="AWS region (default: from the environment/profile)")
    parser.add_argument("--profile", help="AWS named profile")
    parser.add_argument("--endpoint-url", help="send every AWS call to this URL (a local emulator)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("cdk.json"),
        help="cdk.json whose 'mlgov' context holds the settings (default: ./cdk.json; defaults if absent)",
    )


def _aws(args: argparse.Namespace) -> Any:
    from mlgov_runtime.adapters.aws import AwsContext

    try:
        return AwsContext(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url)
    except Exception as exc:  # botocore ProfileNotFound and friends
        raise UsageError(str(exc)) from None


def _settings(args: argparse.Namespace) -> Any:
    from mlgov.settings import SettingsError, load_settings_file

    try:
        return load_settings_file(args.config)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None


class ReadProgress:
    """One stderr line per step of a long read: every 100,000 catalog titles, every 10 % of a snapshot."""

    TITLES_STEP = 100_000

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._titles_step = 0
        self._percent_step = 0

    def say(self, line: str) -> None:
        if self.enabled:
            print(f"  {line}", file=sys.stderr, flush=True)

    def titles(self, count: int) -> None:
        if count // self.TITLES_STEP > self._titles_step:
            self._titles_step = count // self.TITLES_STEP
            self.say(f"catalog: {count:,} titles read")

    def bytes(self, done: int, total: int) -> None:
        percent = done * 100 // total if total else 0
        if percent // 10 > self._percent_step:
            self._percent_step = percent // 10
            self.say(f"snapshot: {percent}% ({done / 1e6:,.1f} of {total / 1e6:,.1f} MB)")
