"""Is a member account/region forwarding SageMaker events to the governance bus? The member StackSet
deploys one EventBridge rule per account and region (stacks/member_role_stack.py); without it, endpoints
created there are audited only by the weekly scan. The scan reads the rule through the member role."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlgov_runtime.core.arns import partition_for
from mlgov_runtime.core.findings import Finding

RULE_NAME = "mlgov-forward-sagemaker-events"
KIND = "EVENT_FORWARDING_MISSING"
MEMBER_ACTIONS = frozenset({"events:DescribeRule"})
# What the rule forwards: everything the real-time audit, the capacity guard and retirement listen to.
SOURCES = ("aws.sagemaker", "aws.application-autoscaling")
DETAIL_TYPES = (
    "AWS API Call via CloudTrail",
    "SageMaker Endpoint State Change",
    "SageMaker Model Package State Change",
    "SageMaker Inference Component State Change",
)

OK, MISSING, DISABLED, UNKNOWN, NOT_APPLICABLE = "OK", "MISSING", "DISABLED", "UNKNOWN", "N/A"
FIX = (
    "Next: add the account's OU to org_scan.member_role_target_ou_ids (the member StackSet deploys the rule in "
    "every org_scan region), or deploy it by hand in that account and region: `cdk deploy {stack}`."
)


def rule_arn(region: str, account_id: str) -> str:
    return f"arn:{partition_for(region)}:events:{region}:{account_id}:rule/{RULE_NAME}"


def check(events: Any) -> tuple[str, str]:
    """(status, reason) of the forwarding rule, read with the member role's events client."""
    try:
        rule = events.describe_rule(Name=RULE_NAME)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            return MISSING, f"No EventBridge rule {RULE_NAME}: SageMaker events are not forwarded."
        return UNKNOWN, f"Could not read rule {RULE_NAME} ({code or 'error'}): forwarding unknown, not assumed."
    except BotoCoreError as exc:
        return UNKNOWN, f"Could not read rule {RULE_NAME} ({type(exc).__name__}): forwarding unknown, not assumed."
    if rule.get("State") != "ENABLED":
        return (
            DISABLED,
            f"Rule {RULE_NAME} is {rule.get('State') or 'not enabled'}: SageMaker events are not forwarded.",
        )
    return OK, ""


def finding(account_id: str, region: str, status: str, reason: str, source: str, stack: str) -> Finding:
    return Finding(
        kind=KIND,
        severity="MEDIUM",
        account_id=account_id,
        region=region,
        resource_arn=rule_arn(region, account_id),
        title=f"Account {account_id} in {region} does not forward SageMaker events: new endpoints wait for the "
        "weekly scan",
        detail=f"{reason} An endpoint created there is audited only by the weekly scan, not within a minute. "
        + FIX.format(stack=stack),
        source=source,
        evidence={"status": status, "rule_name": RULE_NAME},
    )
