"""IAM actions of the org-wide scan's functions. The member-account reads are the union of what the
registered per-endpoint checks declare (mlgov.member_actions): the worker needs them in
its own account, and the member role (stacks/member_role_stack.py) grants exactly them elsewhere."""

from mlgov.member_actions import member_actions
from stacks.permissions.core import FINDINGS

ORGANIZATION_READ = (
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListTagsForResource",
)
REPORT_READ = ("s3:GetObject", "s3:ListBucket")  # ListBucket: a missing object is NoSuchKey, not AccessDenied
REPORT_WRITE = ("s3:PutObject",)
FINDINGS_OPEN = ("dynamodb:Scan",)  # the open findings the scan may close
ASSUME_MEMBER = ("sts:AssumeRole",)
OU_LOOKUP = ("organizations:ListParents",)  # exemptions bound to OUs
SIGN = ("kms:GenerateMac",)  # targets.json (plan), results (worker) and rolled_up.json (aggregate) carry an HMAC
VERIFY = ("kms:VerifyMac",)  # the aggregate believes only what verifies
# The lineage check reads artifact pins with the worker's own role, never the member role.
PIN_READ = ("s3:GetObject", "ecr:DescribeImages", "ecr:BatchGetImage")
# The serving index, kept by every scan; the real-time audit's deployment records read from it.
INDEX_WRITE = ("dynamodb:PutItem", "dynamodb:Query")
COST_USAGE = ("ce:GetCostAndUsage",)  # the report's hosting cost by endpoint purpose
# Is a challenger-shaped variant of the governance account a RUNNING experiment's? The challenger machine only.
CHALLENGER_RUNS = ("states:ListExecutions", "states:DescribeExecution")

MEMBER_READ = member_actions()

PLAN = frozenset(ORGANIZATION_READ + REPORT_WRITE + SIGN)
WORKER = (
    frozenset(ASSUME_MEMBER + REPORT_WRITE + OU_LOOKUP + SIGN + PIN_READ + INDEX_WRITE + CHALLENGER_RUNS) | MEMBER_READ
)
AGGREGATE = frozenset(REPORT_READ + REPORT_WRITE + FINDINGS + FINDINGS_OPEN + SIGN + VERIFY + COST_USAGE)

ACTIONS = PLAN | WORKER | AGGREGATE
