"""`mlgov`: ad-hoc audits and operations, on the same code the Lambdas run.

Exit codes: 0 no violations, 3 violations found, 2 usage/configuration error, 1 unexpected failure.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence

from mlgov import capability_modules
from mlgov.commands.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_VIOLATIONS,
    CommandFailed,
    OneLineParser,
    ReadProgress,
    UsageError,
    _aws_options,
    _settings,
    one_line,
)
from mlgov.commands.notifier import sample_finding

__all__ = ["EXIT_OK", "EXIT_VIOLATIONS", "ReadProgress", "UsageError", "_settings", "main", "sample_finding"]


def installed_version() -> str:
    """The installed distribution's version (what a bug report names)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlgov")
    except PackageNotFoundError:
        return "(not installed: a checkout on PYTHONPATH)"


def build_parser() -> argparse.ArgumentParser:
    """One command group per registered capability that has one (mlgov/commands/<name>.py), then guardrails."""
    parser = OneLineParser(prog="mlgov", description="ML model governance for SageMaker.")
    parser.add_argument(
        "--version", action="version", version=f"mlgov {installed_version()}", help="the installed version, and exit"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in capability_modules("mlgov.commands"):
        module.register(sub)
    from mlgov.commands.guardrails import add_parser as add_guardrails

    add_guardrails(sub, _aws_options)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage line
        return EXIT_USAGE if exc.code else EXIT_OK
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"mlgov: error: {one_line(str(exc), 1000, keep_end=True)}", file=sys.stderr)
        return EXIT_USAGE
    except CommandFailed as exc:
        print(f"mlgov: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("mlgov: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:
        # The reader went away (`mlgov ... | head`): nothing to tell it, and no traceback at exit either.
        import os

        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

        if isinstance(exc, NoCredentialsError):
            print("mlgov: error: no AWS credentials found (set a profile or AWS_* variables)", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(exc, EndpointConnectionError):
            import os

            url = getattr(args, "endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL")
            where = f"; nothing answers at {url} (--endpoint-url / AWS_ENDPOINT_URL)" if url else ""
            hint = f"check the network and --region{where}"
            print(f"mlgov: error: AWS call failed: {one_line(str(exc))} ({hint})", file=sys.stderr)
            return EXIT_FAILURE
        if isinstance(exc, (ClientError, BotoCoreError)):
            # The end of the line is kept: the product's own errors end with what to do (permissions to add).
            print(f"mlgov: error: AWS call failed: {one_line(str(exc), keep_end=True)}", file=sys.stderr)
            return EXIT_FAILURE
        print(f"mlgov: unexpected failure: {type(exc).__name__}: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
