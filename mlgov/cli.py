"""`mlgov`: ad-hoc audits and operations, on the same code the Lambdas run.

Exit codes: 0 no violations, 3 violations found, 2 usage/configuration error, 1 unexpected failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_VIOLATIONS = 0, 1, 2, 3
CHANNELS = ("slack", "jira", "page")


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

    notify = sub.add_parser("notify", help="deliver findings to Slack, Jira or the on-call page topic")
    notify_sub = notify.add_subparsers(dest="notify_command", required=True)
    send = notify_sub.add_parser("send", help="deliver one finding (JSON file, CONTRACTS.md shape)")
    _aws_options(send)
    send.add_argument("--finding-file", type=Path, required=True, help="finding JSON; - for stdin")
    send.add_argument("--channel", choices=CHANNELS, action="append", help="default: every configured channel")
    send.set_defaults(func=cmd_notify_send)
    test = notify_sub.add_parser("test", help="send a sample finding to one channel")
    _aws_options(test)
    test.add_argument("--channel", choices=CHANNELS, required=True)
    test.set_defaults(func=cmd_notify_test)
    redrive = notify_sub.add_parser("redrive", help="move undelivered findings from the notifier DLQ back")
    _aws_options(redrive)
    redrive.add_argument("--dlq-url", required=True, help="the notifier dead-letter queue URL")
    redrive.add_argument("--queue-url", required=True, help="the notifier queue URL")
    redrive.add_argument("--limit", type=int, help="move at most this many messages")
    redrive.set_defaults(func=cmd_notify_redrive)

    coverage = sub.add_parser("coverage", help="catalog coverage gap of a training snapshot")
    _aws_options(coverage)
    coverage.add_argument("--catalog-table", required=True, help="DynamoDB catalog table (title_id key)")
    coverage.add_argument("--snapshot-uri", required=True, help="s3://bucket/catalog-snapshots/DATE/training.jsonl")
    coverage.set_defaults(func=cmd_coverage)

    register = sub.add_parser("register", help="register a model package with the required metadata")
    _aws_options(register)
    register.add_argument("--group", required=True, help="model package group")
    register.add_argument(
        "--metadata-file",
        type=Path,
        required=True,
        help="JSON with the registration metadata (README: 'Registration metadata'); - for stdin",
    )
    register.add_argument("--model-data-url", required=True, help="s3:// URI of the model artifact")
    register.add_argument("--image", required=True, help="inference container image URI")
    register.add_argument("--description", default="", help="package description")
    register.set_defaults(func=cmd_register)

    from mlgov.guardrails_cli import add_parser as add_guardrails

    add_guardrails(sub, _aws_options)
    return parser


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
    from mlgov_runtime.adapters.organizations import ou_ancestors
    from mlgov_runtime.adapters.sagemaker import SageMakerLineageReader
    from mlgov_runtime.lineage_audit.audit import EndpointAuditor, summarize
    from mlgov_runtime.lineage_audit.logic import ExemptionPolicy

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


def _read_finding(path: Path) -> dict[str, Any]:
    from mlgov_runtime.notifier.logic import InvalidFinding, validate_finding

    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        return validate_finding(json.loads(text))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except InvalidFinding as exc:
        raise UsageError(f"{path}: {exc}") from None


JIRA_ENV = ("MLGOV_JIRA_URL", "MLGOV_JIRA_USER", "MLGOV_JIRA_TOKEN", "MLGOV_JIRA_PROJECT")
CHANNEL_ENV = {"slack": "MLGOV_SLACK_WEBHOOK_URL", "jira": ", ".join(JIRA_ENV), "page": "MLGOV_PAGE_TOPIC_ARN"}


def _channels_from_env(args: argparse.Namespace) -> dict[str, Any]:
    """Outside Lambda, credentials come from the environment (CONTRACTS.md)."""
    import os

    from mlgov_runtime.adapters.http import HttpClient
    from mlgov_runtime.adapters.notifiers import JiraProject, PageTopic, SlackWebhooks

    http = HttpClient()
    env = os.environ
    channels: dict[str, Any] = {}
    if env.get("MLGOV_SLACK_WEBHOOK_URL"):
        channels["slack"] = _AnyTarget(SlackWebhooks({"*": env["MLGOV_SLACK_WEBHOOK_URL"]}, http))
    if all(env.get(k) for k in JIRA_ENV):
        channels["jira"] = JiraProject(
            env["MLGOV_JIRA_URL"], env["MLGOV_JIRA_USER"], env["MLGOV_JIRA_TOKEN"], env["MLGOV_JIRA_PROJECT"], http
        )
    if env.get("MLGOV_PAGE_TOPIC_ARN"):
        channels["page"] = PageTopic(lambda: _aws(args).client("sns"), env["MLGOV_PAGE_TOPIC_ARN"])
    return channels


class _AnyTarget:
    """The CLI has one webhook: every Slack route target goes to it."""

    def __init__(self, slack: Any) -> None:
        self._slack = slack

    def send(self, finding: dict[str, Any], target: str) -> str:
        return str(self._slack.send(finding, "*")).replace("*", target)


def _deliver(args: argparse.Namespace, finding: dict[str, Any], wanted: Sequence[str] | None) -> int:
    from datetime import datetime

    from mlgov.settings import routing_policy
    from mlgov_runtime.core.routing import Delivery
    from mlgov_runtime.notifier.logic import MemoryState, deliver_finding

    policy = routing_policy(_settings(args))
    channels = _channels_from_env(args)
    if wanted:
        missing = [c for c in wanted if c not in channels]
        if missing:
            raise UsageError(f"channel {missing[0]} is not configured: set {CHANNEL_ENV[missing[0]]}")
        routed = policy.deliveries(finding)
        deliveries = [d for d in routed if d.channel in wanted]
        deliveries += [Delivery(c, c) for c in wanted if c not in {d.channel for d in deliveries}]
    else:
        if not channels:
            raise UsageError("no channel configured: set MLGOV_SLACK_WEBHOOK_URL, MLGOV_JIRA_* or MLGOV_PAGE_TOPIC_ARN")
        deliveries = [d for d in policy.deliveries(finding) if d.channel in channels]
    report = deliver_finding(
        finding, deliveries, channels, MemoryState(), policy, f"cli-{finding['finding_id']}", datetime.now(UTC)
    )
    if args.format == "json":
        print(json.dumps({"finding_id": finding["finding_id"], "deliveries": report.outcomes}, indent=2))
    else:
        if not report.outcomes:
            print("no route sends this finding anywhere (see alert_routing.routes)")
        for key, outcome in report.outcomes.items():
            print(f"{key:<40} {outcome}")
    return EXIT_FAILURE if report.failed else EXIT_OK


def cmd_notify_send(args: argparse.Namespace) -> int:
    return _deliver(args, _read_finding(args.finding_file), args.channel)


def sample_finding() -> dict[str, Any]:
    from mlgov_runtime.core.findings import Finding

    return Finding(
        kind="UNREGISTERED_ENDPOINT",
        severity="HIGH",
        account_id="123456789012",
        region="us-east-1",
        resource_arn="arn:aws:sagemaker:us-east-1:123456789012:endpoint/mlgov-notification-test",
        title="mlgov notification test: endpoint mlgov-notification-test (sample, no action needed)",
        detail="A sample finding sent by `mlgov notify test` to check this channel's configuration.",
        source="cli",
        evidence={"sample": True},
    ).to_dict()


def cmd_notify_test(args: argparse.Namespace) -> int:
    return _deliver(args, sample_finding(), [args.channel])


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


def cmd_coverage(args: argparse.Namespace) -> int:
    from mlgov_runtime.adapters.catalog import (
        CatalogUnavailable,
        SnapshotUnreadable,
        catalog_title_ids,
        parse_s3_uri,
        snapshot_chunks,
    )
    from mlgov_runtime.coverage.logic import CoverageThresholds, SnapshotFormatError, coverage_gap, title_id_batches

    try:
        parse_s3_uri(args.snapshot_uri)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    t = _settings(args).thresholds
    aws = _aws(args)
    # Progress goes to stderr: for people (table output, or a terminal), never into the JSON.
    progress = ReadProgress(enabled=args.format == "table" or sys.stderr.isatty())
    try:
        progress.say(f"reading catalog {args.catalog_table} ...")
        catalog = catalog_title_ids(aws.client("dynamodb"), args.catalog_table, progress=progress.titles)
        progress.say(f"catalog: {len(catalog):,} titles; streaming {args.snapshot_uri} ...")
        report = coverage_gap(
            catalog,
            title_id_batches(snapshot_chunks(aws.client("s3"), args.snapshot_uri, progress=progress.bytes)),
            CoverageThresholds(t.coverage_gap_alert_pct, t.coverage_gap_page_pct),
        )
    except (SnapshotUnreadable, SnapshotFormatError, CatalogUnavailable) as exc:
        raise UsageError(str(exc)) from None
    body = report.to_dict()
    if args.format == "json":
        print(json.dumps(body, indent=2))
    else:
        print(f"catalog titles   {report.catalog_titles}")
        print(f"snapshot titles  {report.snapshot_titles} ({report.orphan_titles} no longer in the catalog)")
        print(f"gap              {report.gap_titles} titles = {report.coverage_gap_pct}%")
        print(
            f"action           {report.action} (alert > {t.coverage_gap_alert_pct}%, "
            f"retrain and page > {t.coverage_gap_page_pct}%)"
        )
        if report.gap_title_sample:
            print(f"gap sample       {', '.join(report.gap_title_sample[:10])}")
    return EXIT_OK if report.action == "none" else EXIT_VIOLATIONS


def cmd_register(args: argparse.Namespace) -> int:
    from mlgov_runtime.retraining.registration import InvalidRegistration, RegistrationMetadata

    try:
        text = sys.stdin.read() if str(args.metadata_file) == "-" else args.metadata_file.read_text(encoding="utf-8")
        data = json.loads(text)
    except OSError as exc:
        raise UsageError(f"cannot read {args.metadata_file}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{args.metadata_file}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{args.metadata_file}: registration metadata is a JSON object")
    try:
        metadata = RegistrationMetadata.from_mapping(data).customer_metadata()
    except InvalidRegistration as exc:
        raise UsageError(f"refused: {exc}") from None
    if not args.model_data_url.startswith("s3://"):
        raise UsageError("--model-data-url is not an s3:// URI")
    answer = (
        _aws(args)
        .client("sagemaker")
        .create_model_package(
            ModelPackageGroupName=args.group,
            ModelPackageDescription=args.description or f"catalog snapshot {metadata['catalog_snapshot_date']}",
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": args.image, "ModelDataUrl": args.model_data_url}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            CustomerMetadataProperties=metadata,
        )
    )
    arn = answer["ModelPackageArn"]
    if args.format == "json":
        print(json.dumps({"model_package_arn": arn, "approval_status": "PendingManualApproval"}))
    else:
        print(f"registered {arn} (PendingManualApproval; an approver role approves it)")
    return EXIT_OK


def cmd_notify_redrive(args: argparse.Namespace) -> int:
    from mlgov_runtime.adapters.redrive import redrive

    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    sqs = _aws(args).client("sqs")

    def progress(moved: int) -> None:
        if moved % 10 == 0:
            print(f"moved {moved} ...", file=sys.stderr)

    moved = redrive(sqs, args.dlq_url, args.queue_url, args.limit, progress)
    if args.format == "json":
        print(json.dumps({"moved": moved}))
    else:
        print(f"moved {moved} message(s) from the dead-letter queue back to the notifier queue")
    return EXIT_OK


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
