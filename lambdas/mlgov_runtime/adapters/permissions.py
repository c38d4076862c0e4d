"""IAM actions each governance action needs, declared next to the code that makes the calls.

Constructs grant exactly these; tests/integration checks that the calls the adapters really make
are all declared, and tests/infrastructure that the synthesized role grants nothing else.
No imports here: the CDK app reads this module too.
"""

# Endpoint lineage audit (read only).
ENDPOINT_AUDIT_READ = (
    "sagemaker:DescribeEndpoint",
    "sagemaker:DescribeEndpointConfig",
    "sagemaker:DescribeModel",
    "sagemaker:DescribeModelPackage",
    "sagemaker:ListEndpoints",
    "sagemaker:ListTags",
)

# Resolving an account's OU ancestry, only when exemptions name OUs.
ORGANIZATION_READ = ("organizations:ListParents",)

# Findings store and channel.
FINDINGS_WRITE = ("dynamodb:GetItem", "dynamodb:UpdateItem")
FINDINGS_PUBLISH = ("sns:Publish",)


# Notifier: its secret, its delivery state, the page topic.
NOTIFIER_SECRET_READ = ("secretsmanager:GetSecretValue",)
NOTIFIER_STATE = ("dynamodb:GetItem", "dynamodb:PutItem")
NOTIFIER_PAGE = ("sns:Publish",)

# Coverage check and retraining pipeline.
CATALOG_READ = ("dynamodb:Scan",)
SNAPSHOT_READ = ("s3:GetObject", "s3:GetObjectVersion")
SNAPSHOT_WRITE = ("s3:PutObject",)
REGISTRY_READ = ("sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage")
REGISTRY_REGISTER = ("sagemaker:CreateModelPackage",)
PIPELINE_START = ("states:StartExecution", "states:ListExecutions")

# IAM prefixes that differ from botocore's service name.
_IAM_PREFIX = {"stepfunctions": "states"}


def iam_action(service: str, operation: str) -> str:
    """The IAM action a botocore call needs, e.g. ("stepfunctions", "StartExecution") -> "states:StartExecution"."""
    return f"{_IAM_PREFIX.get(service, service)}:{operation}"
