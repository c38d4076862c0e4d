"""IAM actions the weekly coverage check needs."""

from stacks.permissions.core import FINDINGS

CATALOG_READ = ("dynamodb:Scan",)
SNAPSHOT_READ = ("s3:GetObject", "s3:GetObjectVersion")
REGISTRY_READ = ("sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage")
PIPELINE_START = ("states:StartExecution", "states:ListExecutions")

ACTIONS = frozenset(CATALOG_READ + SNAPSHOT_READ + REGISTRY_READ + PIPELINE_START + FINDINGS)
