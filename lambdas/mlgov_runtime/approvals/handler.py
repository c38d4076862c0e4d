"""The approval service: two function URLs over the same rules.

`handler`: AWS_IAM auth. The caller is the IAM principal Lambda puts in the request context after
verifying the SigV4 signature (`mlgov retire approve|deny`); a name in the body is never read.
`slack`: no IAM auth; Slack's request signature is verified here, and the Slack user mapped to an
approver through settings. Refused or unverifiable requests change nothing and are logged.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlgov_runtime.adapters.approvals_store import DynamoApprovals, StepFunctionsAnswers, post_json, signing_secret
from mlgov_runtime.adapters.aws import context_for
from mlgov_runtime.approvals import slack as s
from mlgov_runtime.approvals.logic import Decision, Refused, decide
from mlgov_runtime.approvals.settings import ApprovalSettings, settings

SERVICE = "approvals"
logger = Logger(service=SERVICE)


def _now() -> datetime:
    return datetime.now(UTC)


def _epoch() -> float:
    return time.time()


def _body(event: dict[str, Any]) -> bytes:
    raw = event.get("body") or ""
    return base64.b64decode(raw) if event.get("isBase64Encoded") else str(raw).encode()


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def _decide(
    config: ApprovalSettings, caller: str, channel: str, request_id: str, approve: bool, comment: str
) -> Decision:
    aws = context_for(None)
    return decide(
        DynamoApprovals(aws.client("dynamodb"), config.table),
        StepFunctionsAnswers(aws.client("stepfunctions")),
        config.approvers,
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
    }


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings.get()
    caller = str(((event.get("requestContext") or {}).get("authorizer") or {}).get("iam", {}).get("userArn") or "")
    if not caller:  # only reachable if the URL's auth type were changed to NONE: refuse
        logger.warning("Approval refused: no IAM caller in the request context")
        return _answer(403, {"error": "no authenticated IAM caller; nothing changed"})
    try:
        body = json.loads(_body(event) or b"{}")
        if not isinstance(body, dict) or body.get("decision") not in ("approve", "deny"):
            raise ValueError('body must be {"request_id", "decision": approve|deny, "comment"}')
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


@logger.inject_lambda_context(clear_state=True)
def slack(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
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
    caller = config.slack_approvers.get(press.user_id)
    try:
        if caller is None:
            raise Refused(
                403,
                f"Slack user {press.user_name} ({press.user_id}) is not mapped to an approver "
                "(settings: approvals.slack_approvers); nothing changed",
            )
        decision = _decide(
            config,
            caller,
            "slack",
            press.request_id,
            press.approve,
            "" if press.approve else f"denied in Slack by {press.user_name}",
        )
        r = decision.request
        text = (
            f"{r.status.capitalize()} by {press.user_name} ({r.decided_by}) in Slack at {r.decided_at}: "
            f"{r.decision} of {r.subject}."
        )
        if not decision.answered:
            text += " The request had already ended, so nothing further happens."
        status, body_out, replace = 200, _outcome(decision), True
    except Refused as exc:
        logger.warning("Slack approval refused", extra={"slack_user": press.user_id, "reason": str(exc)})
        text, status, body_out, replace = f"Not recorded: {exc}", 200, {"error": str(exc)}, False
    if press.response_url.startswith(config.slack_response_url_prefix):
        if post_json(press.response_url, s.outcome_message(text, press.request_id, replace)) != 200:
            logger.warning("Slack message not updated (response_url failed); the decision stands")
    else:
        logger.warning("Slack response_url outside the configured origin; not called")
    logger.info("Slack button handled", extra={"request_id": press.request_id, "result": body_out})
    return _answer(status, body_out)
