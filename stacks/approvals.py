"""The approval service: the approvals store (the only place task tokens live), a function URL with
AWS_IAM auth for `mlgov retire request|approve|deny` (callers are proven by STS inside the function; the
URL's IAM auth is a second layer), and, with approvals.slack_buttons, a function URL Slack calls (no IAM
auth: Slack's request signature is verified in the function with the signing secret), which answers Slack at
once and hands the press to a worker function that checks the signature again and decides. Records are MACed
with a KMS HMAC key whose key policy lets only the service make MACs and the waiting steps verify them;
the table's resource policy denies its data to every other principal."""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import CfnOutput, Duration, IStableListProducer, Lazy, RemovalPolicy, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from mlgov.guardrails import PRODUCT_KEY_TAG
from mlgov_runtime.approvals import settings as e
from mlgov_runtime.approvals.slack import HAND_OFF_MAX_AGE_SECONDS
from stacks.building_blocks import GovernedFunction, deny_everyone, encrypted_table, keep_secret, keep_table_controls
from stacks.capability import CapabilityConstruct
from stacks.permissions import approvals as p

SLACK_HANDLER = "mlgov_runtime.approvals.handler.slack"
PRESS_WORKER_HANDLER = "mlgov_runtime.approvals.handler.slack_worker"
# The worker's calls are bounded (handler.DECIDE_*: 12 s each at worst, seven AWS calls and one response_url post
# of 2 x 2 s on its longest path): 88 s (100 s when the decision's write lost its reply and is claimed back), so it
# never times out between writing a decision and answering the step.
# Three runs (the event and Lambda's two retries, 1 and 2 min apart) fit the hand-off's 10 min.
PRESS_WORKER_SECONDS = 120
# Slack waits 3 s, cold start included. Lambda gives CPU in proportion to memory (one vCPU at 1,769 MB): the imports
# and two clients of a cold start, 0.35 s on one core, take about 1.2 s at 512 MB (bench/slack_cold_bench.py).
SLACK_MEMORY_MB = 1769


@jsii.implements(IStableListProducer)
class _RoleArns:
    """The roles allowed on the approvals table, known only once every waiting step was granted."""

    def __init__(self, roles: list[iam.IRole]) -> None:
        self._roles = roles

    def produce(self) -> list[str]:
        return [r.role_arn for r in self._roles]


class Approvals(CapabilityConstruct):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.table = encrypted_table(self, "ApprovalsTable", self.channel.key, "request_id", ttl_attribute="expiration")
        self.mac_key = self._mac_key()
        self.table_users: list[iam.IRole] = []
        self.mac_makers: list[iam.IRole] = []
        self._restrict_mac_key()
        self.service = self._function("Service", self.capability.handler, "Approve or deny a request (IAM callers)")
        self._allow_mac(self.service, p.MAC, "ServiceMacs")
        self.service.policy.add_statements(
            iam.PolicyStatement(sid="OpenRequests", actions=list(p.CREATE), resources=[self.table.table_arn])
        )
        self._restrict_table()
        self.url = self.service.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
        # Each identity proof must name this URL's host; the service reads it from Lambda, on itself only (its
        # URL in its own environment would be a CloudFormation cycle; its ARN in its separate policy is not).
        self.service.policy.add_statements(
            iam.PolicyStatement(
                sid="ReadOwnUrl", actions=list(p.OWN_URL), resources=[self.service.function.function_arn]
            )
        )
        CfnOutput(
            self,
            "ApprovalServiceUrl",
            value=self.url.url,
            description="`mlgov retire approve|deny` signs requests to it (--approval-url or MLGOV_APPROVAL_URL)",
        )
        self.slack: GovernedFunction | None = None
        self.press_worker: GovernedFunction | None = None
        if self.settings.approvals.slack_buttons:
            self.signing_secret = secretsmanager.Secret(
                self,
                "SlackSigningSecret",
                description="Slack app signing secret (set it after deploying)",
                encryption_key=self.channel.key,
            )
            # Decides the presses the Slack function hands off. No URL; only the Slack function's role is granted
            # its invoke (DenyProductFunctionInvoke keeps others out), and it believes only what Slack signed.
            self.press_worker = self._function(
                "PressWorker",
                PRESS_WORKER_HANDLER,
                "Decide Slack button presses (Slack's signature checked again)",
                seconds=PRESS_WORKER_SECONDS,
            )
            self._allow_mac(self.press_worker, p.MAC, "SlackMacs")
            # An event older than this is dropped; the worker refuses presses signed longer ago than this plus 5 min.
            self.press_worker.function.configure_async_invoke(
                max_event_age=Duration.seconds(HAND_OFF_MAX_AGE_SECONDS), retry_attempts=2
            )
            self.errors_alarm(
                "PressWorkerErrors",
                "A Slack button press could not be checked, decided or answered to its step (the presser was told)",
                self.press_worker.function,
            )
            # Slack waits 3 s for the answer: this function only checks the signature and hands the press off.
            self.slack = self._function(
                "Slack",
                SLACK_HANDLER,
                "Slack Approve/Deny buttons (signed requests)",
                decides=False,
                seconds=5,
                memory=SLACK_MEMORY_MB,
            )
            # Unauthenticated URL: a flood of unsigned requests cannot take the account's concurrency.
            cfn_slack: Any = self.slack.function.node.default_child
            cfn_slack.reserved_concurrent_executions = self.settings.approvals.slack_reserved_concurrency
            self.slack.function.add_environment(e.SLACK_WORKER_FUNCTION, self.press_worker.function.function_name)
            self.slack.policy.add_statements(
                iam.PolicyStatement(
                    sid="HandOffPresses", actions=list(p.HAND_OFF), resources=[self.press_worker.function.function_arn]
                )
            )
            for function in (self.slack, self.press_worker):
                function.function.add_environment(e.SLACK_SIGNING_SECRET_ARN, self.signing_secret.secret_arn)
                function.policy.add_statements(
                    iam.PolicyStatement(
                        sid="ReadSigningSecret",
                        actions=list(p.SIGNING_SECRET),
                        resources=[self.signing_secret.secret_arn],
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
            # Whoever reads the signing secret signs a press as any listed Slack approver.
            guardrails = self.settings.guardrails
            keep_secret(
                self.signing_secret,
                readers=[self.slack.role.role_arn, self.press_worker.role.role_arn],
                deployers=guardrails.deployer_role_arns,
                value_writers=guardrails.operator_role_arns,
            )
        challenger = kwargs.get("peers", {}).get("challenger")
        if challenger is not None and self.settings.challenger.require_human_approval:
            self.wire_challenger(challenger)

    def _mac_key(self) -> kms.Key:
        """HMAC key for approval records. Its policy gives the account administration only, not MAC use: only
        the roles named below (service: generate; waiting steps: verify) may use it."""
        root = iam.AccountRootPrincipal()
        admin = iam.PolicyStatement(
            sid="AdministerOnly",
            principals=[root],
            actions=[
                "kms:Create*",
                "kms:Describe*",
                "kms:Enable*",
                "kms:List*",
                "kms:Put*",
                "kms:Update*",
                "kms:Revoke*",
                "kms:Disable*",
                "kms:Get*",
                "kms:Delete*",
                "kms:TagResource",
                "kms:UntagResource",
                "kms:ScheduleKeyDeletion",
                "kms:CancelKeyDeletion",
            ],
            resources=["*"],
        )
        key = kms.Key(
            self,
            "ApprovalMacKey",
            description="MACs approval records (only the approval service generates; the deletion steps verify)",
            key_spec=kms.KeySpec.HMAC_256,
            key_usage=kms.KeyUsage.GENERATE_VERIFY_MAC,
            policy=iam.PolicyDocument(statements=[admin]),
            removal_policy=RemovalPolicy.RETAIN,
        )
        # "Administration" above is the deployer's alone where the guardrails apply (DenyProductKeyAdministration).
        Tags.of(key).add(*PRODUCT_KEY_TAG)
        return key

    def _allow_mac(self, function: GovernedFunction, actions: tuple[str, ...], sid: str) -> None:
        function.policy.add_statements(
            iam.PolicyStatement(sid=sid, actions=list(actions), resources=[self.mac_key.key_arn])
        )
        self.mac_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid, principals=[iam.ArnPrincipal(function.role.role_arn)], actions=list(actions), resources=["*"]
            )
        )
        function.function.add_environment(e.MAC_KEY_ID, self.mac_key.key_arn)
        self.table_users.append(function.role)
        if "kms:GenerateMac" in actions:
            self.mac_makers.append(function.role)

    def _restrict_mac_key(self) -> None:
        """Explicit denies, which no grant (kms:CreateGrant is the account's to delegate) and no IAM policy
        overrides: only the approval service makes MACs, only the roles given MAC use verify them."""
        for sid, action, roles in (
            ("OnlyTheServiceMakesMacs", "kms:GenerateMac", self.mac_makers),
            ("OnlyApprovalRolesVerifyMacs", "kms:VerifyMac", self.table_users),
        ):
            self.mac_key.add_to_resource_policy(
                deny_everyone(sid, [action], ["*"], {"ArnNotEquals": {"aws:PrincipalArn": Lazy.list(_RoleArns(roles))}})
            )

    def _restrict_table(self) -> None:
        """Only the approval service and the waiting steps touch the records (tokens, decisions); only the deployer
        changes the table's policy, protection or TTL, or deletes it."""
        self.table.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyApprovalRoles",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=[
                    "dynamodb:GetItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:Query",
                    "dynamodb:Scan",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:PartiQL*",
                ],
                resources=["*"],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": Lazy.list(_RoleArns(self.table_users))}},
            )
        )
        keep_table_controls(self.table, self.settings.guardrails.deployer_role_arns)

    def _function(
        self,
        construct_id: str,
        handler: str,
        description: str,
        decides: bool = True,
        seconds: int = 30,
        memory: int = 512,
    ) -> GovernedFunction:
        """`decides`: reads and settles requests (the Slack function only reads its secret and hands off)."""
        decide = iam.PolicyStatement(
            sid="DecideRequests", actions=[*p.READ, *p.SETTLE], resources=[self.table.table_arn]
        )
        return GovernedFunction(
            self,
            construct_id,
            description=description,
            handler=handler,
            environment={
                **self.received_environment(),
                e.APPROVALS_TABLE_NAME: self.table.table_name,
                "POWERTOOLS_SERVICE_NAME": "approvals",
            },
            statements=[
                *([decide] if decides else []),
                iam.PolicyStatement(
                    sid="UseGovernanceKey",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[self.channel.key.key_arn],
                ),
            ],
            log_retention_days=self.settings.log_retention_days,
            timeout=Duration.seconds(seconds),
            memory_size=memory,
        )

    def functions(self) -> list[GovernedFunction]:
        """The functions that decide (answer tokens): the CLI's service and, with Slack buttons, the press worker."""
        return [f for f in (self.service, self.press_worker) if f is not None]

    def answer_for(self, machine: sfn.StateMachine, sid: str) -> None:
        """Only the approval service answers the tokens of `machine`'s waiting tasks; the CLI's service also
        starts its executions (after recording the verified requester)."""
        for function in self.functions():
            function.policy.add_statements(
                iam.PolicyStatement(sid=sid, actions=list(p.ANSWER), resources=[machine.state_machine_arn])
            )
        self.service.policy.add_statements(
            iam.PolicyStatement(sid=f"{sid}Start", actions=list(p.START), resources=[machine.state_machine_arn])
        )
        self.service.function.add_environment(e.RETIREMENT_STATE_MACHINE_ARN, machine.state_machine_arn)

    def wire_challenger(self, challenger: Any) -> None:
        """challenger.require_human_approval: the service answers the challenger machine's tokens, and believes a
        challenger request only for a RUNNING execution of that machine (DescribeExecution); the challenger
        function attaches its token and verifies the decision's MAC."""
        machine: sfn.StateMachine = challenger.state_machine
        executions = machine.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":*"
        for function in self.functions():
            function.policy.add_statements(
                iam.PolicyStatement(
                    sid="AnswerChallengerRequests", actions=list(p.ANSWER), resources=[machine.state_machine_arn]
                ),
                iam.PolicyStatement(
                    sid="VerifyChallengerExecutions", actions=list(p.DESCRIBE_EXECUTION), resources=[executions]
                ),
            )
            function.function.add_environment(e.CHALLENGER_STATE_MACHINE_ARN, machine.state_machine_arn)
        # Its approvers travel in its own settings variable (approvals.approvers only: 4 KB in all).
        self.grant_requests(challenger.steps, sid="ChallengerVerifyApprovalMacs", send_settings=False)

    def grant_requests(
        self, waiting: GovernedFunction, sid: str = "VerifyApprovalMacs", send_settings: bool = True
    ) -> None:
        """A step that waits for a decision attaches its token to the request the service opened, reads the
        decision and verifies its MAC (never makes one)."""
        waiting.policy.add_statements(
            iam.PolicyStatement(
                sid="RecordApprovalRequests",
                actions=[*p.CREATE, *p.ATTACH, *p.READ],
                resources=[self.table.table_arn],
            )
        )
        waiting.function.add_environment(e.APPROVALS_TABLE_NAME, self.table.table_name)
        if send_settings:  # who may decide
            for name, value in self.received_environment().items():
                waiting.function.add_environment(name, value)
        self._allow_mac(waiting, p.VERIFY_MAC, sid)
