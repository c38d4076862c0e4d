"""IAM actions the notifier needs: its secret, its delivery state, the page topic, and parking a
refused finding in its own dead-letter queue."""

SECRET_READ = ("secretsmanager:GetSecretValue",)
STATE = ("dynamodb:GetItem", "dynamodb:PutItem")
PAGE = ("sns:Publish",)
PARK = ("sqs:SendMessage",)
# A RESOLVED finding closes a Jira issue only when the stored record agrees.
FINDINGS_READ = ("dynamodb:GetItem",)

# Security Hub (alert_routing.security_hub): import ASFF records; a resolution sets their workflow.
SECURITY_HUB = ("securityhub:BatchImportFindings", "securityhub:BatchUpdateFindings")

ACTIONS = frozenset(SECRET_READ + STATE + PAGE + PARK + FINDINGS_READ + SECURITY_HUB)
