"""The approval service: two function URLs over the same rules.

`handler`: AWS_IAM auth (a second layer). The caller is whoever STS says signed the presigned
GetCallerIdentity in the body (identity.py), bound to the body's other fields: a direct lambda:Invoke can
forge the request context, not that. Actions: `request` (open a retirement request for the verified caller
and start its execution) and `decide` (approve or deny). A name in the body is never read as a caller.
`slack`: no IAM auth; Slack's request signature is verified here, and the Slack user mapped to an
approver through settings. Refused or unverifiable requests change nothing and are logged.
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
    post_json,
    signing_secret,
)
from mlgov_runtime.adapters.aws import context_for
from mlgov_runtime.approvals import slack as s
from mlgov_runtime.approvals.identity import Unproven, binding, caller_via_sts, person
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


def _macs(config: ApprovalSettings) -> KmsMacs:
    if not config.mac_key_id:
        raise Refused(503, "no approvals MAC key configured (APPROVALS_MAC_KEY_ID); nothing changed")
    return KmsMacs(context_for(None).client("kms"), config.mac_key_id)


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


def _verified_caller(body: dict[str, Any], event: dict[str, Any]) -> str:
    fields = {k: v for k, v in body.items() if k != "identity"}
    try:
        caller = caller_via_sts(_sts_client(), str(body.get("identity") or ""), binding(fields))
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


def _decide(
    config: ApprovalSettings,
    caller: str,
    channel: str,
    request_id: str,
    approve: bool,
    comment: str,
    also: tuple[str, ...] = (),
) -> Decision:
    aws = context_for(None)

    def product_check(request: ApprovalRequest) -> str:
        machine = config.challenger_state_machine_arn or ""
        described = ExecutionReader(aws.client("stepfunctions")).describe(request.execution_arn) if machine else None
        return product_request_problem(request, described, machine)

    return decide(
        DynamoApprovals(aws.client("dynamodb"), config.table),
        StepFunctionsAnswers(aws.client("stepfunctions")),
        config.approvers,
        _macs(config),
        also=also,
        product_check=product_check,
        caller=caller,
        channel=channel,
        request_id=request_id,
        approve=approve,
        comment=comment,
        now=_now(),
    )


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
    }


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
        caller = _verified_caller(body, event)
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
        )
    except ValueError as exc:
        return _answer(400, {"error": str(exc)})
    except Refused as exc:
        logger.warning("Approval refused", extra={"caller": caller, "reason": str(exc)})
        return _answer(exc.status, {"error": str(exc), "caller": caller})
    outcome = _outcome(decision)
    if decision.problem:  # recorded, but the waiting step was not told: say so, loudly
        logger.error("Approval recorded but not delivered to Step Functions", extra=outcome)
        return _answer(
            502, {**outcome, "error": f"recorded, but the waiting step was not answered: {decision.problem}"}
        )
    logger.info("Approval decided", extra=outcome)
    return _answer(200, outcome)


_secret: dict[str, str] = {}


def _signing_secret(config: ApprovalSettings) -> str:
    arn = config.slack_signing_secret_arn
    if not arn:
        raise Refused(503, "no Slack signing secret configured")
    if arn not in _secret:
        _secret[arn] = signing_secret(context_for(None).client("secretsmanager"), arn)
    return _secret[arn]


# Slack shows the presser an error unless the answer comes within 3 s; the response_url post gets what is left.
SLACK_ANSWER_SECONDS = 3.0
SLACK_ANSWER_MARGIN = 0.5


@entry.handler
def slack(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.monotonic()
    config = settings.get()
    body = _body(event)
    try:
        problem = s.signature_problem(_signing_secret(config), event.get("headers") or {}, body, _epoch())
    except Refused as exc:
        logger.warning("Slack request refused", extra={"reason": str(exc)})
        return _answer(exc.status, {"error": str(exc)})
    if problem:
        logger.warning("Slack request refused", extra={"reason": problem})
        return _answer(401, {"error": f"request not signed by Slack ({problem}); nothing changed"})
    try:
        press = s.parse_press(body)
    except ValueError as exc:
        logger.warning("Slack request refused", extra={"reason": str(exc)})
        return _answer(400, {"error": str(exc)})
    identities = config.slack_approvers.get(press.user_id)
    try:
        if not identities:
            raise Refused(
                403,
                f"Slack user {press.user_name} ({press.user_id}) is not mapped to an approver "
                "(settings: approvals.slack_approvers); nothing changed",
            )
        decision = _decide(
            config,
            identities[0],
            "slack",
            press.request_id,
            press.approve,
            "" if press.approve else f"denied in Slack by {press.user_name}",
            also=identities[1:],
        )
        r = decision.request
        # Where it acts: the same endpoint name can exist in several accounts and regions.
        arn = r.execution_arn.split(":")
        where = f" in account {arn[4]}, {arn[3]}" if len(arn) > 4 else ""
        text = (
            f"{r.status.capitalize()} by {press.user_name} ({r.decided_by}) in Slack at {r.decided_at}: "
            f"{r.decision} of {r.subject}{where}."
        )
        if not decision.answered:
            text += " The request had already ended, so nothing further happens."
        status, body_out, replace = 200, _outcome(decision), True
    except Refused as exc:
        logger.warning("Slack approval refused", extra={"slack_user": press.user_id, "reason": str(exc)})
        text, status, body_out, replace = f"Not recorded: {exc}", 200, {"error": str(exc)}, False
    if press.response_url.startswith(config.slack_response_url_prefix):
        left = SLACK_ANSWER_SECONDS - SLACK_ANSWER_MARGIN - (time.monotonic() - started)
        message = s.outcome_message(text, press.request_id, replace)
        if post_json(press.response_url, message, timeout=max(0.1, left)) != 200:
            logger.warning("Slack message not updated (response_url failed); the decision stands")
    else:
        logger.warning("Slack response_url outside the configured origin; not called")
    logger.info("Slack button handled", extra={"request_id": press.request_id, "result": body_out})
    return _answer(status, body_out)
