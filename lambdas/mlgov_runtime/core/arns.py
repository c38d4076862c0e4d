"""ARNs in the right partition: a literal "arn:aws:" names nothing in aws-cn or aws-us-gov."""

from __future__ import annotations

import re

# A versioned model package (fullmatch): its group, by SageMaker's name rule, and its version.
PACKAGE_NAME = re.compile(r"([a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})/(\d{1,9})")
PACKAGE_ARN = re.compile(r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/" + PACKAGE_NAME.pattern)


def partition_for(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    return "aws"


def sagemaker_arn(region: str, account_id: str, resource: str) -> str:
    """e.g. sagemaker_arn("cn-north-1", "123456789012", "endpoint/x") -> "arn:aws-cn:sagemaker:cn-north-1:..."."""
    return f"arn:{partition_for(region)}:sagemaker:{region}:{account_id}:{resource}"


def role_arn(region: str, account_id: str, role_name: str) -> str:
    return f"arn:{partition_for(region)}:iam::{account_id}:role/{role_name}"
