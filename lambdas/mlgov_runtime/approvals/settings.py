"""The approvals' settings: the `approvals` section, declared once. The approval service and every step that
waits for a decision receive it as one JSON variable (`Received`) and validate it against the same model at
cold start."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mlgov_runtime.core.env import Env, Lazy, SettingsError, optional, required
from mlgov_runtime.core.model import all_match, received, received_environment, setting, settings_model, variable

APPROVALS_TABLE_NAME = "APPROVALS_TABLE_NAME"
SLACK_SIGNING_SECRET_ARN = "SLACK_SIGNING_SECRET_ARN"
SLACK_RESPONSE_URL_PREFIX = "SLACK_RESPONSE_URL_PREFIX"
# The function that decides a verified press after the Slack function acknowledged it (asynchronous invoke).
SLACK_WORKER_FUNCTION = "SLACK_WORKER_FUNCTION_NAME"
MAC_KEY_ID = "APPROVALS_MAC_KEY_ID"
RETIREMENT_STATE_MACHINE_ARN = "RETIREMENT_STATE_MACHINE_ARN"
# The challenger state machine whose promotions wait for a human (challenger.require_human_approval).
CHALLENGER_STATE_MACHINE_ARN = "APPROVALS_CHALLENGER_STATE_MACHINE_ARN"

TABLE = r"[a-zA-Z0-9_.-]{3,255}"
PRINCIPAL = r"arn:aws[a-z-]*:(iam|sts)::\d{12}:[\w+=,.@/*-]{1,512}"
SLACK_USER = r"[UW][A-Z0-9]{2,20}"
SECRET_ARN = r"arn:aws[a-z-]*:secretsmanager:[\w-]+:\d{12}:secret:[\w/+=.@-]+"
KEY_ID = r"arn:aws[a-z-]*:kms:[\w-]+:\d{12}:key/[\w-]+|[0-9a-f-]{36}|alias/[\w/-]+"
MACHINE_ARN = r"arn:aws[a-z-]*:states:[\w-]+:\d{12}:stateMachine:[\w-]{1,80}"
FUNCTION = r"(arn:aws[a-z-]*:lambda:[\w-]+:\d{12}:function:)?[\w-]{1,64}"


# `*` only in the session name: the role is named exactly.
ROLE_SESSIONS = r"arn:aws[a-z-]*:sts::\d{12}:assumed-role/[\w+=,.@-]{1,64}/[\w+=,.@*-]{1,64}"


def _approvers(value: dict[str, list[str]]) -> dict[str, list[str]]:
    """Checked: each an IAM principal ARN named exactly (`*` only for a role's sessions: assumed-role/ROLE/*).

    Approvers are people (IAM Identity Center roles, IAM users), not roles on the
    protected path: the caller's STS ARN carries no path to check. A role name is unique in its account
    whatever its path, so an exact name is that one role; a pattern in the name would trust any role someone
    creates to match it."""
    for decision, principals in value.items():
        all_match(principals, PRINCIPAL, "an IAM principal ARN (arn:aws:iam::ACCOUNT:... or assumed-role/ROLE/*)")
        for principal in principals:
            if "*" in principal and not re.fullmatch(ROLE_SESSIONS, principal):
                raise ValueError(
                    f"{decision}: {principal!r} has a pattern in its user or role name (anyone who may create a "
                    "role or user with a matching name would approve): name each approver's role exactly, "
                    "with * only for its sessions (arn:aws:sts::ACCOUNT:assumed-role/ROLE/*)"
                )
    return value


def _slack(value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
    """Checked: Slack user ids (U...) -> that person's own IAM principal ARNs (no *)."""
    all_match(list(value), SLACK_USER, "a Slack user id (U...)")
    ids = [p for v in value.values() for p in ([v] if isinstance(v, str) else v)]
    if any(not isinstance(v, str) and not v for v in value.values()):
        raise ValueError("a Slack user maps to at least one IAM principal ARN")
    all_match(ids, PRINCIPAL, "an IAM principal ARN")
    if any("*" in p for p in ids):
        raise ValueError("a Slack user maps to that person's own IAM principal ARNs, not a pattern with *")
    # One principal, one Slack user: else the record would name the same principal whoever of them pressed.
    owner: dict[str, str] = {}
    for user, mapped in value.items():
        for principal in [mapped] if isinstance(mapped, str) else mapped:
            first = owner.setdefault(principal, user)
            if first != user:
                raise ValueError(
                    f"Slack users {first} and {user} both map to {principal}: a principal belongs to one person; "
                    "map each Slack user to their own role session or user (a shared role: "
                    "arn:aws:sts::ACCOUNT:assumed-role/ROLE/<their session name>)"
                )
    return value


@settings_model
class Approvals:
    """Human decisions (retirement deletion; challenger promotion when challenger.require_human_approval): who may
    decide, and the Slack buttons. An approver is an IAM principal ARN, or a role's sessions written
    arn:aws:sts::ACCOUNT:assumed-role/ROLE/*; the requester never approves their own request."""

    approvers: dict[Literal["retirement", "challenger"], list[str]] = setting(factory=dict, check=_approvers)
    # Slack user id -> that person's principal ARN(s), the first recorded (docs/approvals.md, Slack buttons).
    slack_approvers: dict[str, str | list[str]] = setting(factory=dict, check=_slack)
    # The Slack interactivity endpoint (function URL) and its signing secret in Secrets Manager.
    slack_buttons: bool = False
    # Reserved concurrency of the unauthenticated Slack function (needs the account's Lambda concurrency
    # quota above 10 + this: new accounts start at 10).
    slack_reserved_concurrency: int = setting(default=5, ge=1, le=100)

    def environment(self) -> dict[str, str]:
        """The one variable the approval service and the waiting steps receive (`Received`; `load` and
        `approvers_received` read it back)."""
        return received_environment(_Sent(self), Received)


Section = Approvals


class _Sent:
    def __init__(self, approvals: Approvals) -> None:
        self.approvals = approvals


@settings_model
class Received:
    """What the approval service and the steps that wait for a decision receive from the settings."""

    approvals: Approvals = setting(factory=Approvals)


def _approvers_of(got: Received) -> dict[str, tuple[str, ...]]:
    return {str(k): tuple(v) for k, v in got.approvals.approvers.items()}


def approvers_received(env: Env) -> dict[str, tuple[str, ...]] | None:
    """Who may decide, for a step that waits for a decision (None: the stack wired no approvals)."""
    if not env.get(variable(Received)):
        return None
    return _approvers_of(received(env, Received))


@dataclass(frozen=True, kw_only=True)
class ApprovalSettings:
    table: str
    approvers: dict[str, tuple[str, ...]]
    slack_approvers: dict[str, tuple[str, ...]]
    slack_signing_secret_arn: str | None = None
    slack_response_url_prefix: str = "https://hooks.slack.com/"
    slack_worker_function: str | None = None
    mac_key_id: str | None = None
    retirement_state_machine_arn: str | None = None
    challenger_state_machine_arn: str | None = None


def load(env: Env) -> ApprovalSettings:
    prefix = env.get(SLACK_RESPONSE_URL_PREFIX) or "https://hooks.slack.com/"
    if not re.fullmatch(r"https://[\w.-]+/|http://127\.0\.0\.1:\d+/", prefix):
        raise SettingsError(f"environment variable {SLACK_RESPONSE_URL_PREFIX}: {prefix!r} is not an https origin")
    got = received(env, Received)
    return ApprovalSettings(
        table=required(env, APPROVALS_TABLE_NAME, TABLE, "a DynamoDB table name"),
        approvers=_approvers_of(got),
        slack_approvers={
            user: (ids,) if isinstance(ids, str) else tuple(ids) for user, ids in got.approvals.slack_approvers.items()
        },
        slack_signing_secret_arn=optional(env, SLACK_SIGNING_SECRET_ARN, SECRET_ARN, "a Secrets Manager secret ARN"),
        slack_response_url_prefix=prefix,
        slack_worker_function=optional(env, SLACK_WORKER_FUNCTION, FUNCTION, "a Lambda function name or ARN"),
        mac_key_id=optional(env, MAC_KEY_ID, KEY_ID, "a KMS key ARN or id"),
        retirement_state_machine_arn=optional(
            env, RETIREMENT_STATE_MACHINE_ARN, MACHINE_ARN, "a Step Functions state machine ARN"
        ),
        challenger_state_machine_arn=optional(
            env, CHALLENGER_STATE_MACHINE_ARN, MACHINE_ARN, "a Step Functions state machine ARN"
        ),
    )


settings = Lazy(load)
