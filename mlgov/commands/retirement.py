"""`mlgov retire`: stale endpoints, and their retirement with a human approval and a live check.

audit     the monthly audit's verdicts now (nothing stored or published); exit 3 when a stale endpoint
          still takes traffic (or an endpoint could not be checked); --costs adds hosting cost by purpose
request   start the deletion state machine for a retirement candidate; it waits for approval
approve   approve a request by its id through the approval service (signed as you; the live check still
          runs right before deleting)
deny      deny it: keep the endpoint
cancel    close an open retirement and tag the endpoint active again
recreate  re-create a retired endpoint from its kept endpoint config (the bridge for late clients)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any, NoReturn

from mlgov.commands import common

TABLE_ENV = "MLGOV_FINDINGS_TABLE"
TOPIC_ENV = "MLGOV_FINDINGS_TOPIC_ARN"
APPROVAL_URL_ENV = "MLGOV_APPROVAL_URL"


def _context(args: argparse.Namespace) -> tuple[Any, Any, str, str]:
    from mlgov.ops.sent_settings import policy_from_env, retirement_environment

    settings = common.load_settings(args)
    policy = policy_from_env(retirement_environment(settings))
    aws = common.aws_context(args)
    try:
        region = aws.region
    except ValueError as exc:
        raise common.UsageError(str(exc)) from None
    return aws, policy, aws.account_id(), region


def _ports(aws: Any) -> tuple[Any, Any]:
    from mlgov_runtime.adapters.cloudwatch import CloudWatchMetrics
    from mlgov_runtime.retirement.endpoint_retirement import EndpointMetrics, SageMakerEndpoints

    return SageMakerEndpoints(aws.client("sagemaker")), EndpointMetrics(CloudWatchMetrics(aws.client("cloudwatch")))


def _caller(aws: Any) -> str:
    return str(aws.client("sts").get_caller_identity()["Arn"])


def _emit(args: argparse.Namespace, body: dict[str, Any], lines: list[str]) -> None:
    if args.format == "json":
        print(json.dumps(body, indent=2))
    else:
        print("\n".join(lines))


def render_table(report: dict[str, Any], policy: Any = None, named: bool = False) -> str:
    head = ("ENDPOINT", "VERDICT", "INVOCATIONS_24H", "SERVES", "CURRENT", "PURPOSE", "USD/MONTH")
    rows = [head]
    for ep in report["endpoints"]:
        cost = ep["monthly_cost_usd"]
        rows.append(
            (
                ep["endpoint_name"],
                ep["verdict"],
                "-" if ep["invocations_24h"] is None else f"{ep['invocations_24h']:,}",
                ",".join(ep["served_versions"]) or "-",
                ",".join(ep["current_versions"]) or "-",
                ep["purpose"] or "(none)",
                "?" if cost is None else f"{cost:,.0f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    for ep in report["endpoints"]:
        if ep["verdict"] != "CURRENT" or ep["purpose_problem"] or ep.get("judged_from"):
            lines.append(f"  {ep['endpoint_name']}: {' '.join(ep['reasons'])}")
            if ep["purpose_problem"]:
                lines.append(f"    purpose tag: {ep['purpose_problem']}")
            lines.append(f"    next: {ep['next_step']}")
    for ep in report["endpoints"]:
        quiet = ep.get("cutover")
        if quiet:
            lines.append(f"  {ep['endpoint_name']}: after its cut-over: {quiet['status']}: {quiet['reason']}")
            if quiet["hours"]:
                hourly = " ".join("-" if h["invocations"] is None else str(h["invocations"]) for h in quiet["hours"])
                lines.append(f"    invocations by hour from {quiet['hours'][0]['hour'][:13]}h (- = no data): {hourly}")
            lines.append(f"    next: {quiet['fix']}")
    s = report["summary"]
    lines.append(
        # An endpoint named with --endpoint is checked whether or not the audit watches it.
        f"{common.count(s['total'], 'named endpoint' if named else 'watched endpoint')}: {s['current']} current, "
        f"{s['stale_active']} stale with traffic, {common.count(s['retirement_candidates'], 'retirement candidate')}, "
        f"{common.count(s['errors'], 'error')} ({s['not_watched']} not watched)"
    )
    if s["not_watched"] and policy is not None:
        lines.append(f"  not watched: {watched_rule(policy)}")
    return "\n".join(lines)


def watched_rule(policy: Any) -> str:
    """What makes an endpoint watched: "(N not watched)" alone leaves a user with nothing to act on."""
    values = "|".join(sorted(policy.watch_tag_values)) or "(none set)"
    prefixes = ", ".join(policy.name_prefixes) or "(none set)"
    return (
        f"the audit watches InService endpoints tagged {policy.watch_tag_key}={values} or named with a prefix in "
        f"{prefixes} (settings retirement.managed_by_values, retirement.endpoint_name_prefixes); "
        "`mlgov retire audit --endpoint NAME` checks one by name"
    )


def cmd_audit(args: argparse.Namespace) -> int:
    from mlgov_runtime.retirement.audit import run_stale_audit

    aws, policy, account, region = _context(args)
    common.require_endpoints(aws.client("sagemaker"), args.endpoint, account, region)
    endpoints, counter = _ports(aws)
    if args.format == "table" and not args.endpoint:
        print(f"Checking watched InService endpoints in {account}/{region} ...", file=sys.stderr)
    cutover_at = _moment(args.cutover_at) if args.cutover_at else None
    if cutover_at is not None and not args.endpoint:
        raise common.UsageError("--cutover-at needs --endpoint: it states when the named old endpoint was cut over")
    if args.grace_hours is not None and not 0 <= args.grace_hours <= 336:
        raise common.UsageError(f"--grace-hours {args.grace_hours:g} is not in 0..336")
    run = run_stale_audit(
        endpoints,
        counter,
        None,
        policy,
        datetime.now(UTC),
        account,
        region,
        source="cli",
        names=args.endpoint,
        quiet=counter,
        cutover_at=cutover_at,
        grace_hours=args.grace_hours,
    )
    verdicts = [c.verdict.value for c in run.checks]
    summary = {
        "total": len(verdicts),
        "current": verdicts.count("CURRENT"),
        "stale_active": verdicts.count("STALE_ENDPOINT_ACTIVE"),
        "retirement_candidates": verdicts.count("RETIREMENT_CANDIDATE"),
        "errors": verdicts.count("ERROR"),
        "not_watched": run.skipped,
    }
    report: dict[str, Any] = {"endpoints": [c.to_dict() for c in run.checks], "summary": summary}
    lines = [render_table(report, policy, named=bool(args.endpoint))]
    if args.costs:
        from mlgov_runtime.adapters.cost_explorer import weekly_purpose_costs
        from mlgov_runtime.retirement.costs import render_lines

        # Cost Explorer is served from us-east-1 and billed per request: one request per run.
        ce = aws.client_in("ce", "us-east-1")
        report["costs_by_purpose"] = weekly_purpose_costs(ce, policy.purpose_tag_key, datetime.now(UTC).date())
        lines += render_lines(report["costs_by_purpose"])
    if args.went_quiet:
        gate = went_quiet_gate(run.checks, bool(args.endpoint))
        report["went_quiet"] = gate
        lines.append(gate["line"])
        _emit(args, report, lines)
        return common.EXIT_OK if gate["passed"] else common.EXIT_VIOLATIONS
    _emit(args, report, lines)
    return common.EXIT_VIOLATIONS if summary["stale_active"] or summary["errors"] else common.EXIT_OK


def _moment(text: str) -> datetime:
    try:
        moment = common.aware_time(text)
    except argparse.ArgumentTypeError as exc:
        raise common.UsageError(f"--cutover-at {exc}") from None
    if moment > datetime.now(UTC):
        raise common.UsageError(f"--cutover-at {text!r} is in the future")
    return moment.astimezone(UTC)


def went_quiet_gate(checks: list[Any], named: bool) -> dict[str, Any]:
    """The deployment's last step: every cut-over endpoint is QUIET. Still called, no data, not yet due or
    unreadable fail it; so does a named endpoint with no cut-over to check (it may still be the live one)."""
    rows, failed = [], []
    for check in checks:
        quiet = check.cutover or {}
        status = quiet.get("status") or ("ERROR" if check.verdict.value == "ERROR" else "NO_CUTOVER")
        rows.append({"endpoint_name": check.endpoint_name, "status": status})
        if status != "QUIET" and (named or status != "NO_CUTOVER"):
            failed.append(f"{check.endpoint_name} {status}")
    passed = not failed and any(r["status"] == "QUIET" for r in rows)
    if passed:
        line = f"went-quiet gate: passed ({len(rows)} checked)"
    elif not failed:
        line = "went-quiet gate: failed: no cut-over endpoint to check (name it with --endpoint and --cutover-at)"
    else:
        line = f"went-quiet gate: failed: {', '.join(failed)}"
    return {"passed": passed, "endpoints": rows, "line": line}


def cmd_request(args: argparse.Namespace) -> int:
    from mlgov.ops.retirement_check import check_endpoint
    from mlgov_runtime.retirement.logic import EndpointGone, Verdict

    aws, policy, account, region = _context(args)
    endpoints, counter = _ports(aws)
    name = args.endpoint
    try:
        check = check_endpoint(name, endpoints, counter, policy, datetime.now(UTC), account, region)
    except EndpointGone:
        hint = common.endpoint_hint(aws.client("sagemaker"), name, region)
        raise common.UsageError(f"endpoint {name} does not exist in {account}/{region}{hint}") from None
    if check.verdict is not Verdict.RETIREMENT_CANDIDATE:
        # One line: the problem, then what to do (as every refusal of the CLI).
        said = " ".join(r if r.rstrip().endswith((".", "!", "?")) else f"{r.rstrip()}." for r in check.reasons)
        why = common.one_line(f"{said} Next: {check.next_step}", 1000, keep_end=True)
        # Younger than the window: judged CURRENT (not yet a candidate), though it may not serve the current version.
        what = "not yet a retirement candidate" if check.judged_from else check.verdict.value
        print(f"mlgov: error: refused: {name} is {what}: {why}", file=sys.stderr)
        return common.EXIT_USAGE if check.verdict is Verdict.CURRENT else common.EXIT_VIOLATIONS
    # The approval service opens the request for the caller STS verifies and starts the execution itself:
    # a request started any other way has no verified requester and can never be approved.
    url = _approval_url(args)
    status, started = signed_post(aws, url, {"action": "request", "endpoint_name": name, "reason": args.reason})
    if status != 200:
        _refused(status, started)
    _expect(url, started, ("execution_arn", "request_id", "requested_by"))
    body = {
        "endpoint_name": name,
        "verdict": check.verdict.value,
        "invocations_24h": check.invocations_24h,
        "execution_arn": started["execution_arn"],
        "status": "requested",
        "request_id": started["request_id"],
        "requested_by": started["requested_by"],
    }
    _emit(
        args,
        body,
        [
            f"Deletion of {name} requested by {started['requested_by']}: {started['execution_arn']}",
            "It waits for approval (another approver than you):",
            f"`mlgov retire approve --request {started['request_id']}` or",
            f"`mlgov retire deny --request {started['request_id']} --reason TEXT`. Right before deleting,",
            f"a live check of the last {policy.safety_window_hours} h of invocations aborts if anything called it.",
        ],
    )
    return common.EXIT_OK


def _approval_url(args: argparse.Namespace) -> str:
    url = args.approval_url or os.environ.get(APPROVAL_URL_ENV)
    if not url:
        raise common.UsageError(f"pass --approval-url (the stack output ApprovalServiceUrl) or set {APPROVAL_URL_ENV}")
    if not re.fullmatch(r"https://[\w.-]+/?|http://127\.0\.0\.1:\d+/?", url):
        raise common.UsageError(f"{url!r} is not the approval service's https URL")
    return str(url)


def _service_region(url: str, fallback: str) -> str:
    match = re.fullmatch(r"https://[\w-]+\.lambda-url\.([a-z0-9-]+)\.on\.aws/?", url)
    return match.group(1) if match else fallback


def signed_post(aws: Any, url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST to the approval service's function URL, signed with SigV4 by this session's credentials, with an
    identity proof: a presigned sts:GetCallerIdentity bound to this body and to the host of `url` (60 s), which
    the service sends to its own region's STS with its own URL's host: a proof made for another service (any
    URL someone hands you) decides nothing at this one. It records the principal STS answers, never a name
    sent in the body."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = aws.credentials()
    if credentials is None:
        raise common.UsageError("no AWS credentials: the approval is recorded as the signed caller")
    from mlgov.ops.identity_proof import presign
    from mlgov_runtime.approvals.identity import audience_of, binding

    frozen = credentials.get_frozen_credentials()
    region = _service_region(url, aws.region)
    sts_endpoint = str(aws.client_in("sts", region).meta.endpoint_url)
    audience = audience_of(url)
    if not audience:
        raise common.UsageError(f"{url!r} names no host for the identity proof to be made for")
    proof = presign(frozen, region, sts_endpoint, binding(body), audience)
    data = json.dumps({**body, "identity": proof}).encode()
    request = AWSRequest(method="POST", url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(frozen, "lambda", region).add_auth(request)
    outgoing = urllib.request.Request(url, data=data, headers=dict(request.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(outgoing, timeout=30) as response:
            status, text = int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        status, text = int(exc.code), exc.read()
    except urllib.error.URLError as exc:
        raise common.UsageError(
            f"approval service at {url} unreachable ({exc.reason}): nothing was recorded; pass --approval-url (or set "
            f"{APPROVAL_URL_ENV}) to the stack output ApprovalServiceUrl"
        ) from None
    try:
        answer = json.loads(text or b"{}")
    except ValueError:
        answer = {"error": text.decode("utf-8", "replace")[:300]}
    return status, answer if isinstance(answer, dict) else {"error": str(answer)[:300]}


def _answer(args: argparse.Namespace, approve: bool) -> int:
    if args.token:
        raise common.UsageError(
            "task tokens are no longer shown or accepted: pass --request ID (from the ENDPOINT_RETIRING "
            "finding); the approval service records you as the approver"
        )
    if not args.request:
        raise common.UsageError("pass --request ID (from the ENDPOINT_RETIRING finding)")
    answer, outcome = send_decision(
        args,
        approve,
        "the live invocation check runs now; the endpoint is deleted only if nothing called it",
        "the endpoint stays; its retirement stays open",
    )
    _emit(args, answer, [outcome])
    return common.EXIT_OK


def send_decision(
    args: argparse.Namespace, approve: bool, once_approved: str, once_denied: str
) -> tuple[dict[str, Any], str]:
    """The caller's approve or deny of request args.request, signed, through the approval service (which
    records the principal STS names): its answer and one line saying what happens next, or a usage error
    saying why it was refused."""
    if not re.fullmatch(r"rq-[0-9a-f]{20}", args.request):
        raise common.UsageError(f"{args.request!r} is not a request id (rq- and 20 hex digits, from the finding)")
    url = _approval_url(args)
    aws = common.aws_context(args)
    comment = args.comment if approve else args.reason
    body = {"request_id": args.request, "decision": "approve" if approve else "deny", "comment": comment}
    status, answer = signed_post(aws, url, body)
    if status == 502 and answer.get("error"):  # recorded, the waiting step not told: the error says what to run
        raise common.CommandFailed(common.one_line(str(answer["error"]), 1000, keep_end=True))
    if status != 200:
        _refused(status, answer)
    _expect(url, answer, ("status", "by", "channel"))
    then = once_approved if approve else once_denied
    if answer.get("gone"):
        then = (
            f"recorded, but Step Functions no longer waits on this request ({answer['gone']}): the request expired "
            "or its execution ended (or an earlier answer reached it after all); nothing further happens"
        )
        if approve and answer.get("decision") == "retirement":
            then += (
                f"; if {answer['subject']} is still there (`mlgov retire audit --endpoint {answer['subject']}`), "
                f"`mlgov retire request --endpoint {answer['subject']}` asks again"
            )
    elif not answer.get("answered", True):
        then = "recorded, but the request had already ended: nothing further happens"
    elif answer.get("again"):
        then = f"recorded at {answer['at']} and now delivered to the waiting step: {then}"
    return answer, f"{answer['status']} by {answer['by']} (via {answer['channel']}): {then}."


def _expect(url: str, answer: dict[str, Any], keys: tuple[str, ...]) -> None:
    """A 200 without the approval service's fields came from something else at that URL (a mistyped one)."""
    missing = [k for k in keys if k not in answer]
    if missing:
        got = common.one_line(json.dumps(answer)[:200], 200)
        raise common.UsageError(
            f"{url} answered 200 without {', '.join(missing)} ({got}): it is not the approval service, which "
            f"recorded nothing; pass --approval-url (or set {APPROVAL_URL_ENV}) to the stack output ApprovalServiceUrl"
        )


def _refused(status: int, answer: dict[str, Any]) -> NoReturn:
    if status in (400, 403, 404, 409):
        if "error" not in answer:  # Lambda's own refusal, before the service: the signature or IAM said no
            raise common.UsageError(
                f"refused by AWS ({answer.get('Message', status)}): your credentials need "
                "lambda:InvokeFunctionUrl on the approval service"
            )
        raise common.UsageError(f"refused: {answer['error']}")
    raise RuntimeError(f"approval service answered {status}: {answer.get('error', '')}")


def cmd_approve(args: argparse.Namespace) -> int:
    return _answer(args, approve=True)


def cmd_deny(args: argparse.Namespace) -> int:
    return _answer(args, approve=False)


def cmd_cancel(args: argparse.Namespace) -> int:
    from mlgov_runtime.adapters.findings_store import FindingsStore
    from mlgov_runtime.core.findings import store_and_publish
    from mlgov_runtime.retirement.audit import EndpointRef, open_retiring
    from mlgov_runtime.retirement.findings import KIND_RETIRING, closing, retiring_finding
    from mlgov_runtime.retirement.logic import EndpointGone, ReadFailure

    table = args.findings_table or os.environ.get(TABLE_ENV)
    topic = args.findings_topic_arn or os.environ.get(TOPIC_ENV)
    missing = [f"--findings-table (or {TABLE_ENV})"] * (not table) + [f"--findings-topic-arn (or {TOPIC_ENV})"] * (
        not topic
    )
    if missing:
        raise common.UsageError(f"pass {' and '.join(missing)}: the stack's findings table and topic")
    aws, policy, account, region = _context(args)
    table, topic = str(table), str(topic)
    _require_findings_channel(aws, table, topic, account, region)
    book = FindingsStore(aws.client("dynamodb"), aws.client("sns"), table, topic)
    ref = EndpointRef(args.endpoint, account, region)
    retiring = open_retiring(book, ref)
    if retiring is None:
        raise common.UsageError(
            f"{args.endpoint} has no open retirement in {account}/{region} (no open ENDPOINT_RETIRING finding in "
            f"{table}): nothing to cancel; `mlgov retire audit --endpoint {args.endpoint}` shows its state"
        )
    who = _caller(aws)
    why = f"retirement cancelled by {who}: {args.reason}"
    # Closed first: tagged first, the tag change would come under an open retirement, which the tag watch flags
    # or (response "revert") puts back to retiring, silently undoing the cancel. Closed first, a refused tag write
    # re-opens the retirement as it was (this caller cannot finish the cancel), and any other failure leaves a state
    # this command names, with the one command that finishes it.
    store_and_publish(book, closing(ref, KIND_RETIRING, "cli", why))
    endpoints, _ = _ports(aws)
    try:
        with contextlib.suppress(EndpointGone):  # deleted meanwhile: nothing left to tag
            endpoints.tag(args.endpoint, policy.purpose_tag_key, "active")
    except ReadFailure as exc:
        said = common.one_line(str(exc))
        if _refused_write(exc):
            from botocore.exceptions import BotoCoreError, ClientError

            state = "so nothing changed: its retirement is open again as before"
            ended = _request_ended(aws, retiring.request)
            # Its final check found the retirement closed and aborted: re-opened, it would offer a dead request.
            if ended:
                raise common.CommandFailed(
                    f"refused: {who} may not tag {args.endpoint} {policy.purpose_tag_key}=active ({said}), and "
                    f"deletion request {ended} ended while the cancel ran, so its retirement stays "
                    f"closed and the tag still says retiring: the next daily retirement check opens a new retirement "
                    f"(no deletion request). Before it runs, a role that may write the tag finishes the cancel: aws "
                    f"sagemaker add-tags --region {region} --resource-arn {ref.endpoint_arn} --tags "
                    f"Key={policy.purpose_tag_key},Value=active; after it, cancel again. "
                    + _who_may_tag(args, policy.purpose_tag_key)
                ) from None
            try:
                store_and_publish(book, retiring_finding(retiring, "cli"))
            except (BotoCoreError, ClientError) as again:  # the re-open failed too: say the state it leaves
                state = (
                    f"and re-opening its retirement failed ({common.one_line(str(again))}): it is closed, the tag "
                    "still says retiring, so the daily retirement check opens a new retirement"
                )
            raise common.CommandFailed(
                f"refused: {who} may not tag {args.endpoint} {policy.purpose_tag_key}=active ({said}), {state}. "
                f"{_who_may_tag(args, policy.purpose_tag_key)}"
            ) from None
        print(
            f"mlgov: error: the retirement of {args.endpoint} is closed, but its tag {policy.purpose_tag_key} still "
            f"says retiring ({said}), and the daily retirement check opens a new retirement "
            f"for an endpoint tagged retiring: finish the cancel with aws sagemaker add-tags --region {region} "
            f"--resource-arn {ref.endpoint_arn} --tags Key={policy.purpose_tag_key},Value=active",
            file=sys.stderr,
        )
        return common.EXIT_FAILURE
    _emit(args, {"status": "cancelled", "endpoint_name": args.endpoint, "by": who}, [f"{args.endpoint}: {why}"])
    return common.EXIT_OK


def _request_ended(aws: Any, request: dict[str, Any] | None) -> str:
    """'<request id> (<status>)' when the retirement's deletion request no longer runs, else "" (none, running, or
    unreadable: the re-open then keeps it, as before)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not request or not request.get("execution"):
        return ""
    try:
        status = str(aws.client("stepfunctions").describe_execution(executionArn=request["execution"])["status"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
            return ""
        status = "no such execution"
    except BotoCoreError:
        return ""
    return "" if status == "RUNNING" else f"{request.get('request_id')} ({status})"


def _refused_write(exc: Exception) -> bool:
    """AWS said no (IAM or a guardrail SCP), as against a throttle or a failure a retry may get past."""
    from botocore.exceptions import ClientError

    cause = exc.__cause__
    code = cause.response.get("Error", {}).get("Code", "") if isinstance(cause, ClientError) else ""
    return code in ("AccessDenied", "AccessDeniedException")


def _who_may_tag(args: argparse.Namespace, key: str) -> str:
    """Who may finish the cancel where the guardrails apply: the tag is DenyGovernanceTagChange's (docs/guardrails.md),
    the retirement finding the findings table's, which only the operator roles write."""
    g = common.load_settings(args).guardrails
    roles = "; ".join(
        f"mlgov.guardrails.{setting}: {', '.join(arns) or '(none set)'}"
        for setting, arns in (
            ("pipeline_role_arns", g.pipeline_role_arns),
            ("break_glass_role_arns", g.break_glass_role_arns),
            ("operator_role_arns", g.operator_role_arns),
        )
    )
    return (
        f"Where the guardrail SCPs apply, DenyGovernanceTagChange lets only the deployment pipeline's roles, "
        f"break-glass roles and the product's own roles write {key}, and only the operator roles write the findings "
        f"table the cancel closes the retirement in ({roles}); elsewhere a role needs sagemaker:AddTags. Run the same "
        f"`mlgov retire cancel --endpoint {args.endpoint} --reason ...` as a role that is both (a break-glass role "
        "listed among the operator roles)."
    )


def _require_findings_channel(aws: Any, table: str, topic: str, account: str, region: str) -> None:
    """A mistyped table or topic is the user's error (exit 2, nothing changed), not an AWS failure halfway
    through: both are read before anything is written."""
    import re

    from botocore.exceptions import ClientError

    listing = (
        f"aws cloudformation describe-stack-resources --stack-name MlGovEndpointAudit --region {region} lists the "
        "stack's findings table and topic"
    )
    if not re.fullmatch(r"arn:aws[a-z-]*:sns:[\w-]+:\d{12}:[\w-]{1,256}", topic):
        raise common.UsageError(f"--findings-topic-arn {topic!r} is not an SNS topic ARN; {listing}; nothing changed")
    # A caller that may not describe them still cancels: only "not found" is refused here.
    denied = ("AccessDenied", "AccessDeniedException", "AuthorizationError")
    try:
        aws.client("dynamodb").describe_table(TableName=table)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "ResourceNotFoundException":
            raise common.UsageError(
                f"findings table {table} not found in {account}/{region}; {listing}; nothing changed"
            ) from None
        if code not in denied:
            raise
    try:
        aws.client("sns").get_topic_attributes(TopicArn=topic)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("NotFound", "NotFoundException", "InvalidParameter"):
            raise common.UsageError(f"findings topic {topic} not found; {listing}; nothing changed") from None
        if code not in denied:
            raise


def cmd_recreate(args: argparse.Namespace) -> int:
    aws, policy, account, region = _context(args)
    sm = aws.client("sagemaker")
    if not common.sagemaker_exists(sm, "describe_endpoint_config", EndpointConfigName=args.endpoint_config):
        raise common.UsageError(
            f"endpoint config {args.endpoint_config} not found in {account}/{region} (the retired endpoint's "
            "ENDPOINT_RETIRING finding names the kept one in evidence.recreate.endpoint_config_name)"
        )
    if common.sagemaker_exists(sm, "describe_endpoint", EndpointName=args.endpoint):
        raise common.UsageError(f"endpoint {args.endpoint} already exists in {account}/{region}; nothing to re-create")
    from mlgov_runtime.retirement.logic import ReadFailure

    endpoints, _ = _ports(aws)
    caller = _caller(aws)
    tags = {policy.purpose_tag_key: "retiring", "mlgov:recreated_by": caller[:256]}
    # The guardrails let only break-glass create an endpoint without a package-shaped ModelPackageName tag
    # (DenyEndpointWithoutPackageTag): the kept config's own package makes the pipeline's run pass too.
    package = _served_package(sm, args.endpoint_config, account, region)
    if package:
        tags["ModelPackageName"] = package
    try:
        arn = endpoints.create(args.endpoint, args.endpoint_config, tags)
    except ReadFailure as exc:
        raise common.CommandFailed(_create_refused(exc, args.endpoint, caller, package)) from None
    _emit(
        args,
        {"status": "creating", "endpoint_arn": arn},
        [
            f"Re-creating {arn} from {args.endpoint_config} (takes minutes). It is tagged retiring, so it gets a",
            "new retirement and deadline: move the late clients, then `mlgov retire request` again.",
        ],
    )
    return common.EXIT_OK


def _served_package(sm: Any, config: str, account: str, region: str) -> str | None:
    """The model package ARN the kept config's first production variant serves, if its model names one."""
    from botocore.exceptions import ClientError

    from mlgov_runtime.core.arns import PACKAGE_ARN, PACKAGE_NAME, partition_for

    try:
        variants = sm.describe_endpoint_config(EndpointConfigName=config).get("ProductionVariants", [])
    except ClientError:
        return None  # unreadable: the endpoint is created without the claim (break-glass only)
    for variant in variants:
        try:
            model = sm.describe_model(ModelName=variant["ModelName"]) if variant.get("ModelName") else {}
        except ClientError:
            continue  # a model gone or unreadable: the next variant's, or no claim
        for container in [model.get("PrimaryContainer") or {}, *model.get("Containers", [])]:
            name = str(container.get("ModelPackageName") or "")
            if PACKAGE_ARN.fullmatch(name):
                return name
            if PACKAGE_NAME.fullmatch(name):  # a versioned name: this account's registry
                return f"arn:{partition_for(region)}:sagemaker:{region}:{account}:model-package/{name}"
    return None


def _create_refused(exc: Exception, endpoint: str, caller: str, package: str | None) -> str:
    """A refused CreateEndpoint, said as one: in a guarded account the SCPs keep it to a few roles."""
    said = f"CreateEndpoint of {endpoint} failed ({common.one_line(str(exc))})"
    if _refused_write(exc):
        who = (
            "only the deployment pipeline, break-glass and the product's roles may create an endpoint "
            "(DenyLineageChangeOutsidePipeline)"
            if package
            else "only break-glass may create an endpoint without a ModelPackageName tag, and the kept config's "
            "models name no package (DenyEndpointWithoutPackageTag)"
        )
        tag = f" --tag ModelPackageName={package}" if package else ""
        return (
            f"{said}; nothing was created. Where the guardrail SCPs apply, {who}: run it as one of those; `mlgov "
            f"guardrails explain --action sagemaker:CreateEndpoint --endpoint-name {endpoint}{tag} --principal "
            f"{_role_arn(caller)}` says which statement refuses you"
        )
    return (
        f"{said}: `aws sagemaker describe-endpoint --endpoint-name {endpoint}` shows whether it was created; if not, "
        "run the same command again"
    )


def _role_arn(caller: str) -> str:
    """The role behind an assumed-role session ARN (aws:PrincipalArn also has the role's path, which STS omits)."""
    found = re.fullmatch(r"arn:([\w-]+):sts::(\d{12}):assumed-role/([^/]+)/.*", caller)
    return f"arn:{found[1]}:iam::{found[2]}:role/{found[3]}" if found else caller


def register(sub: Any) -> None:
    commands = common.command_group(sub, "retire", "stale endpoints and their approved, live-checked retirement")

    audit = common.command(
        commands, "audit", cmd_audit, help="stale and idle endpoints now (exit 3: stale with traffic)"
    )
    audit.add_argument("--endpoint", action="append", metavar="NAME", help="endpoint (repeatable; default: watched)")
    audit.add_argument(
        "--went-quiet",
        action="store_true",
        help="gate after a cut-over: exit 0 only when every cut-over endpoint is QUIET (still called, no data, "
        "not yet due or unreadable: exit 3)",
    )
    audit.add_argument("--cutover-at", metavar="ISO-8601", help="when the named endpoint was cut over (default: found)")
    audit.add_argument(
        "--grace-hours",
        type=float,
        metavar="H",
        help="hours after the cut-over it must be quiet (default: retirement.quiet_after_cutover_hours)",
    )
    audit.add_argument(
        "--costs",
        action="store_true",
        help="add last week's SageMaker hosting cost by endpoint_purpose (one Cost Explorer request, billed by AWS)",
    )

    request = common.command(
        commands, "request", cmd_request, help="ask for a retirement candidate's deletion (waits for approval)"
    )
    request.add_argument("--endpoint", required=True, metavar="NAME")
    request.add_argument("--reason", default="", help="why it should go (shown to the approver)")
    request.add_argument("--state-machine-arn", help="accepted, unused: the approval service starts its own machine")
    request.add_argument("--approval-url", help=f"the approval service URL (default: {APPROVAL_URL_ENV})")

    _decision_parser(
        commands,
        "approve",
        "approve a deletion request (the live check still runs)",
        cmd_approve,
        "--comment",
        default="",
    )
    _decision_parser(commands, "deny", "deny a deletion request", cmd_deny, "--reason", required=True)

    cancel = common.command(commands, "cancel", cmd_cancel, help="close an open retirement; tag the endpoint active")
    cancel.add_argument("--endpoint", required=True, metavar="NAME")
    cancel.add_argument("--reason", required=True)
    cancel.add_argument("--findings-table", help=f"the findings table (default: {TABLE_ENV})")
    cancel.add_argument("--findings-topic-arn", help=f"the findings topic (default: {TOPIC_ENV})")

    recreate = common.command(
        commands, "recreate", cmd_recreate, help="re-create a retired endpoint from its kept config"
    )
    recreate.add_argument("--endpoint", required=True, metavar="NAME")
    recreate.add_argument("--endpoint-config", required=True, metavar="CONFIG")


def _decision_parser(commands: Any, name: str, help: str, func: Any, why: str, **why_options: Any) -> None:
    """`approve` or `deny`: the request, why, and the approval service that records the signed caller."""
    parser = common.command(commands, name, func, help=help)
    parser.add_argument("--request", metavar="ID", help="the request id from the ENDPOINT_RETIRING finding")
    parser.add_argument("--token", help=argparse.SUPPRESS)  # removed: refused with a pointer to --request
    parser.add_argument(why, **why_options)
    parser.add_argument("--approval-url", help=f"the approval service URL (default: {APPROVAL_URL_ENV})")
