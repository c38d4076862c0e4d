"""IAM actions of the approval service. Only it answers task tokens; the waiting steps write requests
(their construct grants CREATE and READ on the approvals table)."""

READ = ("dynamodb:GetItem",)
SETTLE = ("dynamodb:UpdateItem",)
CREATE = ("dynamodb:PutItem",)
ANSWER = ("states:SendTaskSuccess", "states:SendTaskFailure")
SIGNING_SECRET = ("secretsmanager:GetSecretValue",)

SERVICE_ACTIONS = frozenset(READ + SETTLE + ANSWER + SIGNING_SECRET)
ACTIONS = SERVICE_ACTIONS
