"""IAM actions the retraining pipeline's Lambda steps need."""

from mlgov_runtime.core.permissions import FINDINGS

CATALOG_READ = ("dynamodb:Scan",)
SNAPSHOT_READ = ("s3:GetObject", "s3:GetObjectVersion")
SNAPSHOT_WRITE = ("s3:PutObject",)
REGISTRY_READ = ("sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage")
REGISTRY_REGISTER = ("sagemaker:CreateModelPackage",)

ACTIONS = frozenset(CATALOG_READ + SNAPSHOT_READ + SNAPSHOT_WRITE + REGISTRY_READ + REGISTRY_REGISTER + FINDINGS)
