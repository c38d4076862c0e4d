"""What a finding looks like in Slack and Jira, and where it goes. Pure: no HTTP here."""

from __future__ import annotations

from typing import Any

SEVERITY_EMOJI = {
    "CRITICAL": ":rotating_light:",
    "HIGH": ":red_circle:",
    "MEDIUM": ":large_orange_circle:",
    "LOW": ":large_yellow_circle:",
    "INFO": ":white_check_mark:",
}


def finding_label(finding_id: str) -> str:
    """The Jira label that finds the issue of a finding again (labels cannot contain spaces)."""
    return f"mlgov-{finding_id}"


def console_url(resource_arn: str, region: str) -> str:
    if ":endpoint/" in resource_arn:
        name = resource_arn.rsplit("/", 1)[1]
        return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/endpoints/{name}"
    return f"https://{region}.console.aws.amazon.com/console/home?region={region}"


def slack_message(finding: dict[str, Any]) -> dict[str, Any]:
    """A Block Kit message: resource, account, region, what is wrong and why, a console link."""
    emoji = SEVERITY_EMOJI.get(finding["severity"], "")
    link = console_url(finding["resource_arn"], finding["region"])
    detail = finding["detail"] if len(finding["detail"]) <= 2900 else finding["detail"][:2900] + "..."
    return {
        "text": f"[{finding['severity']}] {finding['title']}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"{finding['title']}"[:150]}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*Severity*\n{emoji} {finding['severity']}"},
                    {"type": "mrkdwn", "text": f"*Kind*\n{finding['kind']}"},
                    {"type": "mrkdwn", "text": f"*Account / region*\n{finding['account_id']} / {finding['region']}"},
                    {"type": "mrkdwn", "text": f"*Resource*\n<{link}|{finding['resource_arn']}>"},
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*What and why*\n{detail}"}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"finding `{finding['finding_id']}` | "
                        f"{finding.get('status', 'OPEN')} | {finding['source']} | {finding['detected_at']}",
                    }
                ],
            },
        ],
    }


def _adf(text: str) -> dict[str, Any]:
    """Atlassian Document Format for a plain multi-paragraph text (REST API v3 bodies)."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()] or [" "]
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs],
    }


def jira_description(finding: dict[str, Any]) -> dict[str, Any]:
    import json

    evidence = json.dumps(finding.get("evidence", {}), indent=2, sort_keys=True)[:20000]
    text = (
        f"{finding['detail']}\n\nResource: {finding['resource_arn']}\nAccount: {finding['account_id']} "
        f"Region: {finding['region']}\nConsole: {console_url(finding['resource_arn'], finding['region'])}"
        f"\n\nEvidence:\n{evidence}"
    )
    return _adf(text)


def jira_issue(finding: dict[str, Any], project_key: str, issue_type: str) -> dict[str, Any]:
    return {
        "fields": {
            "project": {"key": project_key},
            "issuetype": {"name": issue_type},
            "summary": f"[{finding['severity']}] {finding['title']}"[:250],
            "labels": ["mlgov", finding_label(finding["finding_id"]), finding["kind"].lower().replace("_", "-")],
            "description": jira_description(finding),
        }
    }


def jira_comment(finding: dict[str, Any]) -> dict[str, Any]:
    status = finding.get("status", "OPEN")
    head = "Resolved" if status == "RESOLVED" else "Detected again"
    return {"body": _adf(f"{head} at {finding['detected_at']} ({finding['source']}).\n\n{finding['detail']}")}
