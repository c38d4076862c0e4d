"""The README's and docs' commands run as a new user runs them, with the inputs and permissions a real account
gives: a role that may not read part of the lineage, an image digest that is not in its repository, a scan whose
only problem is an account-level finding. Each output says what is true and what to do next."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

from tests.cli.conftest import ACCOUNT, REGION, Shell, answering_ok, refusal, refusing


def test_an_unreadable_configuration_makes_no_claim_that_the_tag_disagrees(estate: Shell) -> None:
    """manga-recommender-prod's ModelPackageName tag names v2, which it serves: a role that may not read the
    endpoint configuration cannot know otherwise, so the audit says ERROR and what to do, not "disagrees"."""
    with refusing(estate.url, "SageMaker.DescribeEndpointConfig") as url:
        done = estate.run("audit", "--endpoint", "manga-recommender-prod", "--format", "json", AWS_ENDPOINT_URL=url)
    assert done.returncode == 3, done.stderr  # lineage that could not be verified is never green
    [endpoint] = json.loads(done.stdout)["endpoints"]
    assert endpoint["verdict"] == "ERROR"
    assert not any("disagrees" in reason for reason in endpoint["reasons"]), endpoint["reasons"]
    assert "AccessDeniedException" in endpoint["reasons"][0]
    # What to do, as the ENDPOINT_AUDIT_ERROR finding says it: the permission, then the same audit again.
    assert "may describe the endpoint, its configuration" in endpoint["next_step"], endpoint
    assert endpoint["next_step"].endswith("re-run `mlgov audit --endpoint manga-recommender-prod --region us-east-1`.")

    # With the lineage read, a tag that names another package than what serves is still reported.
    done = estate.run("audit", "--endpoint", "manga-recommender-spoofed", "--format", "json")
    [endpoint] = json.loads(done.stdout)["endpoints"]
    assert any("disagrees with the deployed lineage" in reason for reason in endpoint["reasons"]), endpoint


def test_audit_says_what_to_do_about_a_violation(estate: Shell) -> None:
    """The README's `mlgov audit`: a table row shows the first reason, cut; the fix was only in the finding. Now the
    JSON carries each flagged endpoint's `next_step`, and a table of one endpoint ends with every reason and it."""
    done = estate.run("audit", "--endpoint", "manga-recommender-canary", "--format", "json")
    assert done.returncode == 3, done.stderr
    [endpoint] = json.loads(done.stdout)["endpoints"]
    assert "`mlgov rollback --endpoint manga-recommender-canary --group manga-recommender`" in endpoint["next_step"]

    done = estate.run("audit", "--endpoint", "manga-recommender-canary")
    lines = done.stdout.splitlines()
    assert lines[-2].startswith("  Production variant AllTraffic (model manga-rec-v3): Model package"), lines
    assert lines[-2].endswith("has approval status PendingManualApproval, not Approved."), lines
    assert lines[-1].startswith("  Next: ") and "mlgov rollback --endpoint manga-recommender-canary" in lines[-1]

    done = estate.run("audit")
    assert done.stdout.splitlines()[-1].startswith("Every reason of an endpoint and what to do next: mlgov audit ")

    done = estate.run("audit", "--endpoint", "manga-recommender-prod", "--format", "json")
    assert done.returncode == 0 and "next_step" not in json.loads(done.stdout)["endpoints"][0]


def _meta() -> dict[str, object]:
    return {
        "training_job_arn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/lora-run-42",
        "git_commit_sha": "3f2a9c1",
        "training_data_version": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        "training_data_s3_uri": "s3://manga-training/catalog-snapshots/2026-11-18/training.jsonl",
        "trained_at_utc": "2026-11-20T04:00:00Z",
        "catalog_snapshot_date": "2026-11-18",
        "evaluation_metrics": {"eval_loss": 0.11, "catalog_coverage_per_1000_sessions": 212},
        "shadow_ctr_eligible": True,
        "intended_use_case": "recommendation",
        "team": "recsys",
        "approved_by": "pending",
    }


def test_register_refuses_an_image_digest_its_repository_does_not_hold(estate: Shell) -> None:
    """docs/coverage-retraining.md's example names the image by digest: a digest that is not in the repository
    (a typo, another repository's) would register a package no instance can pull; ECR says so, so it is refused."""
    from mlgov.emulator import push_image

    s3 = estate.client("s3")
    s3.put_object(Bucket="manga-training", Key="training-output/lora-run-42/output/model.tar.gz", Body=b"adapter")
    tagged, digest = push_image(estate.client("ecr"), "manga-serving-digests", "v3")
    repository = tagged.rsplit(":", 1)[0]
    (estate.home / "meta.json").write_text(json.dumps(_meta()))
    register = [
        "register",
        "--group",
        "manga-recommender",
        "--metadata-file",
        "meta.json",
        "--model-data-url",
        "s3://manga-training/training-output/lora-run-42/output/model.tar.gz",
        "--image",
    ]
    mistyped = f"{repository}@sha256:{'0123456789abcdef' * 4}"
    line = refusal(estate.run(*register, mistyped))
    assert f"image {mistyped} is not in ECR" in line, line
    assert "aws ecr describe-images --registry-id 123456789012 --repository-name manga-serving-digests" in line

    done = estate.run(*register, f"{repository}@{digest}", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pins"]["image_digest"] == digest


def test_a_scan_table_shows_the_account_finding_behind_its_exit_3(estate: Shell) -> None:
    """docs/org-scan.md's `--role-name OrganizationAccountAccessRole` example: the account has no endpoints and no
    forwarding rule, so the only problem is EVENT_FORWARDING_MISSING. The table said "0 violations ... 1 open
    findings" and exited 3 without naming it; it now shows the finding and what to do."""
    done = estate.run("scan", "--accounts", "111122223333", "--role-name", "OrganizationAccountAccessRole")
    assert done.returncode == 3, done.stderr
    lines = done.stdout.splitlines()
    [row] = [line for line in lines if line.startswith("111122223333  us-east-1")]
    assert row.endswith("event forwarding MISSING (see below)"), row
    assert "Open findings about an account/region (what to do):" in lines, done.stdout
    [finding] = [line for line in lines if line.startswith("  111122223333/us-east-1: EVENT_FORWARDING_MISSING")]
    assert "Next: add the account's OU to org_scan.member_role_target_ou_ids" in finding
    assert "open findings by kind: 1 EVENT_FORWARDING_MISSING" in done.stdout


def test_a_half_configured_jira_channel_names_only_what_is_left_to_set(estate: Shell) -> None:
    jira = {"MLGOV_JIRA_URL": "http://127.0.0.1:9", "MLGOV_JIRA_USER": "bot@example.com", "MLGOV_JIRA_PROJECT": "OPS"}
    line = refusal(estate.run("notify", "test", "--channel", "jira", **jira))
    assert line == "mlgov: error: channel jira is not configured: set MLGOV_JIRA_TOKEN", line

    line = refusal(estate.run("notify", "test", "--channel", "jira"))
    assert line.endswith("set MLGOV_JIRA_URL, MLGOV_JIRA_USER, MLGOV_JIRA_TOKEN, MLGOV_JIRA_PROJECT"), line


def test_rollback_with_a_mistyped_endpoint_or_group_gets_the_one_it_likely_meant(estate: Shell) -> None:
    """docs/challenger.md's rollback, typed with one letter missing: as `audit` and `capacity` already answer."""
    rollback = ["rollback", "--reason", "engagement -22%", "--dry-run"]
    line = refusal(estate.run(*rollback, "--endpoint", "manga-recomender-prod", "--group", "manga-recommender"))
    assert "did you mean manga-recommender-prod? aws sagemaker list-endpoints --region us-east-1" in line, line

    line = refusal(estate.run(*rollback, "--endpoint", "manga-recommender-prod", "--group", "manga-recomender"))
    assert "no such model package group 'manga-recomender'" in line and line.endswith("did you mean manga-recommender?")


def test_a_missing_command_is_named_by_its_choices_not_an_internal_name(estate: Shell) -> None:
    line = refusal(estate.run("retire"))
    assert "required: a command (audit, request, approve, deny, cancel, recreate)" in line, line
    assert "retire_command" not in line
    line = refusal(estate.run())
    assert "required: a command (audit, notify, register, coverage, challenger, rollback," in line, line


def test_a_throttled_audit_says_to_run_it_again_not_to_fix_permissions() -> None:
    """A throttled read is an ERROR too; its next step is the same audit later, not a permission to grant."""
    from mlgov_runtime.lineage_audit.findings import next_step
    from mlgov_runtime.lineage_audit.logic import EndpointAudit, Verdict

    throttled = EndpointAudit("manga-recommender-prod", None, "123456789012", "us-east-1", Verdict.ERROR)
    throttled.reasons = [
        "Endpoint configuration manga-recommender-prod-config could not be read (ThrottlingException: Rate "
        "exceeded); lineage cannot be verified."
    ]
    step = next_step(throttled)
    assert "re-run `mlgov audit --endpoint manga-recommender-prod --region us-east-1` in a few minutes" in step
    assert "make sure the audit role" not in step


def test_the_forwarding_finding_deploys_the_stack_with_every_parameter_it_asks_for(estate: Shell) -> None:
    """EVENT_FORWARDING_MISSING said `cdk deploy MlGovMemberEventForwarding`: without org_scan settings CloudFormation
    refuses that stack for its parameters with no value. The command names each, with the governance bus's values,
    as docs/deploy.md's 'Several accounts' does."""
    from mlgov.settings import Settings
    from stacks.constants import MEMBER_FORWARDING_STACK_NAME
    from stacks.member_role_stack import forwarding_template

    done = estate.run("scan", "--accounts", "111122223333", "--role-name", "OrganizationAccountAccessRole")
    assert done.returncode == 3, done.stderr
    found = [line for line in done.stdout.splitlines() if ": EVENT_FORWARDING_MISSING (MEDIUM): " in line]
    assert len(found) == 1, done.stdout
    [finding] = found
    commands = re.findall(r"`(npx cdk deploy [^`]+)`", finding)
    assert len(commands) == 1, finding
    [command] = commands
    words = shlex.split(command)
    assert words[:4] == ["npx", "cdk", "deploy", MEMBER_FORWARDING_STACK_NAME], command
    given = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--parameters")
    asked = {k for k, p in forwarding_template(Settings())["Parameters"].items() if "Default" not in p}
    assert asked and asked <= set(given), (asked, command)
    assert given == {"GovernanceAccountId": ACCOUNT, "GovernanceRegion": REGION}, command


def _deploy_parameters(line: str, stack: str, bin_dir: Path) -> dict[str, str]:
    """The one `npx cdk deploy` command in `line`, run by bash with `npx` printing its arguments and an `aws` that
    answers describe-organization: the --parameters it passes, as the shell expands them."""
    [command] = re.findall(r"`(npx cdk deploy [^`]+)`", line)
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "npx").write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    (bin_dir / "aws").write_text(
        '#!/bin/sh\n[ "$*" = "organizations describe-organization --query Organization.Id --output text" ] '
        "&& echo o-abc1234567\n"
    )
    for script in bin_dir.iterdir():
        script.chmod(0o755)
    done = subprocess.run(
        ["bash", "-c", command], env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, capture_output=True, text=True, check=True
    )
    words = done.stdout.splitlines()
    assert words[:3] == ["cdk", "deploy", stack], command
    assert all(w == "--parameters" for w in words[3::2]) and len(words) % 2 == 1, words
    return dict(w.split("=", 1) for w in words[4::2])


def test_the_unreachable_member_roles_next_step_deploys_it_with_every_parameter_it_asks_for(
    estate: Shell, tmp_path: Path
) -> None:
    """ROLE_NOT_ASSUMABLE said `npx cdk deploy MlGovMemberRole` alone: without org_scan settings CloudFormation refuses
    that stack for its parameters with no value. As EVENT_FORWARDING_MISSING's command, it names each: the governance
    account and region the scan knows, the organization's id from the settings or looked up by the shell."""
    from mlgov.settings import Settings
    from stacks.constants import MEMBER_ROLE_STACK_NAME
    from stacks.member_role_stack import member_template

    asked = {k for k, p in member_template(Settings())["Parameters"].items() if "Default" not in p}
    assert asked == {"GovernanceAccountId", "OrganizationId", "GovernanceRegion"}, asked
    config = tmp_path / "team.json"
    config.write_text(json.dumps({"context": {"mlgov": {"organization_id": "o-zz9876543210"}}}))
    for extra, organization in (((), "o-abc1234567"), (("--config", str(config)), "o-zz9876543210")):
        done = estate.run("scan", "--accounts", "111122223333", *extra)
        assert done.returncode == 3, done.stderr
        [line] = [x for x in done.stdout.splitlines() if x.startswith("  111122223333/us-east-1: Cannot assume")]
        given = _deploy_parameters(line, MEMBER_ROLE_STACK_NAME, tmp_path / "bin")
        assert asked <= set(given), (asked, line)
        assert given == {"GovernanceAccountId": ACCOUNT, "OrganizationId": organization, "GovernanceRegion": REGION}


def test_a_role_the_operator_named_that_cannot_be_assumed_is_not_told_to_deploy_the_member_role(
    estate: Shell,
) -> None:
    """docs/org-scan.md: "pass --role-name for a role of your own". When that role cannot be assumed the reason said
    to deploy the product's member role, which would not help: it now says to check the named role's trust."""
    done = estate.run("scan", "--accounts", "111122223333", "--role-name", "MyAuditRole")
    assert done.returncode == 3, done.stderr
    [line] = [x for x in done.stdout.splitlines() if x.startswith("  111122223333/us-east-1: Cannot assume")]
    assert "MlGovMemberRole" not in line and "does not trust your credentials" in line, line
    assert line.endswith("`mlgov scan --accounts 111122223333 --regions us-east-1 --role-name MyAuditRole`."), line

    done = estate.run("scan", "--accounts", "111122223333")  # the member role: deploy it there
    [line] = [x for x in done.stdout.splitlines() if x.startswith("  111122223333/us-east-1: Cannot assume")]
    assert "MlGovMemberRoleStackSet" in line, line


def test_a_bad_value_in_a_config_file_names_that_file(estate: Shell) -> None:
    """`--config team.json` with a bad value said "cdk.json context ..." while cdk.json was not the file read."""
    config = estate.home / "team.json"
    config.write_text(json.dumps({"context": {"mlgov": {"thresholds": {"min_endpoint_capacity": 0}}}}))
    line = refusal(estate.run("audit", "--config", str(config)))
    assert line.startswith(f"mlgov: error: {config} context 'mlgov.thresholds.min_endpoint_capacity': "), line
    assert "cdk.json" not in line and "greater than or equal to 1 (got 0)" in line, line

    (estate.home / "cdk.json").write_text(config.read_text())  # the default file keeps its name
    try:
        line = refusal(estate.run("audit"))
    finally:
        (estate.home / "cdk.json").unlink()
    assert line.startswith("mlgov: error: cdk.json context 'mlgov.thresholds.min_endpoint_capacity': "), line


def test_a_scans_json_findings_carry_what_to_do(estate: Shell) -> None:
    """The table points JSON readers at `findings`; those rows had a title and no detail, so the fix (the table's
    "Next: ...") was not in the JSON at all."""
    done = estate.run(
        "scan", "--accounts", "111122223333", "--role-name", "OrganizationAccountAccessRole", "--format", "json"
    )
    assert done.returncode == 3, done.stderr
    findings = json.loads(done.stdout)["findings"]
    assert [f["kind"] for f in findings] == ["EVENT_FORWARDING_MISSING"], findings
    assert "Next: add the account's OU to org_scan.member_role_target_ou_ids" in findings[0]["detail"], findings


def test_an_approval_url_that_is_not_the_approval_service_is_a_refusal(estate: Shell) -> None:
    """A mistyped MLGOV_APPROVAL_URL that reaches some other local service answering 200: `retire approve` ended in
    "unexpected failure: KeyError: 'status'". It is a refusal naming the URL and where the right one is."""
    with answering_ok() as url:
        approve = estate.run("retire", "approve", "--request", "rq-0123456789abcdef0123", MLGOV_APPROVAL_URL=url)
        request = estate.run(
            "retire", "request", "--endpoint", "manga-recommender-v1-ab", "--reason", "v2", MLGOV_APPROVAL_URL=url
        )
    line = refusal(approve)
    assert f"{url} answered 200 without " in line and "it is not the approval service" in line, line
    assert line.endswith("to the stack output ApprovalServiceUrl"), line
    # This estate was seeded minutes ago: its idle v1 copy is not yet a candidate, refused before the URL is used
    # (tests/integration/test_retirement_walk.py sends a candidate's request to such a URL)
    line = refusal(request)
    assert "manga-recommender-v1-ab is not yet a retirement candidate: " in line and "answered 200" not in line, line
    assert line.endswith("then run `mlgov retire audit --endpoint manga-recommender-v1-ab`."), line
