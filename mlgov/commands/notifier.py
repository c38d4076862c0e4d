"""`mlgov notify send|test|redrive`: the notifier's routing, retry and de-duplication from a shell."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from typing import Any

from mlgov.commands import common

CHANNELS = ("slack", "jira", "page")


def _read_finding(path: Path) -> dict[str, Any]:
    from mlgov_runtime.notifier.logic import InvalidFinding, validate_finding

    text = common.read_text(path, "finding")
    try:
        return validate_finding(json.loads(text))
    except json.JSONDecodeError as exc:
        raise common.UsageError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise common.UsageError(f"{path}: JSON nested too deeply") from None
    except InvalidFinding as exc:
        raise common.UsageError(f"{path}: {exc}") from None


JIRA_ENV = ("MLGOV_JIRA_URL", "MLGOV_JIRA_USER", "MLGOV_JIRA_TOKEN", "MLGOV_JIRA_PROJECT")


CHANNEL_ENV = {"slack": "MLGOV_SLACK_WEBHOOK_URL", "jira": ", ".join(JIRA_ENV), "page": "MLGOV_PAGE_TOPIC_ARN"}


def _unset(channel: str) -> str:
    """The channel's variables that are not set (all of them when each is): what the user has left to set."""
    import os

    names = JIRA_ENV if channel == "jira" else (CHANNEL_ENV[channel],)
    unset = [name for name in names if not os.environ.get(name)]
    return ", ".join(unset or names)


def _env_value(name: str, pattern: str, what: str) -> str:
    import os
    import re

    value = os.environ.get(name, "")
    if value and not re.fullmatch(pattern, value):
        raise common.UsageError(f"environment variable {name}: {common.one_line(value, 80)!r} is not {what}")
    return value


def _channels_from_env(args: argparse.Namespace) -> dict[str, Any]:
    """Outside Lambda, credentials come from the environment (CONTRACTS.md)."""
    import os

    from mlgov_runtime.adapters.http import HttpClient
    from mlgov_runtime.adapters.notifiers import JiraProject, PageTopic, SlackWebhooks

    # Nothing retries a CLI delivery for the user: a refused-for-now one says to run the command again.
    http = HttpClient(later="a rerun of this mlgov command once that wait has passed")
    env = os.environ
    channels: dict[str, Any] = {}
    for name in ("MLGOV_SLACK_WEBHOOK_URL", "MLGOV_JIRA_URL"):
        if env.get(name):
            try:
                common.http_url(env[name])
            except argparse.ArgumentTypeError as exc:
                raise common.UsageError(f"environment variable {name}: {exc}") from None
    project = _env_value("MLGOV_JIRA_PROJECT", r"[A-Z][A-Z0-9]{1,9}", "a Jira project key (e.g. MLGOV)")
    topic = _env_value("MLGOV_PAGE_TOPIC_ARN", r"arn:aws[a-z-]*:sns:[\w-]+:\d{12}:[\w-]+", "an SNS topic ARN")
    if env.get("MLGOV_SLACK_WEBHOOK_URL"):
        channels["slack"] = _AnyTarget(SlackWebhooks({"*": env["MLGOV_SLACK_WEBHOOK_URL"]}, http))
    if all(env.get(k) for k in JIRA_ENV):
        channels["jira"] = JiraProject(
            env["MLGOV_JIRA_URL"], env["MLGOV_JIRA_USER"], env["MLGOV_JIRA_TOKEN"], project, http
        )
    if topic:
        channels["page"] = _CliPageTopic(PageTopic(lambda: common.aws_context(args).client("sns"), topic), topic)
    return channels


class _CliPageTopic:
    """A topic that does not exist (or refuses this caller) is a configuration error: retrying changes
    nothing, so it is a refusal (exit 2) naming the variable, not a failure that may work later."""

    GONE = ("NotFound", "NotFoundException", "InvalidParameter", "InvalidParameterException")
    DENIED = ("AuthorizationError", "AuthorizationErrorException", "AccessDenied", "KMSAccessDenied")

    def __init__(self, page: Any, topic: str) -> None:
        self._page, self._topic = page, topic

    def send(self, finding: dict[str, Any], target: str | None = None) -> str:
        from botocore.exceptions import ClientError

        from mlgov_runtime.adapters.http import DeliveryError

        try:
            return str(self._page.send(finding, target))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code") or "")
            if code in self.GONE:
                why = f"MLGOV_PAGE_TOPIC_ARN names topic {self._topic}, which does not exist there ({code})"
            elif code in self.DENIED:
                why = f"this caller may not publish to MLGOV_PAGE_TOPIC_ARN {self._topic} ({code})"
            else:
                raise
            raise DeliveryError(
                f"{why}: set it to the stack's page topic (--region/--profile for another account or region)",
                objection=code,
            ) from None


class _AnyTarget:
    """The CLI has one webhook: every Slack route target goes to it."""

    def __init__(self, slack: Any) -> None:
        self._slack = slack

    def send(self, finding: dict[str, Any], target: str) -> str:
        return str(self._slack.send(finding, "*")).replace("*", target)


def _deliver(args: argparse.Namespace, finding: dict[str, Any], wanted: Sequence[str] | None) -> int:
    from datetime import datetime

    from mlgov.ops.notify_state import MemoryState
    from mlgov.settings import routing_policy
    from mlgov_runtime.core.routing import Delivery
    from mlgov_runtime.notifier.logic import deliver_finding

    policy = routing_policy(common.load_settings(args))
    channels = _channels_from_env(args)
    if "jira" in channels:  # the project the CLI really uses is MLGOV_JIRA_PROJECT: name that one
        policy = replace(policy, jira_project_key=channels["jira"].project_key)
    if wanted:
        missing = [c for c in wanted if c not in channels]
        if missing:
            raise common.UsageError(f"channel {missing[0]} is not configured: set {_unset(missing[0])}")
        routed = policy.deliveries(finding)
        deliveries = [d for d in routed if d.channel in wanted]
        default_target = {"slack": "webhook", "jira": policy.jira_project_key, "page": "on-call"}
        deliveries += [Delivery(c, default_target[c]) for c in wanted if c not in {d.channel for d in deliveries}]
    else:
        if not channels:
            raise common.UsageError(
                "no channel configured: set MLGOV_SLACK_WEBHOOK_URL, MLGOV_JIRA_* or MLGOV_PAGE_TOPIC_ARN"
            )
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
            if key not in report.failed and key not in report.rejected:
                print(f"{key:<40} {outcome}")
    # Failures on stderr, one line: refused (fix the configuration) exits 2, still failing exits 1.
    problems = report.rejected + report.failed
    if problems:
        detail = "; ".join(f"{key} {report.outcomes[key]}" for key in problems)
        detail = common.one_line(detail, 2000)
        print(f"mlgov: error: {len(problems)} of {len(report.outcomes)} deliveries failed: {detail}", file=sys.stderr)
    return common.EXIT_USAGE if report.rejected else common.EXIT_FAILURE if report.failed else common.EXIT_OK


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


def _check_queue(sqs: Any, url: str, option: str) -> None:
    """A queue URL that names no queue is the caller's mistake (exit 2), found before anything moves."""
    from botocore.exceptions import ClientError

    try:
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if any(k in code for k in ("NonExistentQueue", "QueueDoesNotExist", "InvalidAddress", "InvalidParameter")):
            raise common.UsageError(
                f"{option} {url}: no such queue in this account/region (list them: aws sqs list-queues "
                "--queue-name-prefix MlGovEndpointAudit)"
            ) from None
        raise


def _believed(patterns: list[str], args: argparse.Namespace) -> list[str]:
    """The producer patterns redrive believes: exact role ARNs (one role each), and patterns on the protected
    path only, as synth holds alert_routing.redrive_role_arns; a policy edited to name `role/*` believes no one
    new. Each pattern left out is named on stderr."""
    from mlgov_runtime.core.model import protected_path_problem

    path = common.load_settings(args).guardrails.protected_role_path
    believed = []
    for pattern in patterns:
        problem = protected_path_problem([pattern], path) if "*" in pattern or "?" in pattern else None
        if problem:
            print(
                f"mlgov: warning: the queue policy names {pattern}, off the protected path {path}: messages its "
                "roles sent are not moved (alert_routing.redrive_role_arns names roles on that path)",
                file=sys.stderr,
            )
        else:
            believed.append(pattern)
    return believed


def cmd_notify_redrive(args: argparse.Namespace) -> int:
    from mlgov.ops.redrive import RedriveOutcome, RedriveStopped, producer_role_patterns, redrive, role_ids

    session = common.aws_context(args)
    sqs = session.client("sqs")
    _check_queue(sqs, args.dlq_url, "--dlq-url")
    _check_queue(sqs, args.queue_url, "--queue-url")
    if args.dlq_url == args.queue_url:
        raise common.UsageError(
            "--dlq-url and --queue-url name the same queue; redrive moves from the DLQ to the queue"
        )
    # Who may have put a message there: the roles the queues' own policies name (the notifier parks,
    # the redrive roles resend), plus the sender ids the operator vouches for.
    patterns = _believed(producer_role_patterns(sqs, [args.dlq_url, args.queue_url]), args)
    senders = role_ids(session.client("iam"), patterns) if patterns else {}
    senders.update({sender: "--allow-sender" for sender in args.allow_sender or []})
    if not senders:
        raise common.UsageError(
            f"cannot tell who may send to {args.dlq_url}: its policy names no producer role (is it the notifier's "
            "dead-letter queue?); `aws sqs receive-message"
            + (f" --region {args.region}" if args.region else "")
            + f" --queue-url {args.dlq_url} --max-number-of-messages 10 --visibility-timeout 0 "
            "--message-system-attribute-names SenderId --query 'Messages[].Attributes.SenderId' --output text` "
            "prints the senders waiting there: rerun with --allow-sender and each one you trust"
        )

    def progress(moved: int) -> None:
        if moved % 10 == 0:
            print(f"moved {moved} ...", file=sys.stderr)

    outcome = RedriveOutcome()
    try:
        moved = redrive(sqs, args.dlq_url, args.queue_url, args.limit, progress, senders=senders, outcome=outcome)
    except RedriveStopped as stop:
        print(_stopped(stop), file=sys.stderr)
        _print_kept(args, outcome, senders)
        return common.EXIT_FAILURE
    kept = [{"message_id": k.message_id, "sender_id": k.sender_id, "why": k.why} for k in outcome.kept]
    if args.format == "json":
        print(json.dumps({"moved": moved, "kept": kept}))
    else:
        print(f"moved {moved} message(s) from the dead-letter queue back to the notifier queue")
    _print_kept(args, outcome, senders)
    return common.EXIT_VIOLATIONS if outcome.kept else common.EXIT_OK


def _stopped(stop: Any) -> str:
    """One line: what moved before the failed call, where the message it was about is now, and why running the
    command again is safe (a message goes back with the id it started as, which the notifier de-duplicates on)."""
    from mlgov_runtime.adapters.errors import error_text

    where = {
        "SendMessage": (
            f"message {stop.in_flight} may have been sent back (the answer was lost, not refused): it may be in "
            "both queues"
            if stop.maybe_sent
            else f"message {stop.in_flight} was not sent back: it is still in the dead-letter queue only"
        ),
        "DeleteMessage": f"1 message ({stop.in_flight}) was sent back to the notifier queue but is still in the "
        "dead-letter queue too",
        "ReceiveMessage": "no message was in flight",
        "ChangeMessageVisibility": "every trusted message was moved; the kept ones stay hidden in the dead-letter "
        "queue until its visibility timeout ends",
    }[stop.step]
    return (
        f"mlgov: error: redrive stopped: {stop.step} failed ({common.one_line(error_text(stop.cause))}); moved "
        f"{stop.outcome.moved} message(s) and kept {len(stop.outcome.kept)} before it; {where}. Running the command "
        "again (once throttling passes or the permission is granted) is safe: each message goes back with the "
        "mlgov_message_id it started as, and the notifier skips the targets that id already reached (a message "
        "the failure left hidden in the dead-letter queue moves once its visibility timeout ends)"
    )


def _print_kept(args: argparse.Namespace, outcome: Any, senders: dict[str, str]) -> None:
    for k in outcome.kept:
        print(
            f"mlgov: kept message {k.message_id} in the dead-letter queue: sent by {k.sender_id}, {k.why} "
            f"({', '.join(sorted(set(senders.values())))}). Inspect it (aws sqs receive-message --queue-url "
            f"{args.dlq_url} --message-system-attribute-names SenderId); if that sender is trusted, rerun with "
            f"--allow-sender {k.sender_id}, else delete it.",
            file=sys.stderr,
        )


def register(sub: Any) -> None:
    notify_sub = common.command_group(sub, "notify", "deliver findings to Slack, Jira or the on-call page topic")
    send = common.command(
        notify_sub,
        "send",
        cmd_notify_send,
        help="deliver one finding (a JSON file; its keys: docs/notifications.md, Findings)",
    )
    send.add_argument("--finding-file", type=Path, required=True, help="finding JSON; - for stdin")
    send.add_argument("--channel", choices=CHANNELS, action="append", help="default: every configured channel")
    test = common.command(notify_sub, "test", cmd_notify_test, help="send a sample finding to one channel")
    test.add_argument("--channel", choices=CHANNELS, required=True)
    redrive = common.command(
        notify_sub, "redrive", cmd_notify_redrive, help="move undelivered findings from the notifier DLQ back"
    )
    redrive.add_argument("--dlq-url", type=common.http_url, required=True, help="the notifier dead-letter queue URL")
    redrive.add_argument("--queue-url", type=common.http_url, required=True, help="the notifier queue URL")
    redrive.add_argument("--limit", type=common.positive_int, help="move at most this many messages")
    redrive.add_argument(
        "--allow-sender",
        action="append",
        metavar="SENDER_ID",
        help="also move messages with this SQS SenderId (or role id); default: only the roles the queues' "
        "policies name as producers",
    )
