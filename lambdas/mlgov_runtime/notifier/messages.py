"""A finding in Slack and Jira. Pure. Payloads fit the receivers' limits (docs/notifications.md) in UTF-16 units
(Jira's count, never less than Slack's); resource text is escaped for Slack, and is only ADF text in Jira.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

SLACK_HEADER_MAX = 150
SLACK_SECTION_MAX = 3000
SLACK_FIELD_MAX = 2000
SLACK_BLOCKS_MAX = 50
JIRA_SUMMARY_MAX = 255
# Jira counts the stored form of the document (markup and line breaks included): keep a margin.
JIRA_TEXT_BUDGET = 30_000

SEVERITY_EMOJI = {
    "CRITICAL": ":rotating_light:",
    "HIGH": ":red_circle:",
    "MEDIUM": ":large_orange_circle:",
    "LOW": ":large_yellow_circle:",
    "INFO": ":white_check_mark:",
}
ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
ELLIPSIS = "…"


def units(text: str) -> int:
    """Length in UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _head(text: str, room: int) -> str:
    """The longest prefix of at most `room` UTF-16 units (never half a surrogate pair)."""
    if room <= 0:
        return ""
    return text.encode("utf-16-le", "surrogatepass")[: 2 * room].decode("utf-16-le", "ignore")


def clip(text: str, limit: int, note: str = ELLIPSIS) -> str:
    """`text` if it fits in `limit` units; otherwise its head and `note`, together within `limit`."""
    if units(text) <= limit:
        return text
    return _head(text, limit - units(note)) + note


def clean(text: str) -> str:
    """Control characters out (receivers reject or mangle them); newlines and tabs kept."""
    return _CONTROL.sub("", text)


def one_line(text: str) -> str:
    return " ".join(clean(text).split())


def slack_escape(text: str) -> str:
    """Slack interprets & < > in text (`<!channel>` pings a whole channel): escape exactly those."""
    return clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_clip(text: str, limit: int, note: str = ELLIPSIS) -> str:
    """Escape, then cut; a cut never leaves half an entity behind."""
    escaped = slack_escape(text)
    if units(escaped) <= limit:
        return escaped
    return _PARTIAL_ENTITY.sub("", _head(escaped, limit - units(note))) + note


def finding_label(finding_id: str) -> str:
    """The Jira label that finds the issue of a finding again (labels cannot contain spaces)."""
    return f"mlgov-{finding_id}"


def full_record(finding_id: str, findings_table: str | None) -> str:
    """Where the whole finding is, for a message that had to be cut."""
    if findings_table:
        key = json.dumps({"finding_id": {"S": finding_id}}, separators=(",", ":"))
        return f"full finding: aws dynamodb get-item --table-name {findings_table} --key '{key}'"
    return f"full finding: item finding_id={finding_id} of the findings table (stack MlGovEndpointAudit)"


_SAGEMAKER_PAGES = {
    "endpoint": "endpoints",
    "endpoint-config": "endpointConfig",
    "model": "models",
    "training-job": "jobs",
}


def console_url(resource_arn: str, region: str) -> str:
    """The resource's console page; packages and groups (none outside Studio) get the SageMaker console."""
    region = urllib.parse.quote(region, safe="-")
    parts = resource_arn.split(":", 5)
    service, rest = (parts[2], parts[5]) if len(parts) == 6 else ("", "")
    kind, _, name = rest.partition("/")
    quoted = urllib.parse.quote(name, safe="")
    if service == "sagemaker" and kind in _SAGEMAKER_PAGES and ENDPOINT_NAME.fullmatch(name):
        return (
            f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/{_SAGEMAKER_PAGES[kind]}/{name}"
        )
    if service == "sagemaker" and kind in ("model-package", "model-package-group"):
        return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}"
    if service == "iam" and kind == "role" and name:
        return f"https://console.aws.amazon.com/iam/home#/roles/details/{quoted.rsplit('%2F', 1)[-1]}"
    arn = urllib.parse.quote(resource_arn, safe=":")
    if service == "states" and rest.startswith("stateMachine:"):
        return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/statemachines/view/{arn}"
    if service == "states" and rest.startswith("execution:"):
        return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{arn}"
    return f"https://{region}.console.aws.amazon.com/console/home?region={region}"


def _about(finding: dict[str, Any]) -> str:
    """What a press decides (resource and account), for its confirmation dialog; the press worker checks both
    against the request, so another finding carrying the request's id decides nothing."""
    decision = (finding.get("evidence") or {}).get("approval_request", {}).get("decision")
    what = "promotion of" if decision == "challenger" else "deletion of"
    return one_line(f"{what} {finding['resource_arn']} (account {finding['account_id']}, {finding['region']})")


def slack_message(finding: dict[str, Any], findings_table: str | None = None) -> dict[str, Any]:
    """A Block Kit message: resource, account, region, what is wrong and why, a console link."""
    emoji = SEVERITY_EMOJI.get(finding["severity"], "")
    link = console_url(finding["resource_arn"], finding["region"])
    cut = f"{ELLIPSIS} (cut to fit Slack; {slack_escape(full_record(finding['finding_id'], findings_table))})"
    what = "*What and why*\n"
    resource = "*Resource*\n"
    status = finding.get("status", "OPEN")
    header = one_line(finding["title"]) or finding["kind"]  # Slack refuses an empty header
    footer = f"finding `{finding['finding_id']}` | {status} | {finding['source']} | {finding['detected_at']}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(header, SLACK_HEADER_MAX)}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Severity*\n{emoji} {finding['severity']}"},
                {"type": "mrkdwn", "text": f"*Kind*\n{finding['kind']}"},
                {"type": "mrkdwn", "text": f"*Account / region*\n{finding['account_id']} / {finding['region']}"},
                {
                    "type": "mrkdwn",
                    "text": f"{resource}<{link}|"
                    + slack_clip(finding["resource_arn"], SLACK_FIELD_MAX - units(resource + link) - 3)
                    + ">",
                },
            ],
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": what + slack_clip(finding["detail"], SLACK_SECTION_MAX - units(what), cut),
            },
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": slack_clip(footer, SLACK_SECTION_MAX),
                }
            ],
        },
    ]
    request_id = (finding.get("evidence") or {}).get("approval_request", {}).get("request_id")
    if status == "OPEN" and isinstance(request_id, str) and re.fullmatch(r"rq-[0-9a-f]{20}", request_id):
        from mlgov_runtime.approvals.slack import action_block  # a pending human decision: its buttons

        blocks.insert(3, action_block(request_id, _about(finding)))
    return {
        "text": slack_clip(f"[{finding['severity']}] {one_line(finding['title'])}", SLACK_SECTION_MAX),
        "blocks": blocks[:SLACK_BLOCKS_MAX],
    }


def _paragraph(text: str) -> dict[str, Any] | None:
    """One ADF paragraph; lines become hardBreaks (ADF text nodes are never empty)."""
    content: list[dict[str, Any]] = []
    for line in clean(text).split("\n"):
        if content:
            content.append({"type": "hardBreak"})
        if line:
            content.append({"type": "text", "text": line})
    while content and content[-1]["type"] == "hardBreak":
        content.pop()
    return {"type": "paragraph", "content": content} if content else None


def adf_document(paragraphs: list[str], code: str | None = None) -> dict[str, Any]:
    """Atlassian Document Format (REST API v3 bodies): paragraphs of plain text, then a code block."""
    content = [p for p in (_paragraph(text) for text in paragraphs) if p]
    code = clean(code or "")
    if code:
        content.append(
            {"type": "codeBlock", "attrs": {"language": "json"}, "content": [{"type": "text", "text": code}]}
        )
    if not content:
        content = [{"type": "paragraph", "content": [{"type": "text", "text": "(no detail)"}]}]
    return {"type": "doc", "version": 1, "content": content}


def jira_description(finding: dict[str, Any], findings_table: str | None = None) -> dict[str, Any]:
    pointer = full_record(finding["finding_id"], findings_table)
    detail = clip(finding["detail"], 8000, f"{ELLIPSIS} (cut; {pointer})")
    where = clip(
        f"Resource: {finding['resource_arn']}\nAccount: {finding['account_id']} Region: {finding['region']}\n"
        f"Console: {console_url(finding['resource_arn'], finding['region'])}",
        3000,
    )
    evidence = json.dumps(finding.get("evidence") or {}, indent=2, sort_keys=True, default=str)
    heading = "Evidence:"
    room = JIRA_TEXT_BUDGET - units(detail) - units(where) - units(heading) - 16
    if units(evidence) > room:
        note = f"\n{ELLIPSIS} evidence cut at {room:,} of {units(evidence):,} characters to fit Jira; {pointer}"
        evidence = clip(evidence, room, note)
    return adf_document([detail, where, heading], evidence)


def jira_summary(finding: dict[str, Any]) -> str:
    return clip(one_line(f"[{finding['severity']}] {finding['title']}"), JIRA_SUMMARY_MAX)


def jira_issue(
    finding: dict[str, Any], project_key: str, issue_type: str, findings_table: str | None = None
) -> dict[str, Any]:
    return {
        "fields": {
            "project": {"key": project_key},
            "issuetype": {"name": issue_type},
            "summary": jira_summary(finding),
            "labels": ["mlgov", finding_label(finding["finding_id"]), finding["kind"].lower().replace("_", "-")],
            "description": jira_description(finding, findings_table),
        }
    }


def jira_comment(finding: dict[str, Any], findings_table: str | None = None) -> dict[str, Any]:
    status = finding.get("status", "OPEN")
    head = "Resolved" if status == "RESOLVED" else "Detected again"
    pointer = full_record(finding["finding_id"], findings_table)
    first = f"{head} at {finding['detected_at']} ({finding['source']}, severity {finding['severity']})."
    detail = clip(finding["detail"], JIRA_TEXT_BUDGET - units(first) - 8, f"{ELLIPSIS} (cut; {pointer})")
    return {"body": adf_document([first, detail])}
