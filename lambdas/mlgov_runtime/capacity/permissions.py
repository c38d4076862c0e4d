"""IAM actions the capacity check needs (read only, plus its findings and idempotency records)."""

from mlgov_runtime.core.permissions import FINDINGS, IDEMPOTENCY

ENDPOINT_READ = (
    "sagemaker:DescribeEndpoint",
    "sagemaker:DescribeEndpointConfig",
    "sagemaker:DescribeInferenceComponent",
    "sagemaker:ListTags",
)
# No resource-level permissions for these.
LISTS = ("sagemaker:ListEndpoints", "sagemaker:ListInferenceComponents")
AUTOSCALING_READ = (
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "application-autoscaling:DescribeScheduledActions",
)
# Resolving an account's OU ancestry, only when exemptions name OUs.
ORGANIZATION_READ = ("organizations:ListParents",)

ACTIONS = frozenset(ENDPOINT_READ + LISTS + AUTOSCALING_READ + ORGANIZATION_READ + FINDINGS + IDEMPOTENCY)
