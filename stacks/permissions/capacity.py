"""IAM actions the capacity check needs (read only, plus its findings and idempotency records). Its reads of
one endpoint live beside its per-endpoint check, which declares them at run time."""

from mlgov_runtime.capacity.permissions import AUTOSCALING_READ, ENDPOINT_READ
from stacks.permissions.core import FINDINGS, IDEMPOTENCY

# No resource-level permissions for these.
LISTS = ("sagemaker:ListEndpoints", "sagemaker:ListInferenceComponents")
# Resolving an account's OU ancestry, only when exemptions name OUs.
ORGANIZATION_READ = ("organizations:ListParents",)

ACTIONS = frozenset(ENDPOINT_READ + LISTS + AUTOSCALING_READ + ORGANIZATION_READ + FINDINGS + IDEMPOTENCY)
