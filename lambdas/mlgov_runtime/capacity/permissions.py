"""The capacity check's reads of one endpoint, which its per-endpoint check (endpoint_check.MEMBER_ACTIONS)
declares at run time; the rest of its actions: stacks/permissions/capacity.py."""

ENDPOINT_READ = (
    "sagemaker:DescribeEndpoint",
    "sagemaker:DescribeEndpointConfig",
    "sagemaker:DescribeInferenceComponent",
    "sagemaker:ListTags",
)
AUTOSCALING_READ = (
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "application-autoscaling:DescribeScheduledActions",
)
