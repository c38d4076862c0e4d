"""The approval service: the approvals store (the only place task tokens live), a function URL with
AWS_IAM auth for `mlgov retire approve|deny`, and, with approvals.slack_buttons, a function URL Slack
calls (no IAM auth: Slack's request signature is verified in the function with the signing secret)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from mlgov_runtime.approvals import permissions as p
from mlgov_runtime.approvals import settings as e
from stacks.building_blocks import GovernedFunction, encrypted_table
from stacks.capability import CapabilityConstruct

SLACK_HANDLER = "mlgov_runtime.approvals.handler.slack"


class Approvals(CapabilityConstruct):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.table = encrypted_table(self, "ApprovalsTable", self.channel.key, "request_id", ttl_attribute="expiration")
        self.service = self._function("Service", self.capability.handler, "Approve or deny a request (IAM callers)")
        self.url = self.service.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
        CfnOutput(
            self,
            "ApprovalServiceUrl",
            value=self.url.url,
            description="`mlgov retire approve|deny` signs requests to it (--approval-url or MLGOV_APPROVAL_URL)",
        )
        self.slack: GovernedFunction | None = None
        if self.settings.approvals.slack_buttons:
            self.signing_secret = secretsmanager.Secret(
                self,
                "SlackSigningSecret",
                description="Slack app signing secret (set it after deploying)",
                encryption_key=self.channel.key,
            )
            self.slack = self._function("Slack", SLACK_HANDLER, "Slack Approve/Deny buttons (signed requests)")
            self.slack.function.add_environment(e.SLACK_SIGNING_SECRET_ARN, self.signing_secret.secret_arn)
            self.slack.policy.add_statements(
                iam.PolicyStatement(
                    sid="ReadSigningSecret", actions=list(p.SIGNING_SECRET), resources=[self.signing_secret.secret_arn]
                )
            )
            # Slack cannot sign with SigV4; the function refuses anything Slack did not sign.
            slack_url = self.slack.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
            CfnOutput(
                self,
                "SlackInteractivityUrl",
                value=slack_url.url,
                description="Slack app > Interactivity & Shortcuts > Request URL",
            )
            self.nag_suppressions.append((self.signing_secret, ["AwsSolutions-SMG4"]))

    def _function(self, construct_id: str, handler: str, description: str) -> GovernedFunction:
        return GovernedFunction(
            self,
            construct_id,
            description=description,
            handler=handler,
            environment={
                **self.settings.approvals.environment(),
                e.APPROVALS_TABLE_NAME: self.table.table_name,
                "POWERTOOLS_SERVICE_NAME": "approvals",
            },
            statements=[
                iam.PolicyStatement(
                    sid="DecideRequests", actions=[*p.READ, *p.SETTLE], resources=[self.table.table_arn]
                ),
                iam.PolicyStatement(
                    sid="UseGovernanceKey",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[self.channel.key.key_arn],
                ),
            ],
            log_retention_days=self.settings.log_retention_days,
            timeout=Duration.seconds(30),
        )

    def functions(self) -> list[GovernedFunction]:
        return [f for f in (self.service, self.slack) if f is not None]

    def answer_for(self, machine: sfn.StateMachine, sid: str) -> None:
        """Only the approval service answers the tokens of `machine`'s waiting tasks."""
        for function in self.functions():
            function.policy.add_statements(
                iam.PolicyStatement(sid=sid, actions=list(p.ANSWER), resources=[machine.state_machine_arn])
            )

    def grant_requests(self, waiting: GovernedFunction) -> None:
        """A step that waits for a decision writes its request (with the token) and reads the decision."""
        waiting.policy.add_statements(
            iam.PolicyStatement(
                sid="RecordApprovalRequests", actions=[*p.CREATE, *p.READ], resources=[self.table.table_arn]
            )
        )
        waiting.function.add_environment(e.APPROVALS_TABLE_NAME, self.table.table_name)
