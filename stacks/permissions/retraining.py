"""IAM actions the retraining pipeline's Lambda steps need."""

from stacks.permissions.core import FINDINGS

CATALOG_READ = ("dynamodb:Scan",)
SNAPSHOT_READ = ("s3:GetObject", "s3:GetObjectVersion")
SNAPSHOT_WRITE = ("s3:PutObject",)
REGISTRY_READ = ("sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage")
REGISTRY_REGISTER = ("sagemaker:CreateModelPackage",)
# Registration copies the training output to the write-once prefix (CopyObject: s3:GetObject on the source,
# s3:PutObject on the copy), heads it for its pins, and resolves the inference image's tag to its digest.
ARTIFACT_COPY = ("s3:GetObject", "s3:PutObject")
IMAGE_RESOLVE = ("ecr:DescribeImages", "ecr:BatchGetImage")

ACTIONS = frozenset(
    CATALOG_READ
    + SNAPSHOT_READ
    + SNAPSHOT_WRITE
    + REGISTRY_READ
    + REGISTRY_REGISTER
    + FINDINGS
    + ARTIFACT_COPY
    + IMAGE_RESOLVE
)
