"""`mlgov scan`: the weekly org-wide scan's worker, run here over several accounts and regions."""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from mlgov.commands import common
from mlgov.commands.lineage_audit import CHALLENGER_MACHINE, NO_RECORDS


def account_list(value: str) -> list[str]:
    accounts = [a.strip() for a in value.split(",") if a.strip()]
    bad = [a for a in accounts if not (len(a) == 12 and a.isdigit())]
    if not accounts or bad:
        raise argparse.ArgumentTypeError(f"{value!r} is not a comma-separated list of 12-digit account ids")
    return list(dict.fromkeys(accounts))


def role_name(value: str) -> str:
    """A role name, with its path if it has one (mlgov-member/MlGovMemberAudit): IAM's characters only."""
    if not re.fullmatch(r"([\w+=,.@-]+/)*[\w+=,.@-]{1,64}", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an IAM role name (letters, digits and +=,.@_-)")
    return value


def region_list(value: str) -> list[str]:
    regions = [r.strip() for r in value.split(",") if r.strip()]
    if not regions:
        raise argparse.ArgumentTypeError(f"{value!r} names no region")
    return list(dict.fromkeys(common.region_name(r) for r in regions))


class ScanProgress:
    """A progress line on stderr: rewritten in place on a terminal, one line per account/region otherwise."""

    def __init__(self, total: int, enabled: bool, tty: bool) -> None:
        self.total, self.enabled, self.tty = total, enabled, tty
        self.targets_done = self.endpoints_done = 0
        self._lock = threading.Lock()

    def _line(self) -> str:
        checked = common.count(self.endpoints_done, "endpoint")
        return f"scan: {self.targets_done}/{self.total} account/regions, {checked} checked"

    def endpoint(self, target: Any, name: str) -> None:
        with self._lock:
            self.endpoints_done += 1
            if self.enabled and self.tty:
                print(f"\r  {self._line()}", end="", file=sys.stderr, flush=True)

    def target(self, result: Any) -> Any:
        with self._lock:
            self.targets_done += 1
            if self.enabled:
                what = f"{result.account_id}/{result.region} {result.status}"
                what += (
                    f", {common.count(len(result.endpoints), 'endpoint')}"
                    if result.status == "OK"
                    else f": {result.reason[:160]}"
                )
                prefix = "\r" if self.tty else ""
                print(f"{prefix}  {self._line()} ({what})", end="" if self.tty else "\n", file=sys.stderr, flush=True)
                if self.tty and self.targets_done == self.total:
                    print(file=sys.stderr)
        return result


def _account_findings(findings: list[dict[str, Any]]) -> list[str]:
    """Open findings about an account/region rather than one of its endpoints (event forwarding): no endpoint row
    shows them, so each is listed whole (its detail ends with what to do)."""
    return [
        f"  {f['account_id']}/{f['region']}: {f['kind']} ({f['severity']}): {f['detail']}"
        for f in findings
        if ":endpoint/" not in str(f.get("resource_arn")) and f.get("kind") != "SCAN_ACCOUNT_UNREACHABLE"
    ]


def render_scan_table(report: dict[str, Any], findings: list[dict[str, Any]] | None = None) -> str:
    """`findings`: the run's open findings in full (the report keeps only their titles)."""
    from mlgov_runtime.org_scan.forwarding import PROBLEMS

    lines = [f"{'ACCOUNT':<12}  {'REGION':<14}  {'STATUS':<6}  {'ENDPOINTS':>9}  {'VIOLATIONS':>10}  REASON"]
    not_read: list[str] = []
    for a in report["accounts"]:
        reason = a["reason"]
        if a["status"] != "OK":
            # The whole reason (it ends with what to do) goes below; the table names the code.
            not_read.append(f"  {a['account_id']}/{a['region']}: {reason}")
            reason = f"{a.get('reason_code') or 'not read'} (see below)"
        elif a.get("forwarding") in PROBLEMS:
            reason = f"event forwarding {a['forwarding']} (see below)"
        lines.append(
            f"{a['account_id']:<12}  {a['region']:<14}  {a['status']:<6}  {a['endpoints']:>9}  {a['violations']:>10}  "
            f"{reason[:120]}".rstrip()
        )
    for account, why in sorted((report.get("skipped_accounts") or {}).items()):
        lines.append(f"{account:<12}  {'-':<14}  {'SKIP':<6}  {'-':>9}  {'-':>10}  skipped (see below)")
        not_read.append(f"  {account}: {why}")
    rows = [("ACCOUNT", "REGION", "ENDPOINT", "VERDICT", "SNAPSHOT", "FIRST REASON")]
    for ep in report["endpoints"]:
        snap = ep.get("snapshot") or {}
        age = f"{snap.get('status', '-')}" + (f" {snap['age_days']}d" if snap.get("age_days") is not None else "")
        reason = (ep.get("reasons") or [""])[0]
        reason = reason[:90] + ("..." if len(reason) > 90 else "")
        rows.append((ep["account_id"], ep["region"], ep["endpoint_name"], ep["verdict"], age, reason))
    if len(rows) > 1:
        widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
        lines.append("")
        lines += ["  ".join(f"{v!s:<{widths[i]}}" for i, v in enumerate(r[:5])) + f"  {r[5]}".rstrip() for r in rows]
    if not_read:
        lines += ["", "Not read (what to do):", *not_read]
    about_accounts = _account_findings(findings or [])
    if about_accounts:
        lines += ["", "Open findings about an account/region (what to do):", *about_accounts]
    s = report["summary"]
    lines += [
        "",
        f"{report['status_line']}; {common.count(s['total'], 'endpoint')}: {s['compliant']} compliant, "
        f"{common.count(s['violations'], 'violation')}, {s['exempt']} exempt, {common.count(s['errors'], 'error')}; "
        f"{s['findings_open']} open {'finding' if s['findings_open'] == 1 else 'findings'}",
    ]
    kinds = Counter(str(f.get("kind")) for f in report.get("findings") or [])
    if kinds:
        by_kind = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items(), key=lambda kc: (-kc[1], kc[0])))
        lines.append(f"open findings by kind: {by_kind} (each with its resource: --format json, `findings`)")
    return "\n".join(lines)


def _member_role_refused(role: str, target: Any, deploy: str) -> str:
    """The member role trusts only the product's scan, audit and capacity roles: from a shell it is refused whether
    deployed or not, so the shell's next step is a role of its own; deploying it is what the weekly scan needs."""
    return (
        f"Cannot assume {role} (AccessDenied): the member role trusts only the product's scan, audit and capacity "
        "roles, never a shell's credentials. Next: `mlgov scan --accounts "
        f"{target.account_id} --regions {target.region} --role-name ROLE`, ROLE a role of yours in that account that "
        "trusts your credentials (Organizations makes OrganizationAccountAccessRole in each account it creates). "
        f"The weekly scan reads it through the member role: if that is not deployed there, deploy it (StackSet "
        f"MlGovMemberRoleStackSet, or in that account {deploy})."
    )


def cmd_scan(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from mlgov.ops.scan_run import has_problems, scan_run_id, scan_targets
    from mlgov.settings import check_options, member_role_name
    from mlgov_runtime.adapters.member_accounts import MEMBER_ROLE_STACK, MemberAccounts
    from mlgov_runtime.adapters.organizations import AccountStateUnknown, OrganizationAccounts
    from mlgov_runtime.core.arns import partition_for
    from mlgov_runtime.lineage_audit.endpoint_check import CHALLENGER_MACHINE_OPTION, DEPLOYMENTS_KEY
    from mlgov_runtime.org_scan.forwarding import deploy_command
    from mlgov_runtime.org_scan.logic import Scope, Target, plan_targets, scan_target
    from mlgov_runtime.org_scan.report import Run, build_report
    from mlgov_runtime.registry import endpoint_checks

    settings = common.load_settings(args)
    aws = common.aws_context(args)
    region, own = aws.region, aws.account_id()
    regions = args.regions or settings.org_scan.regions or [region]
    skipped: dict[str, str] = {}
    scope_filters: dict[str, Any] = {}
    if args.organization:
        scope = Scope.from_dict({**settings.org_scan.scope(region), "regions": regions})
        scope_filters = {k: v for k, v in scope.to_dict().items() if k != "regions" and v}
        try:
            planned = plan_targets(OrganizationAccounts(aws.client("organizations")), scope)
        except (ClientError, BotoCoreError) as exc:
            raise common.UsageError(
                "--organization lists the organization's accounts, which needs the management account or a delegated "
                f"administrator ({common.one_line(str(exc), 200)}); or name them with --accounts"
            ) from None
        except AccountStateUnknown as exc:
            raise common.CommandFailed(str(exc)) from None
        targets, skipped = planned.targets, planned.skipped
    else:
        accounts = args.accounts or [own]
        if args.accounts:
            skipped = _not_active(aws, accounts)
        targets = [Target(a, r) for a in accounts if a not in skipped for r in regions]
    role = args.role_name or member_role_name(settings)
    concurrency = settings.org_scan.endpoint_concurrency

    class FromShell(MemberAccounts):
        def _assume_failure(self, exc: Exception, target: Target) -> Any:
            found = super()._assume_failure(exc, target)
            if self.member_role and found.code == "ROLE_NOT_ASSUMABLE" and "(AccessDenied)" in found.reason:
                deploy = deploy_command(MEMBER_ROLE_STACK, self.parameters)
                found.reason = _member_role_refused(str(self.role_arn(target)), target, deploy)
            return found

    connector = FromShell(
        own_account=own,
        role_name=role,
        profile=args.profile,
        endpoint_url=args.endpoint_url,
        pool=concurrency + 2,
        session_name="mlgov-cli-scan",
        member_role=role == member_role_name(settings),  # else a role of the operator's (--role-name)
        governance_region=settings.org_scan.governance_region or region,
        organization_id=settings.organization_id,
    )
    lock = threading.Lock()

    def home_client(service: str) -> Any:
        with lock:
            return aws.client(service)

    index = common.serving_index(args, home_client("dynamodb"))

    def deployments(ctx: Any) -> None:
        # The lineage audit's deployment records, compared as its audit function and the weekly worker do.
        if index is not None:
            ctx.preset(DEPLOYMENTS_KEY, common.deployment_reader(index, ctx.account_id, ctx.region))

    now = datetime.now(UTC)
    # The lineage check verifies a challenger-shaped variant against the challenger machine of this account and
    # region (as `mlgov audit` does); other accounts and regions have none.
    machine = f"arn:{partition_for(region)}:states:{region}:{own}:stateMachine:{CHALLENGER_MACHINE}"
    checks, options = endpoint_checks(), {**check_options(settings), CHALLENGER_MACHINE_OPTION: machine}
    progress = ScanProgress(len(targets), args.format == "table" or sys.stderr.isatty(), sys.stderr.isatty())
    if progress.enabled:
        print(f"Scanning {len(targets)} account/regions as {role} ...", file=sys.stderr)

    def one(target: Target) -> Any:
        result = scan_target(
            target,
            connector,
            checks,
            options=options,
            source="cli",
            now=now,
            concurrency=concurrency,
            home_clients=home_client,
            progress=progress.endpoint,
            home_account=own,
            home_region=settings.org_scan.governance_region or region,
            prepare=deployments,
        )
        return progress.target(result)

    results = scan_targets(targets, one, concurrency=args.concurrency)
    run = Run(scan_run_id(now), now.isoformat(), "cli", role, tuple(regions), skipped=skipped)
    report = build_report(run, results, [f for r in results for f in r.findings])
    if args.format == "json":
        # The stored report keeps findings compact (a first run may hold thousands); here each carries its
        # detail, which ends with what to do.
        details = {f.finding_id: f.detail for r in results for f in r.findings}
        for found in report["findings"]:
            found["detail"] = details.get(found["finding_id"])
        print(json.dumps(report, indent=2, default=str))
    else:
        print(render_scan_table(report, [f.to_dict() for r in results for f in r.findings]))
        if index is None and any(r.endpoints for r in results):  # no endpoint checked: nothing left uncompared
            print(NO_RECORDS, file=sys.stderr)
    if not targets:
        # Nothing scanned proves nothing: never green.
        why = "; ".join(f"{a}: {r}" for a, r in sorted(skipped.items())) or _why_no_account(scope_filters)
        print(
            f"mlgov: nothing scanned: no account/region was reached ({common.one_line(why, 600, keep_end=True)})",
            file=sys.stderr,
        )
        return common.EXIT_VIOLATIONS
    return common.EXIT_VIOLATIONS if has_problems(report) else common.EXIT_OK


def _why_no_account(filters: dict[str, Any]) -> str:
    """Why --organization planned nothing, and what to do about it."""
    if filters:
        named = ", ".join(f"org_scan.{k}={json.dumps(v, sort_keys=True)}" for k, v in sorted(filters.items()))
        return (
            f"no ACTIVE account of the organization passed the filters {named}: check them in the settings "
            "(--config, default ./cdk.json), or name the accounts with --accounts ID,..."
        )
    return (
        "Organizations listed no ACTIVE account: run it with credentials of the management account or a delegated "
        "administrator of the organization (--profile), or name the accounts with --accounts ID,..."
    )


def _not_active(aws: Any, accounts: list[str]) -> dict[str, str]:
    """Named accounts that Organizations says are not ACTIVE (suspended, closing): reported as such, not as
    a role to deploy. Best effort: without Organizations read access every account is tried as named."""
    from botocore.exceptions import BotoCoreError, ClientError

    org = aws.client("organizations")
    found: dict[str, str] = {}
    for account in accounts:
        try:
            described = org.describe_account(AccountId=account)["Account"]
        except (ClientError, BotoCoreError):
            continue
        state = str(described.get("State") or described.get("Status") or "ACTIVE")
        if state != "ACTIVE":
            found[account] = (
                f"{state} in the organization (Organizations account state): a {state.lower()} account cannot be "
                "scanned; reinstate it, or leave it out of --accounts"
            )
    return found


def register(sub: Any) -> None:
    scan = common.command(
        sub,
        "scan",
        cmd_scan,
        help="every registered endpoint check in several accounts and regions (the weekly org scan, run here)",
    )
    who = scan.add_mutually_exclusive_group()
    who.add_argument(
        "--accounts", type=account_list, metavar="ID,...", help="these accounts (default: the current one)"
    )
    who.add_argument(
        "--organization",
        action="store_true",
        help="every ACTIVE account of the organization that passes the org_scan filters of the settings",
    )
    scan.add_argument(
        "--regions", type=region_list, metavar="R1,R2", help="default: org_scan.regions, else the current region"
    )
    scan.add_argument(
        "--role-name",
        type=role_name,
        help="role assumed in the other accounts (default: the member role, MlGovMemberAudit)",
    )
    scan.add_argument(
        "--concurrency", type=common.positive_int, default=4, help="account/regions scanned at once (default 4)"
    )
    common.serving_index_option(scan)
