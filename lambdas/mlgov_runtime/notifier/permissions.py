"""IAM actions the notifier needs: its secret, its delivery state, the page topic."""

SECRET_READ = ("secretsmanager:GetSecretValue",)
STATE = ("dynamodb:GetItem", "dynamodb:PutItem")
PAGE = ("sns:Publish",)

ACTIONS = frozenset(SECRET_READ + STATE + PAGE)
