"""`mlgov guardrails explain`: which guardrail statement decides a request, why, and what to do."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from mlgov.commands import common

ADVICE = {
    "DenyEndpointWithoutPackageTag": (
        "CreateEndpoint needs the request tag ModelPackageName=<model package version ARN> "
        "(arn:aws:sagemaker:REGION:ACCOUNT:model-package/GROUP/VERSION).",
        "Register the model in the Model Registry, get it approved, and deploy through the deployment pipeline, "
        "or use an experiment- endpoint in an experiment account.",
    ),
    "DenyLineageChangeOutsidePipeline": (
        "Creating, updating or deleting an endpoint, its weights and capacities or an endpoint config changes what "
        "it serves (a deletion takes it down); outside experiment endpoints only the deployment pipeline, "
        "break-glass and the product's roles (the retirement's delete) may.",
        "Ship the change through the deployment pipeline (it registers, waits for approval, then deploys).",
    ),
    "DenyGovernanceTagChange": (
        "The governance tags (ModelPackageName, endpoint_purpose) record lineage and lifecycle; only the "
        "deployment pipeline, break-glass and the product's roles (the retirement) may add, change or remove them.",
        "Let the pipeline retag the endpoint, or tag with a key that is not a governance key.",
    ),
    "DenyApprovalOutsideApprovers": (
        "Setting a model package to Approved is reserved for the approver roles.",
        "Register as PendingManualApproval and ask an approver (a role matching mlgov.guardrails.approver_role_arns).",
    ),
    "DenyRegistryWriteOutsidePipeline": (
        "A package in a watched group is a challenger candidate, and a group policy lets other accounts write into "
        "a group: only the pipeline and the product's retraining register there or change group policies.",
        "Register through the retraining pipeline (`mlgov register` from a pipeline role), or use an unwatched group.",
    ),
    "DenyRecommendationMetricsOutsideWriters": (
        "The challenger gate decides on the impressions and clicks in this namespace; only the recommender's "
        "metric-writer roles (mlgov.guardrails.metric_writer_role_arns) may write there.",
        "Publish from the recommender's role, or to another namespace.",
    ),
    "DenyProductEventsOutsideProduct": (
        "Events with an mlgov.* source start the product's acts (a Model Package Registered event starts a "
        "challenger); only the product's roles may send them.",
        "Start a retraining run (`aws stepfunctions start-execution` on the retraining state machine) instead.",
    ),
    "DenyProtectedRoleChanges": (
        "Roles on the protected path are the exempt pipeline, approver and operator roles and the product's own; "
        "only role admins (and the deployer) may create, change or pass them. No StackSet may: a service-managed "
        "StackSet would make them in every account.",
        "Ask a role admin (mlgov.guardrails.role_admin_arns).",
    ),
    "DenyMemberRoleChanges": (
        "The member audit role (mlgov.member_audit_role_name) and the event forwarding role "
        "(mlgov-member-forwarding-<region>) are the member StackSets' roles, protected by name on any path: the scan "
        "reads through the first, the forwarding rule puts events on the governance bus through the second.",
        "Let the member StackSets (re)create them (`aws cloudformation list-stack-instances --stack-set-name "
        "mlgov-member-role`), or ask a role admin; a role of your own needs another name.",
    ),
    "DenyProductKeyTagOutsideDeploy": (
        "The tag key mlgov:guarded marks the product's KMS keys (administered only in a deploy): on any other key "
        "it would lock the key's owners out. Only the deployer sets it.",
        "Use another tag key; the product's keys get theirs from `npx cdk deploy MlGovEndpointAudit`.",
    ),
    "DenyProductRoleChanges": (
        "The product's and the deployer's roles are exempt by name; only role admins and the deployer change them.",
        "Change the role through the product's stack (`npx cdk deploy`), or ask a role admin.",
    ),
    "DenyProductRolePass": (
        "Passing a product role to your own resource would run it with the product's rights.",
        "Create your own role for your resource.",
    ),
    "DenyProductFunctionInvoke": (
        "The product's functions act on what their state machine recorded; only the product's roles invoke them "
        "directly (calls through a function URL, such as the approval service's, are not denied here).",
        "Use the CLI (`mlgov challenger start`, `mlgov retire request`, `mlgov retire approve --request ID`).",
    ),
    "DenyProductFunctionChanges": (
        "The product's functions' code and settings (MLGOV_<CAPABILITY>_SETTINGS: alphas, minimum minutes) change "
        "only by deploy.",
        "Change cdk.json and run `npx cdk deploy MlGovEndpointAudit` as the deployer.",
    ),
    "DenyProductStateMachineStart": (
        "The product's state machines start only from the product or an operator role "
        "(mlgov.guardrails.operator_role_arns).",
        "Assume an operator role and use the CLI (`mlgov retire request`, `mlgov challenger start`).",
    ),
    "DenyProductStateMachineChanges": (
        "The product's state machine definitions change only by deploy.",
        "Change the stack and run `npx cdk deploy MlGovEndpointAudit` as the deployer.",
    ),
    "DenyTaskAnswersOutsideProduct": (
        "Answering a waiting task (a deletion approval) is for the product's roles only: the approval service "
        "checks who approves and answers the token.",
        "Run `mlgov retire approve --request ID` or `mlgov retire deny --request ID --reason TEXT` "
        "(signed, through the approval service's URL).",
    ),
    "DenyProductAlarmAndLogChanges": (
        "The product's alarms and log groups are where every refusal ends: they change only by deploy, or a "
        "silenced alarm or an erased log hides what the product refused.",
        "Change the alarm or the log retention in the stack and run `npx cdk deploy MlGovEndpointAudit` as the "
        "deployer.",
    ),
    "DenyServingImageTagMutabilityChange": (
        "A serving repository's tags must stay immutable and its images the pipeline's: a changed mutability, "
        "or a deleted image whose tag is pushed again, changes what the next approved package runs.",
        "Push or delete serving images through the pipeline; check the repository with "
        "`aws ecr describe-repositories --repository-names R`.",
    ),
    "DenyServingChangeOutsidePipeline": (
        "A model or inference component is what an endpoint serves: only the deployment pipeline creates, swaps "
        "or deletes them outside experiment accounts.",
        "Ship the model through the deployment pipeline, or use an experiment- name in an experiment account.",
    ),
    "DenyPackageChangeOutsideApprovers": (
        "An update without a status can still repoint an Approved package; every model package update is for "
        "approvers and the pipeline.",
        "Ask an approver (mlgov.guardrails.approver_role_arns), or let the pipeline (`mlgov rollback`) change it.",
    ),
    "DenyProductFunctionTriggers": (
        "An event source mapping invokes a product function as the function's own role with records whoever "
        "writes the queue chose; only the deployer maps them.",
        "Change the stack and run `npx cdk deploy MlGovEndpointAudit` as the deployer.",
    ),
    "DenyProductStackChanges": (
        "Where the product runs, a stack keeps the role it was deployed with for every update (the product's and "
        "any team stack deployed with the same CDK bootstrap keep the deployer role), and the CDK bootstrap roles "
        "of the deployers' qualifier trust the whole account: only the deployer roles, role admins and CDK's "
        "deploy role create or change any stack there, or assume those roles.",
        "Run `npx cdk deploy` as a role admin or a role in mlgov.guardrails.deployer_role_arns; deploy team stacks "
        "into another account, or as a role admin.",
    ),
    "DenyProductRuleChanges": (
        "The product's rules (and the member forwarding rule mlgov-forward-sagemaker-events) reach its functions "
        "as EventBridge; they are changed, enabled or disabled only in a deploy (the deployer; for the forwarding "
        "rule also the StackSets execution role).",
        "Change the stack and deploy it (`npx cdk deploy`, or the member StackSet).",
    ),
    "DenyProductRuleChangesByStackSets": (
        "The governance stack's rules (the real-time audit, the schedules, the challenger's start) change only as "
        "the deployer or break-glass; a StackSet (any service-managed one acts as stacksets-exec-*) may change only "
        "the member forwarding rule mlgov-forward-sagemaker-events.",
        "Change the rule in the product's stack and run `npx cdk deploy MlGovEndpointAudit` as the deployer; "
        "deploy no StackSet into the account where the product runs that touches MlGovEndpointAudit-* rules.",
    ),
    "DenyChannelDrainOutsideProduct": (
        "Purging the product's queues, changing their or its topics' policies, or changing their subscriptions "
        "silences or forges findings; only the product's roles and the deployer may.",
        "Read findings in Slack, Jira or the findings table; change the channel through `npx cdk deploy`.",
    ),
    "DenyGovernanceBusPolicyChanges": (
        "The governance bus's policy decides which accounts may put events on it (the organization's member "
        "accounts forward their SageMaker events through it); only the deployer (and break-glass) change a bus "
        "policy or a bus where the product runs, no StackSet. The same statement keeps logs:PutMetricFilter (and "
        "metric extraction policies) to deploys there: a metric filter publishes into any namespace, the "
        "recommendation metrics the challenger "
        "gate reads included, out of reach of the cloudwatch:namespace deny.",
        "Change the bus policy in the product's stack (mlgov.organization_id) and run `npx cdk deploy "
        "MlGovEndpointAudit` as the deployer; create a metric filter in a stack deployed as the deployer or a role "
        "admin, or in another account.",
    ),
    "DenyProductKeyAdministration": (
        "The product's KMS keys (tagged mlgov:guarded=product-key) encrypt and sign findings, approvals and scan "
        "results; their key policy, grants, state, rotation, deletion and tags change only in a deploy.",
        "Change the key in the product's stack and run `npx cdk deploy MlGovEndpointAudit` as the deployer; in an "
        "emergency use a break-glass role (mlgov.guardrails.break_glass_role_arns).",
    ),
    "DenyChannelReadOutsideProduct": (
        "Receiving or deleting the product's queued findings takes them from the notifier; only the product's "
        "roles, the deployer and the redrive roles (mlgov.alert_routing.redrive_role_arns) may.",
        "Move dead letters with `mlgov notify redrive` as a redrive role; read findings in Slack, Jira or the "
        "findings table.",
    ),
    "DenyCatalogWrites": (
        "The retraining trains on, and its safety suite filters by, the catalog table "
        "(mlgov.retraining.catalog_table_name): a title written there reaches the next model, a restricted flag "
        "turned off leaves the safety suite. Only its ingest roles (mlgov.guardrails.catalog_writer_role_arns) and "
        "break-glass write it; reads stay open.",
        "Write through your catalog ingest, run as a role a role admin created on the protected path and listed in "
        "mlgov.guardrails.catalog_writer_role_arns (default mlgov-protected/MlGovCatalogWriter*).",
    ),
}
NO_SERVING_REPOSITORIES = (
    "Recommended: list your serving ECR repositories in mlgov.guardrails.serving_repository_names, create them "
    "with IMMUTABLE tags, and the guardrails keep them so (a pushed tag can change what an approved package runs)."
)


def _check(value: str, option: str, pattern: str) -> None:
    if not re.fullmatch(pattern, value):
        raise common.UsageError(f"{option} {value!r} is not a valid value (expected {pattern})")


def _base_sid(sid: str | None) -> str:
    from mlgov.guardrails import base_sid

    return base_sid(sid or "")


def add_parser(sub: Any, aws_options: Any) -> None:
    gsub = common.command_group(sub, "guardrails", "preventive guardrails (SCPs / IAM policies)")
    explain = gsub.add_parser("explain", help="which guardrail statement decides a request, and what to do")
    explain.add_argument("--action", required=True, help="e.g. sagemaker:CreateEndpoint")
    explain.add_argument("--tag", action="append", default=[], metavar="K=V", help="request tag (repeatable)")
    explain.add_argument("--tag-key", action="append", default=[], metavar="K", help="tag key removed (DeleteTags)")
    explain.add_argument(
        "--resource-tag",
        action="append",
        default=[],
        metavar="K=V",
        help="a tag the resource already carries (repeatable), e.g. mlgov:guarded=product-key on the product's keys",
    )
    explain.add_argument("--endpoint-name", default="my-endpoint", help="endpoint (or endpoint config) name")
    explain.add_argument(
        "--principal",
        default="arn:aws:iam::111111111111:role/DataScientist",
        help="the calling role's ARN (default: %(default)s)",
    )
    explain.add_argument("--account", help="the caller's account (default: from --principal)")
    explain.add_argument("--approval-status", help="ModelApprovalStatus in the request")
    explain.add_argument("--org-path", help="the caller's organization path, e.g. o-xxx/r-xxx/ou-xxx/")
    explain.add_argument("--event-source", help="events:PutEvents: the entry's Source, e.g. mlgov.retraining")
    explain.add_argument("--namespace", help="cloudwatch:PutMetricData: the metric namespace")
    explain.add_argument(
        "--resource", help="the resource ARN (default: built from --action and --endpoint-name / --repository)"
    )
    explain.add_argument("--repository", default="my-serving-images", help="ECR repository name (ecr: actions)")
    explain.add_argument(
        "--config", type=Path, default=None, help="cdk.json with the mlgov settings (default ./cdk.json)"
    )
    explain.add_argument("--format", choices=("table", "json"), default="table")
    explain.set_defaults(func=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
    from mlgov.commands.common import EXIT_OK, EXIT_VIOLATIONS, _settings
    from mlgov.guardrails import GuardrailLimitError, guardrail_policies
    from mlgov.policy_eval import evaluate

    if not re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9*]+", args.action):
        raise common.UsageError(f"--action {args.action!r} is not service:Action (e.g. sagemaker:CreateEndpoint)")
    if args.account is not None:
        _check(args.account, "--account", r"\d{12}")
    _check(args.endpoint_name, "--endpoint-name", r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
    _check(args.repository, "--repository", r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
    if args.event_source is not None:
        _check(args.event_source, "--event-source", r"[\x21-\x7e]{1,256}")
    if args.namespace is not None:
        _check(args.namespace, "--namespace", r"[A-Za-z0-9_./#:-][A-Za-z0-9_./#: -]{0,254}")
    tags = {}
    for item in args.tag:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise common.UsageError(f"--tag {item!r} is not KEY=VALUE")
        tags[key] = value
    resource_tags = {}
    for item in args.resource_tag:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[\w.:/=+@ -]{1,128}", key) or len(value) > 256:
            raise common.UsageError(f"--resource-tag {item!r} is not KEY=VALUE (a tag key of 1-128 characters)")
        resource_tags[key] = value
    account_match = re.match(r"arn:aws[a-z-]*:(iam|sts)::(\d{12}):", args.principal)
    account = args.account or (account_match.group(2) if account_match else None)
    if not account:
        raise common.UsageError("--principal is not an IAM role ARN with an account id; pass --account")
    settings = _settings(args)
    try:
        policies = {p.name: p.document for p in guardrail_policies(settings)}
    except GuardrailLimitError as exc:
        raise common.UsageError(str(exc)) from None
    action = args.action
    if args.resource:
        if not re.fullmatch(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{0,12}:\S+|\*", args.resource):
            raise common.UsageError(f"--resource {args.resource!r} is not an ARN (arn:aws:SERVICE:REGION:ACCOUNT:...)")
        resource = args.resource
    else:
        resource = _default_resource(action, account, args)
    context: dict[str, Any] = {"aws:PrincipalArn": args.principal, "aws:PrincipalAccount": account}
    if args.event_source:
        context["events:source"] = [args.event_source]
    if args.namespace:
        context["cloudwatch:namespace"] = args.namespace
    context.update({f"aws:RequestTag/{k}": v for k, v in tags.items()})
    context.update({f"aws:ResourceTag/{k}": v for k, v in resource_tags.items()})
    if tags or args.tag_key:
        context["aws:TagKeys"] = list(tags) + list(args.tag_key)
    if args.approval_status:
        context["sagemaker:ModelApprovalStatus"] = args.approval_status
    if args.org_path:
        context["aws:PrincipalOrgPaths"] = [args.org_path]
    typo = action_typo(action, policies)
    if typo:
        raise common.UsageError(typo)
    result = evaluate(policies, action, resource, context)
    why, todo = ADVICE.get(_base_sid(result.statement), ("No guardrail statement denies this request.", ""))
    if result.decision == "Deny" and action.lower() == "sagemaker:deleteendpoint":
        todo = (  # the product deletes an endpoint only after a person approves and a live check finds no traffic
            f"Retire it: `mlgov retire request --endpoint {resource.rpartition('/')[2]}`; the product deletes it "
            "once a person approves and a live check finds no traffic."
        )
    if result.decision == "Deny" and result.policy == "mlgov-product-guard":
        why += " (This SCP attaches only where the product runs: mlgov.guardrails.governance_target_ids.)"
    if action.lower() == "ecr:putimagetagmutability" and not settings.guardrails.serving_repository_names:
        todo = NO_SERVING_REPOSITORIES
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


# Services whose IAM actions are their API operations (botocore's service models, the runtime APIs of SageMaker
# included). Elsewhere IAM has its own names (s3:ListBucket authorizes ListObjects, lambda:InvokeFunction
# authorizes Invoke): there a close operation name proves nothing, and no action is refused.
OPERATION_MODELS = {
    "sagemaker": ("sagemaker", "sagemaker-runtime", "sagemaker-featurestore-runtime"),
    "events": ("events",),
    "cloudwatch": ("cloudwatch",),
    "ecr": ("ecr",),
    "sns": ("sns",),
    "sqs": ("sqs",),
}


def action_typo(action: str, policies: dict[str, Any]) -> str | None:
    """A mistyped action matches no deny and would read "Allow": refuse it when it is neither an action the
    guardrails name nor an operation of the service, and one of those is close (did you mean ...?)."""
    import difflib

    service, _, name = action.partition(":")
    models = OPERATION_MODELS.get(service.lower())
    if "*" in name or not models:
        return None
    named: set[str] = set()
    for document in policies.values():
        for statement in document.get("Statement", []):
            for key in ("Action", "NotAction"):
                value = statement.get(key) or []
                named.update([value] if isinstance(value, str) else value)
    known = {a.partition(":")[2] for a in named if a.lower().startswith(f"{service.lower()}:") and "*" not in a}
    try:
        import botocore.session

        session = botocore.session.get_session()
        for model in models:
            known |= set(session.get_service_model(model).operation_names)
    except Exception:  # an older botocore without one of them: the guardrails' own names still judge
        pass
    if name.lower() in {k.lower() for k in known}:
        return None
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
    if not close:
        return None
    return (
        f"--action {action!r} is not an action of {service} (did you mean {service}:{close[0]}?): an unknown "
        "action matches no guardrail and would read as allowed"
    )


def _default_resource(action: str, account: str, args: argparse.Namespace) -> str:
    service, _, name = action.partition(":")
    region = f"us-east-1:{account}"
    if service == "sagemaker" and "ModelPackageGroup" in name:
        return f"arn:aws:sagemaker:{region}:model-package-group/{args.endpoint_name}"
    if service == "sagemaker" and "ModelPackage" in name:
        return f"arn:aws:sagemaker:{region}:model-package/{args.endpoint_name}/1"
    if service == "sagemaker":
        kind = "endpoint-config" if name.endswith("EndpointConfig") else "endpoint"
        return f"arn:aws:sagemaker:{region}:{kind}/{args.endpoint_name}"
    if service == "ecr":
        return f"arn:aws:ecr:{region}:repository/{args.repository}"
    if service == "events":
        return f"arn:aws:events:{region}:event-bus/default"
    if service in ("cloudwatch", "iam") or name.startswith("SendTask"):
        return "*"
    raise common.UsageError(f"no default resource for {action}: pass --resource ARN")
