"""IAM actions of the shared paths, and how a botocore call maps to the IAM action it needs."""

# Findings store and channel (every producer).
FINDINGS_WRITE = ("dynamodb:GetItem", "dynamodb:UpdateItem")
FINDINGS_PUBLISH = ("sns:Publish",)
FINDINGS = FINDINGS_WRITE + FINDINGS_PUBLISH

# Powertools idempotency records (event-driven entry points).
IDEMPOTENCY = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")

# IAM prefixes that differ from botocore's service name.
_IAM_PREFIX = {"stepfunctions": "states"}
# Operations authorized as another action (Service Authorization Reference): HeadObject is s3:GetObject,
# CopyObject is s3:PutObject on the copy (and s3:GetObject on its source, declared beside it).
# sns:Publish grants PublishBatch too (SNS API permissions reference). Lambda's Invoke is lambda:InvokeFunction.
_AUTHORIZED_AS = {
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "CopyObject"): "s3:PutObject",
    ("sns", "PublishBatch"): "sns:Publish",
}


def iam_action(service: str, operation: str) -> str:
    """The IAM action a botocore call needs, e.g. ("stepfunctions", "StartExecution") -> "states:StartExecution"."""
    if (service, operation) in _AUTHORIZED_AS:
        return _AUTHORIZED_AS[(service, operation)]
    return f"{_IAM_PREFIX.get(service, service)}:{operation}"
