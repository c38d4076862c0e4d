"""`mlgov audit` on the same estate, in-process under moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlgov.cli import main, sample_finding
from mlgov.sinks import Fault, start_sink
from tests.integration.conftest import ACCOUNT, Sandbox
from tests.settings_files import NO_SETTINGS


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"context": {"mlgov": {"experiment_exemptions": {"account_ids": [ACCOUNT]}}}}))
    return path


def test_audit_json_is_the_contract_and_exit_code_is_3_on_violations(
    sandbox: Sandbox, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["audit", "--format", "json", "--region", "us-east-1", "--config", str(config)])
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert code == 3
    assert {e["endpoint_name"]: e["verdict"] for e in report["endpoints"]} == sandbox.estate.expected
    assert report["summary"] == {
        "total": 9,
        "compliant": 2,
        "violations": 5,
        "exempt": 1,
        "errors": 1,
        "no_model": 0,
        "under_evaluation": 0,
    }
    ab = next(e for e in report["endpoints"] if e["endpoint_name"] == "manga-recommender-ab")
    assert [v["variant_name"] for v in ab["variants"]] == ["champion", "challenger"]
    assert ab["variants"][1]["containers"] == [{"model_package_arn": None, "approval_status": None}]
    assert out.err == ""


def test_audit_of_a_compliant_endpoint_exits_0_with_a_table(
    sandbox: Sandbox, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["audit", "--endpoint", "manga-recommender-prod", "--config", str(config), "--region", "us-east-1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "manga-recommender-prod" in out and "COMPLIANT" in out and "1 endpoint: 1 compliant" in out


def test_bad_settings_file_is_a_usage_error_on_one_line(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "cdk.json"
    bad.write_text(json.dumps({"context": {"mlgov": {"experiment_exemptions": {"account_ids": ["prod"]}}}}))
    code = main(["audit", "--config", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "account_ids" in err


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--bogus"]) == 2


def test_guardrails_explain_names_the_deciding_statement(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = NO_SETTINGS
    code = main(
        [
            "guardrails",
            "explain",
            "--action",
            "sagemaker:CreateEndpoint",
            "--endpoint-name",
            "hotfix",
            "--principal",
            "arn:aws:iam::210987654321:role/DataScientist",
            "--format",
            "json",
            "--config",
            str(config),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 3
    assert report["decision"] == "Deny"
    assert report["statement"] == "DenyEndpointWithoutPackageTag"
    assert "ModelPackageName" in report["why"]


def test_guardrails_explain_allows_the_pipeline_with_a_package_tag(capsys: pytest.CaptureFixture[str]) -> None:
    tag = "ModelPackageName=arn:aws:sagemaker:us-east-1:210987654321:model-package/manga-recommender/7"
    code = main(
        [
            "guardrails",
            "explain",
            "--action",
            "sagemaker:CreateEndpoint",
            "--tag",
            tag,
            "--principal",
            "arn:aws:iam::210987654321:role/mlgov-protected/MlGovDeploymentPipeline",
            "--config",
            NO_SETTINGS,
        ]
    )
    assert code == 0
    assert capsys.readouterr().out.startswith("Allow:")


def test_guardrails_explain_refuses_a_malformed_tag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["guardrails", "explain", "--action", "sagemaker:AddTags", "--tag", "novalue"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


# -- issue 11, item 8: every user error is one line on stderr and exit 2, never a traceback or a page


def usage_error(capsys: pytest.CaptureFixture[str], code: int, *fragments: str) -> str:
    captured = capsys.readouterr()
    assert code == 2, f"exit {code}: {captured.err}"
    assert captured.err.count("\n") == 1 and captured.err.startswith("mlgov: error:"), captured.err
    assert "Traceback" not in captured.err and "<html" not in captured.err.lower()
    for fragment in fragments:
        assert fragment in captured.err
    return captured.err


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"[1, 2, 3]", "not a JSON array"), (b"\xff\xfe\x00{", "not UTF-8"), (b'{"context": "x"}', "'context'")],
)
def test_a_config_of_the_wrong_shape_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, fragment: str
) -> None:
    config = tmp_path / "cdk.json"
    config.write_bytes(content)
    usage_error(capsys, main(["audit", "--region", "us-east-1", "--config", str(config)]), fragment)


def test_a_config_naming_a_directory_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    usage_error(capsys, main(["audit", "--region", "us-east-1", "--config", str(tmp_path)]), "is a directory")


def test_a_finding_or_metadata_file_that_is_not_utf8_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "latin1.json"
    bad.write_bytes('{"title": "caf\u00e9"}'.encode("latin-1"))
    monkeypatch.setenv("MLGOV_SLACK_WEBHOOK_URL", "http://127.0.0.1:9/services/T/B/X")
    usage_error(capsys, main(["notify", "send", "--finding-file", str(bad)]), "not UTF-8")
    register = ["register", "--group", "g", "--metadata-file", str(bad), "--model-data-url", "s3://b/k", "--image", "i"]
    usage_error(capsys, main(register), "not UTF-8")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["audit", "--endpoint-url", "notaurl"], "'notaurl' is not an http(s) URL"),
        (["audit", "--endpoint-url", "http://127.0.0.1:port"], "port"),
        (["audit", "--region", "nowhere-1"], "'nowhere-1' is not an AWS region"),
        (["audit", "--region", "us-eats-1"], "not an AWS region"),
        (["audit", "--endpoint", ""], "'' is not a SageMaker endpoint name"),
        (["audit", "--endpoint", "bad name"], "is not a SageMaker endpoint name"),
        (["audit", "--bogus"], "unrecognized arguments: --bogus"),
        (["coverage", "--catalog-table", "x", "--snapshot-uri", "s3://b/k"], "DynamoDB table name"),
        (["notify", "redrive", "--dlq-url", "q", "--queue-url", "q"], "is not an http(s) URL"),
        (
            ["notify", "redrive", "--dlq-url", "https://q/1/a", "--queue-url", "https://q/1/b", "--limit", "0"],
            "at least 1",
        ),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    args: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    usage_error(capsys, main(args), fragment)


def test_a_region_from_the_environment_is_checked_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_REGION", "nowhere-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "nowhere-1")
    usage_error(capsys, main(["audit", "--config", NO_SETTINGS]), "'nowhere-1'", "not an AWS region")


def test_auditing_an_endpoint_that_does_not_exist_is_a_usage_error_not_a_violation(
    sandbox: Sandbox, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["audit", "--endpoint", "manga-recomender-prod", "--region", "us-east-1", "--config", str(config)])
    usage_error(capsys, code, "endpoint manga-recomender-prod not found in 123456789012/us-east-1")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [({"detail": 42}, "finding detail must be a string"), ({"finding_id": "a b"}, "finding finding_id 'a b'")],
)
def test_notify_refuses_a_finding_with_the_wrong_types(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, Any],
    fragment: str,
) -> None:
    monkeypatch.setenv("MLGOV_SLACK_WEBHOOK_URL", "http://127.0.0.1:9/services/T/B/X")
    path = tmp_path / "finding.json"
    path.write_text(json.dumps({**sample_finding(), **change}))
    usage_error(capsys, main(["notify", "send", "--finding-file", str(path), "--config", NO_SETTINGS]), fragment)


def test_notify_names_the_jira_project_it_used_and_reports_failures_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with start_sink("slack") as slack, start_sink("jira", projects={"OPS"}) as jira:
        slack.fail_next(*[Fault(503)] * 4)
        monkeypatch.setenv("MLGOV_SLACK_WEBHOOK_URL", slack.url + "/services/T/B/X")
        for key, value in {"URL": jira.url, "USER": "bot@example.com", "TOKEN": "t", "PROJECT": "OPS"}.items():
            monkeypatch.setenv(f"MLGOV_JIRA_{key}", value)
        path = tmp_path / "finding.json"
        path.write_text(json.dumps(sample_finding()))
        code = main(["notify", "send", "--finding-file", str(path), "--config", NO_SETTINGS])
        captured = capsys.readouterr()
    assert code == 1
    assert "jira:OPS" in captured.out and "created OPS-1" in captured.out and "MLGOV" not in captured.out
    assert "slack" not in captured.out  # the failure goes to stderr, on one line
    assert captured.err.count("\n") == 1 and "slack:#ml-governance-security failed" in captured.err
