"""What every command group shares: exit codes, the AWS options, settings and AWS context."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import urllib.parse
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_VIOLATIONS = 0, 1, 2, 3
ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


class UsageError(Exception):
    """Bad arguments or configuration: exit 2 with one line on stderr."""


class CommandFailed(Exception):
    """The command could not do its work; the message says why (exit 1)."""


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit 2), like every other error of the CLI, told by the command
    they belong to: a mistyped option of `mlgov audit` is reported by `mlgov audit`, with the option it
    most likely meant, not by the top-level parser."""

    _argv: list[str] | None = None

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._argv = list(sys.argv[1:] if args is None else args)
        parsed, extras = super().parse_known_args(args, namespace)
        # The innermost command's parser returns first; its parents keep the first one set.
        if getattr(parsed, "_leaf_parser", None) is None:
            parsed._leaf_parser = self
        return parsed, extras

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extras = self.parse_known_args(args, namespace)
        leaf = getattr(parsed, "_leaf_parser", None) or self
        if extras:
            leaf.error(f"unrecognized arguments: {' '.join(extras)}{leaf.suggestion(extras)}")
        del parsed._leaf_parser
        return parsed

    def option_names(self) -> list[str]:
        return [o for a in self._actions for o in a.option_strings if o.startswith("--")]

    def suggestion(self, words: list[str]) -> str:
        """`; did you mean --endpoint?` for the first option-like word close to one of this command's."""
        import difflib

        for word in words:
            option = word.split("=", 1)[0]
            if option.startswith("--"):
                match = difflib.get_close_matches(option, self.option_names(), n=1, cutoff=0.7)
                if match:
                    return f"; did you mean {match[0]}?"
        return ""

    def error(self, message: str) -> NoReturn:
        head, required, names = message.partition("arguments are required: ")
        if required:
            # A missing command is named by its choices, not by argparse's internal dest (`retire_command`).
            for action in self._actions:
                if isinstance(action, argparse._SubParsersAction) and action.dest and action.choices:
                    wanted = f"a command ({', '.join(action.choices)})"
                    names = ", ".join(wanted if n == action.dest else n for n in names.split(", "))
            message = head + required + names
        if "arguments are required" in message and self._argv:
            # argparse checks required options before it looks at unknown ones: name the typo too.
            known = set(self.option_names())
            unknown = [w for w in self._argv if w.startswith("--") and w.split("=", 1)[0] not in known]
            if unknown:
                message += f" (unrecognized: {' '.join(unknown)}{self.suggestion(unknown)})"
        self.exit(EXIT_USAGE, f"mlgov: error: {self.prog}: {one_line(message)} (see {self.prog} --help)\n")


def count(n: int, noun: str) -> str:
    """'1 endpoint', '2 endpoints'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def one_line(text: str, limit: int = 500, keep_end: bool = False) -> str:
    """Whatever a library or a server said, as one short line (an HTML error page included). With
    `keep_end`, a long line loses its middle, not its end: a refusal ends with what to do about it."""
    flat = " ".join(re.sub(r"<[^>]*>", " ", str(text)).split())
    if len(flat) <= limit:
        return flat
    if keep_end:
        head = limit * 2 // 5
        return f"{flat[:head]} ... {flat[-(limit - head - 5) :]}"
    return flat[: limit - 3] + "..."


@lru_cache(maxsize=1)
def known_regions() -> frozenset[str]:
    """Every region of every partition this botocore knows."""
    import botocore.loaders

    partitions = botocore.loaders.create_loader().load_data("partitions")["partitions"]
    return frozenset(r for p in partitions for r in p.get("regions", {}) if not r.endswith("-global"))


def region_name(value: str) -> str:
    if value not in known_regions():
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an AWS region (e.g. us-east-1; a region newer than this botocore needs an upgrade)"
        )
    return value


def http_url(value: str) -> str:
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or any(c.isspace() for c in value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an http(s) URL (e.g. http://127.0.0.1:5000)")
    try:
        parsed.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} has a port that is not a number") from None
    return value


def endpoint_name(value: str) -> str:
    if not ENDPOINT_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a SageMaker endpoint name (1-63 letters, digits and hyphens, no leading hyphen)"
        )
    return value


def aware_time(value: str) -> datetime:
    """An ISO-8601 time with its UTC offset (Z accepted): a time without one would be read in this
    machine's zone."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO-8601 time (e.g. 2026-12-07T08:00:00+09:00)"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} has no UTC offset: add Z for UTC or an offset like +09:00 (with no time zone it is ambiguous)"
        )
    return moment


def positive_number(value: str) -> float:
    """A rate or a count that must be finite and above 0 (NaN and infinity pass float())."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number above 0")
    return number


def positive_int(value: str) -> int:
    if not value.strip().isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return int(value)


def command_group(sub: Any, name: str, help: str) -> Any:
    """`mlgov <name> <subcommand>`: the group's own subparsers."""
    return sub.add_parser(name, help=help).add_subparsers(dest=f"{name}_command", required=True)


def command(
    parent: Any, name: str, func: Callable[[argparse.Namespace], int], **options: Any
) -> argparse.ArgumentParser:
    """A command that touches AWS: its parser with the AWS options, run by func."""
    parser: argparse.ArgumentParser = parent.add_parser(name, **options)
    aws_options(parser)
    parser.set_defaults(func=func)
    return parser


def aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", type=region_name, help="AWS region (default: from the environment/profile)")
    parser.add_argument("--profile", help="AWS named profile")
    parser.add_argument("--endpoint-url", type=http_url, help="send every AWS call to this URL (a local emulator)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="cdk.json whose 'mlgov' context holds the settings (default: ./cdk.json; defaults if absent)",
    )


def aws_context(args: argparse.Namespace, pool: int | None = None) -> Any:
    from mlgov_runtime.adapters.aws import AwsContext

    try:
        aws = AwsContext(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url, pool=pool)
    except Exception as exc:  # botocore ProfileNotFound and friends
        from botocore.exceptions import ProfileNotFound

        hint = ""
        if isinstance(exc, ProfileNotFound):
            hint = ": `aws configure list-profiles` lists the profiles (or leave --profile out for the environment's)"
        raise UsageError(one_line(str(exc)) + hint) from None
    try:
        region = aws.region
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if region not in known_regions():
        # From AWS_REGION / AWS_DEFAULT_REGION or the profile: a typo there would otherwise reach DNS.
        raise UsageError(f"region {region!r} (from the environment or profile) is not an AWS region")
    return aws


def load_settings(args: argparse.Namespace) -> Any:
    from mlgov.settings import SettingsError, load_settings_file

    try:
        if args.config is None:
            return load_settings_file(Path("cdk.json"))
        return load_settings_file(args.config, explicit=True)
    except SettingsError as exc:
        message = str(exc)
        # A file not named cdk.json is named by its path; a cdk.json keeps the line cdk synth prints for it.
        if args.config is not None and Path(args.config).name != "cdk.json" and message.startswith("cdk.json context "):
            message = f"{args.config} context " + message.removeprefix("cdk.json context ")
        raise UsageError(message) from None


def read_text(path: Path, what: str) -> str:
    """A file (or stdin for -) as UTF-8 text; anything else is a usage error naming the file."""
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a {what} file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded)") from None


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


def sagemaker_exists(client: Any, operation: str, **kwargs: Any) -> bool:
    """Does a describe_* call find its resource? False only for SageMaker's "not found" answer; any other
    failure (access denied, throttling) is raised, never read as absence."""
    from botocore.exceptions import ClientError

    from mlgov_runtime.adapters.errors import is_not_found

    try:
        getattr(client, operation)(**kwargs)
    except ClientError as exc:
        if is_not_found(exc):
            return False
        raise
    return True


def require_endpoints(client: Any, names: list[str] | None, account: str, region: str) -> None:
    """A named endpoint that does not exist is a typo, not a violation: exit 2, as `mlgov audit` does."""
    for name in names or ():
        if not sagemaker_exists(client, "describe_endpoint", EndpointName=name):
            raise UsageError(f"endpoint {name} not found in {account}/{region}{endpoint_hint(client, name, region)}")


def endpoint_hint(client: Any, name: str, region: str) -> str:
    """What to do about an endpoint name that is not there: the closest one that is, and how to list them.
    Best effort: a caller that may not list endpoints still gets the listing command."""
    import difflib

    listing = (
        f"aws sagemaker list-endpoints --region {region} lists them (other accounts, regions: --profile, --region)"
    )
    names: list[str] = []
    try:
        for page in client.get_paginator("list_endpoints").paginate(PaginationConfig={"MaxItems": 1000}):
            names += [str(e["EndpointName"]) for e in page.get("Endpoints", [])]
    except Exception:  # the hint must never turn a usage error into a failure
        names = []
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.8)
    return f"; did you mean {close[0]}? {listing}" if close else f"; {listing}"


# The names command modules imported before they used `common.<name>` (mlgov.cli still exports _settings).
_aws_options, _aws, _settings = aws_options, aws_context, load_settings


SERVING_INDEX_ENV = "MLGOV_SERVING_INDEX_TABLE"
_TABLE = re.compile(r"[\w.-]{3,255}|arn:aws[a-z-]*:dynamodb:[\w-]+:\d{12}:table/[\w.-]{3,255}")


def serving_index_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--serving-index-table",
        metavar="TABLE",
        help=f"compare each endpoint's configuration with the deployment record the lineage audit keeps there, as "
        f"the audit function does (default {SERVING_INDEX_ENV}; the MlGovEndpointAudit stack's output "
        f"ServingIndexTableName)",
    )


def serving_index(args: argparse.Namespace, ddb: Any) -> Any:
    """The lineage audit's deployment records, read before anything is audited: a table named but unreadable is
    the user's error (exit 2), never an audit without it. None when no table is named."""
    from botocore.exceptions import BotoCoreError, ClientError

    from mlgov_runtime.adapters.serving_index import ServingIndex

    table = args.serving_index_table or os.environ.get(SERVING_INDEX_ENV)
    if not table:
        return None
    if not _TABLE.fullmatch(table):
        raise UsageError(f"--serving-index-table {table!r} is not a DynamoDB table name or ARN")
    index = ServingIndex(ddb, table)
    try:
        index.deployment("000000000000", "none", "mlgov-probe")
    except (ClientError, BotoCoreError) as exc:
        raise UsageError(
            f"the serving index {table} cannot be read ({one_line(str(exc))}): aws cloudformation describe-stacks "
            "--stack-name MlGovEndpointAudit shows the table (output ServingIndexTableName); reading it takes "
            "dynamodb:Query on it and kms:Decrypt on the stack's GovernanceKey (governance account); nothing audited"
        ) from None
    return index


def deployment_reader(index: Any, account: str, region: str) -> Any:
    """An endpoint's deployment record; one that cannot be read makes that endpoint unreadable (an ERROR row)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from mlgov_runtime.lineage_audit.logic import ReadFailure

    def read(name: str) -> Any:
        try:
            return index.deployment(account, region, name)
        except (ClientError, BotoCoreError) as exc:
            raise ReadFailure(f"its deployment record could not be read ({one_line(str(exc), 200)})") from None

    return read
