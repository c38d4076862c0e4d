"""Does a member account/region forward SageMaker events to the governance bus (docs/org-scan.md, 'A tampered
forwarding rule')? Enabled is not enough: a rewritten pattern or a removed target forwards nothing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlgov_runtime.core.arns import partition_for
from mlgov_runtime.core.findings import Finding

RULE_NAME = "mlgov-forward-sagemaker-events"
KIND = "EVENT_FORWARDING_MISSING"
MEMBER_ACTIONS = frozenset({"events:DescribeRule", "events:ListTargetsByRule"})
# What the audit, the capacity guard and retirement listen to.
SOURCES = ("aws.sagemaker", "aws.application-autoscaling")
DETAIL_TYPES = (
    "AWS API Call via CloudTrail",
    "SageMaker Endpoint State Change",
    "SageMaker Model Package State Change",
    "SageMaker Inference Component State Change",
)

# The stack's target id; a target that rewrites the events forwards no event.
TARGET_ID = "GovernanceBus"
# The bus's organization statement needs a sender: only this role (DenyMemberRoleChanges) is the stack's.
FORWARDING_ROLE_PREFIX = "mlgov-member-forwarding"
MEMBER_ROLE_PATH = "/mlgov-member/"
REWRITES = ("Input", "InputPath", "InputTransformer")

OK, MISSING, DISABLED, TAMPERED = "OK", "MISSING", "DISABLED", "TAMPERED"
UNKNOWN, NOT_APPLICABLE = "UNKNOWN", "N/A"
# A finding (UNKNOWN is only in the row).
PROBLEMS = (MISSING, DISABLED, TAMPERED)
FIX = (
    "Next: add the account's OU to org_scan.member_role_target_ou_ids (the member StackSet deploys the rule in "
    "every org_scan region). Outside the guarded OUs it may also be deployed by hand in that account and region, "
    "from a checkout: {deploy}; under the guardrail SCPs only the StackSet, role admins and break-glass roles may "
    "make its role (DenyMemberRoleChanges), so there use the StackSet."
)
# A redeploy leaves a drifted rule as it is: put it back.
FIX_TAMPERED = (
    "Next (docs/org-scan.md, 'A tampered forwarding rule'): with credentials of account {account} in {region}, put "
    "the stack's pattern back: `{put_rule}`; then open {console} and give it back its target {target_id}: the "
    "governance bus {bus}, whole events (no input change), the role the forwarding stack created "
    "({role}). Find who changed it: CloudTrail PutRule, PutTargets, RemoveTargets on {rule} there."
)


def rule_arn(region: str, account_id: str) -> str:
    return f"arn:{partition_for(region)}:events:{region}:{account_id}:rule/{RULE_NAME}"


def governance_bus(account_id: str, region: str) -> str:
    """The governance account's default bus."""
    return f"arn:{partition_for(region)}:events:{region}:{account_id}:event-bus/default"


def expected_pattern() -> dict[str, list[str]]:
    return {"source": list(SOURCES), "detail-type": list(DETAIL_TYPES)}


def pattern_problem(text: Any) -> str | None:
    """Why the rule's pattern is not the stack's (order of values aside), or None."""
    try:
        pattern = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        pattern = None
    if not isinstance(pattern, dict):
        return f"Rule {RULE_NAME} has no readable event pattern: SageMaker events are not forwarded."
    expected = expected_pattern()
    same = set(pattern) == set(expected) and all(
        isinstance(pattern[k], list) and sorted(map(str, pattern[k])) == sorted(v) for k, v in expected.items()
    )
    if same:
        return None
    shown = json.dumps(pattern, separators=(",", ":"))
    return (
        f"Rule {RULE_NAME} is enabled but its event pattern was changed ({shown[:300]}): it does not match what the "
        "audit, the capacity guard and retirement listen to."
    )


def forwards(target: dict[str, Any], bus: str, region: str) -> bool:
    """The stack's target: `bus`, whole events, the stack's forwarding role."""
    role = str(target.get("RoleArn") or "")
    own_role = role.split(":", 5)[-1] == f"role{MEMBER_ROLE_PATH}{FORWARDING_ROLE_PREFIX}-{region}"
    return target.get("Arn") == bus and own_role and not any(target.get(k) for k in REWRITES)


def _targets(events: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"Rule": RULE_NAME}
    while True:
        page = events.list_targets_by_rule(**kwargs)
        found += page.get("Targets") or []
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def check(events: Any, bus: str) -> tuple[str, str]:
    """(status, reason) of the forwarding rule, through the member role's events client."""
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
    changed = pattern_problem(rule.get("EventPattern"))
    if changed:
        return TAMPERED, changed
    try:
        targets = _targets(events)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        return (
            UNKNOWN,
            f"Could not list the targets of {RULE_NAME} ({code or 'error'}): forwarding unknown, not assumed.",
        )
    except BotoCoreError as exc:
        return UNKNOWN, f"Could not list the targets of {RULE_NAME} ({type(exc).__name__}): forwarding unknown."
    if any(forwards(t, bus, events.meta.region_name) for t in targets):
        return OK, ""
    if not targets:
        return TAMPERED, f"Rule {RULE_NAME} is enabled but has no target: SageMaker events are not forwarded."
    seen = ", ".join(sorted(_shown(t) for t in targets))
    return (
        TAMPERED,
        f"Rule {RULE_NAME} is enabled but no target puts the events unchanged on the governance bus {bus} as the "
        f"forwarding role {MEMBER_ROLE_PATH}{FORWARDING_ROLE_PREFIX}-<region> (targets: {seen[:300]}): SageMaker "
        "events are not forwarded there.",
    )


def _shown(target: dict[str, Any]) -> str:
    role = str(target.get("RoleArn") or "no role").rsplit(":", 1)[-1]
    rewritten = ", input rewritten" if any(target.get(k) for k in REWRITES) else ""
    return f"{target.get('Arn')} ({role}{rewritten})"


def put_rule_command(region: str) -> str:
    """The AWS CLI call that puts the stack's pattern (and state) back on the rule."""
    pattern = json.dumps(expected_pattern(), separators=(",", ":"))
    return f"aws events put-rule --name {RULE_NAME} --state ENABLED --region {region} --event-pattern '{pattern}'"


def rule_console(region: str) -> str:
    return f"https://{region}.console.aws.amazon.com/events/home?region={region}#/eventbus/default/rules/{RULE_NAME}"


def deploy_command(stack: str, parameters: Mapping[str, str | None]) -> str:
    """A member stack's deploy with its parameters (without them CloudFormation refuses it); unknown ones named."""
    # Double quotes: a value may be a command substitution ($(aws ...)) the shell fills in.
    given = "".join(
        f' --parameters "{k}={v}"' if " " in v else f" --parameters {k}={v}" for k, v in parameters.items() if v
    )
    unknown = " and ".join(k for k, v in parameters.items() if not v)
    if not given:
        return f"`npx cdk deploy {stack}` with its parameters {unknown}"
    return f"`npx cdk deploy {stack}{given}`" + (f", adding its parameters {unknown}" if unknown else "")


def bus_parameters(bus: str | None) -> dict[str, str | None]:
    """The forwarding stack's parameters: the governance bus's account and region."""
    parts = (bus or "").split(":")
    return {
        "GovernanceAccountId": parts[4] if len(parts) > 4 and parts[4] else None,
        "GovernanceRegion": parts[3] if len(parts) > 4 and parts[3] else None,
    }


def fix(account_id: str, region: str, status: str, stack: str, bus: str | None) -> str:
    if status != TAMPERED:
        return FIX.format(deploy=deploy_command(stack, bus_parameters(bus)))
    return FIX_TAMPERED.format(
        account=account_id,
        region=region,
        put_rule=put_rule_command(region),
        console=rule_console(region),
        target_id=TARGET_ID,
        bus=bus or "of the governance account",
        rule=RULE_NAME,
        role=f"arn:{partition_for(region)}:iam::{account_id}:role{MEMBER_ROLE_PATH}{FORWARDING_ROLE_PREFIX}-{region}",
    )


def finding(
    account_id: str, region: str, status: str, reason: str, source: str, stack: str, bus: str | None = None
) -> Finding:
    return Finding(
        kind=KIND,
        severity="MEDIUM",
        account_id=account_id,
        region=region,
        resource_arn=rule_arn(region, account_id),
        title=f"Account {account_id} in {region} does not forward SageMaker events: new endpoints wait for the "
        "weekly scan",
        detail=f"{reason} An endpoint created there is audited only by the weekly scan, not within a minute. "
        + fix(account_id, region, status, stack, bus),
        source=source,
        evidence={"status": status, "rule_name": RULE_NAME},
    )
