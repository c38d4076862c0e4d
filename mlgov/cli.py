"""`mlgov`: ad-hoc audits and operations, on the same code the Lambdas run.

Exit codes: 0 no violations, 3 violations found, 2 usage/configuration error, 1 unexpected failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlgov", description="ML model governance for SageMaker.")
    sub = parser.add_subparsers(dest="command", required=True)
    audit = sub.add_parser("audit", help="audit endpoints' model lineage against the Model Registry")
    _aws_options(audit)
    audit.add_argument(
        "--endpoint", action="append", metavar="NAME", help="endpoint to audit (repeatable; default all)"
    )
    audit.set_defaults(func=cmd_audit)
    return parser


def _aws(args: argparse.Namespace) -> Any:
    from adapters.aws import AwsContext

    try:
        return AwsContext(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url)
    except Exception as exc:  # botocore ProfileNotFound and friends
        raise UsageError(str(exc)) from None


def _settings(args: argparse.Namespace) -> Any:
    from stacks.settings import SettingsError, load_settings_file

    try:
        return load_settings_file(args.config)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None


def render_audit_table(report: dict[str, Any]) -> str:
    rows = [("ENDPOINT", "VERDICT", "VARIANTS", "FIRST REASON")]
    for ep in report["endpoints"]:
        variants = ",".join(f"{v['variant_name']}({v['kind'][0]})" for v in ep["variants"]) or "-"
        reason = ep["reasons"][0] if ep["reasons"] else ""
        rows.append((ep["endpoint_name"], ep["verdict"], variants, reason[:100] + ("..." if len(reason) > 100 else "")))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip() for r in rows]
    s = report["summary"]
    lines.append("")
    lines.append(
        f"{s['total']} endpoints: {s['compliant']} compliant, {s['violations']} violations, "
        f"{s['exempt']} exempt, {s['errors']} errors"
    )
    return "\n".join(lines)


def cmd_audit(args: argparse.Namespace) -> int:
    from adapters.organizations import ou_ancestors
    from adapters.sagemaker import SageMakerLineageReader
    from governance.audit import EndpointAuditor, summarize
    from governance.lineage import ExemptionPolicy

    settings = _settings(args)
    aws = _aws(args)
    try:
        region = aws.region
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    ex = settings.experiment_exemptions
    auditor = EndpointAuditor(
        SageMakerLineageReader(aws.client("sagemaker")),
        aws.account_id(),
        region,
        ExemptionPolicy(ex.endpoint_name_prefix, frozenset(ex.account_ids), frozenset(ex.organizational_unit_ids)),
        ou_resolver=lambda account: ou_ancestors(aws.client("organizations"), account),
    )
    if args.format == "table" and not args.endpoint:
        print(f"Auditing every endpoint in {auditor.account_id}/{region} ...", file=sys.stderr)
    report = summarize(auditor.audit_many(args.endpoint))
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(render_audit_table(report))
    s = report["summary"]
    return EXIT_VIOLATIONS if s["violations"] or s["errors"] else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage line
        return EXIT_USAGE if exc.code else EXIT_OK
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"mlgov: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mlgov: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        if isinstance(exc, NoCredentialsError):
            print("mlgov: error: no AWS credentials found (set a profile or AWS_* variables)", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(exc, (ClientError, BotoCoreError)):
            print(f"mlgov: error: AWS call failed: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        print(f"mlgov: unexpected failure: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
