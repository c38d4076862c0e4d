"""IAM actions of endpoint retirement. The audit/tag function never deletes; only the deletion steps,
run by the state machine after a human approved, hold DeleteEndpoint (and the construct allows it
only on endpoints tagged retiring)."""

from stacks.permissions.core import FINDINGS, IDEMPOTENCY

ENDPOINT_READ = (
    "sagemaker:DescribeEndpoint",
    "sagemaker:DescribeEndpointConfig",
    "sagemaker:DescribeModel",
    "sagemaker:ListTags",
    "sagemaker:ListInferenceComponents",
    "sagemaker:DescribeInferenceComponent",
)
ENDPOINT_LIST = ("sagemaker:ListEndpoints",)
REGISTRY_READ = ("sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage")
METRICS_READ = ("cloudwatch:GetMetricStatistics", "cloudwatch:ListMetrics")
# Only ever sets the purpose tag to retiring (request condition in the construct).
RETIRING_TAG = ("sagemaker:AddTags",)
DELETE = ("sagemaker:DeleteEndpoint",)
COST_ANOMALIES = ("ce:GetAnomalies",)
# The deletion steps verify their own execution and read/write its approval record.
EXECUTION_READ = ("states:DescribeExecution",)
APPROVAL_RECORDS = ("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem")
# The delete step verifies the approval service's MAC on the record (never makes one).
APPROVAL_MAC_VERIFY = ("kms:VerifyMac",)

AUDIT_ACTIONS = frozenset(
    ENDPOINT_READ
    + ENDPOINT_LIST
    + REGISTRY_READ
    + METRICS_READ
    + RETIRING_TAG
    + COST_ANOMALIES
    + FINDINGS
    + IDEMPOTENCY
)
STEP_ACTIONS = frozenset(
    ENDPOINT_READ
    + REGISTRY_READ
    + METRICS_READ
    + RETIRING_TAG
    + DELETE
    + FINDINGS
    + EXECUTION_READ
    + APPROVAL_RECORDS
    + APPROVAL_MAC_VERIFY
)
ACTIONS = AUDIT_ACTIONS | STEP_ACTIONS
