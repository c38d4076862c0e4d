"""What the challenger gate writes for people: the registry's ApprovalDescription (1,024 characters at most)
and the findings, each saying what happened and what the on-call does next."""

from __future__ import annotations

import json
import math
from typing import Any

from mlgov_runtime.challenger.config import COUNTS_TABLE_STAT, SERIES_KEY
from mlgov_runtime.core.findings import Finding

REJECTED = "CHALLENGER_REJECTED"
INVALID = "CHALLENGER_INVALID"
INSUFFICIENT = "CHALLENGER_INSUFFICIENT_DATA"
START_REFUSED = "CHALLENGER_START_REFUSED"
FAILED = "CHALLENGER_FAILED"
RETENTION_REGRESSION = "CHALLENGER_RETENTION_REGRESSION"
REVIEW_INCOMPLETE = "CHALLENGER_REVIEW_INCOMPLETE"
DATA_MISSING = "CHALLENGER_DATA_MISSING"
APPROVAL_REQUESTED = "CHALLENGER_APPROVAL_REQUESTED"
NOT_APPROVED = "CHALLENGER_PROMOTION_NOT_APPROVED"
REAPPROVED_WITHOUT_COMMENT = "CHALLENGER_REAPPROVED_WITHOUT_COMMENT"
KINDS = (
    REJECTED,
    INVALID,
    INSUFFICIENT,
    START_REFUSED,
    FAILED,
    RETENTION_REGRESSION,
    REVIEW_INCOMPLETE,
    DATA_MISSING,
    APPROVAL_REQUESTED,
    NOT_APPROVED,
    REAPPROVED_WITHOUT_COMMENT,
)

APPROVAL_DESCRIPTION_MAX = 1024  # SageMaker UpdateModelPackage ApprovalDescription


def dashboard_name(endpoint: str) -> str:
    """The CloudWatch dashboard the stack creates per watched endpoint."""
    return f"mlgov-challenger-{endpoint}"[:255]


def dashboard_url(region: str, endpoint: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards/dashboard/{dashboard_name(endpoint)}"
    )


def pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value * 100:.2f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _variant_text(name: str, v: dict[str, Any]) -> str:
    return (
        f"{name} CTR {pct(v.get('ctr'))} (interval {pct(v.get('ctr_lower'))}-{pct(v.get('ctr_upper'))}; "
        f"{v.get('impressions', 0):,.0f} impressions, {v.get('clicks', 0):,.0f} clicks)"
    )


def decided_by(result: dict[str, Any]) -> str:
    """The failing test or guardrail (REJECT), or the promotion criteria (PROMOTE)."""
    breached = [g["name"] for g in result.get("guardrails", []) if g.get("breached")]
    if result["decision"] == "REJECT":
        if breached:
            return "guardrail " + ", ".join(breached)
        alpha = result["statistics"]["ctr_test"].get("alpha")
        early = result["statistics"]["ctr_test"].get("early") or {}
        if early.get("rejects") and not result["statistics"]["ctr_test"].get("mixture_rejects"):
            return f"CTR test (front-loaded group-sequential look, alpha {early['alpha']:g} of {alpha:g})"
        method = (
            "minute-level confidence sequence"
            if "minutes" in result["statistics"]["ctr_test"]
            else ("anytime-valid mixture SPRT")
        )
        return f"CTR test ({method}, alpha {alpha:g})"
    if result["decision"] == "PROMOTE":
        promote = result["statistics"]["promote_test"]
        return (
            f"non-inferiority (CTR ratio lower bound >= {promote['margin']:g}) "
            f"and CTR floor {pct(promote['ctr_floor'])}"
        )
    return result["decision"]


def reason_code(result: dict[str, Any]) -> str:
    """ModelRejectionEvent's `reason` dimension: few values, so the metric stays cheap."""
    breached = [g["name"] for g in result.get("guardrails", []) if g.get("breached")]
    return breached[0] if breached else "ctr_test"


def ratio_text(result: dict[str, Any]) -> str:
    """The CTR ratio with the interval that decided: the CTR test's when it rejected, else the one PROMOTE uses."""
    stats = result["statistics"]
    if "ctr_ratio" not in stats:  # stopped on the data before any CTR statistics (data problem, forged metrics)
        return "CTR ratio not computed: the metrics were not trusted"
    ratio = stats["ctr_ratio"]
    confidence = f"{(ratio.get('confidence') or 0.99) * 100:g}%"
    if result["decision"] == "REJECT" and stats["ctr_test"].get("rejects"):
        test = stats["ctr_test"]
        early = test.get("early") or {}
        if early.get("rejects") and not test.get("mixture_rejects"):
            return (
                f"CTR ratio {_num(test.get('ratio'))} (the front-loaded early test's look {early['look']} in the first "
                f"{test.get('early_minutes', 0):g} min: z {early['z']:.2f} >= {early['t_bound']:.2f})"
            )
        return (
            f"CTR ratio {_num(test.get('ratio'))} (the CTR test's {confidence} anytime-valid interval "
            f"{_num(test.get('ratio_lower'))}-{_num(test.get('ratio_upper'))}, below 1)"
        )
    return (
        f"CTR ratio {_num(ratio.get('estimate'))} ({confidence} anytime-valid interval "
        f"{_num(ratio.get('lower'))}-{_num(ratio.get('upper'))})"
    )


def evidence_text(result: dict[str, Any], endpoint: str, fraction: float) -> str:
    variants = result["variants"]
    return (
        f"after {result['elapsed_minutes']:.0f} min on {endpoint} at {fraction:.0%} of traffic: "
        f"{_variant_text('challenger', variants['challenger'])} vs "
        f"{_variant_text('production', variants['production'])}; {ratio_text(result)}"
    )


def approval_description(result: dict[str, Any], endpoint: str, fraction: float, verb: str) -> str:
    """Structured and within SageMaker's 1,024 characters: the reason is cut, never the numbers."""
    head = f"{verb} by the mlgov challenger gate {evidence_text(result, endpoint, fraction)}. "
    head += f"Decided by: {decided_by(result)}."
    reason = " ".join(result.get("reasons", [])[:1])
    text = f"{head} {reason}".strip()
    if len(text) <= APPROVAL_DESCRIPTION_MAX:
        return text
    room = APPROVAL_DESCRIPTION_MAX - len(head) - 2
    if room <= 0:
        return head[: APPROVAL_DESCRIPTION_MAX - 1] + "…"
    return f"{head} {reason[: room - 1]}…"


def _finding(
    kind: str, severity: str, ch: dict[str, Any], account: str, region: str, title: str, detail: str, **evidence: Any
) -> Finding:
    return Finding(
        kind=kind,
        severity=severity,
        account_id=account,
        region=region,
        resource_arn=ch["model_package_arn"],
        title=title[:250],
        detail=detail,
        source="pipeline",
        evidence={k: v for k, v in evidence.items() if v is not None},
    )


def _label(ch: dict[str, Any]) -> str:
    return f"{ch.get('group', 'package')} v{ch.get('version', '?')}"


def rejected_finding(
    ch: dict[str, Any], result: dict[str, Any], description: str, account: str, region: str
) -> Finding:
    endpoint = ch["endpoint_name"]
    v = result["variants"]
    return _finding(
        REJECTED,
        "HIGH",
        ch,
        account,
        region,
        f"Challenger {_label(ch)} rejected on {endpoint}: {decided_by(result)} "
        f"(CTR {pct(v['challenger']['ctr'])} vs {pct(v['production']['ctr'])})",
        f"The challenger gate rejected {ch['model_package_arn']} "
        f"{evidence_text(result, endpoint, ch['traffic_fraction'])}. "
        f"{' '.join(result.get('reasons', []))} The package is Rejected in the Model Registry, its variant "
        f"{ch['challenger_variant']} got weight 0 at once and is being removed; production serves 100%. Nothing "
        "approves a Rejected package again automatically. Next: compare the variants on the dashboard "
        f"({dashboard_url(region, endpoint)}), then fix the training data or the model and register a new version; "
        "re-approve this one only after investigation, with a comment saying why the rejection no longer applies.",
        endpoint_name=endpoint,
        decision=result["decision"],
        decided_by=decided_by(result),
        approval_description=description,
        dashboard_url=dashboard_url(region, endpoint),
        variants=result["variants"],
        ctr_ratio=result["statistics"]["ctr_ratio"],
        breached_guardrails=[g["name"] for g in result.get("guardrails", []) if g.get("breached")],
    )


def _where_counts(statistics: dict[str, Any], region: str, endpoint: str) -> str:
    """Where the run's counts can be seen: the table the gate read (table source), else the dashboard."""
    table = statistics.get(COUNTS_TABLE_STAT)
    if table:
        return f"counts in table {table} (`mlgov challenger status --endpoint {endpoint}` reads them as the gate did)"
    return f"metrics on the dashboard ({dashboard_url(region, endpoint)})"


def invalid_finding(ch: dict[str, Any], result: dict[str, Any], account: str, region: str) -> Finding:
    endpoint = ch["endpoint_name"]
    statistics = result["statistics"]
    problem = statistics.get("data_problem")
    cross = statistics.get("impressions_crosscheck") or {}
    agreement = statistics.get("impressions_agreement") or {}
    # Cross-checks of the recommendation metrics, in the gate's order; each names what failed.
    forged = [
        (bool(cross.get("disagrees")), "impressions disagree with SageMaker Invocations"),
        (bool(agreement.get("disagrees")), "impressions per invocation differ between the variants"),
        ("clicks_check" in statistics, "clicks exceed impressions"),
        ("ctr_plausibility" in statistics, "an implausible CTR ratio (forged clicks)"),
    ]
    failed = next((what for hit, what in forged if hit), None)
    if problem or failed:
        kind = DATA_MISSING if problem else INVALID
        what = f"{problem['variant']} {problem['metric']} never arrived" if problem else str(failed)
        return _finding(
            kind,
            "HIGH",
            ch,
            account,
            region,
            f"Challenger {_label(ch)} stopped on {endpoint}: {what}; no verdict on the model",
            f"The challenger experiment for {ch['model_package_arn']} on {endpoint} was stopped: "
            f"{' '.join(result.get('reasons', []))} The challenger got weight 0 and is being removed; the package "
            f"stays {ch.get('approval_status') or 'as it was'}. Next: check the "
            f"{_where_counts(statistics, region, endpoint)}, fix their source, then run again: "
            f"`mlgov challenger start --package {ch['model_package_arn']} --endpoint {endpoint}`",
            endpoint_name=endpoint,
            data_problem=problem,
            impressions_crosscheck=cross,
            impressions_agreement=agreement or None,
            clicks_check=statistics.get("clicks_check"),
            ctr_plausibility=statistics.get("ctr_plausibility"),
            variants=result["variants"],
            dashboard_url=dashboard_url(region, endpoint),
        )
    srm = statistics["srm"]
    return _finding(
        INVALID,
        "HIGH",
        ch,
        account,
        region,
        f"Challenger {_label(ch)} stopped on {endpoint}: sample-ratio mismatch "
        f"({pct(srm.get('observed_share'))} of {srm.get('unit', 'impressions')}, "
        f"configured {pct(srm.get('expected_share'))})",
        f"The challenger experiment for {ch['model_package_arn']} on {endpoint} was stopped: "
        f"{' '.join(result.get('reasons', []))} This says nothing about the model: fix the traffic split, not the "
        "model. The challenger got weight 0 and is being removed; the package stays "
        f"{ch.get('approval_status') or 'as it was'}. "
        f"Next: compare the variants' weights (aws sagemaker describe-endpoint --endpoint-name {endpoint}) with the "
        "impressions the recommender reports per VariantName (dashboard "
        f"{dashboard_url(region, endpoint)}); once they agree, run again: "
        f"`mlgov challenger start --package {ch['model_package_arn']} --endpoint {endpoint}`",
        endpoint_name=endpoint,
        srm=srm,
        variants=result["variants"],
        dashboard_url=dashboard_url(region, endpoint),
    )


def data_missing_finding(
    ch: dict[str, Any], result: dict[str, Any], account: str, region: str, *, ended: bool = False
) -> Finding:
    """The experiment paused on a data problem (while it lasts), or ended inconclusive on it (`ended`). The
    evidence names only what is missing, so each look while paused re-sends nothing."""
    endpoint = ch["endpoint_name"]
    problem = result["statistics"]["data_problem"]
    throttled = problem.get("throttled")
    what = f"{throttled} throttled" if throttled else f"{problem['variant']} {problem['metric']} missing"
    start = f"`mlgov challenger start --package {ch['model_package_arn']} --endpoint {endpoint}`"
    if ended:
        title = f"Challenger {_label(ch)} on {endpoint} ended inconclusive: {what}"
        state = (
            "The window ended with the data still missing: inconclusive. Nothing was rejected or promoted; the "
            f"challenger got weight 0 and is being removed, and the package stays "
            f"{ch.get('approval_status') or 'as it was'}. Next: {_source_fix(throttled, region, endpoint)}, then run "
            f"it again: {start}"
        )
    else:
        title = f"Challenger {_label(ch)} on {endpoint} paused: {what}"
        where = _variant_name(ch, problem)
        next_step = _throttle_fix(throttled) if throttled else _find_missing(result, endpoint, where, region)
        state = (
            "The experiment is PAUSED: no verdict while the data is missing, the challenger keeps its share of "
            "traffic and the gate looks again every interval; once the metric arrives it judges again and this "
            f"finding is resolved. Next: {next_step}"
        )
    return _finding(
        DATA_MISSING,
        "MEDIUM" if ended else "HIGH",
        ch,
        account,
        region,
        title,
        f"The challenger experiment for {ch['model_package_arn']} on {endpoint}: "
        f"{' '.join(r for r in result.get('reasons', []) if r.startswith('Data problem'))} {state}",
        endpoint_name=endpoint,
        outcome="inconclusive" if ended else "paused",
        data_problem={k: problem[k] for k in ("variant", "metric")},
        missing=[{k: m[k] for k in ("variant", "metric")} for m in problem.get("missing", [problem])],
        dashboard_url=dashboard_url(region, endpoint),
    )


def _throttle_fix(source: str) -> str:
    return f"if it lasts, {_readers(source)}."


def _readers(source: str) -> str:
    return (
        f"find what else reads there ({source}): the table's ThrottledRequests in CloudWatch, or the account's "
        "GetMetricData quota in Service Quotas"
    )


def _source_fix(throttled: str | None, region: str, endpoint: str) -> str:
    """What to fix before running again: the throttled read's other readers, or the metric's source."""
    return (
        _readers(throttled) if throttled else f"fix the metric's source (dashboard {dashboard_url(region, endpoint)})"
    )


def _variant_name(ch: dict[str, Any], problem: dict[str, Any]) -> str:
    """The variant of a data problem's side."""
    return str(ch.get(f"{problem['variant']}_variant") or problem["variant"])


def _find_missing(result: dict[str, Any], endpoint: str, variant: str, region: str) -> str:
    """Where to look for a count that is not arriving."""
    if result["statistics"]["data_problem"].get("metric") == "invocations":
        # SageMaker's own metric, in CloudWatch in either counts mode: the recommender does not write it
        return (
            f"see which variants SageMaker publishes Invocations for: `aws cloudwatch list-metrics --region {region} "
            f"--namespace AWS/SageMaker --metric-name Invocations --dimensions Name=EndpointName,Value={endpoint}`; "
            f"if {variant} is not listed, compare the experiment's variant name with `aws sagemaker describe-endpoint "
            f"--region {region} --endpoint-name {endpoint}` (and check its weight is above 0), and that clients "
            "call the endpoint; SageMaker's metrics arrive a few minutes late "
            f"(dashboard {dashboard_url(region, endpoint)})."
        )
    table = result["statistics"].get(COUNTS_TABLE_STAT)
    if table:
        values = json.dumps({":s": {"S": f"{endpoint}/{variant}"}}, separators=(",", ":"))
        return (
            f"see the newest minutes the recommender wrote for {variant}: `aws dynamodb query --region {region} "
            f"--table-name {table} --key-condition-expression '{SERIES_KEY} = :s' --expression-attribute-values "
            f"'{values}' --no-scan-index-forward --max-items 5`; each minute needs its item with every count, "
            "0 included."
        )
    return (
        "find why the metric is not published: `aws cloudwatch list-metrics "
        f"--region {region} --dimensions Name=EndpointName,Value={endpoint}` lists the VariantName values "
        f"that do arrive (dashboard {dashboard_url(region, endpoint)}); fix the recommender's dimensions."
    )


def approval_requested_finding(
    ch: dict[str, Any], result: dict[str, Any], request_id: str, expires_at: str, account: str, region: str
) -> Finding:
    """The request id (never the task token): the CLI command and, with Slack buttons, Approve/Deny."""
    endpoint = ch["endpoint_name"]
    return _finding(
        APPROVAL_REQUESTED,
        "MEDIUM",
        ch,
        account,
        region,
        f"Challenger {_label(ch)} on {endpoint} passed the gate: approve its promotion (request {request_id})",
        f"The challenger gate would promote {ch['model_package_arn']} "
        f"{evidence_text(result, endpoint, ch['traffic_fraction'])}. "
        "challenger.require_human_approval is on, so the package stays PendingManualApproval and the challenger keeps "
        f"its share until an approver (approvals.approvers.challenger) decides, at the latest by {expires_at}; then "
        "nothing is promoted. Next: compare the variants on the dashboard "
        f"({dashboard_url(region, endpoint)}), then `mlgov challenger approve --request {request_id}` or "
        f"`mlgov challenger deny --request {request_id} --reason TEXT`.",
        endpoint_name=endpoint,
        approval_request={"request_id": request_id, "expires_at": expires_at, "decision": "challenger"},
        variants=result["variants"],
        ctr_ratio=result["statistics"].get("ctr_ratio"),
        dashboard_url=dashboard_url(region, endpoint),
    )


def not_approved_finding(ch: dict[str, Any], why: str, status: str, account: str, region: str) -> Finding:
    endpoint = ch["endpoint_name"]
    return _finding(
        NOT_APPROVED,
        "MEDIUM",
        ch,
        account,
        region,
        f"Challenger {_label(ch)} on {endpoint} not promoted: no verified approval",
        f"The gate passed {ch['model_package_arn']} on {endpoint}, but it was not promoted: {why}. The package stays "
        f"{status} (nothing approved it), the challenger got weight 0 and is being removed; production serves 100%. "
        "Next: if it should still go live, run the experiment again and approve it in time: "
        f"`mlgov challenger start --package {ch['model_package_arn']} --endpoint {endpoint}`.",
        endpoint_name=endpoint,
        reason=why,
        approval_status=status,
        dashboard_url=dashboard_url(region, endpoint),
    )


def reapproved_without_comment_finding(package: dict[str, Any], why: str, account: str, region: str) -> Finding:
    arn = str(package.get("ModelPackageArn"))
    group = str(package.get("ModelPackageGroupName") or arn.split(":model-package/", 1)[-1].split("/", 1)[0])
    ch = {"model_package_arn": arn, "group": group, "version": arn.rsplit("/", 1)[-1]}
    return _finding(
        REAPPROVED_WITHOUT_COMMENT,
        "HIGH",
        ch,
        account,
        region,
        f"Rejected {_label(ch)} re-approved without a comment",
        f"{why} Next: find who approved it (CloudTrail UpdateModelPackage on {arn}); if the re-approval stands, record "
        "why: `aws sagemaker update-model-package --model-package-arn "
        f"{arn} --model-approval-status Rejected`, then `mlgov challenger reapprove --package {arn} --comment TEXT`.",
        approval_description=str(package.get("ApprovalDescription") or "")[:1024],
    )


def insufficient_finding(ch: dict[str, Any], result: dict[str, Any], account: str, region: str) -> Finding:
    endpoint = ch["endpoint_name"]
    needed = result["statistics"].get("needed") or {}
    more = needed.get("additional_impressions")
    minutes = needed.get("additional_minutes")
    needs = f"about {more:,} more impressions" if more is not None else "a manual review"
    if more is None:
        amount = "no amount of traffic at the observed CTRs would settle it"
    else:
        when = f", about {minutes:,.0f} more minutes at this traffic" if minutes is not None else ""
        amount = f"about {more:,} more impressions ({needed.get('verdict')} if the CTRs held{when})"
    return _finding(
        INSUFFICIENT,
        "MEDIUM",
        ch,
        account,
        region,
        f"Challenger {_label(ch)} on {endpoint}: not enough data after {result['elapsed_minutes']:.0f} min; "
        f"a decision needs {needs}",
        f"The challenger window for {ch['model_package_arn']} ended without a CTR verdict "
        f"{evidence_text(result, endpoint, ch['traffic_fraction'])}: {amount}. Neither promoted nor rejected; the "
        "challenger got weight 0 and is being removed, and the package keeps its status. Next: run it again with "
        "more traffic or a longer window (raise mlgov.challenger.max_minutes or thresholds.challenger_traffic_fraction "
        f"and deploy), with `mlgov challenger start --package {ch['model_package_arn']} --endpoint {endpoint}`; or "
        f"decide manually from the dashboard ({dashboard_url(region, endpoint)}).",
        endpoint_name=endpoint,
        needed=needed,
        variants=result["variants"],
        ctr_ratio=result["statistics"]["ctr_ratio"],
        dashboard_url=dashboard_url(region, endpoint),
    )


def refused_finding(
    ch: dict[str, Any],
    reason: str,
    account: str,
    region: str,
    *,
    refusal: str = "ineligible",
    next_step: str | None = None,
    severity: str = "MEDIUM",
) -> Finding:
    """`refusal` says which check refused (ineligible, provenance, event_account, older_snapshot)."""
    endpoint = ch.get("endpoint_name") or "(no endpoint)"
    # Without an endpoint the start names the flag to fill, never a placeholder.
    default = f"Next: fix what the reason names, then `mlgov challenger start --package {ch['model_package_arn']}" + (
        f" --endpoint {ch['endpoint_name']}`." if ch.get("endpoint_name") else "` with --endpoint."
    )
    return _finding(
        START_REFUSED,
        severity,
        ch,
        account,
        region,
        f"Challenger not started for {ch['model_package_arn'].rsplit(':', 1)[-1]} on {endpoint}",
        f"The challenger gate refused to put {ch['model_package_arn']} on {endpoint}: {reason} Nothing was "
        f"deployed. {next_step or default}",
        endpoint_name=ch.get("endpoint_name"),
        reason=reason,
        refusal=refusal,
    )


def failed_finding(
    ch: dict[str, Any],
    where: str,
    error: str,
    traffic: str,
    account: str,
    region: str,
    registry: str = "The package's registry status was not changed by this failure.",
) -> Finding:
    endpoint = ch.get("endpoint_name") or "(unknown endpoint)"
    previous = ch.get("previous_config")
    restore = (
        f" To put production back exactly as it was: `aws sagemaker update-endpoint --endpoint-name {endpoint} "
        f"--endpoint-config-name {previous}`."
        if previous
        else f" The config it replaced: `aws sagemaker list-endpoint-configs --name-contains {endpoint} --sort-by "
        "CreationTime` lists the one before it."
        if ch.get("experiment_config")
        else ""
    )
    return _finding(
        FAILED,
        "HIGH",
        ch,
        account,
        region,
        f"Challenger run for {_label(ch)} on {endpoint} failed at {where}",
        f"The challenger state machine for {ch['model_package_arn']} stopped at {where}: {error[:1500]} {traffic} "
        f"Next: `mlgov challenger status --endpoint {endpoint}` shows what the endpoint serves now.{restore} "
        + registry,
        endpoint_name=ch.get("endpoint_name"),
        failed_state=where,
        error=error[:4000],
        previous_config=previous,
    )


def retention_finding(
    ch: dict[str, Any],
    before: float,
    after: float,
    delta: float,
    threshold: float,
    days: int,
    account: str,
    region: str,
) -> Finding:
    endpoint = ch["endpoint_name"]
    group = ch.get("group") or ch["model_package_arn"].split(":model-package/", 1)[-1].split("/", 1)[0]
    return _finding(
        RETENTION_REGRESSION,
        "HIGH",
        ch,
        account,
        region,
        f"Promoted {_label(ch)} on {endpoint}: retention {delta * 100:+.1f}% after {days} days",
        f"{days} days after {ch['model_package_arn']} was promoted on {endpoint}, retention is {after:.4g} against "
        f"{before:.4g} in the {days} days before its challenger started ({delta * 100:+.1f}%, more than the allowed "
        f"{threshold * 100:.1f}% drop): it may win clicks but lose users. production_7day_retention_delta is in the "
        "package's metadata. The metric comes from CloudWatch, where a log event in Embedded Metric Format can add "
        "to it: confirm the drop in the recommender's own data. Next: an out-of-cycle review; to go back to the "
        f"previous Approved version: `mlgov rollback --endpoint {endpoint} --group {group} --reason 'retention "
        f"{delta * 100:+.1f}% after {days} days' --dry-run`, then without --dry-run.",
        endpoint_name=endpoint,
        retention_before=before,
        retention_after=after,
        production_7day_retention_delta=delta,
        max_retention_drop=threshold,
    )


def review_incomplete_finding(ch: dict[str, Any], metric: str, days: int, account: str, region: str) -> Finding:
    endpoint = ch["endpoint_name"]
    return _finding(
        REVIEW_INCOMPLETE,
        "MEDIUM",
        ch,
        account,
        region,
        f"Promoted {_label(ch)} on {endpoint}: {days}-day retention review has no data",
        f"The {days}-day review of {ch['model_package_arn']} on {endpoint} found no {metric} data before and after "
        "the promotion, so production_7day_retention_delta is 'unknown'. Next: check that the recommender emits "
        f"{metric} with the EndpointName dimension: `aws cloudwatch list-metrics --region {region} --namespace "
        f"{metric.rsplit('/', 1)[0]} --metric-name {metric.rsplit('/', 1)[-1]} --dimensions "
        f"Name=EndpointName,Value={endpoint}` lists nothing when it does not (docs/challenger.md); "
        "then compare retention by hand.",
        endpoint_name=endpoint,
        metric=metric,
    )
