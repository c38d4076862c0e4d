"""The lineage audit's reads of one endpoint, which its per-endpoint check (endpoint_check.MEMBER_ACTIONS)
declares at run time; the rest of its actions: stacks/permissions/lineage_audit.py."""

LINEAGE_READ = (
    "sagemaker:DescribeEndpoint",
    "sagemaker:DescribeEndpointConfig",
    "sagemaker:DescribeModel",
    "sagemaker:DescribeModelPackage",
    "sagemaker:ListEndpoints",
    "sagemaker:ListTags",
    "sagemaker:ListInferenceComponents",
    "sagemaker:DescribeInferenceComponent",
)
