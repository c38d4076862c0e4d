"""What a new user meets running the README's and docs' commands, with the wrong inputs new users type (a
typo in an option, a resource that is not there, nothing deployed): a refusal is one line naming the
problem and the fix, with the exit code CONTRACTS.md gives; output never shows a placeholder or a count
where there was no data."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.conftest import ACCOUNT, REGION, Shell, refusal

TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:mlgov-findings"


def test_a_mistyped_option_is_named_by_its_command_with_the_option_meant(estate: Shell) -> None:
    line = refusal(estate.run("audit", "--endpont", "manga-recommender-prod"))
    assert line.startswith("mlgov: error: mlgov audit: unrecognized arguments: --endpont"), line
    assert "did you mean --endpoint?" in line and "(see mlgov audit --help)" in line

    line = refusal(estate.run("retire", "audit", "--went-quite"))
    assert "mlgov retire audit:" in line and "did you mean --went-quiet?" in line


def test_a_mistyped_required_option_is_named_beside_the_missing_one(estate: Shell) -> None:
    line = refusal(estate.run("guardrails", "explain", "--acton", "sagemaker:CreateEndpoint"))
    assert "required: --action" in line and "--acton" in line and "did you mean --action?" in line


def test_a_refusal_longer_than_a_line_keeps_its_fix(estate: Shell) -> None:
    """v1's artifact and image are gone from the emulator: the refusal names both, then what to do."""
    done = estate.run("rollback", "--endpoint", "manga-recommender-prod", "--group", "manga-recommender", "--dry-run")
    line = refusal(done)
    assert "v1 cannot be rolled back to" in line
    assert line.endswith("register a recovery package (mlgov register) and have it approved"), line


def test_challenger_start_with_no_deployed_state_machine_is_refused_naming_the_deploy(estate: Shell) -> None:
    done = estate.run("challenger", "start", "--package", estate.candidate, "--endpoint", "manga-recommender-prod")
    line = refusal(done)
    assert "no challenger state machine" in line and "npx cdk deploy MlGovEndpointAudit" in line
    assert "nothing was started" in line

    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:mlgov-challengr"
    line = refusal(estate.run("challenger", "start", "--package", estate.candidate, "--state-machine-arn", machine))
    assert "--state-machine-arn names no challenger state machine" in line and machine in line


def test_challenger_status_of_a_paused_experiment_shows_no_data_not_zero(estate: Shell) -> None:
    """manga-recommender-ab has two variants and the recommender published nothing: PAUSED (exit 3)."""
    done = estate.run("challenger", "status", "--endpoint", "manga-recommender-ab", "--minutes", "30")
    assert "Traceback" not in done.stderr and "unexpected failure" not in done.stderr, done.stderr
    assert done.returncode == 3, done.stderr
    assert "PAUSED" in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith(("  production", "  challenger"))]
    assert len(rows) == 2 and all(row.count("no data") == 2 for row in rows), done.stdout

    done = estate.run(
        "challenger", "status", "--endpoint", "manga-recommender-ab", "--minutes", "30", "--format", "json"
    )
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert report["decision"] == "PAUSED"
    for variant in report["variants"].values():
        assert variant["impressions"] is None and variant["clicks"] is None, variant  # missing is not zero


def test_challenger_status_since_the_endpoint_changed_shows_no_data_not_zero(estate: Shell) -> None:
    """The README's form (no --minutes): the window starts when the endpoint last changed. With no minute the
    recommender reported, whether the window is 0, 5 or 30 minutes long, the counts are "no data": they printed 0
    impressions and 0 clicks under CONTINUE while the window had fewer than the missing-metric minutes."""
    done = estate.run("challenger", "status", "--endpoint", "manga-recommender-ab", "--format", "json")
    assert "Traceback" not in done.stderr and done.returncode in (0, 3), done.stderr
    report = json.loads(done.stdout)
    assert report["statistics"]["aligned_minutes"] == 0, report["statistics"]
    for variant in report["variants"].values():
        assert variant["impressions"] is None and variant["clicks"] is None, variant

    done = estate.run("challenger", "status", "--endpoint", "manga-recommender-ab")
    rows = [line for line in done.stdout.splitlines() if line.startswith(("  production", "  challenger"))]
    assert len(rows) == 2 and all(row.count("no data") == 2 for row in rows), done.stdout


def test_challenger_status_right_after_the_endpoint_changed_says_when_to_look_again(
    estate: Shell, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Half a minute after the endpoint changed no minute has settled: the window is empty. The status said only
    "below the minimum sample"; it now says why the window is empty and when a look can see a minute."""
    from mlgov.cli import main
    from mlgov.commands import challenger

    changed = estate.client("sagemaker").describe_endpoint(EndpointName="manga-recommender-ab")["LastModifiedTime"]
    monkeypatch.setattr(challenger, "_now", lambda: changed + timedelta(seconds=30))
    for key, value in estate.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(estate.home)  # no cdk.json: the defaults, as for a new user
    assert main(["challenger", "status", "--endpoint", "manga-recommender-ab", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["decision"] == "CONTINUE" and report["statistics"]["window_minutes"] == 0, report
    start = report["window"]["start"]
    first = report["reasons"][0]
    assert first.startswith("No settled minute yet: the endpoint last changed at "), first
    ready = (datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M")
    assert f"Run it again after {ready}" in first and "--minutes N" in first, (start, first)
    for variant in report["variants"].values():
        assert variant["impressions"] is None and variant["clicks"] is None, variant


def test_retire_cancel_with_a_mistyped_table_or_topic_is_refused_before_anything_changes(estate: Shell) -> None:
    cancel = ["retire", "cancel", "--endpoint", "manga-recommender-v1", "--reason", "EU moves in January"]
    line = refusal(estate.run(*cancel, "--findings-table", "mlgov-findngs", "--findings-topic-arn", TOPIC))
    assert "findings table mlgov-findngs not found" in line and "describe-stack-resources" in line

    line = refusal(estate.run(*cancel, "--findings-table", "mlgov-findings", "--findings-topic-arn", TOPIC + "s"))
    assert f"findings topic {TOPIC}s not found" in line

    line = refusal(estate.run(*cancel, "--findings-table", "mlgov-findings", "--findings-topic-arn", "mlgov-findings"))
    assert "is not an SNS topic ARN" in line

    line = refusal(estate.run(*cancel, "--findings-table", "mlgov-findings"))
    assert "--findings-topic-arn" in line and "--findings-table (" not in line  # names only what is missing


def test_notify_page_to_a_topic_that_does_not_exist_is_a_refusal(estate: Shell) -> None:
    """A missing topic will not appear on a retry: exit 2 (refused), not 1 (may work later)."""
    missing = f"arn:aws:sns:{REGION}:{ACCOUNT}:mlgov-pages"
    line = refusal(estate.run("notify", "test", "--channel", "page", MLGOV_PAGE_TOPIC_ARN=missing))
    assert "MLGOV_PAGE_TOPIC_ARN" in line and "does not exist" in line

    done = estate.run("notify", "test", "--channel", "page", MLGOV_PAGE_TOPIC_ARN=TOPIC)
    assert done.returncode == 0, done.stderr


def test_guardrails_explain_refuses_a_mistyped_action_rather_than_allow_it(estate: Shell) -> None:
    line = refusal(estate.run("guardrails", "explain", "--action", "sagemaker:CreateEndpont"))
    assert "did you mean sagemaker:CreateEndpoint?" in line

    # IAM's names that are no API operation still explain (lambda:InvokeFunction authorizes Invoke).
    function = f"arn:aws:lambda:{REGION}:999988887777:function:MlGovEndpointAudit-ChallengerSteps-AB12"
    done = estate.run("guardrails", "explain", "--action", "lambda:InvokeFunction", "--resource", function)
    assert done.returncode == 3, done.stderr
    # s3:ListBucket is IAM's name (no such operation, ListBuckets is close): explained, not refused.
    done = estate.run("guardrails", "explain", "--action", "s3:ListBucket", "--resource", "arn:aws:s3:::manga-training")
    assert done.returncode in (0, 3), done.stderr


def test_scan_lists_the_accounts_it_could_not_read_with_what_to_do(estate: Shell) -> None:
    done = estate.run("scan", "--accounts", "111122223333", "--regions", "us-east-1,ap-northeast-1")
    assert done.returncode == 3, done.stderr
    lines = done.stdout.splitlines()
    assert "Not read (what to do):" in lines, done.stdout
    section = lines[lines.index("Not read (what to do):") + 1 :]
    for region in ("us-east-1", "ap-northeast-1"):
        [row] = [line for line in section if line.startswith(f"  111122223333/{region}: ")]
        # The whole reason: a shell's next step (a role of its own), then the member role the weekly scan needs.
        assert f"Next: `mlgov scan --accounts 111122223333 --regions {region} --role-name ROLE`" in row, row
        assert "npx cdk deploy MlGovMemberRole" in row, row
    table = lines[: lines.index("")]
    assert all("ROLE_NOT_ASSUMABLE" in row for row in table[1:]), table


def test_register_prints_its_pins_as_text(estate: Shell) -> None:
    from mlgov.emulator import push_image

    s3 = estate.client("s3")
    s3.create_bucket(Bucket="mlgov-new-user-models")
    s3.put_bucket_versioning(Bucket="mlgov-new-user-models", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(
        Bucket="mlgov-new-user-models", Key="lora-42/model.tar.gz", Body=b"adapter", ChecksumAlgorithm="SHA256"
    )
    image, digest = push_image(estate.client("ecr"), "manga-serving", "v3")
    meta = {
        "training_job_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/lora-42",
        "git_commit_sha": "3f2a9c1",
        "training_data_s3_uri": "s3://manga-training/catalog-snapshots/2026-11-18/training.jsonl",
        "training_data_version": "v42",
        "trained_at_utc": "2026-11-20T04:00:00Z",
        "catalog_snapshot_date": "2026-11-18",
        "evaluation_metrics": {"eval_loss": 0.11},
        "shadow_ctr_eligible": True,
        "intended_use_case": "recommendation",
        "team": "recsys",
        "approved_by": "approver",
    }
    (estate.home / "meta.json").write_text(json.dumps(meta))
    done = estate.run(
        "register",
        "--group",
        "manga-recommender",
        "--metadata-file",
        "meta.json",
        "--model-data-url",
        "s3://mlgov-new-user-models/lora-42/model.tar.gz",
        "--image",
        image,
    )
    assert done.returncode == 0, done.stderr
    assert "{" not in done.stdout and "'" not in done.stdout, done.stdout  # no Python dict
    assert f"image digest     {digest}" in done.stdout
    assert "model data ETag" in done.stdout and "object version" in done.stdout


def test_capacity_restore_with_a_findings_table_does_not_ask_for_one(estate: Shell) -> None:
    done = estate.run(
        "capacity", "restore", "--endpoint", "manga-recommender-canary", "--findings-table", "mlgov-findings"
    )
    assert done.returncode == 0, done.stderr
    assert "pass --findings-table" not in done.stdout, done.stdout
    assert "mlgov-findings holds no open capacity finding for manga-recommender-canary" in done.stdout


def test_with_nothing_deployed_every_named_endpoint_is_a_refusal(nothing_deployed: Shell) -> None:
    for argv in (
        ["audit", "--endpoint", "manga-recommender-prod", "--format", "json"],
        ["challenger", "status", "--endpoint", "manga-recommender-prod"],
        ["capacity", "audit", "--endpoint", "manga-recommender-prod", "--format", "json"],
        ["capacity", "restore", "--endpoint", "manga-recommender-prod", "--dry-run"],
        ["retire", "audit", "--endpoint", "manga-recommender-v1", "--format", "json"],
    ):
        done = nothing_deployed.run(*argv)
        line = refusal(done)
        assert "manga-recommender-" in line and done.stdout == "", (argv, line)


def test_a_mistyped_endpoint_name_gets_the_one_it_likely_meant(estate: Shell) -> None:
    for argv, meant in (
        (["audit", "--endpoint", "manga-recomender-prod"], "manga-recommender-prod"),
        (["capacity", "restore", "--endpoint", "manga-recomender-prod", "--dry-run"], "manga-recommender-prod"),
        (["challenger", "status", "--endpoint", "manga-recomender-ab"], "manga-recommender-ab"),
        (["retire", "request", "--endpoint", "manga-recomender-v1"], "manga-recommender-v1"),
    ):
        line = refusal(estate.run(*argv))
        assert f"did you mean {meant}?" in line and "aws sagemaker list-endpoints --region us-east-1" in line, line


def test_retire_request_refused_for_traffic_is_one_line_ending_with_what_to_do(estate: Shell) -> None:
    done = estate.run("retire", "request", "--endpoint", "manga-recommender-v1", "--reason", "v2 serves all apps")
    assert done.returncode == 3, done.stderr  # still takes traffic (CONTRACTS.md)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlgov: error: refused: manga-recommender-v1"), done.stderr
    assert "Next: Move every caller of manga-recommender-v1" in lines[0]


def test_approving_a_mistyped_request_id_is_told_before_anything_else(estate: Shell) -> None:
    line = refusal(estate.run("retire", "approve", "--request", "0123456789abcdef0123"))
    assert "'0123456789abcdef0123' is not a request id (rq- and 20 hex digits" in line


def test_an_approval_service_that_does_not_answer_is_refused_with_where_to_find_it(estate: Shell) -> None:
    done = estate.run("retire", "deny", "--request", "rq-0123456789abcdef0123", "--reason", "mobile 3.2 still pins it")
    line = refusal(done)  # nothing else on stderr: no "Recording ..." line before the refusal
    assert "MLGOV_APPROVAL_URL" in line and "ApprovalServiceUrl" in line

    done = estate.run(
        "retire",
        "deny",
        "--request",
        "rq-0123456789abcdef0123",
        "--reason",
        "x",
        "--approval-url",
        "http://127.0.0.1:9/",
    )
    line = refusal(done)
    assert "unreachable" in line and "nothing was recorded" in line and "ApprovalServiceUrl" in line


def test_a_profile_that_does_not_exist_says_how_to_list_them(estate: Shell) -> None:
    line = refusal(estate.run("audit", "--profile", "prod-readonly"))
    assert "prod-readonly" in line and "aws configure list-profiles" in line


def test_an_emulator_that_is_not_running_is_named(estate: Shell) -> None:
    done = estate.run("audit", AWS_ENDPOINT_URL="http://127.0.0.1:9")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr  # may work later: exit 1
    assert "nothing answers at http://127.0.0.1:9" in done.stderr.strip().splitlines()[-1]


def test_capacity_campaign_takes_the_peak_per_second_as_the_contract_names_it(estate: Shell) -> None:
    """CONTRACTS.md names `--peak-rps N`; the command counted per minute only (`--peak`)."""
    endpoint = "manga-recommender-spoofed"
    assert estate.run("capacity", "restore", "--endpoint", endpoint).returncode == 0  # a scalable target first
    window = ["--start", "2099-12-07T08:00+09:00", "--end", "2099-12-07T22:00+09:00", "--dry-run", "--format", "json"]
    plans = []
    for peak in (["--peak-rps", "6"], ["--peak", "360"]):
        done = estate.run("capacity", "campaign", "--endpoint", endpoint, "--name", "manga-monday", *peak, *window)
        assert done.returncode == 0, done.stderr
        plans.append(json.loads(done.stdout))
    assert plans[0]["peak_invocations_per_minute"] == plans[1]["peak_invocations_per_minute"] == 360
    assert plans[0]["instances"] == plans[1]["instances"] == 6


def test_coverage_names_where_to_find_the_table_or_snapshot_it_did_not_find(
    estate: Shell, nothing_deployed: Shell
) -> None:
    snapshot = "s3://manga-training/catalog-snapshots/2026-05-02/training.jsonl"
    coverage = ["coverage", "--catalog-table", "manga-catalog", "--format", "json", "--snapshot-uri"]  # no progress
    line = refusal(nothing_deployed.run(*coverage, snapshot))
    assert "catalog table manga-catalog does not exist" in line and "aws dynamodb list-tables" in line

    missing = "s3://manga-training/catalog-snapshots/2026-05-03/training.jsonl"
    line = refusal(estate.run(*coverage, missing))
    assert f"snapshot {missing} does not exist" in line and "aws s3 ls s3://manga-training/catalog-snapshots/" in line


def test_challenger_status_without_a_challenger_says_how_to_get_one(estate: Shell) -> None:
    line = refusal(estate.run("challenger", "status", "--endpoint", "manga-recommender-prod"))
    assert "no challenger to judge" in line and "mlgov challenger start --package" in line

    done = estate.run("challenger", "status", "--endpoint", "manga-recommender-ab", "--package", estate.candidate)
    line = refusal(done)
    assert "mlgov audit --endpoint manga-recommender-ab --format json" in line


def test_a_package_that_does_not_exist_names_the_listing_of_its_group(estate: Shell) -> None:
    missing = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/manga-recommender/88"
    line = refusal(estate.run("challenger", "start", "--package", missing))
    assert f"{missing} does not exist" in line
    assert "aws sagemaker list-model-packages --model-package-group-name manga-recommender" in line

    comment = "rejected on a broken clicks metric; re-run on fixed data passed"
    line = refusal(estate.run("challenger", "reapprove", "--package", missing, "--comment", comment, "--dry-run"))
    assert "--model-approval-status Rejected" in line


def test_an_organization_scan_that_planned_nothing_says_what_to_do(nothing_deployed: Shell, estate: Shell) -> None:
    """`mlgov scan --organization` that reached nothing said "no account matched the org_scan filters", also where no
    filter was set: it now says why (Organizations listed none, or which filters left none out) and what to run."""
    done = nothing_deployed.run("scan", "--organization")
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("mlgov: nothing scanned:")]
    assert "filters" not in line and "Organizations listed no ACTIVE account" in line, line
    assert line.endswith("or name the accounts with --accounts ID,...)") and "management account" in line, line

    config = estate.home / "team-filter.json"
    config.write_text(json.dumps({"context": {"mlgov": {"org_scan": {"account_tags": {"team": "nobody"}}}}}))
    done = estate.run("scan", "--organization", "--config", str(config))
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("mlgov: nothing scanned:")]
    assert 'org_scan.account_tags={"team": "nobody"}' in line and "--config" in line, line
    assert line.endswith("or name the accounts with --accounts ID,...)"), line


def test_retire_audit_says_what_makes_an_endpoint_watched_when_it_leaves_one_out(estate: Shell) -> None:
    """experiment-lora-r16 has no managed_by tag and no watched prefix: "(1 not watched)" alone gave a user
    with only such endpoints "0 watched endpoints" and nothing to act on."""
    done = estate.run("retire", "audit")
    assert "Traceback" not in done.stderr and done.returncode == 3, done.stderr
    lines = done.stdout.splitlines()
    summary = next(i for i, line in enumerate(lines) if "watched endpoint" in line)
    assert "(1 not watched)" in lines[summary], lines[summary]
    hint = lines[summary + 1]
    assert "managed_by=manga-recommender-pipeline" in hint and "prefix in manga-recommender" in hint, hint
    assert "mlgov retire audit --endpoint NAME" in hint, hint


def test_the_finding_file_the_pages_show_is_described_and_a_stored_one_is_sent(estate: Shell) -> None:
    """deploy.md shows `mlgov notify send --finding-file finding.json` and named no shape or source; the shape
    it pointed at (CONTRACTS.md) is not in the repository's CONTRACTS.md. notifications.md names each key the
    command requires and takes a stored finding out of the findings table: that file is sent."""
    from mlgov.sinks import start_sink
    from mlgov_runtime.adapters.findings_store import FindingsStore
    from mlgov_runtime.core.findings import Finding
    from mlgov_runtime.notifier.logic import REQUIRED_FINDING_KEYS

    root = Path(__file__).resolve().parents[2]
    deploy = (root / "docs" / "deploy.md").read_text(encoding="utf-8")
    after = deploy[deploy.index("mlgov notify send --finding-file finding.json") :]
    assert "](notifications.md#findings)" in after[: after.index("Other environment variables")], after[:600]
    findings = (root / "docs" / "notifications.md").read_text(encoding="utf-8").split("\n## ")[1]
    assert findings.startswith("Findings"), findings[:40]
    assert [key for key in REQUIRED_FINDING_KEYS if f"`{key}`" not in findings] == []
    recipe = "--query Item.finding.S --output text > finding.json"
    assert "aws dynamodb get-item --table-name" in findings and recipe in findings, findings

    stored = Finding(
        kind="ENDPOINT_WITHOUT_AUTOSCALING",
        severity="MEDIUM",
        account_id=ACCOUNT,
        region=REGION,
        resource_arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/manga-recommender-hotfix",
        title="Endpoint manga-recommender-hotfix has no autoscaling",
        detail="Fix: mlgov capacity restore --endpoint manga-recommender-hotfix",
        source="scheduled",
        evidence={"fix_command": "mlgov capacity restore --endpoint manga-recommender-hotfix"},
    )
    FindingsStore(estate.client("dynamodb"), estate.client("sns"), "mlgov-findings", TOPIC).record(stored)
    item = estate.client("dynamodb").get_item(TableName="mlgov-findings", Key={"finding_id": {"S": stored.finding_id}})[
        "Item"
    ]
    (estate.home / "finding.json").write_text(item["finding"]["S"])  # what --query Item.finding.S prints
    with start_sink("slack") as slack:
        webhook = slack.url + "/services/T/B/X"
        done = estate.run("notify", "send", "--finding-file", "finding.json", MLGOV_SLACK_WEBHOOK_URL=webhook)
        assert done.returncode == 0 and "ok: posted" in done.stdout, (done.stdout, done.stderr)
        assert len(slack.delivered) == 1 and "manga-recommender-hotfix" in json.dumps(slack.delivered[0].body)


def test_the_coverage_page_names_what_the_command_reads_and_prints(estate: Shell) -> None:
    """coverage-retraining.md said "It prints the CONTRACTS.md JSON" and named neither the catalog's items nor
    the snapshot's lines, which only a contract outside the repository held: a user with their own catalog had
    nothing to shape it by. Every key the command prints, every catalog field retraining reads and every key
    of a snapshot line is on the page."""
    from mlgov.catalog_estate import catalog_items, snapshot_body
    from mlgov_runtime.retraining.logic import CATALOG_FIELDS

    root = Path(__file__).resolve().parents[2]
    page = (root / "docs" / "coverage-retraining.md").read_text(encoding="utf-8")
    assert "CONTRACTS.md JSON" not in page
    snapshot = "s3://manga-training/catalog-snapshots/2026-05-02/training.jsonl"
    done = estate.run("coverage", "--catalog-table", "manga-catalog", "--snapshot-uri", snapshot, "--format", "json")
    assert done.returncode == 3, done.stderr
    printed = json.loads(done.stdout)
    line = json.loads(snapshot_body(catalog_items(1, 0)).decode().splitlines()[0])
    named = [*printed, *CATALOG_FIELDS, *line, printed["action"]]
    assert [key for key in named if f"`{key}`" not in page and f'"{key}"' not in page] == []
    assert len(printed["gap_title_sample"]) == 20 and printed["gap_title_sample"] == sorted(printed["gap_title_sample"])


def test_retire_audit_of_a_named_endpoint_does_not_call_it_watched(estate: Shell) -> None:
    """experiment-lora-r16 is not watched; named with --endpoint it is checked all the same, and the summary
    called it "1 watched endpoint"."""
    done = estate.run("retire", "audit", "--endpoint", "experiment-lora-r16")
    assert "Traceback" not in done.stderr and done.returncode in (0, 3), done.stderr
    [summary] = [line for line in done.stdout.splitlines() if "(0 not watched)" in line]
    assert summary.startswith("1 named endpoint:"), summary
