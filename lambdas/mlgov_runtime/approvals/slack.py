"""Slack interactivity: the signed request check, the button payload, and the Block Kit messages.

Slack signs every request: X-Slack-Signature = "v0=" + HMAC-SHA256(signing secret, "v0:{timestamp}:{body}")
with X-Slack-Request-Timestamp; requests more than five minutes from now are refused (replay window), and
the decision store makes a replay inside the window a no-op. The worker that decides a press after the
acknowledgment checks the same signature again, allowing for the asynchronous delay (WORKER_MAX_AGE_SECONDS).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_AGE_SECONDS = 300
# The worker runs after the hand-off: Lambda keeps an asynchronous event at most HAND_OFF_MAX_AGE_SECONDS
# (retries included), and the press was at most MAX_AGE_SECONDS old when it was handed off.
HAND_OFF_MAX_AGE_SECONDS = 600
WORKER_MAX_AGE_SECONDS = MAX_AGE_SECONDS + HAND_OFF_MAX_AGE_SECONDS
SECTION_MAX = 3000
APPROVE, DENY = "mlgov_approve", "mlgov_deny"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signature_problem(
    secret: str, headers: Mapping[str, str], body: bytes, now: float, max_age: int = MAX_AGE_SECONDS
) -> str | None:
    """None when Slack signed this body within the last `max_age` seconds (five minutes); else why not."""
    lower = {k.lower(): v for k, v in headers.items()}
    signature, timestamp = lower.get("x-slack-signature"), lower.get("x-slack-request-timestamp")
    if not signature or not timestamp:
        return "unsigned: no X-Slack-Signature or X-Slack-Request-Timestamp"
    if not re.fullmatch(r"[0-9]{1,12}", timestamp):  # str.isdigit() passes unicode digits int() rejects
        return "malformed timestamp"
    if abs(now - int(timestamp)) > max_age:
        return f"stale: signed {int(now) - int(timestamp)} s ago (at most {max_age})"
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode()):
        return "bad signature"
    return None


@dataclass(frozen=True)
class ButtonPress:
    user_id: str
    user_name: str
    approve: bool
    request_id: str
    response_url: str
    team_id: str = ""
    shown: str = ""  # the pressed button's confirmation dialog, from the message Slack sends (signed) with the press

    @property
    def via(self) -> str:
        """Who pressed, as recorded under the decision MAC: slack:<team id>:<user id>."""
        return f"slack:{self.team_id}:{self.user_id}"


def _texts(node: Any) -> list[str]:
    """Every text a person sees in a Block Kit message (text objects, fields, confirm dialogs), none of the ids."""
    if isinstance(node, list):
        return [t for item in node for t in _texts(item)]
    if not isinstance(node, dict):
        return []
    found = [node["text"]] if isinstance(node.get("text"), str) else []
    return found + [t for k, v in node.items() if k not in ("value", "block_id", "action_id") for t in _texts(v)]


def _pressed_confirm(message: Any, action: dict[str, Any]) -> Any:
    """The pressed button's confirmation dialog: what the approver confirmed (a finding's text may name anything)."""
    blocks = message.get("blocks") if isinstance(message, dict) else None
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, dict) and block.get("block_id") == action.get("block_id", block.get("block_id")):
            for e in block.get("elements") or []:
                if isinstance(e, dict) and (e.get("action_id"), e.get("value")) == (
                    action["action_id"],
                    action["value"],
                ):
                    return e.get("confirm")
    return None


def _names(shown: str, what: str, word: str) -> bool:
    return bool(what) and re.search(rf"(?<!{word}){re.escape(what)}(?!{word})", shown) is not None


def shown_problem(shown: str, subject: str, account: str, region: str = "", act: str = "deletion") -> str:
    """Why the pressed button's dialog does not name the request's act, subject, account and region, or ""."""
    if (
        f"{act} of " in shown
        and _names(shown, subject, r"[\w-]")
        and _names(shown, account, r"\d")
        and (not region or _names(shown, region, r"[\w-]"))
    ):
        return ""
    return (
        f"the message this button sat in does not name the {act} of {subject} in account {account} {region}, the "
        "subject of this request "
        "(a message about something else carried its buttons; tell the platform team): decide on the request's own "
        "message, or with the CLI"
    )


def parse_press(body: bytes) -> ButtonPress:
    """The block_actions payload of one Approve/Deny press (form-encoded `payload=<json>`)."""
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    try:
        payload = json.loads(form["payload"][0])
        action = payload["actions"][0]
        if payload.get("type") != "block_actions" or action["action_id"] not in (APPROVE, DENY):
            raise ValueError("not an mlgov approval button")
        team = payload.get("team")
        return ButtonPress(
            user_id=str(payload["user"]["id"]),
            user_name=str(payload["user"].get("username") or payload["user"].get("name") or payload["user"]["id"]),
            approve=action["action_id"] == APPROVE,
            request_id=str(action["value"]),
            response_url=str(payload.get("response_url") or ""),
            team_id=str(team.get("id") or "") if isinstance(team, dict) else "",
            shown="\n".join(_texts(_pressed_confirm(payload.get("message"), action))),
        )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"not a button press payload ({exc})") from None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Slack's confirmation dialog object: title 100 characters, text 300, confirm and deny buttons 30 each
# (docs.slack.dev/reference/block-kit/composition-objects/confirmation-dialog-object).
CONFIRM_TITLE_MAX, CONFIRM_TEXT_MAX = 100, 300


def _confirm(verb: str, about: str) -> dict[str, Any]:
    return {
        "title": {"type": "plain_text", "text": _clip(f"{verb}?", CONFIRM_TITLE_MAX)},
        "text": {"type": "plain_text", "text": _clip(about, CONFIRM_TEXT_MAX)},
        "confirm": {"type": "plain_text", "text": verb},
        "deny": {"type": "plain_text", "text": "Cancel"},
    }


def action_block(request_id: str, about: str = "") -> dict[str, Any]:
    """Approve / Deny buttons carrying the request id (never a token); Slack sends presses to the
    interactivity URL of the app whose webhook posted the message. `about`: what is decided (subject and
    account), shown in a confirmation dialog before a press is sent."""

    def button(action: str, verb: str, style: str) -> dict[str, Any]:
        element: dict[str, Any] = {
            "type": "button",
            "action_id": action,
            "style": style,
            "value": request_id,
            "text": {"type": "plain_text", "text": verb},
        }
        if about:
            element["confirm"] = {**_confirm(verb, f"{verb}: {about}"), "style": style}
        return element

    return {
        "type": "actions",
        "block_id": f"mlgov-approval-{request_id}",
        "elements": [button(APPROVE, "Approve", "primary"), button(DENY, "Deny", "danger")],
    }


def outcome_message(outcome: str, request_id: str, replace: bool = True) -> dict[str, Any]:
    """Replaces the buttons (response_url) with what was decided and by whom; a refusal goes only to the
    person who pressed (ephemeral), leaving the buttons for an approver."""
    text = _clip(_escape(outcome), SECTION_MAX)
    return {
        "replace_original": replace,
        **({} if replace else {"response_type": "ephemeral"}),
        "text": _clip(outcome, SECTION_MAX),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"request `{request_id}`"}]},
        ],
    }
