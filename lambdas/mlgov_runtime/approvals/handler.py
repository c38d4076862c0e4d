"""The approval service: two function URLs over the same rules (docs/approvals.md).

`handler` (AWS_IAM auth; the caller is whom STS proves, identity.py, never a name in the body): `request`, `decide`.
`slack` (Slack's signature) hands a press to `slack_worker`, which verifies again and decides. Refusals change nothing.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlgov_runtime.adapters.approvals_store import (
    DynamoApprovals,
    ExecutionReader,
    KmsMacs,
    StepFunctionsAnswers,
    hand_off,
    own_function_url,
    post_json,
    signing_secret,
)
from mlgov_runtime.adapters.aws import context_for
from mlgov_runtime.approvals import slack as s
from mlgov_runtime.approvals.identity import Unproven, audience_of, binding, caller_via_sts, person
from mlgov_runtime.approvals.logic import (
    COMMENT_MAX,
    ApprovalRequest,
    Decision,
    Refused,
    decide,
    iso,
    product_request_problem,
    request_id_for,
    requester_message,
)
from mlgov_runtime.approvals.settings import ApprovalSettings, settings
from mlgov_runtime.core.entry import Entry

SERVICE = "approvals"
entry = Entry(SERVICE, metrics=False)
logger = entry.logger


def _now() -> datetime:
    return datetime.now(UTC)


def _epoch() -> float:
    return time.time()


def _body(event: dict[str, Any]) -> bytes:
    raw = event.get("body") or ""
    return base64.b64decode(raw) if event.get("isBase64Encoded") else str(raw).encode()


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


ENDPOINT_NAME = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
RECORD_DAYS = 90
_sts: list[Any] = []


def _mac_key_id(config: ApprovalSettings) -> str:
    if not config.mac_key_id:
        raise Refused(503, "no approvals MAC key configured (APPROVALS_MAC_KEY_ID); nothing changed")
    return config.mac_key_id


def _macs(config: ApprovalSettings) -> KmsMacs:
    return KmsMacs(context_for(None).client("kms"), _mac_key_id(config))


def _sts_client() -> Any:
    """Unsigned: the caller's presigned query is what STS checks. Its endpoint (this region's STS) is the
    only host a proof is ever sent to."""
    if not _sts:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        _sts.append(
            boto3.client("sts", region_name=context_for(None).region, config=Config(signature_version=UNSIGNED))
        )
    return _sts[0]


_own_url: dict[str, str] = {}


def _own_audience(context: LambdaContext) -> str:
    """The host of this function's own URL, as Lambda states it (GetFunctionUrlConfig on the function named in
    the context Lambda gives, which no caller writes); read once per container. The event's domainName is not
    believed: a direct lambda:Invoke writes any requestContext."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = str(getattr(context, "function_name", "") or "")
    if name not in _own_url:
        try:
            url = own_function_url(_decide_client("lambda"), name)
        except (BotoCoreError, ClientError) as exc:
            why = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
            raise Refused(
                503,
                f"the approval service could not read its own function URL (lambda:GetFunctionUrlConfig on {name}: "
                f"{why}), so no identity proof can be checked; nothing changed",
            ) from None
        if not audience_of(url):
            raise Refused(503, f"the approval service's own function URL {url!r} names no host; nothing changed")
        _own_url[name] = audience_of(url)
    return _own_url[name]


def _verified_caller(body: dict[str, Any], event: dict[str, Any], context: LambdaContext) -> str:
    fields = {k: v for k, v in body.items() if k != "identity"}
    own = _own_audience(context)
    try:
        caller = caller_via_sts(_sts_client(), str(body.get("identity") or ""), binding(fields), own)
    except Unproven as exc:
        raise Refused(403, f"caller not verified: {exc}; nothing changed") from None
    signed = str(((event.get("requestContext") or {}).get("authorizer") or {}).get("iam", {}).get("userArn") or "")
    if signed and signed != caller:  # through the URL both come from the same credentials
        raise Refused(403, f"the URL was signed by {signed} but the identity proof by {caller}; nothing changed")
    return caller


# Step Functions execution names: at most 80 characters, no whitespace, brackets, wildcards or controls.
EXECUTION_NAME_MAX = 80


def retirement_execution_name(endpoint_name: str, now: datetime, nonce: str) -> str:
    """`retire-<endpoint>-<UTC time>-<nonce>`, the endpoint cut to fit 80 (an endpoint name is [a-zA-Z0-9-])."""
    suffix = f"-{now.strftime('%Y%m%dT%H%M%S')}-{nonce}"
    room = EXECUTION_NAME_MAX - len("retire-") - len(suffix)
    return f"retire-{endpoint_name[:room].rstrip('-')}{suffix}"


def _open_request(config: ApprovalSettings, caller: str, body: dict[str, Any]) -> dict[str, Any]:
    machine = config.retirement_state_machine_arn
    if not machine:
        raise Refused(503, "no retirement state machine configured (RETIREMENT_STATE_MACHINE_ARN); nothing changed")
    name, reason = str(body.get("endpoint_name") or ""), str(body.get("reason") or "")
    if not re.fullmatch(ENDPOINT_NAME, name):
        raise Refused(400, f"{name!r} is not an endpoint name")
    if len(reason) > COMMENT_MAX:
        raise Refused(400, f"the reason is {len(reason)} characters; at most {COMMENT_MAX}")
    if not person(caller):
        raise Refused(403, f"{caller} is no person (federated users name themselves); nothing changed")
    now = _now()
    execution_name = retirement_execution_name(name, now, secrets.token_hex(4))
    execution = machine.replace(":stateMachine:", ":execution:", 1) + ":" + execution_name
    request = ApprovalRequest(request_id_for(execution), "retirement", name, execution, caller, iso(now), expires_at="")
    aws, macs = context_for(None), _macs(config)
    request = ApprovalRequest(**{**request.to_dict(), "requester_mac": macs.generate(requester_message(request))})
    # Recorded before the execution exists: the waiting step finds its requester here, never in its input.
    if not DynamoApprovals(aws.client("dynamodb"), config.table).open(
        request, int((now + timedelta(days=RECORD_DAYS)).timestamp())
    ):
        raise Refused(409, f"request {request.request_id} exists already; nothing changed")
    aws.client("stepfunctions").start_execution(
        stateMachineArn=machine, name=execution_name, input=json.dumps({"endpoint_name": name, "reason": reason})
    )
    return {
        "status": "requested",
        "request_id": request.request_id,
        "endpoint_name": name,
        "execution_arn": execution,
        "requested_by": caller,
        "requested_at": request.requested_at,
    }


# Every call that decides and answers (docs/approvals.md: 12 s at worst each): the shared clients' 5 + 20 s, 8 times,
# let a hung SendTaskSuccess outlast the press worker's timeout after the decision was written.
DECIDE_CONNECT_SECONDS, DECIDE_READ_SECONDS, DECIDE_ATTEMPTS = 1.0, 2.0, 2
_deciding: dict[str, Any] = {}


def _bounded_client(cache: dict[str, Any], service: str, connect: float, read: float, attempts: int) -> Any:
    """A client of `service` in this function's region with these timeouts and attempts, made once per container
    (the shared context's clients wait 5 + 20 s, 8 times)."""
    if service not in cache:
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=connect,
            read_timeout=read,
            retries={"mode": "standard", "total_max_attempts": attempts},
        )
        make: Any = boto3.client  # one call for every service name
        cache[service] = make(service, region_name=context_for(None).region, config=config)
    return cache[service]


def _decide_client(service: str) -> Any:
    return _bounded_client(_deciding, service, DECIDE_CONNECT_SECONDS, DECIDE_READ_SECONDS, DECIDE_ATTEMPTS)


def _decide(
    config: ApprovalSettings,
    caller: str,
    channel: str,
    request_id: str,
    approve: bool,
    comment: str,
    also: tuple[str, ...] = (),
    again: bool = False,
    press: s.ButtonPress | None = None,
) -> Decision:
    client = _decide_client

    def product_check(request: ApprovalRequest) -> str:
        machine = config.challenger_state_machine_arn or ""
        described = ExecutionReader(client("stepfunctions")).describe(request.execution_arn) if machine else None
        return product_request_problem(request, described, machine)

    def shown_check(request: ApprovalRequest) -> str:
        # A press decides only what the message it sat in named (Slack signs that message with the press).
        assert press is not None
        act = "promotion" if request.decision == "challenger" else "deletion"  # as the notifier's dialog says
        return s.shown_problem(press.shown, request.subject, *_where(request), act)

    return decide(
        DynamoApprovals(client("dynamodb"), config.table),
        # One attempt of the client (its own retries): its worst case is the whole answer's.
        StepFunctionsAnswers(client("stepfunctions"), attempts=1),
        config.approvers,
        KmsMacs(client("kms"), _mac_key_id(config)),
        also=also,
        people=tuple(config.slack_approvers.values()),  # the CLI caller's Slack-mapped identities count too
        product_check=product_check,
        shown_check=shown_check if press else None,
        via=press.via if press else "",
        caller=caller,
        channel=channel,
        request_id=request_id,
        approve=approve,
        comment=comment,
        now=_now(),
        again=again,
    )


def _where(r: ApprovalRequest) -> tuple[str, str]:
    """Where the request acts: its execution's account and region (the steps act in their own)."""
    parts = r.execution_arn.split(":")
    return (parts[4], parts[3]) if len(parts) > 4 else ("", "")


def _outcome(decision: Decision) -> dict[str, Any]:
    r = decision.request
    return {
        "status": r.status.lower(),
        "request_id": r.request_id,
        "decision": r.decision,
        "subject": r.subject,
        "by": r.decided_by,
        "at": r.decided_at,
        "channel": r.channel,
        "answered": decision.answered,
        **({"problem": decision.problem} if decision.problem else {}),
        **({"again": True} if decision.again else {}),
        **({"gone": decision.gone} if decision.gone else {}),
    }


def same_command(r: ApprovalRequest) -> str:
    """The CLI command that decided `r`, to run again: it answers the recorded decision again (and only that)."""
    group = "retire" if r.decision == "retirement" else "challenger"
    if r.status == "APPROVED":
        return f"`mlgov {group} approve --request {r.request_id}`"
    return f"`mlgov {group} deny --request {r.request_id} --reason TEXT`"


@entry.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings.get()
    caller = ""
    try:
        body = json.loads(_body(event) or b"{}")
        if not isinstance(body, dict) or body.get("action", "decide") not in ("decide", "request"):
            raise ValueError('body must be {"action": "decide"|"request", ..., "identity": <presigned query>}')
        if body.get("action", "decide") == "decide" and body.get("decision") not in ("approve", "deny"):
            raise ValueError('body must be {"request_id", "decision": approve|deny, "comment", "identity"}')
        caller = _verified_caller(body, event, context)
        if body.get("action") == "request":
            opened = _open_request(config, caller, body)
            logger.info("Retirement requested", extra=opened)
            return _answer(200, opened)
        decision = _decide(
            config,
            caller,
            "cli",
            str(body.get("request_id", "")),
            body["decision"] == "approve",
            str(body.get("comment") or ""),
            again=True,  # the same caller's same command again answers its own recorded, undelivered decision
        )
    except ValueError as exc:
        return _answer(400, {"error": str(exc)})
    except Refused as exc:
        logger.warning("Approval refused", extra={"caller": caller, "reason": str(exc)})
        return _answer(exc.status, {"error": str(exc), "caller": caller})
    outcome = _outcome(decision)
    if decision.problem:  # recorded, but the waiting step was not told: say so, loudly
        logger.error("Approval recorded but not delivered to Step Functions", extra=outcome)
        error = (
            f"{decision.request.status.lower()} and recorded, but the waiting step was not told "
            f"({decision.problem}): run {same_command(decision.request)} again (as {caller}) to tell it; "
            f"until then it waits, at most until the request expires at {decision.request.expires_at}"
        )
        return _answer(502, {**outcome, "error": error})
    if decision.again:
        logger.info("Recorded decision answered again", extra=outcome)
        return _answer(200, outcome)
    logger.info("Approval decided", extra=outcome)
    return _answer(200, outcome)


_secret: dict[str, str] = {}
_quick: dict[str, Any] = {}

# Slack wants the answer within 3 s: docs/approvals.md, Slack buttons, says how these fit.
ACK_CONNECT_SECONDS, ACK_READ_SECONDS, ACK_ATTEMPTS = 0.3, 0.5, 1
ACK_POST_SECONDS = 0.4
# The worker has its function's timeout: a longer wait, twice at most (Slack takes five posts per press).
OUTCOME_POST_SECONDS, OUTCOME_POST_ATTEMPTS = 2.0, 2
HAND_OFF = "slack_press"  # the worker's event: {"slack_press": {"body", "timestamp", "signature", "retry"}}


def _quick_client(service: str) -> Any:
    """For the calls before Slack's answer: short timeouts, one attempt."""
    return _bounded_client(_quick, service, ACK_CONNECT_SECONDS, ACK_READ_SECONDS, ACK_ATTEMPTS)


def _signing_secret(config: ApprovalSettings, client: Any = None) -> str:
    arn = config.slack_signing_secret_arn
    if not arn:
        raise Refused(503, "no Slack signing secret configured")
    if arn not in _secret:
        _secret[arn] = signing_secret(client or context_for(None).client("secretsmanager"), arn)
    return _secret[arn]


@entry.handler
def slack(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Slack's interactivity URL: verify Slack's signature, hand the press to the worker, answer at once. It
    decides nothing itself; the worker believes the press only after checking the signature again."""
    from botocore.exceptions import BotoCoreError, ClientError

    config = settings.get()
    body = _body(event)
    headers = {k.lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    try:
        secret = _signing_secret(config, _quick_client("secretsmanager"))
    except Refused as exc:
        logger.warning("Slack request refused", extra={"reason": str(exc)})
        return _answer(exc.status, {"error": str(exc)})
    except (BotoCoreError, ClientError) as exc:  # Slack shows the presser an error; pressing again retries
        logger.error("Slack signing secret unreadable", extra={"reason": type(exc).__name__})
        return _answer(503, {"error": f"the Slack signing secret could not be read ({type(exc).__name__})"})
    problem = s.signature_problem(secret, headers, body, _epoch())
    if problem:
        logger.warning("Slack request refused", extra={"reason": problem})
        return _answer(401, {"error": f"request not signed by Slack ({problem}); nothing changed"})
    try:
        press = s.parse_press(body)
    except ValueError as exc:
        logger.warning("Slack request refused", extra={"reason": str(exc)})
        return _answer(400, {"error": str(exc)})
    handed = {
        "body": base64.b64encode(body).decode(),
        "timestamp": headers["x-slack-request-timestamp"],
        "signature": headers["x-slack-signature"],
        "retry": headers.get("x-slack-retry-num", ""),
    }
    worker = config.slack_worker_function
    why = hand_off(_quick_client("lambda"), worker, {HAND_OFF: handed}) if worker else "no worker configured"
    where = {"request_id": press.request_id, "slack_user": press.user_id, "retry": handed["retry"]}
    if why:
        logger.error("Slack press not handed off", extra={**where, "reason": why})
        text = (
            f"Not recorded: the approval service could not start deciding ({why}); nothing changed. "
            "Press the button again in a minute."
        )
        message = s.outcome_message(text, press.request_id, replace=False)
        if press.response_url.startswith(config.slack_response_url_prefix):
            post_json(press.response_url, message, timeout=ACK_POST_SECONDS)
        return _answer(200, {"status": "failed", "request_id": press.request_id, "error": text, **message})
    logger.info("Slack press handed off", extra=where)
    text = "Working on it: the outcome follows here in a few seconds."
    message = s.outcome_message(text, press.request_id, replace=False)
    return _answer(200, {"status": "accepted", "request_id": press.request_id, **message})


def _next_step(r: ApprovalRequest) -> str:
    if r.decision == "retirement":
        if r.status == "APPROVED":
            return (
                " The deletion goes ahead only if the endpoint is still idle; the governance channel tells the outcome."
            )
        return " Nothing is deleted."
    return " The promotion goes ahead once its checks pass." if r.status == "APPROVED" else " Nothing is promoted."


def _decide_press(config: ApprovalSettings, press: s.ButtonPress) -> tuple[str, bool, dict[str, Any]]:
    """(what the presser is told, whether it replaces the buttons, the result)."""
    identities = config.slack_approvers.get(press.user_id)
    try:
        if not identities:
            raise Refused(
                403,
                f"Slack user {press.user_name} ({press.user_id}) is not mapped to an approver "
                "(settings: approvals.slack_approvers); nothing changed. A listed approver must decide",
            )
        decision = _decide(
            config,
            identities[0],
            "slack",
            press.request_id,
            press.approve,
            "" if press.approve else f"denied in Slack by {press.user_name}",
            also=identities[1:],
            again=True,  # Lambda's retry of this press answers its own recorded decision again
            press=press,
        )
    except Refused as exc:
        logger.warning("Slack approval refused", extra={"slack_user": press.user_id, "reason": str(exc)})
        return f"Not recorded: {exc}.", False, {"status": "refused", "error": str(exc)}
    r = decision.request
    # Where it acts: the same endpoint name can exist in several accounts and regions.
    arn = r.execution_arn.split(":")
    where = f" in account {arn[4]}, {arn[3]}" if len(arn) > 4 else ""
    text = (
        f"{r.status.capitalize()} by {press.user_name} ({press.user_id}, as {r.decided_by}) in Slack "
        f"at {r.decided_at}: "
        f"{r.decision} of {r.subject}{where}."
    )
    outcome = _outcome(decision)
    if decision.problem:
        logger.error("Approval recorded but not delivered to Step Functions", extra=outcome)
        text += (
            f" Recorded, but the waiting step was not told yet ({decision.problem}): the approval service tries "
            "again by itself for a few minutes. If no confirmation follows here, tell the platform team (else it "
            f"waits until the request expires at {r.expires_at})."
        )
    elif decision.gone and decision.again:
        logger.warning("Recorded decision answered again, but Step Functions no longer waits", extra=outcome)
        text += (
            f" Step Functions no longer waits on this request ({decision.gone}): the earlier answer reached it "
            "after all, or the request ended meanwhile. Nothing further happens here."
        )
    elif not decision.answered:
        text += " The request had already ended, so nothing further happens."
    else:
        text += (" The waiting step has now been told." if decision.again else "") + _next_step(r)
    return text, True, outcome


def _tell(config: ApprovalSettings, press: s.ButtonPress, text: str, replace: bool) -> None:
    """The outcome to the press's response_url (Slack's origin only), retried once if Slack did not take it."""
    if not press.response_url.startswith(config.slack_response_url_prefix):
        logger.warning("Slack response_url outside the configured origin; not called")
        return
    message, status = s.outcome_message(text, press.request_id, replace), 0
    for _ in range(OUTCOME_POST_ATTEMPTS):
        status = post_json(press.response_url, message, timeout=OUTCOME_POST_SECONDS)
        if status == 200 or (400 <= status < 500 and status != 429):  # Slack refused it: again is no better
            break
    if status != 200:
        logger.warning("Slack message not updated (response_url failed); the decision stands", extra={"status": status})


@entry.handler
def slack_worker(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Decides a press the Slack function handed off (asynchronous invoke). It believes only what Slack signed:
    the signature is checked again here, so an invocation with a made-up or altered press decides nothing and
    tells nobody (its response_url is not believed either)."""
    config = settings.get()
    handed = event.get(HAND_OFF) if isinstance(event, dict) else None
    try:
        if not isinstance(handed, dict):
            raise ValueError(f"not a handed-off Slack press (no {HAND_OFF!r})")
        body = base64.b64decode(str(handed.get("body") or ""), validate=True)
        headers = {
            "x-slack-signature": str(handed.get("signature") or ""),
            "x-slack-request-timestamp": str(handed.get("timestamp") or ""),
        }
        secret = _worker_secret(config, body)
        problem = s.signature_problem(secret, headers, body, _epoch(), s.WORKER_MAX_AGE_SECONDS)
        if problem:
            raise ValueError(f"not signed by Slack ({problem})")
        press = s.parse_press(body)
    except (ValueError, Refused) as exc:
        logger.warning("Handed-off Slack press refused; nothing changed", extra={"reason": str(exc)})
        return {"status": "refused", "error": f"{exc}; nothing changed"}
    try:
        text, replace, result = _decide_press(config, press)
    except Exception:
        logger.exception("Slack press could not be decided", extra={"request_id": press.request_id})
        _tell(
            config,
            press,
            f"Not recorded yet: the approval service failed while deciding request {press.request_id} and "
            "tries again by itself for a few minutes. If no outcome follows by then, press the button "
            "again (a request is never decided twice).",
            False,
        )
        raise  # Lambda retries the event; the conditional write keeps a retry from deciding twice
    _tell(config, press, text, replace)
    logger.info(
        "Slack button handled",
        extra={"request_id": press.request_id, "retry": handed.get("retry", ""), "result": result},
    )
    if result.get("problem"):  # recorded, the step not told: Lambda's retry answers the recorded decision again
        raise NotAnswered(f"request {press.request_id}: {result['problem']}")
    return result


class NotAnswered(Exception):
    """The decision is recorded but Step Functions was not answered; raised so that Lambda retries the press."""


def _worker_secret(config: ApprovalSettings, body: bytes) -> str:
    """The signing secret, or raises (Lambda retries the event; nothing unverified is acted on). The presser was
    told the outcome follows: before raising, a notice goes to the press's response_url, only on Slack's origin.
    The press is unverified then (a forged one reaches only the Slack URL it names, with this fixed notice)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _signing_secret(config, _decide_client("secretsmanager"))
    except (BotoCoreError, ClientError) as exc:
        logger.error("Slack signing secret unreadable in the press worker", extra={"reason": type(exc).__name__})
        try:
            press = s.parse_press(body)
        except ValueError:
            raise exc from None
        text = (
            "Not recorded yet: the approval service could not check this press (the Slack signing secret could "
            "not be read); nothing changed. Press the button again in a minute."
        )
        _tell(config, press, text, False)
        raise
