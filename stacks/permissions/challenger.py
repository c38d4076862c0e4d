"""IAM actions of the challenger gate. The Steps function's role is the deployment pipeline role the guardrails
name; the state machine's own role (the approver role) holds APPROVE and nothing else of SageMaker. The Events
function (the rules' target) starts executions and reads packages: it can change nothing a step changes."""

from stacks.permissions.core import FINDINGS, IDEMPOTENCY

ENDPOINT_READ = (
    "sagemaker:DescribeEndpoint",
    "sagemaker:DescribeEndpointConfig",
    "sagemaker:DescribeModel",
    "sagemaker:ListTags",
)
# CreateModel/CreateEndpointConfig with tags are authorized as AddTags too.
ENDPOINT_CHANGE = (
    "sagemaker:CreateModel",
    "sagemaker:CreateEndpointConfig",
    "sagemaker:UpdateEndpoint",
    "sagemaker:UpdateEndpointWeightsAndCapacities",
    "sagemaker:AddTags",
)
PASS_MODEL_ROLE = ("iam:PassRole",)
REGISTRY_READ = ("sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages")
# Conditioned in the construct: the Lambda may set Rejected (or write metadata), never Approved.
REGISTRY_REJECT = ("sagemaker:UpdateModelPackage",)
METRICS_READ = ("cloudwatch:GetMetricData",)
START_EXPERIMENT = ("states:StartExecution",)
# A step reads its own execution; a start reads the retraining execution and the role that created a package.
VERIFY_EXECUTION = ("states:DescribeExecution",)
VERIFY_CREATOR = ("iam:GetRole",)
APPROVE = ("sagemaker:UpdateModelPackage",)

# The Events function: a registered package starts an execution (once per event id), an Approved one is re-read.
EVENTS_ACTIONS = frozenset((*START_EXPERIMENT, "sagemaker:DescribeModelPackage", *FINDINGS, *IDEMPOTENCY))
STEPS_ACTIONS = frozenset(
    ENDPOINT_READ
    + ENDPOINT_CHANGE
    + PASS_MODEL_ROLE
    + REGISTRY_READ
    + REGISTRY_REJECT
    + METRICS_READ
    + VERIFY_EXECUTION
    + VERIFY_CREATOR
    + FINDINGS
)
ACTIONS = EVENTS_ACTIONS | STEPS_ACTIONS
