"""IAM actions of the shared paths. No imports: the CDK app reads the permission modules too."""

# Findings store and channel (every producer).
FINDINGS_WRITE = ("dynamodb:GetItem", "dynamodb:UpdateItem")
FINDINGS_PUBLISH = ("sns:Publish",)
FINDINGS = FINDINGS_WRITE + FINDINGS_PUBLISH

# Powertools idempotency records (event-driven entry points).
IDEMPOTENCY = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")

# IAM prefixes that differ from botocore's service name.
_IAM_PREFIX = {"stepfunctions": "states"}


def iam_action(service: str, operation: str) -> str:
    """The IAM action a botocore call needs, e.g. ("stepfunctions", "StartExecution") -> "states:StartExecution"."""
    return f"{_IAM_PREFIX.get(service, service)}:{operation}"
