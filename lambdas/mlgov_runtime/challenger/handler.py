"""Challenger Lambdas: `handler` (the Events function, the EventBridge rules' target: starts an experiment
per registration, checks re-approvals; never a step) and `step` (the Steps function, for the state machine only)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlgov_runtime.adapters.aws import context_for
from mlgov_runtime.adapters.executions import describe_execution, get_role, start_named
from mlgov_runtime.adapters.findings_store import channel_store
from mlgov_runtime.challenger import approval, logic
from mlgov_runtime.challenger.config import ChallengerConfig
from mlgov_runtime.challenger.endpoint_rollout import SageMakerRollout
from mlgov_runtime.challenger.events import PackageRegistered, parse_registered
from mlgov_runtime.challenger.findings import reapproved_without_comment_finding, refused_finding
from mlgov_runtime.challenger.ports import Ports
from mlgov_runtime.challenger.provenance import Provenance, UnverifiedStep, binding_problem, recorded_input
from mlgov_runtime.challenger.reapproval import unexplained_reapproval
from mlgov_runtime.challenger.recommendation_metrics import RecommendationMetrics
from mlgov_runtime.challenger.settings import settings as challenger_settings
from mlgov_runtime.core.arns import PACKAGE_ARN
from mlgov_runtime.core.entry import Entry, account_of
from mlgov_runtime.core.findings import store_and_publish

SERVICE = "challenger"
REJECTION_METRIC = "ModelRejectionEvent"
entry = Entry(SERVICE)
logger = entry.logger


def emit_rejection(reason: str) -> None:
    """One ModelRejectionEvent with the reason as a dimension (its own EMF blob)."""
    with single_metric(
        name=REJECTION_METRIC,
        unit=MetricUnit.Count,
        value=1,
        namespace=challenger_settings.get().metrics_namespace,
        default_dimensions={"service": SERVICE},
    ) as metric:
        metric.add_dimension(name="reason", value=reason)


def ports(account: str) -> Ports:
    settings = challenger_settings.get()
    aws = context_for(None)
    rollout = SageMakerRollout(aws.client("sagemaker"))
    names = settings.config.metrics
    # The counts table's client only when the counts come from it (no DynamoDB client on a CloudWatch cold start).
    table = aws.client("dynamodb") if names.source == "table" else None
    return Ports(
        endpoints=rollout,
        registry=rollout,
        metrics=RecommendationMetrics(aws.client("cloudwatch"), names, table, account),
        findings=channel_store(settings),
        account_id=account,
        region=aws.region,
        emit_rejection=emit_rejection,
        provenance=Provenance(
            account,
            settings.retraining_state_machine_arn,
            sorted(settings.pipeline_role_arns),
            lambda arn: describe_execution(aws.client("stepfunctions"), arn),
            lambda name: get_role(aws.client("iam"), name),
        ).problem,
    )


Step = Callable[[Ports, ChallengerConfig, dict[str, Any], datetime], dict[str, Any]]
STEPS: dict[str, Step] = {
    # The Start state's time: ReportFailure knows this run's names by it.
    "start": lambda p, c, s, now: logic.start(p, c, s["input"], logic.parse_time(s.get("started") or now)),
    "endpoint_status": lambda p, c, s, now: logic.endpoint_status(p, s, now),
    "watch": lambda p, c, s, now: logic.watch(p, c, s, now),
    "reject": lambda p, c, s, now: logic.reject(p, s),
    "end": lambda p, c, s, now: logic.end(p, s),
    "restore": lambda p, c, s, now: logic.restore(p, s, now),
    "check_promotion": lambda p, c, s, now: logic.check_promotion(p, s),
    "promote": lambda p, c, s, now: logic.promote(p, s, now),
    "review": lambda p, c, s, now: logic.review(p, c, s, now),
    "report_failure": lambda p, c, s, now: logic.report_failure(p, s),
    "not_approved": lambda p, c, s, now: approval.not_approved(p, s),
}
# Steps of the human approval (challenger.require_human_approval): they also need the execution (and the token).
APPROVAL_STEPS = ("request_approval", "verify_approval")


def approval_gate() -> approval.ApprovalGate:
    from mlgov_runtime.adapters.approvals_store import DynamoApprovals, KmsMacs

    settings = challenger_settings.get()
    aws = context_for(None)
    return approval.ApprovalGate(
        store=DynamoApprovals(aws.client("dynamodb"), settings.approvals_table) if settings.approvals_table else None,
        macs=KmsMacs(aws.client("kms"), settings.approvals_mac_key_id) if settings.approvals_mac_key_id else None,
        approvers=settings.approvers or {},
        expiry_hours=settings.config.approval_expiry_hours,
    )


def verified_state(execution: str, state: dict[str, Any], name: str = "") -> dict[str, Any]:
    """The state, once its execution ($$.Execution.Id, passed by the state machine) is a RUNNING execution of
    this function's state machine and the state names what that execution was started for. The start step
    reads the execution's recorded input, never the one it is handed. Otherwise UnverifiedStep: nothing done."""
    settings = challenger_settings.get()
    described = describe_execution(context_for(None).client("stepfunctions"), execution) if execution else None
    try:
        recorded = recorded_input(described, execution, settings.state_machine_arn)
        wrong = binding_problem(state, recorded, settings.config.endpoints)
        ch = state.get("challenger") or {}
        if wrong and name == "report_failure" and not recorded.get("endpoint_name") and ch.get("endpoint_name"):
            # An input without its endpoint (before b71a462) and a deploy moved its group: ReportFailure only takes
            # traffic away, on the state's endpoint when all else matches (and that variant serves the package).
            group = str(recorded["model_package_arn"]).rsplit("/", 2)[-2]
            if not binding_problem(state, recorded, {group: ch["endpoint_name"]}):
                now_mapped = {k.lower(): v for k, v in settings.config.endpoints.items()}.get(group.lower())
                return {**state, "input": recorded, logic.UNMAPPED_KEY: now_mapped or ""}
        if wrong:
            raise UnverifiedStep(f"the state does not match execution {execution}: {wrong}")
    except UnverifiedStep as exc:
        logger.warning("Step refused", extra={"reason": str(exc)})
        raise
    return {**state, "input": recorded}


def refuse_foreign_event(registered: PackageRegistered, event: dict[str, Any], account: str) -> dict[str, Any] | None:
    """Another account's event (the bus policy may admit the organization's) never starts this account's run."""
    if event.get("account") == account:
        return None
    sender = str(event.get("account"))
    reason = (
        f"the Model Package Registered event came from account {sender}, not from this account ({account}); "
        "only this account's retraining pipeline starts challengers here."
    )
    ch = {"model_package_arn": registered.model_package_arn, "endpoint_name": None, "event_id": registered.event_id}
    finding = refused_finding(
        ch,
        reason,
        account,
        context_for(None).region,
        refusal="event_account",
        severity="HIGH",
        next_step=(
            f"Next: find who sent it (CloudTrail PutEvents in account {sender}, source mlgov.retraining) and "
            "keep events:PutEvents with source mlgov.* to the product's roles (the guardrail SCP)."
        ),
    )
    # Keyed on the sender, never on the ARN it chose: one finding a sender, re-sent only when its evidence changes.
    finding.resource_arn = f"arn:{registered.model_package_arn.split(':')[1]}:iam::{sender}:root"
    finding.title = f"Model Package Registered events from account {sender} refused"
    finding.evidence = {"refusal": "event_account", "sender_account": sender, "reason": reason}
    store_and_publish(channel_store(challenger_settings.get()), finding)
    logger.warning("Event refused", extra={"reason": reason, "finding_id": finding.finding_id, "named": ch})
    return {"status": "refused", "reason": reason, "finding_id": finding.finding_id}


PACKAGE_CHANGE = "SageMaker Model Package State Change"


def check_reapproval(event: dict[str, Any], account: str) -> dict[str, Any]:
    """An Approved package of a watched group: re-read it (never the event's word) and report a re-approval of a
    rejected package that kept the rejection's text instead of a comment."""
    arn = str((event.get("detail") or {}).get("ModelPackageArn") or "")
    if event.get("source") != "aws.sagemaker" or event.get("account") != account or not PACKAGE_ARN.fullmatch(arn):
        logger.warning("Event rejected", extra={"reason": "not this account's SageMaker package change"})
        return {"status": "rejected"}
    if arn.split(":")[4] != account:
        return {"status": "rejected"}
    package = ports(account).registry.describe_package(arn)
    why = unexplained_reapproval(package)
    if not why:
        return {"status": "ok", "model_package_arn": arn}
    finding = reapproved_without_comment_finding(dict(package), why, account, context_for(None).region)
    store_and_publish(channel_store(challenger_settings.get()), finding)
    logger.warning("Re-approved without a comment", extra={"model_package_arn": arn, "finding_id": finding.finding_id})
    return {"status": "reported", "model_package_arn": arn, "finding_id": finding.finding_id}


def watched_endpoint(endpoints: dict[str, str], package_arn: str) -> str | None:
    """The endpoint a run for this package will change (challenger.endpoints, by the ARN's group), recorded in the
    run's input: the lineage audit believes a running execution for that endpoint only."""
    parts = package_arn.rsplit("/", 2)
    if len(parts) != 3:
        return None
    watched = {group.lower(): endpoint for group, endpoint in endpoints.items()}
    return watched.get(parts[1].lower())


def start_experiment(request: dict[str, Any], own_account: str) -> dict[str, Any]:
    """One execution per event (named by it); the sender's account was checked before (refuse_foreign_event)."""
    settings = challenger_settings.get()
    run_input = {k: v for k, v in request.items() if k != "execution_name"}
    endpoint = watched_endpoint(settings.config.endpoints, str(request.get("model_package_arn", "")))
    if endpoint:
        run_input["endpoint_name"] = endpoint
    arn, started = start_named(
        context_for(None).client("stepfunctions"),
        settings.state_machine_arn,
        request["execution_name"],
        {**run_input, "source": "event"},
    )
    logger.info("Challenger experiment", extra={"execution": arn, "started": started})
    return {"status": "started" if started else "already started", "execution_arn": arn}


on_registered = entry.events(
    parse_registered,
    start_experiment,
    challenger_settings.get,
    request=lambda r: {**r.to_dict(), "execution_name": r.execution_name},
    refuse=refuse_foreign_event,
)


@entry.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The rules' target: EventBridge events only. A step payload (a rule target's constant Input can be any
    JSON) is refused here; steps run in the Steps function, which no rule may invoke."""
    account = account_of(context)
    if "step" in event:
        reason = "a step payload reached the events function; steps are run by the state machine only"
        logger.warning("Event rejected", extra={"reason": reason})
        return {"status": "rejected", "reason": reason}
    if event.get("detail-type") == PACKAGE_CHANGE:
        return check_reapproval(event, account)
    return on_registered(event, context)


@entry.handler
def step(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The state machine's tasks: one step of one verified execution."""
    if "step" not in event:
        raise ValueError("not a step payload: the Steps function is invoked by the challenger state machine only")
    account = account_of(context)
    name, state = str(event["step"]), event.get("state") or {}
    if name not in STEPS and name not in APPROVAL_STEPS:
        raise ValueError(f"unknown step {name!r}; expected one of {', '.join((*STEPS, *APPROVAL_STEPS))}")
    now = logic.parse_time(event["now"]) if event.get("now") else datetime.now(UTC)
    execution = str(event.get("execution") or "")
    logger.append_keys(step=name, execution=execution)
    state = verified_state(execution, state, name)
    if name in ("check_promotion", "promote") and challenger_settings.get().config.require_human_approval:
        problem = approval.unapproved_promotion(approval_gate(), state, execution)
        if problem:  # a step error: ReportFailure takes the weight to 0 (not Approvable?'s Fail, which leaves it)
            logger.warning("Step refused", extra={"reason": problem})
            raise logic.StepError(problem)
    if name == "request_approval":  # the token goes to the approvals store only: never logged or returned
        result = approval.request_approval(ports(account), approval_gate(), state, str(event["token"]), execution, now)
    elif name == "verify_approval":
        result = approval.verify_approval(ports(account), approval_gate(), state, execution)
    else:
        result = STEPS[name](ports(account), challenger_settings.get().config, state, now)
    logger.info("Challenger step", extra={"result": {k: v for k, v in result.items() if k != "result"}})
    return result
