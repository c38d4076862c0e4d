"""`mlgov guardrails explain`: which guardrail statement decides a request, why, and what to do."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

ADVICE = {
    "DenyEndpointWithoutPackageTag": (
        "CreateEndpoint needs the request tag ModelPackageName=<model package version ARN> "
        "(arn:aws:sagemaker:REGION:ACCOUNT:model-package/GROUP/VERSION).",
        "Register the model in the Model Registry, get it approved, and deploy through the deployment pipeline, "
        "or use an experiment- endpoint in an experiment account.",
    ),
    "DenyLineageChangeOutsidePipeline": (
        "UpdateEndpoint and CreateEndpointConfig change which model an endpoint serves; only the deployment "
        "pipeline roles may do that outside experiment accounts.",
        "Ship the change through the deployment pipeline (it registers, waits for approval, then deploys).",
    ),
    "DenyGovernanceTagChange": (
        "The governance tags (ModelPackageName, endpoint_purpose) record lineage and lifecycle; only the "
        "deployment pipeline may add, change or remove them.",
        "Let the pipeline retag the endpoint, or tag with a key that is not a governance key.",
    ),
    "DenyApprovalOutsideApprovers": (
        "Setting a model package to Approved is reserved for the approver roles.",
        "Register as PendingManualApproval and ask an approver (a role matching mlgov.guardrails.approver_role_arns).",
    ),
}


def _base_sid(sid: str | None) -> str:
    return re.sub(r"(Named|OutsideExperiments)$", "", sid or "")


def add_parser(sub: Any, aws_options: Any) -> None:
    guardrails = sub.add_parser("guardrails", help="preventive guardrails (SCPs / IAM policies)")
    gsub = guardrails.add_subparsers(dest="guardrails_command", required=True)
    explain = gsub.add_parser("explain", help="which guardrail statement decides a request, and what to do")
    explain.add_argument("--action", required=True, help="e.g. sagemaker:CreateEndpoint")
    explain.add_argument("--tag", action="append", default=[], metavar="K=V", help="request tag (repeatable)")
    explain.add_argument("--tag-key", action="append", default=[], metavar="K", help="tag key removed (DeleteTags)")
    explain.add_argument("--endpoint-name", default="my-endpoint", help="endpoint (or endpoint config) name")
    explain.add_argument(
        "--principal", default="arn:aws:iam::111111111111:role/DataScientist", help="the calling role's ARN"
    )
    explain.add_argument("--account", help="the caller's account (default: from --principal)")
    explain.add_argument("--approval-status", help="ModelApprovalStatus in the request")
    explain.add_argument("--org-path", help="the caller's organization path, e.g. o-xxx/r-xxx/ou-xxx/")
    explain.add_argument(
        "--config", type=Path, default=Path("cdk.json"), help="cdk.json with the mlgov settings (default ./cdk.json)"
    )
    explain.add_argument("--format", choices=("table", "json"), default="table")
    explain.set_defaults(func=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
    from mlgov.cli import EXIT_OK, EXIT_VIOLATIONS, UsageError, _settings
    from mlgov.policy_eval import evaluate
    from stacks.guardrail_policies import GuardrailLimitError, guardrail_policies

    if not re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9*]+", args.action):
        raise UsageError(f"--action {args.action!r} is not service:Action (e.g. sagemaker:CreateEndpoint)")
    tags = {}
    for item in args.tag:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--tag {item!r} is not KEY=VALUE")
        tags[key] = value
    account_match = re.match(r"arn:aws[a-z-]*:(iam|sts)::(\d{12}):", args.principal)
    account = args.account or (account_match.group(2) if account_match else None)
    if not account:
        raise UsageError("--principal is not an IAM role ARN with an account id; pass --account")
    try:
        policies = {p.name: p.document for p in guardrail_policies(_settings(args))}
    except GuardrailLimitError as exc:
        raise UsageError(str(exc)) from None
    action = args.action
    if "ModelPackage" in action:
        resource = f"arn:aws:sagemaker:us-east-1:{account}:model-package/{args.endpoint_name}/1"
    else:
        kind = "endpoint-config" if action.endswith("EndpointConfig") else "endpoint"
        resource = f"arn:aws:sagemaker:us-east-1:{account}:{kind}/{args.endpoint_name}"
    context: dict[str, Any] = {"aws:PrincipalArn": args.principal, "aws:PrincipalAccount": account}
    context.update({f"aws:RequestTag/{k}": v for k, v in tags.items()})
    if tags or args.tag_key:
        context["aws:TagKeys"] = list(tags) + list(args.tag_key)
    if args.approval_status:
        context["sagemaker:ModelApprovalStatus"] = args.approval_status
    if args.org_path:
        context["aws:PrincipalOrgPaths"] = [args.org_path]
    result = evaluate(policies, action, resource, context)
    why, todo = ADVICE.get(_base_sid(result.statement), ("No guardrail statement denies this request.", ""))
    if result.decision == "Deny" and result.statement and result.statement.endswith("OutsideExperiments"):
        why += " The experiment- exemption applies only in the experiment accounts/OUs of the settings."
    report = {
        "decision": result.decision,
        "policy": result.policy,
        "statement": result.statement,
        "resource": resource,
        "context": context,
        "why": why,
        "what_to_do": todo,
    }
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(f"{result.decision}: {action} on {resource}")
        print(
            f"  decided by : {result.policy}/{result.statement}"
            if result.statement
            else "  decided by : no deny matches (allowed by FullAWSAccess / your IAM policies)"
        )
        print(f"  why        : {why}")
        if todo:
            print(f"  what to do : {todo}")
    return EXIT_VIOLATIONS if result.decision == "Deny" else EXIT_OK
