"""IAM actions of the approval service. Only it answers task tokens, opens requests (for a caller STS
verified) and MACs records; the waiting steps attach their token and verify MACs. The identity proof needs
no permission of the service: STS checks the caller's own signature (sts:GetCallerIdentity is never denied);
the service reads its own function URL (the audience a proof must name) from Lambda, on itself only."""

READ = ("dynamodb:GetItem",)
SETTLE = ("dynamodb:UpdateItem",)
CREATE = ("dynamodb:PutItem",)
ATTACH = ("dynamodb:UpdateItem",)
MAC = ("kms:GenerateMac", "kms:VerifyMac")
VERIFY_MAC = ("kms:VerifyMac",)
START = ("states:StartExecution",)
IDENTITY = ("sts:GetCallerIdentity",)
# The CLI's service checks each proof against its own function URL's host, read from Lambda (never the event).
OWN_URL = ("lambda:GetFunctionUrlConfig",)
ANSWER = ("states:SendTaskSuccess", "states:SendTaskFailure")
SIGNING_SECRET = ("secretsmanager:GetSecretValue",)
# The Slack function hands a verified press to the worker (asynchronous invoke); it decides nothing itself.
HAND_OFF = ("lambda:InvokeFunction",)
# A challenger request is believed only for a RUNNING challenger execution started for its package.
DESCRIBE_EXECUTION = ("states:DescribeExecution",)

SERVICE_ACTIONS = frozenset(
    READ + SETTLE + CREATE + ANSWER + SIGNING_SECRET + MAC + START + IDENTITY + OWN_URL + DESCRIBE_EXECUTION + HAND_OFF
)
ACTIONS = SERVICE_ACTIONS
