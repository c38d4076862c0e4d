#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth` / `make synth`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from mlgov.cdk import CapacityGuard
from mlgov.guardrails import GuardrailLimitError
from mlgov.settings import CONTEXT_KEY, SettingsError, check_context_keys, parse_settings, read_cdk_context
from stacks.audit_stack import GovernanceAuditStack
from stacks.constants import (
    ACCOUNT_GUARDRAILS_STACK_NAME,
    AUDIT_STACK_NAME,
    GUARDRAILS_STACK_NAME,
    MEMBER_FORWARDING_STACK_NAME,
    MEMBER_ROLE_STACK_NAME,
    MEMBER_ROLE_STACKSET_STACK_NAME,
)
from stacks.guardrails_stack import AccountGuardrailsStack, GuardrailsStack
from stacks.member_role_stack import MemberForwardingStack, MemberRoleStack, MemberRoleStackSetStack

# Behaviour the stacks rely on, set here so tests and `cdk synth` build the same templates.
FEATURE_FLAGS = (
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy",
    "@aws-cdk/aws-lambda:recognizeLayerVersion",
    "@aws-cdk/aws-iam:minimizePolicies",
    "@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2",
)


ROOT = Path(__file__).resolve().parent
# Set by the CDK CLI (`cdk synth`) when it runs this file with cdk.json's context.
CLI_CONTEXT_VARIABLES = ("CDK_CONTEXT_JSON", "CONTEXT_OVERFLOW_LOCATION_ENV")


def cdk_json_context(directory: Path | None = None) -> dict[str, Any]:
    """The context `cdk synth` would pass: cdk.json's, then cdk.context.json's on top."""
    where = directory or ROOT
    return {**read_cdk_context(where / "cdk.json"), **read_cdk_context(where / "cdk.context.json", whole=True)}


def build_app(context: dict | None = None) -> cdk.App:
    if context is None and not any(os.environ.get(name) for name in CLI_CONTEXT_VARIABLES):
        context = cdk_json_context()  # `python app.py` reads the same settings as `cdk synth`
    app = cdk.App(context=context) if context is not None else cdk.App()
    for flag in FEATURE_FLAGS:
        app.node.set_context(flag, True)
    check_context_keys(app.node.get_all_context())
    settings = parse_settings(app.node.try_get_context(CONTEXT_KEY))
    env = cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION"))
    GovernanceAuditStack(
        app,
        AUDIT_STACK_NAME,
        settings=settings,
        env=env,
        description="ML model governance: endpoint registry audit and findings channel",
    )
    GuardrailsStack(
        app,
        GUARDRAILS_STACK_NAME,
        settings=settings,
        env=env,
        description="ML model governance: SCPs for the Organizations management account",
    )
    AccountGuardrailsStack(
        app,
        ACCOUNT_GUARDRAILS_STACK_NAME,
        settings=settings,
        env=env,
        description="ML model governance: guardrails as IAM policies for a single account",
    )
    MemberRoleStack(
        app,
        MEMBER_ROLE_STACK_NAME,
        settings=settings,
        description="ML model governance: read-only role in a member account for the org-wide scan and the audit",
    )
    MemberForwardingStack(
        app,
        MEMBER_FORWARDING_STACK_NAME,
        settings=settings,
        description="ML model governance: forwards a member account's SageMaker events to the governance bus",
    )
    if settings.org_scan.member_role_target_ou_ids:
        MemberRoleStackSetStack(
            app,
            MEMBER_ROLE_STACKSET_STACK_NAME,
            settings=settings,
            env=env,
            description="ML model governance: StackSet that puts the member role in every account of the target OUs",
        )
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    cdk.Aspects.of(app).add(CapacityGuard.from_settings(settings))  # no endpoint may scale to zero
    return app


def main() -> int:
    try:
        app = build_app()
    except (SettingsError, GuardrailLimitError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
