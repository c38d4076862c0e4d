"""`mlgov audit`: endpoint lineage against the Model Registry."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import IO, Any

from mlgov.commands import common

CHALLENGER_MACHINE = "mlgov-challenger"  # stacks/challenger.py names it so


def render_audit_table(report: dict[str, Any]) -> str:
    rows = [("ENDPOINT", "VERDICT", "VARIANTS", "FIRST REASON")]
    for ep in report["endpoints"]:
        variants = ",".join(f"{v['variant_name']}({v['kind'][0]})" for v in ep["variants"]) or "-"
        reason = ep["reasons"][0] if ep["reasons"] else ""
        rows.append((ep["endpoint_name"], ep["verdict"], variants, reason[:100] + ("..." if len(reason) > 100 else "")))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip() for r in rows]
    s = report["summary"]
    lines.append("")
    lines.append(
        f"{common.count(s['total'], 'endpoint')}: {s['compliant']} compliant, "
        f"{common.count(s['violations'], 'violation')}, {s['exempt']} exempt, {common.count(s['errors'], 'error')}"
    )
    flagged = [ep for ep in report["endpoints"] if ep.get("next_step")]
    if len(report["endpoints"]) == 1 and flagged:
        # One endpoint asked for: every reason in full, then what to do.
        [ep] = flagged
        lines += ["", *(f"  {reason}" for reason in ep["reasons"]), f"  {ep['next_step']}"]
    elif flagged:
        lines.append(
            "Every reason of an endpoint and what to do next: "
            f"mlgov audit --endpoint {flagged[0]['endpoint_name']} (or --format json: reasons, next_step)"
        )
    return "\n".join(lines)


class AuditProgress:
    """`audited N/M endpoints` rewritten in place on stderr; nothing when stderr is not a terminal."""

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total, self.stream = total, stream
        self.enabled = stream.isatty() and total > 0
        self.count = 0
        self._lock = threading.Lock()

    def done(self, _name: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            self.count += 1
            width = 30
            filled = width * self.count // self.total
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r[{bar}] audited {self.count}/{self.total} endpoints")
            if self.count == self.total:
                self.stream.write("\n")
            self.stream.flush()


NO_RECORDS = (
    "Deployment records not compared (a configuration re-created under a live endpoint with the same variant names "
    f"can pass): --serving-index-table or {common.SERVING_INDEX_ENV} names the lineage audit's table."
)


def cmd_audit(args: argparse.Namespace) -> int:
    from mlgov.ops.audit_many import audit_many, summarize
    from mlgov_runtime.adapters.artifacts import store_pins
    from mlgov_runtime.adapters.challenger_runs import StepFunctionsChallengerRuns
    from mlgov_runtime.adapters.organizations import ou_ancestors
    from mlgov_runtime.adapters.sagemaker import SageMakerLineageReader
    from mlgov_runtime.core.arns import partition_for
    from mlgov_runtime.core.exemptions import ExemptionPolicy
    from mlgov_runtime.lineage_audit.audit import EndpointAuditor
    from mlgov_runtime.lineage_audit.findings import finding_from_audit, next_step
    from mlgov_runtime.lineage_audit.logic import PackagePolicy, ReadFailure, ResourceNotFound
    from mlgov_runtime.lineage_audit.settings import evaluation_share

    settings = common.load_settings(args)
    concurrency = settings.org_scan.endpoint_concurrency  # the org scan's worker and its bound
    aws = common.aws_context(args, pool=concurrency + 2)
    try:
        region = aws.region
    except ValueError as exc:
        raise common.UsageError(str(exc)) from None
    ex = settings.experiment_exemptions
    reader = SageMakerLineageReader(aws.client("sagemaker"))
    for name in args.endpoint or ():
        # A name that does not exist is a typo, not a violation: say so and exit 2.
        try:
            reader.describe_endpoint(name)
        except ResourceNotFound:
            hint = common.endpoint_hint(aws.client("sagemaker"), name, region)
            raise common.UsageError(f"endpoint {name} not found in {aws.account_id()}/{region}{hint}") from None
        except ReadFailure:
            pass  # unreadable is the audit's ERROR verdict, with its reason
    index = common.serving_index(args, aws.client("dynamodb"))
    auditor = EndpointAuditor(
        reader,
        aws.account_id(),
        region,
        ExemptionPolicy(ex.endpoint_name_prefix, frozenset(ex.account_ids), frozenset(ex.organizational_unit_ids)),
        ou_resolver=lambda account: ou_ancestors(aws.client("organizations"), account),
        policy=PackagePolicy(
            frozenset(settings.watched_model_package_groups),
            frozenset(settings.package_account_ids),
            evaluation_share(settings.thresholds.challenger_traffic_fraction, settings.challenger.ramp),
        ),
        pins=store_pins(aws),
        # A challenger-shaped variant is under evaluation only while the challenger state machine of this
        # account/region runs an execution for it (none deployed here: none runs).
        challenger_runs=StepFunctionsChallengerRuns(
            aws.client("stepfunctions"),
            f"arn:{partition_for(region)}:states:{region}:{aws.account_id()}:stateMachine:{CHALLENGER_MACHINE}",
        ),
    )
    if index is not None:
        auditor.deployments = common.deployment_reader(index, auditor.account_id, region)
    if args.format == "table" and not args.endpoint:
        print(f"Auditing every endpoint in {auditor.account_id}/{region} ...", file=sys.stderr)
    names = list(args.endpoint) if args.endpoint else list(reader.list_endpoint_names())
    if index is None and args.format == "table" and names:  # nothing audited: nothing was left uncompared
        print(NO_RECORDS, file=sys.stderr)
    progress = AuditProgress(len(names), sys.stderr)
    audits = list(audit_many(auditor, names, concurrency=concurrency, done=progress.done))
    report = summarize(audits)
    for audit, row in zip(audits, report["endpoints"], strict=True):
        if finding_from_audit(audit, "cli"):  # a violation or an unverifiable lineage: what its finding says to do
            row["next_step"] = next_step(audit)
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(render_audit_table(report))
    s = report["summary"]
    return common.EXIT_VIOLATIONS if s["violations"] or s["errors"] else common.EXIT_OK


def register(sub: Any) -> None:
    audit = common.command(sub, "audit", cmd_audit, help="audit endpoints' model lineage against the Model Registry")
    audit.add_argument(
        "--endpoint",
        action="append",
        type=common.endpoint_name,
        metavar="NAME",
        help="endpoint to audit (repeatable; default all)",
    )
    common.serving_index_option(audit)
