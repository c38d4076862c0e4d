"""Issue 21 items 4 and 5: every user error of the CLI exits 2 with one specific line on stderr (never 1, never
"unexpected failure"), and a scan that reached nothing is never green. In-process under moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlgov.cli import main
from mlgov.sinks import Fault, start_sink
from tests.settings_files import NO_SETTINGS

REGION = "us-east-1"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1"
METADATA: dict[str, Any] = {
    "training_job_arn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/manga-lora-20260501",
    "git_commit_sha": "0123abcd",
    "training_data_s3_uri": "s3://manga-training/catalog-snapshots/2026-05-01/training.jsonl",
    "training_data_version": "3HL4kqtJlcpXroDTDmJ",
    "trained_at_utc": "2026-05-01T09:00:00Z",
    "catalog_snapshot_date": "2026-05-01",
    "evaluation_metrics": {"eval_loss": 0.11},
    "shadow_ctr_eligible": "true",
    "intended_use_case": "recommendation",
    "team": "recs",
    "approved_by": "lead@example.com",
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        yield


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def usage_error(result: tuple[int, str, str], *fragments: str) -> str:
    code, out, err = result
    assert code == 2, (code, err)
    assert out == "" and err.count("\n") == 1 and err.startswith("mlgov: error: "), err
    assert "unexpected failure" not in err
    for fragment in fragments:
        assert fragment in err, err
    return err


# -- item 4: one validation for CLI and synth; an explicit --config that does not exist; a misspelt 'mlgov'


def test_an_explicit_config_that_does_not_exist_is_a_usage_error(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "cdk.jsn"
    usage_error(run(capsys, "audit", "--config", str(missing)), str(missing), "no such file")


def test_without_config_a_missing_cdk_json_in_the_directory_still_means_defaults(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "audit", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["summary"]["total"] == 0


@pytest.mark.parametrize("key", ["mlgvo", "MLGOV", "ml-gov", "mlgov "])
def test_a_context_key_that_looks_like_a_misspelt_mlgov_is_refused(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    config = tmp_path / "cdk.json"
    config.write_text(json.dumps({"context": {key: {"log_retention_days": 30}}}))
    usage_error(run(capsys, "audit", "--config", str(config)), repr(key), "misspelt 'mlgov'")


def test_the_cli_refuses_a_challenger_group_that_is_not_watched_as_synth_does(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "cdk.json"
    mlgov = {"challenger": {"endpoints": {"manga-ranker": "manga-ranker-prod"}}}
    config.write_text(json.dumps({"context": {"mlgov": mlgov}}))
    usage_error(
        run(capsys, "audit", "--config", str(config)),
        "mlgov.challenger.endpoints",
        "group manga-ranker is not in watched_model_package_groups",
    )


# -- item 5: mlgov register


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"trained_at_utc": 12345}, "trained_at_utc is a JSON number (12345)"),
        ({"catalog_snapshot_date": 20260501}, "catalog_snapshot_date is a JSON number (20260501)"),
        ({"team": {"name": "recs"}}, "team is a JSON object"),
        ({"approved_by": ["a", "b"]}, "approved_by is a JSON array"),
    ],
)
def test_register_refuses_metadata_of_the_wrong_type_before_calling_aws(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], fragment: str
) -> None:
    sm = boto3.client("sagemaker", region_name=REGION)
    sm.create_model_package_group(ModelPackageGroupName="manga-recommender")
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps({**METADATA, **change}))
    argv = ["register", "--group", "manga-recommender", "--metadata-file", str(path)]
    argv += ["--model-data-url", "s3://manga-models/v8/model.tar.gz", "--image", IMAGE, "--config", NO_SETTINGS]
    usage_error(run(capsys, *argv), fragment, "must be a string")
    listed = sm.list_model_packages(ModelPackageGroupName="manga-recommender")["ModelPackageSummaryList"]
    assert listed == []  # nothing registered


# -- notify redrive


def test_redrive_names_the_queue_url_that_names_no_queue(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName="MlGovEndpointAudit-NotifierDlq")["QueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"finding_id": "f"}))
    wrong = "https://sqs.us-east-1.amazonaws.com/123456789012/MlGovEndpointAudit-NotifierQueu"
    err = usage_error(
        run(capsys, "notify", "redrive", "--dlq-url", dlq, "--queue-url", wrong, "--config", NO_SETTINGS),
        f"--queue-url {wrong}: no such queue",
    )
    assert "--dlq-url" not in err
    left = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert left["Attributes"]["ApproximateNumberOfMessages"] == "1"  # nothing lost
    usage_error(
        run(capsys, "notify", "redrive", "--dlq-url", wrong, "--queue-url", dlq, "--config", NO_SETTINGS),
        f"--dlq-url {wrong}: no such queue",
    )


# -- challenger status / simulate: out-of-range numbers


@pytest.mark.parametrize("minutes", ["99999999999", "nan", "inf", "0", "21601"])
def test_challenger_status_refuses_minutes_out_of_range(
    aws: None, capsys: pytest.CaptureFixture[str], minutes: str
) -> None:
    argv = ["challenger", "status", "--endpoint", "manga-recommender-prod", "--minutes", minutes]
    usage_error(run(capsys, *argv, "--config", NO_SETTINGS), "--minutes must be a number of minutes from 1 to 21,600")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--window", "0"], "--window is the gate's max_minutes, from 5 to 10,080"),
        (["--window", "nan"], "--window is the gate's max_minutes"),
        (["--runs", "99999999999"], "--runs must be from 1 to 100,000"),
        (["--runs", "0"], "--runs must be from 1 to 100,000"),
        (["--minutes", "99999999999"], "--minutes must be from 1 to 10,080"),
    ],
)
def test_challenger_simulate_refuses_unbounded_or_empty_runs_and_windows(
    capsys: pytest.CaptureFixture[str], extra: list[str], fragment: str
) -> None:
    argv = ["challenger", "simulate", "--traffic", "70", "--drop", "0.1", *extra, "--config", NO_SETTINGS]
    usage_error(run(capsys, *argv), fragment)


@pytest.mark.parametrize("traffic", ["nan", "inf", "0", "1e300"])
def test_challenger_simulate_refuses_traffic_that_is_not_a_finite_positive_rate(
    capsys: pytest.CaptureFixture[str], traffic: str
) -> None:
    argv = ["challenger", "simulate", "--traffic", traffic, "--drop", "0.1", "--config", NO_SETTINGS]
    usage_error(run(capsys, *argv), "--traffic must be a positive number")


# -- capacity audit / retire audit / retire recreate: a name that does not exist


@pytest.mark.parametrize("command", [("audit",), ("capacity", "audit"), ("retire", "audit")])
def test_every_audit_treats_a_missing_endpoint_as_a_typo(
    aws: None, capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    usage_error(
        run(capsys, *command, "--endpoint", "nope", "--region", REGION, "--config", NO_SETTINGS),
        f"endpoint nope not found in 123456789012/{REGION}",
    )


def test_retire_recreate_blames_the_endpoint_config_that_does_not_exist(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["retire", "recreate", "--endpoint", "manga-recommender-v1", "--endpoint-config", "nope"]
    err = usage_error(run(capsys, *argv, "--config", NO_SETTINGS), "endpoint config nope not found")
    assert "endpoint manga-recommender-v1" not in err


# -- scan: nothing reached is not green; a suspended account is suspended


def test_scan_of_an_organization_with_no_account_reached_is_not_green(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("organizations").create_organization(FeatureSet="ALL")
    config = tmp_path / "cdk.json"  # the filters name an account the organization does not have
    config.write_text(json.dumps({"context": {"mlgov": {"org_scan": {"account_ids": ["999999999999"]}}}}))
    code, out, err = run(
        capsys, "scan", "--organization", "--regions", REGION, "--format", "json", "--config", str(config)
    )
    assert code == 3, err
    assert json.loads(out)["summary"]["account_regions"] == 0
    assert "nothing scanned" in err and "999999999999" in err and err.count("\n") == 1


def test_scan_reports_a_suspended_account_as_suspended(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    org = boto3.client("organizations")
    org.create_organization(FeatureSet="ALL")
    created = org.create_account(AccountName="old-recs", Email="old-recs@example.com")
    account = created["CreateAccountStatus"]["AccountId"]
    org.close_account(AccountId=account)
    code, out, err = run(
        capsys, "scan", "--accounts", account, "--regions", REGION, "--format", "json", "--config", NO_SETTINGS
    )
    report = json.loads(out)
    assert code == 3 and "nothing scanned" in err
    assert "SUSPENDED" in report["skipped_accounts"][account]
    assert "deploy the member role" not in out
    assert [a for a in report["accounts"] if a["account_id"] == account] == []


# -- the CLI's 429: nothing retries for the user, so it says to run the command again


def test_a_429_with_a_long_retry_after_tells_the_cli_user_to_rerun_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlgov.cli import sample_finding

    with start_sink("slack") as slack:
        slack.fail_next(Fault(429, retry_after="600"))
        monkeypatch.setenv("MLGOV_SLACK_WEBHOOK_URL", slack.url + "/services/T/B/X")
        for key in ("MLGOV_JIRA_URL", "MLGOV_PAGE_TOPIC_ARN"):
            monkeypatch.delenv(key, raising=False)
        path = tmp_path / "finding.json"
        path.write_text(json.dumps(sample_finding()))
        code, _, err = run(
            capsys, "notify", "send", "--finding-file", str(path), "--channel", "slack", "--config", NO_SETTINGS
        )
    assert code == 1
    assert "Retry-After 600 s" in err and "rerun of this mlgov command" in err and "invocation" not in err
