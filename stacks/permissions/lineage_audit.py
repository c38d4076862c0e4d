"""IAM actions the endpoint lineage audit needs (read only, plus its findings and idempotency records). Its reads of
one endpoint (LINEAGE_READ) live beside its per-endpoint check, which declares them at run time."""

from mlgov_runtime.lineage_audit.permissions import LINEAGE_READ
from stacks.permissions.core import FINDINGS, IDEMPOTENCY

# List calls that accept no resource scope.
UNSCOPED_LISTS = ("sagemaker:ListEndpoints", "sagemaker:ListInferenceComponents")
# Resolving an account's OU ancestry, only when exemptions name OUs.
ORGANIZATION_READ = ("organizations:ListParents",)

# The weekly scan finds open findings of endpoints that no longer exist.
FINDINGS_SCAN = ("dynamodb:Scan",)
# Pins, read with the governance account's own role (never the member role): HeadObject of the pinned
# model data (authorized as s3:GetObject) and the image tag's current digest.
PIN_READ = ("s3:GetObject", "ecr:DescribeImages", "ecr:BatchGetImage")

# The serving index: every audit records what each endpoint serves; a package change looks it up.
SERVING_INDEX = ("dynamodb:PutItem", "dynamodb:Query")

# A challenger-shaped variant is under evaluation only while a RUNNING challenger execution was started for it:
# ListExecutions on the challenger state machine, DescribeExecution on its executions (nothing else).
CHALLENGER_RUNS = ("states:ListExecutions", "states:DescribeExecution")

ACTIONS = frozenset(
    LINEAGE_READ
    + ORGANIZATION_READ
    + FINDINGS
    + IDEMPOTENCY
    + FINDINGS_SCAN
    + PIN_READ
    + SERVING_INDEX
    + CHALLENGER_RUNS
)
