"""Scene: the weekly org-wide scan over three member accounts, through the real plan, worker and
aggregation handlers (what the state machine's tasks call), then the same a week later."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections import Counter
from typing import Any

from mlgov.sandbox import REGION, FakeContext
from mlgov.scenes import Stage, defaults_config
from mlgov_runtime.core.env import reset_all

ROLE = "MlGovMemberAudit"
BUCKET = "mlgov-org-scan-reports"


def _drain(stage: Stage) -> list[dict[str, Any]]:
    out = []
    queue = stage.resources["FINDINGS_QUEUE_URL"]
    while batch := stage.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        for m in batch:
            out.append(json.loads(m["Body"]))
            stage.sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    return out


def run_scan(s3: Any, run_id: str, batch_size: int = 2) -> dict[str, Any]:
    """What the state machine does: PlanScan, the Map's batches through the worker, Aggregate."""
    from mlgov_runtime.org_scan import handler

    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):  # EMF lines
        plan = handler.handler({"step": "plan", "state": {"run_id": run_id}}, FakeContext())
        targets = json.loads(s3.get_object(Bucket=BUCKET, Key=plan["targets_key"])["Body"].read())
        for start in range(0, len(targets), batch_size):
            handler.scan(
                {"Items": targets[start : start + batch_size], "BatchInput": {"run_id": run_id}}, FakeContext()
            )
        done = handler.handler({"step": "aggregate", "state": {"plan": plan, "map": None}}, FakeContext())
    key = done["report"].split(f"s3://{BUCKET}/", 1)[1]
    return {**done, "body": json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())}


def _published(findings: list[dict[str, Any]]) -> str:
    opened = Counter(f["kind"] for f in findings if f.get("status") != "RESOLVED")
    resolved = Counter(f["kind"] for f in findings if f.get("status") == "RESOLVED")
    text = ", ".join(f"{n} {k}" for k, n in sorted(opened.items()))
    if resolved:
        text += "; resolved: " + ", ".join(f"{n} {k}" for k, n in sorted(resolved.items()))
    return text or "nothing new"


def play(stage: Stage) -> None:
    from mlgov.org_estate import deploy_member_role, seed_organization
    from mlgov.settings import parse_settings
    from mlgov_runtime.org_scan import settings as e

    print("\n== org-wide scan: plan -> Distributed Map workers -> aggregate (the real handlers), three member accounts")
    org = seed_organization(stage.session, stage.url, REGION, ROLE)
    names = {m.account_id: m.name for m in org.members.values()}
    for m in org.members.values():
        role = "member role deployed" if m.has_role else "member role NOT deployed"
        print(f"   {m.name:<8} {m.account_id}  {len(m.estate.expected) if m.estate else 0} endpoints, {role}")
    s3 = stage.session.client("s3", endpoint_url=stage.url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    kms = stage.session.client("kms", endpoint_url=stage.url)
    mac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    scan = {"regions": [REGION], "exclude_account_ids": [org.governance_account], "endpoint_concurrency": 8}
    os.environ.update(
        {
            e.REPORT_BUCKET: BUCKET,
            e.MEMBER_ROLE_NAME: ROLE,
            **e.environment(parse_settings({"org_scan": scan})),
            e.RESULT_MAC_KEY_ID: mac_key,
        }
    )
    reset_all()
    _drain(stage)

    first = run_scan(s3, "scan-2026-11-30")
    report = first["body"]
    print(f"   {'ACCOUNT':<8} {'ID':<12}  {'STATUS':<6} {'ENDPOINTS':>9} {'VIOLATIONS':>10}  REASON")
    for a in report["accounts"]:
        reason = a["reason"][:78] + ("..." if len(a["reason"]) > 78 else "")
        print(
            f"   {names.get(a['account_id'], '?'):<8} {a['account_id']:<12}  {a['status']:<6} {a['endpoints']:>9} "
            f"{a['violations']:>10}  {reason}".rstrip()
        )
    s = report["summary"]
    print(
        f"   {first['status_line']} ({report['status']}); {s['total']} endpoints: {s['compliant']} compliant, "
        f"{s['violations']} violations, {s['errors']} unverifiable, {s['exempt']} exempt"
    )
    print(f"   report: {first['report']} and report.md beside it")
    print(f"   published: {_published(_drain(stage))}")
    print("   catalog snapshot age (thresholds.snapshot_max_age_days = 60):")
    for row in report["snapshot_ages"]:
        if row.get("status") in ("STALE", "MISSING", "OK"):
            age = f"{row['age_days']} days" if row.get("age_days") is not None else "unknown"
            print(
                f"     {names.get(row['account_id'], '?'):<8} {row['endpoint_name']:<30} {row['status']:<8} "
                f"{row.get('catalog_snapshot_date') or '-':<11} {age}"
            )

    print("\n== a week later: the StackSet reached sandbox; recs-staging-hotfix was deleted")
    sandbox = org.members["sandbox"]
    deploy_member_role(sandbox.session, stage.url, ROLE, org.governance_account)
    org.members["staging"].session.client("sagemaker", endpoint_url=stage.url).delete_endpoint(
        EndpointName="recs-staging-hotfix"
    )
    second = run_scan(s3, "scan-2026-12-07")
    change = second["body"]["change"]
    print(f"   {second['status_line']} ({second['body']['status']})")
    print(f"   published: {_published(_drain(stage))}")
    print(
        f"   since {change['previous_run_id']}: {len(change['new'])} new (the sandbox account's), "
        f"{len(change['resolved'])} resolved"
    )

    accounts = f"{org.members['staging'].account_id},999999999999"
    print(f"\n== mlgov scan --accounts {accounts} --region {REGION} (the same worker, run here; no such account)")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox"}
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlgov.cli",
            "scan",
            "--accounts",
            accounts,
            "--region",
            REGION,
            "--endpoint-url",
            stage.url,
            "--config",
            defaults_config(),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    lines = cli.stdout.splitlines()
    accounts_table = lines[: lines.index("")] if "" in lines else lines
    not_read = lines[lines.index("Not read (what to do):") :] if "Not read (what to do):" in lines else []
    not_read = not_read[: not_read.index("")] if "" in not_read else not_read
    shown = [*accounts_table, "...", *not_read, *lines[-1:]]
    print("\n".join("   " + line for line in shown))
    print(f"   exit code {cli.returncode} ({scan_exit_meaning(cli.returncode, accounts_table)})")


def scan_exit_meaning(code: int, accounts_table: list[str]) -> str:
    """What this scan's exit code says: 3 is also an account/region it could not read, not only a violation."""
    unread = sorted({line.split()[0] for line in accounts_table[1:] if " ERROR " in f" {line} "})
    if code != 3:
        return {0: "0 = nothing to report", 2: "2 = usage or configuration error"}.get(code, f"{code} = failure")
    if unread:
        return f"3 = not everything could be verified: {', '.join(unread)} could not be read; see Not read above"
    return "3 = violations or open findings"
